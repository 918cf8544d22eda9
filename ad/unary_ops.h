/*
 * ad/unary_ops.h — the table of elementwise unary ops (UNARY_OPS) and the
 * stable scalar pieces its rows use. ops_unary.c generates the ops from it;
 * replay.c evaluates the same value and numeric-adjoint expressions on
 * compiled scalar programs, so both give the same bits. Private to ad/.
 */
#ifndef HYPERTAPE_AD_UNARY_OPS_H
#define HYPERTAPE_AD_UNARY_OPS_H

#include <math.h>

/* Stable pieces shared by sigmoid, softplus and logsigmoid. */
static inline double sigmoid1(double x)
{
    if (x >= 0)
        return 1.0 / (1.0 + exp(-x));
    double e = exp(x);
    return e / (1.0 + e);
}

static inline double softplus1(double x) { return (x > 0 ? x : 0.0) + log1p(exp(-fabs(x))); }

/* softplus(x) = max(x, 0) + log1p(e) with e = exp(−|x|), and σ(x) from the
 * same e into *sg (kept as the node's aux for the backward rule). */
static inline double softplus_sigma1(double x, double e) { return x >= 0 ? 1.0 / (1.0 + e) : e / (1.0 + e); }

static inline double softplus_keep(double x, double *sg)
{
    double e = exp(-fabs(x));
    *sg = softplus_sigma1(x, e);
    return (x > 0 ? x : 0.0) + log1p(e);
}

/* One row per op: U(ENUM, name, value, derivative, adjoint, aux, numeric).
 *   value       y = f(x) from x and the parameters p0, p1 (an op with aux = 1
 *               also writes a[k], an aux array of r×c doubles);
 *   derivative  f'(x) from x, y, p0, p1, for the tangent sweep;
 *   adjoint     x̄ = ḡ·f'(x) with ad ops (shorthands LIVE, GF, POS, ONE_MINUS and
 *               ZEROS defined by ops_unary.c), from the handles X, Y, G (ḡ) and
 *               the node nd (a copy); a NaN/Inf f' where ḡ = 0 (a branch not
 *               taken) is kept out of x̄ by LIVE, at every order;
 *   numeric     the same x̄ element as plain arithmetic, from g (ḡ), x, y,
 *               p0 and a (the aux array, or NULL), for the numeric sweep:
 *               the operations of `adjoint`, in its order, so that both
 *               sweeps give the same bits (ad_scale's "+ 0" and the exact
 *               1 − v of ONE_MINUS left out); where g = 0 it is not
 *               evaluated and contributes 0, as LIVE does. */
#define UNARY_OPS(U)                                                                             \
    U(AFFINE, affine, p0 * x + p1, p0, ad_scale(t, G, p0), 0, g * p0)                            \
    U(EXP, exp, exp(x), y, GF(Y), 0, g * y)                                                      \
    U(LOG, log, log(x), 1.0 / x, LIVE(ad_div(t, G, X)), 0, g / x)                                \
    U(LOG1P, log1p, log1p(x), 1.0 / (1.0 + x), LIVE(ad_div(t, G, ad_shift(t, X, 1.0))), 0,       \
      g / (x + 1.0))                                                                             \
    U(SQRT, sqrt, sqrt(x), 0.5 / y, LIVE(ad_div(t, ad_scale(t, G, 0.5), Y)), 0, (0.5 * g) / y)   \
    U(SQUARE, square, x * x, 2.0 * x, GF(ad_scale(t, X, 2.0)), 0, g * (2.0 * x))                 \
    U(POW, pow, pow(x, p0), p0 == 0 ? 0.0 : p0 * pow(x, p0 - 1.0),                               \
      p0 == 0 ? ZEROS : GF(ad_scale(t, ad_pow(t, X, p0 - 1.0), p0)), 0,                          \
      p0 == 0 ? 0.0 : g * (p0 * pow(x, p0 - 1.0)))                                               \
    U(ABS, abs, fabs(x), x > 0 ? 1.0 : -1.0, GF(ad_affine(t, POS(X), 2.0, -1.0)), 0,             \
      g * (x > 0 ? 1.0 : -1.0))                                                                  \
    U(SIGMOID, sigmoid, sigmoid1(x), y * (1.0 - y), GF(ad_mul(t, Y, ONE_MINUS(Y))), 0,           \
      g * (y * (1.0 - y)))                                                                       \
    U(SOFTPLUS, softplus, softplus_keep(x, &a[k]), sigmoid1(x), GF(softplus_sigma(t, nd, X)), 1, \
      g * (a ? a[k] : sigmoid1(x)))                                                              \
    U(LOGSIGMOID, logsigmoid, -softplus1(-x), sigmoid1(-x), GF(ad_sigmoid(t, ad_neg(t, X))), 0,  \
      g * sigmoid1(-x))                                                                          \
    U(TANH, tanh, tanh(x), 1.0 - y * y, GF(ONE_MINUS(ad_square(t, Y))), 0, g * (1.0 - y * y))    \
    U(RELU, relu, x > 0 ? x : 0.0, x > 0 ? 1.0 : 0.0, GF(POS(X)), 0, g * (x > 0 ? 1.0 : 0.0))

/* What a row generates: a forward loop, a tangent loop and a backward rule. */

#endif
