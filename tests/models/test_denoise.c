/*
 * tests/models/test_denoise.c — variational denoising (dn_), TV and
 * Tikhonov, 1-D signals and 2-D images:
 *   1. ad vs reference (1e-10), full and minibatch; reference vs finite
 *      differences; minibatch vs a model on the subset of pairs;
 *   2. certified constants at random points, and the TV bound L attained
 *      where every difference is 0 (φ'' = ε^{−1/2});
 *   3. Tikhonov: the cosine-basis solve against a dense Cholesky solve of
 *      the reference Hessian; ∇h against central differences of h;
 *   4. TV: the dense-solve hypergradient at the Newton solution against
 *      central differences of h(λ) computed by Newton solves;
 *   5. the generator (piecewise constant, levels, noise level,
 *      determinism) and errors.
 */
#include "mcheck.h"

#include <hypertape/models/denoise.h>

typedef struct shape {
    int P, R, C;
} shape;

static dn_model *make(t_rng *r, dn_reg reg, shape s, double sigma, uint64_t seed)
{
    size_t n = (size_t)s.P * s.R * s.C;
    double *clean = mc_vec(n), *noisy = mc_vec(n);
    char msg[256];
    EXPECT(dn_generate(seed, s.P, s.R, s.C, sigma, clean, noisy, msg, sizeof msg) == BL_OK, "%s", msg);
    dn_model *M = NULL;
    EXPECT(dn_model_new(reg, s.P, s.R, s.C, noisy, clean, &M, msg, sizeof msg) == BL_OK, "%s", msg);
    free(clean), free(noisy);
    (void)r;
    return M;
}

static void test_oracles(t_rng *r)
{
    shape shapes[2] = {{3, 1, 16}, {2, 5, 6}};
    char label[64];
    for (int reg = 0; reg < 2; reg++)
        for (int si = 0; si < 2; si++) {
            shape s = shapes[si];
            dn_model *M = make(r, (dn_reg)reg, s, 0.1, 5 + si);
            bl_problem pb = dn_problem(M);
            md_reference ref = dn_reference(M);
            int p = pb.p, m = pb.m;
            EXPECT(p == s.P * s.R * s.C && m == (reg == DN_TV ? 2 : 1), "sizes p %d m %d", p, m);
            double *x = mc_vec((size_t)p), la[2];
            int bi[3] = {s.P - 1, 0, s.P - 1}, bo[2] = {1, 0};
            snprintf(label, sizeof label, "denoise %s %dx%d", reg == DN_TV ? "tv" : "tikhonov", s.R, s.C);
            for (int rep = 0; rep < 2; rep++) {
                mc_fill_normal(r, x, p, 0.5);
                la[0] = t_uniform(r, -3, 0);
                la[1] = t_uniform(r, -4, -1);
                mc_compare_ad(&pb, ref, x, la, NULL, 0, NULL, 0, r, 1e-10, label);
                mc_compare_ad(&pb, ref, x, la, bi, 3, bo, 2, r, 1e-10, label);
                mc_check_fd(ref, p, m, x, la, NULL, 0, NULL, 0, r, 1e-5, 1e-6, label);
                mc_check_fd(ref, p, m, x, la, bi, 3, bo, 2, r, 1e-5, 1e-6, label);
                bl_constants k = mc_check_constants(&pb, ref, x, la, r, label);
                EXPECT(k.mu == 1.0 && k.Lf == 1.0 / s.P, "%s: mu %g L_f %g", label, k.mu, k.Lf);
            }
            /* Minibatch = (P/nb)·(the same pairs as a model of their own). */
            {
                size_t N = (size_t)s.R * s.C;
                double *cl = mc_vec(2 * N), *no = mc_vec(2 * N), *xs = mc_vec(2 * N);
                double *cl_all = mc_vec((size_t)p), *no_all = mc_vec((size_t)p);
                dn_generate(5 + si, s.P, s.R, s.C, 0.1, cl_all, no_all, NULL, 0);
                int b2[2] = {s.P - 1, 0};
                for (int k = 0; k < 2; k++) {
                    memcpy(cl + k * N, cl_all + b2[k] * N, N * sizeof *cl);
                    memcpy(no + k * N, no_all + b2[k] * N, N * sizeof *no);
                    memcpy(xs + k * N, x + b2[k] * N, N * sizeof *xs);
                }
                dn_model *Ms;
                EXPECT(dn_model_new((dn_reg)reg, 2, s.R, s.C, no, cl, &Ms, NULL, 0) == BL_OK, "subset model");
                double fb, fs, lb[2], ls[2], sc = s.P / 2.0;
                dn_ref_G(M, x, la, b2, 2, &fb, NULL, lb, NULL, 0);
                dn_ref_G(Ms, xs, la, NULL, 0, &fs, NULL, ls, NULL, 0);
                EXPECT(fabs(fb - sc * fs) <= 1e-13 * fabs(fb) && fabs(lb[0] - sc * ls[0]) <= 1e-13 * fabs(lb[0]),
                       "%s: batch G %.17g vs subset %.17g", label, fb, sc * fs);
                dn_ref_F(M, x, la, b2, 2, &fb, NULL, NULL, NULL, 0);
                dn_ref_F(Ms, xs, la, NULL, 0, &fs, NULL, NULL, NULL, 0);
                EXPECT(fabs(fb - fs) <= 1e-13 * fabs(fb), "%s: batch F %.17g vs subset %.17g", label, fb, fs);
                dn_model_free(Ms);
                free(cl), free(no), free(xs), free(cl_all), free(no_all);
            }
            free(x);
            dn_model_free(M);
        }
}

/* TV: at a constant signal every difference is 0 and φ'' = ε^{−1/2}, so
 * the top eigenvalue is 1 + e^{λ₁}ε^{−1/2}·λ_max(∇ᵀ∇), and λ_max(∇ᵀ∇) =
 * 2 + 2cos(π/N) → 4: L must be attained within 0.1% for N = 64. */
static void test_tv_tight(t_rng *r)
{
    shape s = {1, 1, 64};
    dn_model *M = make(r, DN_TV, s, 0.1, 9);
    bl_problem pb = dn_problem(M);
    double x[64], la[2] = {-1.0, -2.0}, obs[3];
    for (int j = 0; j < 64; j++)
        x[j] = 0.3;
    bl_constants k = mc_check_constants_obs(&pb, dn_reference(M), x, la, r, "tv tight", obs);
    EXPECT(k.L <= obs[1] * 1.001, "TV L %.10g not attained: top eigenvalue %.10g", k.L, obs[1]);
    dn_model_free(M);
}

static void test_tikhonov_exact(t_rng *r)
{
    shape shapes[2] = {{2, 1, 20}, {2, 4, 7}};
    for (int si = 0; si < 2; si++) {
        shape s = shapes[si];
        dn_model *M = make(r, DN_TIKHONOV, s, 0.2, 21 + si);
        md_reference ref = dn_reference(M);
        int p = s.P * s.R * s.C;
        double *x = mc_vec((size_t)p), *xd = mc_vec((size_t)p), *H = mc_vec((size_t)p * p), la[1] = {-0.7};
        char msg[256];
        EXPECT(dn_tikhonov_solve(M, la, x, msg, sizeof msg) == BL_OK, "%s", msg);
        /* Independent: x = H⁻¹y by Cholesky of the Hessian built from the
         * reference (H is constant; ∇G(0) = −y gives the right-hand side). */
        double *zero = mc_vec((size_t)p);
        mc_dense_hessian(ref, p, 1, zero, la, H, NULL);
        ref.G(M, zero, la, NULL, 0, NULL, xd, NULL, NULL, 0);
        free(zero);
        cblas_dscal(p, -1.0, xd, 1);
        EXPECT(md_cholesky(p, H, NULL, 0) == BL_OK, "Tikhonov Hessian not SPD");
        md_cholesky_solve(p, H, xd);
        EXPECT(t_relerr(x, xd, (size_t)p, 1e-300) < 1e-12, "%dx%d: cosine solve vs Cholesky: rel %.3g", s.R,
               s.C, t_relerr(x, xd, (size_t)p, 1e-300));
        double f, g[1], fp, fm, h = 1e-4, gd[1], fd;
        EXPECT(dn_tikhonov_hypergrad(M, la, &f, g, NULL, msg, sizeof msg) == BL_OK, "%s", msg);
        double lp[1] = {la[0] + h}, lm[1] = {la[0] - h};
        dn_tikhonov_hypergrad(M, lp, &fp, NULL, NULL, NULL, 0);
        dn_tikhonov_hypergrad(M, lm, &fm, NULL, NULL, NULL, 0);
        EXPECT(fabs(g[0] - (fp - fm) / (2 * h)) <= 1e-7 * fabs(g[0]), "Tikhonov hypergradient %.12g vs FD %.12g",
               g[0], (fp - fm) / (2 * h));
        mc_dense_hypergrad(ref, p, 1, x, la, gd, &fd);
        EXPECT(fabs(g[0] - gd[0]) <= 1e-10 * fabs(g[0]) && fabs(f - fd) <= 1e-13 * f,
               "Tikhonov hypergradient %.15g vs dense solve %.15g", g[0], gd[0]);
        free(x), free(xd), free(H);
        dn_model_free(M);
    }
}

/* h(λ) for TV by Newton from the noisy signal. */
static double tv_h(dn_model *M, md_reference ref, int p, const double *la, const double *noisy, double *x)
{
    memcpy(x, noisy, (size_t)p * sizeof *x);
    double gn = mc_newton(ref, p, 2, x, la);
    EXPECT(gn < 1e-12, "TV Newton stopped at |grad| %.3g", gn);
    double f;
    ref.F(M, x, la, NULL, 0, &f, NULL, NULL, NULL, 0);
    return f;
}

static void test_tv_hypergrad(t_rng *r)
{
    shape s = {2, 4, 5};
    int p = s.P * s.R * s.C;
    double *clean = mc_vec((size_t)p), *noisy = mc_vec((size_t)p), *x = mc_vec((size_t)p);
    dn_generate(31, s.P, s.R, s.C, 0.15, clean, noisy, NULL, 0);
    dn_model *M;
    EXPECT(dn_model_new(DN_TV, s.P, s.R, s.C, noisy, clean, &M, NULL, 0) == BL_OK, "TV model");
    md_reference ref = dn_reference(M);
    double la[2] = {-2.0, -3.0}, hg[2], f;
    tv_h(M, ref, p, la, noisy, x);
    mc_dense_hypergrad(ref, p, 2, x, la, hg, &f);
    for (int j = 0; j < 2; j++) {
        double h = 1e-4, lp[2] = {la[0], la[1]}, lm[2] = {la[0], la[1]};
        lp[j] += h;
        lm[j] -= h;
        double fd = (tv_h(M, ref, p, lp, noisy, x) - tv_h(M, ref, p, lm, noisy, x)) / (2 * h);
        EXPECT(fabs(hg[j] - fd) <= 1e-6 * fmax(fabs(hg[0]), fabs(hg[1])),
               "TV hypergradient[%d] %.12g vs FD of h %.12g", j, hg[j], fd);
    }
    (void)r;
    dn_model_free(M);
    free(clean), free(noisy), free(x);
}

static void test_generator(void)
{
    enum { P = 30, N = 200 };
    double *c = mc_vec(P * N), *y = mc_vec(P * N), *c2 = mc_vec(P * N), *y2 = mc_vec(P * N);
    EXPECT(dn_generate(4, P, 1, N, 0.25, c, y, NULL, 0) == BL_OK, "1-D generation");
    dn_generate(4, P, 1, N, 0.25, c2, y2, NULL, 0);
    EXPECT(!memcmp(c, c2, P * N * sizeof *c) && !memcmp(y, y2, P * N * sizeof *y), "not deterministic");
    int ok = 1, maxj = 0;
    double ss = 0;
    for (int k = 0; k < P; k++) {
        int jumps = 0;
        for (int j = 0; j < N; j++) {
            double v = c[k * N + j];
            ok &= v >= 0 && v < 1;
            jumps += j > 0 && v != c[k * N + j - 1];
            ss += (y[k * N + j] - v) * (y[k * N + j] - v);
        }
        maxj = jumps > maxj ? jumps : maxj;
    }
    double sd = sqrt(ss / (P * N));
    EXPECT(ok && maxj >= 1 && maxj <= 6, "1-D signals: levels in [0,1) %d, at most %d jumps", ok, maxj);
    EXPECT(fabs(sd - 0.25) < 0.01, "noise sd %.4f, expected 0.25", sd);
    /* 2-D: background plus at most 4 rectangles → at most 5 levels. */
    EXPECT(dn_generate(8, 3, 10, 12, 0.0, c, y, NULL, 0) == BL_OK && !memcmp(c, y, 360 * sizeof *c),
           "2-D generation (sigma 0)");
    int worst = 0;
    for (int k = 0; k < 3; k++) {
        double lv[200];
        int nl = 0;
        for (int j = 0; j < 120; j++) {
            int seen = 0;
            for (int q = 0; q < nl; q++)
                seen |= lv[q] == c[k * 120 + j];
            if (!seen)
                lv[nl++] = c[k * 120 + j];
        }
        worst = nl > worst ? nl : worst;
    }
    EXPECT(worst >= 1 && worst <= 5, "2-D image with %d levels", worst);
    char msg[256];
    EXPECT(dn_generate(1, 1, 1, 1, 0.1, c, y, msg, sizeof msg) == BL_EINVAL, "1x1 signal");
    EXPECT(dn_generate(1, 1, 1, 5, -0.1, c, y, msg, sizeof msg) == BL_EINVAL, "negative sigma");
    dn_model *M = (dn_model *)&msg;
    y[3] = NAN;
    EXPECT(dn_model_new(DN_TV, 1, 1, 10, y, c, &M, msg, sizeof msg) == BL_ENONFINITE && !M &&
               strstr(msg, "noisy[3]"),
           "NaN signal: %s", msg);
    y[3] = 0;
    EXPECT(dn_model_new(DN_TV, 1, 1, 10, y, c, &M, msg, sizeof msg) == BL_OK, "%s", msg);
    double la[2] = {0, 0};
    EXPECT(dn_tikhonov_solve(M, la, y2, msg, sizeof msg) == BL_EINVAL, "Tikhonov solve on a TV model");
    dn_model_free(M);
    dn_model_free(NULL);
    free(c), free(y), free(c2), free(y2);
}

int main(void)
{
    t_rng r = {0xde0};
    test_oracles(&r);
    test_tv_tight(&r);
    test_tikhonov_exact(&r);
    test_tv_hypergrad(&r);
    test_generator();
    return t_done();
}
