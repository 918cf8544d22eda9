/*
 * tests/bilevel/test_diagnostics.c — bl_diag is filled and consistent, and
 * bad input gives a clear status and message.
 *
 * On logistic regression with per-feature λ (dense H, ∇G, ∇F and G, F
 * written here), for every method:
 *   - inner_grad_norm = ‖∇_θG(θ_out)‖, outer_value = F(θ_out) (1e-9 / 1e-13
 *     relative), seconds > 0, peak_tape_bytes > 0, method echoed;
 *   - where a q exists: linear_residual = ‖H(θ_out)q_out − ∇_θF(θ_out)‖
 *     (1e-9 relative) and hg = ∇_λF − cross(q) = −e^λ ⊙ θ ⊙ q (1e-12),
 *     i.e. the cross product is right; for unroll, unroll-generic,
 *     unroll-truncated and unroll-checkpointed q_out is the equivalent
 *     iterate q_u and instead unroll_gap = ‖hg − (−e^λ ⊙ θ ⊙ q_u)‖ (1e-9
 *     relative), NaN for every other method; without a q (unroll-forward),
 *     linear_residual is NaN;
 *   - counts are what the method must do: with K GD inner steps every
 *     method spends K + 2 gradients (θ_0, K steps, ∇F) plus its own
 *     (checkpointing: + forward_steps − (K − 1), its first sweep being
 *     the inner solve; shine-opa: + 1); unroll, inexact-ad,
 *     unroll-generic: K Hvp and K cross; unroll-forward: m·K of each;
 *     ift-cg, ift-gd, ift-hb: linear iterations + 1 Hvp (the initial
 *     residual), ift-neumann: linear iterations; exact: p; identity and
 *     shine: 0; every q-method 1 cross; no value-only calls;
 *   - inner_iters / inner_stop, linear_iters / linear_stop, stored_doubles;
 *   - the a-posteriori bound (certified constants on the least-squares
 *     problem) is at least the true error.
 * Bad input: NaN/Inf in λ, NULL problem / λ / opts / hg, an incomplete
 * problem, unknown method (enum and name), wrong inner solver for the
 * method, no constants and no step (estimated), a tape cap too small, NaN in θ0.
 */
#include "tests/bilevel/problems.h"

#include <stdio.h>

enum { P = 5, K = 25 };

/* unroll, unroll-generic, unroll-truncated, unroll-checkpointed: q is q_u,
 * hg is not from it. */
static int q_equiv(bl_method m)
{
    return m == BL_UNROLL || m == BL_UNROLL_GENERIC || m == BL_UNROLL_TRUNCATED ||
           m == BL_UNROLL_CHECKPOINTED;
}

static int has_q(bl_method m)
{
    return m >= BL_INEXACT_AD || q_equiv(m);
}

static void test_all_methods(void)
{
    logreg L;
    logreg_init(&L, 60, 40, P, 1.0, 17);
    bl_problem pb = logreg_problem(&L);
    double lam[P] = {-1.0, -1.8, -0.7, -1.3, -2.2};
    for (int mi = 0; mi < BL_METHOD_COUNT; mi++) {
        bl_method m = (bl_method)mi;
        const char *nm = bl_method_name(m);
        int shine = m == BL_SHINE || m == BL_SHINE_OPA || m == BL_SHINE_REFINE;
        double hg[P], th[P], q[P] = {0};
        bl_diag d;
        char msg[256] = "";
        /* K GD steps for everything but SHINE (which needs L-BFGS: K of its iterations). */
        bl_hg_opts o = {.method = m, .inner = shine ? bl_inner_lbfgs : bl_inner_gd, .inner_iters = K,
                        .inner_tol = -1, .snapshots = 4, .linear_iters = 6, .linear_tol = -1};
        if (m == BL_IFT_CG || m == BL_SHINE_REFINE || m == BL_EXACT)
            o.linear_tol = 1e-13, o.linear_iters = 0;
        bl_status st = t_hypergrad_out(&pb, lam, &o, hg, &d, msg, sizeof msg, th, q);
        EXPECT(st == BL_OK, "%s: %s (%s)", nm, bl_strerror(st), msg);
        if (st != BL_OK)
            continue;
        EXPECT(d.method == m, "%s: diag.method %d", nm, (int)d.method);
        EXPECT(d.seconds > 0 && d.peak_tape_bytes > 0, "%s: seconds %g, peak %zu", nm, d.seconds,
               d.peak_tape_bytes);

        /* Inner gradient norm and outer value against plain C. */
        double g[P], gF[P], H[P * P], r[P];
        logreg_G_c(&L, th, lam, g, H);
        double Fv = logreg_F_c(&L, th, lam, gF);
        /* ∇G is a cancellation of O(1) terms: rounding of 1e-16 absolute. */
        EXPECT(fabs(d.inner_grad_norm - d_nrm(P, g)) <= 1e-9 * d_nrm(P, g) + 1e-15, "%s: inner_grad_norm %.6e vs %.6e",
               nm, d.inner_grad_norm, d_nrm(P, g));
        EXPECT(fabs(d.outer_value - Fv) <= 1e-13 * fabs(Fv), "%s: outer_value %.15g vs %.15g", nm,
               d.outer_value, Fv);
        EXPECT(d.inner_iters == K, "%s: %d inner iterations, asked %d", nm, d.inner_iters, K);
        EXPECT(d.inner_stop == BL_STOP_MAXITER, "%s: inner_stop %s", nm, bl_stop_name(d.inner_stop));

        if (has_q(m)) {
            d_matvec(P, P, H, q, r, 0);
            for (int j = 0; j < P; j++)
                r[j] -= gF[j];
            double rn = d_nrm(P, r);
            EXPECT(fabs(d.linear_residual - rn) <= 1e-9 * rn + 1e-16, "%s: linear_residual %.6e, computed %.6e",
                   nm, d.linear_residual, rn);
            double want[P];
            for (int k = 0; k < P; k++)
                want[k] = -exp(lam[k]) * th[k] * q[k];
            if (q_equiv(m)) {
                double gap = d_dist(P, hg, want);
                EXPECT(fabs(d.unroll_gap - gap) <= 1e-9 * gap + 1e-16 * d_nrm(P, hg) && gap > 0,
                       "%s: unroll_gap %.6e, computed %.6e", nm, d.unroll_gap, gap);
            } else {
                EXPECT(t_relerr(hg, want, P, 1e-300) <= 1e-12, "%s: hg != -cross(q_out) (%.3e)", nm,
                       t_relerr(hg, want, P, 1e-300));
                EXPECT(isnan(d.unroll_gap), "%s: unroll_gap %g", nm, d.unroll_gap);
            }
            EXPECT(d.counts.cross == 1 || m <= BL_INEXACT_AD, "%s: %ld cross products", nm, d.counts.cross);
        } else {
            EXPECT(isnan(d.unroll_gap), "%s: unroll_gap %g without a q", nm, d.unroll_gap);
            EXPECT(isnan(d.linear_residual), "%s: linear_residual %g without a q", nm, d.linear_residual);
        }

        /* Counts. */
        long grad = K + 2, hvp = -1, cross = -1;
        switch (m) {
        case BL_UNROLL: case BL_UNROLL_GENERIC: case BL_INEXACT_AD: case BL_UNROLL_CHECKPOINTED:
            hvp = cross = K;
            break;
        case BL_UNROLL_TRUNCATED:
            hvp = cross = K;
            break;
        case BL_UNROLL_FORWARD:
            hvp = cross = (long)K * P;
            break;
        case BL_IFT_CG: case BL_IFT_GD: case BL_IFT_HB: case BL_SHINE_REFINE:
            hvp = d.linear_iters + 1, cross = 1;
            break;
        case BL_IFT_NEUMANN:
            hvp = d.linear_iters, cross = 1;
            break;
        case BL_EXACT:
            hvp = P, cross = 1;
            break;
        default: /* identity, shine, shine-opa */
            hvp = 0, cross = 1;
            break;
        }
        if (m == BL_UNROLL_CHECKPOINTED) /* the first sweep (K − 1 steps) is the inner solve */
            grad += d.forward_steps - (K - 1);
        if (m == BL_SHINE_OPA)
            grad += 1;
        if (shine) /* L-BFGS: line-search evaluations are gradients too; at least one per iteration */
            EXPECT(d.counts.grad >= grad, "%s: %ld gradients, at least %ld expected", nm, d.counts.grad, grad);
        else
            EXPECT(d.counts.grad == grad, "%s: %ld gradients, expected %ld", nm, d.counts.grad, grad);
        EXPECT(d.counts.hvp == hvp && d.counts.cross == cross && d.counts.fval == 0,
               "%s: hvp %ld cross %ld fval %ld, expected %ld %ld 0", nm, d.counts.hvp, d.counts.cross,
               d.counts.fval, hvp, cross);

        /* Linear solve bookkeeping. */
        if (m == BL_IFT_GD || m == BL_IFT_HB || m == BL_IFT_NEUMANN)
            EXPECT(d.linear_iters == 6 && d.linear_stop == BL_STOP_MAXITER, "%s: %d linear iterations, stop %s",
                   nm, d.linear_iters, bl_stop_name(d.linear_stop));
        if (m == BL_IFT_CG || m == BL_SHINE_REFINE)
            EXPECT(d.linear_stop == BL_STOP_TOL && d.linear_residual <= 1e-13 && d.linear_iters <= 3 * P,
                   "%s: stop %s residual %.2e after %d", nm, bl_stop_name(d.linear_stop), d.linear_residual,
                   d.linear_iters);
        if (m == BL_EXACT || m == BL_IFT_IDENTITY || m == BL_SHINE || m == BL_SHINE_OPA)
            EXPECT(d.linear_stop == BL_STOP_DIRECT, "%s: stop %s", nm, bl_stop_name(d.linear_stop));
        if (m == BL_INEXACT_AD)
            EXPECT(d.linear_iters == K, "inexact-ad: linear_iters %d", d.linear_iters);
        if (m == BL_UNROLL || m == BL_UNROLL_TRUNCATED)
            EXPECT(d.stored_doubles == (size_t)(K + 1) * P, "%s: stored %zu doubles", nm, d.stored_doubles);
        if (m == BL_UNROLL_CHECKPOINTED)
            EXPECT(d.forward_steps == bl_checkpoint_forward_steps(K, 4) && d.stored_doubles < (size_t)(K + 1) * P,
                   "checkpointed: %ld forward steps, %zu doubles", d.forward_steps, d.stored_doubles);
    }
    /* The default inner solve (L-BFGS to 1e-10) reports convergence. */
    double hg[P];
    bl_diag d;
    bl_hg_opts o = {.method = BL_IFT_CG};
    EXPECT(bl_hypergrad(&pb, lam, &o, hg, &d, NULL, 0) == BL_OK && d.inner_stop == BL_STOP_TOL &&
               d.inner_grad_norm <= 1e-10,
           "default ift-cg: inner_stop %s, |grad| %.2e", bl_stop_name(d.inner_stop), d.inner_grad_norm);
    /* diag may be NULL. */
    EXPECT(bl_hypergrad(&pb, lam, &o, hg, NULL, NULL, 0) == BL_OK, "NULL diag");
    logreg_free(&L);
}

/* The a-posteriori bound is an upper bound on the true error. */
static void test_bound(void)
{
    lstsq s;
    lstsq_init(&s, 60, 6, 29);
    bl_problem pb = lstsq_problem(&s);
    double w[6] = {1, 1, 1, 1, 1, 1}, x[6], truth[6], hg[6];
    lstsq_truth(&s, w, x, truth);
    const bl_method ms[] = {BL_IFT_GD, BL_IFT_CG, BL_INEXACT_AD, BL_IFT_IDENTITY};
    for (int i = 0; i < 4; i++)
        for (int iters = 10; iters <= 160; iters *= 4) {
            bl_diag d;
            bl_hg_opts o = {.method = ms[i], .inner = bl_inner_gd, .inner_iters = iters, .inner_tol = -1,
                            .linear_iters = iters / 5, .linear_tol = -1};
            if (bl_hypergrad(&pb, w, &o, hg, &d, NULL, 0) != BL_OK) {
                EXPECT(0, "%s failed", bl_method_name(ms[i]));
                continue;
            }
            double err = d_dist(6, hg, truth);
            EXPECT(isfinite(d.bound_a_posteriori) && d.bound_a_posteriori >= err && d.bound_certified,
                   "%s, %d inner / %d linear: bound %.3e (certified %d) below the error %.3e",
                   bl_method_name(ms[i]), iters, iters / 5, d.bound_a_posteriori, d.bound_certified, err);
        }
    lstsq_free(&s);
}

static void test_bad_input(void)
{
    ridge r;
    ridge_init(&r, 20, 10, 3, 5);
    bl_problem pb = ridge_problem(&r);
    double lam[1] = {NAN}, hg[1];
    char msg[256];
    bl_hg_opts o = {.method = BL_IFT_CG};
    bl_diag d;

    msg[0] = 0;
    bl_status st = bl_hypergrad(&pb, lam, &o, hg, &d, msg, sizeof msg);
    EXPECT(st == BL_ENONFINITE && strstr(msg, "lambda"), "NaN lambda: %s '%s'", bl_strerror(st), msg);
    lam[0] = INFINITY;
    st = bl_hypergrad(&pb, lam, &o, hg, &d, msg, sizeof msg);
    EXPECT(st == BL_ENONFINITE && strstr(msg, "lambda"), "Inf lambda: %s '%s'", bl_strerror(st), msg);
    lam[0] = 0.0;

    msg[0] = 0;
    st = bl_hypergrad(NULL, lam, &o, hg, &d, msg, sizeof msg);
    EXPECT(st == BL_EINVAL && strstr(msg, "problem"), "NULL problem: %s '%s'", bl_strerror(st), msg);
    bl_problem bad = pb;
    bad.G = NULL;
    st = bl_hypergrad(&bad, lam, &o, hg, &d, msg, sizeof msg);
    EXPECT(st == BL_EINVAL && strstr(msg, "problem"), "problem without G: %s '%s'", bl_strerror(st), msg);
    bad = pb;
    bad.p = 0;
    EXPECT(bl_hypergrad(&bad, lam, &o, hg, &d, NULL, 0) == BL_EINVAL, "p = 0 accepted");
    msg[0] = 0;
    st = bl_hypergrad(&pb, NULL, &o, hg, &d, msg, sizeof msg);
    EXPECT(st == BL_EINVAL && msg[0], "NULL lambda: %s '%s'", bl_strerror(st), msg);
    EXPECT(bl_hypergrad(&pb, lam, NULL, hg, &d, msg, sizeof msg) == BL_EINVAL, "NULL opts accepted");
    EXPECT(bl_hypergrad(&pb, lam, &o, NULL, &d, msg, sizeof msg) == BL_EINVAL, "NULL hg accepted");

    bl_hg_opts ou = {.method = BL_METHOD_COUNT};
    msg[0] = 0;
    st = bl_hypergrad(&pb, lam, &ou, hg, &d, msg, sizeof msg);
    EXPECT(st == BL_EINVAL && strstr(msg, "method"), "unknown method enum: %s '%s'", bl_strerror(st), msg);

    /* Names: every method round-trips; unknown names are refused. */
    for (int m = 0; m < BL_METHOD_COUNT; m++) {
        bl_method back = BL_METHOD_COUNT;
        EXPECT(bl_method_from_name(bl_method_name((bl_method)m), &back) == BL_OK && back == (bl_method)m,
               "method %d ('%s') does not round-trip", m, bl_method_name((bl_method)m));
    }
    bl_method out = BL_UNROLL;
    EXPECT(bl_method_from_name("ift-magic", &out) == BL_EINVAL && out == BL_UNROLL, "unknown name accepted");
    EXPECT(bl_method_from_name(NULL, &out) == BL_EINVAL, "NULL name accepted");
    EXPECT(!strcmp(bl_method_name(BL_METHOD_COUNT), "unknown"), "name of an invalid method");
    EXPECT(bl_strerror(BL_ENONCONVEX) && bl_strerror(BL_ENONCONVEX)[0] && bl_strerror((bl_status)999),
           "bl_strerror");

    /* Wrong inner solver for the method. */
    bl_hg_opts os = {.method = BL_SHINE, .inner = bl_inner_gd, .inner_iters = 10};
    msg[0] = 0;
    st = bl_hypergrad(&pb, lam, &os, hg, &d, msg, sizeof msg);
    EXPECT(st == BL_EINVAL && strstr(msg, "lbfgs"), "shine with gd: %s '%s'", bl_strerror(st), msg);
    const bl_method unr[] = {BL_UNROLL, BL_UNROLL_GENERIC, BL_UNROLL_CHECKPOINTED, BL_UNROLL_FORWARD,
                             BL_INEXACT_AD};
    for (int i = 0; i < 5; i++) {
        bl_hg_opts ol = {.method = unr[i], .inner = bl_inner_lbfgs, .inner_iters = 10};
        msg[0] = 0;
        st = bl_hypergrad(&pb, lam, &ol, hg, &d, msg, sizeof msg);
        EXPECT(st == BL_EINVAL && strstr(msg, "gd or hb") && strstr(msg, "lbfgs"), "%s with lbfgs: %s '%s'",
               bl_method_name(unr[i]), bl_strerror(st), msg);
    }

    /* No constants and no step: GD's α is derived from estimated constants
     * (bl_inner_opts; test_defaults.c checks the value and the result). */
    bl_problem nc = pb;
    nc.constants = NULL;
    bl_hg_opts og = {.method = BL_UNROLL, .inner_iters = 10};
    msg[0] = 0;
    st = bl_hypergrad(&nc, lam, &og, hg, &d, msg, sizeof msg);
    EXPECT(st == BL_OK, "no constants, estimated step: %s '%s'", bl_strerror(st), msg);
    og.step = 0.1; /* with a step it works */
    EXPECT(bl_hypergrad(&nc, lam, &og, hg, &d, msg, sizeof msg) == BL_OK, "no constants, step given: %s", msg);

    /* A tape cap too small for one recording. */
    bl_hg_opts oc = {.method = BL_IFT_CG, .max_tape_bytes = 256};
    msg[0] = 0;
    st = bl_hypergrad(&pb, lam, &oc, hg, &d, msg, sizeof msg);
    EXPECT(st == BL_ENOMEM && msg[0], "tiny tape cap: %s '%s'", bl_strerror(st), msg);

    /* NaN in θ0. */
    double th0[3] = {0, NAN, 0};
    bl_hg_opts on = {.method = BL_IFT_CG, .theta0 = th0};
    msg[0] = 0;
    st = bl_hypergrad(&pb, lam, &on, hg, &d, msg, sizeof msg);
    EXPECT(st == BL_ENONFINITE && strstr(msg, "theta"), "NaN theta0: %s '%s'", bl_strerror(st), msg);
    ridge_free(&r);
}

int main(void)
{
    test_all_methods();
    test_bound();
    test_bad_input();
    return t_done();
}
