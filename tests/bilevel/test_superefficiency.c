/*
 * tests/bilevel/test_superefficiency.c — super-efficiency on a min-min
 * problem (Ablin, Peyré & Moreau 2020). With F = G, h(λ) = min_θ G(θ, λ)
 * and ∇h = ∇_λG(θ*, λ). After t GD steps θ_t, three estimates:
 *   g1 = ∇_λG(θ_t, λ)             (analytic: ½e^λ ⊙ θ_t², computed here)
 *   g2 = unroll through the t steps
 *   g3 = IFT at θ_t: ift-cg with q solving H(θ_t)q = ∇_θG(θ_t) (tight CG)
 * have errors of order 1, > 1 (t·‖θ_t − θ*‖² in theory) and 2 in
 * ‖θ_t − θ*‖. Truth: θ* by dense Newton, ∇h = ½e^λ ⊙ θ*².
 * Fitted slopes of log error against log ‖θ_t − θ*‖ (points with error
 * above 1e-12, in the asymptotic range ‖θ_t − θ*‖ < 0.05):
 * g1 in [0.8, 1.3], g2 > 1.3, g3 in [1.7, 2.5]. Two problems (p = 3, 4).
 */
#include "tests/bilevel/problems.h"

#include <stdio.h>

enum { MAXP = 4, NT = 40 };

static void superefficiency(int p, uint64_t seed)
{
    logreg L;
    logreg_init(&L, 60, 40, p, 1.0, seed);
    L.minmin = 1;
    bl_problem pb = logreg_problem(&L);
    double lam[MAXP] = {-1.0, -2.0, -0.5, -1.5}, th[MAXP], truth[MAXP];
    logreg_truth(&L, lam, th, truth);
    /* The truth is the envelope theorem: ∇h = ∇_λG(θ*) (q* = 0 since ∇_θF(θ*) = 0). */
    for (int k = 0; k < p; k++)
        EXPECT(fabs(truth[k] - 0.5 * exp(lam[k]) * th[k] * th[k]) <= 1e-14,
               "envelope truth: %g vs %g", truth[k], 0.5 * exp(lam[k]) * th[k] * th[k]);

    double ld[3][NT], le[3][NT];
    int n[3] = {0, 0, 0};
    for (int t = 2; t <= 2 * NT; t += 2) {
        double g[3][MAXP], tht[MAXP], th3[MAXP];
        bl_diag d;
        char msg[256] = "";
        bl_hg_opts o = {.method = BL_UNROLL, .inner_iters = t};
        bl_status st = t_hypergrad_out(&pb, lam, &o, g[1], &d, msg, sizeof msg, tht, NULL);
        EXPECT(st == BL_OK, "unroll t = %d: %s", t, msg);
        for (int k = 0; k < p; k++)
            g[0][k] = 0.5 * exp(lam[k]) * tht[k] * tht[k];
        bl_hg_opts o3 = {.method = BL_IFT_CG, .inner = bl_inner_gd, .inner_iters = t,
                         .inner_tol = -1, .linear_tol = 1e-16};
        st = t_hypergrad_out(&pb, lam, &o3, g[2], &d, msg, sizeof msg, th3, NULL);
        EXPECT(st == BL_OK, "ift-cg t = %d: %s", t, msg);
        EXPECT(!memcmp(tht, th3, (size_t)p * sizeof(double)), "t = %d: the two inner runs differ", t);
        double dist = d_dist(p, tht, th);
        for (int e = 0; e < 3; e++) {
            double err = t_relerr(g[e], truth, (size_t)p, 1e-300);
            if (dist < 0.05 && err > 1e-12 && n[e] < NT) {
                ld[e][n[e]] = log(dist);
                le[e][n[e]] = log(err);
                n[e]++;
            }
        }
    }
    const char *names[3] = {"grad_lambda G", "unroll", "ift"};
    double s[3];
    for (int e = 0; e < 3; e++) {
        EXPECT(n[e] >= 5, "p = %d %s: only %d usable points", p, names[e], n[e]);
        s[e] = n[e] >= 2 ? fit_slope(n[e], ld[e], le[e]) : NAN;
    }
    printf("p = %d: slopes of log error vs log |theta_t - theta*|: %s %.3f (%d pts), %s %.3f (%d pts), "
           "%s %.3f (%d pts)\n", p, names[0], s[0], n[0], names[1], s[1], n[1], names[2], s[2], n[2]);
    EXPECT(s[0] >= 0.8 && s[0] <= 1.3, "p = %d: g1 = grad_lambda G has order %.3f, expected 1", p, s[0]);
    EXPECT(s[1] > 1.3, "p = %d: unroll has order %.3f, expected > 1.3 (super-efficient)", p, s[1]);
    EXPECT(s[2] >= 1.7 && s[2] <= 2.5, "p = %d: IFT has order %.3f, expected 2", p, s[2]);
    logreg_free(&L);
}

int main(void)
{
    superefficiency(3, 7);
    superefficiency(4, 13);
    return t_done();
}
