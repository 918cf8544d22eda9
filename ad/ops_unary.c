/*
 * ad/ops_unary.c — elementwise unary ops. Every op here is r×c → r×c.
 *
 * Each op has a value kernel, a derivative kernel f'(x) (given x and the
 * value y) used by the tangent sweep, and a backward rule written with ad
 * ops so that it can be differentiated again.
 */
#include "internal.h"

#include <math.h>

/* Stable pieces shared by sigmoid, softplus and logsigmoid. */
static double sigmoid1(double x)
{
    if (x >= 0)
        return 1.0 / (1.0 + exp(-x));
    double e = exp(x);
    return e / (1.0 + e);
}

static double softplus1(double x) { return (x > 0 ? x : 0.0) + log1p(exp(-fabs(x))); }

/* f'(x), given y = f(x). */
static double deriv1(int op, double x, double y, const double *prm)
{
    switch (op) {
    case AD_OP_AFFINE: return prm[0];
    case AD_OP_EXP: return y;
    case AD_OP_LOG: return 1.0 / x;
    case AD_OP_LOG1P: return 1.0 / (1.0 + x);
    case AD_OP_SQRT: return 0.5 / y;
    case AD_OP_SQUARE: return 2.0 * x;
    case AD_OP_POW: return prm[0] == 0 ? 0.0 : prm[0] * pow(x, prm[0] - 1.0);
    case AD_OP_ABS: return x > 0 ? 1.0 : -1.0;
    case AD_OP_SIGMOID: return y * (1.0 - y);
    case AD_OP_SOFTPLUS: return sigmoid1(x);
    case AD_OP_LOGSIGMOID: return sigmoid1(-x);
    case AD_OP_TANH: return 1.0 - y * y;
    default: return x > 0 ? 1.0 : 0.0; /* RELU */
    }
}

static ad_var unary(ad_tape *t, int op, ad_var xv, double p0, double p1)
{
    const ad_node *x = ad__arg(t, ad__opname(op), xv);
    if (!x)
        return AD_NONE;
    const double *xs = x->val;
    int r = x->rows, c = x->cols;
    int32_t i = ad__push(t, op, r, c, 1, &xv.id);
    if (i < 0)
        return AD_NONE;
    ad_node *y = ad__node(t, i);
    y->prm[0] = p0;
    y->prm[1] = p1;
    size_t n = (size_t)r * c;
    double *yv = y->val;
    if (op == AD_OP_SOFTPLUS) {
        /* σ(x) from the same e = exp(−|x|), kept for the backward rule */
        double *sg = ad__alloc(t, n * sizeof(double));
        if (!sg)
            return AD_NONE;
        y = ad__node(t, i);
        y->aux = sg;
        for (size_t k = 0; k < n; k++) {
            double xk = xs[k], e = exp(-fabs(xk));
            yv[k] = (xk > 0 ? xk : 0.0) + log1p(e);
            sg[k] = xk >= 0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
        }
        return ad__done(t, i);
    }
    /* One loop per op, the switch outside: y_k = EXPR(x = xs[k]). */
#define UNARY_LOOP(EXPR)                                                   \
    for (size_t k = 0; k < n; k++) {                                       \
        double x_ = xs[k];                                                 \
        yv[k] = (EXPR);                                                    \
    }                                                                      \
    break
    switch (op) {
    case AD_OP_AFFINE: UNARY_LOOP(p0 * x_ + p1);
    case AD_OP_EXP: UNARY_LOOP(exp(x_));
    case AD_OP_LOG: UNARY_LOOP(log(x_));
    case AD_OP_LOG1P: UNARY_LOOP(log1p(x_));
    case AD_OP_SQRT: UNARY_LOOP(sqrt(x_));
    case AD_OP_SQUARE: UNARY_LOOP(x_ * x_);
    case AD_OP_POW: UNARY_LOOP(pow(x_, p0));
    case AD_OP_ABS: UNARY_LOOP(fabs(x_));
    case AD_OP_SIGMOID: UNARY_LOOP(sigmoid1(x_));
    case AD_OP_LOGSIGMOID: UNARY_LOOP(-softplus1(-x_));
    case AD_OP_TANH: UNARY_LOOP(tanh(x_));
    default: UNARY_LOOP(x_ > 0 ? x_ : 0.0); /* RELU */
    }
#undef UNARY_LOOP
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
    const double *x = ad__node(t, nd->par[0])->val, *tx = tin[0];
    size_t n = ad__size(nd);
    for (size_t k = 0; k < n; k++) /* a zero tangent stays zero even where f' is not finite */
        tout[k] = tx[k] == 0.0 ? 0.0 : deriv1(nd->op, x[k], nd->val[k], nd->prm) * tx[k];
}

/* ḡ·f'(x) written with ad ops, one case per op. */
static ad_var dfactor(ad_tape *t, const ad_node *nd, ad_var x, ad_var y)
{
    switch (nd->op) {
    case AD_OP_EXP: return y;
    case AD_OP_SQUARE: return ad_scale(t, x, 2.0);
    case AD_OP_POW: return ad_scale(t, ad_pow(t, x, nd->prm[0] - 1.0), nd->prm[0]);
    case AD_OP_ABS: return ad_affine(t, ad_greater(t, x, ad_scalar(t, 0.0)), 2.0, -1.0);
    case AD_OP_SIGMOID: return ad_mul(t, y, ad_affine(t, y, -1.0, 1.0));
    case AD_OP_SOFTPLUS: /* σ(x), computed with the value (aux): an aliased SIGMOID
                          * node, differentiable as its rules use only y and x */
        if (nd->aux) {
            int32_t s = ad__push_alias(t, AD_OP_SIGMOID, nd->rows, nd->cols, 1, &x.id, nd->aux);
            return ad__done(t, s);
        }
        return ad_sigmoid(t, x);
    case AD_OP_LOGSIGMOID: return ad_sigmoid(t, ad_neg(t, x));
    case AD_OP_TANH: return ad_affine(t, ad_square(t, y), -1.0, 1.0);
    default: return ad_greater(t, x, ad_scalar(t, 0.0)); /* RELU */
    }
}

/* x̄ = ḡ·f'(x); ad__live keeps a NaN/Inf f' where ḡ = 0 (a branch not
 * taken) out of x̄, at every order. */
static void bwd_unary(ad_tape *t, const ad_node *nd, ad_var y, ad_var g, const int need[3],
                      ad_var out[3])
{
    ad_var x = ad__var(nd->par[0]);
    if (!need[0])
        return;
    switch (nd->op) {
    case AD_OP_AFFINE: out[0] = ad_scale(t, g, nd->prm[0]); return;
    case AD_OP_LOG: out[0] = ad__live(t, g, ad_div(t, g, x)); return;
    case AD_OP_LOG1P: out[0] = ad__live(t, g, ad_div(t, g, ad_shift(t, x, 1.0))); return;
    case AD_OP_SQRT: out[0] = ad__live(t, g, ad_div(t, ad_scale(t, g, 0.5), y)); return;
    case AD_OP_POW:
        if (nd->prm[0] == 0) {
            out[0] = ad__zeros(t, nd->rows, nd->cols);
            return;
        }
        break;
    default: break;
    }
    out[0] = ad__live(t, g, ad_mul(t, g, dfactor(t, nd, x, y)));
}

const ad_opdef ad_def_affine = {jvp_unary, bwd_unary};
const ad_opdef ad_def_exp = {jvp_unary, bwd_unary};
const ad_opdef ad_def_log = {jvp_unary, bwd_unary};
const ad_opdef ad_def_log1p = {jvp_unary, bwd_unary};
const ad_opdef ad_def_sqrt = {jvp_unary, bwd_unary};
const ad_opdef ad_def_square = {jvp_unary, bwd_unary};
const ad_opdef ad_def_pow = {jvp_unary, bwd_unary};
const ad_opdef ad_def_abs = {jvp_unary, bwd_unary};
const ad_opdef ad_def_sigmoid = {jvp_unary, bwd_unary};
const ad_opdef ad_def_softplus = {jvp_unary, bwd_unary};
const ad_opdef ad_def_logsigmoid = {jvp_unary, bwd_unary};
const ad_opdef ad_def_tanh = {jvp_unary, bwd_unary};
const ad_opdef ad_def_relu = {jvp_unary, bwd_unary};
