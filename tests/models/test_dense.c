/*
 * tests/models/test_dense.c — the shared model helpers of hypertape/models/dense.h
 * against independent truths: analytic spectra (path Laplacian), the
 * definition of an eigen-decomposition (AV = VΛ, VᵀV = I), LLᵀ = A, the
 * exact ‖X‖² from the eigenvalues of XᵀX, naive triple loops for the
 * minibatch products (plain and on the tape, values and gradients), and
 * the validation errors.
 */
#include "mcheck.h"

static void test_eig(t_rng *r)
{
    /* Path Laplacian: eigenvalues 2 − 2cos(πk/n), k = 0..n−1. */
    int n = 12;
    double *A = mc_vec((size_t)n * n), *w = mc_vec((size_t)n), *V = mc_vec((size_t)n * n);
    for (int i = 0; i < n; i++) {
        A[(size_t)i * n + i] = (i > 0) + (i < n - 1);
        if (i > 0)
            A[(size_t)i * n + i - 1] = A[(size_t)(i - 1) * n + i] = -1.0;
    }
    EXPECT(md_sym_eig(n, A, w, V, NULL, 0) == BL_OK, "eig of the path Laplacian failed");
    double worst = 0;
    for (int k = 0; k < n; k++)
        worst = fmax(worst, fabs(w[k] - (2.0 - 2.0 * cos(3.14159265358979323846 * k / n))));
    EXPECT(worst < 1e-13, "path Laplacian eigenvalues off by %.3g", worst);

    /* Random symmetric: A V = V diag(w), VᵀV = I, ascending order. */
    n = 15;
    free(A), free(w), free(V);
    A = mc_vec((size_t)n * n), w = mc_vec((size_t)n), V = mc_vec((size_t)n * n);
    for (int i = 0; i < n; i++)
        for (int j = 0; j <= i; j++)
            A[(size_t)i * n + j] = A[(size_t)j * n + i] = t_normal(r);
    EXPECT(md_sym_eig(n, A, w, V, NULL, 0) == BL_OK, "eig of a random matrix failed");
    double res = 0, orth = 0, fro = 0;
    for (int i = 0; i < n; i++)
        for (int k = 0; k < n; k++) {
            double av = 0, vv = 0;
            for (int j = 0; j < n; j++) {
                av += A[(size_t)i * n + j] * V[(size_t)j * n + k];
                vv += V[(size_t)j * n + i] * V[(size_t)j * n + k];
            }
            res = fmax(res, fabs(av - w[k] * V[(size_t)i * n + k]));
            orth = fmax(orth, fabs(vv - (i == k)));
            fro += A[(size_t)i * n + k] * A[(size_t)i * n + k];
        }
    int sorted = 1;
    for (int k = 1; k < n; k++)
        sorted &= w[k - 1] <= w[k];
    EXPECT(res < 1e-12 * sqrt(fro), "A V - V diag(w): %.3g", res);
    EXPECT(orth < 1e-13, "V^T V - I: %.3g", orth);
    EXPECT(sorted, "eigenvalues not ascending");
    A[3] = NAN;
    EXPECT(md_sym_eig(n, A, w, NULL, NULL, 0) == BL_ENONFINITE, "NaN not rejected by md_sym_eig");
    free(A), free(w), free(V);
}

static void test_cholesky(t_rng *r)
{
    int n = 9;
    double *M = mc_vec((size_t)n * n), *A = mc_vec((size_t)n * n), *L = mc_vec((size_t)n * n),
           *b = mc_vec((size_t)n), *x = mc_vec((size_t)n);
    mc_fill_normal(r, M, n * n, 1.0);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            double s = i == j ? 0.5 : 0.0;
            for (int k = 0; k < n; k++)
                s += M[(size_t)k * n + i] * M[(size_t)k * n + j];
            A[(size_t)i * n + j] = s;
        }
    memcpy(L, A, (size_t)n * n * sizeof *L);
    EXPECT(md_cholesky(n, L, NULL, 0) == BL_OK, "cholesky of an SPD matrix failed");
    double worst = 0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j <= i; j++) {
            double s = 0;
            for (int k = 0; k <= j; k++)
                s += L[(size_t)i * n + k] * L[(size_t)j * n + k];
            worst = fmax(worst, fabs(s - A[(size_t)i * n + j]));
        }
    EXPECT(worst < 1e-12, "L L^T - A: %.3g", worst);
    mc_fill_normal(r, b, n, 1.0);
    memcpy(x, b, (size_t)n * sizeof *x);
    md_cholesky_solve(n, L, x);
    double rs = 0;
    for (int i = 0; i < n; i++) {
        double s = -b[i];
        for (int j = 0; j < n; j++)
            s += A[(size_t)i * n + j] * x[j];
        rs = fmax(rs, fabs(s));
    }
    EXPECT(rs < 1e-10, "cholesky solve residual %.3g", rs);
    /* Indefinite: diag(1, −1). */
    double Ind[4] = {1, 0, 0, -1};
    char msg[128];
    EXPECT(md_cholesky(2, Ind, msg, sizeof msg) == BL_ENONCONVEX && strstr(msg, "pivot 1"),
           "indefinite matrix: %s", msg);
    free(M), free(A), free(L), free(b), free(x);
}

/* Exact ‖X̃‖² from the eigenvalues of X̃ᵀX̃, X̃ = X or [X, 1]. */
static double exact_norm_sq(const ds_set *s, int ones)
{
    int d = s->d + ones, n = s->n;
    double *G = mc_vec((size_t)d * d), lo, hi;
    for (int i = 0; i < n; i++)
        for (int a = 0; a < d; a++)
            for (int b = 0; b < d; b++) {
                double xa = a < s->d ? s->X[(size_t)i * s->d + a] : 1.0;
                double xb = b < s->d ? s->X[(size_t)i * s->d + b] : 1.0;
                G[(size_t)a * d + b] += xa * xb;
            }
    mc_eig_range(d, G, &lo, &hi);
    free(G);
    return hi;
}

static void test_norm_bound(t_rng *r)
{
    for (int dens = 0; dens < 2; dens++) {
        ds_set D, S;
        mc_random_set(r, 40, 7, dens ? 1.0 : 0.2, 2, 1, &D, &S);
        for (int ones = 0; ones < 2; ones++) {
            double ex = exact_norm_sq(&D, ones), bd = md_opnorm_sq_bound(&D, ones),
                   bs = md_opnorm_sq_bound(&S, ones);
            EXPECT(bd >= ex * (1 - 1e-14), "norm bound (dense, ones %d) %.6g < exact %.6g", ones, bd, ex);
            EXPECT(fabs(bd - bs) <= 1e-12 * bd, "dense and CSR bounds differ: %.17g %.17g", bd, bs);
            EXPECT(bd <= 7 * ex, "norm bound (ones %d) %.6g is far above %.6g", ones, bd, ex);
        }
        ds_set_free(&D), ds_set_free(&S);
    }
    /* Non-negative data: the Collatz–Wielandt iterations reach ‖X̃‖². */
    for (int sp = 0; sp < 2; sp++) {
        ds_set D, S;
        mc_random_set(r, 50, 9, 0.6, 2, 1, &D, &S);
        for (int k = 0; k < 50 * 9; k++)
            D.X[k] = fabs(D.X[k]);
        for (int64_t k = 0; k < S.rowptr[50]; k++)
            S.val[k] = fabs(S.val[k]);
        for (int ones = 0; ones < 2; ones++) {
            double ex = exact_norm_sq(&D, ones), b = md_opnorm_sq_bound(sp ? &S : &D, ones);
            EXPECT(b >= ex * (1 - 1e-14) && b <= ex * 1.001,
                   "non-negative data (ones %d, csr %d): bound %.10g vs exact %.10g", ones, sp, b, ex);
        }
        ds_set_free(&D), ds_set_free(&S);
    }
    /* The identity: Frobenius n, Schur 1 = the exact norm. */
    int n = 30;
    ds_set Id = {.n = n, .d = n};
    Id.X = mc_vec((size_t)n * n);
    Id.y = mc_vec((size_t)n);
    for (int i = 0; i < n; i++)
        Id.X[(size_t)i * n + i] = (i % 2) ? 1.0 : -1.0;
    EXPECT(fabs(md_opnorm_sq_bound(&Id, 0) - 1.0) < 1e-11, "Schur bound of the identity: %.17g",
           md_opnorm_sq_bound(&Id, 0));
    double rn[30];
    md_row_norms_sq(&Id, 1, rn);
    EXPECT(rn[0] == 2.0 && rn[29] == 2.0, "row norms with a ones column: %g %g", rn[0], rn[29]);
    ds_set_free(&Id);
}

/* Naive X_B·V and X_Bᵀ·G from the dense array. */
static void naive_mul(const ds_set *D, const int *b, int nb, const double *V, int k, double *out)
{
    for (int r = 0; r < nb; r++)
        for (int q = 0; q < k; q++) {
            double s = 0;
            for (int j = 0; j < D->d; j++)
                s += D->X[(size_t)(b ? b[r] : r) * D->d + j] * V[(size_t)j * k + q];
            out[(size_t)r * k + q] = s;
        }
}

static void naive_tmul(const ds_set *D, const int *b, int nb, const double *G, int k, double *out)
{
    memset(out, 0, (size_t)D->d * k * sizeof *out);
    for (int r = 0; r < nb; r++)
        for (int j = 0; j < D->d; j++)
            for (int q = 0; q < k; q++)
                out[(size_t)j * k + q] += D->X[(size_t)(b ? b[r] : r) * D->d + j] * G[(size_t)r * k + q];
}

static void test_products(t_rng *r)
{
    int n = 25, d = 11;
    ds_set D, S;
    mc_random_set(r, n, d, 0.15, 2, 0, &D, &S); /* some rows stay empty */
    int batch[7];
    mc_batch(r, n, 7, batch);
    for (int k = 1; k <= 3; k += 2) {
        for (int use_b = 0; use_b < 2; use_b++) {
            const int *b = use_b ? batch : NULL;
            int nb = use_b ? 7 : n;
            double *V = mc_vec((size_t)d * k), *G = mc_vec((size_t)nb * k), *want = mc_vec((size_t)n * k),
                   *got = mc_vec((size_t)n * k), *tw = mc_vec((size_t)d * k), *tg = mc_vec((size_t)d * k);
            mc_fill_normal(r, V, d * k, 1.0);
            mc_fill_normal(r, G, nb * k, 1.0);
            naive_mul(&D, b, nb, V, k, want);
            naive_tmul(&D, b, nb, G, k, tw);
            for (int sp = 0; sp < 2; sp++) {
                const ds_set *s = sp ? &S : &D;
                md_mul(s, b, nb, V, k, got);
                EXPECT(t_relerr(got, want, (size_t)nb * k, 1e-300) < 1e-14, "md_mul k %d batch %d sparse %d",
                       k, use_b, sp);
                for (int j = 0; j < d * k; j++)
                    tg[j] = 1.0 + j;
                md_tmul(s, b, nb, G, k, 2.0, tg); /* beta = 2 */
                for (int j = 0; j < d * k; j++)
                    tg[j] -= 2.0 * (1.0 + j);
                EXPECT(t_relerr(tg, tw, (size_t)d * k, 1e-300) < 1e-13, "md_tmul k %d batch %d sparse %d",
                       k, use_b, sp);
                /* On the tape: value X_B·V and the gradient X_Bᵀ·G of ⟨X_B V, G⟩. */
                ad_tape *t = ad_tape_new(NULL);
                ad_var Vv = ad_leaf(t, d, k, V);
                ad_var Y = md_record_mul(t, s, b, nb, Vv);
                ad_var y = ad_dot(t, Y, ad_const(t, nb, k, G));
                double *out[1] = {got};
                EXPECT(ad_ok(Y) && ad_rows(t, Y) == nb && ad_cols(t, Y) == k, "md_record_mul shape");
                EXPECT(t_relerr(ad_value(t, Y), want, (size_t)nb * k, 1e-300) < 1e-14,
                       "md_record_mul value k %d batch %d sparse %d", k, use_b, sp);
                EXPECT(ad_grad_values(t, y, 1, &Vv, out) == AD_OK &&
                           t_relerr(got, tw, (size_t)d * k, 1e-300) < 1e-13,
                       "md_record_mul gradient k %d batch %d sparse %d", k, use_b, sp);
                ad_tape_free(t);
            }
            free(V), free(G), free(want), free(got), free(tw), free(tg);
        }
    }
    /* A batch of empty rows gives zeros; a bad index records a tape error. */
    int empty = -1;
    for (int i = 0; i < n && empty < 0; i++)
        if (S.rowptr[i + 1] == S.rowptr[i])
            empty = i;
    ad_tape *t = ad_tape_new(NULL);
    ad_var Vv = ad_leaf(t, d, 1, NULL);
    if (empty >= 0) {
        int eb[2] = {empty, empty};
        ad_var Y = md_record_mul(t, &S, eb, 2, Vv);
        EXPECT(ad_ok(Y) && ad_value(t, Y)[0] == 0 && ad_value(t, Y)[1] == 0, "empty rows");
    }
    int bad[2] = {0, n};
    EXPECT(!ad_ok(md_record_mul(t, &S, bad, 2, Vv)) && ad_tape_status(t) == AD_EINVAL,
           "bad batch index not rejected on the tape");
    ad_tape_free(t);
    ds_set_free(&D), ds_set_free(&S);
}

static void test_validation(t_rng *r)
{
    ds_set D, S;
    mc_random_set(r, 10, 4, 0.5, 2, 1, &D, &S);
    char msg[256];
    EXPECT(md_check_set(&D, "train", 1, 0, msg, sizeof msg) == BL_OK && msg[0] == 0, "valid set: %s", msg);
    EXPECT(md_check_set(&S, "train", 1, 0, msg, sizeof msg) == BL_OK, "valid CSR set: %s", msg);
    EXPECT(md_check_set(&D, "train", 0, 1, msg, sizeof msg) == BL_EINVAL && strstr(msg, "cls"),
           "missing class labels: %s", msg);
    D.X[5] = INFINITY;
    EXPECT(md_check_set(&D, "train", 1, 0, msg, sizeof msg) == BL_ENONFINITE && strstr(msg, "train") &&
               strstr(msg, "X[1][1]"),
           "Inf in X: %s", msg);
    D.X[5] = 0.0;
    D.y[3] = 0.5;
    EXPECT(md_check_set(&D, "val", 1, 0, msg, sizeof msg) == BL_EINVAL && strstr(msg, "val"),
           "label 0.5: %s", msg);
    D.y[3] = NAN;
    EXPECT(md_check_set(&D, "val", 0, 0, msg, sizeof msg) == BL_ENONFINITE, "NaN label: %s", msg);
    S.val[0] = NAN;
    EXPECT(md_check_set(&S, "train", 1, 0, msg, sizeof msg) == BL_ENONFINITE, "NaN CSR value: %s", msg);
    S.val[0] = 1.0;
    S.colind[0] = 4;
    EXPECT(md_check_set(&S, "train", 1, 0, msg, sizeof msg) == BL_EINVAL && strstr(msg, "column 4"),
           "column out of range: %s", msg);
    EXPECT(md_check_set(NULL, "train", 1, 0, msg, sizeof msg) == BL_EINVAL, "NULL set");
    int b[3] = {0, 9, 10};
    EXPECT(md_check_batch(b, 3, 10, "f", msg, sizeof msg) == BL_EINVAL && strstr(msg, "position 2"),
           "batch check: %s", msg);
    EXPECT(md_check_batch(b, 2, 10, "f", msg, sizeof msg) == BL_OK, "valid batch");
    EXPECT(md_check_batch(b, 0, 10, "f", msg, sizeof msg) == BL_EINVAL, "empty batch");
    ds_set_free(&D), ds_set_free(&S);
}

static void test_rng(void)
{
    md_rng a = {42}, b = {42};
    int same = 1, inrange = 1;
    double mean = 0, var = 0;
    int N = 20000;
    for (int k = 0; k < 100; k++)
        same &= md_rng_next(&a) == md_rng_next(&b);
    for (int k = 0; k < N; k++) {
        int q = md_rng_below(&a, 7);
        inrange &= q >= 0 && q < 7;
        double u = md_rng_uniform(&a);
        inrange &= u > 0 && u < 1;
        double z = md_rng_normal(&a);
        mean += z;
        var += z * z;
    }
    mean /= N;
    var = var / N - mean * mean;
    EXPECT(same, "md_rng not deterministic");
    EXPECT(inrange, "md_rng draws out of range");
    EXPECT(fabs(mean) < 0.05 && fabs(var - 1) < 0.05, "normal draws: mean %g var %g", mean, var);
}

int main(void)
{
    t_rng r = {0x5eed};
    test_eig(&r);
    test_cholesky(&r);
    test_norm_bound(&r);
    test_products(&r);
    test_validation(&r);
    test_rng();
    return t_done();
}
