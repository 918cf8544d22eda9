/*
 * tests/bilevel/test_equivalence.c — identities between estimators that
 * must hold to rounding (1e-12 relative unless stated):
 *   - inexact-ad (GD, α, K) = ift-gd (same inner solve, linear step α,
 *     exactly K linear steps) (Ehrhardt & Roberts 2023); the same for heavy
 *     ball (inexact-ad with hb inner = ift-hb with α, β, K); and ift-neumann
 *     with K terms = ift-gd with K steps;
 *   - unroll-generic (the steps recorded as ad ops) = lean unroll, GD and HB,
 *     on logistic regression (Hessians vary along the trajectory);
 *   - unroll-checkpointed = lean unroll for several snapshot counts, GD and
 *     HB; its forward-step count = bl_checkpoint_forward_steps; the formula
 *     = the published values (l = 1000, s = 10 → 3636; l = 100, s = 5 →
 *     316) and = the revolve dynamic programme written here; l = 1000,
 *     s = 10 run on a small problem;
 *   - unroll-forward = unroll for m = 1..4;
 *   - unroll-truncated with T = K = unroll; with T < K it differs, and it
 *     equals unroll of T steps started from θ_{K−T} (θ_{K−T} held constant).
 * The unroll comparisons use a short inner step (0.2/L) so the trajectory
 * is far from converged: near convergence every recursion, right or wrong,
 * tends to the same limit −H⁻¹B and a bug would be masked.
 */
#include "tests/bilevel/problems.h"

#include <stdio.h>

enum { MAXP = 8 };

/* One estimate; θ_ε and q into th and q (either may be NULL). */
static bl_status hg_run_out(const bl_problem *pb, const double *lam, bl_hg_opts o, double *hg,
                            bl_diag *d, double *th, double *q)
{
    char msg[256] = "";
    bl_status st = t_hypergrad_out(pb, lam, &o, hg, d, msg, sizeof msg, th, q);
    EXPECT(st == BL_OK, "%s on %s: %s (%s)", bl_method_name(o.method), pb->name, bl_strerror(st), msg);
    return st;
}

static bl_status hg_run(const bl_problem *pb, const double *lam, bl_hg_opts o, double *hg,
                        bl_diag *d)
{
    return hg_run_out(pb, lam, o, hg, d, NULL, NULL);
}

/* Equality of two vectors to tol relative, with a message. */
static void expect_same(const char *what, const double *a, const double *b, int n, double tol)
{
    double e = t_relerr(a, b, (size_t)n, 1e-300);
    EXPECT(e <= tol, "%s: relative difference %.3e > %.0e", what, e, tol);
}

/* ------------------------------------------------- inexact AD = linear GD/HB */

static void test_inexact_is_linear_solve(void)
{
    logreg L;
    logreg_init(&L, 60, 40, 5, 1.0, 31);
    bl_problem pb = logreg_problem(&L);
    double lam[5] = {-1.0, -2.0, -1.5, -0.5, -2.5};
    bl_constants k;
    logreg_constants(lam, &k, &L);
    const int Ks[] = {1, 7, 40};
    for (int i = 0; i < 3; i++) {
        int K = Ks[i];
        for (int hb = 0; hb < 2; hb++) {
            double a = hb ? 3.0 / (k.L + k.mu) : 1.5 / (k.L + k.mu), beta = hb ? 0.3 : 0.0;
            const bl_inner_type *T = hb ? bl_inner_hb : bl_inner_gd;
            double hg1[MAXP], hg2[MAXP], q1[MAXP], q2[MAXP], th1[MAXP], th2[MAXP];
            bl_diag d1, d2;
            bl_hg_opts o1 = {.method = BL_INEXACT_AD, .inner = T, .inner_iters = K, .step = a,
                             .momentum = beta};
            /* Same inner solve: exactly K steps (the tolerance is never met). */
            bl_hg_opts o2 = {.method = hb ? BL_IFT_HB : BL_IFT_GD, .inner = T, .inner_iters = K,
                             .inner_tol = -1, .step = a, .momentum = beta,
                             .linear_step = a, .linear_momentum = beta, .linear_iters = K,
                             .linear_tol = -1};
            if (hg_run_out(&pb, lam, o1, hg1, &d1, th1, q1) != BL_OK ||
                hg_run_out(&pb, lam, o2, hg2, &d2, th2, q2) != BL_OK)
                continue;
            char what[96];
            EXPECT(d1.inner_iters == K && d2.inner_iters == K && d2.linear_iters == K,
                   "K = %d: inner %d / %d, linear %d steps", K, d1.inner_iters, d2.inner_iters,
                   d2.linear_iters);
            EXPECT(!memcmp(th1, th2, 5 * sizeof th1[0]), "K = %d %s: the inner solves differ", K, hb ? "hb" : "gd");
            snprintf(what, sizeof what, "inexact-ad vs ift-%s, K = %d: hypergradient", hb ? "hb" : "gd", K);
            expect_same(what, hg1, hg2, 5, 1e-12);
            snprintf(what, sizeof what, "inexact-ad vs ift-%s, K = %d: q", hb ? "hb" : "gd", K);
            expect_same(what, q1, q2, 5, 1e-12);
            /* The residual each reports is of its own q (equal up to rounding of Hq − b). */
            EXPECT(fabs(d1.linear_residual - d2.linear_residual) <= 1e-10 * d2.linear_residual + 1e-15,
                   "K = %d: residuals %.6e vs %.6e", K, d1.linear_residual, d2.linear_residual);
            if (!hb) { /* Neumann with K terms = K GD steps from 0 */
                double hg3[MAXP], q3[MAXP];
                bl_diag d3;
                bl_hg_opts o3 = o2;
                o3.method = BL_IFT_NEUMANN;
                if (hg_run_out(&pb, lam, o3, hg3, &d3, NULL, q3) == BL_OK) {
                    snprintf(what, sizeof what, "ift-neumann vs ift-gd, K = %d", K);
                    expect_same(what, hg3, hg2, 5, 1e-12);
                    expect_same(what, q3, q2, 5, 1e-12);
                }
            }
        }
    }
    logreg_free(&L);
}

/* ------------------------------------------------- generic = lean unroll */

static void test_generic(void)
{
    logreg L;
    logreg_init(&L, 50, 40, 4, 1.0, 41);
    bl_problem pb = logreg_problem(&L);
    double lam[4] = {-1.5, -1.0, -2.0, -0.7}, th0[4] = {0.3, -0.2, 0.1, 0.5};
    bl_constants k;
    logreg_constants(lam, &k, &L);
    for (int hb = 0; hb < 2; hb++)
        for (int warm = 0; warm < 2; warm++) {
            const bl_inner_type *T = hb ? bl_inner_hb : bl_inner_gd;
            double hg1[4], hg2[4], t1[4], t2[4];
            bl_diag d1, d2;
            /* A short step: the trajectory is far from converged, so its derivative is not
             * masked by the limit −H⁻¹B that every correct-or-not recursion tends to. */
            bl_hg_opts o = {.method = BL_UNROLL, .inner = T, .inner_iters = 30, .step = 0.2 / k.L,
                            .theta0 = warm ? th0 : NULL};
            if (hg_run_out(&pb, lam, o, hg1, &d1, t1, NULL) != BL_OK)
                continue;
            o.method = BL_UNROLL_GENERIC;
            if (hg_run_out(&pb, lam, o, hg2, &d2, t2, NULL) != BL_OK)
                continue;
            char what[96];
            snprintf(what, sizeof what, "unroll-generic vs unroll (%s, theta0 %s)", hb ? "hb" : "gd",
                     warm ? "given" : "zero");
            expect_same(what, hg1, hg2, 4, 1e-12);
            expect_same(what, t1, t2, 4, 1e-13);
            EXPECT(fabs(d1.outer_value - d2.outer_value) <= 1e-14 * fabs(d1.outer_value),
                   "%s: outer values %.17g vs %.17g", what, d1.outer_value, d2.outer_value);
            EXPECT(d2.inner_iters == 30, "%s: %d steps", what, d2.inner_iters);
        }
    logreg_free(&L);
}

/* ------------------------------------------------------- checkpointing */

/* Revolve's dynamic programme, written independently of the library:
 * F(l, f) forward steps to reverse l steps with f free snapshots besides
 * the one holding the start. */
static long dp_forward(int l, int f, long *memo, int S)
{
    if (l <= 1)
        return 0;
    if (f == 0)
        return (long)l * (l - 1) / 2;
    long *slot = &memo[(size_t)l * S + f];
    if (*slot >= 0)
        return *slot;
    long best = -1;
    for (int m = 1; m < l; m++) {
        long v = m + dp_forward(l - m, f - 1, memo, S) + dp_forward(m, f, memo, S);
        if (best < 0 || v < best)
            best = v;
    }
    return *slot = best;
}

static void test_checkpoint_formula(void)
{
    EXPECT(bl_checkpoint_forward_steps(1000, 10) == 3636, "F(1000, 10) = %ld, published 3636",
           bl_checkpoint_forward_steps(1000, 10));
    EXPECT(bl_checkpoint_forward_steps(100, 5) == 316, "F(100, 5) = %ld, published 316",
           bl_checkpoint_forward_steps(100, 5));
    EXPECT(bl_checkpoint_forward_steps(0, 5) == -1 && bl_checkpoint_forward_steps(10, 0) == -1,
           "invalid arguments must give -1");
    enum { LMAX = 150, SMAX = 7 };
    long *memo = malloc((size_t)(LMAX + 1) * SMAX * sizeof(long));
    for (size_t i = 0; i < (size_t)(LMAX + 1) * SMAX; i++)
        memo[i] = -1;
    int bad = 0;
    for (int s = 1; s <= SMAX - 1; s++)
        for (int l = 1; l <= LMAX; l++) {
            long want = dp_forward(l, s - 1, memo, SMAX), got = bl_checkpoint_forward_steps(l, s);
            if (want != got && bad++ < 5)
                EXPECT(0, "forward steps l = %d, s = %d: formula %ld, dynamic programme %ld", l, s, got, want);
        }
    EXPECT(bad == 0, "%d (l, s) pairs disagree with the dynamic programme", bad);
    free(memo);
}

static void test_checkpointed(void)
{
    logreg L;
    logreg_init(&L, 50, 40, 4, 1.0, 53);
    bl_problem pb = logreg_problem(&L);
    double lam[4] = {-1.2, -0.8, -2.0, -1.0};
    const int K = 60, snaps[] = {1, 2, 3, 5, 10, 60, 100};
    bl_constants k;
    logreg_constants(lam, &k, &L);
    for (int hb = 0; hb < 2; hb++) {
        const bl_inner_type *T = hb ? bl_inner_hb : bl_inner_gd;
        double ref[4], hg[4];
        bl_diag d0, d;
        bl_hg_opts o = {.method = BL_UNROLL, .inner = T, .inner_iters = K, .step = 0.2 / k.L};
        if (hg_run(&pb, lam, o, ref, &d0) != BL_OK)
            continue;
        for (size_t i = 0; i < sizeof snaps / sizeof snaps[0]; i++) {
            o.method = BL_UNROLL_CHECKPOINTED;
            o.snapshots = snaps[i];
            if (hg_run(&pb, lam, o, hg, &d) != BL_OK)
                continue;
            char what[96];
            snprintf(what, sizeof what, "unroll-checkpointed (%s, K = %d, s = %d) vs unroll",
                     hb ? "hb" : "gd", K, snaps[i]);
            expect_same(what, hg, ref, 4, 1e-12);
            long want = bl_checkpoint_forward_steps(K, snaps[i]);
            EXPECT(d.forward_steps == want, "%s: %ld forward steps, formula %ld", what, d.forward_steps, want);
            /* Each recomputed step costs one gradient on top of unroll's,
             * except the schedule's first sweep (θ_0 → θ_{K−1}, K − 1 steps),
             * which is the inner solve itself and is not repeated. */
            EXPECT(d.counts.grad == d0.counts.grad + d.forward_steps - (K - 1) && d.counts.hvp == K &&
                       d.counts.cross == K,
                   "%s: counts grad %ld hvp %ld cross %ld (unroll grad %ld)", what, d.counts.grad,
                   d.counts.hvp, d.counts.cross, d0.counts.grad);
            if (snaps[i] < K)
                EXPECT(d.stored_doubles < d0.stored_doubles, "%s: stores %zu doubles, unroll %zu",
                       what, d.stored_doubles, d0.stored_doubles);
        }
    }
    logreg_free(&L);

    /* The published case l = 1000, s = 10 on a small problem. */
    logreg S;
    logreg_init(&S, 20, 10, 2, 1.0, 59);
    bl_problem ps = logreg_problem(&S);
    double ls[2] = {-1.0, -1.5};
    logreg_constants(ls, &k, &S);
    for (int hb = 0; hb < 2; hb++) {
        double ref[2], hg[2];
        bl_diag d;
        bl_hg_opts o = {.method = BL_UNROLL, .inner = hb ? bl_inner_hb : bl_inner_gd, .inner_iters = 1000,
                        .step = 0.01 / k.L};
        if (hg_run(&ps, ls, o, ref, &d) != BL_OK)
            continue;
        o.method = BL_UNROLL_CHECKPOINTED;
        o.snapshots = 10;
        if (hg_run(&ps, ls, o, hg, &d) != BL_OK)
            continue;
        expect_same(hb ? "checkpointed l = 1000, s = 10 (hb)" : "checkpointed l = 1000, s = 10 (gd)", hg,
                    ref, 2, 1e-12);
        EXPECT(d.forward_steps == 3636, "l = 1000, s = 10: %ld forward steps, published 3636", d.forward_steps);
    }
    logreg_free(&S);
}

/* -------------------------------------------------------- forward mode */

static void test_forward(void)
{
    for (int p = 1; p <= 4; p++)
        for (int hb = 0; hb < 2; hb++) {
            logreg L;
            logreg_init(&L, 40, 30, p, 1.0, 60 + p);
            bl_problem pb = logreg_problem(&L);
            double lam[4] = {-1.0, -1.7, -0.6, -2.2}, ref[4], hg[4];
            bl_diag d0, d;
            bl_constants k;
            logreg_constants(lam, &k, &L);
            bl_hg_opts o = {.method = BL_UNROLL, .inner = hb ? bl_inner_hb : bl_inner_gd, .inner_iters = 50,
                            .step = 0.2 / k.L};
            if (hg_run(&pb, lam, o, ref, &d0) == BL_OK) {
                o.method = BL_UNROLL_FORWARD;
                if (hg_run(&pb, lam, o, hg, &d) == BL_OK) {
                    char what[80];
                    snprintf(what, sizeof what, "unroll-forward vs unroll (m = %d, %s)", p, hb ? "hb" : "gd");
                    expect_same(what, hg, ref, p, 1e-12);
                    EXPECT(d.counts.hvp == 50L * p && d.counts.cross == 50L * p,
                           "%s: hvp %ld cross %ld, expected m·K = %d", what, d.counts.hvp, d.counts.cross, 50 * p);
                }
            }
            logreg_free(&L);
        }
    /* m = 1 on ridge. */
    ridge r;
    ridge_init(&r, 30, 20, 5, 67);
    bl_problem pb = ridge_problem(&r);
    double lam[1] = {-0.3}, ref[1], hg[1];
    bl_diag d;
    bl_hg_opts o = {.method = BL_UNROLL, .inner_iters = 6};
    if (hg_run(&pb, lam, o, ref, &d) == BL_OK) {
        o.method = BL_UNROLL_FORWARD;
        if (hg_run(&pb, lam, o, hg, &d) == BL_OK)
            expect_same("unroll-forward vs unroll (ridge)", hg, ref, 1, 1e-12);
    }
    ridge_free(&r);
}

/* ------------------------------------------------------------ truncation */

static void test_truncated(void)
{
    logreg L;
    logreg_init(&L, 50, 40, 4, 1.0, 71);
    bl_problem pb = logreg_problem(&L);
    double lam[4] = {-1.0, -1.4, -0.5, -2.0}, ref[4], hg[4], thm[4];
    const int K = 40;
    bl_diag d;
    bl_constants k;
    logreg_constants(lam, &k, &L);
    const double a = 0.2 / k.L;
    bl_hg_opts o = {.method = BL_UNROLL, .inner_iters = K, .step = a};
    if (hg_run(&pb, lam, o, ref, &d) != BL_OK)
        return;
    o.method = BL_UNROLL_TRUNCATED;
    o.truncate = K;
    if (hg_run(&pb, lam, o, hg, &d) == BL_OK)
        expect_same("unroll-truncated T = K vs unroll", hg, ref, 4, 1e-15);
    const int Ts[] = {1, 5, 20};
    for (int i = 0; i < 3; i++) {
        int T = Ts[i];
        o.method = BL_UNROLL_TRUNCATED;
        o.truncate = T;
        if (hg_run(&pb, lam, o, hg, &d) != BL_OK)
            continue;
        EXPECT(d.counts.hvp == T && d.counts.cross == T, "truncated T = %d: hvp %ld cross %ld", T,
               d.counts.hvp, d.counts.cross);
        double diff = t_relerr(hg, ref, 4, 1e-300);
        EXPECT(diff > 1e-6, "unroll-truncated T = %d < K = %d equals unroll (difference %.2e)", T, K, diff);
        /* θ_{K−T} held constant = unroll of T steps from θ_{K−T}. */
        bl_hg_opts oa = {.method = BL_UNROLL, .inner_iters = K - T, .step = a};
        double tmp[4], hg2[4];
        if (hg_run_out(&pb, lam, oa, tmp, &d, thm, NULL) != BL_OK)
            continue;
        bl_hg_opts ob = {.method = BL_UNROLL, .inner_iters = T, .step = a, .theta0 = thm};
        if (hg_run(&pb, lam, ob, hg2, &d) != BL_OK)
            continue;
        char what[80];
        snprintf(what, sizeof what, "truncated T = %d vs unroll of T steps from theta_{K-T}", T);
        expect_same(what, hg, hg2, 4, 1e-12);
    }
    logreg_free(&L);
}

int main(void)
{
    test_inexact_is_linear_solve();
    test_generic();
    test_checkpoint_formula();
    test_checkpointed();
    test_forward();
    test_truncated();
    return t_done();
}
