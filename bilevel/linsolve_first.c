/*
 * bilevel/linsolve_first.c — first-order linear types on H q = b:
 *   GD:       q ← q − α(Hq − b)
 *   HB:       q ← q − α(Hq − b) + β(q − q_prev)
 *   Neumann:  q = q0 + α Σ_{j<K} t_j, t_0 = b − Hq0, t_{j+1} = t_j − αH t_j
 *             (from q0 = 0: the series α Σ (I − αH)^j b); its residual is
 *             −t_K, so it costs no product.
 * Default steps from μ and L (bl_linsolve_constants): GD and Neumann
 * 2/(L+μ), HB 4/(√L+√μ)² and β = ((√L−√μ)/(√L+√μ))².
 */
#include "bilevel/internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The step 2/(L+μ) of GD and Neumann unless given; β = 0. */
static bl_status gd_steps(bl_linsolve *s)
{
    double a = s->alpha;
    if (!(a > 0)) {
        bl_constants k;
        bl_status st = bl_linsolve_constants(s, "step", &k);
        if (st != BL_OK)
            return st;
        a = 2.0 / (k.L + k.mu);
    }
    bl_linsolve_set_steps(s, a, 0.0);
    return BL_OK;
}

/* ------------------------------------------------------------ GD and HB */

typedef struct mom_state {
    double *prev; /* q_prev (p) */
} mom_state;

static bl_status mom_alloc(bl_linsolve *s, void *state)
{
    mom_state *ms = state;
    ms->prev = malloc((size_t)s->p * sizeof(double));
    if (!ms->prev)
        return bl__fail(s->o, BL_ENOMEM, "linear %s: cannot allocate the previous iterate (%zu bytes)",
                        s->type->name, (size_t)s->p * sizeof(double));
    return BL_OK;
}

static void mom_free(void *state) { free(((mom_state *)state)->prev); }

static bl_status mom_restart(bl_linsolve *s, void *state)
{
    memcpy(((mom_state *)state)->prev, s->q, (size_t)s->p * sizeof(double));
    return BL_OK;
}

/* q ← q − α r + β(q − q_prev) with r = Hq − b current, then r at the new q. */
static bl_status mom_step(bl_linsolve *s, mom_state *ms, double beta)
{
    double a = s->alpha, *q = s->q;
    for (int j = 0; j < s->p; j++) {
        double qj = q[j];
        q[j] = qj - a * s->r[j] + beta * (qj - ms->prev[j]);
        ms->prev[j] = qj;
    }
    return bl_linsolve_update_residual(s);
}

static bl_status gd_set(bl_linsolve *s, void *state)
{
    mom_restart(s, state);
    return gd_steps(s);
}

static bl_status gd_iterate(bl_linsolve *s, void *state) { return mom_step(s, state, 0.0); }

static const bl_linsolve_type gd_type = {"gd", sizeof(mom_state), mom_alloc, gd_set, gd_iterate,
                                         mom_free, NULL};
const bl_linsolve_type *const bl_linsolve_gd = &gd_type;

static bl_status hb_set(bl_linsolve *s, void *state)
{
    mom_restart(s, state);
    double a = s->alpha, beta = s->beta;
    if (!(a > 0 && beta > 0)) {
        bl_constants k;
        const char *missing = !(a > 0) ? (beta > 0 ? "step" : "step and momentum") : "momentum";
        bl_status st = bl_linsolve_constants(s, missing, &k);
        if (st != BL_OK)
            return st;
        double sl = sqrt(k.L), sm = sqrt(k.mu);
        if (!(a > 0))
            a = 4.0 / ((sl + sm) * (sl + sm));
        if (!(beta > 0))
            beta = ((sl - sm) / (sl + sm)) * ((sl - sm) / (sl + sm));
    }
    bl_linsolve_set_steps(s, a, beta);
    return BL_OK;
}

static bl_status hb_iterate(bl_linsolve *s, void *state) { return mom_step(s, state, s->beta); }

static const bl_linsolve_type hb_type = {"hb", sizeof(mom_state), mom_alloc, hb_set, hb_iterate,
                                         mom_free, mom_restart};
const bl_linsolve_type *const bl_linsolve_hb = &hb_type;

/* --------------------------------------------------------------- Neumann */

typedef struct neumann_state {
    double *t, *ht; /* the current term t_j and H t_j (p each) */
} neumann_state;

static bl_status neumann_alloc(bl_linsolve *s, void *state)
{
    neumann_state *ns = state;
    size_t n = 2 * (size_t)s->p;
    ns->t = malloc(n * sizeof(double));
    if (!ns->t)
        return bl__fail(s->o, BL_ENOMEM,
                        "linear neumann: cannot allocate the series term and its product "
                        "(%zu doubles, %zu bytes)", n, n * sizeof(double));
    ns->ht = ns->t + s->p;
    return BL_OK;
}

static void neumann_free(void *state) { free(((neumann_state *)state)->t); }

/* t = b − Hq = −r (from q0 = 0, r = −b: t = b exactly). */
static void neumann_term_from_residual(bl_linsolve *s, neumann_state *ns)
{
    for (int j = 0; j < s->p; j++)
        ns->t[j] = -s->r[j];
}

static bl_status neumann_set(bl_linsolve *s, void *state)
{
    neumann_term_from_residual(s, state);
    return gd_steps(s);
}

static bl_status neumann_iterate(bl_linsolve *s, void *state)
{
    neumann_state *ns = state;
    int p = s->p;
    double a = s->alpha;
    bl__axpy(p, a, ns->t, s->q);
    bl_status st = bl_oracle_hvp(s->o, ns->t, ns->ht, NULL);
    if (st != BL_OK)
        return st;
    bl__axpy(p, -a, ns->ht, ns->t);
    bl_linsolve_set_residual_norm(s, bl__nrm2(p, ns->t));
    return BL_OK;
}

/* Restarts the series at the true residual of the current q (one product). */
static bl_status neumann_restart(bl_linsolve *s, void *state)
{
    bl_status st = bl_linsolve_update_residual(s);
    if (st == BL_OK)
        neumann_term_from_residual(s, state);
    return st;
}

static const bl_linsolve_type neumann_type = {"neumann", sizeof(neumann_state), neumann_alloc,
                                              neumann_set, neumann_iterate, neumann_free,
                                              neumann_restart};
const bl_linsolve_type *const bl_linsolve_neumann = &neumann_type;
