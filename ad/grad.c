/*
 * ad/grad.c — reverse mode. With AD_CREATE_GRAPH the backward pass is
 * recorded with ordinary ops (each op's rule in its own file), so its result
 * can be differentiated again, to any order. Without it the sweep is
 * numeric: one plain adjoint array per node reached (1×1 adjoints in the
 * sweep buffer, larger ones in the scratch arena, both under the byte cap
 * and released after the sweep), updated in place by each op's vjp kernel;
 * no node is recorded except the gradients ad_grad returns. An op without a
 * kernel falls back to its recorded rule, whose nodes are rewound at once.
 */
#include "internal.h"

#include <math.h>
#include <string.h>

/* Validates the arguments of ad_grad and returns the lowest wrt index. */
static int check_args(ad_tape *t, ad_var y, int n, const ad_var *wrt, const void *out,
                      int32_t *lo)
{
    const ad_node *yn = ad__arg_raw(t, "grad", y); /* shapes only: y's value is not needed */
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
        if (!ad__arg_raw(t, "grad", wrt[k]))
            return 0;
        if (wrt[k].id < *lo)
            *lo = wrt[k].id;
    }
    return 1;
}

/* reach[i − lo] ≠ 0 when node i depends differentiably on some wrt node:
 * 2 for the wrt nodes themselves, 1 for the others. */
static void mark_reach(const ad_tape *t, int32_t lo, int32_t hi, int n, const ad_var *wrt,
                       unsigned char *reach)
{
    memset(reach, 0, (size_t)(hi - lo + 1));
    for (int k = 0; k < n; k++)
        if (wrt[k].id <= hi)
            reach[wrt[k].id - lo] = 2;
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

/* ------------------------------------------------------- numeric sweep */

/* State of a numeric sweep over nodes lo..Y: adj[i − lo] is node i's
 * adjoint (NULL = zero, no contribution yet), pointing at slot[i − lo] for
 * a 1×1 node and into the scratch arena otherwise. */
typedef struct nsweep {
    int32_t lo;
    double **adj;
    double *slot;
    const unsigned char *reach;
    /* adjoints already swept (not of a wrt node), for reuse by size: up to
     * NFREE sizes, each a list linked through the buffers' first bytes */
    struct {
        size_t n;
        double *head;
    } fl[8];
    int nfl;
} nsweep;

enum { NFREE = 8 };

/* A swept adjoint of n > 1 doubles back to its size's free list (dropped
 * when NFREE other sizes are listed: the arena reclaims it after the
 * sweep). */
static void release_adj(nsweep *s, double *v, size_t n)
{
    int k = 0;
    while (k < s->nfl && s->fl[k].n != n)
        k++;
    if (k == s->nfl) {
        if (k == NFREE)
            return;
        s->fl[s->nfl++].n = n, s->fl[k].head = NULL;
    }
    memcpy(v, &s->fl[k].head, sizeof(double *));
    s->fl[k].head = v;
}

/* A listed buffer of n doubles, or NULL. */
static double *reuse_adj(nsweep *s, size_t n)
{
    for (int k = 0; k < s->nfl; k++)
        if (s->fl[k].n == n && s->fl[k].head) {
            double *v = s->fl[k].head;
            memcpy(&s->fl[k].head, v, sizeof(double *));
            return v;
        }
    return NULL;
}

/* Node p's adjoint accumulator, zeroed on first use; NULL after AD_ENOMEM. */
static double *acc_of(ad_tape *t, nsweep *s, int32_t p)
{
    double **a = &s->adj[p - s->lo];
    if (*a)
        return *a;
    size_t n = ad__size(&t->nodes[p]);
    double *v = n == 1 ? &s->slot[p - s->lo] : reuse_adj(s, n);
    if (!v)
        v = ad__scratch_adj(t, n * sizeof(double));
    if (!v)
        return NULL;
    memset(v, 0, n * sizeof(double));
    return *a = v;
}

/* The fallback for an op without a numeric kernel: its recorded rule on g
 * (aliased as a constant), the contributions added into acc, and the nodes
 * it recorded rewound away. nd is a copy of node i. */
static void vjp_recorded(ad_tape *t, const ad_node *nd, int32_t i, const double *g,
                         const int need[3], double *const acc[3])
{
    ad_mark m = ad_tape_mark(t);
    t->nograd++;
    int32_t gi = ad__push_alias(t, AD_OP_CONST, nd->rows, nd->cols, 0, NULL, g);
    ad_var out[3] = {AD_NONE, AD_NONE, AD_NONE};
    if (gi >= 0)
        ad__def(nd->op)->bwd(t, nd, ad__var(i), ad__var(gi), need, out);
    for (int k = 0; k < nd->np && t->status == AD_OK; k++) {
        if (!acc[k] || !ad_ok(out[k]))
            continue;
        ad__force(t, out[k].id); /* the rule may have recorded lazily (ad_tape_set_lazy) */
        const ad_node *pn = &t->nodes[nd->par[k]], *cn = &t->nodes[out[k].id];
        if (cn->rows != pn->rows || cn->cols != pn->cols) {
            ad__fail(t, AD_ESHAPE, "grad: backward of '%s' gave %dx%d for a parent of %dx%d",
                     ad__opname(nd->op), cn->rows, cn->cols, pn->rows, pn->cols);
            break;
        }
        size_t sz = ad__size(pn);
        for (size_t q = 0; q < sz; q++)
            acc[k][q] += cn->val[q];
    }
    t->nograd--;
    ad_tape_rewind(t, m);
}

/* Anomaly mode: the adjoints a kernel just updated must be finite. */
static void check_adjoints(ad_tape *t, int32_t i, double *const acc[3])
{
    const ad_node *nd = &t->nodes[i];
    for (int k = 0; k < nd->np && t->status == AD_OK; k++) {
        if (!acc[k])
            continue;
        size_t sz = ad__size(&t->nodes[nd->par[k]]);
        for (size_t q = 0; q < sz; q++)
            if (!isfinite(acc[k][q])) {
                ad__fail(t, AD_EANOMALY,
                         "anomaly: backward of op '%s' (node %d, %dx%d) gave %g at element %zu "
                         "of the adjoint of its parent %d (node %d)",
                         ad__opname(nd->op), (int)i, nd->rows, nd->cols, acc[k][q], q, k,
                         (int)nd->par[k]);
                return;
            }
    }
}

/* A 1×1 node of add, sub, mul, affine or square whose parents are 1×1
 * (AD_NF_SCALAR): its kernel's arithmetic inline (the same expressions, in
 * the same order, so the same bits as vjp_add, vjp_muldiv and the unary
 * kernels), saving their calls and loops on scalar code. A parent's node
 * is read only for its value (mul, square). Returns 0 for any other node. */
static int vjp_scalar(const ad_tape *t, const ad_node *nd, double g, double *const acc[3])
{
    if (!(nd->flags & AD_NF_SCALAR))
        return 0;
    switch (nd->op) {
    case AD_OP_ADD:
        if (acc[0])
            acc[0][0] += g;
        if (acc[1])
            acc[1][0] += g;
        return 1;
    case AD_OP_SUB:
        if (acc[0])
            acc[0][0] += g;
        if (acc[1])
            acc[1][0] -= g;
        return 1;
    case AD_OP_MUL: /* the guarded product ḡ·other (ad__live) */
        if (acc[0])
            acc[0][0] += g == 0.0 ? 0.0 : g * t->nodes[nd->par[1]].val[0];
        if (acc[1])
            acc[1][0] += g == 0.0 ? 0.0 : g * t->nodes[nd->par[0]].val[0];
        return 1;
    case AD_OP_AFFINE:
        acc[0][0] += g == 0.0 ? 0.0 : g * nd->prm[0];
        return 1;
    case AD_OP_SQUARE:
        acc[0][0] += g == 0.0 ? 0.0 : g * (2.0 * t->nodes[nd->par[0]].val[0]);
        return 1;
    default:
        return 0;
    }
}

/* Node p's adjoint when p is 1×1 and wants one (NULL otherwise): acc_of
 * without its size lookup and memset. */
static inline double *scalar_acc(nsweep *s, int32_t p)
{
    if (p < s->lo || !s->reach[p - s->lo])
        return NULL;
    double **a = &s->adj[p - s->lo];
    if (!*a) {
        s->slot[p - s->lo] = 0.0;
        *a = &s->slot[p - s->lo];
    }
    return *a;
}

/* The sweep step of a computed 1×1 add, sub, mul, affine or square with
 * 1×1 parents (scalar code's bulk), without the general step's table
 * lookups and loops. Returns 0 for any other node. */
static int sweep_scalar(const ad_tape *t, nsweep *s, const ad_node *nd, double g)
{
    int op = nd->op;
    if (!(nd->flags & AD_NF_SCALAR) || (op != AD_OP_ADD && op != AD_OP_SUB && op != AD_OP_MUL &&
                                         op != AD_OP_AFFINE && op != AD_OP_SQUARE))
        return 0;
    double *acc[3] = {scalar_acc(s, nd->par[0]), nd->np > 1 ? scalar_acc(s, nd->par[1]) : NULL,
                      NULL};
    if (acc[0] || acc[1])
        vjp_scalar(t, nd, g, acc);
    return 1;
}

/* One step of the numeric sweep: node i (a copy of the pointer nd, adjoint
 * g) adds its contributions to its parents' adjoints. The kernel's
 * temporaries are dropped at once. 0 after an allocation failure. */
static int sweep_step(ad_tape *t, nsweep *s, int32_t i, const ad_node *nd, const double *g)
{
    const ad_opdef *def = ad__def(nd->op);
    if (!def->bwd || (nd->flags & AD_NF_NOGRAD))
        return 1;
    int need[3] = {0, 0, 0}, any = 0;
    for (int k = 0; k < nd->np; k++) {
        need[k] = !((def->nodiff >> k) & 1) && nd->par[k] >= s->lo && s->reach[nd->par[k] - s->lo];
        any |= need[k];
    }
    if (!any)
        return 1;
    double *acc[3] = {NULL, NULL, NULL};
    for (int k = 0; k < nd->np; k++)
        if (need[k] && !(acc[k] = acc_of(t, s, nd->par[k])))
            return 0;
    if (nd->flags & AD_NF_LAZY) { /* else nothing it reads is deferred */
        int active[3] = {acc[0] != NULL, acc[1] != NULL, acc[2] != NULL};
        ad__force_reads(t, i, active);
    }
    ad_scratch_mark m = ad__scratch_mark(t);
    if (def->vjp && !t->vjp_off) {
        if (!vjp_scalar(t, nd, g[0], acc))
            def->vjp(t, nd, g, acc);
    } else {
        ad_node copy = *nd; /* the node table may move while the rule records */
        vjp_recorded(t, &copy, i, g, need, acc);
    }
    if (t->status == AD_OK)
        ad__scratch_rewind(t, m);
    if (t->anomaly)
        check_adjoints(t, i, acc);
    return 1;
}

/* The numeric reverse sweep from Y down to s->lo. A swept node's adjoint
 * is not read again unless the node is a wrt (the outputs): larger ones go
 * back to the free lists, so that a long recording (an unrolled optimizer)
 * needs a few live adjoints at a time, not one per node. */
static void sweep_numeric(ad_tape *t, int32_t Y, nsweep *s)
{
    for (int32_t i = Y; i >= s->lo && t->status == AD_OK; i--) {
        double *g = s->adj[i - s->lo];
        if (!g)
            continue;
        const ad_node *nd = &t->nodes[i];
        if (nd->rows == 1 && nd->cols == 1 && !(nd->flags & (AD_NF_NOGRAD | AD_NF_LAZY)) &&
            !t->vjp_off && !t->anomaly && sweep_scalar(t, s, nd, g[0]))
            continue;
        if (!sweep_step(t, s, i, nd, g))
            return;
        size_t n = ad__size(&t->nodes[i]);
        if (n > 1 && s->reach[i - s->lo] != 2) {
            release_adj(s, g, n);
            s->adj[i - s->lo] = NULL;
        }
    }
}

/* A constant r×c holding src (zeros when src is NULL), not checked for
 * NaN/Inf: a gradient may legitimately hold them outside anomaly mode. */
static ad_var const_copy(ad_tape *t, int r, int c, const double *src)
{
    int32_t i = ad__push(t, AD_OP_CONST, r, c, 0, NULL);
    if (i < 0)
        return AD_NONE;
    ad_node *nd = ad__node(t, i);
    nd->flags |= AD_NF_NOGRAD;
    size_t sz = (size_t)r * (size_t)c * sizeof(double);
    src ? memcpy(nd->val, src, sz) : memset(nd->val, 0, sz);
    return ad__var(i);
}

/* Reverse mode without AD_CREATE_GRAPH: the gradients go into out[k] (when
 * out and out[k] are non-NULL) or become constants grads[k] (when grads). */
static ad_status grad_numeric(ad_tape *t, ad_var y, int n, const ad_var *wrt,
                              double *const *out, ad_var *grads)
{
    int32_t lo;
    if (!check_args(t, y, n, wrt, out ? (const void *)out : (const void *)grads, &lo))
        return t->status;
    int32_t Y = y.id;
    nsweep s = {lo, NULL, NULL, NULL, {{0, NULL}}, 0};
    ad__scratch_reset(t);
    if (lo <= Y) {
        size_t cnt = (size_t)(Y - lo + 1);
        unsigned char *buf = ad__work(t, cnt * (sizeof(double *) + sizeof(double) + 1));
        if (!buf)
            return t->status;
        s.adj = (double **)buf;
        s.slot = (double *)(buf + cnt * sizeof(double *));
        unsigned char *reach = buf + cnt * (sizeof(double *) + sizeof(double));
        s.reach = reach;
        mark_reach(t, lo, Y, n, wrt, reach);
        memset(s.adj, 0, cnt * sizeof(double *));
        if (reach[Y - lo]) {
            s.slot[Y - lo] = 1.0;
            s.adj[Y - lo] = &s.slot[Y - lo];
        }
        sweep_numeric(t, Y, &s);
    }
    for (int k = 0; k < n && t->status == AD_OK; k++) {
        const double *src = s.adj && wrt[k].id <= Y ? s.adj[wrt[k].id - lo] : NULL;
        const ad_node *w = &t->nodes[wrt[k].id];
        if (grads) {
            grads[k] = const_copy(t, w->rows, w->cols, src);
        } else if (out[k]) {
            size_t sz = ad__size(w) * sizeof(double);
            src ? memcpy(out[k], src, sz) : memset(out[k], 0, sz);
        }
    }
    ad__scratch_reset(t); /* the adjoints are copied out: `bytes` drops back */
    return t->status;
}

/* ------------------------------------------------------------- ad_grad */

ad_status ad_grad(ad_tape *t, ad_var y, int n, const ad_var *wrt, ad_var *grads, unsigned flags)
{
    int32_t lo;
    if (!t)
        return AD_EINVAL;
    if (!(flags & AD_CREATE_GRAPH)) {
        if (grads && n > 0)
            for (int k = 0; k < n; k++)
                grads[k] = AD_NONE;
        return grad_numeric(t, y, n, wrt, NULL, grads);
    }
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
        if (reach[Y - lo])
            adj[Y - lo] = ad_scalar(t, 1.0).id;
        sweep(t, lo, Y, reach, adj);
        for (int k = 0; k < n && t->status == AD_OK; k++)
            if (wrt[k].id <= Y && adj[wrt[k].id - lo] >= 0)
                grads[k] = ad__var(adj[wrt[k].id - lo]);
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
    ad_status s = grad_numeric(t, y, n, wrt, out, NULL);
    ad_tape_rewind(t, m); /* nothing to drop unless a fallback rule failed midway */
    return s;
}
