/*
 * ad/ops_unary.c — elementwise unary ops. Every op here is r×c → r×c.
 *
 * Each op is one row of UNARY_OPS (unary_ops.h): its value, its derivative f'(x)
 * (given x and the value y) used by the tangent sweep, and its adjoint
 * x̄ = ḡ·f'(x) written with ad ops so that it can be differentiated again.
 * The row generates the op's forward loop, tangent loop and backward rule.
 */
#include "internal.h"
#include "unary_ops.h"

#include <math.h>

/* The aux of softplus alone (σ(x), the same bits as softplus_keep's), for a
 * node whose value is deferred: the derivatives need σ, and only a read of
 * the value itself needs the log1p. */
static void softplus_aux(const double *xs, double *a, size_t n)
{
    for (size_t k = 0; k < n; k++)
        a[k] = softplus_sigma1(xs[k], exp(-fabs(xs[k])));
}

/* σ(x) for softplus's adjoint: the σ kept with the value (aux) as an aliased
 * SIGMOID node, differentiable as its rules use only y and x. */
static ad_var softplus_sigma(ad_tape *t, const ad_node *nd, ad_var x)
{
    if (nd->aux) {
        int32_t s = ad__push_alias(t, AD_OP_SIGMOID, nd->rows, nd->cols, 1, &x.id, nd->aux);
        return ad__done(t, s);
    }
    return ad_sigmoid(t, x);
}

/* Shorthands of the adjoint column: LIVE(p) guards a product p = ḡ ⊙ f where
 * ḡ is zero (see ad__live); GF(f) is the usual ḡ·f; POS(v) is [v > 0];
 * ONE_MINUS(v) is 1 − v; ZEROS is a zero x̄. */
#define LIVE(P) ad__live(t, G, (P))
#define GF(F) LIVE(ad_mul(t, G, (F)))
#define POS(V) ad_greater(t, (V), ad_scalar(t, 0.0))
#define ONE_MINUS(V) ad_affine(t, (V), -1.0, 1.0)
#define ZEROS ad__zeros(t, nd->rows, nd->cols)

typedef struct unary_def {
    void (*fwd)(const double *xs, double *ys, double *a, size_t n, const double *prm);
    void (*tan)(const double *xs, const double *ys, const double *tx, double *tout, size_t n,
                const double *prm);
    ad_var (*adj)(ad_tape *t, const ad_node *nd, ad_var X, ad_var Y, ad_var G);
    void (*num)(const double *xs, const double *ys, const double *a, const double *gs,
                double *acc, size_t n, const double *prm);
    int aux; /* keeps an aux array of r×c doubles */
} unary_def;

#define UNARY_GEN(E, name, VALUE, DERIV, ADJ, AUX, NUM)                                              \
    static void fwd_##name(const double *xs, double *ys, double *a, size_t n, const double *prm) \
    {                                                                                              \
        const double p0 = prm[0], p1 = prm[1];                                                     \
        (void)p0, (void)p1, (void)a;                                                               \
        for (size_t k = 0; k < n; k++) {                                                           \
            double x = xs[k];                                                                      \
            ys[k] = (VALUE);                                                                       \
        }                                                                                          \
    }                                                                                              \
    /* a zero tangent stays zero even where f' is not finite */                                   \
    static void tan_##name(const double *xs, const double *ys, const double *tx, double *tout,    \
                           size_t n, const double *prm)                                            \
    {                                                                                              \
        const double p0 = prm[0], p1 = prm[1];                                                     \
        (void)p0, (void)p1;                                                                        \
        for (size_t k = 0; k < n; k++) {                                                           \
            double x = xs[k], y = ys[k];                                                           \
            (void)x, (void)y;                                                                      \
            tout[k] = tx[k] == 0.0 ? 0.0 : (DERIV) * tx[k];                                        \
        }                                                                                          \
    }                                                                                              \
    static ad_var adj_##name(ad_tape *t, const ad_node *nd, ad_var X, ad_var Y, ad_var G)         \
    {                                                                                              \
        const double p0 = nd->prm[0], p1 = nd->prm[1];                                             \
        (void)p0, (void)p1, (void)X, (void)Y;                                                      \
        return (ADJ);                                                                              \
    }                                                                                              \
    static void num_##name(const double *xs, const double *ys, const double *a, const double *gs, \
                           double *acc, size_t n, const double *prm)                               \
    {                                                                                              \
        const double p0 = prm[0], p1 = prm[1];                                                     \
        (void)p0, (void)p1, (void)a;                                                               \
        for (size_t k = 0; k < n; k++) {                                                           \
            double x = xs[k], y = ys[k], g = gs[k];                                                \
            (void)x, (void)y;                                                                      \
            acc[k] += g == 0.0 ? 0.0 : (NUM);                                                      \
        }                                                                                          \
    }
UNARY_OPS(UNARY_GEN)
#undef UNARY_GEN

#define UNARY_ROW(E, name, VALUE, DERIV, ADJ, AUX, NUM) \
    [AD_OP_##E] = {fwd_##name, tan_##name, adj_##name, num_##name, AUX},
static const unary_def unary_defs[AD_OP_COUNT] = {UNARY_OPS(UNARY_ROW)};
#undef UNARY_ROW
#undef LIVE
#undef GF
#undef POS
#undef ONE_MINUS
#undef ZEROS

/* Value of a unary node (and its aux) from its parent's value: the eval kernel. */
static void eval_unary(const ad_tape *t, ad_node *y)
{
    const ad_node *x = ad__node(t, y->par[0]);
    unary_defs[y->op].fwd(x->val, y->val, y->aux, ad__size(y), y->prm);
}

static ad_var unary(ad_tape *t, int op, ad_var xv, double p0, double p1)
{
    const ad_node *x = ad__arg_lazy(t, ad__opname(op), xv);
    if (!x)
        return AD_NONE;
    int r = x->rows, c = x->cols;
    int32_t i = ad__push(t, op, r, c, 1, &xv.id);
    if (i < 0)
        return AD_NONE;
    const unary_def *u = &unary_defs[op];
    size_t n = (size_t)r * c;
    double *aux = NULL;
    if (u->aux && !(aux = ad__alloc(t, n * sizeof(double))))
        return AD_NONE;
    ad_node *y = ad__node(t, i);
    y->prm[0] = p0;
    y->prm[1] = p1;
    y->aux = aux;
    if (ad__defer(t, i)) {
        if (op == AD_OP_SOFTPLUS) { /* σ now, from x's value (computed first), the value later */
            ad__force(t, xv.id);
            softplus_aux(ad__node(t, xv.id)->val, aux, n);
        }
        return ad__var(i);
    }
    eval_unary(t, y);
    return ad__done(t, i);
}

ad_var ad_affine(ad_tape *t, ad_var x, double a, double b)
{
    if (t && t->status == AD_OK && (!isfinite(a) || !isfinite(b)))
        return ad__fail(t, AD_EINVAL, "affine: coefficients %g, %g are not finite", a, b);
    return unary(t, AD_OP_AFFINE, x, a, b);
}
ad_var ad_neg(ad_tape *t, ad_var x) { return unary(t, AD_OP_AFFINE, x, -1.0, 0.0); }
ad_var ad_scale(ad_tape *t, ad_var x, double a) { return ad_affine(t, x, a, 0.0); }
ad_var ad_shift(ad_tape *t, ad_var x, double b) { return ad_affine(t, x, 1.0, b); }
ad_var ad_exp(ad_tape *t, ad_var x) { return unary(t, AD_OP_EXP, x, 0, 0); }
ad_var ad_log(ad_tape *t, ad_var x) { return unary(t, AD_OP_LOG, x, 0, 0); }
ad_var ad_log1p(ad_tape *t, ad_var x) { return unary(t, AD_OP_LOG1P, x, 0, 0); }
ad_var ad_sqrt(ad_tape *t, ad_var x) { return unary(t, AD_OP_SQRT, x, 0, 0); }
ad_var ad_square(ad_tape *t, ad_var x) { return unary(t, AD_OP_SQUARE, x, 0, 0); }
ad_var ad_abs(ad_tape *t, ad_var x) { return unary(t, AD_OP_ABS, x, 0, 0); }
ad_var ad_sigmoid(ad_tape *t, ad_var x) { return unary(t, AD_OP_SIGMOID, x, 0, 0); }
ad_var ad_softplus(ad_tape *t, ad_var x) { return unary(t, AD_OP_SOFTPLUS, x, 0, 0); }
ad_var ad_logsigmoid(ad_tape *t, ad_var x) { return unary(t, AD_OP_LOGSIGMOID, x, 0, 0); }
ad_var ad_tanh(ad_tape *t, ad_var x) { return unary(t, AD_OP_TANH, x, 0, 0); }
ad_var ad_relu(ad_tape *t, ad_var x) { return unary(t, AD_OP_RELU, x, 0, 0); }

ad_var ad_pow(ad_tape *t, ad_var x, double p)
{
    if (t && t->status == AD_OK && !isfinite(p))
        return ad__fail(t, AD_EINVAL, "pow: exponent %g is not finite", p);
    return unary(t, AD_OP_POW, x, p, 0);
}


static void jvp_unary(const ad_tape *t, const ad_node *nd, const double *const tin[3],
                      double *tout)
{
    const double *x = ad__node(t, nd->par[0])->val;
    unary_defs[nd->op].tan(x, nd->val, tin[0], tout, ad__size(nd), nd->prm);
}

static void bwd_unary(ad_tape *t, const ad_node *nd, ad_var y, ad_var g, const int need[3],
                      ad_var out[3])
{
    if (need[0])
        out[0] = unary_defs[nd->op].adj(t, nd, ad__var(nd->par[0]), y, g);
}

static void vjp_unary(ad_tape *t, const ad_node *nd, const double *g, double *const acc[3])
{
    const double *x = ad__node(t, nd->par[0])->val;
    unary_defs[nd->op].num(x, nd->val, nd->aux, g, acc[0], ad__size(nd), nd->prm);
}

#define UNARY_DEF(E, name, VALUE, DERIV, ADJ, AUX, NUM) \
    const ad_opdef ad_def_##name = {jvp_unary, bwd_unary, vjp_unary, 0, eval_unary};
UNARY_OPS(UNARY_DEF)
#undef UNARY_DEF
