/*
 * tests/bilevel/test_first_order.c — the fully first-order outer
 * algorithms (f2sa, f2sa-adam, bome; hypertape/outer.h) against references
 * written here in plain C:
 *   - F2SA's limit: full batches, ν fixed, T large: the λ-direction equals
 *     its closed form d_ν = κλ + νPᵀ(νA + B)⁻¹∇_θF(θ*) and approaches the
 *     true ∇h = κλ + PᵀA⁻¹∇_θF(θ*) like O(1/ν) (log-log slope ≈ −1);
 *   - Adam: on a problem linear in θ and λ the gradients are batch means
 *     only, a fixed sequence; f2sa-adam's λ equals a hand-written Adam on it;
 *   - F2SA and F2SA-Adam with minibatches equal a re-implementation of the
 *     algorithm boxes on a quadratic (same samplers, the documented draw
 *     order; inner Adam moments reset every outer step);
 *   - BOME's step equals its closed form on a quadratic (θ^T = θ* +
 *     (I − αA)^T(θ_k − θ*)), both branches of the multiplier taken;
 *   - bl_outer_model: F2SA's z after one inner step from θ_0 = 0 is γ(Pλ + q) (the closed
 *     form of one gradient step on G); BOME's and SOBA's model is θ_0 after bl_outer_set and
 *     SOBA's is the view's θ; hgd has none;
 *   - counts (gradients and samples only), determinism (same seed, same
 *     bits; another seed, another run), names and option checks.
 * Problems (sample i of the inner side, j of the outer one):
 *   quad:   G = mean_i ½(a_iᵀθ − c_iᵀλ − s_i)² + ½r‖θ‖²,  F = mean_j ½(v_jᵀθ − w_j)² + ½κ‖λ‖²
 *   linear: G = mean_i (a_iᵀθ + c_iᵀλ),                   F = mean_j (v_jᵀθ + e_jᵀλ)
 * The detector test of the issue (hypercleaning, 60 s) belongs to
 * `hypertape tune` and is not here.
 */
#include <hypertape/outer.h>
#include <hypertape/sampler.h>
#include "tests/bilevel/problems.h"

#include <stdio.h>

enum { P = 4, M = 3, NI = 30, NO = 20 };
#define SHIFT 0x9E3779B97F4A7C15ull

typedef struct quad {
    double A[NI * P], C[NI * M], s[NI]; /* inner samples */
    double V[NO * P], w[NO], E[NO * M]; /* outer samples (E: linear problem only) */
    double r, kappa;
    int linear;
} quad;

/* ---------------------------------------------------------------- the ad side */

static ad_var rows(ad_tape *t, int n, int c, const double *X, const int *b, int nb)
{
    ad_var x = ad_const_ref(t, n, c, X);
    return b ? ad_gather_rows(t, x, b, nb) : x;
}

static ad_var q_G(ad_tape *t, ad_var th, ad_var la, const int *b, int nb, void *ctx)
{
    quad *q = ctx;
    ad_var At = ad_matvec(t, rows(t, NI, P, q->A, b, nb), th, 0);
    ad_var Cl = ad_matvec(t, rows(t, NI, M, q->C, b, nb), la, 0);
    if (q->linear)
        return ad_mean(t, ad_add(t, At, Cl));
    ad_var res = ad_sub(t, ad_sub(t, At, Cl), rows(t, NI, 1, q->s, b, nb));
    return ad_add(t, ad_scale(t, ad_mean(t, ad_mul(t, res, res)), 0.5),
                  ad_scale(t, ad_dot(t, th, th), 0.5 * q->r));
}

static ad_var q_F(ad_tape *t, ad_var th, ad_var la, const int *b, int nb, void *ctx)
{
    quad *q = ctx;
    ad_var Vt = ad_matvec(t, rows(t, NO, P, q->V, b, nb), th, 0);
    if (q->linear)
        return ad_mean(t, ad_add(t, Vt, ad_matvec(t, rows(t, NO, M, q->E, b, nb), la, 0)));
    ad_var res = ad_sub(t, Vt, rows(t, NO, 1, q->w, b, nb));
    return ad_add(t, ad_scale(t, ad_mean(t, ad_mul(t, res, res)), 0.5),
                  ad_scale(t, ad_dot(t, la, la), 0.5 * q->kappa));
}

static void q_fill(quad *q, uint64_t seed, int linear)
{
    t_rng g = {seed};
    for (int k = 0; k < NI * P; k++)
        q->A[k] = t_normal(&g);
    for (int k = 0; k < NI * M; k++)
        q->C[k] = t_normal(&g);
    for (int k = 0; k < NI; k++)
        q->s[k] = t_normal(&g);
    for (int k = 0; k < NO * P; k++)
        q->V[k] = t_normal(&g);
    for (int k = 0; k < NO; k++)
        q->w[k] = t_normal(&g);
    for (int k = 0; k < NO * M; k++)
        q->E[k] = t_normal(&g);
    q->r = 0.5, q->kappa = 0.3, q->linear = linear;
}

static bl_problem q_problem(quad *q)
{
    return (bl_problem){.name = q->linear ? "linear" : "quad", .p = P, .m = M, .G = q_G, .F = q_F,
                        .n_inner = NI, .n_outer = NO, .ctx = q};
}

/* ------------------------------------------------------- plain-C gradients */
/* b NULL: all samples. */

static void ref_gG(const quad *q, const int *b, int nb, const double *th, const double *la,
                   double *gt, double *gl)
{
    int k = b ? nb : NI;
    for (int j = 0; j < P; j++)
        if (gt)
            gt[j] = q->linear ? 0 : q->r * th[j];
    for (int j = 0; j < M; j++)
        if (gl)
            gl[j] = 0;
    for (int u = 0; u < k; u++) {
        int i = b ? b[u] : u;
        const double *a = q->A + i * P, *c = q->C + i * M;
        double res = q->linear ? 1.0 : d_dot(P, a, th) - d_dot(M, c, la) - q->s[i];
        for (int j = 0; gt && j < P; j++)
            gt[j] += a[j] * res / k;
        for (int j = 0; gl && j < M; j++)
            gl[j] += (q->linear ? c[j] : -c[j] * res) / k;
    }
}

static double ref_gF(const quad *q, const int *b, int nb, const double *th, const double *la,
                     double *gt, double *gl)
{
    int k = b ? nb : NO;
    double val = q->linear ? 0 : 0.5 * q->kappa * d_dot(M, la, la);
    for (int j = 0; gt && j < P; j++)
        gt[j] = 0;
    for (int j = 0; gl && j < M; j++)
        gl[j] = q->linear ? 0 : q->kappa * la[j];
    for (int u = 0; u < k; u++) {
        int i = b ? b[u] : u;
        const double *v = q->V + i * P, *e = q->E + i * M;
        double res = q->linear ? 1.0 : d_dot(P, v, th) - q->w[i];
        val += q->linear ? (d_dot(P, v, th) + d_dot(M, e, la)) / k : 0.5 * res * res / k;
        for (int j = 0; gt && j < P; j++)
            gt[j] += v[j] * res / k;
        for (int j = 0; gl && j < M; j++)
            gl[j] += q->linear ? e[j] / k : 0;
    }
    return val;
}

/* A = (1/n)ΣaaᵀA + rI (P×P), B = (1/n_o)Σvvᵀ, Pm = (1/n)Σ a cᵀ (P×M), qv = (1/n)Σ a s,
 * u = (1/n_o)Σ v w. */
typedef struct dense {
    double A[P * P], B[P * P], Pm[P * M], qv[P], u[P];
} dense;

static void q_dense(const quad *q, dense *d)
{
    d_gram(NI, P, P, q->A, q->A, 1.0 / NI, d->A);
    for (int j = 0; j < P; j++)
        d->A[j * P + j] += q->r;
    d_gram(NO, P, P, q->V, q->V, 1.0 / NO, d->B);
    d_gram(NI, P, M, q->A, q->C, 1.0 / NI, d->Pm);
    d_gram(NI, P, 1, q->A, q->s, 1.0 / NI, d->qv);
    d_gram(NO, P, 1, q->V, q->w, 1.0 / NO, d->u);
}

/* θ*(λ) = A⁻¹(Pλ + q). */
static void theta_star(const dense *d, const double *la, double *ts)
{
    double rhs[P];
    d_matvec(P, M, d->Pm, la, rhs, 0);
    for (int j = 0; j < P; j++)
        rhs[j] += d->qv[j];
    d_chol_solve(P, d->A, rhs, ts);
}

/* ----------------------------------------------------------------- helpers */

static bl_outer *mk(const bl_outer_type *T, const bl_problem *pb, const bl_outer_opts *op)
{
    char msg[256];
    bl_status st;
    bl_outer *o = bl_outer_new(T, pb, op, &st, msg, sizeof msg);
    EXPECT(o && st == BL_OK, "%s: bl_outer_new: %s", bl_outer_type_name(T), msg);
    return o;
}

static void start_lambda(double *la)
{
    for (int j = 0; j < M; j++)
        la[j] = 0.4 * (j + 1) - 0.7;
}

/* ------------------------------------------------------- F2SA's limit */

static void test_limit(void)
{
    quad q;
    q_fill(&q, 11, 0);
    bl_problem pb = q_problem(&q);
    dense d;
    q_dense(&q, &d);
    double evA[P], evB[P];
    d_eig_sym(P, d.A, evA);
    d_eig_sym(P, d.B, evB);
    double la0[M], ts[P], gF[P], hstar[M];
    start_lambda(la0);
    theta_star(&d, la0, ts);
    for (int j = 0; j < P; j++) /* ∇_θF(θ*) = Bθ* − u */
        gF[j] = d_dot(P, d.B + j * P, ts) - d.u[j];
    double Ainv_g[P], PtAg[M];
    d_chol_solve(P, d.A, gF, Ainv_g);
    d_matvec(P, M, d.Pm, Ainv_g, PtAg, 1);
    for (int j = 0; j < M; j++)
        hstar[j] = q.kappa * la0[j] + PtAg[j];
    enum { NNU = 5 };
    double lnu[NNU], lerr[NNU];
    for (int k = 0; k < NNU; k++) {
        double nu = 8.0 * (1 << k), alpha = 1.0 / (evB[P - 1] + nu * evA[P - 1]);
        bl_outer_opts op = {.batch_inner = NI, .batch_outer = NO, .inner_steps = 400,
                            .inner_step = alpha, .outer_step = 1.0 / evA[P - 1], .nu0 = nu,
                            .xi = 1.0};
        bl_outer *o = mk(bl_outer_f2sa, &pb, &op);
        if (!o)
            return;
        bl_status st = bl_outer_set(o, la0, NULL);
        st = st == BL_OK ? bl_outer_iterate(o) : st;
        EXPECT(st == BL_OK, "limit nu=%g: %s", nu, bl_outer_message(o));
        const double *la1 = bl_outer_lambda(o);
        double dir[M], dnu[M], Mx[P * P], x[P], Ptx[M];
        for (int j = 0; j < M; j++)
            dir[j] = (la0[j] - la1[j]) / alpha;
        for (int j = 0; j < P * P; j++) /* d_ν = κλ + νPᵀ(νA + B)⁻¹∇_θF(θ*) */
            Mx[j] = nu * d.A[j] + d.B[j];
        d_chol_solve(P, Mx, gF, x);
        d_matvec(P, M, d.Pm, x, Ptx, 1);
        for (int j = 0; j < M; j++)
            dnu[j] = q.kappa * la0[j] + nu * Ptx[j];
        EXPECT(t_relerr(dir, dnu, M, 1e-300) < 1e-9, "nu=%g: direction vs closed form d_nu: %.3e",
               nu, t_relerr(dir, dnu, M, 1e-300));
        const bl_outer_report *rep = bl_outer_last(o);
        EXPECT(fabs(rep->grad_norm - d_nrm(M, dnu)) < 1e-9 * d_nrm(M, dnu) &&
                   fabs(rep->step - alpha) < 1e-15 * alpha,
               "nu=%g: report grad_norm %.6e (want %.6e), step %g", nu, rep->grad_norm,
               d_nrm(M, dnu), rep->step);
        /* value: F(y_ν, λ) with y_ν = θ* − (νA + B)⁻¹∇_θF(θ*) */
        double ynu[P];
        for (int j = 0; j < P; j++)
            ynu[j] = ts[j] - x[j];
        double fv = ref_gF(&q, NULL, 0, ynu, la0, NULL, NULL);
        EXPECT(fabs(rep->value - fv) < 1e-10 * fabs(fv), "nu=%g: value %.12g, F(y_nu) %.12g", nu,
               rep->value, fv);
        lnu[k] = log(nu);
        lerr[k] = log(d_dist(M, dir, hstar));
        bl_outer_free(o);
    }
    double slope = fit_slope(NNU, lnu, lerr);
    EXPECT(slope > -1.1 && slope < -0.9, "||d_nu - grad h|| ~ nu^%.3f, expected nu^-1", slope);
    printf("f2sa limit: ||d - grad h|| = %.3e at nu = 8, %.3e at nu = 128, slope %.3f\n",
           exp(lerr[0]), exp(lerr[NNU - 1]), slope);
}

/* ------------------------------------------------------- the model view */

static void test_model(void)
{
    quad q;
    q_fill(&q, 31, 0);
    bl_problem pb = q_problem(&q);
    dense d;
    q_dense(&q, &d);
    double la0[M], want[P], th0[P] = {0.3, -0.2, 0.1, 0.5};
    start_lambda(la0);
    double gamma = 0.05;
    bl_outer_opts op = {.batch_inner = NI, .batch_outer = NO, .inner_steps = 1, .inner_step = 0.01,
                        .outer_step = gamma};
    bl_outer *o = mk(bl_outer_f2sa, &pb, &op);
    if (!o)
        return;
    bl_status st = bl_outer_set(o, la0, NULL);
    st = st == BL_OK ? bl_outer_iterate(o) : st;
    EXPECT(st == BL_OK, "model: f2sa: %s", bl_outer_message(o));
    d_matvec(P, M, d.Pm, la0, want, 0); /* z_1 = 0 − γ∇_θG(0) = γ(Pλ + q) */
    for (int j = 0; j < P; j++)
        want[j] = gamma * (want[j] + d.qv[j]);
    const double *z = bl_outer_model(o);
    EXPECT(z && t_relerr(z, want, P, 1e-300) < 1e-12, "model: f2sa z vs gamma(P lambda + q): %.3e",
           z ? t_relerr(z, want, P, 1e-300) : -1.0);
    bl_outer_free(o);
    const bl_outer_type *types[] = {bl_outer_bome, bl_outer_soba};
    for (int k = 0; k < 2; k++) {
        bl_outer_opts ob = {.batch_inner = NI, .batch_outer = NO};
        o = mk(types[k], &pb, &ob);
        if (!o)
            return;
        st = bl_outer_set(o, la0, th0);
        const double *th = bl_outer_model(o);
        EXPECT(st == BL_OK && th && t_relerr(th, th0, P, 1e-300) == 0, "model: %s after set is theta_0",
               bl_outer_type_name(types[k]));
        if (types[k] == bl_outer_soba) {
            bl_outer_stoch_view v;
            st = bl_outer_iterate(o);
            EXPECT(st == BL_OK && bl_outer_stoch_get(o, &v) == BL_OK && v.theta == bl_outer_model(o),
                   "model: soba's model is the view's theta");
        }
        bl_outer_free(o);
    }
    bl_outer_opts oh = {0};
    o = mk(bl_outer_hgd, &pb, &oh);
    EXPECT(o && bl_outer_model(o) == NULL, "model: hgd has none");
    bl_outer_free(o);
}

/* ------------------------------------------- Adam on a fixed gradient sequence */

static void draw(bl_sampler *s, int *idx, int b) { bl_sampler_draw(s, b, idx); }

static void test_adam_fixed(void)
{
    quad q;
    q_fill(&q, 12, 1);
    bl_problem pb = q_problem(&q);
    enum { B = 7, BO = 5, T = 3, K = 25 };
    double alpha = 0.05, xi = 2.0, nu0 = 1.5, delta = 0.25;
    bl_outer_opts op = {.batch_inner = B, .batch_outer = BO, .inner_steps = T, .inner_step = alpha,
                        .nu0 = nu0, .nu_delta = delta, .xi = xi, .seed = 77, .beta1 = 0.8,
                        .beta2 = 0.95, .adam_eps = 1e-3, .box_lo = -1e6, .box_hi = 1e6};
    bl_outer *o = mk(bl_outer_f2sa_adam, &pb, &op);
    if (!o)
        return;
    double la0[M];
    start_lambda(la0);
    bl_outer_set(o, la0, NULL);
    /* the gradient sequence: d_k = ē(ζ_x) + ν_k(c̄(φ_xy) − c̄(φ_xz)), batch means only */
    bl_sampler *si = bl_sampler_new(NI, 77, 0, NULL), *so = bl_sampler_new(NO, 77 + SHIFT, 0, NULL);
    double x[M], mo[M] = {0}, va[M] = {0}, nu = nu0, worst = 0;
    memcpy(x, la0, sizeof x);
    int idx[B];
    for (int k = 1; k <= K; k++) {
        for (int t = 0; t < T; t++) { /* the inner draws: φ_z, φ_y, ζ_y */
            draw(si, idx, B);
            draw(si, idx, B);
            draw(so, idx, BO);
        }
        double dvec[M] = {0}, c1[M], c2[M], junk[P] = {0};
        draw(so, idx, BO);
        ref_gF(&q, idx, BO, junk, x, NULL, dvec);
        draw(si, idx, B);
        ref_gG(&q, idx, B, junk, x, NULL, c1);
        draw(si, idx, B);
        ref_gG(&q, idx, B, junk, x, NULL, c2);
        for (int j = 0; j < M; j++) {
            double g = dvec[j] + nu * (c1[j] - c2[j]);
            mo[j] = 0.8 * mo[j] + 0.2 * g;
            va[j] = 0.95 * va[j] + 0.05 * g * g;
            double mh = mo[j] / (1 - pow(0.8, k)), vh = va[j] / (1 - pow(0.95, k));
            x[j] -= xi * alpha * mh / (sqrt(vh) + 1e-3);
        }
        nu += delta;
        EXPECT(bl_outer_iterate(o) == BL_OK, "adam fixed: %s", bl_outer_message(o));
        worst = fmax(worst, t_relerr(bl_outer_lambda(o), x, M, 1.0));
    }
    EXPECT(worst < 1e-13, "f2sa-adam lambda vs hand-written Adam on the fixed sequence: %.3e", worst);
    bl_sampler_free(si);
    bl_sampler_free(so);
    bl_outer_free(o);
}

/* ------------------------- F2SA / F2SA-Adam = the algorithm boxes, minibatches */

typedef struct adamv {
    double m[P > M ? P : M], v[P > M ? P : M];
} adamv;

/* x ← x − a·Adam(g) (count i ≥ 1) or x ← x − a·g (ad NULL). */
static void ref_step(int n, double a, const double *g, double *x, adamv *ad, int i, double b1,
                     double b2, double eps)
{
    for (int j = 0; j < n; j++) {
        if (!ad) {
            x[j] -= a * g[j];
            continue;
        }
        ad->m[j] = b1 * ad->m[j] + (1 - b1) * g[j];
        ad->v[j] = b2 * ad->v[j] + (1 - b2) * g[j] * g[j];
        x[j] -= a * (ad->m[j] / (1 - pow(b1, i))) / (sqrt(ad->v[j] / (1 - pow(b2, i))) + eps);
    }
}

static void test_boxes(int adam)
{
    quad q;
    q_fill(&q, 13, 0);
    bl_problem pb = q_problem(&q);
    enum { B = 6, BO = 4, T = 4, K = 30 };
    double alpha = adam ? 0.01 : 0.05, gamma = adam ? 0.02 : 0.08, xi = 0.7, nu0 = 2.0, delta = 0.1;
    double sa = 0.3, sb = 0.2, b1 = 0.85, b2 = 0.98, eps = 1e-6;
    bl_outer_opts op = {.batch_inner = B, .batch_outer = BO, .inner_steps = T, .inner_step = alpha,
                        .outer_step = gamma, .sched_a = sa, .sched_b = sb, .nu0 = nu0,
                        .nu_delta = delta, .xi = xi, .seed = 5, .beta1 = b1, .beta2 = b2,
                        .adam_eps = eps, .sample_mode = BL_SAMPLE_EPOCHS};
    const bl_outer_type *Ty = adam ? bl_outer_f2sa_adam : bl_outer_f2sa;
    bl_outer *o = mk(Ty, &pb, &op);
    if (!o)
        return;
    double la0[M], th0[P];
    start_lambda(la0);
    for (int j = 0; j < P; j++)
        th0[j] = 0.1 * j;
    bl_outer_set(o, la0, th0);
    bl_sampler *si = bl_sampler_new(NI, 5, BL_SAMPLE_EPOCHS, NULL);
    bl_sampler *so = bl_sampler_new(NO, 5 + SHIFT, BL_SAMPLE_EPOCHS, NULL);
    double x[M], y[P], z[P], nu = nu0, worst = 0;
    adamv ax, ay, az;
    memset(&ax, 0, sizeof ax);
    memcpy(x, la0, sizeof x);
    memcpy(y, th0, sizeof y);
    memcpy(z, th0, sizeof z);
    int idx[B];
    long grads = 0, samples = 0;
    for (int k = 1; k <= K; k++) {
        double a = alpha * pow(k, -sa), g = gamma * pow(k, -sb);
        memset(&ay, 0, sizeof ay);
        memset(&az, 0, sizeof az);
        for (int t = 1; t <= T; t++) {
            double hz[P], hy[P], hf[P];
            draw(si, idx, B);
            ref_gG(&q, idx, B, z, x, hz, NULL);
            draw(si, idx, B);
            ref_gG(&q, idx, B, y, x, hy, NULL);
            draw(so, idx, BO);
            ref_gF(&q, idx, BO, y, x, hf, NULL);
            for (int j = 0; j < P; j++)
                hf[j] += nu * hy[j];
            ref_step(P, g, hz, z, adam ? &az : NULL, t, b1, b2, eps);
            ref_step(P, a, hf, y, adam ? &ay : NULL, t, b1, b2, eps);
        }
        double dv[M], g1[M], g2[M];
        draw(so, idx, BO);
        double val = ref_gF(&q, idx, BO, y, x, NULL, dv);
        draw(si, idx, B);
        ref_gG(&q, idx, B, y, x, NULL, g1);
        draw(si, idx, B);
        ref_gG(&q, idx, B, z, x, NULL, g2);
        for (int j = 0; j < M; j++)
            dv[j] += nu * (g1[j] - g2[j]);
        EXPECT(bl_outer_iterate(o) == BL_OK, "%s: %s", Ty->name, bl_outer_message(o));
        const bl_outer_report *rep = bl_outer_last(o);
        EXPECT(fabs(rep->value - val) <= 1e-12 * fmax(1, fabs(val)) &&
                   fabs(rep->grad_norm - d_nrm(M, dv)) <= 1e-12 * fmax(1, d_nrm(M, dv)) &&
                   fabs(rep->step - xi * a) <= 1e-15,
               "%s k=%d: report value %.15g (want %.15g), grad_norm %.15g (want %.15g), step %g", Ty->name,
               k, rep->value, val, rep->grad_norm, d_nrm(M, dv), rep->step);
        ref_step(M, xi * a, dv, x, adam ? &ax : NULL, k, b1, b2, eps);
        for (int j = 0; j < M; j++)
            x[j] = fmin(12, fmax(-12, x[j]));
        nu += delta;
        grads += 3 * T + 3;
        samples += T * (2 * B + BO) + BO + 2 * B;
        worst = fmax(worst, t_relerr(bl_outer_lambda(o), x, M, 1.0));
    }
    EXPECT(worst < 1e-12, "%s: lambda vs the algorithm box written here: %.3e", Ty->name, worst);
    bl_counts c = bl_outer_counts(o);
    EXPECT(c.grad == grads && c.samples == samples && c.hvp == 0 && c.cross == 0,
           "%s counts: grad %ld (want %ld), samples %ld (want %ld), hvp %ld, cross %ld", Ty->name,
           c.grad, grads, c.samples, samples, c.hvp, c.cross);
    /* memory_bytes, counted by hand: y, z, three inner gradients and four
     * Adam moments (p each), the direction, a scratch and two moments (m
     * each), B + BO + 1 indices, two epoch samplers (64 bytes and a
     * permutation each), plus the oracle's peak tape. */
    size_t mem = (9 * P + 4 * M) * sizeof(double) + (B + BO + 1) * sizeof(int) +
                 2 * 64 + (NI + NO) * sizeof(int) + bl_oracle_peak_bytes(bl_hg_oracle(bl_outer_hg(o)));
    EXPECT(bl_outer_last(o)->memory_bytes == mem && bl_oracle_peak_bytes(bl_hg_oracle(bl_outer_hg(o))) > 0,
           "%s: memory_bytes %zu (want %zu by hand)", Ty->name, bl_outer_last(o)->memory_bytes, mem);
    bl_sampler_free(si);
    bl_sampler_free(so);
    bl_outer_free(o);
}

/* --------------------------------------------------- BOME's closed form */

static void test_bome(double eta, int *hit_pos, int *hit_zero)
{
    quad q;
    q_fill(&q, 14, 0);
    bl_problem pb = q_problem(&q);
    dense d;
    q_dense(&q, &d);
    enum { T = 6, K = 12 };
    double alpha = 0.1, beta = 0.3;
    bl_outer_opts op = {.inner_steps = T, .inner_step = alpha, .outer_step = beta, .bome_eta = eta};
    bl_outer *o = mk(bl_outer_bome, &pb, &op);
    if (!o)
        return;
    double x[M], th[P], worst = 0;
    start_lambda(x);
    for (int j = 0; j < P; j++)
        th[j] = 1.0 - 0.3 * j;
    bl_outer_set(o, x, th);
    for (int k = 1; k <= K; k++) {
        /* θ^T = θ* + (I − αA)^T (θ_k − θ*) */
        double ts[P], e[P], Ae[P], thT[P];
        theta_star(&d, x, ts);
        for (int j = 0; j < P; j++)
            e[j] = th[j] - ts[j];
        for (int t = 0; t < T; t++) {
            d_matvec(P, P, d.A, e, Ae, 0);
            for (int j = 0; j < P; j++)
                e[j] -= alpha * Ae[j];
        }
        for (int j = 0; j < P; j++)
            thT[j] = ts[j] + e[j];
        /* ∇f = (Bθ − u, κx); ∇q̂ = (Aθ − Px − q, −Pᵀ(θ − θ^T)) */
        double fT[P], fL[M], qT[P], qL[M], Px[P], dth[P];
        d_matvec(P, M, d.Pm, x, Px, 0);
        for (int j = 0; j < P; j++) {
            fT[j] = d_dot(P, d.B + j * P, th) - d.u[j];
            qT[j] = d_dot(P, d.A + j * P, th) - Px[j] - d.qv[j];
            dth[j] = th[j] - thT[j];
        }
        d_matvec(P, M, d.Pm, dth, qL, 1);
        for (int j = 0; j < M; j++)
            fL[j] = q.kappa * x[j], qL[j] = -qL[j];
        double nq2 = d_dot(P, qT, qT) + d_dot(M, qL, qL);
        double dot = d_dot(P, fT, qT) + d_dot(M, fL, qL);
        double w = fmax(eta * nq2 - dot, 0) / nq2;
        *hit_pos += w > 0, *hit_zero += w == 0;
        double val = ref_gF(&q, NULL, 0, th, x, NULL, NULL);
        for (int j = 0; j < P; j++)
            th[j] -= alpha * (fT[j] + w * qT[j]);
        double dx[M];
        for (int j = 0; j < M; j++) {
            dx[j] = fL[j] + w * qL[j];
            x[j] = fmin(12, fmax(-12, x[j] - beta * dx[j]));
        }
        EXPECT(bl_outer_iterate(o) == BL_OK, "bome: %s", bl_outer_message(o));
        const bl_outer_report *rep = bl_outer_last(o);
        EXPECT(fabs(rep->value - val) <= 1e-12 * fmax(1, fabs(val)) &&
                   fabs(rep->grad_norm - d_nrm(M, dx)) <= 1e-11 * fmax(1, d_nrm(M, dx)) &&
                   rep->step == beta,
               "bome k=%d: value %.15g (want %.15g), grad_norm %.15g (want %.15g)", k, rep->value,
               val, rep->grad_norm, d_nrm(M, dx));
        worst = fmax(worst, t_relerr(bl_outer_lambda(o), x, M, 1.0));
    }
    EXPECT(worst < 1e-11, "bome eta=%g: lambda vs the closed form: %.3e", eta, worst);
    bl_counts c = bl_outer_counts(o);
    EXPECT(c.grad == K * (T + 3) && c.samples == K * ((T + 2) * NI + NO) && c.hvp == 0 && c.cross == 0,
           "bome counts: grad %ld (want %d), samples %ld (want %d)", c.grad, K * (T + 3), c.samples,
           K * ((T + 2) * NI + NO));
    /* memory_bytes by hand: θ, θ^T and three p-gradients, three m-vectors,
     * NI + NO + 1 indices (full batches: no sampler), the oracle's peak. */
    size_t mem = (5 * P + 3 * M) * sizeof(double) + (NI + NO + 1) * sizeof(int) +
                 bl_oracle_peak_bytes(bl_hg_oracle(bl_outer_hg(o)));
    EXPECT(bl_outer_last(o)->memory_bytes == mem, "bome: memory_bytes %zu (want %zu by hand)",
           bl_outer_last(o)->memory_bytes, mem);
    bl_outer_free(o);
}

/* -------------------------------------------------------- determinism */

static void run(const bl_outer_type *Ty, const bl_problem *pb, uint64_t seed, int K, double *out)
{
    bl_outer_opts op = {.batch_inner = 5, .batch_outer = 3, .seed = seed, .nu_delta = 0.1,
                        .inner_step = Ty == bl_outer_f2sa_adam ? 0.01 : 0.05};
    bl_outer *o = mk(Ty, pb, &op);
    if (!o)
        return;
    double la0[M];
    start_lambda(la0);
    bl_outer_set(o, la0, NULL);
    for (int k = 0; k < K; k++)
        bl_outer_iterate(o);
    memcpy(out, bl_outer_lambda(o), M * sizeof(double));
    /* bl_outer_set restarts the samplers: the same run again */
    double again[M];
    bl_outer_set(o, la0, NULL);
    for (int k = 0; k < K; k++)
        bl_outer_iterate(o);
    memcpy(again, bl_outer_lambda(o), M * sizeof(double));
    EXPECT(!memcmp(out, again, sizeof again), "%s: bl_outer_set did not restart the run", Ty->name);
    bl_outer_free(o);
}

static void test_determinism(void)
{
    quad q;
    q_fill(&q, 15, 0);
    bl_problem pb = q_problem(&q);
    const bl_outer_type *types[] = {bl_outer_f2sa, bl_outer_f2sa_adam, bl_outer_bome};
    for (int k = 0; k < 3; k++) {
        double a[M], b[M], c[M];
        run(types[k], &pb, 3, 20, a);
        run(types[k], &pb, 3, 20, b);
        run(types[k], &pb, 4, 20, c);
        EXPECT(!memcmp(a, b, sizeof a), "%s: same seed, different lambda", types[k]->name);
        EXPECT(memcmp(a, c, sizeof a) != 0, "%s: another seed, same lambda", types[k]->name);
    }
}

/* ------------------------------------------------ names, options, box */

static void test_misc(void)
{
    quad q;
    q_fill(&q, 16, 0);
    bl_problem pb = q_problem(&q);
    EXPECT(bl_outer_type_from_name("f2sa") == bl_outer_f2sa &&
               bl_outer_type_from_name("f2sa-adam") == bl_outer_f2sa_adam &&
               bl_outer_type_from_name("bome") == bl_outer_bome,
           "type names");
    char list[512];
    bl_outer_type_list(list, sizeof list, ",");
    EXPECT(strstr(list, "f2sa,f2sa-adam,bome") != NULL, "type list: %s", list);
    char msg[256];
    bl_status st;
    bl_outer_opts bad[] = {{.nu_delta = -1}, {.xi = -1}, {.inner_steps = -2}, {.batch_inner = -1},
                           {.inner_step = NAN}};
    const char *what[] = {"nu_delta", "xi", "inner_steps", "batch_inner", "inner_step"};
    for (int k = 0; k < 5; k++) {
        bl_outer *o = bl_outer_new(bl_outer_f2sa, &pb, &bad[k], &st, msg, sizeof msg);
        EXPECT(!o && st == BL_EINVAL && strstr(msg, "f2sa") && strstr(msg, what[k]),
               "bad %s: status %d, %s", what[k], (int)st, msg);
        bl_outer_free(o);
    }
    bl_outer_opts be = {.bome_eta = -1};
    bl_outer *o = bl_outer_new(bl_outer_bome, &pb, &be, &st, msg, sizeof msg);
    EXPECT(!o && st == BL_EINVAL && strstr(msg, "bome_eta"), "bad bome_eta: %s", msg);
    /* the box: a huge step lands λ on its bounds */
    bl_outer_opts big = {.inner_step = 0.01, .xi = 1e6, .box_lo = -0.5, .box_hi = 0.25};
    o = mk(bl_outer_f2sa, &pb, &big);
    if (!o)
        return;
    double la0[M] = {0};
    bl_outer_set(o, la0, NULL);
    bl_outer_iterate(o);
    int in = 1, edge = 0;
    for (int j = 0; j < M; j++) {
        double v = bl_outer_lambda(o)[j];
        in &= v >= -0.5 && v <= 0.25;
        edge += v == -0.5 || v == 0.25;
    }
    EXPECT(in && edge == M, "box projection: lambda not on the bounds");
    bl_outer_free(o);
}

int main(void)
{
    test_limit();
    test_adam_fixed();
    test_model();
    test_boxes(0);
    test_boxes(1);
    int pos = 0, zero = 0;
    test_bome(5.0, &pos, &zero);
    test_bome(1e-3, &pos, &zero);
    EXPECT(pos > 0 && zero > 0, "bome: multiplier branches taken: w > 0 %d times, w = 0 %d times", pos,
           zero);
    test_determinism();
    test_misc();
    return t_done();
}
