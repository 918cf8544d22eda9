/*
 * bilevel/fp_anderson.c — Anderson acceleration (type II) of the damped
 * fixed-point iteration, memory m. With the residual r = f(θ) − θ = −g and
 * the last m differences ΔΘ, ΔR of iterates and residuals (columns):
 *   γ = argmin ‖r_k − ΔR γ‖² + reg·‖γ‖²  (normal equations; reg relative to
 *       the largest diagonal entry of ΔRᵀΔR),
 *   θ_{k+1} = θ_k + βr_k − (ΔΘ + βΔR)γ.
 * With no history the step is the damped fixed-point step. The oldest pair
 * is overwritten when the memory is full.
 */
#include "bilevel/fp_internal.h"

#include <stdlib.h>
#include <string.h>

typedef struct anderson_state {
    int mem, count, next;   /* capacity, pairs stored, slot of the next pair */
    double *dth, *dr;       /* mem×p each: Δθ_i, Δr_i (row i = pair in slot i) */
    double *th_prev, *r_prev; /* p each: θ_k and r_k before the step */
    double *M, *rhs;        /* mem×mem, mem */
} anderson_state;

static bl_status anderson_alloc(bl_root *s, void *state)
{
    anderson_state *a = state;
    a->mem = s->opts.memory;
    size_t mp = (size_t)(a->mem ? a->mem : 1) * (size_t)s->p;
    if (!(a->dth = bl__fp_alloc(s->o, "root anderson: differences", mp)) ||
        !(a->dr = bl__fp_alloc(s->o, "root anderson: differences", mp)) ||
        !(a->th_prev = bl__fp_alloc(s->o, "root anderson: previous iterate", (size_t)s->p)) ||
        !(a->r_prev = bl__fp_alloc(s->o, "root anderson: previous residual", (size_t)s->p)) ||
        !(a->M = bl__fp_alloc(s->o, "root anderson: normal matrix",
                              (size_t)(a->mem + 1) * (size_t)(a->mem + 1))) ||
        !(a->rhs = bl__fp_alloc(s->o, "root anderson: right-hand side", (size_t)a->mem + 1)))
        return BL_ENOMEM;
    return BL_OK;
}

static bl_status anderson_set(bl_root *s, void *state)
{
    anderson_state *a = state;
    a->count = a->next = 0;
    (void)s;
    return BL_OK;
}

/* γ from the normal equations over the stored pairs into a->rhs (count). */
static void anderson_coeffs(anderson_state *a, int p, const double *r, double reg)
{
    int n = a->count;
    double dmax = 0;
    for (int i = 0; i < n; i++) {
        a->rhs[i] = bl__dot(p, a->dr + (size_t)i * p, r);
        for (int j = 0; j <= i; j++) {
            double v = bl__dot(p, a->dr + (size_t)i * p, a->dr + (size_t)j * p);
            a->M[i * n + j] = a->M[j * n + i] = v;
        }
        if (a->M[i * n + i] > dmax)
            dmax = a->M[i * n + i];
    }
    for (int i = 0; i < n; i++)
        a->M[i * n + i] += reg * dmax + 1e-300;
    if (bl__fp_lu_solve(n, a->M, a->rhs))
        memset(a->rhs, 0, (size_t)n * sizeof *a->rhs); /* fall back to the plain step */
}

static bl_status anderson_iterate(bl_root *s, void *state)
{
    anderson_state *a = state;
    int p = s->p;
    double beta = s->opts.damping;
    for (int i = 0; i < p; i++) {
        a->th_prev[i] = s->theta[i];
        a->r_prev[i] = -s->g[i];
    }
    if (a->count > 0)
        anderson_coeffs(a, p, a->r_prev, s->opts.regularization);
    bl__axpy(p, beta, a->r_prev, s->theta);
    for (int i = 0; i < a->count; i++) {
        bl__axpy(p, -a->rhs[i], a->dth + (size_t)i * p, s->theta);
        bl__axpy(p, -beta * a->rhs[i], a->dr + (size_t)i * p, s->theta);
    }
    bl_status st = bl_root_eval(s);
    if (st != BL_OK || a->mem == 0)
        return st;
    double *dth = a->dth + (size_t)a->next * p, *dr = a->dr + (size_t)a->next * p;
    for (int i = 0; i < p; i++) {
        dth[i] = s->theta[i] - a->th_prev[i];
        dr[i] = -s->g[i] - a->r_prev[i];
    }
    a->next = (a->next + 1) % a->mem;
    if (a->count < a->mem)
        a->count++;
    return BL_OK;
}

static void anderson_free(void *state)
{
    anderson_state *a = state;
    free(a->dth);
    free(a->dr);
    free(a->th_prev);
    free(a->r_prev);
    free(a->M);
    free(a->rhs);
}

static const bl_root_type anderson_type = {"anderson", sizeof(anderson_state), anderson_alloc,
                                           anderson_set, anderson_iterate, anderson_free};
const bl_root_type *const bl_root_anderson = &anderson_type;
