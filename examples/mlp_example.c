/*
 * examples/mlp_example.c — a user-defined model (README, "Your own model"):
 * a one-hidden-layer network whose weight decay is tuned by its
 * hypergradient. Run by the `examples` suite.
 *
 *   f(x) = w2·tanh(W1·x + b1) + b2     x ∈ R^D, H hidden units
 *   G(θ, λ) = mean over the N training samples of ½(f(x) − y)²
 *             + ½e^λ(‖W1‖² + ‖w2‖²)    (weight decay; biases free)
 *   F(θ, λ) = mean over the NV validation samples of ½(f(x) − y)²
 *
 * θ packs W1 (H×D), b1 (H×1), w2 (1×H), b2 (1×1) and is split with
 * ad_blocks. Synthetic data from a fixed seed: a teacher network of the
 * same shape plus noise. The hypergradient dh/dλ, h(λ) = F(θ*(λ), λ), is
 * computed by the `exact` and `ift-cg` estimators and checked against a
 * central difference of h, each h(λ ± ε) from an inner solve to ‖∇_θG‖ ≤
 * FD_TOL warm-started at θ*(λ). Prints the three numbers; exits 1 when an
 * estimator's status is not BL_OK (non-positive curvature included: G is
 * nonconvex in θ) or a relative error exceeds REL_TOL, and when REL_TOL
 * is not at least ten times the difference's error budget (printed).
 *
 * The seed and λ matter: at λ = −2 or −6 the inner solve from this θ0
 * ends where a hidden unit is dead (its W1 row and w2 entry vanish, so its
 * b1 is a flat direction), and both estimators return BL_ENONCONVEX (the
 * Cholesky of exact fails, ift-cg's Lanczos probe finds a zero Ritz value):
 * the program then exits 1 rather than print a number.
 */
#include <hypertape/ad.h>
#include <hypertape/bilevel.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>

enum { D = 4, H = 5, N = 200, NV = 100 };

static const ad_block SPEC[4] = {{"W1", H, D}, {"b1", H, 1}, {"w2", 1, H}, {"b2", 1, 1}};

typedef struct mlp_data {
    double X[N * D], y[N];   /* training set */
    double XV[NV * D], yv[NV]; /* validation set */
} mlp_data;

/* ------------------------------------------------------------- the model */

/* Mean of ½(f(x_i) − y_i)² over the n rows of X (n×D). */
static ad_var mse(ad_tape *t, ad_var theta, const double *X, const double *y, int n)
{
    ad_var b[4];
    if (ad_blocks(t, theta, 4, SPEC, b) != AD_OK)
        return AD_NONE;
    ad_var Xc = ad_const_ref(t, n, D, X), yc = ad_const_ref(t, 1, n, y);
    /* hidden H×n = tanh(W1·Xᵀ + b1), output 1×n = w2·hidden + b2 */
    ad_var hid = ad_tanh(t, ad_add(t, ad_matmul(t, b[0], Xc, 0, 1), b[1]));
    ad_var out = ad_add(t, ad_matmul(t, b[2], hid, 0, 0), b[3]);
    return ad_scale(t, ad_mean(t, ad_square(t, ad_sub(t, out, yc))), 0.5);
}

/* G: a full-batch model, so batch and nbatch are ignored. */
static ad_var record_G(ad_tape *t, ad_var theta, ad_var lambda, const int *batch, int nbatch,
                       void *ctx)
{
    const mlp_data *d = ctx;
    ad_var b[4];
    if (ad_blocks(t, theta, 4, SPEC, b) != AD_OK)
        return AD_NONE;
    ad_var w2 = ad_add(t, ad_sum(t, ad_square(t, b[0])), ad_sum(t, ad_square(t, b[2])));
    ad_var decay = ad_mul(t, ad_scale(t, ad_exp(t, lambda), 0.5), w2);
    return ad_add(t, mse(t, theta, d->X, d->y, N), decay);
}

static ad_var record_F(ad_tape *t, ad_var theta, ad_var lambda, const int *batch, int nbatch,
                       void *ctx)
{
    const mlp_data *d = ctx;
    return mse(t, theta, d->XV, d->yv, NV);
}

/* ------------------------------------------------------------------ data */

static double uniform(uint64_t *s) /* xorshift64*, [0, 1) */
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return (double)((*s * 2685821657736338717ULL) >> 11) * 0x1.0p-53;
}

/* The teacher's output at x (θ packed as SPEC). */
static double teacher(const double *th, const double *x)
{
    double f = th[H * D + 2 * H];
    for (int j = 0; j < H; j++) {
        double a = th[H * D + j];
        for (int k = 0; k < D; k++)
            a += th[j * D + k] * x[k];
        f += th[H * D + H + j] * tanh(a);
    }
    return f;
}

static void make_data(mlp_data *d, double *theta0, int p, uint64_t seed)
{
    double tt[64];
    for (int j = 0; j < p; j++)
        tt[j] = 2.0 * uniform(&seed) - 1.0;
    for (int i = 0; i < N + NV; i++) {
        double *x = i < N ? d->X + i * D : d->XV + (i - N) * D;
        for (int k = 0; k < D; k++)
            x[k] = 2.0 * uniform(&seed) - 1.0;
        double y = teacher(tt, x) + 0.1 * (2.0 * uniform(&seed) - 1.0);
        if (i < N)
            d->y[i] = y;
        else
            d->yv[i - N] = y;
    }
    for (int j = 0; j < p; j++) /* the inner start: small random weights */
        theta0[j] = 0.2 * (2.0 * uniform(&seed) - 1.0);
}

/* ----------------------------------------------------- h by inner solves */

/* h(λ) = F(θ*(λ), λ) with θ* from L-BFGS started at start, to ‖∇_θG‖ ≤ tol;
 * *gnorm becomes the largest ‖∇_θG‖ reached so far. */
static bl_status h_at(const bl_problem *pb, double lam, const double *start, double tol,
                      double *h, double *gnorm)
{
    bl_status st;
    bl_oracle *o = bl_oracle_new(pb, 0);
    bl_inner *s = o ? bl_inner_new(bl_inner_lbfgs, o, NULL, &st) : NULL;
    if (!s) {
        fprintf(stderr, "mlp_example: inner solver: %s\n", o ? bl_oracle_message(o) : "no memory");
        bl_oracle_free(o);
        return BL_ENOMEM;
    }
    st = bl_inner_set(s, start, &lam);
    if (st == BL_OK)
        st = bl_inner_solve(s, tol, 100000);
    if (st == BL_OK && !bl_inner_converged(s, tol))
        st = BL_ENOTCONVERGED;
    if (st == BL_OK)
        st = bl_oracle_F(o, NULL, bl_inner_theta(s), &lam, h, NULL, NULL);
    if (st == BL_OK && bl_inner_grad_norm(s) > *gnorm)
        *gnorm = bl_inner_grad_norm(s);
    if (st != BL_OK)
        fprintf(stderr, "mlp_example: h(%g): %s (|grad G| %.3g): %s\n", lam, bl_strerror(st),
                bl_inner_grad_norm(s), bl_oracle_message(o));
    bl_inner_free(s);
    bl_oracle_free(o);
    return st;
}

/* ------------------------------------------------------------------ main */

#define LAMBDA -3.0  /* weight decay e^λ ≈ 0.05 (see the header comment) */
#define EPS 2.5e-4   /* FD step in λ */
#define FD_TOL 1e-13 /* ‖∇_θG‖ of the FD solves */
#define REL_TOL 1e-5 /* see the error budget printed below */

int main(void)
{
    static mlp_data d;
    int p = ad_blocks_size(4, SPEC);
    double theta0[64], lam = LAMBDA;
    make_data(&d, theta0, p, 20261202);
    bl_problem pb = {.name = "mlp", .p = p, .m = 1, .G = record_G, .F = record_F, .ctx = &d};

    static const bl_method methods[2] = {BL_EXACT, BL_IFT_CG};
    double hg[2], theta_star[64];
    bl_diag diag[2];
    int fail = 0;
    for (int k = 0; k < 2; k++) {
        bl_hg_opts o = {.method = methods[k], .theta0 = theta0, .inner_tol = 1e-11,
                        .inner_iters = 100000};
        bl_status st;
        bl_hg *ctx = bl_hg_new(&pb, &o, &st);
        if (!ctx) {
            char msg[256];
            bl_hg_check(&pb, &o, msg, sizeof msg);
            fprintf(stderr, "mlp_example: %s: %s\n", bl_method_name(methods[k]), msg);
            return 1;
        }
        st = bl_hg_eval(ctx, &lam, &hg[k], &diag[k]);
        printf("%-6s  dh/dlambda = %.10e  status %s  |grad G| %.1e  F %.6f  mu %.2g\n",
               bl_method_name(methods[k]), hg[k], bl_strerror(st), diag[k].inner_grad_norm,
               diag[k].outer_value, diag[k].bound_mu);
        if (st != BL_OK) {
            fprintf(stderr, "mlp_example: %s: %s\n", bl_method_name(methods[k]),
                    bl_hg_message(ctx));
            fail = 1;
        }
        if (k == 0 && bl_hg_theta(ctx))
            for (int j = 0; j < p; j++)
                theta_star[j] = bl_hg_theta(ctx)[j];
        bl_hg_free(ctx);
    }
    if (fail)
        return 1;

    double hp, hm, gmax = 0;
    if (h_at(&pb, lam + EPS, theta_star, FD_TOL, &hp, &gmax) != BL_OK ||
        h_at(&pb, lam - EPS, theta_star, FD_TOL, &hm, &gmax) != BL_OK)
        return 1;
    double fd = (hp - hm) / (2 * EPS);
    printf("fd      dh/dlambda = %.10e  (h(lambda +- %g), |grad G| %.1e)\n", fd, EPS, gmax);
    /* Error budget of fd: the truncation ε²|h'''|/6, measured as
     * |fd(2ε) − fd(ε)|/3, and the inner solves' error: ‖θ − θ*‖ ≤
     * ‖∇_θG‖/μ moves each h by ≤ ‖∇_θF‖·‖∇_θG‖/μ to first order, so fd by
     * ≤ ‖∇_θF‖·max‖∇_θG‖/(μ·ε), with the ‖∇_θG‖ the two solves reached
     * (≤ FD_TOL) and μ the exact estimator's Lanczos estimate.
     * REL_TOL must hold ten times the budget. */
    double hp2, hm2;
    double g2 = 0;
    if (h_at(&pb, lam + 2 * EPS, theta_star, FD_TOL, &hp2, &g2) != BL_OK ||
        h_at(&pb, lam - 2 * EPS, theta_star, FD_TOL, &hm2, &g2) != BL_OK)
        return 1;
    double trunc = fabs((hp2 - hm2) / (4 * EPS) - fd) / 3;
    double inner = diag[0].outer_grad_norm * gmax / (diag[0].bound_mu * EPS);
    double budget = (trunc + inner) / fabs(fd);
    printf("budget  truncation %.1e + inner solves %.1e = %.1e relative (tol %.0e)\n",
           trunc / fabs(fd), inner / fabs(fd), budget, REL_TOL);
    if (!(budget <= REL_TOL / 10)) {
        fprintf(stderr, "mlp_example: the FD error budget %.1e exceeds tol/10\n", budget);
        fail = 1;
    }
    for (int k = 0; k < 2; k++) {
        double rel = fabs(hg[k] - fd) / fabs(fd);
        printf("%-6s  relative error vs fd %.2e (tol %.0e)\n", bl_method_name(methods[k]), rel,
               REL_TOL);
        if (!(rel <= REL_TOL))
            fail = 1;
    }
    return fail;
}
