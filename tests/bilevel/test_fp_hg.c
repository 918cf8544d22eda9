/*
 * tests/bilevel/test_fp_hg.c — fixed-point hypergradients against
 * independent truths:
 *   - the linear map: θ*, u* and ∇h in closed form (dense solves written in
 *     the test) for ift (GMRES, BiCGStab, fixed), exact, shine-refine;
 *   - the tanh map: ift = exact, and both = central differences of h(λ)
 *     (each h from a tight root solve);
 *   - unroll converges to ift as K grows (error ≤ C ρ^K·K);
 *   - SHINE equals IFT when Broyden's B is exact: p secant updates along the
 *     coordinate directions with y = (I − A)e_i make H = (I − A)⁻¹;
 *   - jacobian-free is exact when ∂_θf = 0;
 *   - the bound ‖u − u*‖ ≤ ‖residual‖/(1 − ρ) holds for inexact u;
 *   - option checks and messages.
 */
#include "fp_problems.h"

static double hg_at(fp_test *P, const double *la, bl_fp_hg_opts *o, double *hg, bl_fp_diag *d)
{
    bl_status st;
    bl_fphg *h = bl_fphg_new(&P->pb, o, &st);
    if (!h)
        return NAN;
    st = bl_fphg_eval(h, la, hg, d);
    bl_fphg_free(h);
    return st == BL_OK ? 0 : (double)st;
}

static void test_linear_truth(void)
{
    fp_test P;
    int p = 20, m = 4;
    fpt_init(&P, p, m, 0, 0.9, 41);
    double la[4] = {0.5, -1, 0.25, 2}, th[20], u[20], hg[4], est[4];
    ref_linear_truth(&P, la, th, u, hg);
    struct { bl_fp_method m; bl_fp_linear l; } cases[] = {
        {BL_FP_IFT, BL_FP_LIN_GMRES}, {BL_FP_IFT, BL_FP_LIN_BICGSTAB}, {BL_FP_IFT, BL_FP_LIN_FIXED},
        {BL_FP_EXACT, 0}, {BL_FP_SHINE_REFINE, BL_FP_LIN_GMRES}};
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        bl_fp_hg_opts o = {.method = cases[c].m, .linear = cases[c].l, .root_tol = 1e-12,
                           .root_iters = 1000, .linear_iters = 1000};
        bl_fp_diag d;
        bl_status st;
        bl_fphg *h = bl_fphg_new(&P.pb, &o, &st);
        st = bl_fphg_eval(h, la, est, &d);
        double e = t_relerr(est, hg, m, 1e-300);
        EXPECT(st == BL_OK && e < 1e-9, "%s/%s linear vs closed form: status %d (%s) error %g",
               bl_fp_method_name(cases[c].m), bl_fp_linear_name(cases[c].l), st, bl_fphg_message(h), e);
        EXPECT(t_relerr(bl_fphg_theta(h), th, p, 1e-300) < 1e-10, "theta* %g",
               t_relerr(bl_fphg_theta(h), th, p, 1e-300));
        EXPECT(t_relerr(bl_fphg_u(h), u, p, 1e-300) < 1e-9, "u* %g", t_relerr(bl_fphg_u(h), u, p, 1e-300));
        EXPECT(d.produced && d.forward_stop == BL_STOP_TOL && d.backward_residual < 1e-8 &&
                   d.backward_products >= 1,
               "diag: stop %d residual %g products %ld", d.forward_stop, d.backward_residual,
               d.backward_products);
        if (cases[c].m == BL_FP_EXACT)
            EXPECT(d.counts.jvp == p && d.backward_products == p + 1,
                   "exact: p JVPs and one VJP (%ld, %ld)", d.counts.jvp, d.backward_products);
        bl_fphg_free(h);
    }
    fpt_free(&P);
}

/* h(λ) = L(θ*(λ), λ) from a tight root solve. */
static double h_value(fp_test *P, const double *la)
{
    bl_fp_oracle *o = bl_fp_oracle_new(&P->pb, 0);
    bl_root *s = bl_root_new(bl_root_broyden, o, NULL, NULL);
    bl_root_set(s, NULL, la);
    bl_root_solve(s, 1e-14, 500);
    double v = NAN;
    bl_fp_oracle_loss(o, bl_root_theta(s), la, &v, NULL, NULL);
    bl_root_free(s);
    bl_fp_oracle_free(o);
    return v;
}

static void test_tanh_fd(void)
{
    fp_test P;
    int m = 3;
    fpt_init(&P, 15, m, 1, 0.85, 42);
    double la[3] = {0.3, -0.4, 0.8}, ift[3], ex[3], fd[3];
    bl_fp_hg_opts o = {.method = BL_FP_IFT, .root_tol = 1e-13};
    EXPECT(hg_at(&P, la, &o, ift, NULL) == 0, "ift on tanh");
    o.method = BL_FP_EXACT;
    EXPECT(hg_at(&P, la, &o, ex, NULL) == 0, "exact on tanh");
    EXPECT(t_relerr(ift, ex, m, 1e-300) < 1e-9, "ift = exact on tanh: %g", t_relerr(ift, ex, m, 1e-300));
    const double h = 1e-5;
    for (int k = 0; k < m; k++) {
        double lp[3], lm[3];
        memcpy(lp, la, sizeof lp);
        memcpy(lm, la, sizeof lm);
        lp[k] += h;
        lm[k] -= h;
        fd[k] = (h_value(&P, lp) - h_value(&P, lm)) / (2 * h);
    }
    EXPECT(t_relerr(ift, fd, m, 1e-300) < 1e-7, "ift vs central differences of h: %g",
           t_relerr(ift, fd, m, 1e-300));
    fpt_free(&P);
}

static void test_unroll_to_ift(void)
{
    fp_test P;
    int m = 3;
    fpt_init(&P, 15, m, 1, 0.7, 43);
    double la[3] = {0.2, 0.1, -0.5}, ift[3], un[3];
    bl_fp_hg_opts o = {.method = BL_FP_IFT, .root_tol = 1e-14};
    hg_at(&P, la, &o, ift, NULL);
    double prev = INFINITY;
    int mono = 1;
    double e40 = NAN;
    for (int K = 5; K <= 40; K += 5) {
        bl_fp_hg_opts ou = {.method = BL_FP_UNROLL, .root_iters = K};
        bl_fp_diag d;
        EXPECT(hg_at(&P, la, &ou, un, &d) == 0 && d.forward_iters == K && d.counts.vjp == K,
               "unroll K = %d runs K steps and K VJPs (%d, %ld)", K, d.forward_iters, d.counts.vjp);
        double e = t_relerr(un, ift, m, 1e-300);
        if (!(e < prev) && prev > 1e-10) /* until the rounding floor */
            mono = 0;
        /* ‖θ_K − θ*‖ and the truncated adjoint series both shrink like ρ^K */
        EXPECT(e <= 10.0 * (K + 1) * pow(0.7, K), "unroll K = %d error %g <= 10(K+1)rho^K = %g", K, e,
               10.0 * (K + 1) * pow(0.7, K));
        prev = e;
        e40 = e;
    }
    EXPECT(mono && e40 < 1e-5, "unroll error decreases in K to %g", e40);
    /* damping β: unroll differentiates the damped steps and still converges */
    bl_fp_hg_opts ou = {.method = BL_FP_UNROLL, .root_iters = 120, .damping = 0.5};
    hg_at(&P, la, &ou, un, NULL);
    EXPECT(t_relerr(un, ift, m, 1e-300) < 1e-8, "damped unroll (beta 0.5, K 120) = ift: %g",
           t_relerr(un, ift, m, 1e-300));
    fpt_free(&P);
}

static void test_shine_exact_B(void)
{
    fp_test P;
    int p = 12, m = 3;
    fpt_init(&P, p, m, 0, 0.9, 44);
    double la[3] = {1, 0.5, -0.5}, th[12], u[12], hg[3];
    ref_linear_truth(&P, la, th, u, hg);
    bl_fp_oracle *o = bl_fp_oracle_new(&P.pb, 0);
    bl_root_opts ro = {0, 100, 0, 0};
    bl_root *s = bl_root_new(bl_root_broyden, o, &ro, NULL);
    bl_root_set(s, NULL, la);
    /* p secant pairs s_i = e_i, y_i = (I − A)e_i: orthogonal steps make the
     * good-Broyden B (hence H = B⁻¹) exact: B_k − (I − A) vanishes on e_0..e_{k−1} */
    double e[12], y[12];
    for (int i = 0; i < p; i++) {
        memset(e, 0, sizeof e);
        e[i] = 1;
        for (int r = 0; r < p; r++)
            y[r] = (r == i) - P.A[r * p + i];
        bl_root_broyden_update(s, e, y);
    }
    /* SHINE on the exact θ*: u = Hᵀ∇_θL(θ*) */
    double b[12], us[12];
    for (int i = 0; i < p; i++)
        b[i] = th[i] - P.y[i];
    bl_root_broyden_apply(s, 1, b, us);
    EXPECT(t_relerr(us, u, p, 1e-300) < 1e-10, "SHINE with exact B: u = IFT's u (%g)",
           t_relerr(us, u, p, 1e-300));
    bl_root_free(s);
    bl_fp_oracle_free(o);
    /* and through the context: Broyden to convergence, then shine vs truth is
     * approximate, shine-refine exact */
    bl_fp_hg_opts oo = {.method = BL_FP_SHINE, .root_tol = 1e-12, .memory = 100};
    double hs[3], hr[3];
    bl_fp_diag d;
    hg_at(&P, la, &oo, hs, &d);
    EXPECT(d.produced && d.backward_products == 1, "shine costs one VJP: %ld", d.backward_products);
    oo.method = BL_FP_SHINE_REFINE;
    hg_at(&P, la, &oo, hr, NULL);
    EXPECT(t_relerr(hr, hg, m, 1e-300) < 1e-9, "shine-refine = truth: %g", t_relerr(hr, hg, m, 1e-300));
    printf("shine (Broyden's own B after %d iterations) relative error %.3g\n", d.forward_iters,
           t_relerr(hs, hg, m, 1e-300));
    fpt_free(&P);
}

static void test_jacobian_free_and_bound(void)
{
    fp_test P;
    int p = 10, m = 2;
    fpt_init(&P, p, m, 0, 0.5, 45);
    double la[2] = {0.3, 0.7}, th[10], u[10], hg[2], est[2];
    double *A = P.A;
    double Z[100] = {0};
    P.A = Z; /* ∂_θf = 0: u = ∇_θL exactly */
    ref_linear_truth(&P, la, th, u, hg);
    bl_fp_hg_opts o = {.method = BL_FP_JACOBIAN_FREE};
    hg_at(&P, la, &o, est, NULL);
    EXPECT(t_relerr(est, hg, m, 1e-300) < 1e-12, "jacobian-free with df/dtheta = 0: %g",
           t_relerr(est, hg, m, 1e-300));
    P.A = A;
    ref_linear_truth(&P, la, th, u, hg);
    bl_fp_method ms[3] = {BL_FP_JACOBIAN_FREE, BL_FP_SHINE, BL_FP_IFT};
    for (int k = 0; k < 3; k++) {
        bl_fp_hg_opts ob = {.method = ms[k], .root_tol = 1e-13, .linear = BL_FP_LIN_FIXED,
                            .linear_iters = 3, .linear_tol = -1};
        bl_fp_diag d;
        bl_status st;
        bl_fphg *h = bl_fphg_new(&P.pb, &ob, &st);
        st = bl_fphg_eval(h, la, est, &d);
        double eu = 0;
        for (int i = 0; i < p; i++)
            eu += (bl_fphg_u(h)[i] - u[i]) * (bl_fphg_u(h)[i] - u[i]);
        eu = sqrt(eu);
        EXPECT(st == BL_OK && eu > 1e-8 && eu <= d.u_bound && d.u_bound < INFINITY,
               "%s: |u - u*| = %g <= residual/(1 - rho) = %g", bl_fp_method_name(ms[k]), eu, d.u_bound);
        EXPECT(d.rho == 0.5 && fabs(d.u_bound - d.backward_residual / 0.5) < 1e-15, "bound formula");
        bl_fphg_free(h);
    }
    EXPECT(isnan(bl_fp_contraction_bound(1, 1)) && isnan(bl_fp_contraction_bound(1, 0)) &&
               bl_fp_contraction_bound(1, 0.75) == 4,
           "contraction bound edge cases");
    fpt_free(&P);
}

static void test_checks(void)
{
    fp_test P;
    fpt_init(&P, 5, 2, 0, 0.5, 46);
    char msg[256];
    bl_fp_hg_opts o = {.method = BL_FP_UNROLL, .root = bl_root_broyden};
    EXPECT(bl_fphg_check(&P.pb, &o, msg, sizeof msg) == BL_EINVAL && strstr(msg, "fixed"),
           "unroll with broyden refused: %s", msg);
    o = (bl_fp_hg_opts){.method = BL_FP_SHINE, .root = bl_root_anderson};
    EXPECT(bl_fphg_check(&P.pb, &o, msg, sizeof msg) == BL_EINVAL && strstr(msg, "broyden"),
           "shine with anderson refused: %s", msg);
    o = (bl_fp_hg_opts){.method = BL_FP_IFT, .root_iters = 2, .root_tol = 1e-30};
    double la[2] = {1, 1}, hg[2];
    bl_status st;
    bl_fphg *h = bl_fphg_new(&P.pb, &o, &st);
    bl_fp_diag d;
    st = bl_fphg_eval(h, la, hg, &d);
    EXPECT(st == BL_ENOTCONVERGED && d.produced && strstr(bl_fphg_message(h), "broyden"),
           "root cap: ENOTCONVERGED, produced: %s", bl_fphg_message(h));
    bl_fphg_free(h);
    bl_fp_method mm;
    EXPECT(bl_fp_method_from_name("shine-refine", &mm) == BL_OK && mm == BL_FP_SHINE_REFINE &&
               bl_fp_method_from_name("shine2", &mm) == BL_EINVAL,
           "method names");
    fpt_free(&P);
}

int main(void)
{
    test_linear_truth();
    test_tanh_fd();
    test_unroll_to_ift();
    test_shine_exact_B();
    test_jacobian_free_and_bound();
    test_checks();
    return t_done();
}
