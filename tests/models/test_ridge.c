/*
 * tests/models/test_ridge.c — ridge regression with scalar λ (rdg_):
 *   1. the closed form θ*(λ) against conjugate gradients on the reference
 *      gradient, and the exact ∇h(λ) against central differences of h and
 *      against the dense-solve hypergradient of the reference;
 *   2. ad vs reference (1e-10), dense and CSR, full and minibatch; the
 *      reference vs finite differences; minibatch vs a subset model;
 *   3. constants: exact μ, L, L_f, ‖B‖ for small d (Jacobi), valid bounds
 *      for d above RDG_EIG_MAX_D; the closed form refuses d above
 *      RDG_GRAM_MAX_D; errors.
 */
#include "mcheck.h"

#include <hypertape/models/ridge.h>

/* Targets y = Xw + noise for a random set (in place of its ±1 labels). */
static void regression_targets(t_rng *r, ds_set *D, ds_set *S)
{
    double w[64];
    mc_fill_normal(r, w, D->d, 1.0);
    for (int i = 0; i < D->n; i++) {
        double s = 0.3 * t_normal(r);
        for (int j = 0; j < D->d; j++)
            s += D->X[(size_t)i * D->d + j] * w[j];
        D->y[i] = S->y[i] = s;
    }
}

static void test_closed_form(t_rng *r)
{
    ds_set trD, trS, vaD, vaS;
    mc_random_set(r, 80, 9, 0.5, 2, 1, &trD, &trS);
    mc_random_set(r, 50, 9, 0.5, 2, 1, &vaD, &vaS);
    regression_targets(r, &trD, &trS);
    regression_targets(r, &vaD, &vaS);
    char msg[256];
    for (int sp = 0; sp < 2; sp++) {
        rdg_model *M;
        EXPECT(rdg_model_new(sp ? &trS : &trD, sp ? &vaS : &vaD, &M, msg, sizeof msg) == BL_OK, "%s", msg);
        md_reference ref = rdg_reference(M);
        for (int rep = 0; rep < 3; rep++) {
            double la[1] = {-4.0 + 2.5 * rep}, th[9], tc[9], f, g[1], gd[1], fd;
            EXPECT(rdg_hypergrad(M, la, &f, g, th, msg, sizeof msg) == BL_OK, "%s", msg);
            bl_constants k;
            rdg_constants(M, la, &k);
            EXPECT(mc_cg(ref, 9, la, tc, 1e-14, 500) > 0, "CG did not converge");
            EXPECT(t_relerr(tc, th, 9, 1e-300) < 1e-12 * fmax(1.0, k.L / k.mu),
                   "closed form vs CG: rel %.3g (kappa %.3g)", t_relerr(tc, th, 9, 1e-300), k.L / k.mu);
            double h = 1e-4, fp, fm, lp[1] = {la[0] + h}, lm[1] = {la[0] - h};
            rdg_hypergrad(M, lp, &fp, NULL, NULL, NULL, 0);
            rdg_hypergrad(M, lm, &fm, NULL, NULL, NULL, 0);
            fd = (fp - fm) / (2 * h);
            EXPECT(fabs(g[0] - fd) <= 1e-7 * fmax(fabs(fd), 1e-6), "hypergradient %.12g vs FD of h %.12g",
                   g[0], fd);
            mc_dense_hypergrad(ref, 9, 1, th, la, gd, &fd);
            EXPECT(fabs(g[0] - gd[0]) <= 1e-10 * fabs(gd[0]) && fabs(fd - f) <= 1e-14 * f,
                   "hypergradient %.15g vs dense solve %.15g", g[0], gd[0]);
        }
        rdg_model_free(M);
    }
    ds_set_free(&trD), ds_set_free(&trS), ds_set_free(&vaD), ds_set_free(&vaS);
}

static void test_random(t_rng *r)
{
    int n = 50, nv = 30, d = 7;
    ds_set trD, trS, vaD, vaS;
    mc_random_set(r, n, d, 0.5, 2, 1, &trD, &trS);
    mc_random_set(r, nv, d, 0.5, 2, 1, &vaD, &vaS);
    regression_targets(r, &trD, &trS);
    regression_targets(r, &vaD, &vaS);
    char msg[256], label[64];
    rdg_model *MD, *MS;
    EXPECT(rdg_model_new(&trD, &vaD, &MD, msg, sizeof msg) == BL_OK, "%s", msg);
    EXPECT(rdg_model_new(&trS, &vaS, &MS, msg, sizeof msg) == BL_OK, "%s", msg);
    bl_problem pD = rdg_problem(MD), pS = rdg_problem(MS);
    double th[7], la[1], obs[3];
    int bi[8], bo[5];
    for (int rep = 0; rep < 2; rep++) {
        mc_fill_normal(r, th, d, 1.0);
        la[0] = t_uniform(r, -3, 1);
        mc_batch(r, n, 8, bi);
        mc_batch(r, nv, 5, bo);
        for (int sp = 0; sp < 2; sp++) {
            const bl_problem *pb = sp ? &pS : &pD;
            md_reference ref = rdg_reference(sp ? MS : MD);
            snprintf(label, sizeof label, "ridge %s", sp ? "csr" : "dense");
            mc_compare_ad(pb, ref, th, la, NULL, 0, NULL, 0, r, 1e-10, label);
            mc_compare_ad(pb, ref, th, la, bi, 8, bo, 5, r, 1e-10, label);
            mc_check_fd(ref, d, 1, th, la, NULL, 0, NULL, 0, r, 1e-5, 1e-6, label);
            mc_check_fd(ref, d, 1, th, la, bi, 8, bo, 5, r, 1e-5, 1e-6, label);
            bl_constants k = mc_check_constants_obs(pb, ref, th, la, r, label, obs);
            EXPECT(fabs(obs[0] - k.mu) <= 1e-10 * k.L && fabs(obs[1] - k.L) <= 1e-10 * k.L,
                   "%s: mu %.15g L %.15g vs spectrum [%.15g, %.15g]", label, k.mu, k.L, obs[0], obs[1]);
            EXPECT(fabs(obs[2] - k.Lf) <= 1e-6 * k.Lf, "%s: L_f %.12g vs %.12g", label, k.Lf, obs[2]);
            double cb = pb->cross_norm(th, la, pb->ctx), tn = 0;
            for (int j = 0; j < d; j++)
                tn += th[j] * th[j];
            EXPECT(fabs(cb - exp(la[0]) * sqrt(tn)) <= 1e-14 * cb && k.LB == exp(la[0]) && k.LH == 0,
                   "%s: cross_norm / L_B / L_H", label);
        }
        ds_set subT, subV;
        EXPECT(ds_subset(&trS, bi, 8, &subT, msg, sizeof msg) == BL_OK, "%s", msg);
        EXPECT(ds_subset(&vaS, bo, 5, &subV, msg, sizeof msg) == BL_OK, "%s", msg);
        rdg_model *Msub;
        EXPECT(rdg_model_new(&subT, &subV, &Msub, msg, sizeof msg) == BL_OK, "%s", msg);
        double fb, fs, gb[7], gs[7];
        rdg_ref_G(MS, th, la, bi, 8, &fb, gb, NULL, NULL, 0);
        rdg_ref_G(Msub, th, la, NULL, 0, &fs, gs, NULL, NULL, 0);
        EXPECT(fabs(fb - fs) < 1e-13 * fabs(fs) && t_relerr(gb, gs, 7, 1e-300) < 1e-13,
               "batch G vs subset model: %.17g %.17g", fb, fs);
        rdg_ref_F(MS, th, la, bo, 5, &fb, gb, NULL, NULL, 0);
        rdg_ref_F(Msub, th, la, NULL, 0, &fs, gs, NULL, NULL, 0);
        EXPECT(fabs(fb - fs) < 1e-13 * fabs(fs) && t_relerr(gb, gs, 7, 1e-300) < 1e-13,
               "batch F vs subset model: %.17g %.17g", fb, fs);
        rdg_model_free(Msub);
        ds_set_free(&subT), ds_set_free(&subV);
    }
    rdg_model_free(MD), rdg_model_free(MS);
    ds_set_free(&trD), ds_set_free(&trS), ds_set_free(&vaD), ds_set_free(&vaS);
}

/* Wide problems: bounds instead of eigenvalues; no closed form past
 * RDG_GRAM_MAX_D. */
static void test_wide(t_rng *r)
{
    char msg[256];
    for (int big = 0; big < 2; big++) {
        int n = 12, d = big ? RDG_GRAM_MAX_D + 20 : RDG_EIG_MAX_D + 20;
        ds_set tr, va;
        mc_random_set(r, n, d, 0.02, 2, 1, NULL, &tr);
        mc_random_set(r, n, d, 0.02, 2, 1, NULL, &va);
        rdg_model *M;
        EXPECT(rdg_model_new(&tr, &va, &M, msg, sizeof msg) == BL_OK, "%s", msg);
        double la[1] = {-2.0}, *th = mc_vec((size_t)d), *v = mc_vec((size_t)d), *hv = mc_vec((size_t)d);
        bl_constants k;
        rdg_constants(M, la, &k);
        EXPECT(k.mu == exp(-2.0), "wide ridge: mu %.17g is not e^lambda (K is singular)", k.mu);
        /* 60 power iterations give a lower estimate of the top eigenvalue. */
        for (int j = 0; j < d; j++)
            v[j] = t_normal(r);
        double est = 0;
        for (int it = 0; it < 60; it++) {
            cblas_dscal(d, 1.0 / cblas_dnrm2(d, v, 1), v, 1);
            rdg_ref_hvp(M, th, la, NULL, 0, v, hv, NULL, NULL, 0);
            est = cblas_ddot(d, v, 1, hv, 1);
            memcpy(v, hv, (size_t)d * sizeof *v);
        }
        EXPECT(est <= k.L, "wide ridge: Rayleigh estimate %.10g above L %.10g", est, k.L);
        bl_status st = rdg_solve(M, la, th, msg, sizeof msg);
        EXPECT(big ? st == BL_EINVAL && strstr(msg, "RDG_GRAM_MAX_D") : st == BL_OK,
               "closed form at d = %d: %s", d, msg);
        rdg_model_free(M);
        free(th), free(v), free(hv);
        ds_set_free(&tr), ds_set_free(&va);
    }
}

static void test_errors(t_rng *r)
{
    ds_set tr, va, narrow;
    mc_random_set(r, 10, 3, 0.5, 2, 1, &tr, NULL);
    mc_random_set(r, 10, 3, 0.5, 2, 1, &va, NULL);
    mc_random_set(r, 10, 2, 0.5, 2, 1, &narrow, NULL);
    char msg[256];
    rdg_model *M = (rdg_model *)&msg;
    EXPECT(rdg_model_new(&tr, &narrow, &M, msg, sizeof msg) == BL_EINVAL && !M, "widths: %s", msg);
    va.y[2] = INFINITY;
    EXPECT(rdg_model_new(&tr, &va, &M, msg, sizeof msg) == BL_ENONFINITE && strstr(msg, "y[2]"),
           "Inf target: %s", msg);
    rdg_model_free(NULL);
    ds_set_free(&tr), ds_set_free(&va), ds_set_free(&narrow);
}

int main(void)
{
    t_rng r = {0x71d6e};
    test_closed_form(&r);
    test_random(&r);
    test_wide(&r);
    test_errors(&r);
    return t_done();
}
