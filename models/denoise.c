/*
 * models/denoise.c — variational denoising (dn_): recording, references,
 * constants, the generator and the exact Tikhonov solve.
 *
 * Shapes: P pairs of images R×C (N = R·C values, row-major), x P·N;
 * per image E = R(C−1) + (R−1)C forward differences (horizontal first).
 * TV with ε = e^{λ₂}, φ(t) = √(t² + ε): φ' = t/φ, φ'' = ε/φ³,
 * ∂φ/∂λ₂ = ε/(2φ), ∂φ'/∂λ₂ = −½ ε t/φ³.
 */
#include <hypertape/models/denoise.h>

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define DN_PI 3.14159265358979323846

struct dn_model {
    dn_reg reg;
    int P, R, C, N, E, m;
    double *noisy, *clean; /* P·N each, one allocation */
    ad_csr grad;           /* ∇ of one image as a constant E×N CSR (2 entries a row) */
    int64_t *rowptr;       /* its arrays, owned */
    int *colind;
    double *val;
};

/* ------------------------------------------------------------ lifecycle */

/* The forward differences of an R×C image as E×N CSR, rows in the order
 * of diff() below: entry −1 at the pixel and +1 at its right (then lower)
 * neighbour, columns increasing. */
static void grad_csr(int R, int C, int64_t *rowptr, int *colind, double *val)
{
    int64_t e = 0;
    rowptr[0] = 0;
    for (int dir = 0; dir < 2; dir++)
        for (int i = 0; i + (dir == 1) < R; i++)
            for (int j = 0; j + (dir == 0) < C; j++) {
                int a = i * C + j, b = dir == 0 ? a + 1 : a + C;
                colind[2 * e] = a, val[2 * e] = -1.0;
                colind[2 * e + 1] = b, val[2 * e + 1] = 1.0;
                e++;
                rowptr[e] = 2 * e;
            }
}

bl_status dn_model_new(dn_reg reg, int npairs, int rows, int cols, const double *noisy,
                       const double *clean, dn_model **out, char *msg, size_t msglen)
{
    if (!out)
        return md_fail(msg, msglen, BL_EINVAL, "dn_model_new: out is NULL");
    *out = NULL;
    if ((reg != DN_TV && reg != DN_TIKHONOV) || npairs < 1 || rows < 1 || cols < 1 ||
        (int64_t)rows * cols < 2 || (int64_t)npairs * rows * cols > INT32_MAX || !noisy || !clean)
        return md_fail(msg, msglen, BL_EINVAL,
                       "dn_model_new: need a known regulariser (%d), npairs >= 1 (%d), rows x "
                       "cols >= 2 (%dx%d), total size < 2^31 and both signal arrays",
                       (int)reg, npairs, rows, cols);
    size_t total = (size_t)npairs * rows * cols;
    for (size_t k = 0; k < total; k++) {
        if (!isfinite(noisy[k]))
            return md_fail(msg, msglen, BL_ENONFINITE,
                           "dn_model_new: noisy[%zu] (pair %zu of %d, %dx%d) is not finite", k,
                           k / ((size_t)rows * cols), npairs, rows, cols);
        if (!isfinite(clean[k]))
            return md_fail(msg, msglen, BL_ENONFINITE,
                           "dn_model_new: clean[%zu] (pair %zu of %d, %dx%d) is not finite", k,
                           k / ((size_t)rows * cols), npairs, rows, cols);
    }
    dn_model *M = calloc(1, sizeof *M);
    if (!M || !(M->noisy = malloc(2 * total * sizeof(double)))) {
        free(M);
        return md_fail(msg, msglen, BL_ENOMEM, "dn_model_new: out of memory (%d pairs of %dx%d)",
                       npairs, rows, cols);
    }
    M->clean = M->noisy + total;
    int E = rows * (cols - 1) + (rows - 1) * cols;
    M->rowptr = malloc(((size_t)E + 1) * sizeof *M->rowptr);
    M->colind = malloc(2 * (size_t)E * sizeof *M->colind);
    M->val = malloc(2 * (size_t)E * sizeof *M->val);
    if (!M->rowptr || !M->colind || !M->val) {
        dn_model_free(M);
        return md_fail(msg, msglen, BL_ENOMEM, "dn_model_new: out of memory (%dx%d)", rows, cols);
    }
    grad_csr(rows, cols, M->rowptr, M->colind, M->val);
    M->grad = (ad_csr){E, rows * cols, M->rowptr, M->colind, M->val, 0};
    ad_csr_check(&M->grad, NULL, 0); /* built valid here: later ad_spmm calls skip the scan */
    memcpy(M->noisy, noisy, total * sizeof(double));
    memcpy(M->clean, clean, total * sizeof(double));
    M->reg = reg;
    M->P = npairs, M->R = rows, M->C = cols, M->N = rows * cols;
    M->E = rows * (cols - 1) + (rows - 1) * cols;
    M->m = reg == DN_TV ? 2 : 1;
    *out = M;
    return md_ok(msg, msglen);
}

void dn_model_free(dn_model *m)
{
    if (!m)
        return;
    free(m->noisy);
    free(m->rowptr), free(m->colind), free(m->val);
    free(m);
}

bl_status dn_generate(uint64_t seed, int npairs, int rows, int cols, double sigma, double *clean,
                      double *noisy, char *msg, size_t msglen)
{
    if (npairs < 1 || rows < 1 || cols < 1 || (int64_t)rows * cols < 2 || !(sigma >= 0) ||
        !isfinite(sigma) || !clean || !noisy)
        return md_fail(msg, msglen, BL_EINVAL,
                       "dn_generate: need npairs >= 1 (%d), rows x cols >= 2 (%dx%d), finite "
                       "sigma >= 0 (%g) and output arrays",
                       npairs, rows, cols, sigma);
    md_rng g = {seed};
    size_t N = (size_t)rows * cols;
    for (int k = 0; k < npairs; k++) {
        double *c = clean + k * N;
        if (rows == 1 || cols == 1) { /* a 1-D signal of length N */
            int breaks = 1 + md_rng_below(&g, 6);
            double level = md_rng_uniform(&g);
            unsigned char *jump = (unsigned char *)(noisy + k * N); /* scratch, overwritten below */
            memset(jump, 0, N);
            for (int b = 0; b < breaks; b++)
                jump[1 + md_rng_below(&g, (int)N - 1)] = 1;
            for (size_t j = 0; j < N; j++) {
                if (jump[j])
                    level = md_rng_uniform(&g);
                c[j] = level;
            }
        } else {
            double bg = md_rng_uniform(&g);
            for (size_t j = 0; j < N; j++)
                c[j] = bg;
            int rects = 1 + md_rng_below(&g, 4);
            for (int q = 0; q < rects; q++) {
                int r0 = md_rng_below(&g, rows), c0 = md_rng_below(&g, cols);
                int r1 = r0 + 1 + md_rng_below(&g, rows - r0), c1 = c0 + 1 + md_rng_below(&g, cols - c0);
                double lv = md_rng_uniform(&g);
                for (int i = r0; i < r1; i++)
                    for (int j = c0; j < c1; j++)
                        c[(size_t)i * cols + j] = lv;
            }
        }
    }
    for (size_t k = 0; k < (size_t)npairs * N; k++)
        noisy[k] = clean[k] + sigma * md_rng_normal(&g);
    return md_ok(msg, msglen);
}

/* ------------------------------------------------------------ recording */

/* Σ over the forward differences of the nb images X (nb×N) of f(d):
 * TV f = √(d² + ε) (eps a 1×1 value), Tikhonov f = d² (eps AD_NONE). The
 * differences are one product with the constant ∇: E×N times Xᵀ (N×nb). */
static ad_var record_reg(ad_tape *t, const dn_model *M, ad_var X, ad_var eps)
{
    ad_var d = ad_spmm(t, &M->grad, ad_transpose(t, X), 0); /* E×nb */
    ad_var f = ad_ok(eps) ? ad_sqrt(t, ad_add(t, ad_square(t, d), eps)) : ad_square(t, d);
    return ad_sum(t, f);
}

/* The batch's rows (images) of a P×N value, nb×N; all of them for no batch. */
static ad_var batch_rows(ad_tape *t, ad_var all, const int *batch, int nb)
{
    return batch ? ad_gather_rows(t, all, batch, nb) : all;
}

static ad_var record_G(ad_tape *t, ad_var x, ad_var lambda, const int *batch, int nb, void *ctx)
{
    const dn_model *M = ctx;
    if (!batch)
        nb = M->P;
    ad_var X = batch_rows(t, ad_reshape(t, x, M->P, M->N), batch, nb);    /* nb×N */
    ad_var Y = batch_rows(t, ad_const_ref(t, M->P, M->N, M->noisy), batch, nb);
    ad_var fid = ad_scale(t, ad_sum(t, ad_square(t, ad_sub(t, X, Y))), 0.5);
    ad_var l1 = ad_slice(t, lambda, 0, 1, 0, 1);
    ad_var eps = M->reg == DN_TV ? ad_exp(t, ad_slice(t, lambda, 1, 1, 0, 1)) : AD_NONE;
    ad_var G = ad_add(t, fid, ad_mul(t, ad_exp(t, l1), record_reg(t, M, X, eps)));
    return batch ? ad_scale(t, G, (double)M->P / nb) : G;
}

static ad_var record_F(ad_tape *t, ad_var x, ad_var lambda, const int *batch, int nb, void *ctx)
{
    const dn_model *M = ctx;
    if (!batch)
        nb = M->P;
    ad_var X = batch_rows(t, ad_reshape(t, x, M->P, M->N), batch, nb);
    ad_var Cl = batch_rows(t, ad_const_ref(t, M->P, M->N, M->clean), batch, nb);
    return ad_scale(t, ad_sum(t, ad_square(t, ad_sub(t, X, Cl))), 0.5 / nb);
}

static bl_status constants_cb(const double *lambda, bl_constants *out, void *ctx)
{
    return dn_constants(ctx, lambda, out);
}

static double cross_norm_cb(const double *theta, const double *lambda, void *ctx)
{
    return dn_cross_norm(ctx, theta, lambda);
}

bl_problem dn_problem(dn_model *m)
{
    return (bl_problem){.name = m->reg == DN_TV ? "denoise-tv" : "denoise-tikhonov",
                        .p = m->P * m->N, .m = m->m, .G = record_G, .F = record_F,
                        .constants = constants_cb, .n_inner = m->P, .n_outer = m->P, .ctx = m,
                        .cross_norm = cross_norm_cb};
}

/* ---------------------------------------------------------- constants */

/*
 * ∇ᵀ∇ = L_R ⊗ I + I ⊗ L_C with path Laplacians ‖L‖ ≤ 4, so ‖∇‖² ≤ 4 per
 * direction present (N∇ = 4 or 8). H is block diagonal over the pairs,
 * each block I + e^{λ₁}∇ᵀ diag(a) ∇ with a = φ''(∇x) (TV) or 2 (Tikhonov).
 *  μ = 1: a ≥ 0.   L = 1 + e^{λ₁} N∇ max a, max φ'' = φ''(0) = ε^{−1/2}.
 *  L_H (TV): H(x) − H(x') = e^{λ₁}∇ᵀdiag(φ''(g) − φ''(g'))∇ with
 *      |φ''(g_j) − φ''(g'_j)| ≤ max|φ'''|·|g_j − g'_j| ≤ max|φ'''|·√2‖x − x'‖
 *      (a difference of two entries); φ''' = −3εt/φ⁵ peaks at t² = ε/4 with
 *      |φ'''| = (3/2)(4/5)^{5/2}/ε. Tikhonov: H is constant, L_H = 0.
 *  L_B (TV): columns e^{λ₁}∇ᵀφ'(g) and e^{λ₁}∇ᵀψ(g), ψ = −½εt/φ³, with
 *      |φ''| ≤ ε^{−1/2} and |ψ'| = ½ε|ε − 2t²|/φ⁵ ≤ ½ε^{−1/2} (its maximum,
 *      at t = 0; the other critical point t² = 3ε/2 gives less), so by the
 *      Frobenius norm ‖B − B'‖ ≤ e^{λ₁} N∇ ε^{−1/2} √(1 + ¼)‖x − x'‖.
 *      Tikhonov: B = 2e^{λ₁}∇ᵀ∇x, L_B = 2e^{λ₁} N∇.
 *  L_f = 1/P: ∇²F = I/P.  L_Fλ = 0.
 */
bl_status dn_constants(const dn_model *M, const double *lambda, bl_constants *out)
{
    if (!M || !lambda || !out)
        return BL_EINVAL;
    double nd = (M->R > 1 ? 4.0 : 0.0) + (M->C > 1 ? 4.0 : 0.0), e1 = exp(lambda[0]);
    if (M->reg == DN_TV) {
        double eps = exp(lambda[1]), ri = 1.0 / sqrt(eps);
        double phi3 = 1.5 * pow(0.8, 2.5) / eps;
        *out = (bl_constants){1.0, 1.0 + e1 * nd * ri, 1.0 / M->P, 0.5 * sqrt(5.0) * e1 * nd * ri,
                              sqrt(2.0) * e1 * nd * phi3, 0.0, 1};
    } else {
        *out = (bl_constants){1.0, 1.0 + 2.0 * e1 * nd, 1.0 / M->P, 2.0 * e1 * nd, 0.0, 0.0, 1};
    }
    return BL_OK;
}

/* --------------------------------------------------------- differences */

/* g (E) = ∇x for one R×C image. */
static void diff(int R, int C, const double *x, double *g)
{
    size_t e = 0;
    for (int i = 0; i < R; i++)
        for (int j = 0; j + 1 < C; j++)
            g[e++] = x[(size_t)i * C + j + 1] - x[(size_t)i * C + j];
    for (int i = 0; i + 1 < R; i++)
        for (int j = 0; j < C; j++)
            g[e++] = x[(size_t)(i + 1) * C + j] - x[(size_t)i * C + j];
}

/* out += s·∇ᵀg for one image. */
static void diff_t(int R, int C, const double *g, double s, double *out)
{
    size_t e = 0;
    for (int i = 0; i < R; i++)
        for (int j = 0; j + 1 < C; j++, e++) {
            out[(size_t)i * C + j + 1] += s * g[e];
            out[(size_t)i * C + j] -= s * g[e];
        }
    for (int i = 0; i + 1 < R; i++)
        for (int j = 0; j < C; j++, e++) {
            out[(size_t)(i + 1) * C + j] += s * g[e];
            out[(size_t)i * C + j] -= s * g[e];
        }
}

/* --------------------------------------------------------- references */

static bl_status ref_core(const dn_model *M, const double *x, const double *lambda,
                          const int *batch, int nb, double *value, double *g_x, double *g_lambda,
                          const double *v, double *hv, double *cross, const char *what, char *msg,
                          size_t msglen)
{
    bl_status st = md_check_batch(batch, nb, M->P, what, msg, msglen);
    if (st != BL_OK)
        return st;
    if (!batch)
        nb = M->P;
    int R = M->R, C = M->C, N = M->N, E = M->E, tv = M->reg == DN_TV;
    size_t p = (size_t)M->P * N;
    double s = batch ? (double)M->P / nb : 1.0;
    double e1 = exp(lambda[0]), eps = tv ? exp(lambda[1]) : 0.0;
    double *g = malloc((size_t)E * 3 * sizeof *g), *a = g + E, *gv = a + E;
    if (!g)
        return md_fail(msg, msglen, BL_ENOMEM, "%s: out of memory (%d differences)", what, E);
    if (g_x)
        memset(g_x, 0, p * sizeof *g_x);
    if (hv)
        memset(hv, 0, p * sizeof *hv);
    double f = 0, gl[2] = {0, 0}, cr[2] = {0, 0};
    for (int r = 0; r < nb; r++) {
        size_t k = (size_t)(batch ? batch[r] : r) * N;
        const double *xk = x + k, *yk = M->noisy + k;
        for (int j = 0; j < N; j++) {
            double dj = xk[j] - yk[j];
            f += 0.5 * dj * dj;
            if (g_x)
                g_x[k + j] += s * dj;
            if (hv)
                hv[k + j] += s * v[k + j];
        }
        diff(R, C, xk, g);
        if (v)
            diff(R, C, v + k, gv);
        double rs = 0, rl2 = 0, c1 = 0, c2 = 0;
        for (int e = 0; e < E; e++) {
            if (tv) {
                double ph = sqrt(g[e] * g[e] + eps);
                rs += ph;
                rl2 += 0.5 * eps / ph;
                a[e] = g[e] / ph; /* φ' */
                if (v) {
                    c1 += a[e] * gv[e];
                    c2 += -0.5 * eps * g[e] / (ph * ph * ph) * gv[e];
                    gv[e] *= eps / (ph * ph * ph); /* φ''·∇v */
                }
            } else {
                rs += g[e] * g[e];
                a[e] = 2.0 * g[e];
                if (v) {
                    c1 += a[e] * gv[e];
                    gv[e] *= 2.0;
                }
            }
        }
        f += e1 * rs;
        gl[0] += e1 * rs;
        gl[1] += e1 * rl2;
        cr[0] += e1 * c1;
        cr[1] += e1 * c2;
        if (g_x)
            diff_t(R, C, a, s * e1, g_x + k);
        if (hv)
            diff_t(R, C, gv, s * e1, hv + k);
    }
    free(g);
    if (value)
        *value = s * f;
    for (int q = 0; q < M->m; q++) {
        if (g_lambda)
            g_lambda[q] = s * gl[q];
        if (cross)
            cross[q] = s * cr[q];
    }
    return md_ok(msg, msglen);
}

bl_status dn_ref_G(const dn_model *M, const double *x, const double *lambda, const int *batch,
                   int nbatch, double *value, double *g_x, double *g_lambda, char *msg,
                   size_t msglen)
{
    return ref_core(M, x, lambda, batch, nbatch, value, g_x, g_lambda, NULL, NULL, NULL,
                    "dn_ref_G", msg, msglen);
}

bl_status dn_ref_hvp(const dn_model *M, const double *x, const double *lambda, const int *batch,
                     int nbatch, const double *v, double *hv, double *cross, char *msg,
                     size_t msglen)
{
    return ref_core(M, x, lambda, batch, nbatch, NULL, NULL, NULL, v, hv, cross, "dn_ref_hvp", msg,
                    msglen);
}

bl_status dn_ref_F(const dn_model *M, const double *x, const double *lambda, const int *batch,
                   int nbatch, double *value, double *g_x, double *g_lambda, char *msg,
                   size_t msglen)
{
    bl_status st = md_check_batch(batch, nbatch, M->P, "dn_ref_F", msg, msglen);
    if (st != BL_OK)
        return st;
    int nb = batch ? nbatch : M->P, N = M->N;
    if (g_x)
        memset(g_x, 0, (size_t)M->P * N * sizeof *g_x);
    if (g_lambda)
        memset(g_lambda, 0, (size_t)M->m * sizeof *g_lambda);
    double f = 0;
    for (int r = 0; r < nb; r++) {
        size_t k = (size_t)(batch ? batch[r] : r) * N;
        for (int j = 0; j < N; j++) {
            double dj = x[k + j] - M->clean[k + j];
            f += 0.5 * dj * dj;
            if (g_x)
                g_x[k + j] += dj / nb;
        }
    }
    if (value)
        *value = f / nb;
    return md_ok(msg, msglen);
}

/* The reference functions above behind md_reference (see dense.h). */
MD_DEFINE_REFERENCE(dn_reference, dn_model, dn_ref_G, dn_ref_F, dn_ref_hvp)

/* ‖B‖ ≤ ‖B‖_F: the columns are ∇_x ∂G/∂λ_q, i.e. the cross products with
 * the unit vectors of λ — computed here from the same per-image pieces. */
double dn_cross_norm(const dn_model *M, const double *x, const double *lambda)
{
    int R = M->R, C = M->C, N = M->N, E = M->E, tv = M->reg == DN_TV;
    double e1 = exp(lambda[0]), eps = tv ? exp(lambda[1]) : 0.0;
    double *g = malloc(((size_t)E * 2 + 2 * (size_t)N) * sizeof *g), *a = g + E,
           *b1 = a + E, *b2 = b1 + N;
    if (!g)
        return -1.0;
    double fro = 0;
    for (int k = 0; k < M->P; k++) {
        diff(R, C, x + (size_t)k * N, g);
        memset(b1, 0, 2 * (size_t)N * sizeof *b1);
        for (int e = 0; e < E; e++) {
            double ph = sqrt(g[e] * g[e] + eps);
            a[e] = tv ? g[e] / ph : 2.0 * g[e];
        }
        diff_t(R, C, a, e1, b1);
        if (tv) {
            for (int e = 0; e < E; e++) {
                double ph = sqrt(g[e] * g[e] + eps);
                a[e] = -0.5 * eps * g[e] / (ph * ph * ph);
            }
            diff_t(R, C, a, e1, b2);
        }
        fro += cblas_ddot(2 * N, b1, 1, b1, 1);
    }
    free(g);
    return sqrt(fro);
}

/* ------------------------------------------------- exact Tikhonov solve */

/* Orthonormal DCT-II basis Q (n×n, column k = k-th cosine) and the
 * eigenvalues 2 − 2cos(πk/n) of the path Laplacian it diagonalises. */
static void dct_basis(int n, double *Q, double *ev)
{
    for (int k = 0; k < n; k++) {
        double a = k == 0 ? sqrt(1.0 / n) : sqrt(2.0 / n);
        ev[k] = 2.0 - 2.0 * cos(DN_PI * k / n);
        for (int j = 0; j < n; j++)
            Q[(size_t)j * n + k] = a * cos(DN_PI * (j + 0.5) * k / n);
    }
}

/* x_k = (I + 2e^{λ₁}∇ᵀ∇)⁻¹ rhs_k for every pair: with ∇ᵀ∇X = L_R X + X L_C,
 * X = Q_R Z Q_Cᵀ turns the system into Z_ij (1 + 2e^{λ₁}(ρ_i + γ_j)) =
 * (Q_Rᵀ RHS Q_C)_ij. */
static bl_status tikhonov_apply_inverse(const dn_model *M, double e1, const double *rhs, double *x,
                                        char *msg, size_t msglen)
{
    int R = M->R, C = M->C, N = M->N;
    size_t need = (size_t)R * R + (size_t)C * C + R + C + 2 * (size_t)N;
    double *QR = malloc(need * sizeof *QR);
    if (!QR)
        return md_fail(msg, msglen, BL_ENOMEM, "dn_tikhonov_solve: out of memory (%dx%d)", R, C);
    double *QC = QR + (size_t)R * R, *eR = QC + (size_t)C * C, *eC = eR + R, *T = eC + C, *Z = T + N;
    dct_basis(R, QR, eR);
    dct_basis(C, QC, eC);
    for (int k = 0; k < M->P; k++) {
        const double *Y = rhs + (size_t)k * N;
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, R, C, R, 1.0, QR, R, Y, C, 0.0, T, C);
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, R, C, C, 1.0, T, C, QC, C, 0.0, Z, C);
        for (int i = 0; i < R; i++)
            for (int j = 0; j < C; j++)
                Z[(size_t)i * C + j] /= 1.0 + 2.0 * e1 * (eR[i] + eC[j]);
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, R, C, R, 1.0, QR, R, Z, C, 0.0, T, C);
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, R, C, C, 1.0, T, C, QC, C, 0.0,
                    x + (size_t)k * N, C);
    }
    free(QR);
    return md_ok(msg, msglen);
}

bl_status dn_tikhonov_solve(const dn_model *M, const double *lambda, double *x, char *msg,
                            size_t msglen)
{
    if (!M || !lambda || !x)
        return md_fail(msg, msglen, BL_EINVAL, "dn_tikhonov_solve: NULL argument");
    if (M->reg != DN_TIKHONOV)
        return md_fail(msg, msglen, BL_EINVAL, "dn_tikhonov_solve: the model is not Tikhonov");
    return tikhonov_apply_inverse(M, exp(lambda[0]), M->noisy, x, msg, msglen);
}

bl_status dn_tikhonov_hypergrad(const dn_model *M, const double *lambda, double *value,
                                double *grad, double *x, char *msg, size_t msglen)
{
    if (!M || !lambda)
        return md_fail(msg, msglen, BL_EINVAL, "dn_tikhonov_hypergrad: NULL argument");
    if (M->reg != DN_TIKHONOV)
        return md_fail(msg, msglen, BL_EINVAL, "dn_tikhonov_hypergrad: the model is not Tikhonov");
    size_t p = (size_t)M->P * M->N;
    double *xs = malloc(3 * p * sizeof *xs), *gf = xs + p, *q = gf + p, f = 0;
    if (!xs)
        return md_fail(msg, msglen, BL_ENOMEM, "dn_tikhonov_hypergrad: out of memory (p %zu)", p);
    bl_status st = tikhonov_apply_inverse(M, exp(lambda[0]), M->noisy, xs, msg, msglen);
    if (st == BL_OK)
        st = dn_ref_F(M, xs, lambda, NULL, 0, &f, gf, NULL, msg, msglen);
    if (st == BL_OK && grad) /* ∇h = −cross(H⁻¹∇_xF) */
        st = tikhonov_apply_inverse(M, exp(lambda[0]), gf, q, msg, msglen);
    if (st == BL_OK && grad) {
        double cr;
        st = dn_ref_hvp(M, xs, lambda, NULL, 0, q, NULL, &cr, msg, msglen);
        grad[0] = -cr;
    }
    if (st == BL_OK) {
        if (value)
            *value = f;
        if (x)
            memcpy(x, xs, p * sizeof *x);
    }
    free(xs);
    return st;
}
