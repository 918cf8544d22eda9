/*
 * tests/bilevel/test_fp_linear.c — the backward linear solves on
 * (I − J)ᵀu = b against a dense Gauss–Jordan solve written in the test:
 * GMRES (with and without restarts), BiCGStab and the fixed-point
 * iteration, on the linear map (J = A) and at a point of the tanh map
 * (J = diag(1 − tanh²)A, built here); GMRES ends in at most p steps;
 * warm start from the solution takes no iteration; a cap gives
 * BL_ENOTCONVERGED; an expanding map diverges under the fixed-point
 * iteration with BL_ENONFINITE.
 */
#include "fp_problems.h"

/* The dense (I − J)ᵀ of the problem at (θ, λ) into M (p×p). */
static void dense_op(const fp_test *P, const double *th, const double *la, double *M)
{
    int p = P->p;
    double d[64];
    for (int i = 0; i < p; i++) {
        double z = P->c0[i];
        for (int j = 0; j < p; j++)
            z += P->A[i * p + j] * th[j];
        for (int j = 0; j < P->m; j++)
            z += P->C[i * P->m + j] * la[j];
        d[i] = P->nonlinear ? 1 - tanh(z) * tanh(z) : 1;
    }
    for (int i = 0; i < p; i++)
        for (int j = 0; j < p; j++)
            M[i * p + j] = (i == j) - d[j] * P->A[j * p + i]; /* (J^T)_ij = J_ji */
}

static void run(int nonlinear, bl_fp_linear method, int restart)
{
    fp_test P;
    int p = 25;
    fpt_init(&P, p, 3, nonlinear, 0.9, 31);
    bl_fp_oracle *o = bl_fp_oracle_new(&P.pb, 0);
    t_rng r = {3};
    double th[25], la[3], b[25], u[25] = {0}, ref[25], M[625];
    t_fill(&r, th, p, -1, 1);
    t_fill(&r, la, 3, -1, 1);
    t_fill(&r, b, p, -1, 1);
    dense_op(&P, th, la, M);
    ref_solve(p, M, b, ref);
    bl_fp_oracle_point(o, th, la, NULL);
    bl_fp_linear_opts lo = {1e-12, 1000, restart};
    bl_fp_linear_result res;
    bl_status st = bl_fp_linear_solve(o, method, b, u, &lo, &res);
    double e = t_relerr(u, ref, p, 1e-300);
    EXPECT(st == BL_OK && e < 1e-10, "%s (restart %d, %s): status %d, error %g, %d iterations",
           bl_fp_linear_name(method), restart, nonlinear ? "tanh" : "linear", st, e, res.iters);
    if (method == BL_FP_LIN_GMRES && restart >= p)
        EXPECT(res.iters <= p, "full GMRES ends in <= p = %d steps: %d", p, res.iters);
    /* the reported residual is the true one to rounding */
    double Mu[25], tr = 0;
    for (int i = 0; i < p; i++) {
        Mu[i] = -b[i];
        for (int j = 0; j < p; j++)
            Mu[i] += M[i * p + j] * u[j];
        tr += Mu[i] * Mu[i];
    }
    EXPECT(fabs(sqrt(tr) - res.residual) < 1e-11, "residual %g vs true %g", res.residual, sqrt(tr));
    /* warm start at the solution */
    st = bl_fp_linear_solve(o, method, b, u, &lo, &res);
    EXPECT(st == BL_OK && res.iters == 0, "%s from the solution: %d iterations",
           bl_fp_linear_name(method), res.iters);
    bl_fp_oracle_free(o);
    fpt_free(&P);
}

static void test_cap_and_divergence(void)
{
    fp_test P;
    fpt_init(&P, 10, 2, 0, 0.9, 32);
    bl_fp_oracle *o = bl_fp_oracle_new(&P.pb, 0);
    double th[10] = {0}, la[2] = {0}, b[10], u[10] = {0};
    for (int i = 0; i < 10; i++)
        b[i] = 1;
    bl_fp_oracle_point(o, th, la, NULL);
    bl_fp_linear_opts lo = {1e-14, 2, 0};
    bl_fp_linear_result res;
    bl_status st = bl_fp_linear_solve(o, BL_FP_LIN_FIXED, b, u, &lo, &res);
    EXPECT(st == BL_ENOTCONVERGED && res.stop == BL_STOP_MAXITER && res.iters == 2 &&
               strstr(bl_fp_oracle_message(o), "fixed"),
           "cap: status %d, %s", st, bl_fp_oracle_message(o));
    bl_fp_oracle_free(o);
    /* an expanding map: A scaled so that ‖A‖ ≥ 3, the Neumann series diverges */
    for (int i = 0; i < 100; i++)
        P.A[i] = (i % 11 == 0) ? 3.0 : 0.0; /* A = 3I: (I − A)ᵀ = −2I, u* = −b/2 */
    o = bl_fp_oracle_new(&P.pb, 0);
    bl_fp_oracle_point(o, th, la, NULL);
    memset(u, 0, sizeof u);
    lo = (bl_fp_linear_opts){1e-12, 100, 0};
    st = bl_fp_linear_solve(o, BL_FP_LIN_FIXED, b, u, &lo, &res);
    EXPECT(st == BL_ENONFINITE && res.stop == BL_STOP_DIVERGED, "fixed on 3I diverges: %d %s", st,
           bl_fp_oracle_message(o));
    bl_fp_oracle_clear_error(o);
    memset(u, 0, sizeof u);
    st = bl_fp_linear_solve(o, BL_FP_LIN_GMRES, b, u, &lo, &res);
    EXPECT(st == BL_OK && fabs(u[3] + 0.5) < 1e-12, "GMRES on 3I: u = -b/2 (%g)", u[3]);
    bl_fp_oracle_free(o);
    fpt_free(&P);
}

int main(void)
{
    for (int nl = 0; nl < 2; nl++) {
        run(nl, BL_FP_LIN_GMRES, 30);
        run(nl, BL_FP_LIN_GMRES, 5);
        run(nl, BL_FP_LIN_BICGSTAB, 0);
        run(nl, BL_FP_LIN_FIXED, 0);
    }
    test_cap_and_divergence();
    return t_done();
}
