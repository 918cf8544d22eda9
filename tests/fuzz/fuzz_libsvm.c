/*
 * tests/fuzz/fuzz_libsvm.c — libFuzzer target for ds_read_libsvm: the input
 * is the text of a file. Checked: no crash, sanitizer report or leak; on
 * failure a non-empty message and an empty set; on success a well-formed
 * CSR set (the reader's documented contract in hypertape/models/data.h).
 */
#include <hypertape/models/data.h>
#include "fuzz_tmpfile.h"

#include <math.h>
#include <string.h>

static void bad(const char *what)
{
    fprintf(stderr, "fuzz_libsvm: %s\n", what);
    abort();
}

static void check_set(const ds_set *s)
{
    if (s->n <= 0 || s->d <= 0 || s->X || !s->rowptr || s->nclass != 2 || s->cls)
        bad("success with a malformed set header");
    if (s->rowptr[0] != 0)
        bad("rowptr[0] != 0");
    for (int i = 0; i < s->n; i++) {
        if (s->y[i] != 1.0 && s->y[i] != -1.0)
            bad("label not +-1");
        for (int64_t p = s->rowptr[i]; p < s->rowptr[i + 1]; p++) {
            if (s->colind[p] < 0 || s->colind[p] >= s->d)
                bad("column out of range");
            if (p > s->rowptr[i] && s->colind[p] <= s->colind[p - 1])
                bad("columns not increasing");
            if (!isfinite(s->val[p]))
                bad("non-finite value stored");
        }
        if (s->rowptr[i + 1] < s->rowptr[i])
            bad("rowptr decreases");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fz_write("in.svm", data, size);
    ds_set s;
    char msg[256];
    memset(msg, 'x', sizeof msg);
    bl_status st = ds_read_libsvm(path, 0, &s, msg, sizeof msg);
    if (st == BL_OK) {
        if (msg[0])
            bad("success with a message");
        check_set(&s);
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
