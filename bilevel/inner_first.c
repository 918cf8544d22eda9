/*
 * bilevel/inner_first.c — first-order inner algorithms: gradient descent,
 * heavy ball and Nesterov/FISTA, on the solver's objective (∇ below is its
 * gradient: ∇G by default). Step maps (used verbatim by unrolling):
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
    bl_status st = bl_inner_constants(s, "step", &k);
    if (st == BL_OK)
        s->alpha = 2.0 / (k.L + k.mu);
    return st;
}

static bl_status gd_iterate(bl_inner *s, void *state)
{
    bl__axpy(s->p, -s->alpha, s->grad, s->theta);
    return bl_inner_eval(s);
}

static const bl_inner_type gd_type = {"gd", 0, NULL, gd_set, gd_iterate, NULL, NULL, 0};
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
    size_t n = 3 * (size_t)s->p;
    ms->prev = malloc(n * sizeof(double));
    if (!ms->prev)
        return bl__fail(s->o, BL_ENOMEM,
                        "inner %s: cannot allocate the previous iterate and work vectors (%zu doubles, %zu bytes)",
                        s->type->name, n, n * sizeof(double));
    ms->y = ms->prev + s->p;
    ms->gy = ms->y + s->p;
    return BL_OK;
}

static void mom_free(void *state) { free(((momentum_state *)state)->prev); }

/* Forgets the momentum: θ_{k−1} = θ_k (and FISTA's sequence restarts). */
static void mom_restart(bl_inner *s, void *state)
{
    momentum_state *ms = state;
    memcpy(ms->prev, s->theta, (size_t)s->p * sizeof(double));
    ms->t = 1.0;
}

/* Which of α, β the caller left to the constants, for the message. */
static const char *missing_steps(const bl_inner *s)
{
    if (!(s->alpha > 0))
        return s->beta > 0 ? "step" : "step and momentum";
    return "momentum";
}

/* ----------------------------------------------------------- heavy ball */

static bl_status hb_set(bl_inner *s, void *state)
{
    momentum_state *ms = state;
    memcpy(ms->prev, s->theta, (size_t)s->p * sizeof(double));
    if (s->alpha > 0 && s->beta > 0)
        return BL_OK;
    bl_constants k;
    bl_status st = bl_inner_constants(s, missing_steps(s), &k);
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
    return bl_inner_eval(s);
}

static const bl_inner_type hb_type = {"hb", sizeof(momentum_state), mom_alloc, hb_set,
                                      hb_iterate, mom_free, mom_restart, 0};
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
    bl_status st = bl_inner_constants(s, "step", &k);
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
    bl_status st = bl_inner_objective(s, ms->y, NULL, ms->gy);
    if (st != BL_OK)
        return st;
    memcpy(ms->prev, s->theta, (size_t)s->p * sizeof(double));
    for (int j = 0; j < s->p; j++)
        s->theta[j] = ms->y[j] - s->alpha * ms->gy[j];
    return bl_inner_eval(s);
}

static const bl_inner_type nag_type = {"nesterov", sizeof(momentum_state), mom_alloc, nag_set,
                                       nag_iterate, mom_free, mom_restart, 0};
const bl_inner_type *const bl_inner_nesterov = &nag_type;
