/*
 * tests/unit/test_derivs.c — derivatives against independent truth:
 * closed forms and plain-C reimplementations (never AD outputs).
 *  - ad_grad wrt several leaves at once, a leaf off the path, duplicates,
 *    a leaf used many times and through broadcasts (accumulation);
 *  - ad_jvp = ⟨∇f, v⟩ and hand-computed tangents;
 *  - third and fourth derivatives by repeated AD_CREATE_GRAPH;
 *  - 20 unrolled gradient-descent steps (each an ad_grad with
 *    AD_CREATE_GRAPH) differentiated wrt λ and α, against central
 *    differences of a plain-C run of the same procedure;
 *  - Hvp and cross from ad_hvp_cross in both modes against closed forms,
 *    and ad_hvp_prepare + repeated ad_hvp_apply against the one-shot form.
 */
#include <hypertape/ad.h>
#include "testutil.h"

#include <string.h>

static double sigm(double x) { return 1.0 / (1.0 + exp(-x)); }
static double softplus(double x) { return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x)); }

/* Relative error of an ad value against a plain array. */
static double verr(const ad_tape *t, ad_var v, const double *want, size_t n)
{
    const double *got = ad_value(t, v);
    if (!got || (size_t)ad_rows(t, v) * (size_t)ad_cols(t, v) != n)
        return INFINITY;
    return t_relerr(got, want, n, 1e-300);
}

/* ------------------------------------------------------ several leaves */

enum { R = 4, C = 3 };

/* f(A, x, b) = Σ tanh(A x + b)², A R×C, x C×1, b R×1. Hand gradients. */
static void f1_truth(const double *A, const double *x, const double *b, double *gA, double *gx,
                     double *gb, double *z, double *u)
{
    double dz[R];
    for (int i = 0; i < R; i++) {
        z[i] = b[i];
        for (int j = 0; j < C; j++)
            z[i] += A[i * C + j] * x[j];
        u[i] = tanh(z[i]);
        dz[i] = 2 * u[i] * (1 - u[i] * u[i]);
        gb[i] = dz[i];
        for (int j = 0; j < C; j++)
            gA[i * C + j] = dz[i] * x[j];
    }
    for (int j = 0; j < C; j++) {
        gx[j] = 0;
        for (int i = 0; i < R; i++)
            gx[j] += A[i * C + j] * dz[i];
    }
}

static void test_several_leaves(void)
{
    t_rng rng = {2024};
    double A[R * C], x[C], b[R], gA[R * C], gx[C], gb[R], z[R], u[R], zero[10] = {0};
    t_fill(&rng, A, R * C, -1, 1);
    t_fill(&rng, x, C, -1, 1);
    t_fill(&rng, b, R, -1, 1);
    f1_truth(A, x, b, gA, gx, gb, z, u);
    for (int flags = 0; flags <= AD_CREATE_GRAPH; flags++) {
        ad_tape *t = ad_tape_new(NULL);
        ad_var c = ad_leaf(t, 2, 5, NULL); /* before, off the path */
        ad_var xv = ad_leaf(t, C, 1, x), Av = ad_leaf(t, R, C, A), bv = ad_leaf(t, R, 1, b);
        ad_var zv = ad_add(t, ad_matvec(t, Av, xv, 0), bv);
        ad_var f = ad_sum(t, ad_square(t, ad_tanh(t, zv)));
        ad_var d = ad_leaf(t, 1, 3, NULL); /* after the output */
        ad_var wrt[6] = {xv, c, Av, bv, d, xv}, g[6];
        EXPECT(ad_grad(t, f, 6, wrt, g, (unsigned)flags) == AD_OK, "grad: %s", ad_tape_message(t));
        EXPECT(verr(t, g[0], gx, C) < 1e-13, "grad x: %g", verr(t, g[0], gx, C));
        EXPECT(verr(t, g[5], gx, C) < 1e-13, "grad x (repeated wrt)");
        EXPECT(verr(t, g[2], gA, R * C) < 1e-13, "grad A: %g", verr(t, g[2], gA, R * C));
        EXPECT(verr(t, g[3], gb, R) < 1e-13, "grad b: %g", verr(t, g[3], gb, R));
        EXPECT(ad_rows(t, g[1]) == 2 && ad_cols(t, g[1]) == 5 &&
                   memcmp(ad_value(t, g[1]), zero, 10 * sizeof(double)) == 0,
               "grad wrt an unused leaf: %dx%d, not zeros 2x5", ad_rows(t, g[1]), ad_cols(t, g[1]));
        EXPECT(ad_rows(t, g[4]) == 1 && ad_cols(t, g[4]) == 3 &&
                   memcmp(ad_value(t, g[4]), zero, 3 * sizeof(double)) == 0,
               "grad wrt a leaf recorded after y: not zeros 1x3");
        EXPECT(ad_rows(t, g[2]) == R && ad_cols(t, g[2]) == C, "grad A shape %dx%d",
               ad_rows(t, g[2]), ad_cols(t, g[2]));
        /* ad_grad_values: the same numbers, nothing left on the tape. */
        double ox[C], oA[R * C], oc[10];
        double *outs[3] = {ox, oA, oc};
        ad_var w3[3] = {xv, Av, c};
        size_t nodes = ad_tape_stats(t).nodes;
        EXPECT(ad_grad_values(t, f, 3, w3, outs) == AD_OK, "grad_values");
        EXPECT(t_relerr(ox, gx, C, 1e-300) < 1e-13 && t_relerr(oA, gA, R * C, 1e-300) < 1e-13 &&
                   memcmp(oc, zero, sizeof oc) == 0,
               "grad_values differ from truth");
        EXPECT(ad_tape_stats(t).nodes == nodes, "grad_values left %zu nodes",
               ad_tape_stats(t).nodes - nodes);
        /* Gradient of y wrt y is 1; of a constant-only output wrt x, zeros. */
        ad_var one;
        EXPECT(ad_grad(t, f, 1, &f, &one, (unsigned)flags) == AD_OK &&
                   ad_scalar_value(t, one) == 1.0,
               "df/df != 1");
        ad_var k = ad_sum(t, ad_const(t, 2, 2, NULL)), gk;
        EXPECT(ad_grad(t, k, 1, &xv, &gk, (unsigned)flags) == AD_OK && ad_rows(t, gk) == C &&
                   memcmp(ad_value(t, gk), zero, C * sizeof(double)) == 0,
               "grad of a constant not zeros");
        /* Detach blocks the path: f(detach(x)) has zero gradient in x. */
        ad_var fd = ad_sum(t, ad_square(t, ad_detach(t, xv))), gd;
        EXPECT(ad_grad(t, fd, 1, &xv, &gd, (unsigned)flags) == AD_OK &&
                   memcmp(ad_value(t, gd), zero, C * sizeof(double)) == 0,
               "gradient flowed through detach");
        ad_tape_free(t);
    }
}

/* Many inputs at once: f = Σ_k (k+1)·x_k², x_k 1×1, 100 of them. */
static void test_many_inputs(void)
{
    enum { NI = 100 };
    ad_tape *t = ad_tape_new(NULL);
    ad_var x[NI], f = AD_NONE, g[NI];
    double vals[NI], out[NI], *outp[NI], want[NI];
    for (int k = 0; k < NI; k++) {
        vals[k] = 0.01 * k - 0.3;
        want[k] = 2.0 * (k + 1) * vals[k];
        outp[k] = &out[k];
        x[k] = ad_leaf(t, 1, 1, &vals[k]);
        ad_var term = ad_scale(t, ad_square(t, x[k]), k + 1);
        f = k ? ad_add(t, f, term) : term;
    }
    EXPECT(ad_grad(t, f, NI, x, g, 0) == AD_OK, "grad of 100 inputs: %s", ad_tape_message(t));
    double got[NI];
    for (int k = 0; k < NI; k++)
        got[k] = ad_scalar_value(t, g[k]);
    EXPECT(t_relerr(got, want, NI, 1e-300) < 1e-15, "grad of 100 inputs wrong");
    EXPECT(ad_grad_values(t, f, NI, x, outp) == AD_OK, "grad_values of 100 inputs: %s",
           ad_tape_message(t));
    EXPECT(t_relerr(out, want, NI, 1e-300) < 1e-15, "grad_values of 100 inputs wrong");
    ad_tape_free(t);
}

/* -------------------------------------------------------- accumulation */

static void test_accumulation(void)
{
    enum { K = 10 };
    t_rng rng = {77};
    double x[C], M[R * C], s = 0.7, xc[R], Ck[K][C], want[C], wants, wantc[R];
    t_fill(&rng, x, C, -1, 1);
    t_fill(&rng, M, R * C, -1, 1);
    t_fill(&rng, xc, R, -1, 1);
    for (int k = 0; k < K; k++)
        t_fill(&rng, Ck[k], C, -1, 1);
    /* f = Σx² + Σ_k ⟨x, C_k⟩ + Σ M⊙x (x 1×C broadcast down rows)
     *   + Σ M⊙s (s 1×1) + s² + Σ M⊙xc (xc R×1 broadcast across columns)
     *   + Σ_k (k+1)·s */
    wants = 2 * s;
    for (int j = 0; j < C; j++) {
        want[j] = 2 * x[j];
        for (int k = 0; k < K; k++)
            want[j] += Ck[k][j];
        for (int i = 0; i < R; i++)
            want[j] += M[i * C + j];
    }
    for (int i = 0; i < R; i++) {
        wantc[i] = 0;
        for (int j = 0; j < C; j++) {
            wants += M[i * C + j];
            wantc[i] += M[i * C + j];
        }
    }
    for (int k = 0; k < K; k++)
        wants += k + 1;
    ad_tape *t = ad_tape_new(NULL);
    ad_var xv = ad_leaf(t, 1, C, x), sv = ad_leaf(t, 1, 1, &s), cv = ad_leaf(t, R, 1, xc);
    ad_var Mv = ad_const(t, R, C, M);
    ad_var f = ad_sum(t, ad_square(t, xv));
    for (int k = 0; k < K; k++)
        f = ad_add(t, f, ad_sum(t, ad_mul(t, xv, ad_const(t, 1, C, Ck[k]))));
    f = ad_add(t, f, ad_sum(t, ad_mul(t, Mv, xv)));
    f = ad_add(t, f, ad_sum(t, ad_mul(t, sv, Mv)));
    f = ad_add(t, f, ad_square(t, sv));
    f = ad_add(t, f, ad_sum(t, ad_mul(t, Mv, cv)));
    for (int k = 0; k < K; k++)
        f = ad_add(t, f, ad_scale(t, sv, k + 1));
    ad_var wrt[3] = {xv, sv, cv}, g[3];
    EXPECT(ad_grad(t, f, 3, wrt, g, 0) == AD_OK, "grad: %s", ad_tape_message(t));
    EXPECT(verr(t, g[0], want, C) < 1e-13, "accumulated grad x: %g", verr(t, g[0], want, C));
    EXPECT(verr(t, g[1], &wants, 1) < 1e-13, "accumulated grad s: %g vs %g",
           ad_scalar_value(t, g[1]), wants);
    EXPECT(verr(t, g[2], wantc, R) < 1e-13, "accumulated grad xc: %g", verr(t, g[2], wantc, R));
    ad_tape_free(t);
}

/* ------------------------------------------------------------------ jvp */

static void test_jvp(void)
{
    t_rng rng = {31};
    double A[R * C], x[C], b[R], gA[R * C], gx[C], gb[R], z[R], u[R];
    double vA[R * C], vx[C], vb[R];
    t_fill(&rng, A, R * C, -1, 1);
    t_fill(&rng, x, C, -1, 1);
    t_fill(&rng, b, R, -1, 1);
    t_fill(&rng, vA, R * C, -1, 1);
    t_fill(&rng, vx, C, -1, 1);
    t_fill(&rng, vb, R, -1, 1);
    f1_truth(A, x, b, gA, gx, gb, z, u);
    double dir = 0, zdot[R], udot[R];
    for (int k = 0; k < R * C; k++)
        dir += gA[k] * vA[k];
    for (int k = 0; k < C; k++)
        dir += gx[k] * vx[k];
    for (int k = 0; k < R; k++) {
        dir += gb[k] * vb[k];
        zdot[k] = vb[k];
        for (int j = 0; j < C; j++)
            zdot[k] += vA[k * C + j] * x[j] + A[k * C + j] * vx[j];
        udot[k] = (1 - u[k] * u[k]) * zdot[k];
    }
    ad_tape *t = ad_tape_new(NULL);
    ad_var Av = ad_leaf(t, R, C, A), xv = ad_leaf(t, C, 1, x), bv = ad_leaf(t, R, 1, b);
    ad_var zv = ad_add(t, ad_matvec(t, Av, xv, 0), bv);
    ad_var uv = ad_tanh(t, zv);
    ad_var f = ad_sum(t, ad_square(t, uv));
    ad_var in[3] = {bv, Av, xv}, out[3] = {f, uv, zv};
    const double *tin[3] = {vb, vA, vx};
    double jf, ju[R], jz[R];
    double *tout[3] = {&jf, ju, jz};
    size_t nodes = ad_tape_stats(t).nodes;
    EXPECT(ad_jvp(t, 3, in, tin, 3, out, tout) == AD_OK, "jvp: %s", ad_tape_message(t));
    EXPECT(ad_tape_stats(t).nodes == nodes, "jvp recorded nodes");
    EXPECT(fabs(jf - dir) < 1e-13 * fmax(1, fabs(dir)), "jvp %.17g vs <grad, v> %.17g", jf, dir);
    EXPECT(t_relerr(jz, zdot, R, 1e-300) < 1e-13, "jvp z");
    EXPECT(t_relerr(ju, udot, R, 1e-300) < 1e-13, "jvp tanh(z)");
    /* Only x moves: the others have zero tangent. Output before the input:
     * zero tangent. NULL output slot: skipped. */
    double jx = 0, dirx = 0, jA[R * C];
    for (int k = 0; k < C; k++)
        dirx += gx[k] * vx[k];
    ad_var out2[2] = {f, Av};
    double *tout2[2] = {&jx, jA};
    EXPECT(ad_jvp(t, 1, &xv, &tin[2], 2, out2, tout2) == AD_OK, "jvp x only");
    EXPECT(fabs(jx - dirx) < 1e-13 * fmax(1, fabs(dirx)), "jvp x only: %g vs %g", jx, dirx);
    int zero = 1;
    for (int k = 0; k < R * C; k++)
        zero &= jA[k] == 0.0;
    EXPECT(zero, "tangent of an output recorded before the input is not zero");
    double *tout3[3] = {&jx, NULL, NULL};
    EXPECT(ad_jvp(t, 3, in, tin, 3, out, tout3) == AD_OK && fabs(jx - dir) < 1e-13 * fmax(1, fabs(dir)),
           "jvp with NULL output slots");
    ad_tape_free(t);
}

/* ---------------------------------------------------- any-order derivatives */

/* d^k f / dx^k for k = 1..4 by repeated ad_grad with AD_CREATE_GRAPH, for a
 * scalar (or separable vector) function: the next order differentiates the
 * sum of the previous derivative. */
typedef ad_var (*unary_fn)(ad_tape *t, ad_var x);

static void derivs(unary_fn fn, const double *x0, int n, double out[4][8])
{
    ad_tape *t = ad_tape_new(NULL);
    ad_var x = ad_leaf(t, n, 1, x0);
    ad_var y = ad_sum(t, fn(t, x));
    for (int k = 0; k < 4; k++) {
        ad_var g;
        if (ad_grad(t, y, 1, &x, &g, AD_CREATE_GRAPH) != AD_OK) {
            EXPECT(0, "order %d: %s", k + 1, ad_tape_message(t));
            break;
        }
        memcpy(out[k], ad_value(t, g), (size_t)n * sizeof(double));
        y = ad_sum(t, g);
    }
    ad_tape_free(t);
}

static ad_var f_pow5(ad_tape *t, ad_var x) { return ad_pow(t, x, 5.0); }
static ad_var f_mul5(ad_tape *t, ad_var x)
{
    ad_var x2 = ad_mul(t, x, x);
    return ad_mul(t, ad_mul(t, x2, x2), x);
}
static ad_var f_tanh(ad_tape *t, ad_var x) { return ad_tanh(t, x); }
static ad_var f_softplus(ad_tape *t, ad_var x) { return ad_softplus(t, x); }
static ad_var f_log(ad_tape *t, ad_var x) { return ad_log(t, x); }
static ad_var f_sqrt_div(ad_tape *t, ad_var x) /* 1 / √x via div and sqrt */
{
    return ad_div(t, ad_scalar(t, 1.0), ad_sqrt(t, x));
}
static ad_var f_exp_sigmoid(ad_tape *t, ad_var x) /* e^{2x} via exp(affine), then σ via logsigmoid */
{
    return ad_add(t, ad_exp(t, ad_scale(t, x, 2.0)), ad_exp(t, ad_logsigmoid(t, x)));
}

static void test_any_order(void)
{
    double xs[3] = {1.3, -0.4, 0.8};
    double d[4][8];
    enum { NF = 7 };
    unary_fn fns[NF] = {f_pow5, f_mul5, f_tanh, f_softplus, f_log, f_sqrt_div, f_exp_sigmoid};
    const char *names[NF] = {"x^5 (pow)", "x^5 (mul)", "tanh", "softplus", "log", "x^-1/2",
                             "e^2x + sigmoid"};
    for (int f = 0; f < NF; f++) {
        double x0[3];
        for (int i = 0; i < 3; i++) /* log and x^-1/2 need x > 0 */
            x0[i] = (f == 4 || f == 5) ? fabs(xs[i]) + 0.2 : xs[i];
        derivs(fns[f], x0, 3, d);
        for (int i = 0; i < 3; i++) {
            double x = x0[i], w[4];
            if (f <= 1) {
                w[0] = 5 * pow(x, 4);
                w[1] = 20 * pow(x, 3);
                w[2] = 60 * x * x;
                w[3] = 120 * x;
            } else if (f == 2) { /* tanh: s = 1 − t² */
                double th = tanh(x), s = 1 - th * th;
                w[0] = s;
                w[1] = -2 * th * s;
                w[2] = -2 * s * (1 - 3 * th * th);
                w[3] = 8 * th * s * (2 - 3 * th * th);
            } else if (f == 3) { /* softplus' = σ */
                double p = sigm(x);
                w[0] = p;
                w[1] = p * (1 - p);
                w[2] = p * (1 - p) * (1 - 2 * p);
                w[3] = p * (1 - p) * (1 - 6 * p + 6 * p * p);
            } else if (f == 4) {
                w[0] = 1 / x;
                w[1] = -1 / (x * x);
                w[2] = 2 / (x * x * x);
                w[3] = -6 / (x * x * x * x);
            } else if (f == 5) { /* x^-1/2 */
                w[0] = -0.5 * pow(x, -1.5);
                w[1] = 0.75 * pow(x, -2.5);
                w[2] = -1.875 * pow(x, -3.5);
                w[3] = 6.5625 * pow(x, -4.5);
            } else { /* e^{2x} + σ(x) */
                double p = sigm(x), e = exp(2 * x);
                w[0] = 2 * e + p * (1 - p);
                w[1] = 4 * e + p * (1 - p) * (1 - 2 * p);
                w[2] = 8 * e + p * (1 - p) * (1 - 6 * p + 6 * p * p);
                /* σ'''' = σ(1−σ)(1 − 14σ + 36σ² − 24σ³) */
                w[3] = 16 * e + p * (1 - p) * (1 - 14 * p + 36 * p * p - 24 * p * p * p);
            }
            for (int k = 0; k < 4; k++)
                EXPECT(fabs(d[k][i] - w[k]) <= 1e-11 * fmax(1, fabs(w[k])),
                       "%s: order %d at x = %g: %.17g, want %.17g", names[f], k + 1, x, d[k][i],
                       w[k]);
        }
    }

    /* Mixed partials of f(x, y) = x³y²: ∂³f/∂x²∂y = 12xy, ∂⁴f/∂x²∂y² = 12x. */
    ad_tape *t = ad_tape_new(NULL);
    double x0 = 1.2, y0 = -0.7;
    ad_var x = ad_leaf(t, 1, 1, &x0), y = ad_leaf(t, 1, 1, &y0);
    ad_var f = ad_mul(t, ad_pow(t, x, 3.0), ad_square(t, y));
    ad_var fx, fxx, fxxy, fxxyy;
    ad_grad(t, f, 1, &x, &fx, AD_CREATE_GRAPH);
    ad_grad(t, fx, 1, &x, &fxx, AD_CREATE_GRAPH);
    ad_grad(t, fxx, 1, &y, &fxxy, AD_CREATE_GRAPH);
    ad_grad(t, fxxy, 1, &y, &fxxyy, AD_CREATE_GRAPH);
    EXPECT(ad_tape_status(t) == AD_OK, "mixed partials: %s", ad_tape_message(t));
    EXPECT(fabs(ad_scalar_value(t, fxx) - 6 * x0 * y0 * y0) < 1e-13, "f_xx");
    EXPECT(fabs(ad_scalar_value(t, fxxy) - 12 * x0 * y0) < 1e-13, "f_xxy %g vs %g",
           ad_scalar_value(t, fxxy), 12 * x0 * y0);
    EXPECT(fabs(ad_scalar_value(t, fxxyy) - 12 * x0) < 1e-13, "f_xxyy %g vs %g",
           ad_scalar_value(t, fxxyy), 12 * x0);
    /* Without AD_CREATE_GRAPH the result is a constant: its derivative is 0. */
    ad_var gc, gcc;
    ad_grad(t, f, 1, &x, &gc, 0);
    ad_grad(t, ad_sum(t, gc), 1, &x, &gcc, AD_CREATE_GRAPH);
    EXPECT(ad_tape_status(t) == AD_OK && ad_scalar_value(t, gcc) == 0.0,
           "a gradient taken without AD_CREATE_GRAPH still differentiates: %g",
           ad_scalar_value(t, gcc));
    ad_tape_free(t);
}

/* ------------------------------------------------ unrolled optimizer, ∂/∂λ */

enum { NTR = 20, NVA = 15, PP = 3, KSTEPS = 20 };

typedef struct lr_data {
    double X[NTR * PP], y[NTR], Xv[NVA * PP], yv[NVA];
} lr_data;

/* Plain C: K steps of GD from θ = 0 on G(θ, λ) = mean softplus(−y⊙Xθ) +
 * ½ Σ e^{λ_k} θ_k², step α; returns F(θ_K) = mean softplus(−yv⊙Xvθ_K). */
static double unrolled_plain(const lr_data *d, const double *lam, double alpha)
{
    double th[PP] = {0}, g[PP];
    for (int s = 0; s < KSTEPS; s++) {
        for (int k = 0; k < PP; k++)
            g[k] = exp(lam[k]) * th[k];
        for (int i = 0; i < NTR; i++) {
            double m = 0;
            for (int k = 0; k < PP; k++)
                m += d->X[i * PP + k] * th[k];
            double w = -d->y[i] * sigm(-d->y[i] * m) / NTR;
            for (int k = 0; k < PP; k++)
                g[k] += w * d->X[i * PP + k];
        }
        for (int k = 0; k < PP; k++)
            th[k] -= alpha * g[k];
    }
    double F = 0;
    for (int i = 0; i < NVA; i++) {
        double m = 0;
        for (int k = 0; k < PP; k++)
            m += d->Xv[i * PP + k] * th[k];
        F += softplus(-d->yv[i] * m) / NVA;
    }
    return F;
}

/* The same procedure with ad ops: each step's ∇_θG is an ad_grad with
 * AD_CREATE_GRAPH, so F(θ_K) is differentiable in λ and α. */
static ad_var unrolled_ad(ad_tape *t, const lr_data *d, ad_var lam, ad_var alpha)
{
    ad_var X = ad_const_ref(t, NTR, PP, d->X), ny = ad_neg(t, ad_const_ref(t, NTR, 1, d->y));
    ad_var Xv = ad_const_ref(t, NVA, PP, d->Xv), nyv = ad_neg(t, ad_const_ref(t, NVA, 1, d->yv));
    ad_var theta = ad_leaf(t, PP, 1, NULL), el = ad_exp(t, lam);
    for (int s = 0; s < KSTEPS; s++) {
        ad_var G = ad_add(t, ad_mean(t, ad_softplus(t, ad_mul(t, ny, ad_matvec(t, X, theta, 0)))),
                          ad_scale(t, ad_sum(t, ad_mul(t, el, ad_square(t, theta))), 0.5));
        ad_var g;
        if (ad_grad(t, G, 1, &theta, &g, AD_CREATE_GRAPH) != AD_OK)
            return AD_NONE;
        theta = ad_sub(t, theta, ad_mul(t, alpha, g));
    }
    return ad_mean(t, ad_softplus(t, ad_mul(t, nyv, ad_matvec(t, Xv, theta, 0))));
}

static void test_unrolled(void)
{
    lr_data d;
    t_rng rng = {5150};
    double truth[PP] = {1.5, -2.0, 0.5};
    for (int i = 0; i < NTR + NVA; i++) {
        double *row = i < NTR ? &d.X[i * PP] : &d.Xv[(i - NTR) * PP];
        double m = 0;
        for (int k = 0; k < PP; k++) {
            row[k] = t_normal(&rng);
            m += row[k] * truth[k];
        }
        double lab = t_uniform(&rng, 0, 1) < sigm(m) ? 1.0 : -1.0;
        if (i < NTR)
            d.y[i] = lab;
        else
            d.yv[i - NTR] = lab;
    }
    double lam0[PP] = {-1.0, 0.3, -0.2}, alpha0 = 0.8;
    ad_tape *t = ad_tape_new(NULL);
    ad_var lam = ad_leaf(t, PP, 1, lam0), alpha = ad_leaf(t, 1, 1, &alpha0);
    ad_var F = unrolled_ad(t, &d, lam, alpha);
    EXPECT(ad_ok(F), "unrolled recording: %s", ad_tape_message(t));
    double Fplain = unrolled_plain(&d, lam0, alpha0);
    EXPECT(fabs(ad_scalar_value(t, F) - Fplain) < 1e-13, "unrolled F %.17g vs plain %.17g",
           ad_scalar_value(t, F), Fplain);
    ad_var wrt[2] = {lam, alpha}, g[2];
    EXPECT(ad_grad(t, F, 2, wrt, g, 0) == AD_OK, "hypergradient: %s", ad_tape_message(t));
    /* Central differences of the whole plain-C procedure. */
    double fd[PP + 1], h = 1e-5;
    for (int k = 0; k <= PP; k++) {
        double lp[PP], lm[PP], ap = alpha0, am = alpha0;
        memcpy(lp, lam0, sizeof lp);
        memcpy(lm, lam0, sizeof lm);
        if (k < PP) {
            lp[k] += h;
            lm[k] -= h;
        } else {
            ap += h;
            am -= h;
        }
        fd[k] = (unrolled_plain(&d, lp, ap) - unrolled_plain(&d, lm, am)) / (2 * h);
    }
    double ad[PP + 1];
    if (ad_tape_status(t) == AD_OK) {
        memcpy(ad, ad_value(t, g[0]), PP * sizeof(double));
        ad[PP] = ad_scalar_value(t, g[1]);
    } else {
        memset(ad, 0, sizeof ad);
    }
    double e = t_relerr(ad, fd, PP + 1, 1e-12);
    EXPECT(e < 1e-7, "unrolled hypergradient vs central differences: rel err %g", e);
    for (int k = 0; k <= PP; k++)
        EXPECT(fabs(ad[k] - fd[k]) < 1e-8, "component %d: AD %.12g, FD %.12g", k, ad[k], fd[k]);
    /* Forward mode through the same recording (tangent over the recorded
     * backward passes) gives each component again. */
    for (int k = 0; k <= PP; k++) {
        double el[PP] = {0}, ea = 0, jf = NAN;
        if (k < PP)
            el[k] = 1;
        else
            ea = 1;
        ad_var in[2] = {lam, alpha};
        const double *tin[2] = {el, &ea};
        double *tout[1] = {&jf};
        EXPECT(ad_jvp(t, 2, in, tin, 1, &F, tout) == AD_OK, "jvp through unrolled: %s",
               ad_tape_message(t));
        EXPECT(fabs(jf - fd[k]) < 1e-8, "jvp component %d: %.12g vs FD %.12g", k, jf, fd[k]);
    }
    ad_tape_free(t);
}

/* ------------------------------------------------------- Hvp and cross */

enum { PH = 5 };

/* G(θ, λ) = ½ Σ e^{λ_k} θ_k² + ⟨a, θ⟩ + λ_0 ⟨b, θ⟩², θ, λ PH×1. */
static ad_var G_quad(ad_tape *t, ad_var th, ad_var la, const double *a, const double *b)
{
    ad_var av = ad_const(t, PH, 1, a), bv = ad_const(t, PH, 1, b);
    ad_var l0 = ad_slice(t, la, 0, 1, 0, 1);
    ad_var q = ad_scale(t, ad_sum(t, ad_mul(t, ad_exp(t, la), ad_square(t, th))), 0.5);
    return ad_add(t, ad_add(t, q, ad_dot(t, av, th)), ad_mul(t, l0, ad_square(t, ad_dot(t, bv, th))));
}

static void G_quad_truth(const double *th, const double *la, const double *b, const double *v,
                         double *hv, double *cross)
{
    double bt = 0, bv = 0;
    for (int k = 0; k < PH; k++) {
        bt += b[k] * th[k];
        bv += b[k] * v[k];
    }
    for (int k = 0; k < PH; k++) {
        hv[k] = exp(la[k]) * v[k] + 2 * la[0] * bv * b[k];
        cross[k] = exp(la[k]) * th[k] * v[k] + (k == 0 ? 2 * bt * bv : 0.0);
    }
}

static void test_hvp_closed_form(void)
{
    t_rng rng = {8};
    double th[PH], la[PH], a[PH], b[PH], v[3][PH];
    t_fill(&rng, th, PH, -1, 1);
    t_fill(&rng, la, PH, -1, 1);
    t_fill(&rng, a, PH, -1, 1);
    t_fill(&rng, b, PH, -1, 1);
    for (int j = 0; j < 3; j++)
        t_fill(&rng, v[j], PH, -1, 1);
    double hv_one[2][3][PH]; /* mode, v: one-shot results */
    for (int mode = AD_HVP_FOR; mode <= AD_HVP_ROR; mode++) {
        const char *mn = mode == AD_HVP_FOR ? "FOR" : "ROR";
        ad_tape *t = ad_tape_new(NULL);
        ad_var thv = ad_leaf(t, PH, 1, th), lav = ad_leaf(t, PH, 1, la);
        ad_var G = G_quad(t, thv, lav, a, b);
        size_t nodes = ad_tape_stats(t).nodes;
        for (int j = 0; j < 3; j++) {
            double hv[PH], cr[PH], whv[PH], wcr[PH];
            G_quad_truth(th, la, b, v[j], whv, wcr);
            EXPECT(ad_hvp_cross(t, G, thv, lav, v[j], hv, cr, (ad_hvp_mode)mode) == AD_OK,
                   "%s hvp_cross: %s", mn, ad_tape_message(t));
            EXPECT(t_relerr(hv, whv, PH, 1e-300) < 1e-13, "%s Hv vs closed form: %g", mn,
                   t_relerr(hv, whv, PH, 1e-300));
            EXPECT(t_relerr(cr, wcr, PH, 1e-300) < 1e-13, "%s cross vs closed form: %g", mn,
                   t_relerr(cr, wcr, PH, 1e-300));
            EXPECT(ad_tape_stats(t).nodes == nodes, "%s hvp_cross left nodes", mn);
            memcpy(hv_one[mode][j], hv, sizeof hv);
        }
        /* Prepared once, applied three times (and again in another order). */
        ad_hvp_plan plan;
        EXPECT(ad_hvp_prepare(t, G, thv, lav, (ad_hvp_mode)mode, &plan) == AD_OK,
               "%s prepare: %s", mn, ad_tape_message(t));
        size_t prepared = ad_tape_stats(t).nodes;
        for (int rep = 0; rep < 2; rep++) {
            for (int jj = 0; jj < 3; jj++) {
                int j = rep ? 2 - jj : jj;
                double hv[PH], cr[PH], one_hv[PH], one_cr[PH];
                ad_hvp_cross(t, G, thv, lav, v[j], one_hv, one_cr, (ad_hvp_mode)mode);
                EXPECT(ad_hvp_apply(t, &plan, v[j], hv, cr) == AD_OK, "%s apply: %s", mn,
                       ad_tape_message(t));
                EXPECT(t_relerr(hv, one_hv, PH, 1e-300) < 1e-15 &&
                           t_relerr(cr, one_cr, PH, 1e-300) < 1e-15,
                       "%s prepare+apply differs from one-shot (v %d)", mn, j);
                EXPECT(ad_tape_stats(t).nodes == prepared, "%s apply left nodes", mn);
            }
        }
        /* Either output may be NULL. */
        double hv[PH], cr[PH], whv[PH], wcr[PH];
        G_quad_truth(th, la, b, v[0], whv, wcr);
        EXPECT(ad_hvp_apply(t, &plan, v[0], NULL, cr) == AD_OK &&
                   t_relerr(cr, wcr, PH, 1e-300) < 1e-13,
               "%s cross only", mn);
        EXPECT(ad_hvp_apply(t, &plan, v[0], hv, NULL) == AD_OK &&
                   t_relerr(hv, whv, PH, 1e-300) < 1e-13,
               "%s hv only", mn);
        /* Without λ: Hv alone, cross untouched. */
        cr[0] = 42.0;
        EXPECT(ad_hvp_cross(t, G, thv, AD_NONE, v[1], hv, cr, (ad_hvp_mode)mode) == AD_OK,
               "%s hvp without lambda: %s", mn, ad_tape_message(t));
        G_quad_truth(th, la, b, v[1], whv, wcr);
        EXPECT(t_relerr(hv, whv, PH, 1e-300) < 1e-13 && cr[0] == 42.0, "%s hvp without lambda", mn);
        /* An unprepared plan is refused. */
        ad_hvp_plan bad = {G, thv, lav, AD_NONE, AD_NONE, (ad_hvp_mode)mode};
        EXPECT(ad_hvp_apply(t, &bad, v[0], hv, cr) == AD_EINVAL, "%s unprepared plan accepted", mn);
        ad_tape_free(t);
    }
    for (int j = 0; j < 3; j++)
        EXPECT(t_relerr(hv_one[0][j], hv_one[1][j], PH, 1e-300) < 1e-13, "FOR and ROR differ");
}

/* Scalar λ broadcast over θ, a matrix θ, logistic and logsumexp terms:
 * G = mean softplus(−y⊙(Xθ)) + ½ e^λ ‖θ‖² + Σ_rows logsumexp(reshape(θ, 2, PP/2)),
 * hand Hessian: Xᵀ diag(σ(1−σ)/n) X + e^λ I + blockdiag(diag(p) − p pᵀ);
 * cross = e^λ ⟨θ, v⟩. */
static void test_hvp_logistic(void)
{
    enum { NN = 12, PT = 6 };
    t_rng rng = {91};
    double X[NN * PT], y[NN], th[PT], la = -0.3, v[PT];
    t_fill(&rng, X, NN * PT, -1, 1);
    for (int i = 0; i < NN; i++)
        y[i] = i % 3 ? 1.0 : -1.0;
    t_fill(&rng, th, PT, -1, 1);
    t_fill(&rng, v, PT, -1, 1);
    double whv[PT], wcr = 0;
    for (int k = 0; k < PT; k++) {
        whv[k] = exp(la) * v[k];
        wcr += exp(la) * th[k] * v[k];
    }
    for (int i = 0; i < NN; i++) {
        double m = 0, xv = 0;
        for (int k = 0; k < PT; k++) {
            m += X[i * PT + k] * th[k];
            xv += X[i * PT + k] * v[k];
        }
        double p = sigm(-y[i] * m), w = p * (1 - p) / NN;
        for (int k = 0; k < PT; k++)
            whv[k] += w * xv * X[i * PT + k];
    }
    for (int r = 0; r < 2; r++) { /* logsumexp of each row of θ seen as 2×3 */
        const double *tr = th + 3 * r, *vr = v + 3 * r;
        double mx = fmax(fmax(tr[0], tr[1]), tr[2]), s = 0, p[3], pv = 0;
        for (int j = 0; j < 3; j++)
            s += exp(tr[j] - mx);
        for (int j = 0; j < 3; j++) {
            p[j] = exp(tr[j] - mx) / s;
            pv += p[j] * vr[j];
        }
        for (int j = 0; j < 3; j++)
            whv[3 * r + j] += p[j] * vr[j] - p[j] * pv;
    }
    for (int mode = AD_HVP_FOR; mode <= AD_HVP_ROR; mode++) {
        ad_tape *t = ad_tape_new(NULL);
        ad_var thv = ad_leaf(t, PT, 1, th), lav = ad_leaf(t, 1, 1, &la);
        ad_var z = ad_mul(t, ad_neg(t, ad_const(t, NN, 1, y)),
                          ad_matvec(t, ad_const(t, NN, PT, X), thv, 0));
        ad_var G = ad_add(t, ad_mean(t, ad_softplus(t, z)),
                          ad_scale(t, ad_mul(t, ad_exp(t, lav), ad_dot(t, thv, thv)), 0.5));
        G = ad_add(t, G, ad_sum(t, ad_logsumexp_rows(t, ad_reshape(t, thv, 2, PT / 2))));
        double hv[PT], cr = NAN;
        EXPECT(ad_hvp_cross(t, G, thv, lav, v, hv, &cr, (ad_hvp_mode)mode) == AD_OK,
               "logistic hvp mode %d: %s", mode, ad_tape_message(t));
        EXPECT(t_relerr(hv, whv, PT, 1e-300) < 1e-13, "logistic Hv mode %d: %g", mode,
               t_relerr(hv, whv, PT, 1e-300));
        EXPECT(fabs(cr - wcr) < 1e-13 * fmax(1, fabs(wcr)), "logistic cross mode %d: %g vs %g",
               mode, cr, wcr);
        ad_tape_free(t);
    }
}

int main(void)
{
    test_several_leaves();
    test_many_inputs();
    test_accumulation();
    test_jvp();
    test_any_order();
    test_unrolled();
    test_hvp_closed_form();
    test_hvp_logistic();
    return t_done();
}
