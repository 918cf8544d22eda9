/*
 * ad/ops_control.c — gradient control: detach (r×c → r×c, no gradient),
 * select (mask, a, b all r×c → r×c), and ad__live, the guard that keeps a
 * branch select did not take from poisoning gradients.
 */
#include "internal.h"

#include <math.h>

ad_var ad_detach(ad_tape *t, ad_var xv)
{
    const ad_node *x = ad__arg(t, "detach", xv);
    if (!x)
        return AD_NONE;
    int32_t i = ad__push_alias(t, AD_OP_DETACH, x->rows, x->cols, 1, &xv.id, x->val);
    if (i >= 0)
        ad__node(t, i)->flags |= AD_NF_NOGRAD;
    return ad__done(t, i);
}

/* y = mask ? a : b; a branch's value is read only where it is taken, so a
 * NaN or Inf in the other branch never reaches y. */
static void select_kernel(const double *mask, const double *a, const double *b, size_t n,
                          double *y)
{
    for (size_t k = 0; k < n; k++)
        y[k] = mask[k] != 0.0 ? (a ? a[k] : 0.0) : (b ? b[k] : 0.0);
}

ad_var ad_select(ad_tape *t, ad_var mv, ad_var av, ad_var bv)
{
    const ad_node *m = ad__arg(t, "select", mv), *a = ad__arg(t, "select", av),
                  *b = ad__arg(t, "select", bv);
    if (!m || !a || !b)
        return AD_NONE;
    if (m->rows != a->rows || m->cols != a->cols || b->rows != a->rows || b->cols != a->cols)
        return ad__fail(t, AD_ESHAPE, "select: mask %dx%d, a %dx%d and b %dx%d must all match",
                        m->rows, m->cols, a->rows, a->cols, b->rows, b->cols);
    const double *ms = m->val, *as = a->val, *bs = b->val;
    int32_t par[3] = {mv.id, av.id, bv.id};
    int32_t i = ad__push(t, AD_OP_SELECT, a->rows, a->cols, 3, par);
    if (i < 0)
        return AD_NONE;
    ad_node *y = ad__node(t, i);
    select_kernel(ms, as, bs, ad__size(y), y->val);
    return ad__done(t, i);
}

static void jvp_select(const ad_tape *t, const ad_node *nd, const double *const tin[3],
                       double *tout)
{
    select_kernel(ad__node(t, nd->par[0])->val, tin[1], tin[2], ad__size(nd), tout);
}

/* ā = select(mask, ḡ, 0), b̄ = select(mask, 0, ḡ): selecting, not
 * multiplying by 0/1, keeps a NaN of ḡ from the branch not taken. */
static void bwd_select(ad_tape *t, const ad_node *nd, ad_var y, ad_var g, const int need[3],
                       ad_var out[3])
{
    ad_var mask = ad__var(nd->par[0]);
    if (!need[1] && !need[2])
        return;
    ad_var z = ad__zeros(t, nd->rows, nd->cols);
    if (need[1])
        out[1] = ad_select(t, mask, g, z);
    if (need[2])
        out[2] = ad_select(t, mask, z, g);
}

/* Numerically: ḡ goes to ā where the mask is set and to b̄ elsewhere. */
static void vjp_select(ad_tape *t, const ad_node *nd, const double *g, double *const acc[3])
{
    const double *mask = ad__node(t, nd->par[0])->val;
    double *a = acc[1], *b = acc[2];
    size_t n = ad__size(nd);
    for (size_t k = 0; k < n; k++) {
        if (mask[k] != 0.0) {
            if (a)
                a[k] += g[k];
        } else if (b) {
            b[k] += g[k];
        }
    }
}

const ad_opdef ad_def_detach = {NULL, NULL, NULL, 0, NULL};
const ad_opdef ad_def_select = {jvp_select, bwd_select, vjp_select, 1, NULL}; /* no adjoint for the mask */

/* ------------------------------------------------------------- ad__live */

/* p (r×c) is an adjoint product ḡ ⊙ f recorded by a backward rule, with g
 * (1×1, 1×c, r×1 or r×c) broadcast to r×c. Where g is exactly zero and p
 * is not finite, the factor f is NaN or Inf at an element whose adjoint is
 * zero: typically a branch that ad_select did not take (sqrt or log of a
 * negative, 1/0, exp overflow). There the contribution is taken as exactly
 * zero, as 0·f is for every finite f; elsewhere p is returned unchanged.
 * When no element needs it (the usual case) p itself is returned and
 * nothing is recorded; otherwise select(mask, p, 0) with a constant mask,
 * so the guard holds again when the backward pass is differentiated (the
 * adjoints reaching p there are exact zeros too). */
/* 1 when some element of x (n) is NaN or ±Inf: x·0 is NaN exactly there.
 * Four independent sums keep this cheap next to the product it guards. */
static int any_nonfinite(const double *x, size_t n)
{
    double a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    size_t k = 0;
    for (; k + 4 <= n; k += 4) {
        a0 += x[k] * 0.0;
        a1 += x[k + 1] * 0.0;
        a2 += x[k + 2] * 0.0;
        a3 += x[k + 3] * 0.0;
    }
    for (; k < n; k++)
        a0 += x[k] * 0.0;
    return (a0 + a1) + (a2 + a3) != 0.0;
}

ad_var ad__live(ad_tape *t, ad_var g, ad_var p)
{
    const ad_node *gn = ad__arg(t, "live", g), *pn = ad__arg(t, "live", p);
    if (!gn || !pn)
        return AD_NONE;
    int r = pn->rows, c = pn->cols;
    if ((gn->rows != 1 && gn->rows != r) || (gn->cols != 1 && gn->cols != c))
        return ad__fail(t, AD_ESHAPE, "live: adjoint %dx%d does not broadcast to %dx%d",
                        gn->rows, gn->cols, r, c);
    if (!any_nonfinite(pn->val, ad__size(pn)))
        return p; /* the usual case */
    size_t rs = gn->rows == 1 ? 0 : (size_t)gn->cols, cs = gn->cols == 1 ? 0 : 1;
    const double *gv = gn->val, *pv = pn->val;
    size_t dead = 0;
    for (int i = 0; i < r; i++)
        for (int j = 0; j < c; j++)
            dead += !isfinite(pv[(size_t)i * c + j]) && gv[i * rs + j * cs] == 0.0;
    if (!dead)
        return p;
    ad_var mask = ad__zeros(t, r, c);
    if (!ad_ok(mask))
        return AD_NONE;
    double *m = ad__node(t, mask.id)->val; /* the node table may have moved */
    gv = ad__node(t, g.id)->val;
    pv = ad__node(t, p.id)->val;
    for (int i = 0; i < r; i++)
        for (int j = 0; j < c; j++)
            m[(size_t)i * c + j] =
                !isfinite(pv[(size_t)i * c + j]) && gv[i * rs + j * cs] == 0.0 ? 0.0 : 1.0;
    return ad_select(t, mask, p, ad__zeros(t, r, c));
}
