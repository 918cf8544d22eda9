/*
 * tests/bilevel/test_shine.c — SHINE and SHINE-OPA (Ramzi et al. 2022)
 * against a re-implementation written here.
 *
 * The inner L-BFGS run of bl_hypergrad is reproduced with the public solver
 * API (same options, deterministic), its secant pairs are read with
 * bl_inner_lbfgs_pairs, and q = B⁻¹∇_θF is computed here by the two-loop
 * recursion (B₀⁻¹ = γI with γ = sᵀy/yᵀy of the newest pair). SHINE's q_out
 * must match (1e-10 relative). For OPA, the extra pair is built here:
 * e = −q rescaled to ‖s_last‖, ỹ = ∇_θG(θ + e) − ∇_θG(θ), appended when
 * eᵀỹ > 0, and q recomputed; shine-opa's q_out must match (1e-10). The
 * extra pair must change q (the check would otherwise be vacuous), and the
 * new pair's secant equation B⁻¹ỹ = e must hold for OPA's B (1e-8).
 * Both hypergradients equal −e^λ ⊙ θ ⊙ q (logistic regression).
 */
#include "tests/bilevel/problems.h"

#include <stdio.h>

enum { P = 6, MEM = 10 };

/* out = B⁻¹v, two-loop recursion over cnt pairs (oldest first). */
static void two_loop(int p, int cnt, const double *S, const double *Y, const double *v, double *out)
{
    double al[MEM + 2];
    memcpy(out, v, (size_t)p * sizeof(double));
    for (int i = cnt - 1; i >= 0; i--) {
        al[i] = d_dot(p, S + i * p, out) / d_dot(p, Y + i * p, S + i * p);
        for (int j = 0; j < p; j++)
            out[j] -= al[i] * Y[i * p + j];
    }
    if (cnt > 0) {
        const double *s = S + (cnt - 1) * p, *y = Y + (cnt - 1) * p;
        double g = d_dot(p, s, y) / d_dot(p, y, y);
        for (int j = 0; j < p; j++)
            out[j] *= g;
    }
    for (int i = 0; i < cnt; i++) {
        double be = d_dot(p, Y + i * p, out) / d_dot(p, Y + i * p, S + i * p);
        for (int j = 0; j < p; j++)
            out[j] += (al[i] - be) * S[i * p + j];
    }
}

int main(void)
{
    logreg L;
    logreg_init(&L, 80, 60, P, 1.0, 37);
    bl_problem pb = logreg_problem(&L);
    double lam[P] = {-1.0, -2.0, -1.5, -0.5, -1.2, -2.5};
    const double tols[] = {1e-4, 1e-7};
    for (int ti = 0; ti < 2; ti++) {
        double tol = tols[ti];
        /* The inner run, reproduced. */
        bl_oracle *o = bl_oracle_new(&pb, 0);
        bl_inner *in = bl_inner_new(bl_inner_lbfgs, o, NULL, NULL);
        if (!in || bl_inner_set(in, NULL, lam) != BL_OK || bl_inner_solve(in, tol, 1000) != BL_OK) {
            EXPECT(0, "inner L-BFGS run");
            return t_done();
        }
        double th[P], gth[P], b[P], S[(MEM + 1) * P], Y[(MEM + 1) * P];
        const double *S0, *Y0;
        int cnt = bl_inner_lbfgs_pairs(in, &S0, &Y0);
        memcpy(S, S0, (size_t)cnt * P * sizeof(double));
        memcpy(Y, Y0, (size_t)cnt * P * sizeof(double));
        memcpy(th, bl_inner_theta(in), sizeof th);
        memcpy(gth, bl_inner_grad(in), sizeof gth);
        logreg_F_c(&L, th, lam, b);
        EXPECT(cnt >= 2 && cnt <= MEM, "tol %.0e: %d pairs", tol, cnt);

        double q_shine[P], q_opa[P], hg[P], qo[P], tho[P];
        two_loop(P, cnt, S, Y, b, q_shine);
        /* OPA pair along e = −B⁻¹∇_θF scaled to ‖s_last‖. */
        double e[P], the[P], ge[P], yt[P];
        double scale = d_nrm(P, S + (cnt - 1) * P) / d_nrm(P, q_shine);
        for (int j = 0; j < P; j++) {
            e[j] = -scale * q_shine[j];
            the[j] = th[j] + e[j];
        }
        bl_oracle_G(o, NULL, the, lam, NULL, ge, NULL);
        for (int j = 0; j < P; j++)
            yt[j] = ge[j] - gth[j];
        int pushed = d_dot(P, e, yt) > 0;
        EXPECT(pushed, "tol %.0e: OPA pair has no positive curvature", tol);
        memcpy(S + cnt * P, e, sizeof e);
        memcpy(Y + cnt * P, yt, sizeof yt);
        two_loop(P, cnt + pushed, S, Y, b, q_opa);
        double chg = t_relerr(q_opa, q_shine, P, 1e-300);
        EXPECT(chg > 1e-8, "tol %.0e: the OPA pair does not change q (%.2e)", tol, chg);
        double sec[P];
        two_loop(P, cnt + 1, S, Y, yt, sec);
        EXPECT(t_relerr(sec, e, P, 1e-300) <= 1e-8, "tol %.0e: secant equation of the OPA pair off by %.2e",
               tol, t_relerr(sec, e, P, 1e-300));
        bl_inner_free(in);
        bl_oracle_free(o);

        for (int k = 0; k < 2; k++) {
            bl_hg_opts opts = {.method = k ? BL_SHINE_OPA : BL_SHINE, .inner_tol = tol};
            char msg[256] = "";
            bl_diag d;
            bl_status st = t_hypergrad_out(&pb, lam, &opts, hg, &d, msg, sizeof msg, tho, qo);
            EXPECT(st == BL_OK, "%s: %s", bl_method_name(opts.method), msg);
            EXPECT(!memcmp(tho, th, sizeof th), "%s: inner run differs from the reproduction",
                   bl_method_name(opts.method));
            const double *want = k ? q_opa : q_shine;
            double err = t_relerr(qo, want, P, 1e-300);
            printf("%-9s tol %.0e: %d pairs, |q - q_here| = %.2e (OPA moved q by %.2e)\n",
                   bl_method_name(opts.method), tol, cnt, err, chg);
            EXPECT(err <= 1e-10, "%s, tol %.0e: q differs from the two-loop here by %.3e",
                   bl_method_name(opts.method), tol, err);
            double hw[P];
            for (int j = 0; j < P; j++)
                hw[j] = -exp(lam[j]) * tho[j] * qo[j];
            EXPECT(t_relerr(hg, hw, P, 1e-300) <= 1e-12, "%s: hg is not -cross(q)", bl_method_name(opts.method));
        }
    }
    logreg_free(&L);
    return t_done();
}
