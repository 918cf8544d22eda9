/*
 * bilevel/oracle.c — the oracles of a bl_problem on one ad tape: values,
 * gradients, and the shared H·v / cross(v) primitive at a fixed point.
 *
 * Tape layout: [second-order recording at the current point] [scratch].
 * First-order calls record after the point's recording and rewind back to
 * it, so the point stays valid and nothing is allocated after warm-up.
 */
#include "bilevel/internal.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct bl_oracle {
    const bl_problem *pb;
    ad_tape *t;
    ad_mark base;       /* the empty tape */
    int has_point;
    ad_hvp_plan plan;   /* recording of G and ∇G at the point */
    bl_counts c;
    size_t peak;
    double *point;      /* θ (p) then λ (m) of the current point */
    long point_samples; /* samples of the point's batch (for counts.samples) */
    bl_status err;      /* first failure since creation or bl_oracle_clear_error */
    int keep_first;     /* 1: keep the first failure; 0: legacy, the last overwrites */
    ad_hvp_mode mode;   /* of the next point (bl_oracle_set_hvp_mode) */
    char msg[256];      /* its message */
};

/* Records the first failure (see bilevel.h, "Errors"); BL_OK records
 * nothing. */
bl_status bl__fail(bl_oracle *o, bl_status st, const char *fmt, ...)
{
    char buf[sizeof o->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (st == BL_OK)
        return st;
    if (o->err == BL_OK || !o->keep_first) {
        o->err = st;
        memcpy(o->msg, buf, sizeof buf);
    }
    return st;
}

void bl_oracle_keep_first_error(bl_oracle *o, int on) { o->keep_first = on != 0; }

bl_status bl_oracle_set_hvp_mode(bl_oracle *o, ad_hvp_mode mode)
{
    if (mode != AD_HVP_FOR && mode != AD_HVP_ROR)
        return bl__fail(o, BL_EINVAL, "set_hvp_mode: mode %d is neither AD_HVP_FOR nor AD_HVP_ROR",
                        (int)mode);
    o->mode = mode;
    return BL_OK;
}

bl_oracle *bl_oracle_new(const bl_problem *pb, size_t max_tape_bytes)
{
    if (!pb || !pb->G || !pb->F || pb->p <= 0 || pb->m <= 0)
        return NULL;
    bl_oracle *o = calloc(1, sizeof *o);
    ad_tape_opts opts = {max_tape_bytes, 0, 0};
    if (!o || !(o->t = ad_tape_new(&opts)) ||
        !(o->point = malloc((size_t)(pb->p + pb->m) * sizeof(double)))) {
        if (o)
            ad_tape_free(o->t);
        free(o);
        return NULL;
    }
    o->pb = pb;
    o->base = ad_tape_mark(o->t);
    o->keep_first = 1;
    return o;
}

void bl_oracle_free(bl_oracle *o)
{
    if (!o)
        return;
    ad_tape_free(o->t);
    free(o->point);
    free(o);
}

const bl_problem *bl_oracle_problem(const bl_oracle *o) { return o->pb; }
const char *bl_oracle_message(const bl_oracle *o) { return o->msg; }
bl_status bl_oracle_error(const bl_oracle *o) { return o->err; }

void bl_oracle_clear_error(bl_oracle *o)
{
    o->err = BL_OK;
    o->msg[0] = '\0';
}

const double *bl__oracle_lambda(const bl_oracle *o) { return o->has_point ? o->point + o->pb->p : NULL; }
bl_counts bl_oracle_counts(const bl_oracle *o) { return o->c; }

void bl__oracle_drop_point(bl_oracle *o)
{
    if (!o)
        return;
    ad_tape_rewind(o->t, o->base);
    o->has_point = 0;
}

static void note_peak(bl_oracle *o)
{
    size_t p = ad_tape_stats(o->t).peak_bytes;
    if (p > o->peak)
        o->peak = p;
}

size_t bl_oracle_peak_bytes(const bl_oracle *o) { return o->peak; }

void bl__oracle_set_counts(bl_oracle *o, const bl_counts *c) { o->c = *c; }

void bl_oracle_reset(bl_oracle *o)
{
    memset(&o->c, 0, sizeof o->c);
    ad_tape_reset_peak(o->t);
    o->peak = ad_tape_stats(o->t).bytes;
}

/* Checks the indices of a batch against the sample count of its side. */
bl_status bl__oracle_check_batch(bl_oracle *o, const char *what, int outer, const bl_batch *b)
{
    if (!b || !b->idx)
        return BL_OK;
    int lim = outer ? o->pb->n_outer : o->pb->n_inner;
    if (b->n <= 0)
        return bl__fail(o, BL_EINVAL, "%s: batch of %d samples (need n > 0, or idx NULL for all)",
                        what, b->n);
    for (int k = 0; k < b->n; k++)
        if (b->idx[k] < 0 || b->idx[k] >= lim)
            return bl__fail(o, BL_EINVAL, "%s: %s sample index %d at position %d is outside [0, %d)",
                            what, outer ? "outer" : "inner", b->idx[k], k, lim);
    return BL_OK;
}

bl_status bl__from_ad(ad_status s)
{
    switch (s) {
    case AD_OK: return BL_OK;
    case AD_EINVAL: return BL_EINVAL;
    case AD_ESHAPE: return BL_ESHAPE;
    case AD_ENOMEM: return BL_ENOMEM;
    case AD_EANOMALY: return BL_ENONFINITE;
    default: return BL_EAD;
    }
}

/* Turns a tape failure into a status, clears it and drops the point. */
static bl_status ad_failure(bl_oracle *o, const char *what)
{
    ad_status s = ad_tape_status(o->t);
    bl_status st = bl__from_ad(s == AD_OK ? AD_EHANDLE : s); /* AD_OK: an op gave AD_NONE */
    bl__fail(o, st, "%s: %s", what, s == AD_OK ? "the model returned no value" : ad_tape_message(o->t));
    ad_tape_clear_error(o->t);
    ad_tape_rewind(o->t, o->base);
    o->has_point = 0;
    return st;
}

/* Samples a batch stands for: its size, or the side's sample count. */
static long batch_samples(const bl_oracle *o, int outer, const bl_batch *b)
{
    if (b && b->idx)
        return b->n;
    return outer ? o->pb->n_outer : o->pb->n_inner;
}

/* BL_ENONFINITE naming the first non-finite entry of an output, else BL_OK. */
static bl_status check_output(bl_oracle *o, const char *what, const char *name, const double *x,
                              int n)
{
    for (int k = 0; x && k < n; k++)
        if (!isfinite(x[k]))
            return bl__fail(o, BL_ENONFINITE, "%s: %s[%d] is %g", what, name, k, x[k]);
    return BL_OK;
}

bl_status bl__check_finite(bl_oracle *o, const char *what, const char *name, const double *x, int n)
{
    if (!x)
        return bl__fail(o, BL_EINVAL, "%s: %s is NULL", what, name);
    for (int k = 0; k < n; k++)
        if (!isfinite(x[k]))
            return bl__fail(o, BL_ENONFINITE, "%s: %s[%d] is %g", what, name, k, x[k]);
    return BL_OK;
}

/* Records G (outer = 0) or F (outer = 1) at (θ, λ) on the tape. */
static ad_var record(bl_oracle *o, int outer, const bl_batch *batch, const double *theta,
                     const double *lambda, ad_var *tv, ad_var *lv)
{
    const bl_problem *pb = o->pb;
    *tv = ad_leaf(o->t, pb->p, 1, theta);
    *lv = ad_leaf(o->t, pb->m, 1, lambda);
    bl_record_fn f = outer ? pb->F : pb->G;
    const int *b = batch && batch->idx ? batch->idx : NULL;
    int nb = b ? batch->n : 0;
    return ad_tape_status(o->t) == AD_OK ? f(o->t, *tv, *lv, b, nb, pb->ctx) : AD_NONE;
}

static bl_status eval(bl_oracle *o, int outer, const bl_batch *batch, const double *theta,
                      const double *lambda, double *value, double *g_theta, double *g_lambda)
{
    const char *what = outer ? "F" : "G";
    bl_status s = bl__oracle_check_batch(o, what, outer, batch);
    if (s == BL_OK)
        s = bl__check_finite(o, what, "theta", theta, o->pb->p);
    if (s == BL_OK)
        s = bl__check_finite(o, what, "lambda", lambda, o->pb->m);
    if (s != BL_OK)
        return s;
    ad_mark m = ad_tape_mark(o->t);
    ad_tape_set_lazy(o->t, value == NULL); /* no value wanted: skip what only it needs */
    ad_var tv, lv, y = record(o, outer, batch, theta, lambda, &tv, &lv);
    ad_tape_set_lazy(o->t, 0);
    if (ad_tape_status(o->t) != AD_OK || !ad_ok(y))
        return ad_failure(o, what);
    int yr = ad_rows(o->t, y), yc = ad_cols(o->t, y);
    if (yr != 1 || yc != 1) {
        ad_tape_rewind(o->t, m);
        return bl__fail(o, BL_ESHAPE, "%s: the model returned %dx%d, not 1x1", what, yr, yc);
    }
    double v = value ? ad_scalar_value(o->t, y) : 0.0;
    if (value)
        *value = v;
    if (g_theta || g_lambda) {
        ad_var wrt[2] = {tv, lv};
        double *out[2] = {g_theta, g_lambda};
        if (ad_grad_values(o->t, y, 2, wrt, out) != AD_OK)
            return ad_failure(o, what);
        o->c.grad++;
        o->c.samples += batch_samples(o, outer, batch);
    } else {
        o->c.fval++;
    }
    note_peak(o);
    ad_tape_rewind(o->t, m);
    if (!isfinite(v))
        return bl__fail(o, BL_ENONFINITE, "%s: value is %g", what, v);
    s = check_output(o, what, outer ? "dF/dtheta" : "dG/dtheta", g_theta, o->pb->p);
    return s != BL_OK ? s : check_output(o, what, outer ? "dF/dlambda" : "dG/dlambda", g_lambda, o->pb->m);
}

bl_status bl_oracle_G(bl_oracle *o, const bl_batch *batch, const double *theta, const double *lambda, double *value,
                      double *g_theta, double *g_lambda)
{
    return eval(o, 0, batch, theta, lambda, value, g_theta, g_lambda);
}

bl_status bl_oracle_F(bl_oracle *o, const bl_batch *batch, const double *theta, const double *lambda, double *value,
                      double *g_theta, double *g_lambda)
{
    return eval(o, 1, batch, theta, lambda, value, g_theta, g_lambda);
}

bl_status bl_oracle_point(bl_oracle *o, const bl_batch *batch, const double *theta, const double *lambda)
{
    bl_status s = bl__oracle_check_batch(o, "point", 0, batch);
    if (s == BL_OK)
        s = bl__check_finite(o, "point", "theta", theta, o->pb->p);
    if (s == BL_OK)
        s = bl__check_finite(o, "point", "lambda", lambda, o->pb->m);
    if (s != BL_OK)
        return s;
    ad_tape_rewind(o->t, o->base);
    o->has_point = 0;
    ad_tape_set_lazy(o->t, 1); /* the point's G value is never read */
    ad_var tv, lv, y = record(o, 0, batch, theta, lambda, &tv, &lv);
    ad_tape_set_lazy(o->t, 0);
    if (ad_tape_status(o->t) != AD_OK ||
        ad_hvp_prepare(o->t, y, tv, lv, o->mode, &o->plan) != AD_OK)
        return ad_failure(o, "point");
    o->has_point = 1;
    o->point_samples = batch_samples(o, 0, batch);
    memcpy(o->point, theta, (size_t)o->pb->p * sizeof(double));
    memcpy(o->point + o->pb->p, lambda, (size_t)o->pb->m * sizeof(double));
    note_peak(o);
    return BL_OK;
}

bl_status bl_oracle_hvp(bl_oracle *o, const double *v, double *hv, double *cross)
{
    if (!o->has_point)
        return bl__fail(o, BL_EINVAL, "hvp: no point set (call bl_oracle_point first)");
    bl_status s = bl__check_finite(o, "hvp", "v", v, o->pb->p);
    if (s != BL_OK)
        return s;
    if (ad_hvp_apply(o->t, &o->plan, v, hv, cross) != AD_OK)
        return ad_failure(o, "hvp");
    o->c.hvp += hv != NULL;
    o->c.cross += cross != NULL;
    o->c.samples += o->point_samples * ((hv != NULL) + (cross != NULL));
    note_peak(o);
    s = check_output(o, "hvp", "Hv", hv, o->pb->p);
    return s != BL_OK ? s : check_output(o, "hvp", "cross", cross, o->pb->m);
}

bl_status bl_oracle_grad_jvp(bl_oracle *o, const double *v_theta, const double *v_lambda,
                             double *out)
{
    if (!o->has_point)
        return bl__fail(o, BL_EINVAL, "grad_jvp: no point set (call bl_oracle_point first)");
    bl_status s = bl__check_finite(o, "grad_jvp", "v_theta", v_theta, o->pb->p);
    if (s == BL_OK && v_lambda)
        s = bl__check_finite(o, "grad_jvp", "v_lambda", v_lambda, o->pb->m);
    if (s != BL_OK)
        return s;
    ad_var in[2] = {o->plan.theta, o->plan.lambda};
    const double *tin[2] = {v_theta, v_lambda};
    double *tout[1] = {out};
    if (ad_jvp(o->t, v_lambda ? 2 : 1, in, tin, 1, &o->plan.g_theta, tout) != AD_OK)
        return ad_failure(o, "grad_jvp");
    o->c.hvp++;
    o->c.cross += v_lambda != NULL;
    o->c.samples += o->point_samples * (1 + (v_lambda != NULL));
    note_peak(o);
    return check_output(o, "grad_jvp", "out", out, o->pb->p);
}
