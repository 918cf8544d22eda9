/*
 * tests/bilevel/test_accuracy.c — estimators against known truth.
 *
 * Truths (problems.h): ridge by its closed form, the least-squares problem
 * of README, Notation by the normal equations, per-feature-λ logistic
 * regression by a dense Newton solve and a dense Cholesky solve. Each truth
 * is itself checked against central differences of h(λ).
 *
 * Checks: ift-cg, exact and shine-refine reach the truth to 1e-9 relative
 * as inner_tol / linear_tol shrink (the error at the tightest setting is
 * below 1e-9 and below the error at the loosest); unroll's error decreases
 * as K grows and falls below 1e-8.
 */
#include "tests/bilevel/problems.h"

#include <stdio.h>

enum { MAXM = 8 };

typedef double (*h_fn)(void *ctx, const double *lam); /* h(λ) by the truth */

/* Central differences of h against the truth's ∇h (relative 1e-6). */
static void check_truth_fd(const char *name, h_fn h, void *ctx, int m, const double *lam,
                           const double *hg)
{
    double fd[MAXM], l[MAXM];
    for (int j = 0; j < m; j++) {
        double eps = 1e-5;
        memcpy(l, lam, (size_t)m * sizeof(double));
        l[j] = lam[j] + eps;
        double hp = h(ctx, l);
        l[j] = lam[j] - eps;
        double hm = h(ctx, l);
        fd[j] = (hp - hm) / (2 * eps);
    }
    double e = t_relerr(fd, hg, (size_t)m, 1e-300);
    EXPECT(e < 1e-6, "%s: the test's own truth disagrees with finite differences: %.3e", name, e);
}

/* One estimate; returns the relative error against truth. */
static double err_of(const bl_problem *pb, const double *lam, const bl_hg_opts *o,
                     const double *truth, bl_diag *d)
{
    double hg[MAXM];
    char msg[256] = "";
    bl_status st = bl_hypergrad(pb, lam, o, hg, d, msg, sizeof msg);
    EXPECT(st == BL_OK, "%s on %s: %s (%s)", bl_method_name(o->method), pb->name, bl_strerror(st), msg);
    return st == BL_OK ? t_relerr(hg, truth, (size_t)pb->m, 1e-300) : INFINITY;
}

/* ift-cg, exact, shine-refine with shrinking tolerances. */
static void check_converging_methods(const bl_problem *pb, const double *lam, const double *truth)
{
    const bl_method ms[] = {BL_IFT_CG, BL_EXACT, BL_SHINE_REFINE};
    const double tols[] = {1e-3, 1e-5, 1e-7, 1e-9, 1e-12};
    enum { NT = sizeof tols / sizeof tols[0] };
    for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++) {
        double e[NT];
        for (int k = 0; k < NT; k++) {
            bl_hg_opts o = {.method = ms[i], .inner_tol = tols[k], .linear_tol = tols[k],
                            .inner_iters = 5000};
            bl_diag d;
            e[k] = err_of(pb, lam, &o, truth, &d);
            EXPECT(d.inner_grad_norm <= tols[k], "%s on %s: inner gradient %.3e above inner_tol %.0e",
                   bl_method_name(ms[i]), pb->name, d.inner_grad_norm, tols[k]);
        }
        printf("%-13s %-12s errors:", bl_method_name(ms[i]), pb->name);
        for (int k = 0; k < NT; k++)
            printf(" %.2e", e[k]);
        printf("\n");
        EXPECT(e[NT - 1] <= 1e-9, "%s on %s: relative error %.3e at the tightest tolerances",
               bl_method_name(ms[i]), pb->name, e[NT - 1]);
        EXPECT(e[NT - 1] <= e[0], "%s on %s: error did not shrink with the tolerances (%.3e -> %.3e)",
               bl_method_name(ms[i]), pb->name, e[0], e[NT - 1]);
    }
}

/* unroll: error decreasing in K, below 1e-8 at the largest K. */
static void check_unroll_converges(const bl_problem *pb, const double *lam, const double *truth,
                                   int K0, int nK)
{
    double prev = INFINITY, last = INFINITY;
    int K = K0;
    printf("unroll        %-12s errors:", pb->name);
    for (int i = 0; i < nK; i++, K *= 2) {
        bl_hg_opts o = {.method = BL_UNROLL, .inner_iters = K};
        bl_diag d;
        double e = err_of(pb, lam, &o, truth, &d);
        printf(" K=%d:%.2e", K, e);
        EXPECT(d.inner_iters == K, "unroll on %s: %d inner steps, asked %d", pb->name, d.inner_iters, K);
        if (prev > 1e-12) /* strictly decreasing until rounding is reached */
            EXPECT(e < prev, "unroll on %s: error grew from %.3e to %.3e at K = %d", pb->name, prev, e, K);
        prev = last = e;
    }
    printf("\n");
    EXPECT(last < 1e-8, "unroll on %s: error %.3e at K = %d", pb->name, last, K / 2);
}

/* ------------------------------------------------------------------ ridge */

static double ridge_h(void *ctx, const double *lam) { return ridge_truth(ctx, lam[0], NULL, NULL); }

static void test_ridge(void)
{
    ridge r;
    ridge_init(&r, 50, 40, 6, 11);
    bl_problem pb = ridge_problem(&r);
    double lam[1] = {-1.0}, truth[1];
    ridge_truth(&r, lam[0], NULL, truth);
    check_truth_fd("ridge", ridge_h, &r, 1, lam, truth);
    check_converging_methods(&pb, lam, truth);
    check_unroll_converges(&pb, lam, truth, 2, 7);
    ridge_free(&r);
}

/* ------------------------------------------------------------------ lstsq */

static double lstsq_h(void *ctx, const double *w)
{
    lstsq *s = ctx;
    double x[MAXM], hg[MAXM], *r = malloc((size_t)s->n * sizeof(double));
    lstsq_truth(s, w, x, hg);
    d_matvec(s->n, s->d, s->A, x, r, 0);
    double h = 0;
    for (int i = 0; i < s->n; i++)
        h += (r[i] - s->b[i]) * (r[i] - s->b[i]);
    free(r);
    return h;
}

static void test_lstsq(void)
{
    lstsq s;
    lstsq_init(&s, 60, 6, 23);
    bl_problem pb = lstsq_problem(&s);
    double w[6] = {1, 1, 1, 1, 1, 1}, x[6], truth[6];
    lstsq_truth(&s, w, x, truth);
    printf("lstsq: kappa = L/mu = %.1f\n", s.ev[5] / s.ev[0]);
    check_truth_fd("lstsq", lstsq_h, &s, 6, w, truth);
    check_converging_methods(&pb, w, truth);
    check_unroll_converges(&pb, w, truth, 25, 8);
    lstsq_free(&s);
}

/* ----------------------------------------------------------------- logreg */

static double logreg_h(void *ctx, const double *lam) { return logreg_truth(ctx, lam, NULL, NULL); }

static void test_logreg(void)
{
    logreg L;
    logreg_init(&L, 80, 60, 5, 1.0, 5);
    bl_problem pb = logreg_problem(&L);
    double lam[5] = {-2.0, -1.5, -1.0, -2.5, -0.5}, truth[5];
    logreg_truth(&L, lam, NULL, truth);
    check_truth_fd("logreg", logreg_h, &L, 5, lam, truth);
    check_converging_methods(&pb, lam, truth);
    check_unroll_converges(&pb, lam, truth, 4, 7);
    logreg_free(&L);
}

int main(void)
{
    test_ridge();
    test_lstsq();
    test_logreg();
    return t_done();
}
