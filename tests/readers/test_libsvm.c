/*
 * tests/readers/test_libsvm.c — ds_read_libsvm on files written here (dense
 * and sparse, 0/1 labels, d_min, a random round trip printed with %.17g) and
 * on the accepted corpus file ok_crlf_comments.svm; ds_densify, ds_csr,
 * ds_nnz, and densify refusing n·d > 2^31 − 1. Usage: readers_libsvm BAD_DIR
 */
#include <hypertape/models/data.h>
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    if (!f) {
        perror(path);
        exit(2);
    }
    fputs(text, f);
    fclose(f);
}

/* Compares a CSR set with the expected arrays, exactly. */
static void expect_csr(const char *what, const ds_set *s, int n, int d, const int64_t *rowptr,
                       const int *colind, const double *val, const double *y)
{
    EXPECT(s->n == n && s->d == d, "%s: shape %dx%d, expected %dx%d", what, s->n, s->d, n, d);
    EXPECT(s->X == NULL && s->cls == NULL && s->nclass == 2, "%s: kind", what);
    if (s->n != n || !s->rowptr)
        return;
    for (int i = 0; i <= n; i++)
        EXPECT(s->rowptr[i] == rowptr[i], "%s: rowptr[%d] = %lld, expected %lld", what, i,
               (long long)s->rowptr[i], (long long)rowptr[i]);
    for (int64_t k = 0; k < rowptr[n] && s->rowptr[n] == rowptr[n]; k++) {
        EXPECT(s->colind[k] == colind[k], "%s: colind[%lld] = %d, expected %d", what, (long long)k,
               s->colind[k], colind[k]);
        EXPECT(s->val[k] == val[k], "%s: val[%lld] = %.17g, expected %.17g", what, (long long)k,
               s->val[k], val[k]);
    }
    for (int i = 0; i < n; i++)
        EXPECT(s->y[i] == y[i], "%s: y[%d] = %g, expected %g", what, i, s->y[i], y[i]);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s BAD_DIR\n", argv[0]);
        return 2;
    }
    char msg[512], path[1024];
    ds_set s;

    /* Dense: every feature present. */
    write_file("ds_libsvm_dense.svm", "+1 1:0.5 2:-1.25 3:3\n"
                                      "-1 1:2 2:0 3:1e-3\n"
                                      "+1 1:-0.125 2:4.5 3:-7\n");
    EXPECT(ds_read_libsvm("ds_libsvm_dense.svm", 0, &s, msg, sizeof msg) == BL_OK, "dense: %s", msg);
    {
        const int64_t rp[] = {0, 3, 6, 9};
        const int ci[] = {0, 1, 2, 0, 1, 2, 0, 1, 2};
        const double v[] = {0.5, -1.25, 3, 2, 0, 1e-3, -0.125, 4.5, -7}, y[] = {1, -1, 1};
        expect_csr("dense", &s, 3, 3, rp, ci, v, y);
        EXPECT(msg[0] == '\0', "dense: message not emptied on success");
        EXPECT(ds_nnz(&s) == 9, "dense: nnz %lld", (long long)ds_nnz(&s));
        ad_csr c = ds_csr(&s);
        EXPECT(c.rows == 3 && c.cols == 3 && c.rowptr == s.rowptr && c.colind == s.colind &&
                   c.val == s.val,
               "ds_csr view");
        EXPECT(ds_densify(&s, msg, sizeof msg) == BL_OK, "densify: %s", msg);
        EXPECT(s.X && !s.rowptr && !s.colind && !s.val, "densify: storage kind");
        for (int k = 0; k < 9 && s.X; k++)
            EXPECT(s.X[k] == v[k], "densify: X[%d] = %g, expected %g", k, s.X[k], v[k]);
        EXPECT(ds_nnz(&s) == 9, "dense nnz");
        EXPECT(ds_densify(&s, msg, sizeof msg) == BL_OK, "densify of a dense set is a no-op");
        ds_set_free(&s);
        EXPECT(s.X == NULL && s.n == 0, "ds_set_free zeroes");
        ds_set_free(&s); /* twice: harmless */
        ds_set_free(NULL);
    }

    /* Sparse: gaps, a label-only sample, d from the highest index or d_min. */
    write_file("ds_libsvm_sparse.svm", "-1 2:1.5 7:-2\n"
                                       "+1\n"
                                       "+1 1:3.25\n"
                                       "-1 3:0.1 4:0.2 5:0.3\n");
    {
        const int64_t rp[] = {0, 2, 2, 3, 6};
        const int ci[] = {1, 6, 0, 2, 3, 4};
        const double v[] = {1.5, -2, 3.25, 0.1, 0.2, 0.3}, y[] = {-1, 1, 1, -1};
        EXPECT(ds_read_libsvm("ds_libsvm_sparse.svm", 0, &s, msg, sizeof msg) == BL_OK, "sparse: %s",
               msg);
        expect_csr("sparse", &s, 4, 7, rp, ci, v, y);
        EXPECT(ds_nnz(&s) == 6, "sparse nnz");
        EXPECT(ds_densify(&s, msg, sizeof msg) == BL_OK, "sparse densify: %s", msg);
        const double dense[4 * 7] = {0, 1.5, 0, 0, 0, 0, -2, 0,   0,   0,   0, 0, 0, 0,
                                     3.25, 0, 0, 0, 0, 0, 0, 0, 0, 0.1, 0.2, 0.3, 0, 0};
        for (int k = 0; k < 28 && s.X; k++)
            EXPECT(s.X[k] == dense[k], "sparse densify: X[%d] = %g, expected %g", k, s.X[k], dense[k]);
        ds_set_free(&s);
        EXPECT(ds_read_libsvm("ds_libsvm_sparse.svm", 10, &s, msg, sizeof msg) == BL_OK,
               "sparse d_min: %s", msg);
        expect_csr("sparse d_min 10", &s, 4, 10, rp, ci, v, y);
        ds_set_free(&s);
        EXPECT(ds_read_libsvm("ds_libsvm_sparse.svm", 5, &s, msg, sizeof msg) == BL_OK, "d_min 5");
        EXPECT(s.d == 7, "d_min below the highest index: d = %d", s.d);
        ds_set_free(&s);
        EXPECT(ds_read_libsvm("ds_libsvm_sparse.svm", -1, &s, msg, sizeof msg) == BL_EINVAL,
               "d_min < 0 rejected");
    }

    /* 0/1 labels map to −1/+1; labels-only file needs d_min. */
    write_file("ds_libsvm_01.svm", "1 1:1\n0 2:1\n0.0 1:2\n1.0\n");
    {
        const int64_t rp[] = {0, 1, 2, 3, 3};
        const int ci[] = {0, 1, 0};
        const double v[] = {1, 1, 2}, y[] = {1, -1, -1, 1};
        EXPECT(ds_read_libsvm("ds_libsvm_01.svm", 0, &s, msg, sizeof msg) == BL_OK, "0/1: %s", msg);
        expect_csr("0/1 labels", &s, 4, 2, rp, ci, v, y);
        ds_set_free(&s);
    }
    write_file("ds_libsvm_nofeat.svm", "+1\n-1\n");
    EXPECT(ds_read_libsvm("ds_libsvm_nofeat.svm", 0, &s, msg, sizeof msg) == BL_EFORMAT &&
               strstr(msg, "no features"),
           "no features and d_min 0: %s", msg);
    EXPECT(ds_read_libsvm("ds_libsvm_nofeat.svm", 3, &s, msg, sizeof msg) == BL_OK && s.d == 3 &&
               s.n == 2 && ds_nnz(&s) == 0,
           "no features, d_min 3: %s", msg);
    ds_set_free(&s);

    /* The accepted corpus file: CRLF, comments, blank lines, tab, qid, no
     * final newline. */
    snprintf(path, sizeof path, "%s/ok_crlf_comments.svm", argv[1]);
    {
        const int64_t rp[] = {0, 2, 3, 5, 5, 6};
        const int ci[] = {0, 2, 1, 0, 3, 2};
        const double v[] = {0.5, -2, 1e-3, 1.5, 0, 4}, y[] = {1, -1, 1, -1, -1};
        EXPECT(ds_read_libsvm(path, 0, &s, msg, sizeof msg) == BL_OK, "crlf: %s", msg);
        expect_csr("crlf+comments", &s, 5, 4, rp, ci, v, y);
        ds_set_free(&s);
    }

    /* Round trip: a random sparse 300×40 set printed with %.17g reads back
     * exactly. */
    {
        enum { N = 300, D = 40 };
        t_rng r = {12345};
        FILE *f = fopen("ds_libsvm_random.svm", "wb");
        double *ref = calloc((size_t)N * D, sizeof *ref), yref[N];
        for (int i = 0; i < N && f && ref; i++) {
            yref[i] = t_uniform(&r, 0, 1) < 0.5 ? -1 : 1;
            fprintf(f, "%+d", (int)yref[i]);
            for (int j = 0; j < D; j++)
                if (t_uniform(&r, 0, 1) < 0.3 || (i == 0 && j == D - 1)) {
                    ref[i * D + j] = t_normal(&r) * pow(10.0, (double)(int)t_uniform(&r, -5, 5));
                    fprintf(f, " %d:%.17g", j + 1, ref[i * D + j]);
                }
            fputc('\n', f);
        }
        if (f)
            fclose(f);
        EXPECT(ds_read_libsvm("ds_libsvm_random.svm", 0, &s, msg, sizeof msg) == BL_OK, "random: %s",
               msg);
        EXPECT(s.n == N && s.d == D, "random: shape %dx%d", s.n, s.d);
        EXPECT(ds_densify(&s, msg, sizeof msg) == BL_OK, "random densify: %s", msg);
        int bad = 0;
        for (int k = 0; s.X && ref && k < N * D; k++)
            bad += s.X[k] != ref[k];
        for (int i = 0; s.y && i < N; i++)
            bad += s.y[i] != yref[i];
        EXPECT(s.X && bad == 0, "random round trip: %d mismatches", bad);
        ds_set_free(&s);
        free(ref);
    }

    /* The largest legal index: with max_index raised to 2^31 − 1 it reads
     * fine as CSR, densify must refuse 2 × (2^31 − 1) elements and leave the
     * set as it was. (The default limit rejects it: tests/readers/test_limits.c.) */
    write_file("ds_libsvm_wide.svm", "+1 2147483647:1\n-1 1:2\n");
    ds_libsvm_opts wide = ds_libsvm_defaults();
    wide.max_index = 2147483647;
    EXPECT(ds_read_libsvm_opts("ds_libsvm_wide.svm", &wide, &s, msg, sizeof msg) == BL_OK &&
               s.d == 2147483647,
           "widest legal index: %s", msg);
    EXPECT(ds_densify(&s, msg, sizeof msg) == BL_ENOMEM && strstr(msg, "exceeds"),
           "densify of 2 x (2^31-1): %s", msg);
    EXPECT(s.X == NULL && s.rowptr && s.colind[0] == 2147483646 && s.val[1] == 2,
           "set unchanged after a failed densify");
    ds_set_free(&s);

    /* Bad arguments. */
    EXPECT(ds_read_libsvm(NULL, 0, &s, msg, sizeof msg) == BL_EINVAL, "NULL path");
    EXPECT(ds_read_libsvm("x", 0, NULL, msg, sizeof msg) == BL_EINVAL, "NULL out");
    EXPECT(ds_densify(NULL, msg, sizeof msg) == BL_EINVAL, "densify NULL");
    memset(&s, 0, sizeof s);
    EXPECT(ds_densify(&s, msg, sizeof msg) == BL_EINVAL, "densify of an empty set");
    EXPECT(ds_nnz(NULL) == 0 && ds_nnz(&s) == 0, "nnz of nothing");
    return t_done();
}
