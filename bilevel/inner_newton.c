/*
 * bilevel/inner_newton.c — Newton-CG: d ≈ H⁻¹∇G by CG to relative residual
 * min(0.5, √‖∇G‖), then Armijo backtracking from the full step. Objective G
 * only: the oracle has H·v of G, not of F (bl_inner_new refuses F + νG).
 */
#include "bilevel/internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct newton_state {
    double *d, *th0; /* direction and previous θ */
} newton_state;

static bl_status newton_alloc(bl_inner *s, void *state)
{
    newton_state *ns = state;
    size_t n = 2 * (size_t)s->p;
    ns->d = malloc(n * sizeof(double));
    if (!ns->d)
        return bl__fail(s->o, BL_ENOMEM,
                        "inner newton-cg: cannot allocate the direction and previous iterate "
                        "(%zu doubles, %zu bytes)", n, n * sizeof(double));
    ns->th0 = ns->d + s->p;
    return BL_OK;
}

static void newton_free(void *state) { free(((newton_state *)state)->d); }

static bl_status newton_iterate(bl_inner *s, void *state)
{
    newton_state *ns = state;
    int p = s->p;
    bl_status st = bl_oracle_point(s->o, NULL, s->theta, s->lambda);
    if (st != BL_OK)
        return st;
    memset(ns->d, 0, (size_t)p * sizeof(double));
    bl_linear_opts lo = {.tol = fmin(0.5, sqrt(s->gnorm)) * s->gnorm, .max_iters = 2 * p + 20};
    bl_linear_result lr;
    bl_status had = bl_oracle_error(s->o);
    st = bl_linear_solve(s->o, BL_LINEAR_CG, s->grad, ns->d, &lo, &lr);
    if (st != BL_OK && st != BL_ENONCONVEX)
        return st;
    if (st == BL_ENONCONVEX && had == BL_OK) /* handled here: truncated Newton */
        bl_oracle_clear_error(s->o);
    if (st == BL_ENONCONVEX && lr.iters == 0) /* no useful curvature: gradient step */
        memcpy(ns->d, s->grad, (size_t)p * sizeof(double));
    double slope = -bl__dot(p, s->grad, ns->d);
    if (!(slope < 0)) {
        memcpy(ns->d, s->grad, (size_t)p * sizeof(double));
        slope = -s->gnorm * s->gnorm;
    }
    bl__oracle_drop_point(s->o); /* the line search needs gradients only: keep the peak tape low */
    return bl__line_search(s, ns->d, slope, 1.0, ns->th0);
}

static const bl_inner_type newton_type = {"newton-cg", sizeof(newton_state), newton_alloc, NULL,
                                          newton_iterate, newton_free, NULL, 1};
const bl_inner_type *const bl_inner_newton_cg = &newton_type;
