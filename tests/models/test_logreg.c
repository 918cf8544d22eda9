/*
 * tests/models/test_logreg.c — binary logistic regression (lr_):
 *   1. the independent PyTorch fixture (tests/data/logreg.*): Newton on the
 *      reference to machine precision gives θ* and F(θ*) to 1e-9, the dense
 *      solve gives the hypergradient to 1e-8 — from the reference and from
 *      the ad recording — for scalar and per-feature λ, CSR and dense;
 *   2. random problems (dense and CSR, scalar and per-feature, with and
 *      without intercept): ad vs reference (1e-10) on the full set and on
 *      minibatches, the reference vs finite differences, the minibatch
 *      reference vs a model built on the subset, certified constants;
 *   3. the free intercept (LR_INTERCEPT_FREE): G against a hand-written
 *      loop, ridge = V minus free = ½V b² exactly (value, ∇_θ, H·v), ad vs
 *      reference and reference vs finite differences (gradient, H·v,
 *      cross), L etc. still bounds, no certified μ (lr_constants is
 *      BL_EINVAL, μ = 0; λ_min(H) → 0 as |b| grows) and bl_hypergrad's
 *      bound labelled "estimated" where the ridge's is "certified";
 *   4. errors: labels, NaN, widths, options.
 * Usage: test_models_logreg DATA_DIR
 */
#include "mcheck.h"

#include <hypertape/models/logreg.h>

static void test_fixture(const char *dir)
{
    char path[1024], msg[256];
    snprintf(path, sizeof path, "%s/logreg.json", dir);
    char *js = j_read(path);
    EXPECT(js != NULL, "cannot read %s", path);
    if (!js)
        return;
    for (int dense = 0; dense < 2; dense++) {
        ds_set tr, va;
        snprintf(path, sizeof path, "%s/logreg.train.svm", dir);
        bl_status st = ds_read_libsvm(path, 8, &tr, msg, sizeof msg);
        EXPECT(st == BL_OK, "read %s: %s", path, msg);
        snprintf(path, sizeof path, "%s/logreg.val.svm", dir);
        st = st == BL_OK ? ds_read_libsvm(path, 8, &va, msg, sizeof msg) : st;
        EXPECT(st == BL_OK, "read %s: %s", path, msg);
        if (st != BL_OK)
            break;
        if (dense) {
            EXPECT(ds_densify(&tr, msg, sizeof msg) == BL_OK, "densify: %s", msg);
            EXPECT(ds_densify(&va, msg, sizeof msg) == BL_OK, "densify: %s", msg);
        }
        EXPECT(tr.n == 120 && tr.d == 8 && va.n == 90, "fixture sizes %dx%d, %d", tr.n, tr.d, va.n);
        const char *c = j_key(js, "cases");
        for (int cs = 0; cs < 2; cs++) {
            c = j_key(c, "reg");
            int per = strncmp(c + strspn(c, " \""), "per-feature", 11) == 0;
            double lam[8], want_th[8], want_f = NAN, want_hg[8], th[8] = {0}, hg[8], hga[8], f;
            int m = j_nums(j_key(c, "lambda"), lam, 8);
            int p = j_nums(j_key(c, "theta_star"), want_th, 8);
            j_nums(j_key(c, "outer_value"), &want_f, 1);
            j_nums(j_key(c, "hypergradient"), want_hg, 8);
            EXPECT(m == (per ? 8 : 1) && p == 8, "fixture case %d: m %d p %d", cs, m, p);
            lr_opts o = {per ? LR_PER_FEATURE : LR_SCALAR, 0, 0};
            lr_model *M;
            st = lr_model_new(&tr, &va, &o, &M, msg, sizeof msg);
            EXPECT(st == BL_OK, "lr_model_new: %s", msg);
            if (st != BL_OK)
                continue;
            bl_problem pb = lr_problem(M);
            md_reference ref = lr_reference(M);
            double gn = mc_newton(ref, 8, m, th, lam);
            mc_dense_hypergrad(ref, 8, m, th, lam, hg, &f);
            mc_ad_dense_hypergrad(&pb, th, lam, hga);
            const char *what = dense ? "dense" : "csr";
            EXPECT(gn < 1e-14, "%s %s: Newton stopped at |grad| %.3g", what, per ? "per" : "scalar", gn);
            EXPECT(t_relerr(th, want_th, 8, 1e-300) < 1e-9, "%s theta* vs PyTorch: rel %.3g", what,
                   t_relerr(th, want_th, 8, 1e-300));
            EXPECT(fabs(f - want_f) < 1e-9 * fabs(want_f), "%s F(theta*) %.17g vs PyTorch %.17g", what,
                   f, want_f);
            EXPECT(t_relerr(hg, want_hg, (size_t)m, 1e-300) < 1e-8,
                   "%s %s hypergradient (reference) vs PyTorch: rel %.3g", what,
                   per ? "per-feature" : "scalar", t_relerr(hg, want_hg, (size_t)m, 1e-300));
            EXPECT(t_relerr(hga, want_hg, (size_t)m, 1e-300) < 1e-8,
                   "%s %s hypergradient (ad) vs PyTorch: rel %.3g", what,
                   per ? "per-feature" : "scalar", t_relerr(hga, want_hg, (size_t)m, 1e-300));
            lr_model_free(M);
        }
        ds_set_free(&tr), ds_set_free(&va);
    }
    free(js);
}

/* Random problems: every comparison of mcheck.h, dense and CSR. */
static void test_random(t_rng *r)
{
    int n = 60, nv = 45, d = 7;
    ds_set trD, trS, vaD, vaS;
    mc_random_set(r, n, d, 0.4, 2, 1, &trD, &trS);
    mc_random_set(r, nv, d, 0.4, 2, 1, &vaD, &vaS);
    for (int k = 0; k < nv * d; k++) /* non-negative validation features: the ‖X‖² bound is */
        vaD.X[k] = fabs(vaD.X[k]);   /* then nearly exact, so L_f is tight at θ = 0 */
    for (int64_t k = 0; k < vaS.rowptr[nv]; k++)
        vaS.val[k] = fabs(vaS.val[k]);
    char msg[256], label[96];
    for (int per = 0; per < 2; per++)
        for (int icpt = 0; icpt < 2; icpt++) {
            lr_opts o = {per ? LR_PER_FEATURE : LR_SCALAR, icpt, icpt ? 0.05 : 0.0};
            lr_model *MD, *MS;
            EXPECT(lr_model_new(&trD, &vaD, &o, &MD, msg, sizeof msg) == BL_OK, "%s", msg);
            EXPECT(lr_model_new(&trS, &vaS, &o, &MS, msg, sizeof msg) == BL_OK, "%s", msg);
            bl_problem pD = lr_problem(MD), pS = lr_problem(MS);
            int p = pD.p, m = pD.m;
            EXPECT(p == d + icpt && m == (per ? d : 1), "sizes p %d m %d", p, m);
            double *th = mc_vec((size_t)p), *la = mc_vec((size_t)m);
            int bi[9], bo[6];
            for (int rep = 0; rep < 2; rep++) {
                mc_fill_normal(r, th, p, 1.0);
                for (int k = 0; k < m; k++)
                    la[k] = t_uniform(r, -3, 1);
                mc_batch(r, n, 9, bi);
                mc_batch(r, nv, 6, bo);
                for (int sp = 0; sp < 2; sp++) {
                    const bl_problem *pb = sp ? &pS : &pD;
                    md_reference ref = lr_reference(sp ? MS : MD);
                    snprintf(label, sizeof label, "logreg %s %s icpt %d", sp ? "csr" : "dense",
                             per ? "per" : "scalar", icpt);
                    mc_compare_ad(pb, ref, th, la, NULL, 0, NULL, 0, r, 1e-10, label);
                    mc_compare_ad(pb, ref, th, la, bi, 9, bo, 6, r, 1e-10, label);
                    mc_check_fd(ref, p, m, th, la, NULL, 0, NULL, 0, r, 1e-5, 1e-6, label);
                    mc_check_fd(ref, p, m, th, la, bi, 9, bo, 6, r, 1e-5, 1e-6, label);
                    bl_constants k = mc_check_constants(pb, ref, th, la, r, label);
                    double *zero = mc_vec((size_t)p); /* σ' = 1/4 everywhere: L and L_f are nearly tight */
                    mc_check_constants(pb, ref, zero, la, r, label);
                    free(zero);
                    double emin = INFINITY;
                    for (int q = 0; q < m; q++)
                        emin = fmin(emin, exp(la[q]));
                    EXPECT(k.mu == (icpt ? fmin(emin, 0.05) : emin), "%s: mu %g", label, k.mu);
                }
                /* Dense and CSR references agree; the minibatch reference
                 * equals the reference of a model built on the subset. */
                md_reference rD = lr_reference(MD), rS = lr_reference(MS);
                double fD, fS, *gD = mc_vec((size_t)p), *gS = mc_vec((size_t)p);
                rD.G(MD, th, la, NULL, 0, &fD, gD, NULL, NULL, 0);
                rS.G(MS, th, la, NULL, 0, &fS, gS, NULL, NULL, 0);
                EXPECT(fabs(fD - fS) < 1e-13 * fabs(fD) && t_relerr(gD, gS, (size_t)p, 1e-300) < 1e-13,
                       "dense vs CSR reference differ");
                ds_set subT, subV;
                EXPECT(ds_subset(&trS, bi, 9, &subT, msg, sizeof msg) == BL_OK, "%s", msg);
                EXPECT(ds_subset(&vaS, bo, 6, &subV, msg, sizeof msg) == BL_OK, "%s", msg);
                lr_model *Msub;
                EXPECT(lr_model_new(&subT, &subV, &o, &Msub, msg, sizeof msg) == BL_OK, "%s", msg);
                double fb, fsub;
                rS.G(MS, th, la, bi, 9, &fb, gD, NULL, NULL, 0);
                rS.G(Msub, th, la, NULL, 0, &fsub, gS, NULL, NULL, 0);
                EXPECT(fabs(fb - fsub) < 1e-13 * fabs(fsub) && t_relerr(gD, gS, (size_t)p, 1e-300) < 1e-13,
                       "batch G vs subset model: %.17g %.17g", fb, fsub);
                rS.F(MS, th, la, bo, 6, &fb, gD, NULL, NULL, 0);
                rS.F(Msub, th, la, NULL, 0, &fsub, gS, NULL, NULL, 0);
                EXPECT(fabs(fb - fsub) < 1e-13 * fabs(fsub) && t_relerr(gD, gS, (size_t)p, 1e-300) < 1e-13,
                       "batch F vs subset model: %.17g %.17g", fb, fsub);
                lr_model_free(Msub);
                ds_set_free(&subT), ds_set_free(&subV);
                free(gD), free(gS);
            }
            free(th), free(la);
            lr_model_free(MD), lr_model_free(MS);
        }
    ds_set_free(&trD), ds_set_free(&trS), ds_set_free(&vaD), ds_set_free(&vaS);
}

/* Where the derivation is tight: θ = 0 (σ' = 1/4 for every sample) and
 * non-negative features (the ‖X̃‖² bound is then nearly exact): L and L_f
 * must be attained within 0.1%, and μ exactly (feature 0 is all zeros, so
 * e_0 is an eigenvector of H with eigenvalue e^λ). */
static void test_tight(t_rng *r)
{
    int n = 40, d = 6;
    ds_set tr, va;
    mc_random_set(r, n, d, 0.7, 2, 1, &tr, NULL);
    mc_random_set(r, n, d, 0.7, 2, 1, &va, NULL);
    for (int i = 0; i < n * d; i++)
        tr.X[i] = (i % d == 0) ? 0.0 : fabs(tr.X[i]), va.X[i] = fabs(va.X[i]);
    for (int icpt = 0; icpt < 2; icpt++) {
        lr_opts o = {LR_SCALAR, icpt, exp(-1.0)}; /* r_b = e^λ: a uniform penalty */
        lr_model *M;
        char msg[256];
        EXPECT(lr_model_new(&tr, &va, &o, &M, msg, sizeof msg) == BL_OK, "%s", msg);
        bl_problem pb = lr_problem(M);
        double th[8] = {0}, la[1] = {-1.0}, obs[3];
        bl_constants k = mc_check_constants_obs(&pb, lr_reference(M), th, la, r, "logreg tight", obs);
        EXPECT(k.L <= obs[1] * 1.001, "L %.10g not attained: top eigenvalue %.10g", k.L, obs[1]);
        EXPECT(k.Lf <= obs[2] * 1.001, "L_f %.10g not attained: top eigenvalue %.10g", k.Lf, obs[2]);
        EXPECT(fabs(obs[0] - k.mu) <= 1e-12, "mu %.15g vs smallest eigenvalue %.15g", k.mu, obs[0]);
        lr_model_free(M);
    }
    ds_set_free(&tr), ds_set_free(&va);
}

/* G of the free intercept by a plain loop over dense rows: (1/n) Σ_i
 * log(1 + exp(−y_i(⟨x_i, w⟩ + b))) + ½ Σ_k e^{λ_k} w_k² (scalar: one λ). */
static double hand_G_free(const ds_set *s, const double *th, const double *la, int per)
{
    int n = s->n, d = s->d;
    double f = 0, reg = 0;
    for (int i = 0; i < n; i++) {
        double z = th[d];
        for (int k = 0; k < d; k++)
            z += s->X[(size_t)i * d + k] * th[k];
        double t = -s->y[i] * z;
        f += t > 0 ? t + log1p(exp(-t)) : log1p(exp(t));
    }
    for (int k = 0; k < d; k++)
        reg += 0.5 * exp(la[per ? k : 0]) * th[k] * th[k];
    return f / n + reg;
}

/* The free intercept against independent truths (see the file comment). */
static void test_free(t_rng *r)
{
    int n = 50, nv = 40, d = 6;
    ds_set trD, trS, vaD, vaS;
    mc_random_set(r, n, d, 0.5, 2, 1, &trD, &trS);
    mc_random_set(r, nv, d, 0.5, 2, 1, &vaD, &vaS);
    char msg[256], label[96];
    for (int per = 0; per < 2; per++)
        for (int sp = 0; sp < 2; sp++) {
            const double V = 0.37;
            lr_opts of = {per ? LR_PER_FEATURE : LR_SCALAR, LR_INTERCEPT_FREE, 0.0};
            lr_opts orr = {per ? LR_PER_FEATURE : LR_SCALAR, LR_INTERCEPT_RIDGE, V};
            lr_model *Mf, *Mr;
            EXPECT(lr_model_new(sp ? &trS : &trD, sp ? &vaS : &vaD, &of, &Mf, msg, sizeof msg) == BL_OK,
                   "free: %s", msg);
            EXPECT(lr_model_new(sp ? &trS : &trD, sp ? &vaS : &vaD, &orr, &Mr, msg, sizeof msg) == BL_OK,
                   "ridge: %s", msg);
            snprintf(label, sizeof label, "logreg free %s %s", sp ? "csr" : "dense",
                     per ? "per" : "scalar");
            bl_problem pf = lr_problem(Mf), pr = lr_problem(Mr);
            md_reference rf = lr_reference(Mf), rr = lr_reference(Mr);
            int p = pf.p, m = pf.m;
            EXPECT(p == d + 1 && pr.p == p && m == (per ? d : 1), "%s: p %d m %d", label, p, m);
            double *th = mc_vec((size_t)p), *la = mc_vec((size_t)m), *v = mc_vec((size_t)p);
            double *g1 = mc_vec((size_t)p), *g2 = mc_vec((size_t)p);
            double *h1 = mc_vec((size_t)p), *h2 = mc_vec((size_t)p);
            int bi[9], bo[6];
            for (int rep = 0; rep < 2; rep++) {
                mc_fill_normal(r, th, p, 1.0);
                th[d] = rep ? -2.5 : 1.5; /* b well away from 0 */
                for (int k = 0; k < m; k++)
                    la[k] = t_uniform(r, -3, 1);
                mc_batch(r, n, 9, bi);
                mc_batch(r, nv, 6, bo);
                mc_compare_ad(&pf, rf, th, la, NULL, 0, NULL, 0, r, 1e-10, label);
                mc_compare_ad(&pf, rf, th, la, bi, 9, bo, 6, r, 1e-10, label);
                mc_check_fd(rf, p, m, th, la, NULL, 0, NULL, 0, r, 1e-5, 1e-6, label);
                mc_check_fd(rf, p, m, th, la, bi, 9, bo, 6, r, 1e-5, 1e-6, label);
                double ff, fr;
                rf.G(Mf, th, la, NULL, 0, &ff, g1, NULL, NULL, 0);
                rr.G(Mr, th, la, NULL, 0, &fr, g2, NULL, NULL, 0);
                double hand = hand_G_free(&trD, th, la, per), b = th[d];
                EXPECT(fabs(ff - hand) <= 1e-13 * fabs(hand), "%s: G %.17g vs hand loop %.17g", label,
                       ff, hand);
                /* ridge = V adds exactly ½V b² to G, V b to ∂G/∂b, V v_b to (Hv)_b */
                double dv = fr - ff, want = 0.5 * V * b * b;
                EXPECT(fabs(dv - want) <= 4e-16 * fmax(fabs(fr), 1.0), "%s: G_ridge - G_free %.17g "
                       "vs V b^2/2 %.17g", label, dv, want);
                for (int k = 0; k < d; k++)
                    EXPECT(g1[k] == g2[k], "%s: d/dw_%d differs (%.17g vs %.17g)", label, k, g1[k], g2[k]);
                EXPECT(fabs(g2[d] - g1[d] - V * b) <= 1e-15 * fmax(1.0, fabs(g2[d])),
                       "%s: dG/db ridge - free %.17g vs V b %.17g", label, g2[d] - g1[d], V * b);
                mc_fill_normal(r, v, p, 1.0);
                rf.hvp(Mf, th, la, NULL, 0, v, h1, NULL, NULL, 0);
                rr.hvp(Mr, th, la, NULL, 0, v, h2, NULL, NULL, 0);
                for (int k = 0; k < d; k++)
                    EXPECT(h1[k] == h2[k], "%s: (Hv)_%d differs", label, k);
                EXPECT(fabs(h2[d] - h1[d] - V * v[d]) <= 1e-15 * fmax(1.0, fabs(h2[d])),
                       "%s: (Hv)_b ridge - free %.17g vs V v_b %.17g", label, h2[d] - h1[d], V * v[d]);
                /* the same through the ad recording */
                double fa1, fa2;
                if (mc_ad_eval(&pf, 0, th, la, NULL, 0, &fa1, g1, NULL) &&
                    mc_ad_eval(&pr, 0, th, la, NULL, 0, &fa2, g2, NULL))
                    EXPECT(fabs(fa2 - fa1 - want) <= 4e-16 * fmax(fabs(fa2), 1.0) &&
                               fabs(g2[d] - g1[d] - V * b) <= 1e-15 * fmax(1.0, fabs(g2[d])),
                           "%s: ad G_ridge - G_free %.17g vs %.17g", label, fa2 - fa1, want);
                /* constants: no certified μ; the upper ones still bound H */
                bl_constants k = {0}, kr = {0};
                EXPECT(pf.constants(la, &k, pf.ctx) == BL_EINVAL && !k.certified && k.mu == 0.0,
                       "%s: constants must be uncertified with mu 0 (certified %d, mu %g)", label,
                       k.certified, k.mu);
                EXPECT(lr_constants(Mr, la, &kr) == BL_OK && kr.certified, "%s: ridge certified", label);
                double emin = INFINITY, emax = 0;
                for (int q = 0; q < m; q++)
                    emin = fmin(emin, exp(la[q])), emax = fmax(emax, exp(la[q]));
                EXPECT(kr.mu == fmin(emin, V) && fabs(kr.L - k.L - fmax(emax, V) + emax) <= 1e-15 * kr.L,
                       "%s: ridge mu %g, L %g vs free L %g", label, kr.mu, kr.L, k.L);
                EXPECT(k.Lf == kr.Lf && k.LH == kr.LH && k.LB == kr.LB && k.LFlam == 0.0,
                       "%s: L_f, L_H, L_B must not depend on the intercept's penalty", label);
                double *H = mc_vec((size_t)p * p), lo, hi;
                for (int far = 0; far < 2; far++) {
                    double keep = th[d];
                    th[d] = far ? 40.0 : keep; /* every |s_i| large: σ'(s_i) < 1e-13 */
                    mc_dense_hessian(rf, p, m, th, la, H, NULL);
                    mc_eig_range(p, H, &lo, &hi);
                    EXPECT(hi <= k.L * (1 + 1e-12), "%s: top eigenvalue %.17g > L %.17g", label, hi, k.L);
                    EXPECT(lo > 0, "%s: H not positive definite (%.3g)", label, lo);
                    if (far) /* no μ > 0 holds for every θ: min(e^λ) would be wrong here */
                        EXPECT(lo < 1e-6 * emin, "%s: smallest eigenvalue %.3g at b = 40 (e^lambda_min "
                               "%.3g)", label, lo, emin);
                    th[d] = keep;
                }
                free(H);
            }
            /* Through the library: the hypergradient matches a dense solve
             * at θ* (Newton), and the bound is labelled estimated (free)
             * and certified (ridge). */
            memset(th, 0, (size_t)p * sizeof *th);
            for (int k = 0; k < m; k++)
                la[k] = -2.0;
            double gn = mc_newton(rf, p, m, th, la), f, *hg = mc_vec((size_t)m), *hl = mc_vec((size_t)m);
            mc_dense_hypergrad(rf, p, m, th, la, hg, &f);
            EXPECT(gn < 1e-13, "%s: Newton stopped at %.3g", label, gn);
            for (int w = 0; w < 2; w++) {
                bl_hg_opts o = {.method = BL_IFT_CG, .inner_tol = 1e-12, .linear_tol = 1e-12};
                bl_diag dg;
                bl_status st = bl_hypergrad(w ? &pr : &pf, la, &o, hl, &dg, msg, sizeof msg);
                EXPECT(st == BL_OK, "%s: bl_hypergrad: %s", label, msg);
                if (!w)
                    EXPECT(t_relerr(hl, hg, (size_t)m, 1e-300) < 1e-8, "%s: ift-cg vs dense: rel %.3g",
                           label, t_relerr(hl, hg, (size_t)m, 1e-300));
                EXPECT(isfinite(dg.bound_a_posteriori) && dg.bound_certified == w &&
                           dg.constants_estimated == !w &&
                           !strcmp(bl_bound_label(&dg), w ? "certified" : "estimated"),
                       "%s %s: bound %.3g labelled %s (constants_estimated %d)", label,
                       w ? "ridge" : "free", dg.bound_a_posteriori, bl_bound_label(&dg),
                       dg.constants_estimated);
                if (!w) /* the estimate bounds the true error here */
                    EXPECT(t_relerr(hl, hg, (size_t)m, 1e-300) * cblas_dnrm2(m, hg, 1) <=
                               dg.bound_a_posteriori + 1e-12,
                           "%s: error above the estimated bound %.3g", label, dg.bound_a_posteriori);
            }
            free(hg), free(hl);
            free(th), free(la), free(v), free(g1), free(g2), free(h1), free(h2);
            lr_model_free(Mf), lr_model_free(Mr);
        }
    ds_set_free(&trD), ds_set_free(&trS), ds_set_free(&vaD), ds_set_free(&vaS);
}

static void test_errors(t_rng *r)
{
    ds_set tr, va, narrow;
    mc_random_set(r, 20, 5, 0.5, 2, 1, &tr, NULL);
    mc_random_set(r, 10, 5, 0.5, 2, 1, &va, NULL);
    mc_random_set(r, 10, 4, 0.5, 2, 1, &narrow, NULL);
    char msg[256];
    lr_model *M = (lr_model *)&msg; /* must be reset to NULL on failure */
    EXPECT(lr_model_new(&tr, &narrow, NULL, &M, msg, sizeof msg) == BL_EINVAL && M == NULL &&
               strstr(msg, "20x5") && strstr(msg, "10x4"),
           "width mismatch: %s", msg);
    tr.y[4] = 0.0;
    EXPECT(lr_model_new(&tr, &va, NULL, &M, msg, sizeof msg) == BL_EINVAL && strstr(msg, "y[4]"),
           "label 0: %s", msg);
    tr.y[4] = 1.0;
    va.X[7] = NAN;
    EXPECT(lr_model_new(&tr, &va, NULL, &M, msg, sizeof msg) == BL_ENONFINITE && strstr(msg, "val"),
           "NaN in val: %s", msg);
    va.X[7] = 0.5;
    lr_opts bad = {LR_SCALAR, 1, -1.0};
    EXPECT(lr_model_new(&tr, &va, &bad, &M, msg, sizeof msg) == BL_EINVAL, "negative intercept_reg");
    bad = (lr_opts){LR_SCALAR, LR_INTERCEPT_FREE, 0.5};
    EXPECT(lr_model_new(&tr, &va, &bad, &M, msg, sizeof msg) == BL_EINVAL && strstr(msg, "free") &&
               M == NULL,
           "free intercept with intercept_reg: %s", msg);
    bad = (lr_opts){LR_SCALAR, 3, 0};
    EXPECT(lr_model_new(&tr, &va, &bad, &M, msg, sizeof msg) == BL_EINVAL && strstr(msg, "got 3"),
           "intercept 3: %s", msg);
    bad = (lr_opts){(lr_reg)7, 0, 0};
    EXPECT(lr_model_new(&tr, &va, &bad, &M, msg, sizeof msg) == BL_EINVAL, "unknown reg");
    EXPECT(lr_model_new(NULL, &va, NULL, &M, msg, sizeof msg) == BL_EINVAL, "NULL train");
    EXPECT(lr_model_new(&tr, &va, NULL, &M, msg, sizeof msg) == BL_OK && msg[0] == 0, "valid: %s", msg);
    /* A bad batch index: the tape records it; the reference reports it. */
    bl_problem pb = lr_problem(M);
    ad_tape *t = ad_tape_new(NULL);
    int b[2] = {3, 20};
    ad_var y = pb.G(t, ad_leaf(t, 5, 1, NULL), ad_leaf(t, 1, 1, NULL), b, 2, pb.ctx);
    EXPECT(!ad_ok(y) && ad_tape_status(t) == AD_EINVAL, "bad batch index on the tape");
    ad_tape_free(t);
    double th[5] = {0}, la[1] = {0}, f;
    EXPECT(lr_ref_G(M, th, la, b, 2, &f, NULL, NULL, msg, sizeof msg) == BL_EINVAL &&
               strstr(msg, "20") && strstr(msg, "position 1"),
           "reference bad batch: %s", msg);
    lr_model_free(M);
    lr_model_free(NULL);
    ds_set_free(&tr), ds_set_free(&va), ds_set_free(&narrow);
}

int main(int argc, char **argv)
{
    t_rng r = {0x10c};
    test_fixture(argc > 1 ? argv[1] : "tests/data");
    test_random(&r);
    test_tight(&r);
    test_free(&r);
    test_errors(&r);
    return t_done();
}
