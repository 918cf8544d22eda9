/*
 * examples/tune_steps.c — the step-size grid of `hypertape tune
 * --tune-steps` (tune_steps.h).
 */
#include "tune_steps.h"

#include <math.h>
#include <stdio.h>

static const double factors[3] = {0.1, 1.0, 10.0};

/* 1 for the algorithms with an inner step ρ and an outer step γ. */
static int two_steps(const bl_outer_type *T)
{
    return T == bl_outer_soba || T == bl_outer_saba || T == bl_outer_srba || T == bl_outer_stocbio ||
           T == bl_outer_amigo || T == bl_outer_f2sa || T == bl_outer_f2sa_adam || T == bl_outer_bome;
}

int ts_grid(const bl_outer_type *T, const bl_outer_opts *base, ts_point *pts)
{
    int n = 0;
    if (two_steps(T)) { /* defaults of hypertape/outer.h: 0.1 (f2sa-adam 0.001); gamma = rho */
        double rho = base->inner_step > 0 ? base->inner_step : T == bl_outer_f2sa_adam ? 0.001 : 0.1;
        double gamma = base->outer_step > 0 ? base->outer_step : T == bl_outer_f2sa || T == bl_outer_f2sa_adam ||
                                                                         T == bl_outer_bome
                                                                     ? rho
                                                                     : 0.1;
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++)
                pts[n++] = (ts_point){rho * factors[i], gamma * factors[j], NAN, BL_OK};
    } else if (T == bl_outer_hgd || T == bl_outer_adam) {
        double s = base->step > 0 ? base->step : T == bl_outer_adam ? 0.1 : 1.0;
        for (int i = 0; i < 3; i++)
            pts[n++] = (ts_point){s * factors[i], NAN, NAN, BL_OK};
    }
    return n;
}

void ts_apply(const bl_outer_type *T, const ts_point *pt, bl_outer_opts *o)
{
    if (two_steps(T)) {
        o->inner_step = pt->inner;
        o->outer_step = pt->outer;
    } else if (T == bl_outer_hgd || T == bl_outer_adam) {
        o->step = pt->inner;
    }
}

bl_outer_stop ts_short_stop(const bl_outer_stop *full)
{
    bl_outer_stop s = *full;
    s.seconds = full->seconds > 0 ? full->seconds / 10 : 0;
    s.work = full->work > 0 ? (full->work + 9) / 10 : 0;
    s.samples = full->samples > 0 ? (full->samples + 9) / 10 : 0;
    s.max_iters = full->max_iters > 0 ? (full->max_iters + 9) / 10 : 0;
    if (s.max_iters <= 0 && !(s.seconds > 0) && s.work <= 0 && s.samples <= 0)
        s.max_iters = 20;
    return s;
}

const char *ts_criterion_name(ts_criterion c)
{
    return c == TS_AT_MODEL ? "val_loss_at_model" : "true_h";
}

/* F(θ, λ) on every outer sample at o's model (NaN without one). */
static double loss_at_model(const bl_problem *pb, const bl_outer *o)
{
    const double *theta = bl_outer_model(o);
    double f = NAN;
    bl_oracle *orc = theta ? bl_oracle_new(pb, 0) : NULL;
    if (orc && bl_oracle_F(orc, NULL, theta, bl_outer_lambda(o), &f, NULL, NULL) != BL_OK)
        f = NAN;
    bl_oracle_free(orc);
    return f;
}

bl_status ts_run(const bl_outer_type *T, const bl_problem *pb, const bl_outer_opts *o,
                 const double *lambda0, const bl_outer_stop *stop, ts_criterion c, ts_point *pt,
                 char *msg, size_t len)
{
    bl_outer_opts oo = *o;
    ts_apply(T, pt, &oo);
    pt->h = NAN;
    bl_outer *ob = bl_outer_new(T, pb, &oo, &pt->st, msg, len);
    if (!ob)
        return pt->st;
    if ((pt->st = bl_outer_set(ob, lambda0, NULL)) != BL_OK) {
        snprintf(msg, len, "%s", bl_outer_message(ob));
        bl_outer_free(ob);
        return pt->st;
    }
    pt->st = bl_outer_solve(ob, stop, NULL, NULL);
    snprintf(msg, len, "%s", bl_outer_message(ob));
    double h = NAN, g = NAN;
    if (c == TS_AT_MODEL)
        pt->h = loss_at_model(pb, ob);
    else if (bl_outer_evaluate(ob, bl_outer_lambda(ob), &h, &g, NULL) == BL_OK || isfinite(h))
        pt->h = h;
    bl_outer_free(ob);
    return pt->st;
}

int ts_select(const ts_point *pts, int n)
{
    int best = -1;
    for (int k = 0; k < n; k++)
        if (isfinite(pts[k].h) && (best < 0 || pts[k].h < pts[best].h))
            best = k;
    return best;
}
