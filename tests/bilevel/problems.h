/*
 * tests/bilevel/problems.h — small bilevel test problems written inline
 * with ad ops, and their independent references: dense linear algebra in
 * plain C (Cholesky, Jacobi eigenvalues), closed forms and a dense Newton
 * solve. Nothing here calls the code under test except to define the
 * problems' callbacks, so the suite stands alone (models/ is not used).
 *
 * Problems (notation as in README, Notation):
 *   ridge   G = ½/n‖Xθ − y‖² + ½e^λ‖θ‖²,  F = ½/nv‖Vθ − z‖²,  m = 1.
 *   lstsq   G = ‖Cw + Dx − e‖²,  F = ‖Ax − b‖²  (README, Notation; θ = x, λ = w).
 *   logreg  G = (1/n)Σ softplus(−y_i x_iᵀθ) + ½Σ_k e^{λ_k}θ_k²  (m = p),
 *           F = the same loss on validation data (or F = G: min-min).
 *   indef   G = ½θᵀAθ − λᵀθ with A indefinite,  F = ½‖θ − z‖²  (m = p).
 */
#ifndef HYPERTAPE_TESTS_BILEVEL_PROBLEMS_H
#define HYPERTAPE_TESTS_BILEVEL_PROBLEMS_H

#include <hypertape/bilevel.h>
#include "tests/testutil.h"
#include "tests/bilevel/hg_out.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ============================================================ dense helpers */

/* y = A x, A r×c row-major (trans: y = Aᵀx). */
static inline void d_matvec(int r, int c, const double *A, const double *x, double *y, int trans)
{
    int ny = trans ? c : r;
    for (int i = 0; i < ny; i++)
        y[i] = 0;
    for (int i = 0; i < r; i++)
        for (int j = 0; j < c; j++) {
            if (trans)
                y[j] += A[i * c + j] * x[i];
            else
                y[i] += A[i * c + j] * x[j];
        }
}

/* G = s·AᵀB, A n×p, B n×q → p×q. */
static inline void d_gram(int n, int p, int q, const double *A, const double *B, double s, double *G)
{
    for (int i = 0; i < p; i++)
        for (int j = 0; j < q; j++) {
            double acc = 0;
            for (int k = 0; k < n; k++)
                acc += A[k * p + i] * B[k * q + j];
            G[i * q + j] = s * acc;
        }
}

static inline double d_dot(int n, const double *a, const double *b)
{
    double s = 0;
    for (int k = 0; k < n; k++)
        s += a[k] * b[k];
    return s;
}

static inline double d_nrm(int n, const double *a) { return sqrt(d_dot(n, a, a)); }

static inline double d_dist(int n, const double *a, const double *b)
{
    double s = 0;
    for (int k = 0; k < n; k++)
        s += (a[k] - b[k]) * (a[k] - b[k]);
    return sqrt(s);
}

/* Solves A x = b for SPD A (n×n) by Cholesky; returns 0 if A is not PD. */
static inline int d_chol_solve(int n, const double *A, const double *b, double *x)
{
    double *Lm = calloc((size_t)n * n, sizeof(double));
    int ok = 1;
    for (int j = 0; j < n && ok; j++) {
        double s = A[j * n + j];
        for (int k = 0; k < j; k++)
            s -= Lm[j * n + k] * Lm[j * n + k];
        if (!(s > 0)) {
            ok = 0;
            break;
        }
        Lm[j * n + j] = sqrt(s);
        for (int i = j + 1; i < n; i++) {
            double t = A[i * n + j];
            for (int k = 0; k < j; k++)
                t -= Lm[i * n + k] * Lm[j * n + k];
            Lm[i * n + j] = t / Lm[j * n + j];
        }
    }
    if (ok) {
        for (int i = 0; i < n; i++) { /* L y = b */
            double t = b[i];
            for (int k = 0; k < i; k++)
                t -= Lm[i * n + k] * x[k];
            x[i] = t / Lm[i * n + i];
        }
        for (int i = n - 1; i >= 0; i--) { /* Lᵀ x = y */
            double t = x[i];
            for (int k = i + 1; k < n; k++)
                t -= Lm[k * n + i] * x[k];
            x[i] = t / Lm[i * n + i];
        }
    }
    free(Lm);
    return ok;
}

/* Eigenvalues of a symmetric n×n matrix (cyclic Jacobi), ascending. */
static inline void d_eig_sym(int n, const double *A, double *ev)
{
    double *a = malloc((size_t)n * n * sizeof(double));
    memcpy(a, A, (size_t)n * n * sizeof(double));
    for (int sweep = 0; sweep < 100; sweep++) {
        double off = 0, tot = 0;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) {
                tot += a[i * n + j] * a[i * n + j];
                if (i != j)
                    off += a[i * n + j] * a[i * n + j];
            }
        if (off <= 1e-30 * tot)
            break;
        for (int p = 0; p < n; p++)
            for (int q = p + 1; q < n; q++) {
                double apq = a[p * n + q];
                if (apq == 0)
                    continue;
                double th = (a[q * n + q] - a[p * n + p]) / (2 * apq);
                double t = (th >= 0 ? 1 : -1) / (fabs(th) + sqrt(th * th + 1));
                double c = 1 / sqrt(t * t + 1), s = t * c;
                for (int k = 0; k < n; k++) { /* columns p, q */
                    double akp = a[k * n + p], akq = a[k * n + q];
                    a[k * n + p] = c * akp - s * akq;
                    a[k * n + q] = s * akp + c * akq;
                }
                for (int k = 0; k < n; k++) { /* rows p, q */
                    double apk = a[p * n + k], aqk = a[q * n + k];
                    a[p * n + k] = c * apk - s * aqk;
                    a[q * n + k] = s * apk + c * aqk;
                }
            }
    }
    for (int i = 0; i < n; i++)
        ev[i] = a[i * n + i];
    for (int i = 1; i < n; i++) /* insertion sort */
        for (int j = i; j > 0 && ev[j] < ev[j - 1]; j--) {
            double t = ev[j];
            ev[j] = ev[j - 1];
            ev[j - 1] = t;
        }
    free(a);
}

/* Least-squares slope of y against x (n points). */
static inline double fit_slope(int n, const double *x, const double *y)
{
    double mx = 0, my = 0, sxy = 0, sxx = 0;
    for (int k = 0; k < n; k++) {
        mx += x[k] / n;
        my += y[k] / n;
    }
    for (int k = 0; k < n; k++) {
        sxy += (x[k] - mx) * (y[k] - my);
        sxx += (x[k] - mx) * (x[k] - mx);
    }
    return sxy / sxx;
}

static inline double sigm(double z) { return z >= 0 ? 1 / (1 + exp(-z)) : exp(z) / (1 + exp(z)); }
static inline double softplus(double z) { return (z > 0 ? z : 0) + log1p(exp(-fabs(z))); }

/* ==================================================================== ridge */

typedef struct ridge {
    int n, nv, p;
    double *X, *y, *V, *z; /* n×p, n, nv×p, nv */
    double *ev;            /* eigenvalues of XᵀX/n, ascending (p) */
} ridge;

static inline ad_var ridge_G(ad_tape *t, ad_var th, ad_var la, const int *b, int nb, void *ctx)
{
    ridge *r = ctx;
    ad_var res = ad_sub(t, ad_matvec(t, ad_const_ref(t, r->n, r->p, r->X), th, 0),
                        ad_const_ref(t, r->n, 1, r->y));
    ad_var fit = ad_scale(t, ad_dot(t, res, res), 0.5 / r->n);
    return ad_add(t, fit, ad_mul(t, ad_scale(t, ad_exp(t, la), 0.5), ad_dot(t, th, th)));
}

static inline ad_var ridge_F(ad_tape *t, ad_var th, ad_var la, const int *b, int nb, void *ctx)
{
    ridge *r = ctx;
    ad_var res = ad_sub(t, ad_matvec(t, ad_const_ref(t, r->nv, r->p, r->V), th, 0),
                        ad_const_ref(t, r->nv, 1, r->z));
    return ad_scale(t, ad_dot(t, res, res), 0.5 / r->nv);
}

static inline bl_status ridge_constants(const double *la, bl_constants *k, void *ctx)
{
    ridge *r = ctx;
    memset(k, 0, sizeof *k);
    k->mu = r->ev[0] + exp(la[0]);
    k->L = r->ev[r->p - 1] + exp(la[0]);
    k->certified = 1;
    return BL_OK;
}

static inline void ridge_init(ridge *r, int n, int nv, int p, uint64_t seed)
{
    t_rng g = {seed};
    r->n = n, r->nv = nv, r->p = p;
    r->X = malloc((size_t)n * p * sizeof(double));
    r->y = malloc((size_t)n * sizeof(double));
    r->V = malloc((size_t)nv * p * sizeof(double));
    r->z = malloc((size_t)nv * sizeof(double));
    r->ev = malloc((size_t)p * sizeof(double));
    double *w = malloc((size_t)p * sizeof(double));
    for (int j = 0; j < p; j++)
        w[j] = t_normal(&g);
    for (int i = 0; i < n * p; i++)
        r->X[i] = t_normal(&g);
    for (int i = 0; i < nv * p; i++)
        r->V[i] = t_normal(&g);
    d_matvec(n, p, r->X, w, r->y, 0);
    d_matvec(nv, p, r->V, w, r->z, 0);
    for (int i = 0; i < n; i++)
        r->y[i] += 0.5 * t_normal(&g);
    for (int i = 0; i < nv; i++)
        r->z[i] += 0.5 * t_normal(&g);
    double *A = malloc((size_t)p * p * sizeof(double));
    d_gram(n, p, p, r->X, r->X, 1.0 / n, A);
    d_eig_sym(p, A, r->ev);
    free(A);
    free(w);
}

static inline void ridge_free(ridge *r)
{
    free(r->X), free(r->y), free(r->V), free(r->z), free(r->ev);
}

static inline bl_problem ridge_problem(ridge *r)
{
    bl_problem pb = {.name = "ridge-test", .p = r->p, .m = 1, .G = ridge_G, .F = ridge_F,
                     .constants = ridge_constants, .ctx = r};
    return pb;
}

/* Closed form: θ* = (XᵀX/n + e^λI)⁻¹Xᵀy/n, q = H⁻¹∇_θF(θ*), ∇h = −e^λ θ*ᵀq.
 * Returns h(λ); fills theta (p) and hg (1) when non-NULL. */
static inline double ridge_truth(const ridge *r, double lam, double *theta, double *hg)
{
    int p = r->p;
    double *H = malloc((size_t)p * p * sizeof(double)), *rhs = malloc((size_t)p * sizeof(double));
    double *th = malloc((size_t)p * sizeof(double)), *q = malloc((size_t)p * sizeof(double));
    double *res = malloc((size_t)r->nv * sizeof(double));
    d_gram(r->n, p, p, r->X, r->X, 1.0 / r->n, H);
    for (int j = 0; j < p; j++)
        H[j * p + j] += exp(lam);
    d_matvec(r->n, p, r->X, r->y, rhs, 1);
    for (int j = 0; j < p; j++)
        rhs[j] /= r->n;
    d_chol_solve(p, H, rhs, th);
    d_matvec(r->nv, p, r->V, th, res, 0);
    double h = 0;
    for (int i = 0; i < r->nv; i++) {
        res[i] -= r->z[i];
        h += 0.5 / r->nv * res[i] * res[i];
    }
    d_matvec(r->nv, p, r->V, res, rhs, 1);
    for (int j = 0; j < p; j++)
        rhs[j] /= r->nv;
    d_chol_solve(p, H, rhs, q);
    if (hg)
        hg[0] = -exp(lam) * d_dot(p, th, q);
    if (theta)
        memcpy(theta, th, (size_t)p * sizeof(double));
    free(H), free(rhs), free(th), free(q), free(res);
    return h;
}

/* ==================================================================== lstsq */

typedef struct lstsq {
    int n, d;                 /* A, C, D are n×d; θ = x ∈ R^d, λ = w ∈ R^d */
    double *A, *C, *D, *b, *e;
    double *ev;               /* eigenvalues of DᵀD, ascending */
    double normA2;            /* ‖A‖² (largest eigenvalue of AᵀA) */
} lstsq;

static inline ad_var lstsq_G(ad_tape *t, ad_var x, ad_var w, const int *bt, int nb, void *ctx)
{
    lstsq *s = ctx;
    ad_var r = ad_add(t, ad_matvec(t, ad_const_ref(t, s->n, s->d, s->C), w, 0),
                      ad_matvec(t, ad_const_ref(t, s->n, s->d, s->D), x, 0));
    r = ad_sub(t, r, ad_const_ref(t, s->n, 1, s->e));
    return ad_dot(t, r, r);
}

static inline ad_var lstsq_F(ad_tape *t, ad_var x, ad_var w, const int *bt, int nb, void *ctx)
{
    lstsq *s = ctx;
    ad_var r = ad_sub(t, ad_matvec(t, ad_const_ref(t, s->n, s->d, s->A), x, 0),
                      ad_const_ref(t, s->n, 1, s->b));
    return ad_dot(t, r, r);
}

static inline bl_status lstsq_constants(const double *w, bl_constants *k, void *ctx)
{
    lstsq *s = ctx;
    memset(k, 0, sizeof *k);
    k->mu = 2 * s->ev[0];
    k->L = 2 * s->ev[s->d - 1];
    k->Lf = 2 * s->normA2;
    k->certified = 1;
    return BL_OK;
}

/* README's least-squares problem at small size: U[0,1] entries, b and e from a random truth
 * plus 0.01·N(0,1) noise. */
static inline void lstsq_init(lstsq *s, int n, int d, uint64_t seed)
{
    t_rng g = {seed};
    size_t nd = (size_t)n * d;
    s->n = n, s->d = d;
    s->A = malloc(nd * sizeof(double));
    s->C = malloc(nd * sizeof(double));
    s->D = malloc(nd * sizeof(double));
    s->b = malloc((size_t)n * sizeof(double));
    s->e = malloc((size_t)n * sizeof(double));
    s->ev = malloc((size_t)d * sizeof(double));
    t_fill(&g, s->A, nd, 0, 1);
    t_fill(&g, s->C, nd, 0, 1);
    t_fill(&g, s->D, nd, 0, 1);
    double *xt = malloc((size_t)d * sizeof(double)), *wt = malloc((size_t)d * sizeof(double));
    double *tmp = malloc((size_t)n * sizeof(double)), *M = malloc((size_t)d * d * sizeof(double));
    for (int j = 0; j < d; j++) {
        xt[j] = t_normal(&g);
        wt[j] = t_normal(&g);
    }
    d_matvec(n, d, s->A, xt, s->b, 0);
    d_matvec(n, d, s->D, xt, s->e, 0);
    d_matvec(n, d, s->C, wt, tmp, 0);
    for (int i = 0; i < n; i++) {
        s->b[i] += 0.01 * t_normal(&g);
        s->e[i] += tmp[i] + 0.01 * t_normal(&g);
    }
    d_gram(n, d, d, s->D, s->D, 1.0, M);
    d_eig_sym(d, M, s->ev);
    double *ea = malloc((size_t)d * sizeof(double));
    d_gram(n, d, d, s->A, s->A, 1.0, M);
    d_eig_sym(d, M, ea);
    s->normA2 = ea[d - 1];
    free(ea), free(xt), free(wt), free(tmp), free(M);
}

static inline void lstsq_free(lstsq *s)
{
    free(s->A), free(s->C), free(s->D), free(s->b), free(s->e), free(s->ev);
}

static inline bl_problem lstsq_problem(lstsq *s)
{
    bl_problem pb = {.name = "lstsq-test", .p = s->d, .m = s->d, .G = lstsq_G, .F = lstsq_F,
                     .constants = lstsq_constants, .ctx = s};
    return pb;
}

/* Normal equations: x* = (DᵀD)⁻¹Dᵀ(e − Cw), ∇h = −2CᵀD(DᵀD)⁻¹Aᵀ(Ax* − b). */
static inline void lstsq_truth(const lstsq *s, const double *w, double *x, double *hg)
{
    int n = s->n, d = s->d;
    double *M = calloc((size_t)d * d, sizeof(double)), *r = calloc((size_t)n, sizeof(double));
    double *rhs = calloc((size_t)d, sizeof(double)), *q = calloc((size_t)d, sizeof(double));
    d_gram(n, d, d, s->D, s->D, 1.0, M);
    d_matvec(n, d, s->C, w, r, 0);
    for (int i = 0; i < n; i++)
        r[i] = s->e[i] - r[i];
    d_matvec(n, d, s->D, r, rhs, 1);
    d_chol_solve(d, M, rhs, x);
    d_matvec(n, d, s->A, x, r, 0);
    for (int i = 0; i < n; i++)
        r[i] -= s->b[i];
    d_matvec(n, d, s->A, r, rhs, 1);
    d_chol_solve(d, M, rhs, q); /* q = (DᵀD)⁻¹Aᵀ(Ax − b) */
    d_matvec(n, d, s->D, q, r, 0);
    d_matvec(n, d, s->C, r, hg, 1);
    for (int j = 0; j < d; j++)
        hg[j] *= -2;
    free(M), free(r), free(rhs), free(q);
}

/* =================================================================== logreg */

typedef struct logreg {
    int n, nv, p;
    double *X, *y, *V, *z; /* n×p, labels ±1 (n), nv×p, labels ±1 (nv) */
    double lmaxX;          /* largest eigenvalue of XᵀX/n */
    int minmin;            /* 1: F = G */
} logreg;

/* (1/n) Σ softplus(−y_i x_iᵀθ) on tape. */
static inline ad_var logreg_loss(ad_tape *t, int n, int p, const double *X, const double *y, ad_var th)
{
    ad_var m = ad_mul(t, ad_matvec(t, ad_const_ref(t, n, p, X), th, 0), ad_const_ref(t, n, 1, y));
    return ad_mean(t, ad_softplus(t, ad_neg(t, m)));
}

static inline ad_var logreg_G(ad_tape *t, ad_var th, ad_var la, const int *b, int nb, void *ctx)
{
    logreg *L = ctx;
    ad_var reg = ad_scale(t, ad_dot(t, ad_mul(t, ad_exp(t, la), th), th), 0.5);
    return ad_add(t, logreg_loss(t, L->n, L->p, L->X, L->y, th), reg);
}

static inline ad_var logreg_F(ad_tape *t, ad_var th, ad_var la, const int *b, int nb, void *ctx)
{
    logreg *L = ctx;
    if (L->minmin)
        return logreg_G(t, th, la, b, nb, ctx);
    return logreg_loss(t, L->nv, L->p, L->V, L->z, th);
}

/* μ ≥ min e^λ, L ≤ λ_max(XᵀX)/(4n) + max e^λ. */
static inline bl_status logreg_constants(const double *la, bl_constants *k, void *ctx)
{
    logreg *L = ctx;
    double lo = INFINITY, hi = 0;
    for (int j = 0; j < L->p; j++) {
        lo = fmin(lo, exp(la[j]));
        hi = fmax(hi, exp(la[j]));
    }
    memset(k, 0, sizeof *k);
    k->mu = lo;
    k->L = L->lmaxX / 4 + hi;
    k->certified = 1;
    return BL_OK;
}

static inline void logreg_init(logreg *L, int n, int nv, int p, double scale, uint64_t seed)
{
    t_rng g = {seed};
    L->n = n, L->nv = nv, L->p = p, L->minmin = 0;
    L->X = malloc((size_t)n * p * sizeof(double));
    L->y = malloc((size_t)n * sizeof(double));
    L->V = malloc((size_t)nv * p * sizeof(double));
    L->z = malloc((size_t)nv * sizeof(double));
    double *w = malloc((size_t)p * sizeof(double)), *M = malloc((size_t)p * p * sizeof(double));
    double *ev = malloc((size_t)p * sizeof(double));
    for (int j = 0; j < p; j++)
        w[j] = t_normal(&g);
    for (int s = 0; s < 2; s++) {
        int nn = s ? nv : n;
        double *A = s ? L->V : L->X, *lab = s ? L->z : L->y;
        for (int i = 0; i < nn; i++) {
            double m = 0;
            for (int j = 0; j < p; j++) {
                A[i * p + j] = scale * t_normal(&g);
                m += A[i * p + j] * w[j];
            }
            lab[i] = t_uniform(&g, 0, 1) < sigm(m) ? 1.0 : -1.0;
        }
    }
    d_gram(n, p, p, L->X, L->X, 1.0 / n, M);
    d_eig_sym(p, M, ev);
    L->lmaxX = ev[p - 1];
    free(w), free(M), free(ev);
}

static inline void logreg_free(logreg *L) { free(L->X), free(L->y), free(L->V), free(L->z); }

static inline bl_problem logreg_problem(logreg *L)
{
    bl_problem pb = {.name = "logreg-test", .p = L->p, .m = L->p, .G = logreg_G, .F = logreg_F,
                     .constants = logreg_constants, .ctx = L};
    return pb;
}

/* Loss (1/n)Σ softplus(−y_i a_iᵀθ), its gradient (p, may be NULL) and its
 * Hessian (p×p, may be NULL), in plain C. */
static inline double logreg_loss_c(int n, int p, const double *A, const double *y,
                                   const double *th, double *g, double *H)
{
    double f = 0;
    if (g)
        memset(g, 0, (size_t)p * sizeof(double));
    if (H)
        memset(H, 0, (size_t)p * p * sizeof(double));
    for (int i = 0; i < n; i++) {
        const double *a = A + (size_t)i * p;
        double m = y[i] * d_dot(p, a, th), s = sigm(-m);
        f += softplus(-m) / n;
        for (int j = 0; j < p && g; j++)
            g[j] -= y[i] * s * a[j] / n;
        for (int j = 0; j < p && H; j++)
            for (int k = 0; k < p; k++)
                H[j * p + k] += s * (1 - s) * a[j] * a[k] / n;
    }
    return f;
}

/* G (value), ∇_θG and H = ∇²_θθG at (θ, λ) in plain C. */
static inline double logreg_G_c(const logreg *L, const double *th, const double *la, double *g,
                                double *H)
{
    int p = L->p;
    double f = logreg_loss_c(L->n, p, L->X, L->y, th, g, H);
    for (int j = 0; j < p; j++) {
        double e = exp(la[j]);
        f += 0.5 * e * th[j] * th[j];
        if (g)
            g[j] += e * th[j];
        if (H)
            H[j * p + j] += e;
    }
    return f;
}

/* F (value) and ∇_θF in plain C. */
static inline double logreg_F_c(const logreg *L, const double *th, const double *la, double *g)
{
    if (L->minmin)
        return logreg_G_c(L, th, la, g, NULL);
    return logreg_loss_c(L->nv, L->p, L->V, L->z, th, g, NULL);
}

/* θ*(λ) by dense Newton from 0 to ‖∇G‖ at rounding level. */
static inline void logreg_newton(const logreg *L, const double *la, double *th)
{
    int p = L->p;
    double *g = malloc((size_t)p * sizeof(double)), *H = malloc((size_t)p * p * sizeof(double));
    double *d = malloc((size_t)p * sizeof(double));
    memset(th, 0, (size_t)p * sizeof(double));
    for (int it = 0; it < 60; it++) {
        logreg_G_c(L, th, la, g, H);
        d_chol_solve(p, H, g, d);
        for (int j = 0; j < p; j++)
            th[j] -= d[j];
        if (d_nrm(p, d) <= 1e-15 * (1 + d_nrm(p, th)) && it > 3)
            break;
    }
    free(g), free(H), free(d);
}

/* Truth: θ* by Newton, q = H⁻¹∇_θF(θ*) by Cholesky,
 * ∇h_k = ∂_λk F − e^{λ_k}θ*_k q_k (∂_λF = ½e^λθ² for the min-min case).
 * Returns h(λ); theta (p) and hg (p) may be NULL. */
static inline double logreg_truth(const logreg *L, const double *la, double *theta, double *hg)
{
    int p = L->p;
    double *th = malloc((size_t)p * sizeof(double)), *gF = malloc((size_t)p * sizeof(double));
    double *H = malloc((size_t)p * p * sizeof(double)), *q = malloc((size_t)p * sizeof(double));
    logreg_newton(L, la, th);
    logreg_G_c(L, th, la, NULL, H);
    double h = logreg_F_c(L, th, la, gF);
    d_chol_solve(p, H, gF, q);
    for (int k = 0; k < p && hg; k++) {
        double e = exp(la[k]);
        hg[k] = (L->minmin ? 0.5 * e * th[k] * th[k] : 0.0) - e * th[k] * q[k];
    }
    if (theta)
        memcpy(theta, th, (size_t)p * sizeof(double));
    free(th), free(gF), free(H), free(q);
    return h;
}

/* ==================================================================== indef */

typedef struct indef {
    int p;
    double *A, *z; /* symmetric p×p with a negative eigenvalue; p */
} indef;

static inline ad_var indef_G(ad_tape *t, ad_var th, ad_var la, const int *b, int nb, void *ctx)
{
    indef *s = ctx;
    ad_var At = ad_matvec(t, ad_const_ref(t, s->p, s->p, s->A), th, 0);
    return ad_sub(t, ad_scale(t, ad_dot(t, th, At), 0.5), ad_dot(t, la, th));
}

static inline ad_var indef_F(ad_tape *t, ad_var th, ad_var la, const int *b, int nb, void *ctx)
{
    indef *s = ctx;
    ad_var r = ad_sub(t, th, ad_const_ref(t, s->p, 1, s->z));
    return ad_scale(t, ad_dot(t, r, r), 0.5);
}

#endif
