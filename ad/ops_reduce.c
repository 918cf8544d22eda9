/*
 * ad/ops_reduce.c — sum (r×c → 1×1), sum_rows (r×c → 1×c), sum_cols
 * (r×c → r×1), mean, and broadcast (1×1 | 1×c | r×1 → r×c), their adjoint.
 */
#include "internal.h"

#include <string.h>

/* Sums x (r×c) into out of shape (orow ? 1 : r)×(ocol ? 1 : c). */
static void reduce_kernel(const double *x, int r, int c, int to_row, int to_col, double *out)
{
    int orr = to_row ? 1 : r, oc = to_col ? 1 : c;
    if (orr == 1 && oc == 1) { /* full sum (also r×1 → 1×1): flat, four accumulators */
        size_t n = (size_t)r * (size_t)c, k = 0;
        double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        for (; k + 4 <= n; k += 4) {
            s0 += x[k];
            s1 += x[k + 1];
            s2 += x[k + 2];
            s3 += x[k + 3];
        }
        for (; k < n; k++)
            s0 += x[k];
        out[0] = (s0 + s1) + (s2 + s3);
        return;
    }
    if ((to_col && c == 1) || (to_row && r == 1)) { /* nothing to sum: a copy */
        memcpy(out, x, (size_t)r * (size_t)c * sizeof(double));
        return;
    }
    memset(out, 0, (size_t)orr * oc * sizeof(double));
    for (int i = 0; i < r; i++) {
        const double *xr = x + (size_t)i * c;
        double *o = out + (to_row ? 0 : (size_t)i * oc);
        if (to_col) {
            double s = 0;
            for (int j = 0; j < c; j++)
                s += xr[j];
            o[0] += s;
        } else {
            for (int j = 0; j < c; j++)
                o[j] += xr[j];
        }
    }
}

/* Repeats x (xr×xc, each 1 or equal to r/c) to r×c. */
static void bcast_kernel(const double *x, int xr, int xc, int r, int c, double *out)
{
    if (xr == 1 && xc == 1) { /* from 1×1: one flat fill */
        size_t n = (size_t)r * (size_t)c;
        double v = x[0];
        for (size_t k = 0; k < n; k++)
            out[k] = v;
        return;
    }
    if (xr == r && xc == c) {
        memcpy(out, x, (size_t)r * (size_t)c * sizeof(double));
        return;
    }
    for (int i = 0; i < r; i++) {
        const double *src = x + (xr == 1 ? 0 : (size_t)i * xc);
        double *o = out + (size_t)i * c;
        if (xc == 1)
            for (int j = 0; j < c; j++)
                o[j] = src[0];
        else
            memcpy(o, src, (size_t)c * sizeof(double));
    }
}

/* Value of a sum node from its parent's value: the eval kernel. */
static void eval_reduce(const ad_tape *t, ad_node *y)
{
    const ad_node *x = ad__node(t, y->par[0]);
    reduce_kernel(x->val, x->rows, x->cols, y->op != AD_OP_SUM_COLS, y->op != AD_OP_SUM_ROWS,
                  y->val);
}

static ad_var reduce(ad_tape *t, int op, ad_var xv)
{
    const ad_node *x = ad__arg_lazy(t, ad__opname(op), xv);
    if (!x)
        return AD_NONE;
    int to_row = op != AD_OP_SUM_COLS, to_col = op != AD_OP_SUM_ROWS;
    int32_t i = ad__push(t, op, to_row ? 1 : x->rows, to_col ? 1 : x->cols, 1, &xv.id);
    if (i < 0)
        return AD_NONE;
    if (ad__defer(t, i))
        return ad__var(i);
    eval_reduce(t, ad__node(t, i));
    return ad__done(t, i);
}

ad_var ad_sum(ad_tape *t, ad_var x) { return reduce(t, AD_OP_SUM, x); }
ad_var ad_sum_rows(ad_tape *t, ad_var x) { return reduce(t, AD_OP_SUM_ROWS, x); }
ad_var ad_sum_cols(ad_tape *t, ad_var x) { return reduce(t, AD_OP_SUM_COLS, x); }

ad_var ad_mean(ad_tape *t, ad_var x)
{
    int n = ad_rows(t, x) * ad_cols(t, x);
    return ad_scale(t, ad_sum(t, x), n > 0 ? 1.0 / n : 1.0);
}

/* Value of a broadcast node from its parent's value: the eval kernel. */
static void eval_bcast(const ad_tape *t, ad_node *y)
{
    const ad_node *x = ad__node(t, y->par[0]);
    bcast_kernel(x->val, x->rows, x->cols, y->rows, y->cols, y->val);
}

ad_var ad_broadcast(ad_tape *t, ad_var xv, int r, int c)
{
    const ad_node *x = ad__arg_lazy(t, "broadcast", xv);
    if (!x)
        return AD_NONE;
    if (r <= 0 || c <= 0 || (x->rows != 1 && x->rows != r) || (x->cols != 1 && x->cols != c))
        return ad__fail(t, AD_ESHAPE, "broadcast: cannot broadcast %dx%d to %dx%d", x->rows,
                        x->cols, r, c);
    if (x->rows == r && x->cols == c)
        return xv;
    int32_t i = ad__push(t, AD_OP_BROADCAST, r, c, 1, &xv.id);
    if (i < 0)
        return AD_NONE;
    if (ad__defer(t, i))
        return ad__var(i);
    eval_bcast(t, ad__node(t, i));
    return ad__done(t, i);
}

ad_var ad__sum_to(ad_tape *t, ad_var g, int r, int c)
{
    int gr = ad_rows(t, g), gc = ad_cols(t, g);
    if (r == 1 && gr != 1)
        g = ad_sum_rows(t, g);
    if (c == 1 && gc != 1)
        g = ad_sum_cols(t, g);
    return g;
}

static void jvp_reduce(const ad_tape *t, const ad_node *nd, const double *const tin[3],
                       double *tout)
{
    const ad_node *x = ad__node(t, nd->par[0]);
    reduce_kernel(tin[0], x->rows, x->cols, nd->op != AD_OP_SUM_COLS, nd->op != AD_OP_SUM_ROWS,
                  tout);
}

static void bwd_reduce(ad_tape *t, const ad_node *nd, ad_var y, ad_var g, const int need[3],
                       ad_var out[3])
{
    const ad_node *x = ad__node(t, nd->par[0]);
    if (need[0])
        out[0] = ad_broadcast(t, g, x->rows, x->cols);
}

static void jvp_bcast(const ad_tape *t, const ad_node *nd, const double *const tin[3],
                      double *tout)
{
    const ad_node *x = ad__node(t, nd->par[0]);
    bcast_kernel(tin[0], x->rows, x->cols, nd->rows, nd->cols, tout);
}

static void bwd_bcast(ad_tape *t, const ad_node *nd, ad_var y, ad_var g, const int need[3],
                      ad_var out[3])
{
    const ad_node *x = ad__node(t, nd->par[0]);
    if (need[0])
        out[0] = ad__sum_to(t, g, x->rows, x->cols);
}

/* ---- numeric adjoints (see ad_vjp_fn) ---- */

/* acc (r×c) += sign·sum_to(g): the additions of ad__sum_to, which applies
 * sum_rows (gr×gc → 1×gc) when r = 1 < gr and then sum_cols (→ ·×1) when
 * c = 1 < gc, each with reduce_kernel. */
int ad__acc_sum_to(ad_tape *t, const double *g, int gr, int gc, int r, int c, double sign,
                   double *acc)
{
    if (r == 1 && gr != 1) { /* column sums first, into a temporary 1×gc */
        double *cs = ad__scratch_adj(t, (size_t)gc * sizeof(double));
        if (!cs)
            return 0;
        reduce_kernel(g, gr, gc, 1, 0, cs);
        g = cs;
        gr = 1;
    }
    if (c == 1 && gc != 1) {
        if (gr == 1) { /* 1×gc → 1×1: reduce_kernel's flat sum */
            double s;
            reduce_kernel(g, 1, gc, 0, 1, &s);
            acc[0] += sign * s;
            return 1;
        }
        for (int i = 0; i < gr; i++) { /* row sums, left to right as in reduce_kernel */
            const double *gi = g + (size_t)i * gc;
            double s = 0;
            for (int j = 0; j < gc; j++)
                s += gi[j];
            acc[i] += sign * s;
        }
        return 1;
    }
    size_t n = (size_t)gr * (size_t)gc;
    if (sign > 0)
        for (size_t k = 0; k < n; k++)
            acc[k] += g[k];
    else
        for (size_t k = 0; k < n; k++)
            acc[k] -= g[k];
    return 1;
}

/* x̄ += broadcast(ḡ) to x's shape. */
static void vjp_reduce(ad_tape *t, const ad_node *nd, const double *g, double *const acc[3])
{
    const ad_node *x = ad__node(t, nd->par[0]);
    int r = x->rows, c = x->cols, gr = nd->rows, gc = nd->cols;
    double *a = acc[0];
    for (int i = 0; i < r; i++) {
        const double *gi = g + (gr == 1 ? 0 : (size_t)i * gc);
        double *ai = a + (size_t)i * c;
        if (gc == 1)
            for (int j = 0; j < c; j++)
                ai[j] += gi[0];
        else
            for (int j = 0; j < c; j++)
                ai[j] += gi[j];
    }
}

/* x̄ += ḡ summed down to x's shape. */
static void vjp_bcast(ad_tape *t, const ad_node *nd, const double *g, double *const acc[3])
{
    const ad_node *x = ad__node(t, nd->par[0]);
    ad__acc_sum_to(t, g, nd->rows, nd->cols, x->rows, x->cols, 1.0, acc[0]);
}

const ad_opdef ad_def_sum = {jvp_reduce, bwd_reduce, vjp_reduce, 0, eval_reduce};
const ad_opdef ad_def_sum_rows = {jvp_reduce, bwd_reduce, vjp_reduce, 0, eval_reduce};
const ad_opdef ad_def_sum_cols = {jvp_reduce, bwd_reduce, vjp_reduce, 0, eval_reduce};
const ad_opdef ad_def_broadcast = {jvp_bcast, bwd_bcast, vjp_bcast, 0, eval_bcast};
