/*
 * tests/bilevel/test_fp_root.c — the root solvers against independent
 * truths: every solver reaches θ = f(θ) to 1e-10 (checked with f in plain
 * C); the fixed-point iteration obeys Banach's bound ‖θ_k − θ*‖ ≤ ρ^k‖θ_0 − θ*‖;
 * Broyden's inverse update satisfies the secant equation H y = s; good
 * Broyden solves a linear system in at most 2p steps (Gay 1979); the
 * caller-owned loop equals bl_root_solve; bad options are refused.
 */
#include "fp_problems.h"

static double fixed_residual(const fp_test *P, const double *th, const double *la)
{
    double f[64], e = 0;
    ref_f(P, th, la, f);
    for (int i = 0; i < P->p; i++)
        e += (th[i] - f[i]) * (th[i] - f[i]);
    return sqrt(e);
}

static void test_converge(const bl_root_type *T, int nonlinear)
{
    fp_test P;
    fpt_init(&P, 20, 3, nonlinear, 0.9, 21);
    bl_fp_oracle *o = bl_fp_oracle_new(&P.pb, 0);
    bl_status st;
    bl_root *s = bl_root_new(T, o, NULL, &st);
    double la[3] = {0.3, -0.2, 0.5};
    EXPECT(s && bl_root_set(s, NULL, la) == BL_OK, "%s set", T->name);
    st = bl_root_solve(s, 1e-11, 2000);
    EXPECT(st == BL_OK, "%s solve: %s", T->name, bl_fp_oracle_message(o));
    double e = fixed_residual(&P, bl_root_theta(s), la);
    EXPECT(e < 1e-10, "%s (%s) |theta - f(theta)| = %g after %d iterations", T->name,
           nonlinear ? "tanh" : "linear", e, bl_root_iters(s));
    printf("%-9s %-6s iterations %d\n", T->name, nonlinear ? "tanh" : "linear", bl_root_iters(s));
    bl_root_free(s);
    bl_fp_oracle_free(o);
    fpt_free(&P);
}

static void test_banach(void)
{
    fp_test P;
    fpt_init(&P, 15, 2, 1, 0.7, 22);
    bl_fp_oracle *o = bl_fp_oracle_new(&P.pb, 0);
    bl_root_opts ro = {0, 0, 0, 1};
    bl_root *s = bl_root_new(bl_root_fixed, o, &ro, NULL);
    double la[2] = {1, -1}, star[15];
    bl_root_set(s, NULL, la);
    bl_root_solve(s, 1e-14, 500);
    memcpy(star, bl_root_theta(s), sizeof star);
    bl_root_set(s, NULL, la);
    bl_root_solve(s, -1, 30);
    double e0 = 0;
    for (int i = 0; i < 15; i++)
        e0 += star[i] * star[i];
    e0 = sqrt(e0);
    int ok = 1;
    for (int k = 0; k <= 30; k++) {
        const double *th = bl_root_iterate_at(s, k);
        double e = 0;
        for (int i = 0; i < 15; i++)
            e += (th[i] - star[i]) * (th[i] - star[i]);
        if (sqrt(e) > pow(0.7, k) * e0 * (1 + 1e-12) + 1e-15)
            ok = 0;
    }
    EXPECT(ok, "fixed-point iterates obey |theta_k - theta*| <= rho^k |theta_0 - theta*|");
    EXPECT(bl_root_iterate_at(s, 31) == NULL, "no iterate past K");
    bl_root_free(s);
    bl_fp_oracle_free(o);
    fpt_free(&P);
}

static void test_secant_and_gay(void)
{
    fp_test P;
    int p = 12;
    fpt_init(&P, p, 2, 0, 0.95, 23);
    bl_fp_oracle *o = bl_fp_oracle_new(&P.pb, 0);
    bl_root_opts ro = {0, 100, 0, 0};
    bl_root *s = bl_root_new(bl_root_broyden, o, &ro, NULL);
    double la[2] = {0.5, 0.25};
    bl_root_set(s, NULL, la);
    bl_status st = bl_root_solve(s, 1e-9, 2 * p);
    EXPECT(st == BL_OK, "good Broyden solves a linear system in <= 2p = %d steps: %d, |g| = %g",
           2 * p, bl_root_iters(s), bl_root_residual(s));
    /* the secant equation after an explicit update: H y = s */
    t_rng r = {9};
    double sv[12], yv[12], hy[12];
    t_fill(&r, sv, p, -1, 1);
    t_fill(&r, yv, p, -1, 1);
    EXPECT(bl_root_broyden_update(s, sv, yv) == BL_OK, "update");
    bl_root_broyden_apply(s, 0, yv, hy);
    EXPECT(t_relerr(hy, sv, p, 1e-12) < 1e-11, "H y = s: %g", t_relerr(hy, sv, p, 1e-12));
    /* Hᵀ is the transpose of H: <x, H z> = <Hᵀx, z> */
    double x[12], z[12], hz[12], htx[12], a = 0, b = 0;
    t_fill(&r, x, p, -1, 1);
    t_fill(&r, z, p, -1, 1);
    bl_root_broyden_apply(s, 0, z, hz);
    bl_root_broyden_apply(s, 1, x, htx);
    for (int i = 0; i < p; i++) {
        a += x[i] * hz[i];
        b += htx[i] * z[i];
    }
    EXPECT(fabs(a - b) < 1e-12 * fmax(1, fabs(a)), "<x, Hz> = <H^T x, z>: %g vs %g", a, b);
    EXPECT(bl_root_broyden_rank(s) >= 1, "rank %d", bl_root_broyden_rank(s));
    bl_root_free(s);
    /* memory 2: the newest pair still satisfies its secant equation */
    ro.memory = 2;
    s = bl_root_new(bl_root_broyden, o, &ro, NULL);
    bl_root_set(s, NULL, la);
    for (int k = 0; k < 4; k++) {
        t_fill(&r, sv, p, -1, 1);
        t_fill(&r, yv, p, -1, 1);
        bl_root_broyden_update(s, sv, yv);
    }
    bl_root_broyden_apply(s, 0, yv, hy);
    EXPECT(bl_root_broyden_rank(s) == 2 && t_relerr(hy, sv, p, 1e-12) < 1e-11,
           "limited memory: rank %d, H y = s %g", bl_root_broyden_rank(s), t_relerr(hy, sv, p, 1e-12));
    bl_root_free(s);
    bl_fp_oracle_free(o);
    fpt_free(&P);
}

static void test_own_loop_and_errors(void)
{
    fp_test P;
    fpt_init(&P, 10, 2, 1, 0.8, 24);
    bl_fp_oracle *o = bl_fp_oracle_new(&P.pb, 0);
    double la[2] = {0.1, 0.2}, a[10];
    bl_root *s = bl_root_new(bl_root_anderson, o, NULL, NULL);
    bl_root_set(s, NULL, la);
    bl_root_solve(s, 1e-12, 100);
    memcpy(a, bl_root_theta(s), sizeof a);
    int k = bl_root_iters(s);
    bl_root_set(s, NULL, la);
    while (!bl_root_converged(s, 1e-12) && bl_root_iters(s) < 100)
        bl_root_iterate(s);
    EXPECT(bl_root_iters(s) == k && !memcmp(a, bl_root_theta(s), sizeof a),
           "own loop = bl_root_solve (%d vs %d iterations)", bl_root_iters(s), k);
    bl_root_set(s, NULL, la);
    bl_status st = bl_root_solve(s, 1e-30, 3);
    EXPECT(st == BL_ENOTCONVERGED && strstr(bl_fp_oracle_message(o), "anderson") &&
               strstr(bl_fp_oracle_message(o), "3 iterations"),
           "not converged names the solver and iterations: %s", bl_fp_oracle_message(o));
    bl_fp_oracle_clear_error(o);
    EXPECT(bl_root_broyden_apply(s, 0, a, a) == BL_EINVAL, "broyden_apply on anderson refused");
    bl_root_free(s);
    bl_root_opts bad = {1.5, 0, 0, 0};
    st = BL_OK;
    EXPECT(bl_root_new(bl_root_fixed, o, &bad, &st) == NULL && st == BL_EINVAL,
           "damping 1.5 refused: %s", bl_fp_oracle_message(o));
    EXPECT(bl_root_type_from_name("broyden") == bl_root_broyden &&
               bl_root_type_from_name("nope") == NULL,
           "type names");
    bl_fp_oracle_free(o);
    fpt_free(&P);
}

int main(void)
{
    const bl_root_type *T[3] = {bl_root_fixed, bl_root_anderson, bl_root_broyden};
    for (int i = 0; i < 3; i++) {
        test_converge(T[i], 0);
        test_converge(T[i], 1);
    }
    test_banach();
    test_secant_and_gay();
    test_own_loop_and_errors();
    return t_done();
}
