/*
 * ad/values.c — leaves, constants and value accessors; the op table.
 */
#include "internal.h"

#include <math.h>
#include <string.h>

/* Leaves and constants have no parents: nothing to propagate. */
const ad_opdef ad_def_leaf = {NULL, NULL, NULL, 0, NULL};
const ad_opdef ad_def_const = {NULL, NULL, NULL, 0, NULL};

const ad_opdef *const ad__op_defs[AD_OP_COUNT] = {
#define AD_X_DEF(E, n) [AD_OP_##E] = &ad_def_##n,
    AD_OP_LIST(AD_X_DEF)
#undef AD_X_DEF
};
static const char *const op_names[] = {
#define AD_X_NAME(E, n) [AD_OP_##E] = #n,
    AD_OP_LIST(AD_X_NAME)
#undef AD_X_NAME
};
_Static_assert(sizeof op_names / sizeof op_names[0] == AD_OP_COUNT, "name table out of step");

const char *ad__opname(int op) { return (op >= 0 && op < AD_OP_COUNT) ? op_names[op] : "?"; }

static int bad_dims(ad_tape *t, const char *name, int r, int c)
{
    if (r > 0 && c > 0 && (int64_t)r * c <= INT32_MAX)
        return 0;
    ad__fail(t, AD_ESHAPE, "%s: invalid shape %dx%d", name, r, c);
    return 1;
}

/* First non-finite element of x, or -1. */
static long first_nonfinite(const double *x, size_t n)
{
    for (size_t k = 0; k < n; k++)
        if (!isfinite(x[k]))
            return (long)k;
    return -1;
}

static ad_var copy_in(ad_tape *t, int op, const char *name, int r, int c, const double *data)
{
    if (!t || t->status != AD_OK || bad_dims(t, name, r, c))
        return AD_NONE;
    size_t n = (size_t)r * c;
    if (data) {
        long k = first_nonfinite(data, n);
        if (k >= 0)
            return ad__fail(t, AD_EINVAL, "%s: input (%dx%d) holds %g at element %ld", name, r, c,
                            data[k], k);
    }
    int32_t i = ad__push(t, op, r, c, 0, NULL);
    if (i < 0)
        return AD_NONE;
    ad_node *nd = ad__node(t, i);
    if (data)
        memcpy(nd->val, data, n * sizeof(double));
    else
        memset(nd->val, 0, n * sizeof(double));
    if (op == AD_OP_CONST)
        nd->flags |= AD_NF_NOGRAD;
    return ad__var(i);
}

ad_var ad_leaf(ad_tape *t, int r, int c, const double *data)
{
    return copy_in(t, AD_OP_LEAF, "leaf", r, c, data);
}

ad_var ad_const(ad_tape *t, int r, int c, const double *data)
{
    return copy_in(t, AD_OP_CONST, "const", r, c, data);
}

ad_var ad__zeros(ad_tape *t, int r, int c) { return ad_const(t, r, c, NULL); }

ad_var ad_scalar(ad_tape *t, double x)
{
    if (!t || t->status != AD_OK)
        return AD_NONE;
    if (!isfinite(x))
        return ad__fail(t, AD_EINVAL, "scalar: value %g is not finite", x);
    return copy_in(t, AD_OP_CONST, "scalar", 1, 1, &x);
}

ad_var ad_const_ref(ad_tape *t, int r, int c, const double *data)
{
    if (!t || t->status != AD_OK || bad_dims(t, "const_ref", r, c))
        return AD_NONE;
    if (!data)
        return ad__fail(t, AD_EINVAL, "const_ref: data is NULL (%dx%d)", r, c);
    if (t->anomaly) {
        long k = first_nonfinite(data, (size_t)r * c);
        if (k >= 0)
            return ad__fail(t, AD_EINVAL, "const_ref: input (%dx%d) holds %g at element %ld", r,
                            c, data[k], k);
    }
    int32_t i = ad__push_alias(t, AD_OP_CONST, r, c, 0, NULL, data);
    if (i < 0)
        return AD_NONE;
    ad__node(t, i)->flags |= AD_NF_NOGRAD;
    return ad__var(i);
}

static const ad_node *peek(const ad_tape *t, ad_var v)
{
    return (t && v.id >= 0 && v.id < t->n) ? &t->nodes[v.id] : NULL;
}

int ad_rows(const ad_tape *t, ad_var v)
{
    const ad_node *nd = peek(t, v);
    return nd ? nd->rows : 0;
}

int ad_cols(const ad_tape *t, ad_var v)
{
    const ad_node *nd = peek(t, v);
    return nd ? nd->cols : 0;
}

/* A deferred value is computed on first read (lazy values, internal.h). */
const double *ad_value(const ad_tape *t, ad_var v)
{
    const ad_node *nd = peek(t, v);
    if (nd)
        ad__force(t, v.id);
    return nd ? nd->val : NULL;
}

double ad_scalar_value(const ad_tape *t, ad_var v)
{
    const ad_node *nd = peek(t, v);
    if (nd)
        ad__force(t, v.id);
    return nd ? nd->val[0] : NAN;
}
