/*
 * tests/readers/test_synth.c — seeded generators: determinism per seed,
 * prefix property, sizes, value ranges, density, and that the labels carry
 * a linear signal (logistic regression beats chance clearly, but not
 * perfectly: the labels are noisy). The full-size shapes are checked once.
 */
#include <hypertape/models/data.h>
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

static int same_set(const ds_set *a, const ds_set *b, int rows)
{
    if (a->d != b->d || a->n < rows || b->n < rows || !a->X != !b->X)
        return 0;
    if (memcmp(a->y, b->y, sizeof(double) * rows))
        return 0;
    if (a->X)
        return memcmp(a->X, b->X, sizeof(double) * rows * a->d) == 0;
    if (memcmp(a->rowptr, b->rowptr, sizeof(int64_t) * (rows + 1)))
        return 0;
    int64_t m = a->rowptr[rows];
    return memcmp(a->colind, b->colind, sizeof(int) * m) == 0 &&
           memcmp(a->val, b->val, sizeof(double) * m) == 0;
}

/* Plain gradient descent on the mean logistic loss (dense), then accuracy
 * of sign(w·x) on another set. */
static double logreg_accuracy(const ds_set *tr, const ds_set *te, int iters)
{
    int d = tr->d;
    double *w = calloc(d, sizeof *w), *g = calloc(d, sizeof *g);
    for (int it = 0; it < iters; it++) {
        memset(g, 0, sizeof(double) * d);
        for (int i = 0; i < tr->n; i++) {
            const double *x = tr->X + (size_t)i * d;
            double t = 0;
            for (int j = 0; j < d; j++)
                t += w[j] * x[j];
            double c = -tr->y[i] / (1 + exp(tr->y[i] * t));
            for (int j = 0; j < d; j++)
                g[j] += c * x[j];
        }
        for (int j = 0; j < d; j++)
            w[j] -= 2.0 * g[j] / tr->n;
    }
    int right = 0;
    for (int i = 0; i < te->n; i++) {
        double t = 0;
        for (int j = 0; j < d; j++)
            t += w[j] * te->X[(size_t)i * d + j];
        right += (t >= 0 ? 1.0 : -1.0) == te->y[i];
    }
    free(w);
    free(g);
    return (double)right / te->n;
}

int main(void)
{
    char msg[256];

    /* ---- IJCNN1-shaped */
    ds_set tr, va, tr2, va2, tr3, va3;
    EXPECT(ds_synth_ijcnn1(7, 5000, 3000, &tr, &va, msg, sizeof msg) == BL_OK, "ijcnn1: %s", msg);
    EXPECT(tr.n == 5000 && va.n == 3000 && tr.d == 22 && va.d == 22 && tr.X && va.X && !tr.cls &&
               tr.nclass == 2,
           "ijcnn1: shapes");
    EXPECT(ds_synth_ijcnn1(7, 5000, 3000, &tr2, &va2, msg, sizeof msg) == BL_OK, "ijcnn1 again");
    EXPECT(same_set(&tr, &tr2, 5000) && same_set(&va, &va2, 3000), "ijcnn1: same seed, same data");
    ds_set_free(&tr2);
    ds_set_free(&va2);
    EXPECT(ds_synth_ijcnn1(7, 100, 40, &tr2, &va2, msg, sizeof msg) == BL_OK, "ijcnn1 small");
    EXPECT(same_set(&tr, &tr2, 100) && same_set(&va, &va2, 40), "ijcnn1: a smaller call is a prefix");
    EXPECT(ds_synth_ijcnn1(8, 100, 40, &tr3, &va3, msg, sizeof msg) == BL_OK, "ijcnn1 seed 8");
    EXPECT(!same_set(&tr2, &tr3, 100) && !same_set(&va2, &va3, 40), "ijcnn1: another seed differs");
    ds_set_free(&tr2);
    ds_set_free(&va2);
    ds_set_free(&tr3);
    ds_set_free(&va3);
    {
        int inrange = 1, pos = 0, labels = 1;
        for (size_t k = 0; k < (size_t)tr.n * 22; k++)
            inrange &= tr.X[k] > -1 && tr.X[k] < 1;
        for (int i = 0; i < tr.n; i++) {
            labels &= tr.y[i] == 1 || tr.y[i] == -1;
            pos += tr.y[i] == 1;
        }
        EXPECT(inrange && labels, "ijcnn1: features in (-1, 1), labels +-1");
        EXPECT(pos > 1000 && pos < 4000, "ijcnn1: %d positives of 5000", pos);
        double acc = logreg_accuracy(&tr, &va, 300);
        printf("ijcnn1: logistic regression validation accuracy %.3f\n", acc);
        EXPECT(acc > 0.72 && acc < 0.97, "ijcnn1: accuracy %.3f (signal, with noise)", acc);
    }
    ds_set_free(&tr);
    ds_set_free(&va);
    EXPECT(ds_synth_ijcnn1(7, DS_IJCNN1_NTRAIN, DS_IJCNN1_NVAL, &tr, &va, msg, sizeof msg) == BL_OK,
           "ijcnn1 full: %s", msg);
    EXPECT(tr.n == 49990 && va.n == 91701 && tr.d == 22, "ijcnn1 full shape %d %d", tr.n, va.n);
    ds_set_free(&tr);
    ds_set_free(&va);
    EXPECT(ds_synth_ijcnn1(7, 0, 10, &tr, &va, msg, sizeof msg) == BL_EINVAL && tr.X == NULL,
           "ijcnn1: size 0 rejected");

    /* ---- sparse */
    ds_set s, s2, s3;
    EXPECT(ds_synth_sparse(3, 2000, 1000, 0.01, &s, msg, sizeof msg) == BL_OK, "sparse: %s", msg);
    EXPECT(s.n == 2000 && s.d == 1000 && !s.X && ds_nnz(&s) == 20000, "sparse: shape, nnz %lld",
           (long long)ds_nnz(&s));
    {
        int ok = 1, pos = 0;
        for (int i = 0; i < s.n; i++) {
            for (int64_t k = s.rowptr[i]; k < s.rowptr[i + 1]; k++) {
                ok &= s.colind[k] >= 0 && s.colind[k] < s.d && isfinite(s.val[k]);
                if (k > s.rowptr[i])
                    ok &= s.colind[k] > s.colind[k - 1];
            }
            ok &= s.y[i] == 1 || s.y[i] == -1;
            pos += s.y[i] == 1;
        }
        EXPECT(ok, "sparse: columns increasing and in range, values finite, labels +-1");
        EXPECT(pos > 600 && pos < 1400, "sparse: %d positives of 2000", pos);
    }
    EXPECT(ds_synth_sparse(3, 2000, 1000, 0.01, &s2, msg, sizeof msg) == BL_OK && same_set(&s, &s2, 2000),
           "sparse: same seed, same data");
    ds_set_free(&s2);
    EXPECT(ds_synth_sparse(3, 50, 1000, 0.01, &s2, msg, sizeof msg) == BL_OK && same_set(&s, &s2, 50),
           "sparse: a smaller call is a prefix");
    EXPECT(ds_synth_sparse(4, 50, 1000, 0.01, &s3, msg, sizeof msg) == BL_OK && !same_set(&s2, &s3, 50),
           "sparse: another seed differs");
    ds_set_free(&s2);
    ds_set_free(&s3);
    ds_set_free(&s);
    /* Fractional entries per row (10.5) and a dense-ish row (selection sampling). */
    EXPECT(ds_synth_sparse(3, 4000, 1000, 0.0105, &s, msg, sizeof msg) == BL_OK, "sparse 0.0105");
    EXPECT(fabs(ds_nnz(&s) / 42000.0 - 1) < 0.02, "sparse: nnz %lld for an expected 42000",
           (long long)ds_nnz(&s));
    ds_set_free(&s);
    EXPECT(ds_synth_sparse(3, 20, 100, 0.5, &s, msg, sizeof msg) == BL_OK && ds_nnz(&s) == 1000,
           "sparse: density 0.5");
    {
        int ok = 1;
        for (int i = 0; i < s.n; i++)
            for (int64_t k = s.rowptr[i] + 1; k < s.rowptr[i + 1]; k++)
                ok &= s.colind[k] > s.colind[k - 1];
        EXPECT(ok, "sparse 0.5: columns increasing");
    }
    ds_set_free(&s);
    EXPECT(ds_synth_sparse(3, 10, 10, 1.0, &s, msg, sizeof msg) == BL_OK && ds_nnz(&s) == 100,
           "sparse: density 1");
    ds_set_free(&s);
    EXPECT(ds_synth_sparse(3, 10, 10, 0, &s, msg, sizeof msg) == BL_EINVAL, "density 0 rejected");
    EXPECT(ds_synth_sparse(3, 10, 10, 1.5, &s, msg, sizeof msg) == BL_EINVAL, "density > 1 rejected");

    /* Full size: 100,000 × 50,000 at 0.1% = 5,000,000 entries; too big to densify. */
    EXPECT(ds_synth_sparse(11, DS_SPARSE_N, DS_SPARSE_D, DS_SPARSE_DENSITY, &s, msg, sizeof msg) == BL_OK,
           "sparse full: %s", msg);
    EXPECT(s.n == 100000 && s.d == 50000 && ds_nnz(&s) == 5000000, "sparse full: %d x %d, nnz %lld",
           s.n, s.d, (long long)ds_nnz(&s));
    EXPECT(ds_densify(&s, msg, sizeof msg) == BL_ENOMEM && s.X == NULL && s.rowptr,
           "sparse full: densify refused: %s", msg);
    ds_set_free(&s);
    return t_done();
}
