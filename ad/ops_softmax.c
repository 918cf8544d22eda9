/*
 * ad/ops_softmax.c — row-wise logsumexp (r×c → r×1) and softmax
 * cross-entropy with integer labels (r×c, labels[r] → r×1), both stable.
 */
#include "internal.h"

#include <math.h>

ad_var ad_logsumexp_rows(ad_tape *t, ad_var xv)
{
    const ad_node *x = ad__arg(t, "logsumexp", xv);
    if (!x)
        return AD_NONE;
    int r = x->rows, c = x->cols;
    const double *xs = x->val;
    int32_t i = ad__push(t, AD_OP_LOGSUMEXP, r, 1, 1, &xv.id);
    if (i < 0)
        return AD_NONE;
    double *y = ad__node(t, i)->val;
    for (int a = 0; a < r; a++) {
        const double *row = xs + (size_t)a * c;
        double mx = row[0];
        for (int j = 1; j < c; j++)
            mx = row[j] > mx ? row[j] : mx;
        double s = 0;
        if (isinf(mx)) { /* all −Inf or some +Inf: the max is the answer */
            y[a] = mx;
            continue;
        }
        for (int j = 0; j < c; j++)
            s += exp(row[j] - mx);
        y[a] = mx + log(s);
    }
    return ad__done(t, i);
}

/* ẏ_i = Σ_j softmax_ij ẋ_ij. */
static void jvp_lse(const ad_tape *t, const ad_node *nd, const double *const tin[3],
                    double *tout)
{
    const ad_node *x = ad__node(t, nd->par[0]);
    int c = x->cols;
    for (int a = 0; a < nd->rows; a++) {
        const double *row = x->val + (size_t)a * c, *tr = tin[0] + (size_t)a * c;
        double s = 0;
        for (int j = 0; j < c; j++)
            s += exp(row[j] - nd->val[a]) * tr[j];
        tout[a] = s;
    }
}

/* x̄ = ḡ ⊙ softmax(x), with softmax = exp(x − y) written in ad ops. */
static void bwd_lse(ad_tape *t, const ad_node *nd, ad_var y, ad_var g, const int need[3],
                    ad_var out[3])
{
    ad_var x = ad__var(nd->par[0]);
    if (need[0])
        out[0] = ad__live(t, g, ad_mul(t, g, ad_exp(t, ad_sub(t, x, y))));
}

/* Numerically: x̄_ij += ḡ_i·exp(x_ij − y_i), nothing where ḡ_i = 0 (as
 * ad__live). */
static void vjp_lse(ad_tape *t, const ad_node *nd, const double *g, double *const acc[3])
{
    const ad_node *x = ad__node(t, nd->par[0]);
    int c = x->cols;
    for (int a = 0; a < nd->rows; a++) {
        double ga = g[a], ya = nd->val[a];
        if (ga == 0.0)
            continue;
        const double *row = x->val + (size_t)a * c;
        double *dst = acc[0] + (size_t)a * c;
        for (int j = 0; j < c; j++)
            dst[j] += ga * exp(row[j] - ya);
    }
}

const ad_opdef ad_def_logsumexp = {jvp_lse, bwd_lse, vjp_lse, 0, NULL};

ad_var ad_softmax_xent(ad_tape *t, ad_var logits, const int *labels)
{
    const ad_node *x = ad__arg(t, "softmax_xent", logits);
    if (!x)
        return AD_NONE;
    if (!labels)
        return ad__fail(t, AD_EINVAL, "softmax_xent: labels is NULL (logits %dx%d)", x->rows,
                        x->cols);
    int r = x->rows, c = x->cols;
    int *idx = ad__alloc(t, (size_t)r * sizeof(int));
    if (!idx)
        return AD_NONE;
    for (int a = 0; a < r; a++) {
        if (labels[a] < 0 || labels[a] >= c)
            return ad__fail(t, AD_EINVAL,
                            "softmax_xent: label %d of row %d is outside [0, %d) (logits %dx%d)",
                            labels[a], a, c, r, c);
        idx[a] = a * c + labels[a];
    }
    ad_var picked = ad_gather(t, logits, idx, r, 1);
    return ad_sub(t, ad_logsumexp_rows(t, logits), picked);
}
