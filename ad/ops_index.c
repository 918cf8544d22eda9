/*
 * ad/ops_index.c — gather/scatter_add (flat indices), slice/embed (blocks),
 * concat and reshape. Each op's adjoint is another op of this file.
 */
#include "internal.h"

#include <string.h>

/* ------------------------------------------------------ gather / scatter */

/* Copies n indices into the arena after checking them against size. */
static int *copy_indices(ad_tape *t, const char *name, const int *idx, size_t n, size_t size)
{
    if (!idx) {
        ad__fail(t, AD_EINVAL, "%s: index array is NULL", name);
        return NULL;
    }
    for (size_t k = 0; k < n; k++)
        if (idx[k] < 0 || (size_t)idx[k] >= size) {
            ad__fail(t, AD_EINVAL, "%s: index %d at position %zu is outside [0, %zu)", name,
                     idx[k], k, size);
            return NULL;
        }
    int *cp = ad__alloc(t, n * sizeof(int));
    if (cp)
        memcpy(cp, idx, n * sizeof(int));
    return cp;
}

static void gather_kernel(const double *x, const int *idx, size_t n, double *y)
{
    for (size_t k = 0; k < n; k++)
        y[k] = x[idx[k]];
}

static void scatter_kernel(const double *x, const int *idx, size_t n, size_t size, double *y)
{
    memset(y, 0, size * sizeof(double));
    for (size_t k = 0; k < n; k++)
        y[idx[k]] += x[k];
}

ad_var ad_gather(ad_tape *t, ad_var xv, const int *idx, int r, int c)
{
    const ad_node *x = ad__arg(t, "gather", xv);
    if (!x)
        return AD_NONE;
    if (r <= 0 || c <= 0)
        return ad__fail(t, AD_ESHAPE, "gather: invalid output shape %dx%d from %dx%d", r, c,
                        x->rows, x->cols);
    size_t n = (size_t)r * c, size = ad__size(x);
    const double *xs = x->val;
    int *cp = copy_indices(t, "gather", idx, n, size);
    if (!cp)
        return AD_NONE;
    int32_t i = ad__push(t, AD_OP_GATHER, r, c, 1, &xv.id);
    if (i < 0)
        return AD_NONE;
    ad_node *y = ad__node(t, i);
    y->aux = cp;
    gather_kernel(xs, cp, n, y->val);
    return ad__done(t, i);
}

ad_var ad_gather_rows(ad_tape *t, ad_var xv, const int *rows, int n)
{
    const ad_node *x = ad__arg(t, "gather_rows", xv);
    if (!x)
        return AD_NONE;
    if (n <= 0 || !rows)
        return ad__fail(t, AD_EINVAL, "gather_rows: need n > 0 row indices (got %d) for %dx%d", n,
                        x->rows, x->cols);
    int R = x->rows, c = x->cols;
    int *idx = ad__alloc(t, (size_t)n * c * sizeof(int));
    if (!idx)
        return AD_NONE;
    for (int k = 0; k < n; k++) {
        if (rows[k] < 0 || rows[k] >= R)
            return ad__fail(t, AD_EINVAL, "gather_rows: row %d at position %d is outside [0, %d)",
                            rows[k], k, R);
        for (int j = 0; j < c; j++)
            idx[(size_t)k * c + j] = rows[k] * c + j;
    }
    return ad_gather(t, xv, idx, n, c);
}

ad_var ad_scatter_add(ad_tape *t, ad_var xv, const int *idx, int r, int c)
{
    const ad_node *x = ad__arg(t, "scatter_add", xv);
    if (!x)
        return AD_NONE;
    if (r <= 0 || c <= 0)
        return ad__fail(t, AD_ESHAPE, "scatter_add: invalid output shape %dx%d", r, c);
    size_t n = ad__size(x), size = (size_t)r * c;
    const double *xs = x->val;
    int *cp = copy_indices(t, "scatter_add", idx, n, size);
    if (!cp)
        return AD_NONE;
    int32_t i = ad__push(t, AD_OP_SCATTER, r, c, 1, &xv.id);
    if (i < 0)
        return AD_NONE;
    ad_node *y = ad__node(t, i);
    y->aux = cp;
    scatter_kernel(xs, cp, n, size, y->val);
    return ad__done(t, i);
}

static void jvp_gather(const ad_tape *t, const ad_node *nd, const double *const tin[3],
                       double *tout)
{
    gather_kernel(tin[0], nd->aux, ad__size(nd), tout);
}

static void bwd_gather(ad_tape *t, const ad_node *nd, ad_var y, ad_var g, const int need[3],
                       ad_var out[3])
{
    const ad_node *x = ad__node(t, nd->par[0]);
    if (need[0])
        out[0] = ad_scatter_add(t, g, nd->aux, x->rows, x->cols);
}

static void jvp_scatter(const ad_tape *t, const ad_node *nd, const double *const tin[3],
                        double *tout)
{
    scatter_kernel(tin[0], nd->aux, ad__size(ad__node(t, nd->par[0])), ad__size(nd), tout);
}

static void bwd_scatter(ad_tape *t, const ad_node *nd, ad_var y, ad_var g, const int need[3],
                        ad_var out[3])
{
    const ad_node *x = ad__node(t, nd->par[0]);
    if (need[0])
        out[0] = ad_gather(t, g, nd->aux, x->rows, x->cols);
}

/* --------------------------------------------------------- slice / embed */

/* Copies an nr×nc block between matrices with row lengths sc and dc. */
static void block_copy(const double *src, int sc, double *dst, int dc, int nr, int nc)
{
    for (int i = 0; i < nr; i++)
        memcpy(dst + (size_t)i * dc, src + (size_t)i * sc, (size_t)nc * sizeof(double));
}

ad_var ad_slice(ad_tape *t, ad_var xv, int r0, int nr, int c0, int nc)
{
    const ad_node *x = ad__arg(t, "slice", xv);
    if (!x)
        return AD_NONE;
    if (r0 < 0 || c0 < 0 || nr <= 0 || nc <= 0 || r0 > x->rows - nr || c0 > x->cols - nc)
        return ad__fail(t, AD_ESHAPE, "slice: block [%d:+%d, %d:+%d] is outside %dx%d", r0, nr,
                        c0, nc, x->rows, x->cols);
    int xc = x->cols;
    const double *xs = x->val;
    int32_t i = ad__push(t, AD_OP_SLICE, nr, nc, 1, &xv.id);
    if (i < 0)
        return AD_NONE;
    ad_node *y = ad__node(t, i);
    y->iprm[0] = r0;
    y->iprm[1] = c0;
    block_copy(xs + (size_t)r0 * xc + c0, xc, y->val, nc, nr, nc);
    return ad__done(t, i);
}

ad_var ad_embed(ad_tape *t, ad_var xv, int r, int c, int r0, int c0)
{
    const ad_node *x = ad__arg(t, "embed", xv);
    if (!x)
        return AD_NONE;
    if (r0 < 0 || c0 < 0 || r0 > (long long)r - x->rows || c0 > (long long)c - x->cols)
        return ad__fail(t, AD_ESHAPE, "embed: %dx%d at (%d, %d) does not fit in %dx%d", x->rows,
                        x->cols, r0, c0, r, c);
    int xr = x->rows, xc = x->cols;
    const double *xs = x->val;
    int32_t i = ad__push(t, AD_OP_EMBED, r, c, 1, &xv.id);
    if (i < 0)
        return AD_NONE;
    ad_node *y = ad__node(t, i);
    y->iprm[0] = r0;
    y->iprm[1] = c0;
    memset(y->val, 0, (size_t)r * c * sizeof(double));
    block_copy(xs, xc, y->val + (size_t)r0 * c + c0, c, xr, xc);
    return ad__done(t, i);
}

static void jvp_slice(const ad_tape *t, const ad_node *nd, const double *const tin[3],
                      double *tout)
{
    int xc = ad__node(t, nd->par[0])->cols;
    block_copy(tin[0] + (size_t)nd->iprm[0] * xc + nd->iprm[1], xc, tout, nd->cols, nd->rows,
               nd->cols);
}

static void bwd_slice(ad_tape *t, const ad_node *nd, ad_var y, ad_var g, const int need[3],
                      ad_var out[3])
{
    const ad_node *x = ad__node(t, nd->par[0]);
    if (need[0])
        out[0] = ad_embed(t, g, x->rows, x->cols, nd->iprm[0], nd->iprm[1]);
}

static void jvp_embed(const ad_tape *t, const ad_node *nd, const double *const tin[3],
                      double *tout)
{
    const ad_node *x = ad__node(t, nd->par[0]);
    memset(tout, 0, ad__size(nd) * sizeof(double));
    block_copy(tin[0], x->cols, tout + (size_t)nd->iprm[0] * nd->cols + nd->iprm[1], nd->cols,
               x->rows, x->cols);
}

static void bwd_embed(ad_tape *t, const ad_node *nd, ad_var y, ad_var g, const int need[3],
                      ad_var out[3])
{
    const ad_node *x = ad__node(t, nd->par[0]);
    if (need[0])
        out[0] = ad_slice(t, g, nd->iprm[0], x->rows, nd->iprm[1], x->cols);
}

/* ---------------------------------------------------------------- concat */

/* Writes a and b side by side (axis 1) or stacked (axis 0) into y. NULL
 * inputs are zeros. */
static void concat_kernel(const double *a, int ar, int ac, const double *b, int br, int bc,
                          int axis, double *y)
{
    int yc = axis ? ac + bc : ac;
    if (axis == 0) {
        size_t na = (size_t)ar * ac, nb = (size_t)br * bc;
        a ? memcpy(y, a, na * sizeof(double)) : memset(y, 0, na * sizeof(double));
        b ? memcpy(y + na, b, nb * sizeof(double)) : memset(y + na, 0, nb * sizeof(double));
        return;
    }
    for (int i = 0; i < ar; i++) {
        double *row = y + (size_t)i * yc;
        a ? memcpy(row, a + (size_t)i * ac, ac * sizeof(double)) : memset(row, 0, ac * sizeof(double));
        b ? memcpy(row + ac, b + (size_t)i * bc, bc * sizeof(double))
          : memset(row + ac, 0, bc * sizeof(double));
    }
}

ad_var ad_concat(ad_tape *t, ad_var av, ad_var bv, int axis)
{
    const ad_node *a = ad__arg(t, "concat", av), *b = ad__arg(t, "concat", bv);
    if (!a || !b)
        return AD_NONE;
    if ((axis != 0 && axis != 1) || (axis == 0 && a->cols != b->cols) ||
        (axis == 1 && a->rows != b->rows))
        return ad__fail(t, AD_ESHAPE, "concat: cannot join %dx%d and %dx%d along axis %d",
                        a->rows, a->cols, b->rows, b->cols, axis);
    int ar = a->rows, ac = a->cols, br = b->rows, bc = b->cols;
    const double *ax = a->val, *bx = b->val;
    int32_t par[2] = {av.id, bv.id};
    int32_t i = ad__push(t, AD_OP_CONCAT, axis ? ar : ar + br, axis ? ac + bc : ac, 2, par);
    if (i < 0)
        return AD_NONE;
    ad_node *y = ad__node(t, i);
    y->iprm[0] = axis;
    concat_kernel(ax, ar, ac, bx, br, bc, axis, y->val);
    return ad__done(t, i);
}

static void jvp_concat(const ad_tape *t, const ad_node *nd, const double *const tin[3],
                       double *tout)
{
    const ad_node *a = ad__node(t, nd->par[0]), *b = ad__node(t, nd->par[1]);
    concat_kernel(tin[0], a->rows, a->cols, tin[1], b->rows, b->cols, nd->iprm[0], tout);
}

static void bwd_concat(ad_tape *t, const ad_node *nd, ad_var y, ad_var g, const int need[3],
                       ad_var out[3])
{
    const ad_node *a = ad__node(t, nd->par[0]), *b = ad__node(t, nd->par[1]);
    int ar = a->rows, ac = a->cols, br = b->rows, bc = b->cols, axis = nd->iprm[0];
    if (need[0])
        out[0] = ad_slice(t, g, 0, ar, 0, ac);
    if (need[1])
        out[1] = axis ? ad_slice(t, g, 0, br, ac, bc) : ad_slice(t, g, ar, br, 0, bc);
}

/* --------------------------------------------------------------- reshape */

ad_var ad_reshape(ad_tape *t, ad_var xv, int r, int c)
{
    const ad_node *x = ad__arg(t, "reshape", xv);
    if (!x)
        return AD_NONE;
    if (r <= 0 || c <= 0 || (size_t)r * c != ad__size(x))
        return ad__fail(t, AD_ESHAPE, "reshape: cannot view %dx%d as %dx%d", x->rows, x->cols, r,
                        c);
    int32_t i = ad__push_alias(t, AD_OP_RESHAPE, r, c, 1, &xv.id, x->val);
    return ad__done(t, i);
}

static void jvp_reshape(const ad_tape *t, const ad_node *nd, const double *const tin[3],
                        double *tout)
{
    memcpy(tout, tin[0], ad__size(nd) * sizeof(double));
}

static void bwd_reshape(ad_tape *t, const ad_node *nd, ad_var y, ad_var g, const int need[3],
                        ad_var out[3])
{
    const ad_node *x = ad__node(t, nd->par[0]);
    if (need[0])
        out[0] = ad_reshape(t, g, x->rows, x->cols);
}

/* ---- numeric adjoints (see ad_vjp_fn) ---- */

/* Adds an nr×nc block between matrices with row lengths sc and dc. */
static void block_add(const double *src, int sc, double *dst, int dc, int nr, int nc)
{
    for (int i = 0; i < nr; i++) {
        const double *s = src + (size_t)i * sc;
        double *d = dst + (size_t)i * dc;
        for (int j = 0; j < nc; j++)
            d[j] += s[j];
    }
}

/* gather: x̄[idx[k]] += ḡ_k. The recorded rule scatters into zeros first
 * and adds the result: the same sums, up to where x̄ already held a value. */
static void vjp_gather(ad_tape *t, const ad_node *nd, const double *g, double *const acc[3])
{
    const ad_node *x = ad__node(t, nd->par[0]);
    double *p = ad__scratch_adj(t, ad__size(x) * sizeof(double));
    if (!p)
        return;
    scatter_kernel(g, nd->aux, ad__size(nd), ad__size(x), p); /* the recorded order exactly */
    size_t n = ad__size(x);
    for (size_t k = 0; k < n; k++)
        acc[0][k] += p[k];
}

/* scatter_add: x̄_k += ḡ[idx[k]]. */
static void vjp_scatter(ad_tape *t, const ad_node *nd, const double *g, double *const acc[3])
{
    const int *idx = nd->aux;
    size_t n = ad__size(ad__node(t, nd->par[0]));
    for (size_t k = 0; k < n; k++)
        acc[0][k] += g[idx[k]];
}

/* slice: x̄'s block += ḡ. */
static void vjp_slice(ad_tape *t, const ad_node *nd, const double *g, double *const acc[3])
{
    int xc = ad__node(t, nd->par[0])->cols;
    block_add(g, nd->cols, acc[0] + (size_t)nd->iprm[0] * xc + nd->iprm[1], xc, nd->rows,
              nd->cols);
}

/* embed: x̄ += ḡ's block. */
static void vjp_embed(ad_tape *t, const ad_node *nd, const double *g, double *const acc[3])
{
    const ad_node *x = ad__node(t, nd->par[0]);
    block_add(g + (size_t)nd->iprm[0] * nd->cols + nd->iprm[1], nd->cols, acc[0], x->cols,
              x->rows, x->cols);
}

/* concat: ā += ḡ's first block, b̄ += its second. */
static void vjp_concat(ad_tape *t, const ad_node *nd, const double *g, double *const acc[3])
{
    const ad_node *a = ad__node(t, nd->par[0]), *b = ad__node(t, nd->par[1]);
    int axis = nd->iprm[0], yc = nd->cols;
    if (acc[0])
        block_add(g, yc, acc[0], a->cols, a->rows, a->cols);
    if (acc[1])
        block_add(axis ? g + a->cols : g + (size_t)a->rows * yc, yc, acc[1], b->cols, b->rows,
                  b->cols);
}

/* reshape: x̄ += ḡ (the same flat layout). */
static void vjp_reshape(ad_tape *t, const ad_node *nd, const double *g, double *const acc[3])
{
    size_t n = ad__size(nd);
    for (size_t k = 0; k < n; k++)
        acc[0][k] += g[k];
}

const ad_opdef ad_def_gather = {jvp_gather, bwd_gather, vjp_gather, 0, NULL};
const ad_opdef ad_def_scatter_add = {jvp_scatter, bwd_scatter, vjp_scatter, 0, NULL};
const ad_opdef ad_def_slice = {jvp_slice, bwd_slice, vjp_slice, 0, NULL};
const ad_opdef ad_def_embed = {jvp_embed, bwd_embed, vjp_embed, 0, NULL};
const ad_opdef ad_def_concat = {jvp_concat, bwd_concat, vjp_concat, 0, NULL};
const ad_opdef ad_def_reshape = {jvp_reshape, bwd_reshape, vjp_reshape, 0, NULL};
