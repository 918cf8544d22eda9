/*
 * tests/bilevel/test_bounds.c — the error bounds (README, Notation) against
 * independent truths (closed forms of the models, or an exact solve):
 *   1. a-posteriori bounds with certified constants hold in every row:
 *      least squares (lsq_generate, closed-form lsq_hypergrad), ridge
 *      (rdg_hypergrad), logistic regression (truth: "exact" after a
 *      Newton-CG inner solve to 1e-13), for ift-cg, ift-gd, ift-hb,
 *      inexact-ad, shine and ift-identity with loose inner solves;
 *   2. a-priori bounds (GD/HB inner, CG/GD/HB linear, exact iteration
 *      counts) hold, and so do their parts: ‖θ_N − θ*‖ ≤ ε_N and the
 *      measured residual ≤ δ_K(‖∇_θF(θ_N)‖);
 *   3. tightness: with θ_0 = θ* the a-posteriori bound of ift-gd / ift-hb
 *      over-estimates the true error by a factor in [1, 2κ] (least squares);
 *   4. labelling: without a constants callback the bound is "estimated"
 *      (Lanczos μ, L equal to the exact eigenvalues when p ≤ 30), with them
 *      "certified", with bound_lanczos_iters < 0 "none".
 * This program uses models/ (linked through hypertape_dep).
 */
#include "tests/bilevel/hg_out.h"
#include <hypertape/models/logreg.h>
#include <hypertape/models/lstsq.h>
#include <hypertape/models/ridge.h>
#include "tests/testutil.h"

#include <stdlib.h>
#include <string.h>

static double nrm(int n, const double *a)
{
    double s = 0;
    for (int i = 0; i < n; i++)
        s += a[i] * a[i];
    return sqrt(s);
}

static double dist(int n, const double *a, const double *b)
{
    double s = 0;
    for (int i = 0; i < n; i++)
        s += (a[i] - b[i]) * (a[i] - b[i]);
    return sqrt(s);
}

/* A dense set n×d with N(0,1) features; binary ±1 labels or real targets. */
static void make_set(t_rng *g, int n, int d, int binary, const double *w, ds_set *s)
{
    memset(s, 0, sizeof *s);
    s->n = n, s->d = d, s->nclass = 2;
    s->X = malloc((size_t)n * d * sizeof(double));
    s->y = malloc((size_t)n * sizeof(double));
    for (int i = 0; i < n; i++) {
        double z = 0;
        for (int j = 0; j < d; j++) {
            s->X[i * d + j] = t_normal(g);
            z += s->X[i * d + j] * w[j];
        }
        z += 0.5 * t_normal(g);
        s->y[i] = binary ? (z >= 0 ? 1.0 : -1.0) : z;
    }
}

/* The methods of part 1 with loose inner solves (variant v picks the sizes). */
enum { NMETH = 6 };
static bl_hg_opts method_opts(int i, int v)
{
    bl_hg_opts o = {0};
    switch (i) {
    case 0: o = (bl_hg_opts){.method = BL_IFT_CG, .inner = bl_inner_lbfgs, .inner_tol = v ? 1e-5 : 1e-2,
                             .linear_iters = 1 + v, .linear_tol = -1}; break;
    case 1: o = (bl_hg_opts){.method = BL_IFT_GD, .inner = bl_inner_gd, .inner_iters = 10 + 20 * v,
                             .inner_tol = -1, .linear_iters = 5 + 10 * v, .linear_tol = -1}; break;
    case 2: o = (bl_hg_opts){.method = BL_IFT_HB, .inner = bl_inner_gd, .inner_iters = 30,
                             .inner_tol = -1, .linear_iters = 2 + 3 * v, .linear_tol = -1}; break;
    case 3: o = (bl_hg_opts){.method = BL_INEXACT_AD, .inner = bl_inner_gd, .inner_iters = 5 + 20 * v}; break;
    case 4: o = (bl_hg_opts){.method = BL_SHINE, .inner = bl_inner_lbfgs, .inner_tol = v ? 1e-6 : 1e-3}; break;
    default: o = (bl_hg_opts){.method = BL_IFT_IDENTITY, .inner = bl_inner_lbfgs, .inner_tol = 1e-4}; break;
    }
    return o;
}

static int rows_post, rows_prior;

/* Runs every method on pb at λ and checks the certified a-posteriori bound
 * against the truth. */
static void check_post(const char *what, bl_problem *pb, const double *lam, const double *truth, int v)
{
    double hg[64];
    for (int i = 0; i < NMETH; i++) {
        bl_hg_opts o = method_opts(i, v);
        bl_diag d;
        char msg[256] = "";
        bl_status st = bl_hypergrad(pb, lam, &o, hg, &d, msg, sizeof msg);
        EXPECT(st == BL_OK, "%s %s: %s", what, bl_method_name(o.method), msg);
        if (st != BL_OK)
            continue;
        double err = dist(pb->m, hg, truth);
        rows_post++;
        /* the floor is the closed-form truth's own rounding */
        EXPECT(d.bound_certified && !d.constants_estimated &&
                   d.bound_a_posteriori + 1e-14 * (1.0 + nrm(pb->m, truth)) >= err,
               "%s %s (v%d): a-posteriori bound %.3e (certified %d) < error %.3e", what,
               bl_method_name(o.method), v, d.bound_a_posteriori, d.bound_certified, err);
    }
}

static void test_post_lstsq(void)
{
    for (int s = 0; s < 45; s++) {
        int nrow = 40 + 37 * (s % 4), p = 3 + s % 6, m = 2 + (s / 3) % 5;
        lsq_model *M;
        char msg[256];
        if (lsq_generate(1000 + s, nrow, p, m, &M, msg, sizeof msg) != BL_OK) {
            EXPECT(0, "lsq_generate: %s", msg);
            continue;
        }
        bl_problem pb = lsq_problem(M);
        double w[16], truth[16];
        for (int j = 0; j < m; j++)
            w[j] = 1.0 + 0.3 * sin(s + j);
        EXPECT(lsq_hypergrad(M, w, NULL, truth, NULL, msg, sizeof msg) == BL_OK, "lsq truth: %s", msg);
        check_post("lstsq", &pb, w, truth, s & 1);
        lsq_model_free(M);
    }
}

static void test_post_ridge(void)
{
    t_rng g = {77};
    for (int s = 0; s < 30; s++) {
        int d = 3 + s % 7, n = 30 + 5 * (s % 5);
        double w0[16], lam = -2.0 + 3.0 * t_uniform(&g, 0, 1), truth;
        for (int j = 0; j < d; j++)
            w0[j] = t_normal(&g);
        ds_set tr, va;
        make_set(&g, n, d, 0, w0, &tr);
        make_set(&g, n / 2 + 5, d, 0, w0, &va);
        rdg_model *M;
        char msg[256];
        if (rdg_model_new(&tr, &va, &M, msg, sizeof msg) == BL_OK) {
            bl_problem pb = rdg_problem(M);
            EXPECT(rdg_hypergrad(M, &lam, NULL, &truth, NULL, msg, sizeof msg) == BL_OK, "ridge truth: %s", msg);
            check_post("ridge", &pb, &lam, &truth, s & 1);
            rdg_model_free(M);
        } else
            EXPECT(0, "rdg_model_new: %s", msg);
        ds_set_free(&tr), ds_set_free(&va);
    }
}

static void test_post_logreg(void)
{
    t_rng g = {4242};
    for (int s = 0; s < 20; s++) {
        int d = 3 + s % 5, n = 40 + 10 * (s % 3);
        double w0[16], lam[16], truth[16];
        for (int j = 0; j < d; j++)
            w0[j] = t_normal(&g);
        ds_set tr, va;
        make_set(&g, n, d, 1, w0, &tr);
        make_set(&g, n / 2 + 5, d, 1, w0, &va);
        lr_opts lo = {.reg = s % 2 ? LR_PER_FEATURE : LR_SCALAR, .intercept = s % 3 == 0};
        lr_model *M;
        char msg[256];
        if (lr_model_new(&tr, &va, &lo, &M, msg, sizeof msg) == BL_OK) {
            bl_problem pb = lr_problem(M);
            for (int j = 0; j < pb.m; j++)
                lam[j] = -2.0 + 2.0 * t_uniform(&g, 0, 1);
            bl_hg_opts ex = {.method = BL_EXACT, .inner = bl_inner_newton_cg, .inner_tol = 1e-13};
            bl_status st = bl_hypergrad(&pb, lam, &ex, truth, NULL, msg, sizeof msg);
            EXPECT(st == BL_OK, "logreg truth: %s", msg);
            if (st == BL_OK)
                check_post("logreg", &pb, lam, truth, s & 1);
            lr_model_free(M);
        } else
            EXPECT(0, "lr_model_new: %s", msg);
        ds_set_free(&tr), ds_set_free(&va);
    }
}

/* ------------------------------------------------------------ a priori */

static const bl_method lin_method[BL_SCHEME_COUNT] = {
    [BL_SCHEME_GD] = BL_IFT_GD, [BL_SCHEME_HB] = BL_IFT_HB, [BL_SCHEME_CG] = BL_IFT_CG};

/* One a-priori row: inner scheme si for N steps from 0, linear scheme sl
 * for K steps; truth, θ*, ‖∇_θG(0)‖, ‖∇_θF(θ*)‖, ‖B‖ bound and a ∇_θF
 * evaluator (for the residual check) from the caller. */
typedef void (*gradF_fn)(void *ctx, const double *theta, const double *lam, double *g);

static void check_prior(const char *what, bl_problem *pb, const double *lam, const bl_constants *k,
                        const double *truth, const double *xstar, double g0, double gF,
                        double Bn, double eB, bl_scheme si, int N, bl_scheme sl, int K,
                        gradF_fn gradF, void *ctx)
{
    int p = pb->p, m = pb->m, c = 0, ci = 0, cl = 0;
    double hg[64], th[64], b[64];
    bl_hg_opts o = {.method = lin_method[sl], .inner = si == BL_SCHEME_GD ? bl_inner_gd : bl_inner_hb,
                    .inner_iters = N, .inner_tol = -1, .linear_iters = K, .linear_tol = -1};
    if (N == 0) /* 0 inner steps: the solver's cap 0 means 1000; use a tolerance met at θ_0 */
        return;
    bl_diag d;
    char msg[256] = "";
    bl_status st = t_hypergrad_out(pb, lam, &o, hg, &d, msg, sizeof msg, th, NULL);
    /* ≤: a well-conditioned ridge can reach ∇G = 0 or a zero residual exactly */
    EXPECT(st == BL_OK && d.inner_iters <= N && d.linear_iters <= K, "%s prior: %s (%d, %d)", what, msg,
           d.inner_iters, d.linear_iters);
    if (st != BL_OK)
        return;
    double epsN = bl_inner_error_a_priori(si, k, N, g0, &ci);
    double Bbound = Bn + eB * epsN; /* ‖B(θ_N)‖ ≤ ‖B(θ*)‖ + L_B ε_N */
    double bound = bl_bound_a_priori(k, si, N, g0, sl, K, gF, Bbound, &c);
    double err = dist(m, hg, truth), ex = dist(p, th, xstar);
    gradF(ctx, th, lam, b);
    double delta = bl_linear_residual_a_priori(sl, k, K, nrm(p, b), &cl);
    rows_prior++;
    EXPECT(ci && cl && c, "%s prior: not certified (%d %d %d)", what, ci, cl, c);
    EXPECT(ex <= epsN * (1 + 1e-10) + 1e-13 * (1.0 + nrm(p, xstar)), "%s prior %s N=%d: |theta_N - theta*| %.3e > eps_N %.3e", what,
           si == BL_SCHEME_GD ? "gd" : "hb", N, ex, epsN);
    EXPECT(d.linear_residual <= delta * (1 + 1e-10) + 1e-13 * nrm(p, b),
           "%s prior %s K=%d: residual %.3e > delta_K %.3e", what, bl_method_name(o.method), K,
           d.linear_residual, delta);
    /* the a-priori bound leaves out the rounding floor (bilevel.h) */
    double floor = 1e-13 * (1.0 + nrm(m, truth));
    EXPECT(bound + floor >= err, "%s prior %s/%s N=%d K=%d: a-priori bound %.3e < error %.3e", what,
           si == BL_SCHEME_GD ? "gd" : "hb", bl_method_name(o.method), N, K, bound, err);
}

static void lsq_gradF(void *ctx, const double *x, const double *w, double *g)
{
    lsq_ref_F(ctx, x, w, NULL, 0, NULL, g, NULL, NULL, 0);
}

static void rdg_gradF(void *ctx, const double *x, const double *w, double *g)
{
    rdg_ref_F(ctx, x, w, NULL, 0, NULL, g, NULL, NULL, 0);
}

static void test_prior(void)
{
    static const int Ns[] = {5, 20, 80}, Kcg[] = {1, 2, 4}, Kgd[] = {3, 10, 40};
    for (int s = 0; s < 16; s++) {
        int quad_ridge = s & 1, p = 3 + s % 5, m = 2 + s % 3;
        bl_problem pb;
        bl_constants k;
        double lam[16], truth[16], xs[64], g[64], zero[64] = {0}, Bn, eB, g0, gF;
        char msg[256];
        lsq_model *LM = NULL;
        rdg_model *RM = NULL;
        ds_set tr, va;
        gradF_fn gf;
        void *ctx;
        if (!quad_ridge) {
            if (lsq_generate(500 + s, 50 + 10 * s, p, m, &LM, msg, sizeof msg) != BL_OK) {
                EXPECT(0, "lsq_generate: %s", msg);
                continue;
            }
            pb = lsq_problem(LM);
            for (int j = 0; j < m; j++)
                lam[j] = 1.0;
            lsq_hypergrad(LM, lam, NULL, truth, xs, msg, sizeof msg);
            lsq_constants(LM, lam, &k);
            Bn = lsq_cross_norm(LM, xs, lam), eB = 0;
            lsq_ref_G(LM, zero, lam, NULL, 0, NULL, g, NULL, msg, sizeof msg);
            g0 = nrm(p, g);
            lsq_ref_F(LM, xs, lam, NULL, 0, NULL, g, NULL, msg, sizeof msg);
            gF = nrm(p, g);
            gf = lsq_gradF, ctx = LM;
        } else {
            t_rng r = {900 + s};
            double w0[16];
            for (int j = 0; j < p; j++)
                w0[j] = t_normal(&r);
            make_set(&r, 40, p, 0, w0, &tr);
            make_set(&r, 25, p, 0, w0, &va);
            if (rdg_model_new(&tr, &va, &RM, msg, sizeof msg) != BL_OK) {
                EXPECT(0, "rdg_model_new: %s", msg);
                ds_set_free(&tr), ds_set_free(&va);
                continue;
            }
            pb = rdg_problem(RM);
            lam[0] = -1.5 + 0.2 * s;
            rdg_hypergrad(RM, lam, NULL, truth, xs, msg, sizeof msg);
            rdg_constants(RM, lam, &k);
            Bn = rdg_cross_norm(RM, xs, lam), eB = exp(lam[0]);
            rdg_ref_G(RM, zero, lam, NULL, 0, NULL, g, NULL, msg, sizeof msg);
            g0 = nrm(p, g);
            rdg_ref_F(RM, xs, lam, NULL, 0, NULL, g, NULL, msg, sizeof msg);
            gF = nrm(p, g);
            gf = rdg_gradF, ctx = RM;
        }
        for (int a = 0; a < 3; a++)
            for (int b = 0; b < 3; b++) {
                check_prior(pb.name, &pb, lam, &k, truth, xs, g0, gF, Bn, eB, BL_SCHEME_GD, Ns[a],
                            BL_SCHEME_CG, Kcg[b], gf, ctx);
                check_prior(pb.name, &pb, lam, &k, truth, xs, g0, gF, Bn, eB, BL_SCHEME_GD, Ns[a],
                            BL_SCHEME_GD, Kgd[b], gf, ctx);
                check_prior(pb.name, &pb, lam, &k, truth, xs, g0, gF, Bn, eB, BL_SCHEME_HB, Ns[a],
                            BL_SCHEME_HB, Kgd[b], gf, ctx);
            }
        if (LM)
            lsq_model_free(LM);
        if (RM) {
            rdg_model_free(RM);
            ds_set_free(&tr), ds_set_free(&va);
        }
    }
}

/* ------------------------------------------------------------ tightness */

static void test_tightness(void)
{
    double worst_lo = INFINITY, worst_hi = 0;
    int rows = 0;
    for (int s = 0; s < 3; s++) {
        lsq_model *M;
        char msg[256];
        if (lsq_generate(31 + s, 1000, 10, 10, &M, msg, sizeof msg) != BL_OK) {
            EXPECT(0, "lsq_generate: %s", msg);
            continue;
        }
        bl_problem pb = lsq_problem(M);
        double w[10], truth[10], xs[10], hg[10];
        bl_constants k;
        for (int j = 0; j < 10; j++)
            w[j] = 1.0;
        lsq_hypergrad(M, w, NULL, truth, xs, msg, sizeof msg);
        lsq_constants(M, w, &k);
        double kappa = k.L / k.mu, hn = nrm(10, truth);
        static const int its[] = {10, 30, 100, 300};
        for (int mi = 0; mi < 2; mi++)
            for (int t = 0; t < 4; t++) {
                bl_hg_opts o = {.method = mi ? BL_IFT_HB : BL_IFT_GD, .inner = bl_inner_lbfgs,
                                .theta0 = xs, .inner_tol = 1e-6, .linear_iters = its[t],
                                .linear_tol = -1};
                bl_diag d;
                if (bl_hypergrad(&pb, w, &o, hg, &d, msg, sizeof msg) != BL_OK) {
                    EXPECT(0, "tightness: %s", msg);
                    continue;
                }
                double err = dist(10, hg, truth), ratio = d.bound_a_posteriori / err;
                if (err < 1e-8 * hn) /* near rounding: the ratio says nothing */
                    continue;
                rows++;
                worst_lo = fmin(worst_lo, ratio);
                worst_hi = fmax(worst_hi, ratio / kappa);
                EXPECT(d.inner_iters == 0 && ratio >= 1 && ratio <= 2 * kappa,
                       "tightness seed %d %s K=%d: bound/error %.3g outside [1, 2kappa = %.3g] (err %.2e)",
                       31 + s, bl_method_name(o.method), its[t], ratio, 2 * kappa, err);
            }
        lsq_model_free(M);
    }
    EXPECT(rows >= 12, "tightness: only %d rows above rounding", rows);
    printf("tightness: %d rows, min bound/error %.3g, max bound/error/kappa %.3g\n", rows, worst_lo,
           worst_hi);
}

/* ------------------------------------------------------------ labelling */

static void test_labels(void)
{
    lsq_model *M;
    char msg[256];
    if (lsq_generate(7, 200, 8, 4, &M, msg, sizeof msg) != BL_OK) {
        EXPECT(0, "lsq_generate: %s", msg);
        return;
    }
    bl_problem pb = lsq_problem(M), bare = pb;
    bare.constants = NULL;
    double w[4] = {1, 1, 1, 1}, hg[4], truth[4];
    bl_constants k;
    lsq_constants(M, w, &k);
    lsq_hypergrad(M, w, NULL, truth, NULL, msg, sizeof msg);
    bl_hg_opts o = {.method = BL_IFT_CG, .inner_tol = 1e-4};
    bl_diag d;
    EXPECT(bl_hypergrad(&pb, w, &o, hg, &d, msg, sizeof msg) == BL_OK && d.bound_certified &&
               !d.constants_estimated && !strcmp(bl_bound_label(&d), "certified"),
           "with constants: certified %d, estimated %d, label %s", d.bound_certified,
           d.constants_estimated, bl_bound_label(&d));
    bl_counts c_cert = d.counts;
    EXPECT(bl_hypergrad(&bare, w, &o, hg, &d, msg, sizeof msg) == BL_OK && !d.bound_certified &&
               d.constants_estimated && isfinite(d.bound_a_posteriori) &&
               !strcmp(bl_bound_label(&d), "estimated"),
           "without constants: certified %d, estimated %d, bound %g, label %s (%s)", d.bound_certified,
           d.constants_estimated, d.bound_a_posteriori, bl_bound_label(&d), msg);
    /* p = 8 ≤ 30 Lanczos steps: the Ritz values are H's eigenvalues; the
     * certified ones are widened by md_eig_margin only. */
    EXPECT(fabs(d.bound_mu - k.mu) <= 1e-6 * k.mu && fabs(d.bound_L - k.L) <= 1e-6 * k.L,
           "estimated mu %.10g L %.10g vs %.10g %.10g", d.bound_mu, d.bound_L, k.mu, k.L);
    EXPECT(d.bound_a_posteriori >= dist(4, hg, truth), "estimated bound %.3e below the error %.3e",
           d.bound_a_posteriori, dist(4, hg, truth));
    EXPECT(d.counts.hvp == c_cert.hvp && d.counts.grad == c_cert.grad,
           "the estimate is charged: hvp %ld vs %ld, grad %ld vs %ld", d.counts.hvp, c_cert.hvp,
           d.counts.grad, c_cert.grad);
    o.bound_lanczos_iters = -1;
    EXPECT(bl_hypergrad(&bare, w, &o, hg, &d, msg, sizeof msg) == BL_OK && isnan(d.bound_a_posteriori) &&
               !d.constants_estimated && !strcmp(bl_bound_label(&d), "none"),
           "no estimate: bound %g, label %s", d.bound_a_posteriori, bl_bound_label(&d));
    /* The estimator directly. */
    bl_oracle *orc = bl_oracle_new(&bare, 0);
    double x[8];
    lsq_solve(M, w, x, msg, sizeof msg);
    bl_constants e;
    EXPECT(bl_estimate_constants(orc, x, w, 30, &e) == BL_OK && !e.certified &&
               fabs(e.Lf - k.Lf) <= 1e-3 * k.Lf && e.LB == 0 && e.LH == 0,
           "bl_estimate_constants: Lf %.6g vs %.6g, certified %d", e.Lf, k.Lf, e.certified);
    bl_oracle_free(orc);
    lsq_model_free(M);
}

static void test_rates(void)
{
    bl_constants k = {.mu = 1, .L = 9, .certified = 1};
    EXPECT(fabs(bl_rate(BL_SCHEME_GD, &k) - 0.8) < 1e-15 && fabs(bl_rate(BL_SCHEME_HB, &k) - 0.5) < 1e-15 &&
               fabs(bl_rate(BL_SCHEME_CG, &k) - 0.5) < 1e-15 &&
               fabs(bl_rate(BL_SCHEME_NESTEROV, &k) - sqrt(2.0 / 3.0)) < 1e-15,
           "rates for kappa 9");
    int c = 1;
    EXPECT(isnan(bl_inner_error_a_priori(BL_SCHEME_CG, &k, 3, 1, &c)) && !c, "CG is not an inner scheme");
    k.LH = 1;
    bl_inner_error_a_priori(BL_SCHEME_HB, &k, 3, 1, &c);
    EXPECT(!c, "HB inner on a non-quadratic is not certified");
    bl_inner_error_a_priori(BL_SCHEME_NESTEROV, &k, 3, 1, &c);
    EXPECT(c, "Nesterov inner is certified");
    k.mu = 0;
    EXPECT(isnan(bl_rate(BL_SCHEME_GD, &k)), "mu = 0 gives NaN");
}

int main(void)
{
    test_rates();
    test_post_lstsq();
    test_post_ridge();
    test_post_logreg();
    printf("a posteriori: %d rows\n", rows_post);
    test_prior();
    printf("a priori: %d rows\n", rows_prior);
    test_tightness();
    test_labels();
    return t_done();
}
