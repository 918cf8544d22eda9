/*
 * tests/bilevel/test_status.c — the status contract of bl_hg_eval /
 * bl_hypergrad (bilevel.h, "the hypergradient context"): each failure that a
 * success status used to hide returns its own status, fills hg and diag
 * (produced = 1) where the contract says so, and names the solver and the
 * iteration in its message:
 *   - a saddle (∇G = 0 at θ_0, H indefinite): BL_ENONCONVEX from the
 *     Lanczos estimate (no constants), the Lanczos probe (uncertified
 *     constants), CG and Cholesky;
 *   - an inner problem unbounded below: BL_ENONFINITE naming the iteration;
 *   - iteration caps with a requested tolerance: BL_ENOTCONVERGED, hg equal
 *     to the no-tolerance run of the same iterations; the unroll family and
 *     tol < 0 are BL_OK;
 *   - GD steps 10/L (inner and linear): BL_ENONFINITE naming the iteration.
 */
#include "tests/bilevel/problems.h"

#include <stdio.h>

#define SENTINEL 424242.0

/* ------------------------------------------------------------- problems */

/* saddle: G = ½θᵀdiag(2 + λ₀², −1, 1)θ, F = ½‖θ − c‖² (p = 3, m = 1). θ = 0
 * is stationary for every λ, so L-BFGS from 0 stops at iteration 0; when
 * c₁ = 0, CG on H q = −c stays in span(e₀, e₂) and never meets the −1. */
typedef struct saddle {
    double c[3];
    double D[3];    /* diag(2, −1, 1) */
    double e0[3];   /* (1, 0, 0) */
    int constants;  /* 1: an uncertified constants callback */
} saddle;

static ad_var saddle_G(ad_tape *t, ad_var th, ad_var la, const int *b, int nb, void *ctx)
{
    saddle *s = ctx;
    ad_var Dt = ad_mul(t, ad_const_ref(t, 3, 1, s->D), th);
    ad_var t0 = ad_dot(t, ad_const_ref(t, 3, 1, s->e0), th);
    ad_var extra = ad_mul(t, ad_dot(t, la, la), ad_mul(t, t0, t0)); /* λ₀²θ₀² */
    return ad_scale(t, ad_add(t, ad_dot(t, th, Dt), extra), 0.5);
}

static ad_var half_dist_F(ad_tape *t, ad_var th, ad_var la, const int *b, int nb, void *ctx)
{
    const double *c = ctx; /* the first member of saddle / unbounded is c */
    ad_var r = ad_sub(t, th, ad_const_ref(t, 3, 1, c));
    return ad_scale(t, ad_dot(t, r, r), 0.5);
}

/* Estimates a careless model might give: μ = 1, L = 4, not certified. */
static bl_status saddle_constants(const double *la, bl_constants *k, void *ctx)
{
    memset(k, 0, sizeof *k);
    k->mu = 1, k->L = 4 + la[0] * la[0];
    return BL_OK;
}

static bl_problem saddle_problem(saddle *s)
{
    bl_problem pb = {.name = "saddle", .p = 3, .m = 1, .G = saddle_G, .F = half_dist_F,
                     .constants = s->constants ? saddle_constants : NULL, .ctx = s};
    return pb;
}

static void saddle_init(saddle *s, double c1, int constants)
{
    *s = (saddle){{1.0, c1, 2.0}, {2, -1, 1}, {1, 0, 0}, constants};
}

/* unbounded: G = λᵀθ − ½‖θ‖² (kind 0), λᵀθ − ¼Σθ⁴ (1) or λᵀθ − Σe^θ (2),
 * F = ½‖θ − c‖², p = m = 3: no minimiser, L-BFGS runs away. Its secant
 * pairs all have sᵀy < 0 and are dropped, so it takes steps of length 1
 * along −∇G: ‖∇G‖ grows linearly (0), polynomially (1), or e-fold per
 * iteration (2: 1e10 × the start within about 25 iterations). */
typedef struct unbounded {
    double c[3];
    int kind;
} unbounded;

static const char *const KIND[] = {"quadratic", "quartic", "exponential"};

static ad_var unbounded_G(ad_tape *t, ad_var th, ad_var la, const int *b, int nb, void *ctx)
{
    unbounded *u = ctx;
    ad_var lin = ad_dot(t, la, th);
    if (u->kind == 2)
        return ad_sub(t, lin, ad_sum(t, ad_exp(t, th)));
    if (u->kind == 1) {
        ad_var s = ad_mul(t, th, th);
        return ad_sub(t, lin, ad_scale(t, ad_dot(t, s, s), 0.25));
    }
    return ad_sub(t, lin, ad_scale(t, ad_dot(t, th, th), 0.5));
}

static bl_problem unbounded_problem(unbounded *u)
{
    bl_problem pb = {.name = "unbounded", .p = 3, .m = 3, .G = unbounded_G, .F = half_dist_F,
                     .ctx = u};
    return pb;
}

/* --------------------------------------------------------------- helpers */

static bl_status run(const bl_problem *pb, const double *lam, bl_hg_opts o, double *hg,
                     bl_diag *d, char *msg, size_t len)
{
    for (int j = 0; j < pb->m; j++)
        hg[j] = SENTINEL;
    msg[0] = '\0';
    return bl_hypergrad(pb, lam, &o, hg, d, msg, len);
}

static int finite_all(const double *x, int n)
{
    for (int j = 0; j < n; j++)
        if (!isfinite(x[j]))
            return 0;
    return 1;
}

static int has(const char *msg, const char *needle) { return strstr(msg, needle) != NULL; }

/* ---------------------------------------------------------------- saddle */

static void test_saddle(void)
{
    saddle s;
    double lam[1] = {0.7}, hg[1];
    char msg[512];
    bl_diag d;
    /* No constants: the full diagnostics' Lanczos estimate finds μ ≤ 0. With
     * uncertified constants: the 10-step Lanczos probe does. */
    for (int withk = 0; withk < 2; withk++) {
        saddle_init(&s, 0.0, withk);
        bl_problem pb = saddle_problem(&s);
        const bl_hg_opts os[] = {
            {.method = BL_IFT_CG}, {.method = BL_SHINE}, {.method = BL_SHINE_REFINE},
            {.method = BL_SHINE_OPA}, {.method = BL_IFT_GD, .linear_step = 0.3},
            {.method = BL_IFT_IDENTITY},
        };
        for (size_t k = 0; k < sizeof os / sizeof os[0]; k++) {
            const char *name = bl_method_name(os[k].method);
            bl_status st = run(&pb, lam, os[k], hg, &d, msg, sizeof msg);
            EXPECT(st == BL_ENONCONVEX, "saddle (%s constants)/%s: %s (%s), expected "
                   "BL_ENONCONVEX", withk ? "uncertified" : "no", name, bl_strerror(st), msg);
            EXPECT(d.produced == 1 && hg[0] == 0.0, "saddle/%s: produced %d, hg %g (expected "
                   "0: θ_ε = 0 makes cross(q) = 0 and F has no λ)", name, d.produced, hg[0]);
            EXPECT(d.inner_iters == 0 && d.inner_stop == BL_STOP_TOL,
                   "saddle/%s: L-BFGS stops at iteration 0 (%d, %s)", name, d.inner_iters,
                   bl_stop_name(d.inner_stop));
            EXPECT(has(msg, name) && has(msg, "Ritz") && has(msg, "-1"),
                   "saddle/%s: the message names the method and the Ritz value -1: '%s'", name,
                   msg);
            EXPECT(isnan(d.bound_a_posteriori), "saddle/%s: no bound from a failed estimate (%g)",
                   name, d.bound_a_posteriori);
        }
        /* the same problem with the probe off is silent only without constants */
        if (!withk) {
            bl_hg_opts o = {.method = BL_IFT_CG, .diag_level = BL_DIAG_FULL,
                            .bound_lanczos_iters = -1};
            bl_status st = run(&pb, lam, o, hg, &d, msg, sizeof msg);
            EXPECT(st == BL_OK, "saddle, estimate switched off: %s (%s)", bl_strerror(st), msg);
        }
    }
    /* exact: Cholesky fails; hg from CG's best iterate */
    saddle_init(&s, 0.0, 0);
    bl_problem pb = saddle_problem(&s);
    bl_status st = run(&pb, lam, (bl_hg_opts){.method = BL_EXACT}, hg, &d, msg, sizeof msg);
    EXPECT(st == BL_ENONCONVEX && d.produced && d.linear_stop == BL_STOP_NONCONVEX &&
               hg[0] == 0.0 && has(msg, "Cholesky") && has(msg, "column"),
           "saddle/exact: %s, produced %d, stop %s, hg %g, '%s'", bl_strerror(st), d.produced,
           bl_stop_name(d.linear_stop), hg[0], msg);
    /* c₁ ≠ 0: CG itself meets the −1 */
    saddle_init(&s, 1.5, 0);
    const bl_method cg_methods[] = {BL_IFT_CG, BL_SHINE_REFINE};
    for (int k = 0; k < 2; k++) {
        const char *name = bl_method_name(cg_methods[k]);
        st = run(&pb, lam, (bl_hg_opts){.method = cg_methods[k]}, hg, &d, msg, sizeof msg);
        EXPECT(st == BL_ENONCONVEX && d.produced && d.linear_stop == BL_STOP_NONCONVEX &&
                   finite_all(hg, 1) && has(msg, "cg") && has(msg, "iteration"),
               "saddle c1 != 0/%s: %s, produced %d, stop %s, '%s'", name, bl_strerror(st),
               d.produced, bl_stop_name(d.linear_stop), msg);
    }
}

/* ------------------------------------------------------------ divergence */

static void test_divergence(void)
{
    double lam[3] = {0.5, -1.0, 0.25}, hg[3];
    char msg[512];
    bl_diag d;
    for (int kind = 0; kind < 3; kind++) {
        unbounded u = {{1.0, 2.0, -1.0}, kind};
        bl_problem pb = unbounded_problem(&u);
        const bl_method ms[] = {BL_IFT_IDENTITY, BL_SHINE, BL_SHINE_OPA, BL_IFT_CG, BL_EXACT};
        for (size_t k = 0; k < sizeof ms / sizeof ms[0]; k++) {
            const char *name = bl_method_name(ms[k]);
            for (int lv = 0; lv < 3; lv++) {
                bl_hg_opts o = {.method = ms[k], .diag_level = (bl_diag_level)lv};
                bl_status st = run(&pb, lam, o, hg, &d, msg, sizeof msg);
                /* produced means a finite hg; otherwise hg is untouched */
                EXPECT(d.produced ? finite_all(hg, 3) : hg[0] == SENTINEL,
                       "%s/%s: produced %d with hg %g", KIND[kind], name, d.produced, hg[0]);
                if (kind < 2) {
                    /* running away slowly: never BL_OK (the tolerance is not met at 1000
                     * iterations, or the curvature checks find H indefinite) */
                    EXPECT(st != BL_OK && d.produced == 1 && msg[0],
                           "%s/%s (level %d): %s (%s), must not be BL_OK", KIND[kind], name, lv,
                           bl_strerror(st), msg);
                    continue;
                }
                EXPECT(st == BL_ENONFINITE, "%s/%s (level %d): %s (%s), expected BL_ENONFINITE",
                       KIND[kind], name, lv, bl_strerror(st), msg);
                EXPECT(has(msg, "iteration") && has(msg, "lbfgs") && has(msg, "diverging"),
                       "%s/%s: the message names the solver and the iteration: '%s'", KIND[kind],
                       name, msg);
                EXPECT(d.produced == 1 && d.inner_iters < 100,
                       "%s/%s: a diverging (finite) iterate still gives hg, stopped early: "
                       "produced %d after %d iterations", KIND[kind], name, d.produced,
                       d.inner_iters);
            }
        }
    }
}

/* --------------------------------------------------------- iteration cap */

static void test_caps(void)
{
    logreg L;
    logreg_init(&L, 100, 60, 6, 1.0, 31);
    bl_problem pb = logreg_problem(&L);
    int m = pb.m;
    double lam[6] = {-1.0, -0.5, -1.5, -0.8, -1.2, -0.3}, hg[6], hr[6];
    char msg[512], m2[512];
    bl_diag d, d2;
    /* inner cap 3 with the default tolerance */
    bl_status st = run(&pb, lam, (bl_hg_opts){.method = BL_IFT_CG, .inner_iters = 3}, hg, &d,
                       msg, sizeof msg);
    EXPECT(st == BL_ENOTCONVERGED && d.produced == 1 && finite_all(hg, m) &&
               d.inner_iters == 3 && d.inner_stop == BL_STOP_MAXITER,
           "ift-cg inner_iters 3: %s, produced %d, %d iterations, stop %s (%s)", bl_strerror(st),
           d.produced, d.inner_iters, bl_stop_name(d.inner_stop), msg);
    EXPECT(has(msg, "inner lbfgs") && has(msg, "3 iterations") && has(msg, "ift-cg"),
           "inner cap message: '%s'", msg);
    /* hg is what the same 3 iterations give without a tolerance (BL_OK) */
    st = run(&pb, lam, (bl_hg_opts){.method = BL_IFT_CG, .inner_iters = 3, .inner_tol = -1}, hr,
             &d2, m2, sizeof m2);
    EXPECT(st == BL_OK && !strcmp(m2, "") && !memcmp(hg, hr, sizeof hg),
           "inner_tol < 0 with 3 iterations: %s (%s), hg equal to the capped run's", bl_strerror(st),
           m2);
    /* linear cap 1 with the default linear tolerance, p = 6 */
    st = run(&pb, lam, (bl_hg_opts){.method = BL_IFT_CG, .linear_iters = 1}, hg, &d, msg,
             sizeof msg);
    EXPECT(st == BL_ENOTCONVERGED && d.produced == 1 && finite_all(hg, m) &&
               d.linear_iters == 1 && d.linear_stop == BL_STOP_MAXITER && d.inner_stop == BL_STOP_TOL,
           "ift-cg linear_iters 1: %s, produced %d, %d linear iterations (%s)", bl_strerror(st),
           d.produced, d.linear_iters, msg);
    EXPECT(has(msg, "linear cg") && has(msg, "1 iterations"), "linear cap message: '%s'", msg);
    st = run(&pb, lam, (bl_hg_opts){.method = BL_IFT_CG, .linear_iters = 1, .linear_tol = -1},
             hr, &d2, m2, sizeof m2);
    EXPECT(st == BL_OK && !memcmp(hg, hr, sizeof hg), "linear_tol < 0, 1 iteration: %s (%s)",
           bl_strerror(st), m2);
    /* both caps, no tolerance: BL_OK */
    st = run(&pb, lam, (bl_hg_opts){.method = BL_IFT_GD, .inner_iters = 2, .inner_tol = -1,
                                    .linear_iters = 2, .linear_tol = -1},
             hg, &d, msg, sizeof msg);
    EXPECT(st == BL_OK && d.inner_iters == 2 && d.linear_iters == 2,
           "ift-gd, caps without tolerance: %s (%s), %d/%d iterations", bl_strerror(st), msg,
           d.inner_iters, d.linear_iters);
    st = run(&pb, lam, (bl_hg_opts){.method = BL_IFT_HB, .linear_iters = 2}, hg, &d, msg,
             sizeof msg);
    EXPECT(st == BL_ENOTCONVERGED && has(msg, "linear hb"), "ift-hb linear cap 2: %s (%s)",
           bl_strerror(st), msg);
    /* the unroll family runs exactly K steps: BL_OK, never "not converged" */
    const bl_method un[] = {BL_UNROLL, BL_UNROLL_GENERIC, BL_UNROLL_TRUNCATED,
                            BL_UNROLL_CHECKPOINTED, BL_UNROLL_FORWARD, BL_INEXACT_AD};
    for (size_t k = 0; k < sizeof un / sizeof un[0]; k++) {
        EXPECT(bl_method_is_unroll(un[k]), "%s is in the unroll family", bl_method_name(un[k]));
        for (int lv = 0; lv < 2; lv++) {
            bl_hg_opts o = {.method = un[k], .inner_iters = 5, .truncate = 3, .snapshots = 3,
                            .diag_level = lv ? BL_DIAG_CHEAP : BL_DIAG_FULL};
            st = run(&pb, lam, o, hg, &d, msg, sizeof msg);
            EXPECT(st == BL_OK && !strcmp(msg, "") && d.produced && d.inner_iters == 5 &&
                       finite_all(hg, m),
                   "%s K = 5 (level %d): %s (%s), %d iterations", bl_method_name(un[k]), lv,
                   bl_strerror(st), msg, d.inner_iters);
        }
    }
    const bl_method not_un[] = {BL_IFT_CG, BL_IFT_GD, BL_SHINE, BL_EXACT, BL_IFT_IDENTITY};
    for (size_t k = 0; k < sizeof not_un / sizeof not_un[0]; k++)
        EXPECT(!bl_method_is_unroll(not_un[k]), "%s is not in the unroll family",
               bl_method_name(not_un[k]));
    /* shine with a cap: the inner tolerance is still a request */
    st = run(&pb, lam, (bl_hg_opts){.method = BL_SHINE, .inner_iters = 2}, hg, &d, msg,
             sizeof msg);
    EXPECT(st == BL_ENOTCONVERGED && d.produced && has(msg, "2 iterations"),
           "shine inner_iters 2: %s (%s)", bl_strerror(st), msg);
    logreg_free(&L);
}

/* ---------------------------------------------------- GD step too large */

static void test_big_step(void)
{
    ridge R;
    ridge_init(&R, 40, 30, 6, 5);
    bl_problem pb = ridge_problem(&R);
    double lam[1] = {-0.5}, hg[1];
    bl_constants k;
    ridge_constants(lam, &k, &R);
    char msg[512];
    bl_diag d;
    /* inner GD at 10/L */
    bl_hg_opts o = {.method = BL_IFT_GD, .inner = bl_inner_gd, .step = 10 / k.L};
    bl_status st = run(&pb, lam, o, hg, &d, msg, sizeof msg);
    EXPECT(st == BL_ENONFINITE && has(msg, "iteration") && has(msg, "inner gd"),
           "ift-gd, inner step 10/L: %s, '%s'", bl_strerror(st), msg);
    EXPECT(d.produced ? finite_all(hg, 1) : hg[0] == SENTINEL, "inner step 10/L: produced %d, "
           "hg %g", d.produced, hg[0]);
    /* linear GD (and heavy ball) at 10/L after a converged inner solve */
    const bl_method lm[] = {BL_IFT_GD, BL_IFT_HB, BL_IFT_NEUMANN};
    for (int j = 0; j < 3; j++) {
        const char *name = bl_method_name(lm[j]);
        for (int lv = 0; lv < 2; lv++) {
            bl_hg_opts ol = {.method = lm[j], .linear_step = 10 / k.L, .linear_momentum = 0.5,
                             .diag_level = lv ? BL_DIAG_CHEAP : BL_DIAG_FULL};
            st = run(&pb, lam, ol, hg, &d, msg, sizeof msg);
            EXPECT(st == BL_ENONFINITE && has(msg, "iteration") && has(msg, "linear"),
                   "%s, linear step 10/L (level %d): %s, '%s'", name, lv, bl_strerror(st), msg);
            EXPECT(d.produced ? finite_all(hg, 1) : hg[0] == SENTINEL,
                   "%s linear step 10/L: produced %d, hg %g", name, d.produced, hg[0]);
            EXPECT(d.linear_iters < 1000, "%s: the diverging solve stops early (%d iterations)",
                   name, d.linear_iters);
        }
    }
    ridge_free(&R);
}

int main(void)
{
    test_saddle();
    test_divergence();
    test_caps();
    test_big_step();
    return t_done();
}
