/*
 * tests/bilevel/test_context.c — the hypergradient context bl_hg against
 * independent truth (closed forms and dense solves of problems.h, a separate
 * bl_oracle, a fresh context, bl_hypergrad):
 *   - warm-started bl_hg_eval over a λ path equals cold bl_hypergrad (and the
 *     dense truth) at each λ to the requested tolerances, and saves inner work;
 *   - bl_hg_theta / bl_hg_q read back θ_ε and q: ∇_θG(θ_ε) and Hq − ∇_θF
 *     measured with a separate oracle, and hg = ∇_λF − cross(q) rebuilt;
 *   - bl_hg_set_theta / bl_hg_set_q: the exact θ* (dense solve) costs 0 inner
 *     iterations, NULL resets to a cold start, non-finite inputs are refused;
 *   - cold_start = 1 is bitwise bl_hypergrad;
 *   - diagnostics levels: the same hg bitwise, no bound at cheap/none, fewer
 *     oracle products;
 *   - the message is "" after BL_OK; a failing evaluation leaves hg untouched;
 *   - options are validated before any oracle work; no doubled prefixes.
 */
#include "tests/bilevel/problems.h"

#include <stdio.h>

#define PATH 20

/* A λ path: PATH points λ_i = a + (i / (PATH − 1))·(b − a) (entry-wise, m). */
static void path_point(int m, const double *a, const double *b, int i, double *lam)
{
    double t = (double)i / (PATH - 1);
    for (int j = 0; j < m; j++)
        lam[j] = a[j] + t * (b[j] - a[j]);
}

static int same_bits(const double *a, const double *b, int n)
{
    return memcmp(a, b, (size_t)n * sizeof(double)) == 0;
}

/* ---------------------------------------------------------------- truths */

typedef struct truth {
    const bl_problem *pb;
    ridge *r;  /* one of r, L */
    logreg *L;
} truth;

static void truth_hg(const truth *T, const double *lam, double *hg)
{
    if (T->r)
        ridge_truth(T->r, lam[0], NULL, hg);
    else
        logreg_truth(T->L, lam, NULL, hg);
}

/* ----------------------------------------------- warm path = cold, truth */

typedef struct mspec {
    bl_method method;
    int K;         /* inner_iters (0: default) */
    int tolerance; /* 1: stops at a tolerance (warm starts save iterations) */
} mspec;

static const mspec METHODS[] = {
    {BL_IFT_CG, 0, 1}, {BL_IFT_GD, 0, 1}, {BL_IFT_HB, 0, 1},
    {BL_SHINE_REFINE, 0, 1}, {BL_UNROLL, 300, 0}, {BL_INEXACT_AD, 300, 0},
};

static bl_hg_opts spec_opts(const mspec *s)
{
    bl_hg_opts o = {.method = s->method, .inner_iters = s->K};
    if (s->tolerance)
        o.inner_tol = 1e-11; /* linear_tol: the default 1e-12·max(1, ‖∇_θF‖) */
    return o;
}

/* Along the path: ‖hg − ∇h‖ ≤ 1e-8‖∇h‖ for the warm and the cold result, so
 * ‖hg_warm − hg_cold‖ ≤ 2e-8‖∇h‖. With inner tolerance ε = 1e-11 and linear
 * tolerance δ ≈ 1e-12 the IFT error is about ‖B‖(δ + L_f ε/μ)/μ + ‖q‖L_B ε/μ
 * ≲ 1e-10 relative here (μ ≥ 0.37, ‖B‖ = e^λ‖θ‖ and ‖q‖ of order 1), and
 * unrolling 300 GD steps at κ ≤ 4 leaves K q^K ≈ 1e-64: 1e-8 is loose for
 * both and still far below anything a wrong warm start would give. */
static void test_warm_path(const char *tag, const bl_problem *pb, const truth *T,
                           const double *a, const double *b)
{
    int m = pb->m;
    double lam[64], hw[64], hc[64], ht[64];
    for (size_t s = 0; s < sizeof METHODS / sizeof METHODS[0]; s++) {
        const mspec *S = &METHODS[s];
        const char *name = bl_method_name(S->method);
        bl_hg_opts o = spec_opts(S);
        bl_status st;
        bl_hg *h = bl_hg_new(pb, &o, &st);
        EXPECT(h, "%s/%s: bl_hg_new: %s", tag, name, bl_strerror(st));
        if (!h)
            continue;
        long warm_in = 0, cold_in = 0, warm_lin = 0, cold_lin = 0;
        double worst_w = 0, worst_c = 0, worst_wc = 0;
        int bad = 0;
        for (int i = 0; i < PATH; i++) {
            path_point(m, a, b, i, lam);
            bl_diag dw, dc;
            char msg[256];
            bl_status sw = bl_hg_eval(h, lam, hw, &dw);
            bl_status sc = bl_hypergrad(pb, lam, &o, hc, &dc, msg, sizeof msg);
            if (sw != BL_OK || sc != BL_OK) {
                bad++;
                EXPECT(0, "%s/%s at point %d: warm %s (%s), cold %s (%s)", tag, name, i,
                       bl_strerror(sw), bl_hg_message(h), bl_strerror(sc), msg);
                continue;
            }
            truth_hg(T, lam, ht);
            double tn = d_nrm(m, ht);
            worst_w = fmax(worst_w, d_dist(m, hw, ht) / tn);
            worst_c = fmax(worst_c, d_dist(m, hc, ht) / tn);
            worst_wc = fmax(worst_wc, d_dist(m, hw, hc) / tn);
            warm_in += dw.inner_iters, cold_in += dc.inner_iters;
            warm_lin += dw.linear_iters, cold_lin += dc.linear_iters;
            if (i == 0)
                EXPECT(same_bits(hw, hc, m), "%s/%s: the first warm evaluation is bl_hypergrad "
                       "bitwise", tag, name);
        }
        EXPECT(!bad && worst_w <= 1e-8, "%s/%s: warm path, worst ||hg - truth||/||truth|| = %.3e "
               "> 1e-8", tag, name, worst_w);
        EXPECT(!bad && worst_c <= 1e-8, "%s/%s: cold, worst relative error %.3e > 1e-8", tag, name,
               worst_c);
        EXPECT(!bad && worst_wc <= 2e-8, "%s/%s: ||hg_warm - hg_cold||/||truth|| = %.3e > 2e-8",
               tag, name, worst_wc);
        if (S->tolerance)
            EXPECT(warm_in < cold_in, "%s/%s: warm starts save inner iterations (%ld warm, %ld "
                   "cold)", tag, name, warm_in, cold_in);
        else
            EXPECT(warm_in == cold_in && cold_in == (long)PATH * S->K,
                   "%s/%s: exactly K = %d steps per point (%ld warm, %ld cold)", tag, name, S->K,
                   warm_in, cold_in);
        /* GD and HB contract the initial residual at a fixed rate, so a warm q
         * saves iterations; CG on p ≤ 6 terminates in about p steps from any
         * start (its warm q is checked in test_set: q* costs 0 iterations). */
        if (S->method == BL_IFT_GD || S->method == BL_IFT_HB)
            EXPECT(warm_lin < cold_lin, "%s/%s: the warm q saves linear iterations (%ld warm, "
                   "%ld cold)", tag, name, warm_lin, cold_lin);
        bl_hg_free(h);
    }
}

/* ------------------------------------------- θ_ε and q read back, checked */

static void test_readback(const char *tag, const bl_problem *pb, const double *lam)
{
    int p = pb->p, m = pb->m;
    const bl_method ms[] = {BL_IFT_CG, BL_IFT_GD, BL_SHINE_REFINE, BL_EXACT};
    bl_oracle *orc = bl_oracle_new(pb, 0);
    double *g = malloc(sizeof(double) * (4 * (size_t)p + 3 * (size_t)m));
    double *gF = g + p, *Hq = gF + p, *th = Hq + p, *gl = th + p, *cr = gl + m, *hg = cr + m;
    for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++) {
        const char *name = bl_method_name(ms[i]);
        bl_hg_opts o = {.method = ms[i], .inner_tol = 1e-11, .linear_tol = 1e-12};
        bl_status st;
        bl_hg *h = bl_hg_new(pb, &o, &st);
        bl_diag d;
        st = h ? bl_hg_eval(h, lam, hg, &d) : st;
        EXPECT(st == BL_OK, "%s/%s: %s (%s)", tag, name, bl_strerror(st), h ? bl_hg_message(h) : "");
        const double *t = h ? bl_hg_theta(h) : NULL, *q = h ? bl_hg_q(h) : NULL;
        EXPECT(t && q, "%s/%s: theta %p, q %p after BL_OK", tag, name, (void *)t, (void *)q);
        if (st != BL_OK || !t || !q) {
            bl_hg_free(h);
            continue;
        }
        memcpy(th, t, (size_t)p * sizeof(double));
        bl_oracle_G(orc, NULL, th, lam, NULL, g, NULL);
        EXPECT(d_nrm(p, g) <= 1e-11, "%s/%s: ||grad G(theta_eps)|| = %.3e > inner_tol 1e-11 "
               "(separate oracle)", tag, name, d_nrm(p, g));
        double F;
        bl_oracle_F(orc, NULL, th, lam, &F, gF, gl);
        EXPECT(F == d.outer_value, "%s/%s: F(theta_eps) %.17g = diag.outer_value %.17g", tag, name,
               F, d.outer_value);
        bl_oracle_point(orc, NULL, th, lam);
        bl_oracle_hvp(orc, q, Hq, cr);
        for (int j = 0; j < p; j++)
            Hq[j] -= gF[j];
        double res = d_nrm(p, Hq), tol = ms[i] == BL_EXACT ? 1e-13 * fmax(1, d_nrm(p, gF)) : 1e-12;
        EXPECT(res <= tol, "%s/%s: ||Hq - grad F|| = %.3e > %.1e (separate oracle)", tag, name,
               res, tol);
        for (int j = 0; j < m; j++)
            cr[j] = gl[j] - cr[j];
        double e = d_dist(m, cr, hg) / d_nrm(m, hg);
        EXPECT(e <= 1e-13, "%s/%s: hg = grad_lambda F - cross(q) rebuilt from theta, q: rel. "
               "difference %.3e", tag, name, e);
        double hb[64];
        bl_hypergrad(pb, lam, &o, hb, NULL, NULL, 0);
        EXPECT(same_bits(hb, hg, m), "%s/%s: the context's first hg is bl_hypergrad's", tag, name);
        bl_hg_free(h);
    }
    free(g);
    bl_oracle_free(orc);
}

/* ----------------------------------------------------- set_theta, set_q */

/* q* = H⁻¹∇_θF(θ*) for ridge, by a dense solve. */
static void ridge_q(const ridge *r, double lam, const double *th, double *q)
{
    int p = r->p;
    double *H = malloc((size_t)p * p * sizeof(double)), *res = malloc((size_t)r->nv * sizeof(double));
    double *rhs = malloc((size_t)p * sizeof(double));
    d_gram(r->n, p, p, r->X, r->X, 1.0 / r->n, H);
    for (int j = 0; j < p; j++)
        H[j * p + j] += exp(lam);
    d_matvec(r->nv, p, r->V, th, res, 0);
    for (int i = 0; i < r->nv; i++)
        res[i] -= r->z[i];
    d_matvec(r->nv, p, r->V, res, rhs, 1);
    for (int j = 0; j < p; j++)
        rhs[j] /= r->nv;
    d_chol_solve(p, H, rhs, q);
    free(H), free(res), free(rhs);
}

static void test_set(ridge *R)
{
    bl_problem pb = ridge_problem(R);
    int p = pb.p;
    double lam[1] = {-0.3}, hg[1], hf[1], *ts = malloc(2 * (size_t)p * sizeof(double)), *qs = ts + p;
    bl_hg_opts o = {.method = BL_IFT_CG};
    bl_hg *h = bl_hg_new(&pb, &o, NULL);
    bl_diag d, df;
    ridge_truth(R, lam[0], ts, NULL);
    ridge_q(R, lam[0], ts, qs);
    /* exact θ*: no inner iteration; with the exact q* as well, no linear one */
    EXPECT(bl_hg_set_theta(h, ts) == BL_OK, "set_theta(θ*)");
    bl_status st = bl_hg_eval(h, lam, hg, &d);
    EXPECT(st == BL_OK && d.inner_iters == 0, "eval from θ*: %s, %d inner iterations (expected 0)",
           bl_strerror(st), d.inner_iters);
    EXPECT(bl_hg_set_theta(h, ts) == BL_OK && bl_hg_set_q(h, qs) == BL_OK, "set θ*, q*");
    st = bl_hg_eval(h, lam, hg, &d);
    EXPECT(st == BL_OK && d.inner_iters == 0 && d.linear_iters == 0,
           "eval from θ*, q*: %s, %d inner and %d linear iterations (expected 0, 0)",
           bl_strerror(st), d.inner_iters, d.linear_iters);
    double ht;
    ridge_truth(R, lam[0], NULL, &ht);
    EXPECT(fabs(hg[0] - ht) <= 1e-12 * fabs(ht), "hg from θ*, q*: %.17g vs truth %.17g", hg[0], ht);
    /* NULL resets both: bitwise a fresh context, same iterations */
    double lam2[1] = {0.4};
    st = bl_hg_eval(h, lam2, hg, &d); /* move the warm start away */
    EXPECT(st == BL_OK, "eval at λ = 0.4: %s", bl_strerror(st));
    EXPECT(bl_hg_set_theta(h, NULL) == BL_OK && bl_hg_set_q(h, NULL) == BL_OK, "reset to NULL");
    st = bl_hg_eval(h, lam, hg, &d);
    bl_hg *f = bl_hg_new(&pb, &o, NULL);
    bl_status sf = bl_hg_eval(f, lam, hf, &df);
    EXPECT(st == BL_OK && sf == BL_OK && d.inner_iters == df.inner_iters &&
               d.linear_iters == df.linear_iters && same_bits(hg, hf, 1),
           "after reset: %d/%d inner, %d/%d linear iterations, hg %.17g vs fresh %.17g",
           d.inner_iters, df.inner_iters, d.linear_iters, df.linear_iters, hg[0], hf[0]);
    /* only θ reset: the inner iterations are a cold start's */
    st = bl_hg_eval(h, lam2, hg, &d);
    bl_hg_set_theta(h, NULL);
    st = bl_hg_eval(h, lam, hg, &d);
    EXPECT(st == BL_OK && d.inner_iters == df.inner_iters, "after set_theta(NULL): %d inner "
           "iterations, a fresh context %d", d.inner_iters, df.inner_iters);
    /* a warm start really is used: the next eval at the same λ costs nothing */
    st = bl_hg_eval(h, lam, hg, &d);
    EXPECT(st == BL_OK && d.inner_iters == 0, "repeat at the same λ: %d inner iterations",
           d.inner_iters);
    /* non-finite inputs */
    for (int k = 0; k < 3; k++) {
        double v = k == 0 ? NAN : k == 1 ? INFINITY : -INFINITY;
        memcpy(qs, ts, (size_t)p * sizeof(double));
        qs[p - 1] = v;
        st = bl_hg_set_theta(h, qs);
        EXPECT(st == BL_ENONFINITE, "set_theta with %g: %s", v, bl_strerror(st));
        EXPECT(strstr(bl_hg_message(h), "theta"), "set_theta message names theta: '%s'",
               bl_hg_message(h));
        st = bl_hg_set_q(h, qs);
        EXPECT(st == BL_ENONFINITE, "set_q with %g: %s", v, bl_strerror(st));
    }
    /* the refused θ was not taken: still the warm start at λ */
    st = bl_hg_eval(h, lam, hg, &d);
    EXPECT(st == BL_OK && d.inner_iters == 0, "after refused set_theta: %s, %d inner iterations",
           bl_strerror(st), d.inner_iters);
    bl_hg_free(f);
    bl_hg_free(h);
    free(ts);
}

/* ------------------------------------------------------- cold_start = 1 */

static void test_cold(const char *tag, const bl_problem *pb, const double *a, const double *b)
{
    int m = pb->m;
    double lam[64], hw[64], hc[64];
    for (size_t s = 0; s < sizeof METHODS / sizeof METHODS[0]; s++) {
        bl_hg_opts o = spec_opts(&METHODS[s]);
        o.cold_start = 1;
        bl_hg *h = bl_hg_new(pb, &o, NULL);
        int same = 1, iters_same = 1;
        for (int i = 0; i < PATH && h; i++) {
            path_point(m, a, b, i, lam);
            bl_diag dw, dc;
            bl_hg_eval(h, lam, hw, &dw);
            bl_hypergrad(pb, lam, &o, hc, &dc, NULL, 0);
            same &= same_bits(hw, hc, m);
            iters_same &= dw.inner_iters == dc.inner_iters && dw.linear_iters == dc.linear_iters;
        }
        EXPECT(h && same && iters_same, "%s/%s cold_start: hg bitwise bl_hypergrad's along the "
               "path (hg %d, iterations %d)", tag, bl_method_name(o.method), same, iters_same);
        bl_hg_free(h);
    }
}

/* ------------------------------------------------------ diagnostics level */

static long total(bl_counts c) { return c.fval + c.grad + c.hvp + c.cross; }

static int same_counts(bl_counts a, bl_counts b)
{
    return a.fval == b.fval && a.grad == b.grad && a.hvp == b.hvp && a.cross == b.cross;
}

static void test_levels(const char *tag, const bl_problem *pb, const double *a, const double *b)
{
    int m = pb->m;
    const mspec ms[] = {{BL_IFT_CG, 0, 1}, {BL_IFT_GD, 0, 1}, {BL_SHINE, 0, 1},
                        {BL_UNROLL, 40, 0}, {BL_INEXACT_AD, 40, 0}, {BL_EXACT, 0, 1}};
    double lam[64], hg[3][64];
    for (size_t s = 0; s < sizeof ms / sizeof ms[0]; s++) {
        const char *name = bl_method_name(ms[s].method);
        bl_hg *h[3];
        for (int l = 0; l < 3; l++) {
            bl_hg_opts o = spec_opts(&ms[s]);
            o.diag_level = l == 0 ? BL_DIAG_FULL : l == 1 ? BL_DIAG_CHEAP : BL_DIAG_NONE;
            h[l] = bl_hg_new(pb, &o, NULL);
        }
        int same = 1, counts = 1, nan_bounds = 1, cheap_free = 1, st_ok = 1, norms = 1;
        long spent[3] = {0, 0, 0};
        for (int i = 0; i < PATH / 4; i++) {
            path_point(m, a, b, 4 * i, lam);
            bl_diag d[3];
            for (int l = 0; l < 3; l++) {
                st_ok &= bl_hg_eval(h[l], lam, hg[l], &d[l]) == BL_OK;
                bl_counts oc = bl_oracle_counts(bl_hg_oracle(h[l]));
                spent[l] += total(oc);
                if (l > 0) {
                    same &= same_bits(hg[0], hg[l], m);
                    counts &= same_counts(d[0].counts, d[l].counts) &&
                              d[0].inner_iters == d[l].inner_iters &&
                              d[0].linear_iters == d[l].linear_iters &&
                              d[0].inner_stop == d[l].inner_stop &&
                              d[0].linear_stop == d[l].linear_stop;
                    nan_bounds &= isnan(d[l].bound_a_posteriori) && isnan(d[l].bound_a_priori) &&
                                  isnan(d[l].B_norm) && isnan(d[l].bound_mu) &&
                                  isnan(d[l].bound_L) && isnan(d[l].unroll_gap) &&
                                  !d[l].bound_certified;
                    cheap_free &= same_counts(oc, d[l].counts); /* no product beyond the estimate */
                }
            }
            /* cheap keeps the solver's own ‖∇_θG‖ (the full level's recomputes it) */
            norms &= d[1].inner_grad_norm == d[1].inner_grad_norm &&
                     fabs(d[1].inner_grad_norm - d[0].inner_grad_norm) <=
                         1e-6 * fmax(d[0].inner_grad_norm, 1e-300) + 1e-15 &&
                     isnan(d[2].inner_grad_norm) && isnan(d[2].linear_residual) &&
                     isfinite(d[0].bound_a_posteriori);
        }
        EXPECT(st_ok, "%s/%s: every level returns BL_OK", tag, name);
        EXPECT(same, "%s/%s: cheap and none give full's hg bitwise along the path", tag, name);
        EXPECT(counts, "%s/%s: the same counts, iterations and stops at every level", tag, name);
        EXPECT(nan_bounds, "%s/%s: cheap and none: bound fields NaN, not certified", tag, name);
        EXPECT(cheap_free, "%s/%s: cheap and none spend no oracle product beyond diag.counts",
               tag, name);
        EXPECT(norms, "%s/%s: cheap's ||grad G|| is the solver's, none's is NaN, full has a bound",
               tag, name);
        EXPECT(spent[1] < spent[0] && spent[2] <= spent[1],
               "%s/%s: oracle products full %ld > cheap %ld >= none %ld", tag, name, spent[0],
               spent[1], spent[2]);
        for (int l = 0; l < 3; l++)
            bl_hg_free(h[l]);
    }
}

/* ------------------------------------------------- messages and failures */

/* 1 when msg starts with "X: X:" for its first prefix X. */
static int doubled_prefix(const char *msg)
{
    const char *c = strstr(msg, ": ");
    if (!c)
        return 0;
    size_t n = (size_t)(c - msg);
    return strncmp(c + 2, msg, n) == 0 && c[2 + n] == ':';
}

static void test_messages(ridge *R, indef *I)
{
    bl_problem pb = ridge_problem(R);
    double lam[1] = {0.2}, bad[1] = {NAN}, hg[1], hs[1];
    bl_hg_opts o = {.method = BL_IFT_CG};
    bl_hg *h = bl_hg_new(&pb, &o, NULL);
    bl_diag d;
    bl_status st = bl_hg_eval(h, lam, hg, &d);
    EXPECT(st == BL_OK && !strcmp(bl_hg_message(h), "") && d.produced == 1,
           "BL_OK: message '%s', produced %d", bl_hg_message(h), d.produced);
    const double *th_before = bl_hg_theta(h);
    EXPECT(th_before != NULL, "θ_ε after BL_OK");
    /* NaN λ: refused, hg untouched, produced 0, the message names λ */
    hs[0] = 12345.678;
    st = bl_hg_eval(h, bad, hs, &d);
    EXPECT(st == BL_ENONFINITE && hs[0] == 12345.678 && d.produced == 0,
           "NaN lambda: %s, hg %g (sentinel kept?), produced %d", bl_strerror(st), hs[0], d.produced);
    EXPECT(strstr(bl_hg_message(h), "lambda[0]") && !doubled_prefix(bl_hg_message(h)),
           "NaN lambda message: '%s'", bl_hg_message(h));
    EXPECT(bl_hg_theta(h) == NULL && bl_hg_q(h) == NULL,
           "after a refused evaluation there is no θ_ε / q of the last evaluation");
    /* NULL hg and NULL λ */
    st = bl_hg_eval(h, lam, NULL, &d);
    EXPECT(st == BL_EINVAL && d.produced == 0 && strstr(bl_hg_message(h), "hg"),
           "NULL hg: %s, produced %d, '%s'", bl_strerror(st), d.produced, bl_hg_message(h));
    st = bl_hg_eval(h, NULL, hs, &d);
    EXPECT(st == BL_EINVAL && hs[0] == 12345.678 && d.produced == 0, "NULL lambda: %s",
           bl_strerror(st));
    /* success after failures: "" again, and the warm start survived */
    st = bl_hg_eval(h, lam, hg, &d);
    EXPECT(st == BL_OK && !strcmp(bl_hg_message(h), "") && d.inner_iters == 0,
           "BL_OK after failures: message '%s', %d inner iterations (warm start kept)",
           bl_hg_message(h), d.inner_iters);
    /* bl_hypergrad empties msg on success */
    char msg[256] = "stale text";
    st = bl_hypergrad(&pb, lam, &o, hg, NULL, msg, sizeof msg);
    EXPECT(st == BL_OK && !strcmp(msg, ""), "bl_hypergrad BL_OK: msg '%s'", msg);
    bl_hg_free(h);

    /* failures inside an estimate: one prefix each */
    bl_problem ip = {.name = "indef-test", .p = I->p, .m = I->p, .G = indef_G, .F = indef_F,
                     .ctx = I};
    double il[8] = {0.3, -0.2, 0.5, 0.1, 0.7, -0.4, 0.2, 0.9}, ih[8];
    const struct { bl_method m; int inner_iters; double tol; size_t cap; } cases[] = {
        {BL_EXACT, 0, 0, 0}, {BL_SHINE, 0, 0, 0}, {BL_IFT_CG, 0, 0, 0}, {BL_IFT_CG, 0, 0, 512},
        {BL_SHINE_REFINE, 0, 0, 0}, {BL_IFT_IDENTITY, 0, 0, 0}, {BL_EXACT, 3, 1e-14, 0},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        bl_hg_opts io = {.method = cases[k].m, .inner_iters = cases[k].inner_iters,
                         .inner_tol = cases[k].tol, .max_tape_bytes = cases[k].cap};
        char m2[512] = "";
        st = bl_hypergrad(&ip, il, &io, ih, NULL, m2, sizeof m2);
        EXPECT(st != BL_OK && m2[0] && !doubled_prefix(m2), "%s on indef (case %zu): %s, "
               "message '%s'", bl_method_name(cases[k].m), k, bl_strerror(st), m2);
        EXPECT(!strncmp(m2, bl_method_name(cases[k].m), strlen(bl_method_name(cases[k].m))),
               "the message names the method first: '%s'", m2);
    }
}

/* ------------------------------------------- options before any work */

typedef struct counted {
    ridge *r;
    long calls; /* recordings of G or F */
} counted;

static ad_var counted_G(ad_tape *t, ad_var th, ad_var la, const int *b, int nb, void *ctx)
{
    counted *c = ctx;
    c->calls++;
    return ridge_G(t, th, la, b, nb, c->r);
}

static ad_var counted_F(ad_tape *t, ad_var th, ad_var la, const int *b, int nb, void *ctx)
{
    counted *c = ctx;
    c->calls++;
    return ridge_F(t, th, la, b, nb, c->r);
}

static bl_status counted_constants(const double *la, bl_constants *k, void *ctx)
{
    counted *c = ctx;
    c->calls++;
    return ridge_constants(la, k, c->r);
}

static void test_validation(ridge *R)
{
    counted C = {R, 0};
    bl_problem pb = {.name = "counted", .p = R->p, .m = 1, .G = counted_G, .F = counted_F,
                     .constants = counted_constants, .ctx = &C};
    double lam[1] = {0.1}, hg[1];
    const struct { bl_hg_opts o; const char *needle; } cases[] = {
        {{.method = BL_SHINE, .inner = bl_inner_gd}, "lbfgs"},
        {{.method = BL_SHINE_REFINE, .inner = bl_inner_hb}, "lbfgs"},
        {{.method = BL_UNROLL, .inner = bl_inner_lbfgs}, "lbfgs"},
        {{.method = BL_INEXACT_AD, .inner = bl_inner_newton_cg}, "newton-cg"},
        {{.method = BL_IFT_CG, .inner_iters = -3}, "inner_iters"},
        {{.method = BL_IFT_CG, .linear_iters = -1}, "linear_iters"},
        {{.method = BL_IFT_GD, .inner = bl_inner_gd, .step = NAN}, "step"},
        {{.method = BL_IFT_HB, .linear_momentum = INFINITY}, "linear_momentum"},
        {{.method = BL_UNROLL, .momentum = -0.5}, "momentum"},
        {{.method = BL_IFT_CG, .inner_tol = NAN}, "inner_tol"},
        {{.method = BL_METHOD_COUNT}, "method"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const char *name = bl_method_name(cases[k].o.method);
        char msg[512] = "";
        C.calls = 0;
        bl_status sc = bl_hg_check(&pb, &cases[k].o, msg, sizeof msg);
        EXPECT(sc == BL_EINVAL && strstr(msg, cases[k].needle) && !doubled_prefix(msg),
               "bl_hg_check %s (case %zu): %s, '%s' should name '%s'", name, k, bl_strerror(sc),
               msg, cases[k].needle);
        bl_status sn = BL_OK;
        bl_hg *h = bl_hg_new(&pb, &cases[k].o, &sn);
        EXPECT(!h && sn == BL_EINVAL, "bl_hg_new %s (case %zu): %s", name, k, bl_strerror(sn));
        bl_hg_free(h);
        char m2[512] = "";
        hg[0] = 777.0;
        bl_diag d;
        bl_status sh = bl_hypergrad(&pb, lam, &cases[k].o, hg, &d, m2, sizeof m2);
        EXPECT(sh == BL_EINVAL && !strcmp(msg, m2) && hg[0] == 777.0 && d.produced == 0,
               "bl_hypergrad %s (case %zu): %s, '%s', hg %g", name, k, bl_strerror(sh), m2, hg[0]);
        EXPECT(C.calls == 0, "%s (case %zu): %ld callback calls before the refusal", name, k,
               C.calls);
    }
    /* a valid context does no work before its first evaluation */
    C.calls = 0;
    bl_hg_opts ok = {.method = BL_IFT_CG};
    bl_hg *h = bl_hg_new(&pb, &ok, NULL);
    EXPECT(h && C.calls == 0, "bl_hg_new with valid options: %ld callback calls", C.calls);
    bl_status st = h ? bl_hg_eval(h, lam, hg, NULL) : BL_EINVAL;
    EXPECT(st == BL_OK && C.calls > 0, "then eval records: %s, %ld calls", bl_strerror(st), C.calls);
    bl_hg_free(h);
}

int main(void)
{
    ridge R;
    ridge_init(&R, 40, 30, 6, 11);
    logreg L;
    logreg_init(&L, 100, 60, 5, 1.0, 23);
    bl_problem rp = ridge_problem(&R), lp = logreg_problem(&L);
    truth rt = {&rp, &R, NULL}, lt = {&lp, NULL, &L};
    double ra[1] = {-1.0}, rb[1] = {1.0};
    double la[5] = {-0.7, -0.2, -0.5, 0.0, -0.4}, lb[5] = {0.3, -0.6, 0.1, -0.3, 0.4};

    test_warm_path("ridge", &rp, &rt, ra, rb);
    test_warm_path("logreg", &lp, &lt, la, lb);
    test_readback("ridge", &rp, ra);
    test_readback("logreg", &lp, la);
    test_set(&R);
    test_cold("ridge", &rp, ra, rb);
    test_cold("logreg", &lp, la, lb);
    test_levels("ridge", &rp, ra, rb);
    test_levels("logreg", &lp, la, lb);

    /* indef: A = diag(3, −1, 2, ...) rotated, a negative eigenvalue */
    indef I = {.p = 4};
    double A[16] = {2, 1, 0, 0, 1, -1, 0.5, 0, 0, 0.5, 3, 0.2, 0, 0, 0.2, 1.5}, z[4] = {1, -1, 2, 0.5};
    I.A = A, I.z = z;
    test_messages(&R, &I);
    test_validation(&R);
    ridge_free(&R);
    logreg_free(&L);
    return t_done();
}
