/*
 * tests/bilevel/test_custom.c — solver types written outside the library
 * with the public tables of hypertape/solvers.h, and the library's restarts.
 *
 * Ridge (problems.h), H = XᵀX/n + e^λI known densely here:
 *   - "fixed-gd", an inner type defined here (θ ← θ − h∇G with h = 1/L
 *     from the dense eigenvalues), reaches the closed-form θ* through
 *     bl_inner_solve, reports its step, counts its restarts, and works as
 *     the inner solver of bl_hypergrad (ift-cg gives the closed-form ∇h);
 *   - "richardson", a linear type defined here (q ← q − ω(Hq − b), ω = 1/L),
 *     solves H q = b to the dense Cholesky solution via bl_linsolve_solve
 *     with the residual equal to ‖Hq − b‖ computed here;
 *   - library restarts: heavy ball's next step after bl_inner_restart is
 *     the GD step θ − α∇G (plain C), L-BFGS forgets its pairs;
 *   - allocation failures name what was allocated and its size (a type
 *     with an impossible state_size), for inner and linear solvers.
 */
#include "tests/bilevel/problems.h"

#include <stdint.h>
#include <stdio.h>

enum { P = 5 };

static const double LAM = 0.1;
static double fixed_h;    /* 1/L, set by main from the dense eigenvalues */
static int restarts_seen; /* restart calls of the types below */

/* ------------------------------------------------------------ inner type */

typedef struct fgd_state {
    int restarts;
} fgd_state;

static bl_status fgd_set(bl_inner *s, void *state)
{
    bl_inner_set_steps(s, fixed_h, 0.0);
    return BL_OK;
}

static bl_status fgd_iterate(bl_inner *s, void *state)
{
    int p = bl_oracle_problem(bl_inner_oracle(s))->p;
    double *th = bl_inner_theta_mut(s);
    const double *g = bl_inner_grad(s);
    for (int j = 0; j < p; j++)
        th[j] -= fixed_h * g[j];
    return bl_inner_eval(s);
}

static void fgd_restart(bl_inner *s, void *state)
{
    ((fgd_state *)state)->restarts++;
    restarts_seen++;
}

static const bl_inner_type fixed_gd = {.name = "fixed-gd", .state_size = sizeof(fgd_state), .set = fgd_set,
                                       .iterate = fgd_iterate, .restart = fgd_restart};

/* ----------------------------------------------------------- linear type */

typedef struct rich_state {
    int restarts;
} rich_state;

static bl_status rich_set(bl_linsolve *s, void *state)
{
    bl_linsolve_set_steps(s, fixed_h, 0.0);
    return BL_OK;
}

static bl_status rich_iterate(bl_linsolve *s, void *state)
{
    int p = bl_oracle_problem(bl_linsolve_oracle(s))->p;
    double *q = bl_linsolve_q_mut(s);
    const double *r = bl_linsolve_resvec(s);
    for (int j = 0; j < p; j++)
        q[j] -= fixed_h * r[j];
    return bl_linsolve_update_residual(s);
}

static bl_status rich_restart(bl_linsolve *s, void *state)
{
    ((rich_state *)state)->restarts++;
    restarts_seen++;
    return BL_OK;
}

static const bl_linsolve_type richardson = {.name = "richardson", .state_size = sizeof(rich_state),
                                            .set = rich_set, .iterate = rich_iterate, .restart = rich_restart};

/* ------------------------------------------------------------------ tests */

static void dense_H(const ridge *r, double *H)
{
    d_gram(r->n, P, P, r->X, r->X, 1.0 / r->n, H);
    for (int j = 0; j < P; j++)
        H[j * P + j] += exp(LAM);
}

static void test_custom_inner(ridge *r, const bl_problem *pb)
{
    double lam[1] = {LAM}, ths[P], truth[1];
    ridge_truth(r, LAM, ths, truth);
    bl_oracle *o = bl_oracle_new(pb, 0);
    bl_status st;
    bl_inner *s = bl_inner_new(&fixed_gd, o, NULL, &st);
    if (s)
        st = bl_inner_set(s, NULL, lam);
    if (s && st == BL_OK)
        st = bl_inner_solve(s, 1e-11, 10000);
    double d = s ? d_dist(P, bl_inner_theta(s), ths) : NAN;
    printf("fixed-gd: %d iterations, |theta - theta*| = %.2e\n", s ? bl_inner_iters(s) : -1, d);
    EXPECT(s && st == BL_OK && d <= 1e-10 && bl_inner_step(s) == fixed_h &&
               !strcmp(bl_inner_type_name(bl_inner_type_of(s)), "fixed-gd"),
           "fixed-gd: %s, |theta - theta*| %.3e", bl_strerror(st), d);
    restarts_seen = 0;
    EXPECT(s && bl_inner_restart(s) == BL_OK && bl_inner_restart(s) == BL_OK && restarts_seen == 2,
           "fixed-gd: restart called %d times of 2", restarts_seen);
    bl_inner_free(s);

    bl_hg_opts ho = {.method = BL_IFT_CG, .inner = &fixed_gd, .inner_tol = 1e-12, .inner_iters = 10000};
    double hg[1];
    char msg[256] = "";
    st = bl_hypergrad(pb, lam, &ho, hg, NULL, msg, sizeof msg);
    EXPECT(st == BL_OK && fabs(hg[0] - truth[0]) <= 1e-9 * fabs(truth[0]),
           "ift-cg with fixed-gd: %s, hg %.12g vs %.12g (%s)", bl_strerror(st), hg[0], truth[0], msg);
    bl_oracle_free(o);
}

static void test_custom_linear(ridge *r, const bl_problem *pb)
{
    double lam[1] = {LAM}, th[P], b[P], H[P * P], qref[P], hq[P];
    ridge_truth(r, LAM, th, NULL);
    dense_H(r, H);
    bl_oracle *o = bl_oracle_new(pb, 0);
    if (!o || bl_oracle_F(o, NULL, th, lam, NULL, b, NULL) != BL_OK || bl_oracle_point(o, NULL, th, lam) != BL_OK) {
        EXPECT(0, "oracle");
        bl_oracle_free(o);
        return;
    }
    d_chol_solve(P, H, b, qref);
    bl_linear_opts lo = {.tol = 1e-13, .max_iters = 10000};
    bl_linear_result res;
    bl_status st;
    bl_linsolve *s = bl_linsolve_new(&richardson, o, &lo, &st);
    if (s)
        st = bl_linsolve_set(s, b, NULL);
    if (s && st == BL_OK)
        st = bl_linsolve_solve(s, &res);
    if (s && st == BL_OK) {
        d_matvec(P, P, H, bl_linsolve_q(s), hq, 0);
        for (int j = 0; j < P; j++)
            hq[j] -= b[j];
        double e = t_relerr(bl_linsolve_q(s), qref, P, 1e-300);
        printf("richardson: %d iterations, residual %.2e, error %.2e\n", res.iters, res.residual, e);
        EXPECT(res.stop == BL_STOP_TOL && e <= 1e-9 && fabs(res.residual - d_nrm(P, hq)) <= 1e-14 &&
                   res.step == fixed_h && res.iters == bl_linsolve_iters(s),
               "richardson: stop %s, error %.3e, residual %.3e vs %.3e", bl_stop_name(res.stop), e, res.residual,
               d_nrm(P, hq));
        restarts_seen = 0;
        EXPECT(bl_linsolve_restart(s) == BL_OK && restarts_seen == 1, "richardson: restart called %d times of 1",
               restarts_seen);
    } else {
        EXPECT(0, "richardson: %s (%s)", bl_strerror(st), bl_oracle_message(o));
    }
    bl_linsolve_free(s);
    bl_oracle_free(o);
}

/* Library restarts: heavy ball steps like GD right after, L-BFGS drops its pairs. */
static void test_library_restarts(ridge *r, const bl_problem *pb)
{
    double lam[1] = {LAM}, H[P * P], g[P], want[P], th[P], rhs[P];
    dense_H(r, H);
    d_matvec(r->n, P, r->X, r->y, rhs, 1);
    bl_oracle *o = bl_oracle_new(pb, 0);
    bl_inner *s = bl_inner_new(bl_inner_hb, o, NULL, NULL);
    int ok = s && bl_inner_set(s, NULL, lam) == BL_OK && bl_inner_solve(s, -1, 3) == BL_OK &&
             bl_inner_restart(s) == BL_OK;
    if (ok) {
        memcpy(th, bl_inner_theta(s), sizeof th);
        d_matvec(P, P, H, th, g, 0);
        for (int j = 0; j < P; j++)
            want[j] = th[j] - bl_inner_step(s) * (g[j] - rhs[j] / r->n); /* ∇G = Hθ − Xᵀy/n */
        ok = bl_inner_iterate(s) == BL_OK;
    }
    EXPECT(ok && t_relerr(bl_inner_theta(s), want, P, 1e-300) <= 1e-12, "hb after restart: not a GD step (%.3e)",
           ok ? t_relerr(bl_inner_theta(s), want, P, 1e-300) : -1.0);
    bl_inner_free(s);
    s = bl_inner_new(bl_inner_lbfgs, o, NULL, NULL);
    ok = s && bl_inner_set(s, NULL, lam) == BL_OK && bl_inner_solve(s, -1, 3) == BL_OK;
    int before = ok ? bl_inner_lbfgs_pairs(s, NULL, NULL) : -1;
    ok = ok && bl_inner_restart(s) == BL_OK;
    EXPECT(ok && before > 0 && bl_inner_lbfgs_pairs(s, NULL, NULL) == 0, "lbfgs restart: %d pairs before, %d after",
           before, s ? bl_inner_lbfgs_pairs(s, NULL, NULL) : -1);
    bl_inner_free(s);
    bl_oracle_free(o);
}

static void test_alloc_messages(const bl_problem *pb)
{
    bl_oracle *o = bl_oracle_new(pb, 0);
    char size[32];
    snprintf(size, sizeof size, "%zu bytes", SIZE_MAX / 2);
    bl_inner_type T = fixed_gd;
    T.state_size = SIZE_MAX / 2;
    bl_status st = BL_OK;
    EXPECT(!bl_inner_new(&T, o, NULL, &st) && st == BL_ENOMEM && strstr(bl_oracle_message(o), "state") &&
               strstr(bl_oracle_message(o), size) && strstr(bl_oracle_message(o), "fixed-gd"),
           "inner allocation failure: %s '%s'", bl_strerror(st), bl_oracle_message(o));
    bl_linsolve_type R = richardson;
    R.state_size = SIZE_MAX / 2;
    bl_oracle_clear_error(o); /* the oracle keeps the first failure: forget the inner one */
    EXPECT(!bl_linsolve_new(&R, o, NULL, &st) && st == BL_ENOMEM && strstr(bl_oracle_message(o), "state") &&
               strstr(bl_oracle_message(o), size) && strstr(bl_oracle_message(o), "richardson"),
           "linear allocation failure: %s '%s'", bl_strerror(st), bl_oracle_message(o));
    bl_inner_type N = fixed_gd;
    N.iterate = NULL;
    EXPECT(!bl_inner_new(&N, o, NULL, &st) && st == BL_EINVAL, "inner type without iterate: %s", bl_strerror(st));
    bl_oracle_free(o);
}

int main(void)
{
    ridge r;
    ridge_init(&r, 50, 40, P, 53);
    bl_problem pb = ridge_problem(&r);
    fixed_h = 1.0 / (r.ev[P - 1] + exp(LAM));
    test_custom_inner(&r, &pb);
    test_custom_linear(&r, &pb);
    test_library_restarts(&r, &pb);
    test_alloc_messages(&pb);
    ridge_free(&r);
    return t_done();
}
