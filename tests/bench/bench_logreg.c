/*
 * tests/bench/bench_logreg.c — L2-regularised binary logistic regression
 * with one regularisation weight per feature:
 *
 *   G(θ, λ) = (1/n) Σ_i softplus(−y_i x_iᵀθ) + ½ Σ_k e^{λ_k} θ_k²
 *
 *   X  n×p  dense Gaussian features (seeded), y ∈ {−1, +1}^n random labels,
 *   θ  p×1  leaf, λ  p×1  leaf.
 *
 * Usage: bench_logreg N P   (IJCNN1's shape is 49990×22; MNIST-like 20000×784).
 *
 * It times, in the same run, the ad engine against hand-written OpenBLAS code
 * for the same math and prints the ratios:
 *   grad          record G + ad_grad_values + rewind   vs  dgemv, loop, dgemv
 *   hvp scratch   record G + ad_hvp_cross (FOR, ROR)   vs  z = Xθ, D = σ'(m)/n,
 *                                                          Xᵀ(D⊙Xv) + e^λ⊙v
 *   hvp reuse     ad_hvp_apply on a prepared plan      vs  the same with D kept
 * Hand formulas (m_i = −y_i x_iᵀθ, σ the logistic function):
 *   ∇_θG = Xᵀ(−y⊙σ(m))/n + e^λ⊙θ,  ∇_λG = ½ e^λ⊙θ²,
 *   H v  = Xᵀ(σ(m)(1−σ(m))⊙Xv)/n + e^λ⊙v,  cross(v) = e^λ⊙θ⊙v.
 * AD and hand results are compared (relative error printed) so that the
 * timings are of the same math. Nothing is asserted.
 */
#include "bench_driver.h"

typedef struct lr {
    int n, p;
    const double *X;  /* n×p */
    const double *ny; /* −y, n */
    const double *theta, *lambda, *v; /* p each */
    /* hand workspace */
    double *z, *w, *D, *elam;
    /* results: AD and hand */
    double *gth_ad, *gla_ad, *gth_h, *gla_h;
    double *hv_ad, *cr_ad, *hv_h, *cr_h;
    double f_h;
    /* the tape */
    ad_tape *t;
    ad_mark base;
    ad_hvp_mode mode;
    ad_hvp_plan plan;
} lr;

/* ------------------------------------------------------------ AD side */

/* Records G(θ, λ); returns G and the leaves θ (p×1), λ (p×1). */
static ad_var lr_record(const lr *L, ad_var *th, ad_var *la)
{
    ad_tape *t = L->t;
    ad_var X = ad_const_ref(t, L->n, L->p, L->X);        /* n×p */
    ad_var ny = ad_const_ref(t, L->n, 1, L->ny);         /* n×1 */
    *th = ad_leaf(t, L->p, 1, L->theta);                 /* p×1 */
    *la = ad_leaf(t, L->p, 1, L->lambda);                /* p×1 */
    ad_var m = ad_mul(t, ny, ad_matvec(t, X, *th, 0));   /* n×1: −y⊙(Xθ) */
    ad_var data = ad_mean(t, ad_softplus(t, m));         /* 1×1 */
    ad_var reg = ad_scale(t, ad_sum(t, ad_mul(t, ad_exp(t, *la), ad_square(t, *th))), 0.5);
    return ad_add(t, data, reg);
}

static void ad_record_only(void *ctx)
{
    lr *L = ctx;
    ad_var th, la;
    lr_record(L, &th, &la);
    ad_tape_rewind(L->t, L->base);
}

static void ad_grad_fn(void *ctx)
{
    lr *L = ctx;
    ad_var wrt[2];
    ad_var G = lr_record(L, &wrt[0], &wrt[1]);
    double *out[2] = {L->gth_ad, L->gla_ad};
    ad_grad_values(L->t, G, 2, wrt, out);
    ad_tape_rewind(L->t, L->base);
}

/* G's value is not wanted (the hand code does not compute it either): record
 * it with lazy values, as bl_oracle_point does. */
static void ad_hvp_scratch_fn(void *ctx)
{
    lr *L = ctx;
    ad_var th, la;
    ad_tape_set_lazy(L->t, 1);
    ad_var G = lr_record(L, &th, &la);
    ad_tape_set_lazy(L->t, 0);
    ad_hvp_cross(L->t, G, th, la, L->v, L->hv_ad, L->cr_ad, L->mode);
    ad_tape_rewind(L->t, L->base);
}

static void ad_hvp_apply_fn(void *ctx)
{
    lr *L = ctx;
    ad_hvp_apply(L->t, &L->plan, L->v, L->hv_ad, L->cr_ad);
}

/* record G + ad_hvp_prepare, keeping the plan (no rewind) */
static void ad_prepare_fn(void *ctx)
{
    lr *L = ctx;
    ad_var th, la;
    ad_tape_set_lazy(L->t, 1); /* as in ad_hvp_scratch_fn */
    ad_var G = lr_record(L, &th, &la);
    ad_tape_set_lazy(L->t, 0);
    ad_hvp_prepare(L->t, G, th, la, L->mode, &L->plan);
}

/* ---------------------------------------------------------- hand side */

/* f only: z = Xθ, Σ softplus. */
static void hand_value(void *ctx)
{
    lr *L = ctx;
    int n = L->n, p = L->p;
    cblas_dgemv(CblasRowMajor, CblasNoTrans, n, p, 1.0, L->X, p, L->theta, 1, 0.0, L->z, 1);
    double f = 0;
    for (int i = 0; i < n; i++) {
        double m = L->ny[i] * L->z[i];
        f += (m > 0 ? m : 0.0) + log1p(exp(-fabs(m)));
    }
    double reg = 0;
    for (int k = 0; k < p; k++)
        reg += exp(L->lambda[k]) * L->theta[k] * L->theta[k];
    L->f_h = f / n + 0.5 * reg;
}

static void hand_grad(void *ctx)
{
    lr *L = ctx;
    int n = L->n, p = L->p;
    cblas_dgemv(CblasRowMajor, CblasNoTrans, n, p, 1.0, L->X, p, L->theta, 1, 0.0, L->z, 1);
    double f = 0, inv_n = 1.0 / n;
    for (int i = 0; i < n; i++) {
        double s, sp;
        bench_sig_softplus(L->ny[i] * L->z[i], &s, &sp);
        f += sp;
        L->w[i] = L->ny[i] * s * inv_n;
    }
    cblas_dgemv(CblasRowMajor, CblasTrans, n, p, 1.0, L->X, p, L->w, 1, 0.0, L->gth_h, 1);
    double reg = 0;
    for (int k = 0; k < p; k++) {
        double e = exp(L->lambda[k]), th = L->theta[k];
        L->gth_h[k] += e * th;
        L->gla_h[k] = 0.5 * e * th * th;
        reg += e * th * th;
    }
    L->f_h = f * inv_n + 0.5 * reg;
}

/* D_i = σ'(m_i)/n and e^λ: the state an Hvp at fixed (θ, λ) may keep
 * (z = Xθ is the one pass over X). */
static void hand_curvature(void *ctx)
{
    lr *L = ctx;
    int n = L->n, p = L->p;
    cblas_dgemv(CblasRowMajor, CblasNoTrans, n, p, 1.0, L->X, p, L->theta, 1, 0.0, L->z, 1);
    double inv_n = 1.0 / n;
    for (int i = 0; i < n; i++) {
        double s;
        bench_sig_softplus(L->ny[i] * L->z[i], &s, NULL);
        L->D[i] = s * (1.0 - s) * inv_n; /* y_i² = 1 */
    }
    for (int k = 0; k < p; k++)
        L->elam[k] = exp(L->lambda[k]);
}

/* H v and cross(v) with D and e^λ already computed. */
static void hand_hvp_apply(void *ctx)
{
    lr *L = ctx;
    int n = L->n, p = L->p;
    cblas_dgemv(CblasRowMajor, CblasNoTrans, n, p, 1.0, L->X, p, L->v, 1, 0.0, L->w, 1);
    for (int i = 0; i < n; i++)
        L->w[i] *= L->D[i];
    cblas_dgemv(CblasRowMajor, CblasTrans, n, p, 1.0, L->X, p, L->w, 1, 0.0, L->hv_h, 1);
    for (int k = 0; k < p; k++) {
        L->hv_h[k] += L->elam[k] * L->v[k];
        L->cr_h[k] = L->elam[k] * L->theta[k] * L->v[k];
    }
}

static void hand_hvp_scratch(void *ctx)
{
    hand_curvature(ctx);
    hand_hvp_apply(ctx);
}

/* ∇f, H v and cross(v) from θ: the work AD does from scratch, with the same
 * 4 passes over X (Xθ, Xv, Xᵀr, Xᵀ(D⊙Xv)) and one fused elementwise loop. */
static void hand_grad_hvp(void *ctx)
{
    lr *L = ctx;
    int n = L->n, p = L->p;
    double inv_n = 1.0 / n;
    cblas_dgemv(CblasRowMajor, CblasNoTrans, n, p, 1.0, L->X, p, L->theta, 1, 0.0, L->z, 1);
    cblas_dgemv(CblasRowMajor, CblasNoTrans, n, p, 1.0, L->X, p, L->v, 1, 0.0, L->w, 1);
    double f = 0;
    for (int i = 0; i < n; i++) {
        double s, sp;
        bench_sig_softplus(L->ny[i] * L->z[i], &s, &sp);
        f += sp;
        L->z[i] = L->ny[i] * s * inv_n;          /* r_i */
        L->w[i] *= s * (1.0 - s) * inv_n;        /* D_i (Xv)_i */
    }
    cblas_dgemv(CblasRowMajor, CblasTrans, n, p, 1.0, L->X, p, L->z, 1, 0.0, L->gth_h, 1);
    cblas_dgemv(CblasRowMajor, CblasTrans, n, p, 1.0, L->X, p, L->w, 1, 0.0, L->hv_h, 1);
    double reg = 0;
    for (int k = 0; k < p; k++) {
        double e = exp(L->lambda[k]), th = L->theta[k];
        L->gth_h[k] += e * th;
        L->gla_h[k] = 0.5 * e * th * th;
        L->hv_h[k] += e * L->v[k];
        L->cr_h[k] = e * th * L->v[k];
        reg += e * th * th;
    }
    L->f_h = f * inv_n + 0.5 * reg;
}

/* ------------------------------------------------------------- driver */

static void check(void *ctx, int what, char *buf, size_t len)
{
    lr *L = ctx;
    size_t p = (size_t)L->p;
    if (what == BENCH_CHECK_VALUE) {
        ad_var th, la;
        double g = ad_scalar_value(L->t, lr_record(L, &th, &la));
        ad_tape_rewind(L->t, L->base);
        hand_value(L);
        snprintf(buf, len, "relerr G %.1e", fabs(g - L->f_h) / fabs(L->f_h));
    } else if (what == BENCH_CHECK_GRAD) {
        snprintf(buf, len, "relerr grad_theta %.1e grad_lambda %.1e",
                 bench_relerr(L->gth_ad, L->gth_h, p), bench_relerr(L->gla_ad, L->gla_h, p));
    } else {
        snprintf(buf, len, "relerr Hv %.1e cross %.1e", bench_relerr(L->hv_ad, L->hv_h, p),
                 bench_relerr(L->cr_ad, L->cr_h, p));
    }
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 49990, p = argc > 2 ? atoi(argv[2]) : 22;
    if (n <= 0 || p <= 0) {
        fprintf(stderr, "usage: %s N P\n", argv[0]);
        return 2;
    }
    char tag[64];
    snprintf(tag, sizeof tag, "logreg %dx%d", n, p);
    bench_header(tag);

    /* Seeded synthetic data: Gaussian features, random ±1 labels. */
    bench_rng rng = {0x5EEDull + (uint64_t)n * 31u + (uint64_t)p};
    double *X = bench_doubles((size_t)n * p), *ny = bench_doubles((size_t)n);
    double *theta = bench_doubles((size_t)p), *lambda = bench_doubles((size_t)p);
    double *v = bench_doubles((size_t)p);
    for (size_t k = 0; k < (size_t)n * p; k++)
        X[k] = bench_gauss(&rng);
    for (int i = 0; i < n; i++)
        ny[i] = bench_unif(&rng) < 0.5 ? 1.0 : -1.0;
    for (int k = 0; k < p; k++) {
        theta[k] = bench_gauss(&rng) / sqrt((double)p);
        lambda[k] = log(1e-2) + 0.5 * bench_gauss(&rng);
        v[k] = bench_gauss(&rng);
    }

    lr L = {.n = n, .p = p, .X = X, .ny = ny, .theta = theta, .lambda = lambda, .v = v};
    L.z = bench_doubles((size_t)n);
    L.w = bench_doubles((size_t)n);
    L.D = bench_doubles((size_t)n);
    L.elam = bench_doubles((size_t)p);
    double **outs[] = {&L.gth_ad, &L.gla_ad, &L.gth_h, &L.gla_h,
                       &L.hv_ad, &L.cr_ad, &L.hv_h, &L.cr_h};
    for (size_t k = 0; k < sizeof outs / sizeof outs[0]; k++)
        *outs[k] = bench_doubles((size_t)p);
    L.t = ad_tape_new(NULL);
    if (!L.t) {
        fprintf(stderr, "bench: cannot create a tape\n");
        return 1;
    }
    L.base = ad_tape_mark(L.t);

    bench_problem P = {
        .tag = tag, .ctx = &L, .tape = &L.t, .base = &L.base, .mode = &L.mode,
        .ad_record = ad_record_only, .hand_value = hand_value,
        .ad_grad = ad_grad_fn, .hand_grad = hand_grad,
        .ad_hvp_scratch = ad_hvp_scratch_fn, .hand_hvp_scratch = hand_hvp_scratch,
        .hand_grad_hvp = hand_grad_hvp,
        .ad_prepare = ad_prepare_fn, .ad_apply = ad_hvp_apply_fn,
        .hand_curvature = hand_curvature, .hand_apply = hand_hvp_apply,
        .check = check,
        .passes_note = "passes over X (dgemv): grad AD 2 / hand 2; hvp scratch FOR AD 3 (Xθ, Xv, "
                       "Xᵀ(D⊙Xv); the gradient's Xᵀr is deferred and never computed) / hand 3, "
                       "ROR AD 4; hvp reuse AD 2 / hand 2",
    };
    bench_run(&P);

    ad_tape_free(L.t);
    for (size_t k = 0; k < sizeof outs / sizeof outs[0]; k++)
        free(*outs[k]);
    free(L.z);
    free(L.w);
    free(L.D);
    free(L.elam);
    free(X);
    free(ny);
    free(theta);
    free(lambda);
    free(v);
    return 0;
}
