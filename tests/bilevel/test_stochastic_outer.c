/*
 * tests/bilevel/test_stochastic_outer.c — the stochastic outer algorithms
 * (soba, saba, srba, stocbio, amigo; hypertape/outer.h) on a small batched
 * quadratic bilevel problem written here, against truths written here:
 *
 *   G_S(θ, λ) = (1/|S|) Σ_{i∈S} ½(a_iᵀθ − d_iᵀλ − y_i)² + ½ r‖θ‖²
 *   F_S(θ, λ) = (1/|S|) Σ_{j∈S} ½(e_jᵀθ − z_j)² + ½ α‖λ‖²
 *
 * so that H = AᵀA/n + rI, θ*(λ) = Mλ + c with M = H⁻¹AᵀD/n,
 * c = H⁻¹Aᵀy/n, h is a strongly convex quadratic and λ* solves
 * (MᵀEᵀEM/n_v + αI)λ = −MᵀEᵀ(Ec − z)/n_v (dense solves below).
 *
 *  - full batch: SOBA with every sample and constant steps equals the
 *    three-sequence recursion written out with the dense matrices, 1e-12;
 *  - the per-sample hook (closed form here) gives SOBA's batched-oracle run;
 *  - SAGA tables: every SABA row equals the closed-form per-sample
 *    quantity at the point where it was stored, and the running means
 *    equal the means of those, 1e-12;
 *  - SRBA's refresh iterations give the full-batch directions, 1e-12, and v
 *    stays in its ball;
 *  - full batch: StocBiO's Neumann series and AmIGO's warm-started solves
 *    equal their recursions written out here, 1e-12;
 *  - convergence: each algorithm reduces ‖∇h‖² 100-fold within a fixed
 *    sample budget; SABA ends below SOBA at equal budget for 5 seeds;
 *  - determinism: the same seed gives bitwise the same λ, θ, v and report.
 */
#include <hypertape/outer.h>
#include <hypertape/sampler.h>
#include "tests/testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { N = 120, NV = 90, P = 5, M = 3 };

typedef struct quad {
    double A[N * P], D[N * M], y[N], E[NV * P], z[NV];
    double r, alpha;
    double H[P * P], Mx[P * M], c[P]; /* H, M, c of θ*(λ) = Mλ + c */
    double lstar[M];
} quad;

/* ------------------------------------------------------------ dense helpers */

/* Solves S x = b (n×n, Gaussian elimination with partial pivoting). */
static void solve(int n, const double *S, const double *b, double *x)
{
    double a[16 * 17];
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < n; j++)
            a[i * (n + 1) + j] = S[i * n + j];
        a[i * (n + 1) + n] = b[i];
    }
    for (int k = 0; k < n; k++) {
        int piv = k;
        for (int i = k + 1; i < n; i++)
            if (fabs(a[i * (n + 1) + k]) > fabs(a[piv * (n + 1) + k]))
                piv = i;
        for (int j = 0; j <= n; j++) {
            double t = a[k * (n + 1) + j];
            a[k * (n + 1) + j] = a[piv * (n + 1) + j];
            a[piv * (n + 1) + j] = t;
        }
        for (int i = k + 1; i < n; i++) {
            double f = a[i * (n + 1) + k] / a[k * (n + 1) + k];
            for (int j = k; j <= n; j++)
                a[i * (n + 1) + j] -= f * a[k * (n + 1) + j];
        }
    }
    for (int i = n - 1; i >= 0; i--) {
        double s = a[i * (n + 1) + n];
        for (int j = i + 1; j < n; j++)
            s -= a[i * (n + 1) + j] * x[j];
        x[i] = s / a[i * (n + 1) + i];
    }
}

static double dot(int n, const double *a, const double *b)
{
    double s = 0;
    for (int k = 0; k < n; k++)
        s += a[k] * b[k];
    return s;
}

/* ------------------------------------------------------------ closed forms */

/* Per-sample quantities (NULL outputs skipped). */
static void ps_inner(const quad *q, int i, const double *th, const double *la, const double *v,
                     double *g, double *hv, double *cr)
{
    const double *a = q->A + i * P, *d = q->D + i * M;
    double res = dot(P, a, th) - dot(M, d, la) - q->y[i], av = v ? dot(P, a, v) : 0;
    for (int k = 0; g && k < P; k++)
        g[k] = a[k] * res + q->r * th[k];
    for (int k = 0; hv && k < P; k++)
        hv[k] = a[k] * av + q->r * v[k];
    for (int k = 0; cr && k < M; k++)
        cr[k] = -d[k] * av;
}

static void ps_outer(const quad *q, int j, const double *th, const double *la, double *ft, double *fl)
{
    const double *e = q->E + j * P;
    double res = dot(P, e, th) - q->z[j];
    for (int k = 0; ft && k < P; k++)
        ft[k] = e[k] * res;
    for (int k = 0; fl && k < M; k++)
        fl[k] = q->alpha * la[k];
}

/* Full-batch quantities: ∇_θG, Hv, cross(v), ∇_θF, ∇_λF. */
static void full(const quad *q, const double *th, const double *la, const double *v, double *g,
                 double *hv, double *cr, double *ft, double *fl)
{
    double tg[P], th_[P], tc[M], tf[P], tl[M];
    memset(g, 0, P * sizeof *g), memset(hv, 0, P * sizeof *hv), memset(cr, 0, M * sizeof *cr);
    memset(ft, 0, P * sizeof *ft), memset(fl, 0, M * sizeof *fl);
    for (int i = 0; i < N; i++) {
        ps_inner(q, i, th, la, v, tg, th_, tc);
        for (int k = 0; k < P; k++)
            g[k] += tg[k] / N, hv[k] += th_[k] / N;
        for (int k = 0; k < M; k++)
            cr[k] += tc[k] / N;
    }
    for (int j = 0; j < NV; j++) {
        ps_outer(q, j, th, la, tf, tl);
        for (int k = 0; k < P; k++)
            ft[k] += tf[k] / NV;
        for (int k = 0; k < M; k++)
            fl[k] += tl[k] / NV;
    }
}

/* ∇h(λ) = MᵀEᵀ(E(Mλ + c) − z)/n_v + αλ; returns ‖∇h‖². */
static double grad_h2(const quad *q, const double *la)
{
    double th[P], g[M] = {0};
    for (int k = 0; k < P; k++)
        th[k] = q->c[k] + dot(M, q->Mx + k * M, la);
    double ft[P] = {0}, fl[M];
    for (int j = 0; j < NV; j++) {
        double t[P];
        ps_outer(q, j, th, la, t, fl);
        for (int k = 0; k < P; k++)
            ft[k] += t[k] / NV;
    }
    double s = 0;
    for (int l = 0; l < M; l++) {
        g[l] = q->alpha * la[l];
        for (int k = 0; k < P; k++)
            g[l] += q->Mx[k * M + l] * ft[k];
        s += g[l] * g[l];
    }
    return s;
}

/* ------------------------------------------------------------ the problem */

static ad_var rows_of(ad_tape *t, const double *X, int n, int w, const int *b, int nb)
{
    ad_var all = ad_const_ref(t, n, w, X);
    return b ? ad_gather_rows(t, all, b, nb) : all;
}

static ad_var rec_G(ad_tape *t, ad_var th, ad_var la, const int *b, int nb, void *ctx)
{
    const quad *q = ctx;
    int n = b ? nb : N;
    ad_var res = ad_sub(t, ad_matvec(t, rows_of(t, q->A, N, P, b, nb), th, 0),
                        ad_matvec(t, rows_of(t, q->D, N, M, b, nb), la, 0));
    res = ad_sub(t, res, rows_of(t, q->y, N, 1, b, nb));
    return ad_add(t, ad_scale(t, ad_dot(t, res, res), 0.5 / n), ad_scale(t, ad_dot(t, th, th), 0.5 * q->r));
}

static ad_var rec_F(ad_tape *t, ad_var th, ad_var la, const int *b, int nb, void *ctx)
{
    const quad *q = ctx;
    int n = b ? nb : NV;
    ad_var res = ad_sub(t, ad_matvec(t, rows_of(t, q->E, NV, P, b, nb), th, 0),
                        rows_of(t, q->z, NV, 1, b, nb));
    return ad_add(t, ad_scale(t, ad_dot(t, res, res), 0.5 / n),
                  ad_scale(t, ad_dot(t, la, la), 0.5 * q->alpha));
}

static bl_status hook(const bl_persample_req *r, const double *th, const double *la, void *ctx)
{
    const quad *q = ctx;
    double *g = r->rows[BL_PS_GRAD_G_THETA], *hv = r->rows[BL_PS_HVP], *cr = r->rows[BL_PS_CROSS];
    double *ft = r->rows[BL_PS_GRAD_F_THETA], *fl = r->rows[BL_PS_GRAD_F_LAMBDA];
    for (int k = 0; (g || hv || cr) && k < r->inner->n; k++)
        ps_inner(q, r->inner->idx[k], th, la, r->v, g ? g + k * P : NULL, hv ? hv + k * P : NULL,
                 cr ? cr + k * M : NULL);
    for (int k = 0; (ft || fl) && k < r->outer->n; k++)
        ps_outer(q, r->outer->idx[k], th, la, ft ? ft + k * P : NULL, fl ? fl + k * M : NULL);
    return BL_OK;
}

/* μ ≥ r (the data term is convex); the bound on L is loose, the rest 0. */
static bl_status consts(const double *la, bl_constants *k, void *ctx)
{
    const quad *q = ctx;
    double fro = dot(N * P, q->A, q->A) / N;
    *k = (bl_constants){.mu = q->r, .L = q->r + fro};
    return BL_OK;
}

static void make(quad *q)
{
    t_rng g = {0x5eed5eedULL};
    q->r = 0.5, q->alpha = 0.5;
    for (int k = 0; k < N * P; k++)
        q->A[k] = t_normal(&g);
    for (int k = 0; k < N * M; k++)
        q->D[k] = t_normal(&g);
    for (int k = 0; k < N; k++)
        q->y[k] = 2.0 * t_normal(&g);
    for (int k = 0; k < NV * P; k++)
        q->E[k] = t_normal(&g);
    for (int k = 0; k < NV; k++)
        q->z[k] = 1.0 + 2.0 * t_normal(&g);
    /* H, M = H⁻¹AᵀD/n, c = H⁻¹Aᵀy/n */
    for (int i = 0; i < P; i++)
        for (int j = 0; j < P; j++) {
            double s = 0;
            for (int k = 0; k < N; k++)
                s += q->A[k * P + i] * q->A[k * P + j];
            q->H[i * P + j] = s / N + (i == j ? q->r : 0);
        }
    double rhs[P], col[P];
    for (int l = 0; l < M; l++) {
        for (int i = 0; i < P; i++) {
            double s = 0;
            for (int k = 0; k < N; k++)
                s += q->A[k * P + i] * q->D[k * M + l];
            rhs[i] = s / N;
        }
        solve(P, q->H, rhs, col);
        for (int i = 0; i < P; i++)
            q->Mx[i * M + l] = col[i];
    }
    for (int i = 0; i < P; i++) {
        double s = 0;
        for (int k = 0; k < N; k++)
            s += q->A[k * P + i] * q->y[k];
        rhs[i] = s / N;
    }
    solve(P, q->H, rhs, q->c);
    /* λ*: (MᵀEᵀEM/n_v + αI)λ = −MᵀEᵀ(Ec − z)/n_v */
    double EM[NV * M], S[M * M], b[M], Ec[NV];
    for (int j = 0; j < NV; j++) {
        Ec[j] = dot(P, q->E + j * P, q->c) - q->z[j];
        for (int l = 0; l < M; l++) {
            double s = 0;
            for (int k = 0; k < P; k++)
                s += q->E[j * P + k] * q->Mx[k * M + l];
            EM[j * M + l] = s;
        }
    }
    for (int a = 0; a < M; a++) {
        b[a] = 0;
        for (int j = 0; j < NV; j++)
            b[a] -= EM[j * M + a] * Ec[j] / NV;
        for (int c2 = 0; c2 < M; c2++) {
            double s = 0;
            for (int j = 0; j < NV; j++)
                s += EM[j * M + a] * EM[j * M + c2];
            S[a * M + c2] = s / NV + (a == c2 ? q->alpha : 0);
        }
    }
    solve(M, S, b, q->lstar);
}

static bl_problem problem(quad *q, int with_hook, int with_consts)
{
    return (bl_problem){.name = "quad", .p = P, .m = M, .G = rec_G, .F = rec_F, .n_inner = N,
                        .n_outer = NV, .ctx = q, .persample = with_hook ? hook : NULL,
                        .constants = with_consts ? consts : NULL};
}

static bl_outer *make_outer(const bl_outer_type *T, const bl_problem *pb, const bl_outer_opts *op)
{
    char msg[256];
    bl_status st;
    bl_outer *o = bl_outer_new(T, pb, op, &st, msg, sizeof msg);
    EXPECT(o, "%s: bl_outer_new failed: %s", bl_outer_type_name(T), msg);
    return o;
}

static const double LAMBDA0[M] = {1.0, -1.0, 0.5};

/* ------------------------------------------------------------ tests */

static double maxdiff(int n, const double *a, const double *b)
{
    double e = 0;
    for (int k = 0; k < n; k++)
        e = fmax(e, fabs(a[k] - b[k]));
    return e;
}

/* Full batch, constant steps: SOBA = the hand recursion. */
static void test_full_batch(quad *q)
{
    bl_problem pb = problem(q, 0, 0);
    bl_outer_opts op = {.batch_inner = N, .batch_outer = NV, .inner_step = 0.2, .outer_step = 0.5};
    bl_outer *o = make_outer(bl_outer_soba, &pb, &op);
    if (!o)
        return;
    double th[P] = {0}, v[P] = {0}, la[M];
    memcpy(la, LAMBDA0, sizeof la);
    EXPECT(bl_outer_set(o, LAMBDA0, NULL) == BL_OK, "set: %s", bl_outer_message(o));
    double worst = 0, worst_tv = 0;
    for (int t = 0; t < 60; t++) {
        double g[P], hv[P], cr[M], ft[P], fl[M];
        full(q, th, la, v, g, hv, cr, ft, fl);
        for (int k = 0; k < P; k++) {
            th[k] -= 0.2 * g[k];
            v[k] -= 0.2 * (hv[k] + ft[k]);
        }
        for (int k = 0; k < M; k++)
            la[k] = fmin(12, fmax(-12, la[k] - 0.5 * (cr[k] + fl[k])));
        EXPECT(bl_outer_iterate(o) == BL_OK, "soba iterate %d: %s", t, bl_outer_message(o));
        bl_outer_stoch_view vw;
        bl_outer_stoch_get(o, &vw);
        worst = fmax(worst, maxdiff(M, la, bl_outer_lambda(o)));
        worst_tv = fmax(worst_tv, fmax(maxdiff(P, th, vw.theta), maxdiff(P, v, vw.v)));
    }
    EXPECT(worst <= 1e-12, "full-batch SOBA: max |lambda - hand| = %.3e > 1e-12", worst);
    EXPECT(worst_tv <= 1e-12, "full-batch SOBA: max |theta, v - hand| = %.3e > 1e-12", worst_tv);
    EXPECT(grad_h2(q, la) < 1e-4 * grad_h2(q, LAMBDA0), "full-batch SOBA did not converge");
    const bl_outer_report *r = bl_outer_last(o);
    EXPECT(r->counts.samples > 0 && r->memory_bytes > 0 && r->iter == 60,
           "report: samples %ld memory %zu iter %d", r->counts.samples, r->memory_bytes, r->iter);
    bl_outer_free(o);
}

/* The hook's rows (closed form) give SOBA's batched-oracle trajectory. */
static void test_hook_equals_oracle(quad *q)
{
    bl_problem pa = problem(q, 0, 0), pbh = problem(q, 1, 0);
    bl_outer_opts op = {.batch_inner = 16, .batch_outer = 16, .inner_step = 0.1, .outer_step = 0.1,
                        .seed = 7};
    bl_outer *a = make_outer(bl_outer_soba, &pa, &op), *b = make_outer(bl_outer_soba, &pbh, &op);
    if (!a || !b)
        return;
    bl_outer_set(a, LAMBDA0, NULL);
    bl_outer_set(b, LAMBDA0, NULL);
    double worst = 0;
    for (int t = 0; t < 100; t++) {
        bl_outer_iterate(a);
        bl_outer_iterate(b);
        worst = fmax(worst, maxdiff(M, bl_outer_lambda(a), bl_outer_lambda(b)));
    }
    EXPECT(worst <= 1e-12, "SOBA hook vs oracle: max |lambda diff| = %.3e", worst);
    bl_outer_free(a);
    bl_outer_free(b);
}

/* SABA: each row is the closed form at its stored point; means = row means. */
static void test_saga_tables(quad *q)
{
    enum { ITERS = 25 };
    bl_problem pb = problem(q, 0, 0);
    bl_outer_opts op = {.batch_inner = 8, .batch_outer = 8, .inner_step = 0.05, .outer_step = 0.05,
                        .seed = 3};
    bl_outer *o = make_outer(bl_outer_saba, &pb, &op);
    if (!o)
        return;
    static double pts[ITERS + 1][2 * P + M];
    static double prev_in[N * P], prev_out[NV * P];
    int at_in[N] = {0}, at_out[NV] = {0};
    EXPECT(bl_outer_set(o, LAMBDA0, NULL) == BL_OK, "saba set: %s", bl_outer_message(o));
    const double *tg, *tf;
    bl_outer_saba_table(o, BL_PS_GRAD_G_THETA, &tg, NULL);
    bl_outer_saba_table(o, BL_PS_GRAD_F_THETA, &tf, NULL);
    for (int t = 0; t <= ITERS; t++) {
        bl_outer_stoch_view vw;
        bl_outer_stoch_get(o, &vw);
        memcpy(pts[t], vw.theta, P * sizeof(double));
        memcpy(pts[t] + P, vw.v, P * sizeof(double));
        memcpy(pts[t] + 2 * P, bl_outer_lambda(o), M * sizeof(double));
        if (t == ITERS)
            break;
        memcpy(prev_in, tg, sizeof prev_in);
        memcpy(prev_out, tf, sizeof prev_out);
        bl_outer_iterate(o);
        for (int i = 0; i < N; i++)
            if (memcmp(prev_in + i * P, tg + i * P, P * sizeof(double)))
                at_in[i] = t;
        for (int j = 0; j < NV; j++)
            if (memcmp(prev_out + j * P, tf + j * P, P * sizeof(double)))
                at_out[j] = t;
    }
    int moved = 0;
    double worst_row = 0, worst_mean = 0;
    for (int kind = 0; kind < BL_PS_COUNT; kind++) {
        const double *rows, *mean;
        bl_outer_saba_table(o, kind, &rows, &mean);
        int outer = kind == BL_PS_GRAD_F_THETA || kind == BL_PS_GRAD_F_LAMBDA;
        int w = kind == BL_PS_CROSS || kind == BL_PS_GRAD_F_LAMBDA ? M : P, n = outer ? NV : N;
        double acc[P] = {0}, row[P], g[P], hv[P], cr[M];
        for (int i = 0; i < n; i++) {
            const double *x = pts[outer ? at_out[i] : at_in[i]];
            moved += (outer ? at_out[i] : at_in[i]) > 0;
            if (outer) {
                double ft[P], fl[M];
                ps_outer(q, i, x, x + 2 * P, ft, fl);
                memcpy(row, kind == BL_PS_GRAD_F_THETA ? ft : fl, w * sizeof(double));
            } else {
                ps_inner(q, i, x, x + 2 * P, x + P, g, hv, cr);
                memcpy(row, kind == BL_PS_GRAD_G_THETA ? g : kind == BL_PS_HVP ? hv : cr,
                       w * sizeof(double));
            }
            worst_row = fmax(worst_row, maxdiff(w, row, rows + (size_t)i * w));
            for (int k = 0; k < w; k++)
                acc[k] += row[k] / n;
        }
        worst_mean = fmax(worst_mean, maxdiff(w, acc, mean));
    }
    EXPECT(moved > 0, "SABA: no table row was updated");
    EXPECT(worst_row <= 1e-12, "SABA rows vs closed form at stored points: %.3e", worst_row);
    EXPECT(worst_mean <= 1e-12, "SABA running means vs full-batch at stored points: %.3e", worst_mean);
    bl_outer_free(o);
}

/* SRBA: refresh iterations use the full-batch directions; v stays in its ball. */
static void test_srba_refresh(quad *q)
{
    bl_problem pb = problem(q, 0, 1);
    bl_outer_opts op = {.batch_inner = 8, .batch_outer = 8, .inner_step = 0.05, .outer_step = 0.05,
                        .refresh = 5, .seed = 11};
    bl_outer *o = make_outer(bl_outer_srba, &pb, &op);
    if (!o)
        return;
    bl_outer_set(o, LAMBDA0, NULL);
    double worst = 0, over = 0;
    int refreshes = 0, wrong_flag = 0;
    for (int k = 0; k < 21; k++) {
        bl_outer_stoch_view vw;
        bl_outer_stoch_get(o, &vw);
        double th[P], v[P], la[M];
        memcpy(th, vw.theta, sizeof th), memcpy(v, vw.v, sizeof v), memcpy(la, bl_outer_lambda(o), sizeof la);
        EXPECT(bl_outer_iterate(o) == BL_OK, "srba iterate: %s", bl_outer_message(o));
        bl_outer_stoch_get(o, &vw);
        wrong_flag += vw.refreshed != (k % 5 == 0);
        over = fmax(over, bl_outer_stoch_get(o, &vw) == BL_OK ? sqrt(dot(P, vw.v, vw.v)) - vw.v_radius : 1);
        if (k % 5)
            continue;
        refreshes++;
        double g[P], hv[P], cr[M], ft[P], fl[M], dv[P], dl[M];
        full(q, th, la, v, g, hv, cr, ft, fl);
        for (int j = 0; j < P; j++)
            dv[j] = hv[j] + ft[j];
        for (int j = 0; j < M; j++)
            dl[j] = cr[j] + fl[j];
        worst = fmax(worst, fmax(maxdiff(P, g, vw.d_theta), fmax(maxdiff(P, dv, vw.d_v), maxdiff(M, dl, vw.d_lambda))));
    }
    EXPECT(refreshes == 5 && wrong_flag == 0, "SRBA: %d refreshes, %d wrong flags", refreshes, wrong_flag);
    EXPECT(worst <= 1e-12, "SRBA refresh directions vs full batch: %.3e", worst);
    EXPECT(over <= 1e-12, "SRBA: ||v|| exceeds its ball by %.3e", over);
    bl_outer_free(o);
}

/* Full batch: StocBiO's Neumann series and AmIGO's warm-started solves
 * equal the recursions written out here (three outer iterations). */
static void test_two_loop_full(quad *q)
{
    bl_problem pb = problem(q, 0, 0);
    const double rho = 0.1, gamma = 0.3;
    for (int amigo = 0; amigo < 2; amigo++) {
        bl_outer_opts op = {.batch_inner = N, .batch_outer = NV, .inner_step = rho, .outer_step = gamma,
                            .inner_steps = 3, .neumann_terms = 4};
        bl_outer *o = make_outer(amigo ? bl_outer_amigo : bl_outer_stocbio, &pb, &op);
        if (!o)
            return;
        bl_outer_set(o, LAMBDA0, NULL);
        double th[P] = {0}, v[P] = {0}, la[M], g[P], hv[P], cr[M], ft[P], fl[M], worst = 0;
        memcpy(la, LAMBDA0, sizeof la);
        for (int it = 0; it < 3; it++) {
            for (int k = 0; k < 3; k++) { /* T inner GD steps, warm */
                full(q, th, la, v, g, hv, cr, ft, fl);
                for (int j = 0; j < P; j++)
                    th[j] -= rho * g[j];
            }
            if (amigo) {
                for (int k = 0; k < 3; k++) { /* T linear-system steps, warm */
                    full(q, th, la, v, g, hv, cr, ft, fl);
                    for (int j = 0; j < P; j++)
                        v[j] -= rho * (hv[j] + ft[j]);
                }
            } else { /* v = −η Σ_{q=0}^{Q} (I − ηH)^q ∇_θF */
                double r[P], acc[P];
                full(q, th, la, v, g, hv, cr, ft, fl);
                memcpy(r, ft, sizeof r), memcpy(acc, ft, sizeof acc);
                for (int k = 0; k < 4; k++) {
                    full(q, th, la, r, g, hv, cr, ft, fl);
                    for (int j = 0; j < P; j++)
                        r[j] -= rho * hv[j], acc[j] += r[j];
                }
                for (int j = 0; j < P; j++)
                    v[j] = -rho * acc[j];
            }
            full(q, th, la, v, g, hv, cr, ft, fl);
            for (int j = 0; j < M; j++)
                la[j] = fmin(12, fmax(-12, la[j] - gamma * (cr[j] + fl[j])));
            EXPECT(bl_outer_iterate(o) == BL_OK, "iterate: %s", bl_outer_message(o));
            bl_outer_stoch_view vw;
            bl_outer_stoch_get(o, &vw);
            worst = fmax(worst, fmax(maxdiff(M, la, bl_outer_lambda(o)),
                                     fmax(maxdiff(P, th, vw.theta), maxdiff(P, v, vw.v))));
        }
        EXPECT(worst <= 1e-12, "full-batch %s vs hand: %.3e", amigo ? "amigo" : "stocbio", worst);
        bl_outer_free(o);
    }
}

/* ‖∇h‖² at the end of a sample budget from LAMBDA0. */
static double run_budget(quad *q, const bl_outer_type *T, const bl_outer_opts *op, long samples)
{
    bl_problem pb = problem(q, 1, 1);
    bl_outer *o = make_outer(T, &pb, op);
    if (!o)
        return INFINITY;
    bl_outer_set(o, LAMBDA0, NULL);
    bl_outer_stop stop = {.samples = samples, .tol = -1};
    bl_status st = bl_outer_solve(o, &stop, NULL, NULL);
    EXPECT(st == BL_OK, "%s solve: %s", bl_outer_type_name(T), bl_outer_message(o));
    EXPECT(bl_outer_last(o)->counts.samples >= samples, "%s: budget not spent", bl_outer_type_name(T));
    double g2 = grad_h2(q, bl_outer_lambda(o));
    bl_outer_free(o);
    return g2;
}

static void test_convergence(quad *q)
{
    const long budget = 400L * (N + NV); /* samples */
    double g0 = grad_h2(q, LAMBDA0);
    EXPECT(grad_h2(q, q->lstar) < 1e-20 * fmax(1, g0), "lambda* is not stationary");
    struct { const bl_outer_type *T; bl_outer_opts op; } runs[] = {
        {bl_outer_soba, {.inner_step = 0.1, .outer_step = 0.2, .sched_a = 0.4, .sched_b = 0.6}},
        {bl_outer_saba, {.inner_step = 0.05, .outer_step = 0.05}},
        {bl_outer_srba, {.inner_step = 0.05, .outer_step = 0.05}},
        {bl_outer_stocbio, {.inner_step = 0.1, .outer_step = 0.2, .sched_b = 0.5}},
        {bl_outer_amigo, {.inner_step = 0.1, .outer_step = 0.2, .sched_b = 0.5}},
    };
    for (size_t k = 0; k < sizeof runs / sizeof runs[0]; k++) {
        runs[k].op.batch_inner = runs[k].op.batch_outer = 8;
        runs[k].op.seed = 1;
        double g = run_budget(q, runs[k].T, &runs[k].op, budget);
        printf("  %-8s ||grad h||^2: %.3e -> %.3e (ratio %.1e)\n", bl_outer_type_name(runs[k].T), g0, g,
               g / g0);
        EXPECT(g <= 1e-2 * g0, "%s: ||grad h||^2 %.3e not 100x below %.3e", bl_outer_type_name(runs[k].T),
               g, g0);
    }
    /* SABA below SOBA at equal budget, 5 seeds, constant steps for both */
    const long b2 = 100L * (N + NV);
    for (uint64_t seed = 1; seed <= 5; seed++) {
        bl_outer_opts so = {.batch_inner = 8, .batch_outer = 8, .inner_step = 0.05, .outer_step = 0.05,
                            .seed = seed};
        double gs = run_budget(q, bl_outer_soba, &so, b2), ga = run_budget(q, bl_outer_saba, &so, b2);
        printf("  seed %d: soba %.3e  saba %.3e\n", (int)seed, gs, ga);
        EXPECT(ga < gs, "seed %d: SABA %.3e not below SOBA %.3e", (int)seed, ga, gs);
    }
}

static void test_determinism(quad *q)
{
    const bl_outer_type *types[] = {bl_outer_soba, bl_outer_saba, bl_outer_srba, bl_outer_stocbio,
                                    bl_outer_amigo};
    bl_problem pb = problem(q, 1, 1);
    for (size_t k = 0; k < 5; k++) {
        bl_outer_opts op = {.batch_inner = 8, .batch_outer = 8, .inner_step = 0.05, .outer_step = 0.05,
                            .seed = 42, .sample_mode = k % 2 ? BL_SAMPLE_EPOCHS : BL_SAMPLE_REPLACE};
        double out[3][2 * P + M + 3];
        for (int rep = 0; rep < 3; rep++) {
            if (rep == 2)
                op.seed = 43;
            bl_outer *o = make_outer(types[k], &pb, &op);
            if (!o)
                return;
            for (int again = 0; again < 2; again++) { /* set restarts the streams */
                bl_outer_set(o, LAMBDA0, NULL);
                for (int t = 0; t < 30; t++)
                    bl_outer_iterate(o);
            }
            bl_outer_stoch_view vw;
            bl_outer_stoch_get(o, &vw);
            const bl_outer_report *r = bl_outer_last(o);
            memcpy(out[rep], bl_outer_lambda(o), M * sizeof(double));
            memcpy(out[rep] + M, vw.theta, P * sizeof(double));
            memcpy(out[rep] + M + P, vw.v, P * sizeof(double));
            out[rep][M + 2 * P] = r->grad_norm;
            out[rep][M + 2 * P + 1] = r->value;
            out[rep][M + 2 * P + 2] = (double)r->counts.samples;
            bl_outer_free(o);
        }
        EXPECT(!memcmp(out[0], out[1], sizeof out[0]), "%s: same seed, different output",
               bl_outer_type_name(types[k]));
        EXPECT(memcmp(out[0], out[2], M * sizeof(double)), "%s: seeds 42 and 43 gave the same lambda",
               bl_outer_type_name(types[k]));
    }
}

static void test_errors(quad *q)
{
    bl_problem pb = problem(q, 0, 0);
    bl_problem nob = pb;
    nob.n_inner = 0;
    char msg[256];
    bl_status st;
    bl_outer_opts op = {0};
    EXPECT(!bl_outer_new(bl_outer_saba, &nob, &op, &st, msg, sizeof msg) && st == BL_EINVAL &&
               strstr(msg, "minibatch"), "no minibatch support: %s", msg);
    op.inner_step = -1;
    EXPECT(!bl_outer_new(bl_outer_soba, &pb, &op, &st, msg, sizeof msg) && st == BL_EINVAL,
           "negative step accepted");
    op.inner_step = 0;
    bl_outer *h = make_outer(bl_outer_hgd, &pb, &op);
    bl_outer_stoch_view vw;
    EXPECT(h && bl_outer_stoch_get(h, &vw) == BL_EINVAL, "stoch_get on hgd");
    EXPECT(h && bl_outer_saba_table(h, BL_PS_HVP, NULL, NULL) == BL_EINVAL, "saba_table on hgd");
    bl_outer_free(h);
    EXPECT(bl_outer_type_from_name("srba") == bl_outer_srba &&
               bl_outer_type_from_name("stocbio") == bl_outer_stocbio,
           "names");
}

int main(void)
{
    static quad q;
    make(&q);
    test_full_batch(&q);
    test_hook_equals_oracle(&q);
    test_saga_tables(&q);
    test_srba_refresh(&q);
    test_two_loop_full(&q);
    test_convergence(&q);
    test_determinism(&q);
    test_errors(&q);
    return t_done();
}
