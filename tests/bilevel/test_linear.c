/*
 * tests/bilevel/test_linear.c — the linear solves H q = b and how they
 * report why they stopped.
 *
 * Convex (logistic regression at θ*, dense H and Cholesky written here):
 * CG, GD, heavy ball and Neumann reach q = H⁻¹b (1e-9 relative) with stop
 * "tolerance" and a residual equal to ‖Hq − b‖ computed here; an iteration
 * cap gives stop "iteration cap" after exactly that many iterations; the
 * monitor sees every iteration's residual and can stop the solve.
 *
 * Non-convex (G = ½θᵀAθ − λᵀθ, A with a negative eigenvalue, at the saddle
 * θ = 0, λ = 0): CG returns BL_ENONCONVEX with a message and stop
 * "non-positive curvature" (Sylvester: a full-space CG run must meet a
 * direction with dᵀAd ≤ 0); through bl_hypergrad, ift-cg returns
 * BL_ENONCONVEX, diag.linear_stop = BL_STOP_NONCONVEX, a message, and a
 * finite hg = ∇_λF − cross(q) = q for the best iterate q (checked against
 * q_out, and its residual against ‖Aq − b‖ computed here); exact returns
 * BL_ENONCONVEX with a message, whose "after k iterations" is res.iters.
 *
 * Resumable solvers (bl_linsolve_*): each type stepped one iteration at a
 * time by a loop written here gives bitwise the q, residual and iteration
 * count of bl_linear_solve (with a tolerance and with a cap); a warm start
 * at the solution takes no iteration; Neumann from q0 equals GD from q0;
 * CG's restart makes the next step the steepest-descent step with exact
 * line search and heavy ball's the plain GD step (dense H here); the types
 * map to and from their names.
 */
#include "tests/bilevel/problems.h"

#include <stdio.h>

enum { P = 5 };

typedef struct mon {
    int calls, last_k, stop_at;
    double last_res;
    const double *H, *b;
    int bad;
} mon;

/* Checks the residual it is given against ‖Hq − b‖ computed here. */
static int monitor(int k, const double *q, double residual, void *ctx)
{
    mon *m = ctx;
    double hq[P];
    d_matvec(P, P, m->H, q, hq, 0);
    for (int j = 0; j < P; j++)
        hq[j] -= m->b[j];
    if (k != m->calls + 1 || fabs(d_nrm(P, hq) - residual) > 1e-10 * residual + 1e-15)
        m->bad++;
    m->calls++;
    m->last_k = k;
    m->last_res = residual;
    return m->stop_at > 0 && k >= m->stop_at;
}

static void test_convex(void)
{
    logreg L;
    logreg_init(&L, 60, 40, P, 1.0, 3);
    bl_problem pb = logreg_problem(&L);
    double lam[P] = {-1.0, -2.0, -1.5, -0.5, -1.2}, th[P], H[P * P], b[P], qref[P];
    logreg_newton(&L, lam, th);
    logreg_G_c(&L, th, lam, NULL, H);
    logreg_F_c(&L, th, lam, b);
    d_chol_solve(P, H, b, qref);
    bl_oracle *o = bl_oracle_new(&pb, 0);
    EXPECT(o && bl_oracle_point(o, NULL, th, lam) == BL_OK, "oracle point");
    if (!o)
        return;
    const char *names[] = {"cg", "gd", "hb", "neumann"};
    for (int m = 0; m < BL_LINEAR_COUNT; m++) {
        double q[P] = {0}, r[P];
        bl_linear_opts lo = {.tol = 1e-13, .max_iters = 5000};
        bl_linear_result res;
        bl_status st = bl_linear_solve(o, (bl_linear)m, b, q, &lo, &res);
        d_matvec(P, P, H, q, r, 0);
        for (int j = 0; j < P; j++)
            r[j] -= b[j];
        double e = t_relerr(q, qref, P, 1e-300);
        printf("linear %-8s iters %4d residual %.2e error %.2e stop %s\n", names[m], res.iters,
               res.residual, e, bl_stop_name(res.stop));
        EXPECT(st == BL_OK && res.stop == BL_STOP_TOL, "%s: %s, stop %s", names[m], bl_strerror(st),
               bl_stop_name(res.stop));
        EXPECT(e <= 1e-9, "%s: q differs from the dense solve by %.3e", names[m], e);
        EXPECT(res.residual <= 1e-13 && fabs(res.residual - d_nrm(P, r)) <= 1e-15,
               "%s: reported residual %.3e, computed %.3e", names[m], res.residual, d_nrm(P, r));
        if (m == BL_LINEAR_CG)
            EXPECT(res.iters <= 3 * P, "cg: %d iterations for p = %d", res.iters, P);

        /* Iteration cap. */
        double q2[P] = {0};
        bl_linear_opts lc = {.tol = 1e-300, .max_iters = 3};
        st = bl_linear_solve(o, (bl_linear)m, b, q2, &lc, &res);
        EXPECT(st == BL_OK && res.stop == BL_STOP_MAXITER && res.iters == 3,
               "%s: cap of 3 gave %s after %d iterations", names[m], bl_stop_name(res.stop), res.iters);

        /* Monitor: sees iterations 1, 2, ... with the true residual; can stop. */
        mon mm = {.stop_at = 2, .H = H, .b = b};
        double q3[P] = {0};
        bl_linear_opts lm = {.tol = 1e-300, .max_iters = 50, .monitor = monitor, .monitor_ctx = &mm};
        st = bl_linear_solve(o, (bl_linear)m, b, q3, &lm, &res);
        EXPECT(st == BL_OK && mm.calls == 2 && res.iters == 2 && mm.bad == 0,
               "%s: monitor called %d times (bad %d), stopped after %d", names[m], mm.calls, mm.bad, res.iters);
    }
    /* Default steps come from the constants: GD 2/(L+μ), HB 4/(√L+√μ)². */
    bl_constants k;
    logreg_constants(lam, &k, &L);
    double q[P] = {0};
    bl_linear_opts lo = {.tol = 1e-10};
    bl_linear_result res;
    bl_linear_solve(o, BL_LINEAR_GD, b, q, &lo, &res);
    EXPECT(fabs(res.step - 2 / (k.L + k.mu)) <= 1e-15 * res.step, "gd step %.17g", res.step);
    memset(q, 0, sizeof q);
    bl_linear_solve(o, BL_LINEAR_HB, b, q, &lo, &res);
    double sl = sqrt(k.L), sm = sqrt(k.mu), qb = (sl - sm) / (sl + sm);
    EXPECT(fabs(res.step - 4 / ((sl + sm) * (sl + sm))) <= 1e-15 * res.step &&
               fabs(res.momentum - qb * qb) <= 1e-15,
           "hb step %.17g momentum %.17g", res.step, res.momentum);
    /* Bad arguments. */
    EXPECT(bl_linear_solve(o, BL_LINEAR_COUNT, b, q, NULL, NULL) == BL_EINVAL, "unknown linear method");
    EXPECT(bl_linear_solve(o, BL_LINEAR_CG, NULL, q, NULL, NULL) == BL_EINVAL, "NULL right-hand side");
    bl_oracle_free(o);
    logreg_free(&L);
}

/* ---------------------------------------------------------------- indefinite */

static void make_indef(indef *s, double *A, double *z, double *Q)
{
    enum { N = 4 };
    t_rng g = {99};
    for (int i = 0; i < N * N; i++) /* random orthogonal Q by Gram-Schmidt on columns */
        Q[i] = t_normal(&g);
    for (int j = 0; j < N; j++) {
        for (int k = 0; k < j; k++) {
            double d = 0;
            for (int i = 0; i < N; i++)
                d += Q[i * N + j] * Q[i * N + k];
            for (int i = 0; i < N; i++)
                Q[i * N + j] -= d * Q[i * N + k];
        }
        double nr = 0;
        for (int i = 0; i < N; i++)
            nr += Q[i * N + j] * Q[i * N + j];
        for (int i = 0; i < N; i++)
            Q[i * N + j] /= sqrt(nr);
    }
    const double ev[N] = {3.0, 2.0, 1.0, -0.5}, zc[N] = {1.0, 1.0, 1.0, 0.3};
    for (int i = 0; i < N; i++) {
        z[i] = 0;
        for (int j = 0; j < N; j++) {
            double a = 0;
            for (int k = 0; k < N; k++)
                a += Q[i * N + k] * ev[k] * Q[j * N + k];
            A[i * N + j] = a;
            z[i] += Q[i * N + j] * zc[j];
        }
    }
    s->p = N;
    s->A = A;
    s->z = z;
}

static void test_nonconvex(void)
{
    double A[16], z[4], Q[16], ev[4];
    indef s;
    make_indef(&s, A, z, Q);
    d_eig_sym(4, A, ev);
    EXPECT(ev[0] < -0.49 && ev[0] > -0.51, "test matrix: smallest eigenvalue %g", ev[0]);
    bl_problem pb = {.name = "indef-test", .p = 4, .m = 4, .G = indef_G, .F = indef_F, .ctx = &s};
    double lam[4] = {0}, th0[4] = {0}, b[4];
    for (int i = 0; i < 4; i++) /* ∇_θF(0) = −z */
        b[i] = -z[i];

    /* bl_linear_solve directly. */
    bl_oracle *o = bl_oracle_new(&pb, 0);
    if (o && bl_oracle_point(o, NULL, th0, lam) == BL_OK) {
        double q[4] = {0};
        bl_linear_opts lo = {.tol = 1e-14};
        bl_linear_result res;
        bl_status st = bl_linear_solve(o, BL_LINEAR_CG, b, q, &lo, &res);
        EXPECT(st == BL_ENONCONVEX && res.stop == BL_STOP_NONCONVEX, "cg on an indefinite H: %s, stop %s",
               bl_strerror(st), bl_stop_name(res.stop));
        EXPECT(strstr(bl_oracle_message(o), "curvature") != NULL, "message: '%s'", bl_oracle_message(o));
        EXPECT(res.iters >= 1, "cg took %d steps before the negative direction", res.iters);
        char after[64];
        snprintf(after, sizeof after, "after %d iterations", res.iters);
        EXPECT(strstr(bl_oracle_message(o), after) != NULL, "message '%s' does not say '%s'",
               bl_oracle_message(o), after);
        /* b along the negative eigenvector: the very first direction fails. */
        double v[4], q0[4] = {0};
        for (int i = 0; i < 4; i++)
            v[i] = Q[i * 4 + 3];
        st = bl_linear_solve(o, BL_LINEAR_CG, v, q0, &lo, &res);
        EXPECT(st == BL_ENONCONVEX && res.iters == 0 && d_nrm(4, q0) == 0,
               "negative eigenvector: %s after %d iterations, |q| = %g", bl_strerror(st), res.iters, d_nrm(4, q0));
    } else {
        EXPECT(0, "oracle for the indefinite problem");
    }
    bl_oracle_free(o);

    /* ift-cg through bl_hypergrad: θ0 = 0 is stationary, so the inner solver stops at once. */
    double hg[4] = {NAN, NAN, NAN, NAN}, q[4], r[4];
    char msg[256] = "";
    bl_diag d;
    bl_hg_opts opts = {.method = BL_IFT_CG, .linear_tol = 1e-14};
    bl_status st = t_hypergrad_out(&pb, lam, &opts, hg, &d, msg, sizeof msg, NULL, q);
    EXPECT(st == BL_ENONCONVEX, "ift-cg: %s (%s)", bl_strerror(st), msg);
    EXPECT(d.linear_stop == BL_STOP_NONCONVEX, "ift-cg: linear_stop %s", bl_stop_name(d.linear_stop));
    EXPECT(strstr(msg, "ift-cg") && strstr(msg, "curvature"), "ift-cg message: '%s'", msg);
    EXPECT(d.inner_iters == 0 && d.inner_grad_norm == 0, "inner: %d iterations, |grad| %g", d.inner_iters,
           d.inner_grad_norm);
    int finite = 1;
    for (int i = 0; i < 4; i++)
        finite &= isfinite(hg[i]);
    EXPECT(finite, "ift-cg: hg not filled (%g %g %g %g)", hg[0], hg[1], hg[2], hg[3]);
    /* ∇_λF = 0 and cross(v) = −v here, so hg = q. */
    EXPECT(t_relerr(hg, q, 4, 1e-300) <= 1e-14 && d_nrm(4, q) > 0, "hg is not the best iterate's estimate");
    d_matvec(4, 4, A, q, r, 0);
    for (int i = 0; i < 4; i++)
        r[i] -= b[i];
    EXPECT(fabs(d.linear_residual - d_nrm(4, r)) <= 1e-12, "residual %.6e vs %.6e", d.linear_residual, d_nrm(4, r));

    /* exact: the Cholesky of H fails; it falls back to CG from q = 0 and,
     * as bl_hypergrad documents for BL_ENONCONVEX, still fills hg from the
     * best iterate (the same as ift-cg's with the same tolerance). */
    double hg_cg[4], qe[4] = {NAN, NAN, NAN, NAN};
    memcpy(hg_cg, hg, sizeof hg_cg);
    for (int i = 0; i < 4; i++)
        hg[i] = NAN;
    bl_hg_opts oe = {.method = BL_EXACT, .linear_tol = 1e-14};
    msg[0] = 0;
    st = t_hypergrad_out(&pb, lam, &oe, hg, &d, msg, sizeof msg, NULL, qe);
    EXPECT(st == BL_ENONCONVEX, "exact: %s (%s)", bl_strerror(st), msg);
    EXPECT(strstr(msg, "exact") && strstr(msg, "positive definite") && strstr(msg, "Cholesky") &&
               strstr(msg, "column"),
           "exact message: '%s'", msg);
    EXPECT(d.linear_stop == BL_STOP_NONCONVEX, "exact: linear_stop %s", bl_stop_name(d.linear_stop));
    finite = 1;
    for (int i = 0; i < 4; i++)
        finite &= isfinite(hg[i]) && isfinite(qe[i]);
    EXPECT(finite, "exact: hg not filled (%g %g %g %g)", hg[0], hg[1], hg[2], hg[3]);
    if (finite) {
        EXPECT(t_relerr(hg, qe, 4, 1e-300) <= 1e-14 && d_nrm(4, qe) > 0, "exact: hg is not ∇_λF − cross(q)");
        EXPECT(t_relerr(hg, hg_cg, 4, 1e-300) <= 1e-14, "exact: hg differs from ift-cg's best iterate (%.3e)",
               t_relerr(hg, hg_cg, 4, 1e-300));
        EXPECT(isfinite(d.linear_residual) && d.linear_iters >= 1, "exact: residual %g, %d CG steps",
               d.linear_residual, d.linear_iters);
    }

    /* shine-refine (CG from SHINE's start) reports it too. */
    bl_hg_opts os = {.method = BL_SHINE_REFINE, .linear_tol = 1e-14};
    st = bl_hypergrad(&pb, lam, &os, hg, &d, msg, sizeof msg);
    EXPECT(st == BL_ENONCONVEX && d.linear_stop == BL_STOP_NONCONVEX, "shine-refine: %s, stop %s (%s)",
           bl_strerror(st), bl_stop_name(d.linear_stop), msg);
}

/* ---------------------------------------------------------- resumable */

/* Steps a solver of the method's type by hand until ‖r‖ ≤ tol or kmax. */
static int step_by_hand(bl_oracle *o, bl_linear m, const double *b, const double *q0, double tol,
                        int kmax, double *q, double *res)
{
    bl_linear_opts lo = {.tol = tol, .max_iters = kmax};
    bl_linsolve *s = bl_linsolve_new(bl_linear_type(m), o, &lo, NULL);
    if (!s || bl_linsolve_set(s, b, m == BL_LINEAR_NEUMANN ? NULL : q0) != BL_OK) {
        bl_linsolve_free(s);
        return -1;
    }
    int k = 0;
    if (!(m != BL_LINEAR_NEUMANN && bl_linsolve_residual(s) <= tol))
        for (k = 1; k <= kmax; k++) {
            if (bl_linsolve_iterate(s) != BL_OK || bl_linsolve_iters(s) != k)
                break;
            if (bl_linsolve_residual(s) <= tol || bl_linsolve_exact(s))
                break;
        }
    memcpy(q, bl_linsolve_q(s), P * sizeof(double));
    *res = bl_linsolve_residual(s);
    int it = bl_linsolve_iters(s);
    bl_linsolve_free(s);
    return it;
}

static void test_resumable(void)
{
    logreg L;
    logreg_init(&L, 60, 40, P, 1.0, 3);
    bl_problem pb = logreg_problem(&L);
    double lam[P] = {-1.0, -2.0, -1.5, -0.5, -1.2}, th[P], H[P * P], b[P], qref[P], q0[P];
    logreg_newton(&L, lam, th);
    logreg_G_c(&L, th, lam, NULL, H);
    logreg_F_c(&L, th, lam, b);
    d_chol_solve(P, H, b, qref);
    for (int j = 0; j < P; j++)
        q0[j] = 0.3 * qref[j] + 0.01 * j;
    bl_oracle *o = bl_oracle_new(&pb, 0);
    if (!o || bl_oracle_point(o, NULL, th, lam) != BL_OK) {
        EXPECT(0, "oracle point");
        bl_oracle_free(o);
        logreg_free(&L);
        return;
    }
    const double tols[2] = {1e-11, 1e-300};
    const int caps[2] = {5000, 4};
    for (int m = 0; m < BL_LINEAR_COUNT; m++) {
        const char *nm = bl_linsolve_type_name(bl_linear_type((bl_linear)m));
        for (int c = 0; c < 2; c++) {
            double qa[P], qb[P], ra = NAN;
            memcpy(qa, q0, sizeof qa);
            bl_linear_opts lo = {.tol = tols[c], .max_iters = caps[c]};
            bl_linear_result res;
            bl_status st = bl_linear_solve(o, (bl_linear)m, b, qa, &lo, &res);
            int it = step_by_hand(o, (bl_linear)m, b, q0, tols[c], caps[c], qb, &ra);
            EXPECT(st == BL_OK && it == res.iters && !memcmp(qa, qb, sizeof qa) && ra == res.residual,
                   "%s (tol %g, cap %d): by hand %d iterations, residual %.17g; bl_linear_solve %d, %.17g",
                   nm, tols[c], caps[c], it, ra, res.iters, res.residual);
            EXPECT(res.steps_estimated == 0, "%s: steps estimated with constants", nm);
        }
        /* Warm start at the solution: nothing to do (Neumann: one term). */
        bl_linear_opts lo = {.tol = 1e-10};
        bl_linsolve *s = bl_linsolve_new(bl_linear_type((bl_linear)m), o, &lo, NULL);
        bl_linear_result res;
        EXPECT(s && bl_linsolve_set(s, b, qref) == BL_OK && bl_linsolve_solve(s, &res) == BL_OK &&
                   res.stop == BL_STOP_TOL && res.iters == (m == BL_LINEAR_NEUMANN),
               "%s: warm start at the solution took %d iterations", nm, s ? res.iters : -1);
        EXPECT(s && bl_linsolve_type_of(s) == bl_linear_type((bl_linear)m) &&
                   bl_linsolve_type_from_name(nm) == bl_linear_type((bl_linear)m),
               "%s: type/name", nm);
        bl_linsolve_free(s);
    }
    EXPECT(!bl_linsolve_type_from_name("minres") && !bl_linear_type(BL_LINEAR_COUNT), "unknown linear type");

    /* Neumann from q0 is GD from q0 (same step). */
    bl_linear_opts lg = {.step = 0.5, .max_iters = 30};
    bl_linsolve *sn = bl_linsolve_new(bl_linsolve_neumann, o, &lg, NULL);
    bl_linsolve *sg = bl_linsolve_new(bl_linsolve_gd, o, &lg, NULL);
    if (sn && sg && bl_linsolve_set(sn, b, q0) == BL_OK && bl_linsolve_set(sg, b, q0) == BL_OK &&
        bl_linsolve_solve(sn, NULL) == BL_OK && bl_linsolve_solve(sg, NULL) == BL_OK)
        EXPECT(t_relerr(bl_linsolve_q(sn), bl_linsolve_q(sg), P, 1e-300) <= 1e-12 &&
                   fabs(bl_linsolve_residual(sn) - bl_linsolve_residual(sg)) <= 1e-12,
               "neumann from q0 vs gd from q0: %.3e", t_relerr(bl_linsolve_q(sn), bl_linsolve_q(sg), P, 1e-300));
    else
        EXPECT(0, "neumann / gd from q0");
    bl_linsolve_free(sn);
    bl_linsolve_free(sg);

    /* Restarts, against the dense H: CG's next step is steepest descent with
     * exact line search, heavy ball's a GD step. */
    const bl_linsolve_type *rt[2] = {bl_linsolve_cg, bl_linsolve_hb};
    for (int i = 0; i < 2; i++) {
        bl_linear_opts lr = {.step = 0.3, .momentum = 0.5};
        bl_linsolve *s = bl_linsolve_new(rt[i], o, &lr, NULL);
        double q[P], r[P], hr[P], want[P];
        int ok = s && bl_linsolve_set(s, b, NULL) == BL_OK;
        for (int k = 0; k < 3 && ok; k++)
            ok = bl_linsolve_iterate(s) == BL_OK;
        ok = ok && bl_linsolve_restart(s) == BL_OK;
        if (ok) {
            memcpy(q, bl_linsolve_q(s), sizeof q);
            d_matvec(P, P, H, q, r, 0);
            for (int j = 0; j < P; j++)
                r[j] = b[j] - r[j]; /* b − Hq */
            d_matvec(P, P, H, r, hr, 0);
            double t = rt[i] == bl_linsolve_cg ? d_dot(P, r, r) / d_dot(P, r, hr) : 0.3;
            for (int j = 0; j < P; j++)
                want[j] = q[j] + t * r[j];
            ok = bl_linsolve_iterate(s) == BL_OK;
        }
        EXPECT(ok && t_relerr(bl_linsolve_q(s), want, P, 1e-300) <= 1e-10,
               "%s: the step after a restart is off by %.3e", bl_linsolve_type_name(rt[i]),
               ok ? t_relerr(bl_linsolve_q(s), want, P, 1e-300) : -1.0);
        bl_linsolve_free(s);
    }
    bl_oracle_free(o);
    logreg_free(&L);
}

int main(void)
{
    test_convex();
    test_nonconvex();
    test_resumable();
    return t_done();
}
