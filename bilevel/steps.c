/*
 * bilevel/steps.c — the constants behind the default steps and momenta of
 * the inner solvers and linear solves: the problem's own, or, for a model
 * without a constants callback, estimates with a safety margin on L (the
 * margin and its justification are documented at bl_inner_opts in
 * bilevel.h).
 */
#include "bilevel/internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static bl_status check_usable(bl_oracle *o, const char *who, const bl_constants *k)
{
    if (!(k->mu > 0) || !(k->L >= k->mu) || !isfinite(k->L))
        return bl__fail(o, BL_EINVAL, "%s: constants mu = %g, L = %g are not usable (need 0 < mu <= L)",
                        who, k->mu, k->L);
    return BL_OK;
}

/* Estimates at (θ, λ) or at the current point; the failure message names
 * what was missing and keeps the estimator's reason. */
static bl_status estimate(bl_oracle *o, const char *who, const char *missing, const double *theta,
                          const double *lambda, int need_Lf, bl_constants *k)
{
    const bl_problem *pb = bl_oracle_problem(o);
    bl_status st = BL_OK, had = bl_oracle_error(o);
    memset(k, 0, sizeof *k);
    if (need_Lf) {
        st = bl_estimate_constants(o, theta, lambda, BL__STEP_LANCZOS_ITERS, k);
        k->Lf *= BL__STEP_L_MARGIN;
    } else {
        if (theta)
            st = bl_oracle_point(o, NULL, theta, lambda);
        if (st == BL_OK)
            st = bl__estimate_spectrum(o, BL__STEP_LANCZOS_ITERS, &k->mu, &k->L);
    }
    if (st != BL_OK) {
        char why[200];
        snprintf(why, sizeof why, "%s", bl_oracle_message(o));
        if (had == BL_OK) /* the reason goes into this message: record this one */
            bl_oracle_clear_error(o);
        return bl__fail(o, st,
                        "%s: no %s given, problem '%s' has no constants to derive it, and "
                        "estimating them failed: %s", who, missing, pb->name ? pb->name : "?", why);
    }
    k->L *= BL__STEP_L_MARGIN;
    k->certified = 0;
    return BL_OK;
}

bl_status bl__step_constants(bl_oracle *o, const char *who, const char *missing,
                             const double *theta, const double *lambda, int need_Lf,
                             bl_constants *k, int *estimated)
{
    const bl_problem *pb = bl_oracle_problem(o);
    *estimated = 0;
    if (!lambda)
        return bl__fail(o, BL_EINVAL, "%s: constants need a point (call bl_oracle_point first)", who);
    if (pb->constants && pb->constants(lambda, k, pb->ctx) == BL_OK)
        return check_usable(o, who, k);
    if (need_Lf && !theta)
        return bl__fail(o, BL_EINVAL, "%s: estimating L_f needs theta", who);
    bl_status st = estimate(o, who, missing, theta, lambda, need_Lf, k);
    if (st == BL_OK)
        *estimated = 1;
    return st;
}
