/*
 * ad/ops_control.c — gradient control: detach (r×c → r×c, no gradient) and
 * select (mask, a, b all r×c → r×c).
 */
#include "internal.h"

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

const ad_opdef ad_def_detach = {NULL, NULL};
const ad_opdef ad_def_select = {jvp_select, bwd_select};
