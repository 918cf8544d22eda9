/*
 * tests/bilevel/test_defaults.c — default steps for a user's own model
 * without a constants callback (README: bilevel layer; bl_inner_opts and
 * bl_linear_opts in bilevel.h): they come from estimated constants, with
 * L ← 1.5·L_est.
 *
 * Ridge regression (problems.h) with its constants callback removed; its
 * H = XᵀX/n + e^λI is known densely here (Jacobi eigenvalues), and p = 5 is
 * below the 30 Lanczos steps, so the estimate must find μ and L exactly:
 *   - inner gd, hb, nesterov: bl_inner_steps_estimated() = 1, the steps
 *     equal the documented formulas with L' = 1.5L, μ' = μ (1e-10), and
 *     they reach ‖∇G‖ ≤ 1e-10 and θ* of the closed form;
 *   - explicit steps win: a given step is used as given; with step and
 *     momentum both given no estimate is made (no H·v product counted);
 *   - linear gd/hb/neumann: bl_linear_result.steps_estimated = 1 and the
 *     step is 2/(1.5L+μ) (gd, neumann) / the HB formulas;
 *   - bl_hypergrad without constants (ift-gd, ift-hb, ift-neumann, unroll,
 *     inexact-ad, and ift-cg with inner gd/hb/nesterov) gives the
 *     closed-form ∇h to 1e-8, and the same as the problem with constants.
 * When the estimate is impossible (G = ½θᵀAθ − λᵀθ, A indefinite, no
 * constants) the failure names what is missing: inner hb and linear hb
 * given a step but no momentum say "momentum", and so does ift-hb through
 * bl_hypergrad.
 */
#include "tests/bilevel/problems.h"

#include <stdio.h>

enum { P = 5 };

static const double LAM = 0.2;

/* μ and L of the ridge H at λ from the dense eigenvalues. */
static void ridge_mu_L(const ridge *r, double *mu, double *L)
{
    *mu = r->ev[0] + exp(LAM);
    *L = r->ev[r->p - 1] + exp(LAM);
}

static int close_rel(double a, double b, double tol) { return fabs(a - b) <= tol * fabs(b); }

static void test_inner(ridge *r, const bl_problem *bare)
{
    double mu, L, th_star[P], lam[1] = {LAM};
    ridge_mu_L(r, &mu, &L);
    ridge_truth(r, LAM, th_star, NULL);
    double Lm = 1.5 * L, sl = sqrt(Lm), sm = sqrt(mu), qh = (sl - sm) / (sl + sm);
    const bl_inner_type *T[3] = {bl_inner_gd, bl_inner_hb, bl_inner_nesterov};
    const double want_a[3] = {2.0 / (Lm + mu), 4.0 / ((sl + sm) * (sl + sm)), 1.0 / Lm};
    const double want_b[3] = {0.0, qh * qh, qh};
    bl_oracle *o = bl_oracle_new(bare, 0);
    for (int i = 0; i < 3; i++) {
        const char *nm = bl_inner_type_name(T[i]);
        bl_inner *s = bl_inner_new(T[i], o, NULL, NULL);
        bl_status st = s ? bl_inner_set(s, NULL, lam) : BL_ENOMEM;
        EXPECT(st == BL_OK && bl_inner_steps_estimated(s), "%s without constants: %s (%s)", nm,
               bl_strerror(st), bl_oracle_message(o));
        if (st != BL_OK) {
            bl_inner_free(s);
            continue;
        }
        EXPECT(close_rel(bl_inner_step(s), want_a[i], 1e-10) &&
                   (want_b[i] == 0 || close_rel(bl_inner_momentum(s), want_b[i], 1e-10)),
               "%s: estimated step %.17g momentum %.17g, want %.17g %.17g", nm, bl_inner_step(s),
               bl_inner_momentum(s), want_a[i], want_b[i]);
        st = bl_inner_solve(s, 1e-10, 5000);
        double d = d_dist(P, bl_inner_theta(s), th_star);
        printf("inner %-8s estimated steps: %d iterations, |theta - theta*| = %.2e\n", nm, bl_inner_iters(s), d);
        EXPECT(st == BL_OK && bl_inner_converged(s, 1e-10) && d <= 1e-10 / mu + 1e-14,
               "%s: %s, |grad| %.3e, |theta - theta*| %.3e", nm, bl_strerror(st), bl_inner_grad_norm(s), d);
        bl_inner_free(s);

        /* Explicit steps win. */
        bl_inner_opts io = {.step = 0.05, .momentum = T[i] == bl_inner_gd ? 0.0 : 0.4};
        s = bl_inner_new(T[i], o, &io, NULL);
        bl_oracle_reset(o);
        st = s ? bl_inner_set(s, NULL, lam) : BL_ENOMEM;
        EXPECT(st == BL_OK && bl_inner_step(s) == 0.05 && (i == 0 || bl_inner_momentum(s) == 0.4) &&
                   !bl_inner_steps_estimated(s) && bl_oracle_counts(o).hvp == 0,
               "%s: explicit steps: %s, step %g momentum %g, estimated %d, %ld products", nm, bl_strerror(st),
               s ? bl_inner_step(s) : NAN, s ? bl_inner_momentum(s) : NAN, s ? bl_inner_steps_estimated(s) : -1,
               bl_oracle_counts(o).hvp);
        bl_inner_free(s);
    }
    /* hb with a step only: the step stays, the momentum is estimated. */
    bl_inner_opts io = {.step = 0.05};
    bl_inner *s = bl_inner_new(bl_inner_hb, o, &io, NULL);
    EXPECT(s && bl_inner_set(s, NULL, lam) == BL_OK && bl_inner_step(s) == 0.05 &&
               close_rel(bl_inner_momentum(s), qh * qh, 1e-10) && bl_inner_steps_estimated(s),
           "hb with a step only: step %g momentum %g", s ? bl_inner_step(s) : NAN, s ? bl_inner_momentum(s) : NAN);
    bl_inner_free(s);
    bl_oracle_free(o);
}

static void test_linear(ridge *r, const bl_problem *bare)
{
    double mu, L, th[P], lam[1] = {LAM}, b[P];
    ridge_mu_L(r, &mu, &L);
    ridge_truth(r, LAM, th, NULL);
    bl_oracle *o = bl_oracle_new(bare, 0);
    if (!o || bl_oracle_F(o, NULL, th, lam, NULL, b, NULL) != BL_OK || bl_oracle_point(o, NULL, th, lam) != BL_OK) {
        EXPECT(0, "oracle");
        bl_oracle_free(o);
        return;
    }
    double Lm = 1.5 * L, sl = sqrt(Lm), sm = sqrt(mu), qh = (sl - sm) / (sl + sm);
    const bl_linear ms[3] = {BL_LINEAR_GD, BL_LINEAR_HB, BL_LINEAR_NEUMANN};
    const double want_a[3] = {2.0 / (Lm + mu), 4.0 / ((sl + sm) * (sl + sm)), 2.0 / (Lm + mu)};
    for (int i = 0; i < 3; i++) {
        double q[P] = {0};
        bl_linear_opts lo = {.tol = 1e-12};
        bl_linear_result res;
        bl_status st = bl_linear_solve(o, ms[i], b, q, &lo, &res);
        const char *nm = bl_linsolve_type_name(bl_linear_type(ms[i]));
        EXPECT(st == BL_OK && res.stop == BL_STOP_TOL && res.steps_estimated &&
                   close_rel(res.step, want_a[i], 1e-10) &&
                   (ms[i] != BL_LINEAR_HB || close_rel(res.momentum, qh * qh, 1e-10)),
               "linear %s: %s, stop %s, estimated %d, step %.17g (want %.17g) momentum %.17g", nm,
               bl_strerror(st), bl_stop_name(res.stop), res.steps_estimated, res.step, want_a[i], res.momentum);
        bl_linear_opts lx = {.tol = 1e-12, .step = 0.1, .momentum = 0.2};
        st = bl_linear_solve(o, ms[i], b, q, &lx, &res);
        EXPECT(st == BL_OK && !res.steps_estimated && res.step == 0.1, "linear %s: explicit step %g, estimated %d",
               nm, res.step, res.steps_estimated);
    }
    bl_oracle_free(o);
}

static void test_hypergrad(ridge *r, const bl_problem *pb, const bl_problem *bare)
{
    double truth[1], lam[1] = {LAM};
    ridge_truth(r, LAM, NULL, truth);
    struct { bl_method m; const bl_inner_type *inner; } cases[] = {
        {BL_IFT_GD, NULL}, {BL_IFT_HB, NULL}, {BL_IFT_NEUMANN, NULL}, {BL_UNROLL, NULL}, {BL_UNROLL, bl_inner_hb},
        {BL_INEXACT_AD, NULL}, {BL_IFT_CG, bl_inner_gd}, {BL_IFT_CG, bl_inner_hb}, {BL_IFT_CG, bl_inner_nesterov},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bl_hg_opts o = {.method = cases[i].m, .inner = cases[i].inner, .inner_iters = 600, .inner_tol = 1e-12};
        if (cases[i].m == BL_UNROLL || cases[i].m == BL_INEXACT_AD)
            o.inner_tol = 0; /* exactly K steps */
        double hg[1] = {NAN}, hc[1] = {NAN};
        char msg[256] = "";
        bl_status st = bl_hypergrad(bare, lam, &o, hg, NULL, msg, sizeof msg);
        bl_status sc = bl_hypergrad(pb, lam, &o, hc, NULL, NULL, 0);
        const char *in = cases[i].inner ? bl_inner_type_name(cases[i].inner) : "default";
        printf("%-12s inner %-8s no constants: hg %.12g, truth %.12g, with constants %.12g\n",
               bl_method_name(cases[i].m), in, hg[0], truth[0], hc[0]);
        EXPECT(st == BL_OK && sc == BL_OK, "%s (inner %s) without constants: %s (%s)", bl_method_name(cases[i].m),
               in, bl_strerror(st), msg);
        EXPECT(fabs(hg[0] - truth[0]) <= 1e-8 * fabs(truth[0]) && fabs(hg[0] - hc[0]) <= 1e-8 * fabs(truth[0]),
               "%s (inner %s): hg %.12g, truth %.12g, with constants %.12g", bl_method_name(cases[i].m), in,
               hg[0], truth[0], hc[0]);
    }
}

/* Estimation impossible: the messages name the missing momentum. */
static void test_messages(void)
{
    double A[16] = {2, 0, 0, 0, 0, 1, 0, 0, 0, 0, -0.5, 0, 0, 0, 0, 3}, z[4] = {1, 1, 0.3, 1};
    indef s = {.p = 4, .A = A, .z = z};
    bl_problem pb = {.name = "indef-test", .p = 4, .m = 4, .G = indef_G, .F = indef_F, .ctx = &s};
    double lam[4] = {0}, th0[4] = {0}, b[4] = {-1, -1, -0.3, -1}, q[4] = {0};
    bl_oracle *o = bl_oracle_new(&pb, 0);
    bl_inner_opts io = {.step = 0.1};
    bl_inner *in = bl_inner_new(bl_inner_hb, o, &io, NULL);
    bl_status st = in ? bl_inner_set(in, NULL, lam) : BL_ENOMEM;
    const char *msg = bl_oracle_message(o);
    EXPECT(st == BL_ENONCONVEX && strstr(msg, "inner hb") && strstr(msg, "no momentum given") &&
               !strstr(msg, "no step") && strstr(msg, "Ritz"),
           "inner hb, step but no momentum, estimate impossible: %s '%s'", bl_strerror(st), msg);
    bl_inner_free(in);
    bl_oracle_clear_error(o); /* the oracle keeps the first failure: one case at a time */
    bl_inner *ig = bl_inner_new(bl_inner_gd, o, NULL, NULL);
    st = ig ? bl_inner_set(ig, NULL, lam) : BL_ENOMEM;
    EXPECT(st == BL_ENONCONVEX && strstr(bl_oracle_message(o), "no step given"), "inner gd: %s '%s'",
           bl_strerror(st), bl_oracle_message(o));
    bl_inner_free(ig);
    bl_linear_opts lo = {.step = 0.1};
    bl_linear_result res;
    bl_oracle_clear_error(o);
    st = bl_oracle_point(o, NULL, th0, lam);
    if (st == BL_OK)
        st = bl_linear_solve(o, BL_LINEAR_HB, b, q, &lo, &res);
    msg = bl_oracle_message(o);
    EXPECT(st == BL_ENONCONVEX && strstr(msg, "linear hb") && strstr(msg, "no momentum given") && !strstr(msg, "no step"),
           "linear hb, step but no momentum: %s '%s'", bl_strerror(st), msg);
    bl_oracle_free(o);

    char m2[512] = "";
    double hg[4];
    bl_hg_opts ho = {.method = BL_IFT_HB, .linear_step = 0.1};
    st = bl_hypergrad(&pb, lam, &ho, hg, NULL, m2, sizeof m2);
    EXPECT(st != BL_OK && strstr(m2, "ift-hb") && strstr(m2, "no momentum given") && !strstr(m2, "no step"),
           "ift-hb with a step but no momentum: %s '%s'", bl_strerror(st), m2);
}

int main(void)
{
    ridge r;
    ridge_init(&r, 50, 40, P, 31);
    bl_problem pb = ridge_problem(&r), bare = pb;
    bare.constants = NULL;
    test_inner(&r, &bare);
    test_linear(&r, &bare);
    test_hypergrad(&r, &pb, &bare);
    test_messages();
    ridge_free(&r);
    return t_done();
}
