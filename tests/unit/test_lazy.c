/*
 * tests/unit/test_lazy.c — lazy values (ad/internal.h): ad_hvp_prepare in
 * forward-over-reverse mode records the gradient without computing the
 * values that no tangent reads.
 *
 * Truth: closed forms of L2-regularised logistic regression computed by
 * hand in plain C (no ad),
 *   G = (1/n) Σ softplus(m_i) + ½ λ θᵀθ,  m = −y ⊙ Xθ,
 *   ∇G = Xᵀ(−y ⊙ σ(m))/n + λθ,  H v = Xᵀ(σ(m)(1 − σ(m)) ⊙ Xv)/n + λv,
 * and a chain of additions with a known sum. Checked: H·v against the closed
 * form with the gradient's final product Xᵀs still deferred after the apply
 * (the saving itself), the gradient's value once read, a gradient recorded
 * with ad_tape_set_lazy that never computes softplus's value, one-sided
 * reads of mul and matmul in both sweeps, that ROR and anomaly mode defer
 * nothing, and that forcing a 200,000-node deferred chain needs no
 * recursion.
 */
#include <hypertape/ad.h>
#include "ad/internal.h" /* t->lazy, deferred/forced counters, AD_NF_LAZY */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { N = 300, P = 7 };

typedef struct prob {
    double X[N * P], ny[N], theta[P], v[P], lam;
    double grad[P], hv[P]; /* closed forms */
} prob;

static double sig(double x) { return 1.0 / (1.0 + exp(-x)); }

static void make(prob *q)
{
    t_rng r = {12345};
    for (int k = 0; k < N * P; k++)
        q->X[k] = t_normal(&r);
    for (int i = 0; i < N; i++)
        q->ny[i] = (t_next(&r) & 1) ? 1.0 : -1.0;
    for (int j = 0; j < P; j++) {
        q->theta[j] = t_uniform(&r, -0.5, 0.5);
        q->v[j] = t_uniform(&r, -1.0, 1.0);
    }
    q->lam = 0.3;
    double s[N], d[N];
    for (int i = 0; i < N; i++) {
        double z = 0, w = 0;
        for (int j = 0; j < P; j++) {
            z += q->X[i * P + j] * q->theta[j];
            w += q->X[i * P + j] * q->v[j];
        }
        double m = q->ny[i] * z, sg = sig(m);
        s[i] = q->ny[i] * sg / N;
        d[i] = sg * (1.0 - sg) * w / N;
    }
    for (int j = 0; j < P; j++) {
        q->grad[j] = q->lam * q->theta[j];
        q->hv[j] = q->lam * q->v[j];
        for (int i = 0; i < N; i++) {
            q->grad[j] += q->X[i * P + j] * s[i];
            q->hv[j] += q->X[i * P + j] * d[i];
        }
    }
}

static double relerr(const double *a, const double *b, int n)
{
    double d = 0, s = 0;
    for (int k = 0; k < n; k++) {
        d = fmax(d, fabs(a[k] - b[k]));
        s = fmax(s, fabs(b[k]));
    }
    return d / s;
}

/* G recorded on t; θ's handle in *th. */
static ad_var record(ad_tape *t, const prob *q, ad_var *th)
{
    *th = ad_leaf(t, P, 1, q->theta);
    ad_var X = ad_const_ref(t, N, P, q->X), ny = ad_const_ref(t, N, 1, q->ny);
    ad_var m = ad_mul(t, ny, ad_matmul(t, X, *th, 0, 0));
    ad_var data = ad_scale(t, ad_sum(t, ad_softplus(t, m)), 1.0 / N);
    return ad_add(t, data, ad_scale(t, ad_dot(t, *th, *th), 0.5 * q->lam));
}

/* The last node the gradient recorded with an op of code `op`, or -1. */
static int32_t last_op(const ad_tape *t, int32_t from, int op)
{
    int32_t found = -1;
    for (int32_t i = from; i < t->n; i++)
        if (t->nodes[i].op == op)
            found = i;
    return found;
}

static void test_for_skips_product(const prob *q)
{
    ad_tape *t = ad_tape_new(NULL);
    ad_var th;
    ad_var G = record(t, q, &th);
    int32_t before = t->n;
    ad_hvp_plan plan;
    double hv[P], cr[1];
    ad_status s = ad_hvp_prepare(t, G, th, AD_NONE, AD_HVP_FOR, &plan);
    EXPECT(s == AD_OK, "prepare: %s", ad_tape_message(t));
    EXPECT(t->deferred > 0, "FOR prepare deferred no value");
    int32_t xt = last_op(t, before, AD_OP_MATMUL); /* Xᵀs, the gradient's product */
    EXPECT(xt >= 0 && (t->nodes[xt].flags & AD_NF_LAZY), "Xᵀs is not deferred after prepare");
    s = ad_hvp_apply(t, &plan, q->v, hv, cr);
    EXPECT(s == AD_OK, "apply: %s", ad_tape_message(t));
    double e = relerr(hv, q->hv, P);
    EXPECT(e < 1e-13, "lazy H.v vs closed form: relerr %.3g", e);
    EXPECT(xt >= 0 && (t->nodes[xt].flags & AD_NF_LAZY),
           "the tangent sweep computed Xᵀs, which no tangent reads");
    EXPECT((t->nodes[plan.g_theta.id].flags & AD_NF_LAZY), "∇G itself was computed by H.v");
    s = ad_hvp_apply(t, &plan, q->v, hv, NULL); /* a second apply: the same */
    EXPECT(s == AD_OK && relerr(hv, q->hv, P) == e, "second apply differs");
    const double *g = ad_value(t, plan.g_theta);
    e = relerr(g, q->grad, P);
    EXPECT(e < 1e-13, "deferred gradient, once read, vs closed form: relerr %.3g", e);
    EXPECT(!(t->nodes[plan.g_theta.id].flags & AD_NF_LAZY) && !(t->nodes[xt].flags & AD_NF_LAZY),
           "ad_value left ∇G or Xᵀs deferred");
    for (int32_t i = 0; i < t->n; i++)
        EXPECT(!(t->nodes[i].flags & AD_NF_MARK), "node %d kept the forcing mark", (int)i);
    ad_tape_free(t);
}

/* G recorded with ad_tape_set_lazy, then its gradient (the numeric sweep):
 * the gradient matches the closed form while softplus's value (its log1p)
 * and G's value stay uncomputed; G's value, once read, matches the eager
 * recording's bit for bit. */
static void test_lazy_gradient(const prob *q)
{
    ad_tape *t = ad_tape_new(NULL);
    ad_var th;
    ad_var G0 = record(t, q, &th);
    double v0 = ad_scalar_value(t, G0);
    ad_mark m = ad_tape_mark(t);
    ad_tape_set_lazy(t, 1);
    ad_var G = record(t, q, &th);
    ad_tape_set_lazy(t, 0);
    double g[P];
    double *out[1] = {g};
    ad_status s = ad_grad_values(t, G, 1, &th, out);
    EXPECT(s == AD_OK && relerr(g, q->grad, P) < 1e-13, "lazy gradient vs closed form: %.3g (%s)",
           relerr(g, q->grad, P), ad_tape_message(t));
    int32_t sp = last_op(t, m.nodes, AD_OP_SOFTPLUS);
    EXPECT(sp >= 0 && (t->nodes[sp].flags & AD_NF_LAZY), "the gradient computed softplus's value");
    EXPECT(t->nodes[G.id].flags & AD_NF_LAZY, "the gradient computed G's value");
    EXPECT(ad_scalar_value(t, G) == v0, "deferred G %.17g vs eager %.17g", ad_scalar_value(t, G), v0);
    ad_tape_free(t);
}

/* One-sided reads: y = Σ exp(C)·x (matmul) and z = Σ exp(x) ⊙ exp(c), all
 * deferred. The derivative wrt x reads exp(C) and exp(c) only, so they must
 * be computed and the outputs' values must not; both sweeps against the
 * closed forms ∂y/∂x = 1ᵀexp(C), ∂z/∂x = exp(x) ⊙ exp(c). */
static void test_one_sided(void)
{
    enum { R = 4, C = 3 };
    double Cv[R * C], cv[C], xv[C], u[C] = {0.3, -0.7, 1.1};
    for (int k = 0; k < R * C; k++)
        Cv[k] = 0.1 * k - 0.5;
    for (int j = 0; j < C; j++) {
        cv[j] = 0.2 * j - 0.1;
        xv[j] = 0.4 - 0.3 * j;
    }
    ad_tape *t = ad_tape_new(NULL);
    ad_var x = ad_leaf(t, C, 1, xv);
    ad_var Cc = ad_const(t, R, C, Cv), cc = ad_const(t, C, 1, cv);
    ad_tape_set_lazy(t, 1);
    ad_var eC = ad_exp(t, Cc), ec = ad_exp(t, cc);
    ad_var y = ad_sum(t, ad_matmul(t, eC, x, 0, 0));
    ad_var z = ad_sum(t, ad_mul(t, ad_exp(t, x), ec));
    ad_tape_set_lazy(t, 0);
    double gy[C], gz[C], dy = 0, dz = 0, ty, tz;
    double *oy[1] = {gy}, *oz[1] = {gz};
    EXPECT(ad_grad_values(t, y, 1, &x, oy) == AD_OK && ad_grad_values(t, z, 1, &x, oz) == AD_OK,
           "one-sided gradients: %s", ad_tape_message(t));
    const double *uu[1] = {u};
    double *to[2] = {&ty, &tz};
    ad_var outs[2] = {y, z};
    EXPECT(ad_jvp(t, 1, &x, uu, 2, outs, to) == AD_OK, "one-sided jvp: %s", ad_tape_message(t));
    EXPECT((t->nodes[y.id].flags & AD_NF_LAZY) && (t->nodes[z.id].flags & AD_NF_LAZY),
           "a sweep computed an output value it does not read");
    double ey = 0, ez = 0;
    for (int j = 0; j < C; j++) {
        double cs = 0;
        for (int i = 0; i < R; i++)
            cs += exp(Cv[i * C + j]);
        double zj = exp(xv[j]) * exp(cv[j]);
        ey = fmax(ey, fabs(gy[j] - cs) / cs);
        ez = fmax(ez, fabs(gz[j] - zj) / zj);
        dy += cs * u[j];
        dz += zj * u[j];
    }
    EXPECT(ey < 1e-14 && ez < 1e-14, "one-sided gradients vs closed form: %.3g, %.3g", ey, ez);
    EXPECT(fabs(ty - dy) <= 1e-14 * fabs(dy) && fabs(tz - dz) <= 1e-14 * fabs(dz),
           "one-sided jvp vs closed form: %.17g vs %.17g, %.17g vs %.17g", ty, dy, tz, dz);
    ad_tape_free(t);
}

/* ROR's reverse sweep reads every value; anomaly mode checks each one. */
static void test_nothing_deferred(const prob *q)
{
    for (int c = 0; c < 2; c++) {
        ad_tape_opts o = {0};
        o.anomaly = c == 1;
        ad_tape *t = ad_tape_new(&o);
        ad_var th;
        ad_var G = record(t, q, &th);
        double hv[P];
        ad_status s = ad_hvp_cross(t, G, th, AD_NONE, q->v, hv, NULL,
                                   c == 0 ? AD_HVP_ROR : AD_HVP_FOR);
        EXPECT(s == AD_OK && relerr(hv, q->hv, P) < 1e-13, "%s: H.v wrong (%s)",
               c ? "anomaly FOR" : "ROR", ad_tape_message(t));
        EXPECT(t->deferred == 0, "%s deferred %llu values", c ? "anomaly mode" : "ROR",
               (unsigned long long)t->deferred);
        EXPECT(t->lazy == 0, "the deferring depth did not return to 0");
        ad_tape_free(t);
    }
}

/* A deferred chain x_{k+1} = x_k + c of 200,000 nodes, forced at its end
 * (forcing scans instead of recursing), then an op on a deferred value
 * outside the deferring window computes it first. */
static void test_long_chain(void)
{
    ad_tape *t = ad_tape_new(NULL);
    enum { LEN = 200000 };
    ad_var x = ad_leaf(t, 1, 3, (const double[]){1.0, 2.0, 3.0});
    ad_var c = ad_const(t, 1, 3, (const double[]){0.5, 0.25, 1.0});
    t->lazy++;
    for (int k = 0; k < LEN; k++)
        x = ad_add(t, x, c);
    ad_var y = ad_mul(t, x, x);
    t->lazy--;
    EXPECT(ad_tape_status(t) == AD_OK && t->deferred == LEN + 1, "deferred %llu of %d (%s)",
           (unsigned long long)t->deferred, LEN + 1, ad_tape_message(t));
    ad_var z = ad_sum(t, y); /* not deferring: computes y's chain first */
    double want = 0;
    for (int j = 0; j < 3; j++) {
        double xj = (double[]){1.0, 2.0, 3.0}[j], cj = (double[]){0.5, 0.25, 1.0}[j];
        for (int k = 0; k < LEN; k++)
            xj += cj;
        want += xj * xj;
    }
    EXPECT(ad_scalar_value(t, z) == want, "forced chain sum %.17g, want %.17g",
           ad_scalar_value(t, z), want);
    EXPECT(t->forced == LEN + 1, "forced %llu values, want %d", (unsigned long long)t->forced,
           LEN + 1);
    ad_tape_free(t);
}

int main(void)
{
    prob *q = malloc(sizeof *q);
    make(q);
    test_for_skips_product(q);
    test_nothing_deferred(q);
    test_lazy_gradient(q);
    test_one_sided();
    test_long_chain();
    free(q);
    return t_done();
}
