/*
 * tests/fuzz/fuzz_csv.c — libFuzzer target for ds_read_csv: the first
 * input byte picks the options (bits 0-1 the delimiter: detected, ',',
 * tab, ';'; bits 2-3 the header: detected, no, yes, detected; bit 4
 * multiclass; bits 5-7 the label: the default rule, column 0, 1, −1, −2,
 * 2, the name "y", the name "label"), the rest is the text of a file (raw
 * or gzip: the seeds hold both). Checked: no crash, sanitizer report or
 * leak; on failure a non-empty message and an empty set; on success a
 * well-formed dense set (the contract in hypertape/models/data.h).
 */
#include <hypertape/models/data.h>
#include "fuzz_tmpfile.h"

#include <math.h>
#include <string.h>

static void bad(const char *what)
{
    fprintf(stderr, "fuzz_csv: %s\n", what);
    abort();
}

static void check_set(const ds_set *s, int multiclass)
{
    if (s->n <= 0 || s->d <= 0 || !s->X || s->rowptr || s->colind || s->val || !s->y)
        bad("success with a malformed set header");
    if (multiclass ? !s->cls || s->nclass < 1 || s->nclass > DS_CSV_MAX_CLASSES
                   : s->cls || s->nclass != 2)
        bad("labels of the wrong kind");
    for (int64_t k = 0; k < (int64_t)s->n * s->d; k++)
        if (!isfinite(s->X[k]))
            bad("non-finite value stored");
    for (int i = 0; i < s->n; i++) {
        if (multiclass && (s->cls[i] < 0 || s->cls[i] >= s->nclass || s->y[i] != s->cls[i]))
            bad("class out of range");
        if (!multiclass && s->y[i] != 1.0 && s->y[i] != -1.0)
            bad("label not +-1");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    unsigned op = data[0];
    const char *path = fz_write("in.csv", data + 1, size - 1);
    ds_csv_opts o = ds_csv_defaults();
    o.delim = (const int[]){0, ',', '\t', ';'}[op & 3];
    o.header = (const int[]){-1, 0, 1, -1}[(op >> 2) & 3];
    o.multiclass = (op >> 4) & 1;
    static const int cols[] = {DS_CSV_LABEL_AUTO, 0, 1, -1, -2, 2};
    unsigned lc = (op >> 5) & 7;
    if (lc < 6)
        o.label_col = cols[lc];
    else
        o.label_name = lc == 6 ? "y" : "label";
    ds_set s;
    char msg[256];
    memset(msg, 'x', sizeof msg);
    bl_status st = ds_read_csv(path, &o, &s, msg, sizeof msg);
    if (st == BL_OK) {
        if (msg[0])
            bad("success with a message");
        check_set(&s, o.multiclass);
    } else {
        static const ds_set zero;
        if (!msg[0] || !memchr(msg, 0, sizeof msg))
            bad("failure without a message");
        if (memcmp(&s, &zero, sizeof s))
            bad("failure left a non-empty set");
    }
    ds_set_free(&s);
    return 0;
}
