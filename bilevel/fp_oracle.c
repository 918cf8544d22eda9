/*
 * bilevel/fp_oracle.c — the oracles of a fixed-point problem on one ad
 * tape: g = θ − f, the loss, and at a recorded point the JVP ∂_θf·v
 * (ad_jvp, forward mode over the recording) and the VJP uᵀ∂_θf, uᵀ∂_λf
 * (ad_grad of ⟨f, u⟩, one reverse sweep).
 *
 * Tape layout: [f recorded at the point] [scratch]. The VJP records ⟨f, u⟩
 * and its backward after the point and rewinds to it, so the point stays
 * valid and nothing is allocated after warm-up.
 */
#include "bilevel/fp_internal.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct bl_fp_oracle {
    const bl_fp_problem *pb;
    ad_tape *t;
    ad_mark base;     /* the empty tape */
    ad_mark after;    /* end of the point's recording */
    int has_point;
    ad_var th, la, f; /* the point's leaves and f */
    bl_fp_counts c;
    size_t peak;
    bl_status err;
    char msg[256];
};

bl_status bl__fp_fail(bl_fp_oracle *o, bl_status st, const char *fmt, ...)
{
    if (st == BL_OK || !o || o->err != BL_OK)
        return st;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(o->msg, sizeof o->msg, fmt, ap);
    va_end(ap);
    o->err = st;
    return st;
}

double *bl__fp_alloc(bl_fp_oracle *o, const char *what, size_t n)
{
    double *x = calloc(n ? n : 1, sizeof *x);
    if (!x)
        bl__fp_fail(o, BL_ENOMEM, "%s: out of memory allocating %zu bytes", what,
                    n * sizeof *x);
    return x;
}

int bl__fp_finite(const double *x, int n)
{
    for (int i = 0; i < n; i++)
        if (!isfinite(x[i]))
            return 0;
    return 1;
}

bl_fp_oracle *bl_fp_oracle_new(const bl_fp_problem *pb, size_t max_tape_bytes)
{
    if (!pb || !pb->f || !pb->L || pb->p <= 0 || pb->m <= 0)
        return NULL;
    bl_fp_oracle *o = calloc(1, sizeof *o);
    ad_tape_opts opts = {max_tape_bytes, 0, 0};
    if (!o || !(o->t = ad_tape_new(&opts))) {
        free(o);
        return NULL;
    }
    o->pb = pb;
    o->base = ad_tape_mark(o->t);
    return o;
}

void bl_fp_oracle_free(bl_fp_oracle *o)
{
    if (!o)
        return;
    ad_tape_free(o->t);
    free(o);
}

const bl_fp_problem *bl_fp_oracle_problem(const bl_fp_oracle *o) { return o->pb; }
bl_status bl_fp_oracle_error(const bl_fp_oracle *o) { return o->err; }
const char *bl_fp_oracle_message(const bl_fp_oracle *o) { return o->msg; }
bl_fp_counts bl_fp_oracle_counts(const bl_fp_oracle *o) { return o->c; }
size_t bl_fp_oracle_peak_bytes(const bl_fp_oracle *o) { return o->peak; }

void bl_fp_oracle_clear_error(bl_fp_oracle *o)
{
    o->err = BL_OK;
    o->msg[0] = '\0';
}

void bl_fp_oracle_reset(bl_fp_oracle *o)
{
    memset(&o->c, 0, sizeof o->c);
    ad_tape_reset_peak(o->t);
    o->peak = ad_tape_stats(o->t).bytes;
}

static void note_peak(bl_fp_oracle *o)
{
    size_t p = ad_tape_stats(o->t).peak_bytes;
    if (p > o->peak)
        o->peak = p;
}

/* The ad failure of `what` as a bl status with the tape's message; the tape
 * is cleared so the oracle can be used again. */
static bl_status ad_failure(bl_fp_oracle *o, const char *what)
{
    ad_status as = ad_tape_status(o->t);
    bl_status st = bl__from_ad(as == AD_OK ? AD_EINVAL : as);
    bl__fp_fail(o, st, "fp %s: %s", what, as == AD_OK ? "recording failed" : ad_tape_message(o->t));
    ad_tape_clear_error(o->t);
    return st;
}

static bl_status check_input(bl_fp_oracle *o, const char *what, const char *name,
                             const double *x, int n)
{
    if (!x)
        return bl__fp_fail(o, BL_EINVAL, "fp %s: %s is NULL", what, name);
    for (int i = 0; i < n; i++)
        if (!isfinite(x[i]))
            return bl__fp_fail(o, BL_ENONFINITE, "fp %s: %s[%d] = %g is not finite", what, name,
                               i, x[i]);
    return BL_OK;
}

/* Records f at (θ, λ) as leaves after a rewind to the base; checks its shape. */
static bl_status record_f(bl_fp_oracle *o, const char *what, const double *theta,
                          const double *lambda)
{
    const bl_fp_problem *pb = o->pb;
    bl_status s = check_input(o, what, "theta", theta, pb->p);
    if (s == BL_OK)
        s = check_input(o, what, "lambda", lambda, pb->m);
    if (s != BL_OK)
        return s;
    o->has_point = 0;
    ad_tape_rewind(o->t, o->base);
    o->th = ad_leaf(o->t, pb->p, 1, theta);
    o->la = ad_leaf(o->t, pb->m, 1, lambda);
    o->f = pb->f(o->t, o->th, o->la, pb->ctx);
    o->c.f++;
    note_peak(o);
    if (ad_tape_status(o->t) != AD_OK || !ad_ok(o->f))
        return ad_failure(o, what);
    if (ad_rows(o->t, o->f) != pb->p || ad_cols(o->t, o->f) != 1)
        return bl__fp_fail(o, BL_ESHAPE, "fp %s: f is %dx%d, expected %dx1", what,
                           ad_rows(o->t, o->f), ad_cols(o->t, o->f), pb->p);
    const double *fv = ad_value(o->t, o->f);
    for (int i = 0; i < pb->p; i++)
        if (!isfinite(fv[i]))
            return bl__fp_fail(o, BL_ENONFINITE, "fp %s: f[%d] = %g is not finite", what, i,
                               fv[i]);
    return BL_OK;
}

bl_status bl_fp_oracle_g(bl_fp_oracle *o, const double *theta, const double *lambda, double *g,
                         double *fval)
{
    if (!g)
        return bl__fp_fail(o, BL_EINVAL, "fp g: output g is NULL");
    bl_status s = record_f(o, "g", theta, lambda);
    if (s == BL_OK) {
        const double *fv = ad_value(o->t, o->f);
        for (int i = 0; i < o->pb->p; i++)
            g[i] = theta[i] - fv[i];
        if (fval)
            memcpy(fval, fv, (size_t)o->pb->p * sizeof *fval);
    }
    ad_tape_rewind(o->t, o->base);
    return s;
}

bl_status bl_fp_oracle_point(bl_fp_oracle *o, const double *theta, const double *lambda,
                             double *fval)
{
    bl_status s = record_f(o, "point", theta, lambda);
    if (s != BL_OK) {
        ad_tape_rewind(o->t, o->base);
        return s;
    }
    if (fval)
        memcpy(fval, ad_value(o->t, o->f), (size_t)o->pb->p * sizeof *fval);
    o->after = ad_tape_mark(o->t);
    o->has_point = 1;
    return BL_OK;
}

bl_status bl_fp_oracle_loss(bl_fp_oracle *o, const double *theta, const double *lambda,
                            double *value, double *g_theta, double *g_lambda)
{
    const bl_fp_problem *pb = o->pb;
    bl_status s = check_input(o, "loss", "theta", theta, pb->p);
    if (s == BL_OK)
        s = check_input(o, "loss", "lambda", lambda, pb->m);
    if (s != BL_OK)
        return s;
    o->has_point = 0;
    ad_tape_rewind(o->t, o->base);
    ad_var th = ad_leaf(o->t, pb->p, 1, theta), la = ad_leaf(o->t, pb->m, 1, lambda);
    ad_var y = pb->L(o->t, th, la, pb->ctx);
    o->c.loss++;
    if (ad_tape_status(o->t) != AD_OK || !ad_ok(y))
        s = ad_failure(o, "loss");
    else if (ad_rows(o->t, y) != 1 || ad_cols(o->t, y) != 1)
        s = bl__fp_fail(o, BL_ESHAPE, "fp loss: L is %dx%d, expected 1x1", ad_rows(o->t, y),
                        ad_cols(o->t, y));
    else if (!isfinite(ad_scalar_value(o->t, y)))
        s = bl__fp_fail(o, BL_ENONFINITE, "fp loss: L = %g is not finite",
                        ad_scalar_value(o->t, y));
    if (s == BL_OK) {
        if (value)
            *value = ad_scalar_value(o->t, y);
        if (g_theta || g_lambda) {
            ad_var wrt[2] = {th, la};
            double *tmpt = g_theta, *tmpl = g_lambda;
            double *out[2] = {tmpt, tmpl};
            /* ad_grad_values needs both outputs: use the ones given, scratch otherwise */
            double *scratch = NULL;
            if (!g_theta || !g_lambda) {
                scratch = bl__fp_alloc(o, "fp loss: gradient scratch",
                                       (size_t)(g_theta ? pb->m : pb->p));
                if (!scratch)
                    s = BL_ENOMEM;
                out[g_theta ? 1 : 0] = scratch;
            }
            if (s == BL_OK && ad_grad_values(o->t, y, 2, wrt, out) != AD_OK)
                s = ad_failure(o, "loss gradient");
            if (s == BL_OK && ((g_theta && !bl__fp_finite(g_theta, pb->p)) ||
                               (g_lambda && !bl__fp_finite(g_lambda, pb->m))))
                s = bl__fp_fail(o, BL_ENONFINITE, "fp loss: gradient is not finite");
            free(scratch);
        }
    }
    note_peak(o);
    ad_tape_rewind(o->t, o->base);
    return s;
}

bl_status bl_fp_oracle_jvp(bl_fp_oracle *o, const double *v, double *out)
{
    if (!o->has_point)
        return bl__fp_fail(o, BL_EINVAL, "fp jvp: no point set (call bl_fp_oracle_point first)");
    bl_status s = check_input(o, "jvp", "v", v, o->pb->p);
    if (s != BL_OK)
        return s;
    if (!out)
        return bl__fp_fail(o, BL_EINVAL, "fp jvp: out is NULL");
    const double *tin[1] = {v};
    double *tout[1] = {out};
    o->c.jvp++;
    if (ad_jvp(o->t, 1, &o->th, tin, 1, &o->f, tout) != AD_OK)
        return ad_failure(o, "jvp");
    if (!bl__fp_finite(out, o->pb->p))
        return bl__fp_fail(o, BL_ENONFINITE, "fp jvp: the product is not finite");
    return BL_OK;
}

bl_status bl_fp_oracle_vjp(bl_fp_oracle *o, const double *u, double *out_theta,
                           double *out_lambda)
{
    const bl_fp_problem *pb = o->pb;
    if (!o->has_point)
        return bl__fp_fail(o, BL_EINVAL, "fp vjp: no point set (call bl_fp_oracle_point first)");
    bl_status s = check_input(o, "vjp", "u", u, pb->p);
    if (s != BL_OK)
        return s;
    if (!out_theta && !out_lambda)
        return bl__fp_fail(o, BL_EINVAL, "fp vjp: both outputs are NULL");
    o->c.vjp++;
    ad_var uc = ad_const_ref(o->t, pb->p, 1, u);
    ad_var y = ad_dot(o->t, o->f, uc);
    ad_var wrt[2] = {o->th, o->la}, gr[2] = {AD_NONE, AD_NONE};
    if (ad_tape_status(o->t) != AD_OK || ad_grad(o->t, y, 2, wrt, gr, 0) != AD_OK) {
        s = ad_failure(o, "vjp");
    } else {
        if (out_theta)
            memcpy(out_theta, ad_value(o->t, gr[0]), (size_t)pb->p * sizeof *out_theta);
        if (out_lambda)
            memcpy(out_lambda, ad_value(o->t, gr[1]), (size_t)pb->m * sizeof *out_lambda);
        if ((out_theta && !bl__fp_finite(out_theta, pb->p)) ||
            (out_lambda && !bl__fp_finite(out_lambda, pb->m)))
            s = bl__fp_fail(o, BL_ENONFINITE, "fp vjp: the product is not finite");
    }
    note_peak(o);
    ad_tape_rewind(o->t, o->after);
    return s;
}
