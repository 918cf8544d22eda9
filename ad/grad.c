/*
 * ad/grad.c — reverse mode. The backward pass is recorded with ordinary ops
 * (each op's rule in its own file), so with AD_CREATE_GRAPH its result can
 * be differentiated again, to any order.
 */
#include "internal.h"

#include <string.h>

/* Validates the arguments of ad_grad and returns the lowest wrt index. */
static int check_args(ad_tape *t, ad_var y, int n, const ad_var *wrt, const void *out,
                      int32_t *lo)
{
    const ad_node *yn = ad__arg(t, "grad", y);
    if (!yn)
        return 0;
    if (yn->rows != 1 || yn->cols != 1) {
        ad__fail(t, AD_ESHAPE, "grad: output must be 1x1, got %dx%d (op '%s')", yn->rows,
                 yn->cols, ad__opname(yn->op));
        return 0;
    }
    if (n <= 0 || !wrt || !out) {
        ad__fail(t, AD_EINVAL, "grad: need n > 0 inputs and output storage (n = %d)", n);
        return 0;
    }
    *lo = INT32_MAX;
    for (int k = 0; k < n; k++) {
        if (!ad__arg(t, "grad", wrt[k]))
            return 0;
        if (wrt[k].id < *lo)
            *lo = wrt[k].id;
    }
    return 1;
}

/* reach[i − lo] = 1 when node i depends differentiably on some wrt node. */
static void mark_reach(const ad_tape *t, int32_t lo, int32_t hi, int n, const ad_var *wrt,
                       unsigned char *reach)
{
    memset(reach, 0, (size_t)(hi - lo + 1));
    for (int k = 0; k < n; k++)
        if (wrt[k].id <= hi)
            reach[wrt[k].id - lo] = 1;
    for (int32_t i = lo; i <= hi; i++) {
        const ad_node *nd = &t->nodes[i];
        if (reach[i - lo] || (nd->flags & AD_NF_NOGRAD))
            continue;
        for (int k = 0; k < nd->np; k++)
            if (nd->par[k] >= lo && reach[nd->par[k] - lo])
                reach[i - lo] = 1;
    }
}

/* Adds a contribution to the adjoint of node p. */
static void accumulate(ad_tape *t, int32_t *adj, int32_t p, ad_var c)
{
    if (!ad_ok(c))
        return;
    adj[p] = adj[p] < 0 ? c.id : ad_add(t, ad__var(adj[p]), c).id;
}

/* The reverse sweep from Y down to lo; adj is indexed from lo. */
static void sweep(ad_tape *t, int32_t lo, int32_t Y, const unsigned char *reach, int32_t *adj)
{
    for (int32_t i = Y; i >= lo && t->status == AD_OK; i--) {
        if (adj[i - lo] < 0)
            continue;
        ad_node nd = t->nodes[i]; /* a copy: the table may move below */
        const ad_opdef *def = ad__def(nd.op);
        if (!def->bwd || (nd.flags & AD_NF_NOGRAD))
            continue;
        int need[3] = {0, 0, 0}, any = 0;
        for (int k = 0; k < nd.np; k++) {
            need[k] = nd.par[k] >= lo && reach[nd.par[k] - lo];
            any |= need[k];
        }
        if (!any)
            continue;
        ad_var out[3] = {AD_NONE, AD_NONE, AD_NONE};
        def->bwd(t, &nd, ad__var(i), ad__var(adj[i - lo]), need, out);
        for (int k = 0; k < nd.np && t->status == AD_OK; k++) {
            if (!need[k] || !ad_ok(out[k]))
                continue;
            /* a contribution shaped unlike its parent would corrupt the
             * adjoint (and overrun ad_grad_values' buffers): refuse it */
            const ad_node *pn = &t->nodes[nd.par[k]], *cn = &t->nodes[out[k].id];
            if (cn->rows != pn->rows || cn->cols != pn->cols) {
                ad__fail(t, AD_ESHAPE, "grad: backward of '%s' gave %dx%d for a parent of %dx%d",
                         ad__opname(nd.op), cn->rows, cn->cols, pn->rows, pn->cols);
                return;
            }
            accumulate(t, adj - lo, nd.par[k], out[k]);
        }
    }
}

ad_status ad_grad(ad_tape *t, ad_var y, int n, const ad_var *wrt, ad_var *grads, unsigned flags)
{
    int32_t lo;
    if (!t)
        return AD_EINVAL;
    if (!check_args(t, y, n, wrt, grads, &lo))
        return t->status;
    int32_t Y = y.id;
    for (int k = 0; k < n; k++)
        grads[k] = AD_NONE;
    if (lo <= Y) {
        size_t cnt = (size_t)(Y - lo + 1);
        unsigned char *buf = ad__work(t, cnt * (sizeof(int32_t) + 1));
        if (!buf)
            return t->status;
        int32_t *adj = (int32_t *)buf;
        unsigned char *reach = buf + cnt * sizeof(int32_t);
        mark_reach(t, lo, Y, n, wrt, reach);
        for (size_t k = 0; k < cnt; k++)
            adj[k] = -1;
        if (!(flags & AD_CREATE_GRAPH))
            t->nograd++;
        if (reach[Y - lo])
            adj[Y - lo] = ad_scalar(t, 1.0).id;
        sweep(t, lo, Y, reach, adj);
        for (int k = 0; k < n && t->status == AD_OK; k++)
            if (wrt[k].id <= Y && adj[wrt[k].id - lo] >= 0)
                grads[k] = ad__var(adj[wrt[k].id - lo]);
        if (!(flags & AD_CREATE_GRAPH))
            t->nograd--;
    }
    for (int k = 0; k < n && t->status == AD_OK; k++)
        if (!ad_ok(grads[k]))
            grads[k] = ad__zeros(t, ad_rows(t, wrt[k]), ad_cols(t, wrt[k]));
    return t->status;
}

ad_status ad_grad_values(ad_tape *t, ad_var y, int n, const ad_var *wrt, double *const *out)
{
    if (!t)
        return AD_EINVAL;
    if (t->status != AD_OK)
        return t->status;
    if (n <= 0 || !out)
        return ad__failst(t, AD_EINVAL, "grad_values: need n > 0 and output storage (n = %d)", n);
    ad_mark m = ad_tape_mark(t);
    ad_var *g = ad__alloc(t, (size_t)n * sizeof(ad_var)); /* rewound below */
    ad_status s = g ? ad_grad(t, y, n, wrt, g, 0) : t->status;
    for (int k = 0; s == AD_OK && k < n; k++)
        if (out[k])
            memcpy(out[k], ad_value(t, g[k]),
                   (size_t)ad_rows(t, g[k]) * ad_cols(t, g[k]) * sizeof(double));
    ad_tape_rewind(t, m);
    return s;
}
