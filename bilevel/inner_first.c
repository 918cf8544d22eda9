/*
 * bilevel/inner_first.c — first-order inner algorithms: gradient descent,
 * heavy ball and Nesterov/FISTA. Step maps (used verbatim by unrolling):
 *   GD:  θ_{k+1} = θ_k − α∇G(θ_k)
 *   HB:  θ_{k+1} = θ_k − α∇G(θ_k) + β(θ_k − θ_{k−1}),  θ_{−1} = θ_0
 *   NAG: y_k = θ_k + β_k(θ_k − θ_{k−1}),  θ_{k+1} = y_k − α∇G(y_k)
 */
#include "bilevel/internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ GD */

static bl_status gd_set(bl_inner *s, void *state)
{
    if (s->alpha > 0)
        return BL_OK;
    bl_constants k;
    bl_status st = bl__constants(s->o, s->lambda, &k, "inner gd");
    if (st == BL_OK)
        s->alpha = 2.0 / (k.L + k.mu);
    return st;
}

static bl_status gd_iterate(bl_inner *s, void *state)
{
    bl__axpy(s->p, -s->alpha, s->grad, s->theta);
    return bl__inner_eval(s);
}

static const bl_inner_type gd_type = {"gd", 0, NULL, gd_set, gd_iterate, NULL};
const bl_inner_type *const bl_inner_gd = &gd_type;

/* ------------------------------------------------------ shared: θ_{k−1} */

typedef struct momentum_state {
    double *prev, *y, *gy; /* θ_{k−1}; Nesterov's extrapolated point and its gradient */
    double t;              /* FISTA sequence (Nesterov without constants) */
    int fista;
} momentum_state;

static bl_status mom_alloc(bl_inner *s, void *state)
{
    momentum_state *ms = state;
    ms->prev = malloc(3 * (size_t)s->p * sizeof(double));
    if (!ms->prev)
        return bl__fail(s->o, BL_ENOMEM, "inner %s: out of memory (p = %d)", s->type->name, s->p);
    ms->y = ms->prev + s->p;
    ms->gy = ms->y + s->p;
    return BL_OK;
}

static void mom_free(void *state) { free(((momentum_state *)state)->prev); }

/* ----------------------------------------------------------- heavy ball */

static bl_status hb_set(bl_inner *s, void *state)
{
    momentum_state *ms = state;
    memcpy(ms->prev, s->theta, (size_t)s->p * sizeof(double));
    if (s->alpha > 0 && s->beta > 0)
        return BL_OK;
    bl_constants k;
    bl_status st = bl__constants(s->o, s->lambda, &k, "inner hb");
    if (st != BL_OK)
        return st;
    double sl = sqrt(k.L), sm = sqrt(k.mu);
    if (!(s->alpha > 0))
        s->alpha = 4.0 / ((sl + sm) * (sl + sm));
    if (!(s->beta > 0))
        s->beta = ((sl - sm) / (sl + sm)) * ((sl - sm) / (sl + sm));
    return BL_OK;
}

static bl_status hb_iterate(bl_inner *s, void *state)
{
    momentum_state *ms = state;
    for (int j = 0; j < s->p; j++) {
        double th = s->theta[j];
        s->theta[j] = th - s->alpha * s->grad[j] + s->beta * (th - ms->prev[j]);
        ms->prev[j] = th;
    }
    return bl__inner_eval(s);
}

static const bl_inner_type hb_type = {"hb", sizeof(momentum_state), mom_alloc, hb_set,
                                      hb_iterate, mom_free};
const bl_inner_type *const bl_inner_hb = &hb_type;

/* ------------------------------------------------------------- Nesterov */

static bl_status nag_set(bl_inner *s, void *state)
{
    momentum_state *ms = state;
    memcpy(ms->prev, s->theta, (size_t)s->p * sizeof(double));
    ms->t = 1.0;
    ms->fista = s->alpha > 0 && !(s->beta > 0);
    if (s->alpha > 0)
        return BL_OK; /* step given: constant β if given, else FISTA's sequence */
    bl_constants k;
    bl_status st = bl__constants(s->o, s->lambda, &k, "inner nesterov");
    if (st != BL_OK)
        return st;
    double sl = sqrt(k.L), sm = sqrt(k.mu);
    s->alpha = 1.0 / k.L;
    if (!(s->beta > 0))
        s->beta = (sl - sm) / (sl + sm);
    return BL_OK;
}

static bl_status nag_iterate(bl_inner *s, void *state)
{
    momentum_state *ms = state;
    double beta = s->beta;
    if (ms->fista) {
        double t1 = 0.5 * (1.0 + sqrt(1.0 + 4.0 * ms->t * ms->t));
        beta = (ms->t - 1.0) / t1;
        ms->t = t1;
    }
    for (int j = 0; j < s->p; j++)
        ms->y[j] = s->theta[j] + beta * (s->theta[j] - ms->prev[j]);
    bl_status st = bl_oracle_G(s->o, NULL, ms->y, s->lambda, NULL, ms->gy, NULL);
    if (st != BL_OK)
        return st;
    memcpy(ms->prev, s->theta, (size_t)s->p * sizeof(double));
    for (int j = 0; j < s->p; j++)
        s->theta[j] = ms->y[j] - s->alpha * ms->gy[j];
    return bl__inner_eval(s);
}

static const bl_inner_type nag_type = {"nesterov", sizeof(momentum_state), mom_alloc, nag_set,
                                       nag_iterate, mom_free};
const bl_inner_type *const bl_inner_nesterov = &nag_type;
