/*
 * tests/bench_bilevel/bbl_problem.h — the problem every bilevel benchmark
 * uses, defined inline with ad ops (no dependency on models/), plus small
 * helpers (clock, relative error, one estimator call).
 *
 * L2-regularised logistic regression with one weight per feature (m = p):
 *
 *   G(θ, λ) = (1/n) Σ_i softplus(−y_i x_iᵀθ) + ½ Σ_k e^{λ_k} θ_k²
 *   F(θ, λ) = (1/n_v) Σ_i softplus(−z_i v_iᵀθ)        (validation loss)
 *
 *   X  n×p, V  n_v×p  dense N(0, 1) features (seeded splitmix64),
 *   y, z ∈ {−1, +1}   labels sign(xᵀw* + σ_noise·N(0, 1)), ‖w*‖ = 2, σ_noise = 1.
 *
 * Certified constants (README, Notation), with σ'' ≤ 1/(6√3):
 *   μ  = min_k e^{λ_k}                        (the data term is convex)
 *   L  = ‖X‖²_F/(4n) + max_k e^{λ_k}          (σ' ≤ ¼, ‖X‖₂ ≤ ‖X‖_F)
 *   L_f = ‖V‖²_F/(4n_v)
 *   L_B = max_k e^{λ_k}                       (B = diag(e^λ ⊙ θ))
 *   L_H = max_i ‖x_i‖ · ‖X‖²_F / (6√3 n)
 *   ‖B‖ = max_k e^{λ_k}|θ_k|                  (bl_problem.cross_norm)
 */
#ifndef HYPERTAPE_BBL_PROBLEM_H
#define HYPERTAPE_BBL_PROBLEM_H

#include <hypertape/bilevel.h>

#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BBL_SEED 12345u /* seed of every data set of these benchmarks */

typedef struct bbl_data {
    int n, nv, p;
    double *X, *ny;  /* n×p, −y (n) */
    double *V, *nz;  /* nv×p, −z (nv) */
    double fro2_X, fro2_V, max_row_X; /* ‖X‖²_F, ‖V‖²_F, max_i ‖x_i‖ */
} bbl_data;

/* ------------------------------------------------------------ utilities */

static inline double bbl_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static inline uint64_t bbl_next(uint64_t *s) /* splitmix64 */
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static inline double bbl_gauss(uint64_t *s)
{
    double u = ((double)(bbl_next(s) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
    double v = ((double)(bbl_next(s) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
    return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

static inline void *bbl_alloc(size_t bytes)
{
    void *p = calloc(1, bytes ? bytes : 1);
    if (!p) {
        fprintf(stderr, "bench: cannot allocate %zu bytes\n", bytes);
        exit(1); /* could not run */
    }
    return p;
}

/* ‖a − b‖ / ‖b‖. */
static inline double bbl_relerr(const double *a, const double *b, int n)
{
    double d = 0, s = 0;
    for (int k = 0; k < n; k++) {
        d += (a[k] - b[k]) * (a[k] - b[k]);
        s += b[k] * b[k];
    }
    return sqrt(d) / (s > 0 ? sqrt(s) : 1e-300);
}

static inline double bbl_mib(size_t b) { return (double)b / (1024.0 * 1024.0); }

/* ----------------------------------------------------------------- data */

/* Fills rows×p features and −labels from the noisy linear model w. */
static inline void bbl_fill(uint64_t *s, int rows, int p, const double *w, double *A, double *nlab)
{
    for (int i = 0; i < rows; i++) {
        double m = 0;
        for (int k = 0; k < p; k++) {
            A[(size_t)i * p + k] = bbl_gauss(s);
            m += A[(size_t)i * p + k] * w[k];
        }
        nlab[i] = (m + bbl_gauss(s) > 0) ? -1.0 : 1.0;
    }
}

/* Seeded synthetic data: n training and nv validation samples of p features. */
static inline void bbl_data_init(bbl_data *d, int n, int nv, int p, uint64_t seed)
{
    uint64_t s = seed;
    d->n = n;
    d->nv = nv;
    d->p = p;
    d->X = bbl_alloc((size_t)n * p * sizeof(double));
    d->ny = bbl_alloc((size_t)n * sizeof(double));
    d->V = bbl_alloc((size_t)nv * p * sizeof(double));
    d->nz = bbl_alloc((size_t)nv * sizeof(double));
    double *w = bbl_alloc((size_t)p * sizeof(double)), wn = 0;
    for (int k = 0; k < p; k++) {
        w[k] = bbl_gauss(&s);
        wn += w[k] * w[k];
    }
    for (int k = 0; k < p; k++)
        w[k] *= 2.0 / sqrt(wn);
    bbl_fill(&s, n, p, w, d->X, d->ny);
    bbl_fill(&s, nv, p, w, d->V, d->nz);
    free(w);
    d->fro2_X = 0;
    d->max_row_X = 0;
    for (int i = 0; i < n; i++) {
        double r = cblas_ddot(p, d->X + (size_t)i * p, 1, d->X + (size_t)i * p, 1);
        d->fro2_X += r;
        d->max_row_X = fmax(d->max_row_X, sqrt(r));
    }
    d->fro2_V = cblas_ddot(nv * p, d->V, 1, d->V, 1);
}

static inline void bbl_data_free(bbl_data *d)
{
    free(d->X);
    free(d->ny);
    free(d->V);
    free(d->nz);
}

/* --------------------------------------------------------- the problem */

/* mean softplus(−lab ⊙ Aθ): A rows×p, θ p×1 → 1×1. */
static inline ad_var bbl_loss(ad_tape *t, int rows, int p, const double *A, const double *nlab,
                              ad_var theta)
{
    ad_var Ac = ad_const_ref(t, rows, p, A);                    /* rows×p */
    ad_var nl = ad_const_ref(t, rows, 1, nlab);                 /* rows×1 */
    ad_var m = ad_mul(t, nl, ad_matvec(t, Ac, theta, 0));       /* rows×1 */
    return ad_mean(t, ad_softplus(t, m));                       /* 1×1 */
}

static ad_var bbl_G(ad_tape *t, ad_var theta, ad_var lambda, const int *batch, int nbatch, void *ctx)
{
    (void)batch;
    (void)nbatch;
    const bbl_data *d = ctx;
    ad_var data = bbl_loss(t, d->n, d->p, d->X, d->ny, theta);
    ad_var reg = ad_scale(t, ad_sum(t, ad_mul(t, ad_exp(t, lambda), ad_square(t, theta))), 0.5);
    return ad_add(t, data, reg);
}

static ad_var bbl_F(ad_tape *t, ad_var theta, ad_var lambda, const int *batch, int nbatch, void *ctx)
{
    (void)lambda;
    (void)batch;
    (void)nbatch;
    const bbl_data *d = ctx;
    return bbl_loss(t, d->nv, d->p, d->V, d->nz, theta);
}

static bl_status bbl_constants(const double *lambda, bl_constants *k, void *ctx)
{
    const bbl_data *d = ctx;
    double lo = INFINITY, hi = -INFINITY;
    for (int j = 0; j < d->p; j++) {
        lo = fmin(lo, exp(lambda[j]));
        hi = fmax(hi, exp(lambda[j]));
    }
    memset(k, 0, sizeof *k);
    k->mu = lo;
    k->L = d->fro2_X / (4.0 * d->n) + hi;
    k->Lf = d->fro2_V / (4.0 * d->nv);
    k->LB = hi;
    k->LH = d->max_row_X * d->fro2_X / (6.0 * sqrt(3.0) * d->n);
    k->LFlam = 0.0;
    k->certified = 1;
    return BL_OK;
}

/* ‖B‖ = ‖∇²_θλG‖ = ‖diag(e^λ ⊙ θ)‖ = max_k e^{λ_k}|θ_k| (exact, so certified). */
static double bbl_cross_norm(const double *theta, const double *lambda, void *ctx)
{
    const bbl_data *d = ctx;
    double b = 0;
    for (int k = 0; k < d->p; k++)
        b = fmax(b, exp(lambda[k]) * fabs(theta[k]));
    return b;
}

static inline bl_problem bbl_problem_of(bbl_data *d)
{
    bl_problem pb = {.name = "logreg-perfeature", .p = d->p, .m = d->p, .G = bbl_G, .F = bbl_F,
                     .constants = bbl_constants, .ctx = d, .cross_norm = bbl_cross_norm};
    return pb;
}

/* The outer point: λ_k = −3 + 2k/(p−1), so e^λ ∈ [0.050, 0.368]. */
static inline void bbl_lambda(int p, double *lambda)
{
    for (int k = 0; k < p; k++)
        lambda[k] = -3.0 + 2.0 * k / (p > 1 ? p - 1 : 1);
}

/* One estimator call; exits (could not run) on any status other than
 * BL_OK and BL_ENONCONVEX, unless tolerate_nomem and the status is BL_ENOMEM
 * (then returns it). */
static inline bl_status bbl_run(const bl_problem *pb, const double *lambda, const bl_hg_opts *o,
                                double *hg, bl_diag *d, int tolerate_nomem)
{
    char msg[512] = "";
    bl_status st = bl_hypergrad(pb, lambda, o, hg, d, msg, sizeof msg);
    if (st == BL_OK || st == BL_ENONCONVEX)
        return st;
    if (tolerate_nomem && st == BL_ENOMEM)
        return st;
    fprintf(stderr, "bench: %s failed: %s (%s)\n", bl_method_name(o->method), bl_strerror(st), msg);
    exit(1);
}

/* One BLAS thread unless OPENBLAS_NUM_THREADS says otherwise: the products
 * are small (p = 22) and sequential, and a single thread keeps the timings
 * stable on a shared machine. */
static inline void bbl_threads(void)
{
    if (!getenv("OPENBLAS_NUM_THREADS"))
        openblas_set_num_threads(1);
}

static inline void bbl_header(const char *name, const bbl_data *d, const bl_problem *pb,
                              const double *lambda)
{
    bl_constants k;
    bbl_constants(lambda, &k, (void *)d);
    printf("bench %s: OpenBLAS threads %d%s (%s)\n", name, openblas_get_num_threads(),
           getenv("OPENBLAS_NUM_THREADS") ? " (from OPENBLAS_NUM_THREADS)"
                                          : " (default of these benchmarks; set OPENBLAS_NUM_THREADS to change)",
           openblas_get_config());
    printf("problem %s: dense synthetic, n = %d train x p = %d (IJCNN1's shape is 49990x22), "
           "n_v = %d validation, m = %d; lambda_k = -3 + 2k/(p-1); seed %u\n",
           pb->name, d->n, d->p, d->nv, pb->m, BBL_SEED);
    printf("certified constants: mu = %.4g, L = %.4g (kappa = %.4g), Lf = %.4g, LB = %.4g, LH = %.4g\n",
           k.mu, k.L, k.L / k.mu, k.Lf, k.LB, k.LH);
}

/* Unit costs of the oracles on this problem (medians of reps calls, seconds). */
typedef struct bbl_units {
    double grad;  /* ∇_θG, ∇_λG: record G, reverse sweep, rewind */
    double point; /* bl_oracle_point: record G and ∇G (create graph) */
    double hvp;   /* bl_oracle_hvp: H·v and cross(v) from one sweep on the point */
    double jvp;   /* bl_oracle_grad_jvp along (v, e_j) */
    double gradF; /* ∇_θF, ∇_λF (the validation set has its own size) */
    double hv_only, cross_only; /* bl_oracle_hvp with only H·v, only cross(v) */
    size_t point_peak; /* peak tape bytes of one point + hvp: "one step's tape" */
    size_t grad_peak;  /* peak tape bytes of one gradient on an empty tape */
    size_t stack_peak; /* peak when a gradient is recorded while a point is held */
} bbl_units;

static int bbl_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static inline double bbl_median(double *x, int n)
{
    qsort(x, (size_t)n, sizeof *x, bbl_cmp);
    return n % 2 ? x[n / 2] : 0.5 * (x[n / 2 - 1] + x[n / 2]);
}

static inline bbl_units bbl_unit_costs(const bl_problem *pb, const double *lambda, int reps)
{
    int p = pb->p, m = pb->m;
    bl_oracle *o = bl_oracle_new(pb, 0);
    double *w = bbl_alloc((size_t)(4 * p + 2 * m + 7 * reps) * sizeof(double));
    double *th = w, *g = th + p, *v = g + p, *hv = v + p, *cr = hv + p, *e = cr + m;
    double *tg = e + m, *tp = tg + reps, *th_ = tp + reps, *tj = th_ + reps, *tf = tj + reps;
    double *tho = tf + reps, *tco = tho + reps;
    if (!o) {
        fprintf(stderr, "bench: cannot create an oracle\n");
        exit(1);
    }
    for (int k = 0; k < p; k++) {
        th[k] = 0.05 * (k % 7) - 0.1;
        v[k] = 1.0 / (1.0 + k);
    }
    e[0] = 1.0;
    bbl_units u = {0};
    for (int r = -1; r < reps; r++) { /* r = −1: warm-up */
        double t0 = bbl_now();
        bl_status st = bl_oracle_G(o, NULL, th, lambda, NULL, g, NULL);
        double t1 = bbl_now();
        st = st ? st : bl_oracle_point(o, NULL, th, lambda);
        double t2 = bbl_now();
        st = st ? st : bl_oracle_hvp(o, v, hv, cr);
        double t3 = bbl_now();
        st = st ? st : bl_oracle_grad_jvp(o, v, e, hv);
        double t4 = bbl_now();
        st = st ? st : bl_oracle_hvp(o, v, hv, NULL);
        double t5 = bbl_now();
        st = st ? st : bl_oracle_hvp(o, v, NULL, cr);
        double t6 = bbl_now();
        st = st ? st : bl_oracle_F(o, NULL, th, lambda, NULL, g, NULL);
        double t7 = bbl_now();
        if (st != BL_OK) {
            fprintf(stderr, "bench: oracle failed: %s\n", bl_oracle_message(o));
            exit(1);
        }
        if (r < 0) {
            bl_oracle_reset(o);
            continue;
        }
        tg[r] = t1 - t0;
        tp[r] = t2 - t1;
        th_[r] = t3 - t2;
        tj[r] = t4 - t3;
        tho[r] = t5 - t4;
        tco[r] = t6 - t5;
        tf[r] = t7 - t6;
    }
    u.grad = bbl_median(tg, reps);
    u.point = bbl_median(tp, reps);
    u.hvp = bbl_median(th_, reps);
    u.jvp = bbl_median(tj, reps);
    u.hv_only = bbl_median(tho, reps);
    u.cross_only = bbl_median(tco, reps);
    u.gradF = bbl_median(tf, reps);
    /* one step's tape: fresh oracles, one gradient; one point and one
     * product; then a gradient while that point is held */
    bl_oracle_free(o);
    o = bl_oracle_new(pb, 0);
    if (o && bl_oracle_G(o, NULL, th, lambda, NULL, g, NULL) == BL_OK)
        u.grad_peak = bl_oracle_peak_bytes(o);
    bl_oracle_free(o);
    o = bl_oracle_new(pb, 0);
    if (o && bl_oracle_point(o, NULL, th, lambda) == BL_OK && bl_oracle_hvp(o, v, hv, cr) == BL_OK)
        u.point_peak = bl_oracle_peak_bytes(o);
    if (o && bl_oracle_G(o, NULL, th, lambda, NULL, g, NULL) == BL_OK)
        u.stack_peak = bl_oracle_peak_bytes(o);
    bl_oracle_free(o);
    free(w);
    return u;
}

static inline void bbl_print_units(const bbl_units *u)
{
    printf("unit costs (medians): grad of G %.3f ms, point (record G + grad graph) %.3f ms, "
           "Hv+cross apply %.3f ms, grad jvp %.3f ms\n",
           1e3 * u->grad, 1e3 * u->point, 1e3 * u->hvp, 1e3 * u->jvp);
    printf("tape per step (fresh oracle): one gradient %zu B (%.2f MiB), one point + Hv %zu B (%.2f MiB), "
           "a gradient recorded while that point is held %zu B (%.2f MiB)\n",
           u->grad_peak, bbl_mib(u->grad_peak), u->point_peak, bbl_mib(u->point_peak), u->stack_peak,
           bbl_mib(u->stack_peak));
}

#endif
