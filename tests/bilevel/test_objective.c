/*
 * tests/bilevel/test_objective.c — inner solvers on the objective F + νG
 * (bl_inner_opts.objective = BL_OBJ_F_NU_G), the penalty form of F2SA.
 *
 * Ridge (problems.h): F = ½/nv‖Vθ − z‖², G = ½/n‖Xθ − y‖² + ½e^λ‖θ‖², so
 * θ_ν = argmin F + νG solves (VᵀV/nv + ν(XᵀX/n + e^λI))θ = Vᵀz/nv + νXᵀy/n,
 * solved densely here. For gd, hb, nesterov and lbfgs, with the problem's
 * constants (L_f = ‖VᵀV/nv‖ filled in here), without constants
 * (estimated) and with an explicit step:
 *   - bl_inner_solve reaches ‖∇(F + νG)‖ ≤ 1e-10, and ∇_θF + ν∇_θG
 *     recomputed by separate bl_oracle_F / bl_oracle_G calls on a second
 *     oracle agrees (norm ≤ 1e-10, and equal to bl_inner_grad to 1e-12);
 *   - θ equals the dense θ_ν to ‖∇‖/μ_ν (strong convexity);
 *   - the value bl_inner_value is F + νG from the separate calls;
 *   - gd's default step is 2/(L + μ) with L = L_f + νL_G, μ = νμ_G − L_f.
 * Logistic regression (non-quadratic): lbfgs and gd on F + νG reach a zero
 * of ∇F + ν∇G checked by the plain-C gradients of problems.h.
 * Refusals: newton-cg with F + νG (BL_EINVAL naming both), ν ≤ 0, an
 * unknown objective.
 */
#include "tests/bilevel/problems.h"

#include <stdio.h>

enum { P = 5 };

static const double LAM = -0.3, NU = 4.0;

typedef struct rctx {
    ridge r;
    double Lf; /* ‖VᵀV/nv‖ */
} rctx;

static bl_status ridge_constants_Lf(const double *la, bl_constants *k, void *ctx)
{
    rctx *c = ctx;
    bl_status st = ridge_constants(la, k, &c->r);
    k->Lf = c->Lf;
    return st;
}

static ad_var rG(ad_tape *t, ad_var th, ad_var la, const int *b, int nb, void *ctx)
{
    return ridge_G(t, th, la, b, nb, &((rctx *)ctx)->r);
}

static ad_var rF(ad_tape *t, ad_var th, ad_var la, const int *b, int nb, void *ctx)
{
    return ridge_F(t, th, la, b, nb, &((rctx *)ctx)->r);
}

/* Dense θ_ν. */
static void theta_nu(const ridge *r, double *th)
{
    int p = r->p;
    double M[P * P], A[P * P], rhs[P], t[P];
    d_gram(r->nv, p, p, r->V, r->V, 1.0 / r->nv, M);
    d_gram(r->n, p, p, r->X, r->X, 1.0 / r->n, A);
    for (int i = 0; i < p * p; i++)
        M[i] += NU * A[i];
    for (int j = 0; j < p; j++)
        M[j * p + j] += NU * exp(LAM);
    d_matvec(r->nv, p, r->V, r->z, rhs, 1);
    d_matvec(r->n, p, r->X, r->y, t, 1);
    for (int j = 0; j < p; j++)
        rhs[j] = rhs[j] / r->nv + NU * t[j] / r->n;
    d_chol_solve(p, M, rhs, th);
}

/* ∇F + ν∇G and F + νG from separate oracle calls on a fresh oracle. */
static int independent(const bl_problem *pb, const double *th, const double *lam, double *g, double *val)
{
    int p = pb->p;
    double gG[64], f, gv;
    bl_oracle *o = bl_oracle_new(pb, 0);
    int ok = o && bl_oracle_F(o, NULL, th, lam, &f, g, NULL) == BL_OK &&
             bl_oracle_G(o, NULL, th, lam, &gv, gG, NULL) == BL_OK;
    for (int j = 0; j < p && ok; j++)
        g[j] += NU * gG[j];
    *val = f + NU * gv;
    bl_oracle_free(o);
    return ok;
}

static void test_ridge(void)
{
    rctx c;
    ridge_init(&c.r, 50, 40, P, 41);
    double M[P * P], ev[P];
    d_gram(c.r.nv, P, P, c.r.V, c.r.V, 1.0 / c.r.nv, M);
    d_eig_sym(P, M, ev);
    c.Lf = ev[P - 1];
    bl_problem pb = {.name = "ridge-nu", .p = P, .m = 1, .G = rG, .F = rF, .constants = ridge_constants_Lf, .ctx = &c},
               bare = pb;
    bare.constants = NULL;
    double lam[1] = {LAM}, ths[P];
    theta_nu(&c.r, ths);
    bl_constants k;
    ridge_constants(lam, &k, &c.r);
    double Lt = c.Lf + NU * k.L, mut = NU * k.mu - c.Lf;
    EXPECT(mut > 0, "test problem: nu*mu - Lf = %g", mut);
    const bl_inner_type *T[4] = {bl_inner_gd, bl_inner_hb, bl_inner_nesterov, bl_inner_lbfgs};
    const char *how[3] = {"constants", "estimated", "explicit"};
    for (int h = 0; h < 3; h++) {
        const bl_problem *pp = h == 1 ? &bare : &pb;
        bl_oracle *o = bl_oracle_new(pp, 0);
        for (int i = 0; i < 4; i++) {
            const char *nm = bl_inner_type_name(T[i]);
            bl_inner_opts io = {.objective = BL_OBJ_F_NU_G, .nu = NU};
            if (h == 2)
                io.step = 1.0 / (c.Lf + NU * (c.r.ev[P - 1] + exp(LAM))) * 0.9;
            bl_status st;
            bl_inner *s = bl_inner_new(T[i], o, &io, &st);
            if (s)
                st = bl_inner_set(s, NULL, lam);
            if (s && st == BL_OK)
                st = bl_inner_solve(s, 1e-10, 20000);
            EXPECT(s && st == BL_OK && bl_inner_converged(s, 1e-10), "%s (%s): %s after %d, |grad| %.3e (%s)", nm,
                   how[h], bl_strerror(st), s ? bl_inner_iters(s) : -1, s ? bl_inner_grad_norm(s) : NAN,
                   bl_oracle_message(o));
            if (!s || st != BL_OK) {
                bl_inner_free(s);
                continue;
            }
            double g[P], val;
            const double *th = bl_inner_theta(s);
            int ok = independent(pp, th, lam, g, &val);
            double gn = d_nrm(P, g), d = d_dist(P, th, ths);
            printf("%-8s on F + %g G (%-9s): %5d iterations, |grad F + nu grad G| = %.2e, |theta - theta_nu| = %.2e\n",
                   nm, NU, how[h], bl_inner_iters(s), gn, d);
            EXPECT(ok && gn <= 1e-10 + 1e-14 && d_dist(P, g, bl_inner_grad(s)) <= 1e-12,
                   "%s (%s): independent |grad| %.3e, vs bl_inner_grad %.3e", nm, how[h], gn,
                   d_dist(P, g, bl_inner_grad(s)));
            EXPECT(d <= (gn + 1e-14) / mut, "%s (%s): |theta - theta_nu| = %.3e > %.3e", nm, how[h], d, gn / mut);
            EXPECT(fabs(bl_inner_value(s) - val) <= 1e-13 * fabs(val), "%s (%s): value %.17g vs %.17g", nm, how[h],
                   bl_inner_value(s), val);
            EXPECT(bl_inner_steps_estimated(s) == (h == 1 && T[i] != bl_inner_lbfgs), "%s (%s): estimated %d", nm,
                   how[h], bl_inner_steps_estimated(s));
            if (T[i] == bl_inner_gd && h == 0)
                EXPECT(fabs(bl_inner_step(s) - 2.0 / (Lt + mut)) <= 1e-15 * bl_inner_step(s),
                       "gd on F + nu G: step %.17g, want %.17g", bl_inner_step(s), 2.0 / (Lt + mut));
            bl_inner_free(s);
        }
        bl_oracle_free(o);
    }

    /* Refusals. */
    bl_oracle *o = bl_oracle_new(&pb, 0);
    bl_inner_opts io = {.objective = BL_OBJ_F_NU_G, .nu = NU};
    bl_status st = BL_OK;
    EXPECT(!bl_inner_new(bl_inner_newton_cg, o, &io, &st) && st == BL_EINVAL &&
               strstr(bl_oracle_message(o), "newton-cg") && strstr(bl_oracle_message(o), "F + nu G"),
           "newton-cg on F + nu G: %s '%s'", bl_strerror(st), bl_oracle_message(o));
    io.nu = 0;
    EXPECT(!bl_inner_new(bl_inner_gd, o, &io, &st) && st == BL_EINVAL && strstr(bl_oracle_message(o), "nu"),
           "nu = 0: %s '%s'", bl_strerror(st), bl_oracle_message(o));
    bl_inner_opts bad = {.objective = 7};
    EXPECT(!bl_inner_new(bl_inner_gd, o, &bad, &st) && st == BL_EINVAL && strstr(bl_oracle_message(o), "objective"),
           "unknown objective: %s '%s'", bl_strerror(st), bl_oracle_message(o));
    bl_oracle_free(o);
    ridge_free(&c.r);
}

static void test_logreg(void)
{
    logreg L;
    logreg_init(&L, 60, 50, P, 1.0, 43);
    bl_problem pb = logreg_problem(&L);
    double lam[P] = {-1.0, -2.0, -1.5, -0.5, -1.2};
    bl_oracle *o = bl_oracle_new(&pb, 0);
    const bl_inner_type *T[2] = {bl_inner_lbfgs, bl_inner_gd};
    for (int i = 0; i < 2; i++) {
        bl_inner_opts io = {.objective = BL_OBJ_F_NU_G, .nu = NU};
        bl_inner *s = bl_inner_new(T[i], o, &io, NULL);
        bl_status st = s ? bl_inner_set(s, NULL, lam) : BL_ENOMEM;
        if (st == BL_OK)
            st = bl_inner_solve(s, 1e-10, 20000);
        double gF[P], gG[P];
        if (st == BL_OK) {
            logreg_F_c(&L, bl_inner_theta(s), lam, gF);
            logreg_G_c(&L, bl_inner_theta(s), lam, gG, NULL);
            for (int j = 0; j < P; j++)
                gF[j] += NU * gG[j];
        }
        EXPECT(st == BL_OK && d_nrm(P, gF) <= 1e-10 + 1e-14, "logreg %s on F + nu G: %s, plain-C |grad| %.3e",
               bl_inner_type_name(T[i]), bl_strerror(st), st == BL_OK ? d_nrm(P, gF) : NAN);
        bl_inner_free(s);
    }
    bl_oracle_free(o);
    logreg_free(&L);
}

int main(void)
{
    test_ridge();
    test_logreg();
    return t_done();
}
