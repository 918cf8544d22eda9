/*
 * tests/bilevel/test_inner.c — the inner solvers on strongly convex
 * problems (logistic regression with per-feature λ; the least-squares
 * problem of README, Notation), against plain-C gradients and a dense Newton
 * solve written here.
 *
 * For each type (gd, hb, nesterov, lbfgs, newton-cg):
 *   - from θ0 = 0, bl_inner_solve reaches ‖∇G‖ ≤ 1e-10 (the gradient
 *     recomputed here), ‖θ − θ*‖ ≤ ‖∇G‖/μ (strong convexity), and
 *     bl_inner_grad matches the plain-C gradient;
 *   - a warm start near θ* takes fewer iterations; a start at the solution
 *     takes none;
 *   - the caller-owned loop (bl_inner_iterate + bl_inner_converged) gives
 *     the same iterate, bit for bit, and the same iteration count;
 *   - eps < 0 runs exactly max_iters iterations.
 * keep_iterates stores θ_0..θ_K: θ_0 = the start, θ_K = the current
 * iterate, out-of-range indices give NULL, and consecutive iterates obey
 * the GD / heavy-ball / Nesterov maps with the plain-C gradient (1e-13);
 * without it,
 * NULL. Default steps: GD 2/(L+μ), HB 4/(√L+√μ)² and β = q², Nesterov 1/L.
 * L-BFGS keeps at most `memory` pairs, the newest equal to
 * (θ_K − θ_{K−1}, ∇G_K − ∇G_{K−1}). Type names round-trip. With the
 * problems' constants no step is estimated (bl_inner_steps_estimated).
 */
#include "tests/bilevel/problems.h"

#include <stdio.h>

enum { P = 6, MAXIT = 20000 };

typedef struct inner_case {
    const bl_problem *pb;
    const double *lam;
    double mu;
    void (*grad)(const void *ctx, const double *th, const double *lam, double *g);
    const void *ctx;
    const double *theta_star;
} inner_case;

static void logreg_grad(const void *ctx, const double *th, const double *lam, double *g)
{
    logreg_G_c(ctx, th, lam, g, NULL);
}

static void lstsq_grad(const void *ctx, const double *th, const double *w, double *g)
{
    const lstsq *s = ctx;
    double *r = malloc((size_t)s->n * sizeof(double)), *dx = malloc((size_t)s->n * sizeof(double));
    d_matvec(s->n, s->d, s->C, w, r, 0);
    d_matvec(s->n, s->d, s->D, th, dx, 0);
    for (int i = 0; i < s->n; i++)
        r[i] += dx[i] - s->e[i];
    d_matvec(s->n, s->d, s->D, r, g, 1);
    for (int j = 0; j < s->d; j++)
        g[j] *= 2;
    free(r), free(dx);
}

static const bl_inner_type *types(int i)
{
    const bl_inner_type *const T[] = {bl_inner_gd, bl_inner_hb, bl_inner_nesterov, bl_inner_lbfgs,
                                      bl_inner_newton_cg};
    return T[i];
}

static void solve_case(const inner_case *c)
{
    int p = c->pb->p;
    bl_oracle *o = bl_oracle_new(c->pb, 0);
    for (int ti = 0; ti < 5; ti++) {
        const bl_inner_type *T = types(ti);
        const char *nm = bl_inner_type_name(T);
        bl_status st;
        bl_inner *s = bl_inner_new(T, o, NULL, &st);
        EXPECT(s != NULL, "%s on %s: %s", nm, c->pb->name, bl_strerror(st));
        if (!s)
            continue;
        double g[P], th[P];
        st = bl_inner_set(s, NULL, c->lam);
        EXPECT(st != BL_OK || !bl_inner_steps_estimated(s), "%s on %s: steps estimated although the problem has constants",
               nm, c->pb->name);
        if (st == BL_OK)
            st = bl_inner_solve(s, 1e-10, MAXIT);
        int n0 = bl_inner_iters(s);
        memcpy(th, bl_inner_theta(s), (size_t)p * sizeof(double));
        c->grad(c->ctx, th, c->lam, g);
        double gn = d_nrm(p, g);
        printf("%-9s on %-11s: %5d iterations, |grad G| = %.2e, |theta - theta*| = %.2e\n", nm, c->pb->name,
               n0, gn, d_dist(p, th, c->theta_star));
        EXPECT(st == BL_OK && bl_inner_converged(s, 1e-10), "%s on %s: %s, |grad| %.3e after %d", nm,
               c->pb->name, bl_strerror(st), bl_inner_grad_norm(s), n0);
        EXPECT(gn <= 1e-10 + 1e-14, "%s on %s: plain-C |grad G| = %.3e", nm, c->pb->name, gn);
        EXPECT(d_dist(p, th, c->theta_star) <= (gn + 1e-14) / c->mu, "%s on %s: |theta - theta*| = %.3e > %.3e",
               nm, c->pb->name, d_dist(p, th, c->theta_star), gn / c->mu);
        EXPECT(d_dist(p, bl_inner_grad(s), g) <= 1e-13, "%s on %s: bl_inner_grad off by %.3e", nm, c->pb->name,
               d_dist(p, bl_inner_grad(s), g));
        EXPECT(fabs(bl_inner_grad_norm(s) - d_nrm(p, bl_inner_grad(s))) <= 1e-20, "%s: grad_norm", nm);

        /* Warm starts. */
        double warm[P];
        for (int j = 0; j < p; j++)
            warm[j] = c->theta_star[j] + 1e-8 * (j % 2 ? 1 : -1);
        st = bl_inner_set(s, warm, c->lam);
        if (st == BL_OK)
            st = bl_inner_solve(s, 1e-10, MAXIT);
        int nw = bl_inner_iters(s);
        printf("%-9s on %-11s: warm start 1e-8 from theta*: %d iterations\n", nm, c->pb->name, nw);
        EXPECT(st == BL_OK && bl_inner_converged(s, 1e-10) && nw < n0,
               "%s on %s: warm start took %d iterations (cold %d)", nm, c->pb->name, nw, n0);
        st = bl_inner_set(s, th, c->lam);
        if (st == BL_OK)
            st = bl_inner_solve(s, 1e-10, MAXIT);
        EXPECT(st == BL_OK && bl_inner_iters(s) == 0, "%s on %s: restart at the solution took %d iterations", nm,
               c->pb->name, bl_inner_iters(s));

        /* Caller-owned loop. */
        st = bl_inner_set(s, NULL, c->lam);
        while (st == BL_OK && bl_inner_iters(s) < MAXIT && !bl_inner_converged(s, 1e-10))
            st = bl_inner_iterate(s);
        EXPECT(st == BL_OK && bl_inner_iters(s) == n0 && !memcmp(bl_inner_theta(s), th, (size_t)p * sizeof(double)),
               "%s on %s: own loop %d iterations vs %d, |diff| %.3e", nm, c->pb->name, bl_inner_iters(s), n0,
               d_dist(p, bl_inner_theta(s), th));

        /* eps < 0: exactly max_iters. */
        st = bl_inner_set(s, NULL, c->lam);
        if (st == BL_OK)
            st = bl_inner_solve(s, -1, 7);
        EXPECT(st == BL_OK && bl_inner_iters(s) == 7, "%s: eps < 0 ran %d of 7", nm, bl_inner_iters(s));
        EXPECT(bl_inner_iterate_at(s, 0) == NULL, "%s: iterates stored without keep_iterates", nm);
        EXPECT(bl_inner_type_of(s) == T && bl_inner_type_from_name(nm) == T, "%s: type/name", nm);
        bl_inner_free(s);
    }
    bl_oracle_free(o);
}

/* keep_iterates and the step maps. */
static void test_iterates(const logreg *L, const bl_problem *pb, const double *lam)
{
    int p = pb->p;
    bl_constants k;
    logreg_constants(lam, &k, (void *)L);
    bl_oracle *o = bl_oracle_new(pb, 0);
    double th0[P], g[P];
    for (int j = 0; j < p; j++)
        th0[j] = 0.1 * (j + 1);
    for (int ti = 0; ti < 5; ti++) {
        const bl_inner_type *T = types(ti);
        const char *nm = bl_inner_type_name(T);
        bl_inner_opts io = {.keep_iterates = 1, .memory = 3};
        bl_inner *s = bl_inner_new(T, o, &io, NULL);
        if (!s || bl_inner_set(s, th0, lam) != BL_OK || bl_inner_solve(s, -1, 12) != BL_OK) {
            EXPECT(0, "%s: keep_iterates run failed", nm);
            bl_inner_free(s);
            continue;
        }
        int Kk = bl_inner_iters(s);
        EXPECT(Kk == 12, "%s: %d iterations", nm, Kk);
        const double *t0 = bl_inner_iterate_at(s, 0), *tK = bl_inner_iterate_at(s, Kk);
        EXPECT(t0 && !memcmp(t0, th0, (size_t)p * sizeof(double)), "%s: theta_0 is not the start", nm);
        EXPECT(tK && !memcmp(tK, bl_inner_theta(s), (size_t)p * sizeof(double)), "%s: theta_K is not current", nm);
        EXPECT(!bl_inner_iterate_at(s, Kk + 1) && !bl_inner_iterate_at(s, -1), "%s: out of range gives an iterate", nm);
        double a = bl_inner_step(s), b = bl_inner_momentum(s);
        double sl = sqrt(k.L), sm = sqrt(k.mu), q = (sl - sm) / (sl + sm);
        if (T == bl_inner_gd)
            EXPECT(fabs(a - 2 / (k.L + k.mu)) <= 1e-15 * a, "gd: default step %.17g", a);
        if (T == bl_inner_hb)
            EXPECT(fabs(a - 4 / ((sl + sm) * (sl + sm))) <= 1e-15 * a && fabs(b - q * q) <= 1e-15,
                   "hb: default step %.17g momentum %.17g", a, b);
        if (T == bl_inner_nesterov)
            EXPECT(fabs(a - 1 / k.L) <= 1e-15 * a && fabs(b - q) <= 1e-15, "nesterov: step %.17g momentum %.17g", a, b);
        if (T == bl_inner_gd || T == bl_inner_hb || T == bl_inner_nesterov) {
            double worst = 0, y[P];
            for (int i = 0; i < Kk; i++) {
                const double *ti_ = bl_inner_iterate_at(s, i), *tn = bl_inner_iterate_at(s, i + 1);
                const double *tp = bl_inner_iterate_at(s, i > 0 ? i - 1 : 0);
                if (T == bl_inner_nesterov) { /* y = θ_k + β(θ_k − θ_{k−1}), θ_{k+1} = y − α∇G(y) */
                    for (int j = 0; j < p; j++)
                        y[j] = ti_[j] + b * (ti_[j] - tp[j]);
                    logreg_G_c(L, y, lam, g, NULL);
                    for (int j = 0; j < p; j++)
                        worst = fmax(worst, fabs(tn[j] - (y[j] - a * g[j])));
                    continue;
                }
                logreg_G_c(L, ti_, lam, g, NULL);
                for (int j = 0; j < p; j++) {
                    double want = ti_[j] - a * g[j] + (T == bl_inner_hb ? b * (ti_[j] - tp[j]) : 0.0);
                    worst = fmax(worst, fabs(tn[j] - want));
                }
            }
            EXPECT(worst <= 1e-13, "%s: stored iterates break the step map by %.3e", nm, worst);
        }
        if (T == bl_inner_lbfgs) {
            const double *S, *Y;
            int cnt = bl_inner_lbfgs_pairs(s, &S, &Y);
            EXPECT(cnt >= 1 && cnt <= 3, "lbfgs: %d pairs with memory 3", cnt);
            if (cnt >= 1) {
                const double *tm = bl_inner_iterate_at(s, Kk - 1);
                double gK[P], gm[P], sv[P], yv[P];
                logreg_G_c(L, tK, lam, gK, NULL);
                logreg_G_c(L, tm, lam, gm, NULL);
                for (int j = 0; j < p; j++) {
                    sv[j] = tK[j] - tm[j];
                    yv[j] = gK[j] - gm[j];
                }
                EXPECT(t_relerr(S + (size_t)(cnt - 1) * p, sv, p, 1e-300) <= 1e-12 &&
                           t_relerr(Y + (size_t)(cnt - 1) * p, yv, p, 1e-300) <= 1e-9,
                       "lbfgs: newest pair is not (theta_K - theta_K-1, grad_K - grad_K-1)");
            }
        } else {
            EXPECT(bl_inner_lbfgs_pairs(s, NULL, NULL) == 0, "%s: has L-BFGS pairs", nm);
        }
        bl_inner_free(s);
    }
    bl_oracle_free(o);
}

int main(void)
{
    logreg L;
    logreg_init(&L, 80, 50, P, 1.0, 19);
    bl_problem pl = logreg_problem(&L);
    double lam[P] = {-1.0, -2.0, -1.5, -0.5, -1.2, -2.5}, ths[P];
    logreg_newton(&L, lam, ths);
    bl_constants k;
    logreg_constants(lam, &k, &L);
    inner_case c1 = {&pl, lam, k.mu, logreg_grad, &L, ths};
    solve_case(&c1);

    lstsq s;
    lstsq_init(&s, 60, 6, 23);
    bl_problem ps = lstsq_problem(&s);
    double w[P] = {1, 1, 1, 1, 1, 1}, xs[P], hg[P];
    lstsq_truth(&s, w, xs, hg);
    inner_case c2 = {&ps, w, 2 * s.ev[0], lstsq_grad, &s, xs};
    solve_case(&c2);

    test_iterates(&L, &pl, lam);

    EXPECT(bl_inner_type_from_name("sgd") == NULL && bl_inner_type_from_name(NULL) == NULL, "unknown type name");
    EXPECT(bl_inner_new(NULL, NULL, NULL, NULL) == NULL, "bl_inner_new(NULL)");
    bl_inner_free(NULL);
    bl_oracle_free(NULL);
    lstsq_free(&s);
    logreg_free(&L);
    return t_done();
}
