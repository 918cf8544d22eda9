/*
 * tests/fuzz/fuzz_libsvm.c — libFuzzer target for ds_read_libsvm: the input
 * is the text of a file. Checked: no crash, sanitizer report or leak; on
 * failure a non-empty message and an empty set; on success a well-formed
 * CSR set (the reader's documented contract in hypertape/models/data.h).
 * The same text through ds_read_libsvm_multiclass (hypertape/models/multiclass.h),
 * learning the class map: an increasing map and classes in [0, n) on success,
 * an empty set and an unchanged map on failure.
 */
#include <hypertape/models/data.h>
#include <hypertape/models/multiclass.h>
#include "fuzz_tmpfile.h"

#include <math.h>
#include <string.h>

static void bad(const char *what)
{
    fprintf(stderr, "fuzz_libsvm: %s\n", what);
    abort();
}

/* multi: a multiclass set (classes checked by the caller), else binary. */
static void check_set(const ds_set *s, int multi)
{
    if (s->n <= 0 || s->d <= 0 || s->X || !s->rowptr || (!multi && (s->nclass != 2 || s->cls)))
        bad("success with a malformed set header");
    if (s->rowptr[0] != 0)
        bad("rowptr[0] != 0");
    for (int i = 0; i < s->n; i++) {
        if (!multi && s->y[i] != 1.0 && s->y[i] != -1.0)
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
        check_set(&s, 0);
    } else {
        static const ds_set zero;
        if (!msg[0] || !memchr(msg, 0, sizeof msg))
            bad("failure without a message");
        if (memcmp(&s, &zero, sizeof s))
            bad("failure left a non-empty set");
    }
    ds_set_free(&s);
    ds_classes cl = {0};
    memset(msg, 'x', sizeof msg);
    st = ds_read_libsvm_multiclass(path, NULL, &cl, &s, msg, sizeof msg);
    if (st == BL_OK) {
        check_set(&s, 1);
        if (cl.n < 1 || cl.n > DS_MAX_CLASSES || s.nclass != cl.n || !s.cls)
            bad("multiclass: bad class count");
        for (int k = 1; k < cl.n; k++)
            if (cl.value[k] <= cl.value[k - 1])
                bad("multiclass: map not increasing");
        for (int i = 0; s.cls && i < s.n; i++)
            if (s.cls[i] < 0 || s.cls[i] >= cl.n || s.y[i] != s.cls[i])
                bad("multiclass: class out of range");
    } else {
        static const ds_set zero;
        if (!msg[0] || memcmp(&s, &zero, sizeof s) || cl.n != 0)
            bad("multiclass failure: no message, a non-empty set or a changed map");
    }
    ds_set_free(&s);
    return 0;
}
