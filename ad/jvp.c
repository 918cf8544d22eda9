/*
 * ad/jvp.c — forward mode (a tangent sweep over what was recorded) and the
 * shared second-order primitive H·v / cross(v).
 */
#include "internal.h"

#include <string.h>

static int jvp_args(ad_tape *t, int n_in, const ad_var *in, const double *const *tan_in,
                    int n_out, const ad_var *out, int32_t *lo, int32_t *hi)
{
    if (t->status != AD_OK)
        return 0;
    if (n_in <= 0 || n_out <= 0 || !in || !tan_in || !out) {
        ad__fail(t, AD_EINVAL, "jvp: need inputs, tangents and outputs (n_in %d, n_out %d)",
                 n_in, n_out);
        return 0;
    }
    *lo = INT32_MAX;
    *hi = -1;
    for (int k = 0; k < n_in; k++) {
        if (!ad__arg_raw(t, "jvp", in[k]))
            return 0;
        if (!tan_in[k]) {
            ad__fail(t, AD_EINVAL, "jvp: tangent of input %d is NULL", k);
            return 0;
        }
        *lo = in[k].id < *lo ? in[k].id : *lo;
    }
    for (int k = 0; k < n_out; k++) {
        if (!ad__arg_raw(t, "jvp", out[k]))
            return 0;
        *hi = out[k].id > *hi ? out[k].id : *hi;
    }
    return 1;
}

/* need[i − lo] = 1 when node i is an ancestor of some out[k] (or one
 * itself) through nodes that carry tangents: one pass from hi down to lo. */
static void mark_needed(const ad_tape *t, int32_t lo, int32_t hi, int n_out, const ad_var *out,
                        unsigned char *need)
{
    memset(need, 0, (size_t)(hi - lo + 1));
    for (int k = 0; k < n_out; k++)
        if (out[k].id >= lo)
            need[out[k].id - lo] = 1;
    for (int32_t i = hi; i >= lo; i--) {
        const ad_node *nd = &t->nodes[i];
        if (!need[i - lo] || !ad__def(nd->op)->jvp || (nd->flags & AD_NF_NOGRAD))
            continue;
        for (int k = 0; k < nd->np; k++)
            if (nd->par[k] >= lo)
                need[nd->par[k] - lo] = 1;
    }
}

/* Propagates tangents from lo to hi, only through nodes marked in need;
 * tan and need are indexed from lo. */
static void tangent_sweep(ad_tape *t, int32_t lo, int32_t hi, double **tan,
                          const unsigned char *need)
{
    for (int32_t i = lo; i <= hi && t->status == AD_OK; i++) {
        if (!need[i - lo])
            continue;
        const ad_node *nd = &t->nodes[i];
        const ad_opdef *def = ad__def(nd->op);
        if (tan[i - lo] || !def->jvp || (nd->flags & AD_NF_NOGRAD))
            continue;
        const double *tin[3] = {NULL, NULL, NULL};
        int any = 0;
        for (int k = 0; k < nd->np; k++)
            if (nd->par[k] >= lo && (tin[k] = tan[nd->par[k] - lo]))
                any = 1;
        if (!any)
            continue;
        double *tout = ad__scratch(t, ad__size(nd) * sizeof(double));
        if (!tout)
            return;
        if (nd->flags & AD_NF_LAZY) { /* else nothing it reads is deferred */
            int active[3] = {tin[0] != NULL, tin[1] != NULL, tin[2] != NULL};
            ad__force_reads(t, i, active);
        }
        def->jvp(t, nd, tin, tout);
        tan[i - lo] = tout;
    }
}

ad_status ad_jvp(ad_tape *t, int n_in, const ad_var *in, const double *const *tan_in,
                 int n_out, const ad_var *out, double *const *tan_out)
{
    int32_t lo, hi;
    if (!t)
        return AD_EINVAL;
    if (!jvp_args(t, n_in, in, tan_in, n_out, out, &lo, &hi))
        return t->status;
    if (hi < lo)
        hi = lo;
    size_t cnt = (size_t)(hi - lo + 1);
    double **tan = ad__work(t, cnt * (sizeof(double *) + 1));
    if (!tan)
        return t->status;
    unsigned char *need = (unsigned char *)(tan + cnt); /* after tan */
    memset(tan, 0, cnt * sizeof(double *));
    mark_needed(t, lo, hi, n_out, out, need);
    ad__scratch_reset(t);
    for (int k = 0; k < n_in; k++) {
        if (in[k].id > hi)
            continue;
        size_t sz = ad__size(&t->nodes[in[k].id]) * sizeof(double);
        double *cp = ad__scratch(t, sz);
        if (!cp)
            return t->status;
        memcpy(cp, tan_in[k], sz);
        tan[in[k].id - lo] = cp;
    }
    tangent_sweep(t, lo, hi, tan, need);
    for (int k = 0; k < n_out && t->status == AD_OK; k++) {
        if (!tan_out || !tan_out[k])
            continue;
        size_t sz = ad__size(&t->nodes[out[k].id]) * sizeof(double);
        const double *src = out[k].id >= lo ? tan[out[k].id - lo] : NULL;
        src ? memcpy(tan_out[k], src, sz) : memset(tan_out[k], 0, sz);
    }
    ad__scratch_reset(t); /* the tangents are copied out: `bytes` drops back */
    return t->status;
}

ad_status ad_hvp_prepare(ad_tape *t, ad_var G, ad_var theta, ad_var lambda, ad_hvp_mode mode,
                         ad_hvp_plan *plan)
{
    if (!t || !plan)
        return AD_EINVAL;
    if (mode != AD_HVP_FOR && mode != AD_HVP_ROR)
        return ad__failst(t, AD_EINVAL, "hvp: unknown mode %d", (int)mode);
    ad_var wrt[2] = {theta, lambda}, g[2] = {AD_NONE, AD_NONE};
    int n = ad_ok(lambda) ? 2 : 1;
    int lazy = mode == AD_HVP_FOR; /* a tangent sweep reads few values; ROR's reverse all */
    t->lazy += lazy;
    ad_status s = ad_grad(t, G, n, wrt, g, AD_CREATE_GRAPH);
    t->lazy -= lazy;
    *plan = (ad_hvp_plan){G, theta, lambda, g[0], g[1], mode};
    return s;
}

/* The requested outputs only (the sweep then skips what only the other one
 * needs): pairs (th, hv) and, with λ in the plan, (la, cross), each kept when
 * its buffer is non-NULL, into var/out; returns how many. */
static int requested(const ad_hvp_plan *p, ad_var th, ad_var la, double *hv, double *cross,
                     ad_var var[2], double *out[2])
{
    int n = 0;
    if (hv) {
        var[n] = th;
        out[n++] = hv;
    }
    if (cross && ad_ok(p->lambda)) {
        var[n] = la;
        out[n++] = cross;
    }
    return n;
}

/* Reverse-over-reverse: ∂/∂(θ, λ) of ⟨∇_θG, v⟩, for the requested outputs. */
static ad_status apply_ror(ad_tape *t, const ad_hvp_plan *p, const double *v, double *hv,
                           double *cross)
{
    ad_var wrt[2];
    double *out[2];
    int n = requested(p, p->theta, p->lambda, hv, cross, wrt, out);
    if (!n)
        return AD_OK;
    ad_mark m = ad_tape_mark(t);
    ad_var vv = ad_const(t, ad_rows(t, p->theta), ad_cols(t, p->theta), v);
    ad_var s = ad_dot(t, p->g_theta, vv);
    ad_status st = ad_grad_values(t, s, n, wrt, out);
    ad_tape_rewind(t, m);
    return st;
}

ad_status ad_hvp_apply(ad_tape *t, const ad_hvp_plan *p, const double *v, double *hv,
                       double *cross)
{
    if (!t || !p || !v)
        return AD_EINVAL;
    if (t->status != AD_OK)
        return t->status;
    if (!ad_ok(p->g_theta))
        return ad__failst(t, AD_EINVAL, "hvp: plan was not prepared");
    if (p->mode == AD_HVP_ROR)
        return apply_ror(t, p, v, hv, cross);
    /* the requested outputs' tangents alone (the cross of a model whose λ
     * enters only a regulariser skips the data) */
    ad_var out[2];
    double *tout[2];
    int n = requested(p, p->g_theta, p->g_lambda, hv, cross, out, tout);
    return n ? ad_jvp(t, 1, &p->theta, &v, n, out, tout) : AD_OK;
}

ad_status ad_hvp_cross(ad_tape *t, ad_var G, ad_var theta, ad_var lambda, const double *v,
                       double *hv, double *cross, ad_hvp_mode mode)
{
    if (!t)
        return AD_EINVAL;
    ad_mark m = ad_tape_mark(t);
    ad_hvp_plan plan;
    ad_status s = ad_hvp_prepare(t, G, theta, lambda, mode, &plan);
    if (s == AD_OK)
        s = ad_hvp_apply(t, &plan, v, hv, cross);
    ad_tape_rewind(t, m);
    return s;
}
