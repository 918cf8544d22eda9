/*
 * bilevel/inner_lbfgs.c — L-BFGS with Armijo backtracking on the solver's
 * objective; its secant pairs stay available (oldest first) for SHINE.
 * Also the two-loop recursion.
 */
#include "bilevel/internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void bl__lbfgs_apply(int p, int count, const double *S, const double *Y, const double *v,
                     double *out, double *work)
{
    memcpy(out, v, (size_t)p * sizeof(double));
    for (int i = count - 1; i >= 0; i--) {
        const double *s = S + (size_t)i * p, *y = Y + (size_t)i * p;
        work[i] = bl__dot(p, s, out) / bl__dot(p, y, s);
        bl__axpy(p, -work[i], y, out);
    }
    if (count > 0) {
        const double *s = S + (size_t)(count - 1) * p, *y = Y + (size_t)(count - 1) * p;
        cblas_dscal(p, bl__dot(p, s, y) / bl__dot(p, y, y), out, 1);
    }
    for (int i = 0; i < count; i++) {
        const double *s = S + (size_t)i * p, *y = Y + (size_t)i * p;
        double b = bl__dot(p, y, out) / bl__dot(p, y, s);
        bl__axpy(p, work[i] - b, s, out);
    }
}

typedef struct lbfgs_state {
    int mem, count;
    double *S, *Y;         /* mem×p, oldest first */
    double *d, *th0, *g0;  /* direction, previous θ and gradient */
    double *work;          /* mem */
} lbfgs_state;

static bl_status lbfgs_alloc(bl_inner *s, void *state)
{
    lbfgs_state *ls = state;
    ls->mem = s->opts.memory > 0 ? s->opts.memory : 10;
    size_t p = (size_t)s->p;
    size_t n = 2 * ls->mem * p + 3 * p + ls->mem;
    ls->S = malloc(n * sizeof(double));
    if (!ls->S)
        return bl__fail(s->o, BL_ENOMEM,
                        "inner lbfgs: cannot allocate %d secant pairs and work vectors (p = %d: "
                        "%zu doubles, %zu bytes)", ls->mem, s->p, n, n * sizeof(double));
    ls->Y = ls->S + ls->mem * p;
    ls->d = ls->Y + ls->mem * p;
    ls->th0 = ls->d + p;
    ls->g0 = ls->th0 + p;
    ls->work = ls->g0 + p;
    return BL_OK;
}

static void lbfgs_free(void *state) { free(((lbfgs_state *)state)->S); }

static bl_status lbfgs_set(bl_inner *s, void *state)
{
    ((lbfgs_state *)state)->count = 0;
    return BL_OK;
}

/* Forgets the secant pairs: the next step is a scaled gradient step. */
static void lbfgs_restart(bl_inner *s, void *state) { ((lbfgs_state *)state)->count = 0; }

/* Appends (s, y) = (θ − θ0, g − g0), dropping the oldest when full; pairs
 * with too little curvature are skipped. */
static void push_pair(bl_inner *s, lbfgs_state *ls)
{
    int p = s->p;
    if (ls->count == ls->mem) {
        memmove(ls->S, ls->S + p, (size_t)(ls->mem - 1) * p * sizeof(double));
        memmove(ls->Y, ls->Y + p, (size_t)(ls->mem - 1) * p * sizeof(double));
        ls->count--;
    }
    double *S = ls->S + (size_t)ls->count * p, *Y = ls->Y + (size_t)ls->count * p;
    for (int j = 0; j < p; j++) {
        S[j] = s->theta[j] - ls->th0[j];
        Y[j] = s->grad[j] - ls->g0[j];
    }
    double sy = bl__dot(p, S, Y);
    if (sy > 1e-12 * bl__nrm2(p, S) * bl__nrm2(p, Y))
        ls->count++;
}

static bl_status lbfgs_iterate(bl_inner *s, void *state)
{
    lbfgs_state *ls = state;
    int p = s->p;
    bl__lbfgs_apply(p, ls->count, ls->S, ls->Y, s->grad, ls->d, ls->work);
    double slope = -bl__dot(p, s->grad, ls->d);
    if (!(slope < 0)) { /* not a descent direction: restart from −g */
        memcpy(ls->d, s->grad, (size_t)p * sizeof(double));
        ls->count = 0;
        slope = -bl__dot(p, s->grad, s->grad);
    }
    double t = ls->count ? 1.0 : fmin(1.0, 1.0 / fmax(s->gnorm, 1e-300));
    memcpy(ls->g0, s->grad, (size_t)p * sizeof(double));
    bl_status st = bl__line_search(s, ls->d, slope, t, ls->th0);
    if (st != BL_OK || s->stalled)
        return st;
    push_pair(s, ls);
    return BL_OK;
}

static const bl_inner_type lbfgs_type = {"lbfgs", sizeof(lbfgs_state), lbfgs_alloc, lbfgs_set,
                                         lbfgs_iterate, lbfgs_free, lbfgs_restart, 1};
const bl_inner_type *const bl_inner_lbfgs = &lbfgs_type;

int bl_inner_lbfgs_pairs(const bl_inner *s, const double **S, const double **Y)
{
    if (s->type != &lbfgs_type)
        return 0;
    const lbfgs_state *ls = s->state;
    if (S)
        *S = ls->S;
    if (Y)
        *Y = ls->Y;
    return ls->count;
}
