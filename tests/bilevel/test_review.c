/*
 * tests/bilevel/test_review.c — regressions for review findings:
 *   - theta_out: NaN (never uninitialised memory) when the inner solve fails
 *     before θ_ε exists; θ_ε when it does;
 *   - peak tape: no estimator keeps a second-order point recorded while it
 *     evaluates gradients, so peak_tape_bytes ≤ the tape of one point + Hv
 *     measured with a bare oracle (bl_oracle_point + bl_oracle_hvp);
 *   - unroll-checkpointed does not repeat the inner solve: its gradients are
 *     unroll's + forward_steps − (K − 1) (the schedule's first sweep is the
 *     inner solve); an inner solve that stops early (tolerance) still gives
 *     unroll's result and the formula's step count for the actual K;
 *   - the checkpoint schedule has no O(K²·s) table: K = 30000 runs (it used
 *     to be refused above 20000), with the formula's forward steps and
 *     lean unroll's result;
 *   - small tape caps (max_tape_bytes from 4 KiB, below the 1 MiB arena
 *     block): ift-cg and exact give ridge's closed form whenever the capped
 *     tapes have room, and BL_ENOMEM naming the cap otherwise.
 */
#include "tests/bilevel/problems.h"

#include <stdio.h>
#include <string.h>

static bl_status run_out(const bl_problem *pb, const double *lam, bl_hg_opts o, double *hg,
                         bl_diag *d, double *th)
{
    char msg[256] = "";
    bl_status st = t_hypergrad_out(pb, lam, &o, hg, d, msg, sizeof msg, th, NULL);
    EXPECT(st == BL_OK, "%s on %s: %s (%s)", bl_method_name(o.method), pb->name, bl_strerror(st), msg);
    return st;
}

static bl_status run(const bl_problem *pb, const double *lam, bl_hg_opts o, double *hg, bl_diag *d)
{
    return run_out(pb, lam, o, hg, d, NULL);
}

/* Constants no step can be derived from: μ = 0. */
static bl_status unusable_constants(const double *lambda, bl_constants *k, void *ctx)
{
    memset(k, 0, sizeof *k);
    k->L = 1.0;
    return BL_OK;
}

static void test_theta_out(void)
{
    logreg L;
    logreg_init(&L, 30, 20, 3, 1.0, 5);
    bl_problem pb = logreg_problem(&L);
    double lam[3] = {-1.0, -1.5, -0.5}, hg[3], th[3], th0[3] = {0.0, NAN, 0.0};
    const bl_method ms[] = {BL_IFT_CG, BL_UNROLL, BL_UNROLL_CHECKPOINTED, BL_UNROLL_FORWARD, BL_EXACT};
    for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++) {
        /* NaN in θ0: the inner solve fails at its start, θ_ε never exists. */
        th[0] = th[1] = th[2] = 12345.0;
        bl_hg_opts o = {.method = ms[i], .inner = bl_inner_gd, .inner_iters = 5, .theta0 = th0};
        char msg[256] = "";
        bl_status st = t_hypergrad_out(&pb, lam, &o, hg, NULL, msg, sizeof msg, th, NULL);
        EXPECT(st == BL_ENONFINITE, "%s with NaN θ0: %s (%s)", bl_method_name(ms[i]), bl_strerror(st), msg);
        EXPECT(isnan(th[0]) && isnan(th[1]) && isnan(th[2]), "%s: theta_out = (%g %g %g), expected NaN",
               bl_method_name(ms[i]), th[0], th[1], th[2]);
        /* A problem with unusable constants (μ = 0) and no step: bl_inner_set fails. */
        bl_problem nc = pb;
        nc.constants = unusable_constants;
        bl_hg_opts o2 = {.method = ms[i], .inner = bl_inner_gd, .inner_iters = 5};
        th[0] = th[1] = th[2] = 12345.0;
        st = t_hypergrad_out(&nc, lam, &o2, hg, NULL, msg, sizeof msg, th, NULL);
        EXPECT(st == BL_EINVAL, "%s with unusable constants: %s (%s)", bl_method_name(ms[i]), bl_strerror(st), msg);
        EXPECT(isnan(th[0]) && isnan(th[1]) && isnan(th[2]), "%s (unusable constants): theta_out = (%g %g %g)",
               bl_method_name(ms[i]), th[0], th[1], th[2]);
        /* Success: θ_ε is returned. */
        bl_hg_opts o3 = {.method = ms[i], .inner = bl_inner_gd, .inner_iters = 5, .inner_tol = -1};
        if (run_out(&pb, lam, o3, hg, NULL, th) == BL_OK)
            EXPECT(isfinite(th[0]) && isfinite(th[1]) && isfinite(th[2]) && th[0] != 12345.0,
                   "%s: theta_out not filled", bl_method_name(ms[i]));
    }
    logreg_free(&L);
}

/* The tape of one point and one Hv (with cross) at (θ, λ). */
static size_t one_point_bytes(const bl_problem *pb, const double *theta, const double *lam)
{
    bl_oracle *o = bl_oracle_new(pb, 0);
    size_t pk = 0;
    double *v = calloc((size_t)pb->p * 2 + pb->m, sizeof(double));
    if (o && v) {
        for (int j = 0; j < pb->p; j++)
            v[j] = 1.0 + j;
        if (bl_oracle_point(o, NULL, theta, lam) == BL_OK &&
            bl_oracle_hvp(o, v, v + pb->p, v + 2 * pb->p) == BL_OK)
            pk = bl_oracle_peak_bytes(o);
    }
    EXPECT(pk > 0, "bare oracle: no peak measured");
    free(v);
    bl_oracle_free(o);
    return pk;
}

static void test_peak(void)
{
    logreg L;
    logreg_init(&L, 80, 40, 6, 1.0, 11);
    bl_problem pb = logreg_problem(&L);
    double lam[6] = {-1.0, -1.5, -0.5, -2.0, -1.2, -0.8}, hg[6], th[6];
    bl_constants k;
    logreg_constants(lam, &k, &L);
    struct { bl_method m; const bl_inner_type *T; } cs[] = {
        {BL_IFT_CG, NULL}, {BL_IFT_GD, NULL}, {BL_EXACT, NULL}, {BL_SHINE_REFINE, NULL},
        {BL_IFT_CG, bl_inner_newton_cg}, {BL_UNROLL, bl_inner_gd}, {BL_INEXACT_AD, bl_inner_gd},
        {BL_UNROLL_CHECKPOINTED, bl_inner_gd}, {BL_UNROLL_CHECKPOINTED, bl_inner_hb},
    };
    for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) {
        bl_diag d;
        int unr = bl_method_is_unroll(cs[i].m);
        bl_hg_opts o = {.method = cs[i].m, .inner = cs[i].T, .inner_iters = unr ? 40 : 0, .snapshots = 4,
                        .step = unr ? 1.0 / k.L : 0, .linear_iters = 50, .linear_tol = -1};
        if (run_out(&pb, lam, o, hg, &d, th) != BL_OK)
            continue;
        size_t one = one_point_bytes(&pb, th, lam);
        EXPECT(d.peak_tape_bytes <= one, "%s (%s inner): peak tape %zu bytes > one point + Hv %zu",
               bl_method_name(cs[i].m), cs[i].T ? bl_inner_type_name(cs[i].T) : "default",
               d.peak_tape_bytes, one);
    }
    logreg_free(&L);
}

static void test_checkpoint_work(void)
{
    logreg L;
    logreg_init(&L, 30, 20, 3, 1.0, 21);
    bl_problem pb = logreg_problem(&L);
    double lam[3] = {-1.0, -1.5, -0.5}, ref[3], hg[3];
    bl_constants k;
    logreg_constants(lam, &k, &L);
    for (int hb = 0; hb < 2; hb++) {
        const bl_inner_type *T = hb ? bl_inner_hb : bl_inner_gd;
        const char *tn = bl_inner_type_name(T);
        /* Fixed K = 1000, s = 10: 3636 schedule steps, 999 of them the inner solve. */
        bl_diag d0, d;
        bl_hg_opts o = {.method = BL_UNROLL, .inner = T, .inner_iters = 1000, .step = 0.05 / k.L};
        if (run(&pb, lam, o, ref, &d0) != BL_OK)
            continue;
        o.method = BL_UNROLL_CHECKPOINTED;
        o.snapshots = 10;
        if (run(&pb, lam, o, hg, &d) == BL_OK) {
            EXPECT(t_relerr(hg, ref, 3, 1e-300) <= 1e-12, "%s K = 1000: differs from unroll by %.3e", tn,
                   t_relerr(hg, ref, 3, 1e-300));
            EXPECT(d.forward_steps == 3636, "%s: %ld forward steps, published 3636", tn, d.forward_steps);
            EXPECT(d.counts.grad == d0.counts.grad + 3636 - 999,
                   "%s: %ld gradients; unroll %ld + 3636 schedule steps − 999 done by the inner solve = %ld",
                   tn, d.counts.grad, d0.counts.grad, d0.counts.grad + 3636 - 999);
        }
        /* A tolerance reached before the cap: the schedule of the actual K, from θ_0. */
        bl_hg_opts ot = {.method = BL_UNROLL, .inner = T, .inner_iters = 5000, .inner_tol = 1e-6,
                         .step = 1.0 / k.L};
        if (run(&pb, lam, ot, ref, &d0) != BL_OK)
            continue;
        EXPECT(d0.inner_iters < 5000 && d0.inner_stop == BL_STOP_TOL, "%s: tolerance not reached (%d steps)",
               tn, d0.inner_iters);
        ot.method = BL_UNROLL_CHECKPOINTED;
        ot.snapshots = 5;
        if (run(&pb, lam, ot, hg, &d) == BL_OK) {
            long want = bl_checkpoint_forward_steps(d0.inner_iters, 5);
            EXPECT(d.inner_iters == d0.inner_iters && d.inner_stop == BL_STOP_TOL, "%s: %d inner steps vs %d",
                   tn, d.inner_iters, d0.inner_iters);
            EXPECT(t_relerr(hg, ref, 3, 1e-300) <= 1e-12, "%s early stop: differs from unroll by %.3e", tn,
                   t_relerr(hg, ref, 3, 1e-300));
            EXPECT(d.forward_steps == want, "%s early stop: %ld forward steps, formula %ld", tn,
                   d.forward_steps, want);
            EXPECT(d.counts.grad == d0.counts.grad + want, "%s early stop: %ld gradients, expected %ld", tn,
                   d.counts.grad, d0.counts.grad + want);
        }
    }
    logreg_free(&L);
}

static void test_long_schedule(void)
{
    logreg L;
    logreg_init(&L, 12, 8, 2, 1.0, 31);
    bl_problem pb = logreg_problem(&L);
    double lam[2] = {-1.0, -1.5}, ref[2], hg[2];
    bl_constants k;
    logreg_constants(lam, &k, &L);
    enum { K = 30000 };
    bl_diag d0, d;
    bl_hg_opts o = {.method = BL_UNROLL, .inner = bl_inner_gd, .inner_iters = K, .step = 0.002 / k.L};
    if (run(&pb, lam, o, ref, &d0) != BL_OK)
        return;
    o.method = BL_UNROLL_CHECKPOINTED;
    o.snapshots = 10;
    if (run(&pb, lam, o, hg, &d) == BL_OK) {
        EXPECT(t_relerr(hg, ref, 2, 1e-300) <= 1e-12, "K = %d: differs from unroll by %.3e", K,
               t_relerr(hg, ref, 2, 1e-300));
        EXPECT(d.forward_steps == bl_checkpoint_forward_steps(K, 10), "K = %d: %ld forward steps, formula %ld",
               K, d.forward_steps, bl_checkpoint_forward_steps(K, 10));
    }
    logreg_free(&L);
}

/* Ridge (n = 20, p = 4) under tape caps from 4 KiB to 1 MiB: every run either
 * matches the closed form to 1e-9 or returns BL_ENOMEM with a message naming
 * the cap; a cap of at least twice the uncapped peak tape must succeed, and
 * so must every cap from 64 KiB (several times this problem's peak). */
static void test_small_tape_cap(void)
{
    ridge r;
    ridge_init(&r, 20, 15, 4, 41);
    bl_problem pb = ridge_problem(&r);
    double lam[1] = {-0.5}, truth[1], hg[1];
    ridge_truth(&r, lam[0], NULL, truth);
    static const size_t caps[] = {4096, 8192, 16384, 65536, 262144, 1048576};
    const bl_method ms[] = {BL_IFT_CG, BL_EXACT};
    for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++) {
        bl_hg_opts o = {.method = ms[i], .inner_tol = 1e-12, .linear_tol = 1e-12, .inner_iters = 5000};
        bl_diag d;
        if (run(&pb, lam, o, hg, &d) != BL_OK)
            continue;
        size_t peak = d.peak_tape_bytes;
        for (size_t c = 0; c < sizeof caps / sizeof caps[0]; c++) {
            o.max_tape_bytes = caps[c];
            char msg[256] = "", capstr[40];
            snprintf(capstr, sizeof capstr, "%zu", caps[c]);
            bl_status st = bl_hypergrad(&pb, lam, &o, hg, &d, msg, sizeof msg);
            if (st == BL_OK)
                EXPECT(t_relerr(hg, truth, 1, 1e-300) <= 1e-9, "%s, cap %zu: relative error %.3e",
                       bl_method_name(ms[i]), caps[c], t_relerr(hg, truth, 1, 1e-300));
            else
                EXPECT(st == BL_ENOMEM && strstr(msg, "cap") && strstr(msg, capstr),
                       "%s, cap %zu: %s '%s'", bl_method_name(ms[i]), caps[c], bl_strerror(st), msg);
            EXPECT(st == BL_OK || (caps[c] < 2 * peak && caps[c] < 65536),
                   "%s, cap %zu (uncapped peak %zu): %s '%s'", bl_method_name(ms[i]), caps[c], peak,
                   bl_strerror(st), msg);
        }
    }
    ridge_free(&r);
}

int main(void)
{
    test_theta_out();
    test_peak();
    test_checkpoint_work();
    test_long_schedule();
    test_small_tape_cap();
    return t_done();
}
