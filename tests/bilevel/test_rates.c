/*
 * tests/bilevel/test_rates.c — convergence rates of unrolling and inexact
 * AD with a GD inner solver (Mehmood & Ochs 2020): on a strongly convex,
 * non-quadratic G, ‖unroll_K − ∇h‖ ~ K·q^K and ‖inexact-ad_K − ∇h‖ ~ q^K,
 * where q = max_i |1 − αλ_i(H(θ*))| is the asymptotic rate of GD with step α
 * (eigenvalues of the dense Hessian at the dense Newton solution).
 *
 * Fits (least squares over K where the errors are well above rounding):
 *   slope of log(err_unroll / K) against K  within 20% of log q;
 *   slope of log(err_inexact)    against K  within 20% of log q;
 *   slope of log(err_unroll / err_inexact) against log K in [0.7, 1.3]
 *   (the extra factor K, the signature of differentiating through the
 *   trajectory instead of at θ_K).
 * Done for α = 1/L and α = 1/(2L), so the fitted rate must follow q.
 * Problem: logistic regression with per-feature λ, p = 2, eigenvalues of H*
 * well apart (so one mode sets the rate); a quadratic G would make the two
 * estimators identical.
 */
#include "tests/bilevel/problems.h"

#include <stdio.h>

enum { P = 2, NK = 64 };

static void rates_for_step(const bl_problem *pb, const logreg *L, const double *lam, double alpha)
{
    double th[P], truth[P], H[P * P], ev[P];
    logreg_truth(L, lam, th, truth);
    logreg_G_c(L, th, lam, NULL, H);
    d_eig_sym(P, H, ev);
    double q = 0;
    for (int i = 0; i < P; i++)
        q = fmax(q, fabs(1 - alpha * ev[i]));
    double lq = log(q);

    double Ks[NK], logK[NK], lu[NK], li[NK], lr[NK];
    int n = 0;
    for (int K = 20; n < NK; K += 10) {
        double hu[P], hi[P];
        bl_diag d;
        bl_hg_opts o = {.method = BL_UNROLL, .inner_iters = K, .step = alpha};
        bl_status s1 = bl_hypergrad(pb, lam, &o, hu, &d, NULL, 0);
        o.method = BL_INEXACT_AD;
        bl_status s2 = bl_hypergrad(pb, lam, &o, hi, &d, NULL, 0);
        EXPECT(s1 == BL_OK && s2 == BL_OK, "K = %d: %s / %s", K, bl_strerror(s1), bl_strerror(s2));
        double eu = t_relerr(hu, truth, P, 1e-300), ei = t_relerr(hi, truth, P, 1e-300);
        if (eu < 1e-11 || ei < 1e-11) /* stay well above rounding */
            break;
        Ks[n] = K;
        logK[n] = log(K);
        lu[n] = log(eu / K);
        li[n] = log(ei);
        lr[n] = log(eu / ei);
        n++;
    }
    EXPECT(n >= 8, "alpha = %g: only %d usable K values", alpha, n);
    if (n < 3)
        return;
    double su = fit_slope(n, Ks, lu), si = fit_slope(n, Ks, li), sr = fit_slope(n, logK, lr);
    printf("alpha = %.4f: log q = %.4f (q = %.4f), K = %g..%g: unroll slope of log(err/K) %.4f, "
           "inexact-ad slope of log(err) %.4f, log(ratio) vs log K %.3f\n",
           alpha, lq, q, Ks[0], Ks[n - 1], su, si, sr);
    EXPECT(fabs(su - lq) <= 0.2 * fabs(lq), "unroll: fitted rate %.4f vs predicted log q %.4f", su, lq);
    EXPECT(fabs(si - lq) <= 0.2 * fabs(lq), "inexact-ad: fitted rate %.4f vs predicted log q %.4f", si, lq);
    EXPECT(sr >= 0.7 && sr <= 1.3, "unroll / inexact-ad error ratio grows like K^%.3f, expected K^1", sr);
}

int main(void)
{
    logreg L;
    logreg_init(&L, 60, 40, P, 1.0, 5);
    bl_problem pb = logreg_problem(&L);
    double lam[P] = {-3.0, 0.0};
    bl_constants k;
    logreg_constants(lam, &k, &L);
    rates_for_step(&pb, &L, lam, 1.0 / k.L);
    rates_for_step(&pb, &L, lam, 0.5 / k.L);
    logreg_free(&L);
    return t_done();
}
