/*
 * bilevel/linsolve_cg.c — conjugate gradient as a resumable linear type.
 * The residual r = b − Hq is updated by the recursion (the norm reported
 * is that recursion's), the next direction is formed at the end of each
 * iteration, and a restart sets it back to the residual.
 */
#include "bilevel/internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct cg_state {
    double *r, *d, *hd; /* b − Hq, direction, H·d (p each) */
    double rr;          /* rᵀr */
} cg_state;

static bl_status cg_alloc(bl_linsolve *s, void *state)
{
    cg_state *cs = state;
    size_t n = 3 * (size_t)s->p;
    cs->r = malloc(n * sizeof(double));
    if (!cs->r)
        return bl__fail(s->o, BL_ENOMEM,
                        "linear cg: cannot allocate the residual, direction and H.d (%zu doubles, %zu bytes)",
                        n, n * sizeof(double));
    cs->d = cs->r + s->p;
    cs->hd = cs->d + s->p;
    return BL_OK;
}

static void cg_free(void *state) { free(((cg_state *)state)->r); }

static bl_status cg_set(bl_linsolve *s, void *state)
{
    cg_state *cs = state;
    size_t bytes = (size_t)s->p * sizeof(double);
    memcpy(cs->r, s->r, bytes);
    bl__axpy(s->p, -2.0, cs->r, cs->r); /* r = b − Hq */
    memcpy(cs->d, cs->r, bytes);
    cs->rr = s->rn * s->rn;
    bl_linsolve_set_steps(s, 0.0, 0.0);
    return BL_OK;
}

static bl_status cg_iterate(bl_linsolve *s, void *state)
{
    cg_state *cs = state;
    int p = s->p;
    bl_status st = bl_oracle_hvp(s->o, cs->d, cs->hd, NULL);
    if (st != BL_OK)
        return st;
    double curv = bl__dot(p, cs->d, cs->hd);
    if (!(curv > 0))
        return bl__fail(s->o, BL_ENONCONVEX,
                        "cg: non-positive curvature d'Hd = %g after %d iterations (G is not strongly "
                        "convex here); returning the last iterate", curv, s->iters);
    double a = cs->rr / curv;
    bl__axpy(p, a, cs->d, s->q);
    bl__axpy(p, -a, cs->hd, cs->r);
    double rr1 = bl__dot(p, cs->r, cs->r);
    bl_linsolve_set_residual_norm(s, sqrt(rr1));
    if (rr1 == 0.0) {
        bl_linsolve_set_exact(s);
        return BL_OK;
    }
    double beta = rr1 / cs->rr;
    cs->rr = rr1;
    for (int j = 0; j < p; j++)
        cs->d[j] = cs->r[j] + beta * cs->d[j];
    return BL_OK;
}

static bl_status cg_restart(bl_linsolve *s, void *state)
{
    cg_state *cs = state;
    memcpy(cs->d, cs->r, (size_t)s->p * sizeof(double));
    return BL_OK;
}

static const bl_linsolve_type cg_type = {"cg", sizeof(cg_state), cg_alloc, cg_set, cg_iterate,
                                         cg_free, cg_restart};
const bl_linsolve_type *const bl_linsolve_cg = &cg_type;
