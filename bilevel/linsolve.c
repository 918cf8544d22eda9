/*
 * bilevel/linsolve.c — the resumable linear solver object (H q = b with
 * Hessian-vector products at the oracle's point): allocation, warm start,
 * iterate, restart, the stopping loop with its monitor, and bl_linear_solve
 * on top. The algorithms are constant types: linsolve_cg.c (CG) and
 * linsolve_first.c (GD, heavy ball, Neumann).
 */
#include "bilevel/internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const stop_names[BL_STOP_COUNT] = {
    [BL_STOP_NONE] = "not run",
    [BL_STOP_TOL] = "tolerance",
    [BL_STOP_MAXITER] = "iteration cap",
    [BL_STOP_NONCONVEX] = "non-positive curvature",
    [BL_STOP_DIRECT] = "direct solve",
    [BL_STOP_STALLED] = "stalled at rounding level",
    [BL_STOP_DIVERGED] = "diverged",
};

const char *bl_stop_name(bl_stop s)
{
    return ((unsigned)s < BL_STOP_COUNT) ? stop_names[s] : "unknown";
}

/* ------------------------------------------------------------------ types */

const bl_linsolve_type *bl_linear_type(bl_linear method)
{
    switch (method) {
    case BL_LINEAR_CG: return bl_linsolve_cg;
    case BL_LINEAR_GD: return bl_linsolve_gd;
    case BL_LINEAR_HB: return bl_linsolve_hb;
    case BL_LINEAR_NEUMANN: return bl_linsolve_neumann;
    default: return NULL;
    }
}

const char *bl_linsolve_type_name(const bl_linsolve_type *T) { return T ? T->name : "(none)"; }

const bl_linsolve_type *bl_linsolve_type_from_name(const char *name)
{
    for (int m = 0; name && m < BL_LINEAR_COUNT; m++)
        if (!strcmp(bl_linear_type((bl_linear)m)->name, name))
            return bl_linear_type((bl_linear)m);
    return NULL;
}

/* ----------------------------------------------------------------- object */

bl_linsolve *bl_linsolve_new(const bl_linsolve_type *T, bl_oracle *o, const bl_linear_opts *opts,
                             bl_status *st)
{
    bl_status dummy;
    st = st ? st : &dummy;
    *st = BL_EINVAL;
    if (!o)
        return NULL;
    if (!T || !T->iterate) {
        *st = bl__fail(o, BL_EINVAL, "linear solve: %s", T ? "the type has no iterate function" : "no type");
        return NULL;
    }
    bl_linsolve *s = calloc(1, sizeof *s);
    if (!s) {
        *st = bl__fail(o, BL_ENOMEM, "linear %s: cannot allocate the solver (%zu bytes)", T->name,
                       sizeof *s);
        return NULL;
    }
    s->type = T;
    s->o = o;
    s->p = bl_oracle_problem(o)->p;
    if (opts)
        s->opts = *opts;
    size_t n = 3 * (size_t)s->p;
    s->q = malloc(n * sizeof(double));
    s->state = T->state_size ? calloc(1, T->state_size) : NULL;
    if (!s->q || (T->state_size && !s->state)) {
        *st = !s->q ? bl__fail(o, BL_ENOMEM,
                               "linear %s: cannot allocate q, b and the residual (%zu doubles, %zu bytes)",
                               T->name, n, n * sizeof(double))
                    : bl__fail(o, BL_ENOMEM, "linear %s: cannot allocate the type's state (%zu bytes)",
                               T->name, T->state_size);
        bl_linsolve_free(s);
        return NULL;
    }
    s->b = s->q + s->p;
    s->r = s->b + s->p;
    *st = T->alloc ? T->alloc(s, s->state) : BL_OK;
    if (*st != BL_OK) {
        bl_linsolve_free(s);
        return NULL;
    }
    return s;
}

void bl_linsolve_free(bl_linsolve *s)
{
    if (!s)
        return;
    if (s->type && s->type->free && s->state)
        s->type->free(s->state);
    free(s->state);
    free(s->q);
    free(s);
}

bl_status bl_linsolve_update_residual(bl_linsolve *s)
{
    bl_status st = bl_oracle_hvp(s->o, s->q, s->r, NULL);
    if (st != BL_OK)
        return st;
    bl__axpy(s->p, -1.0, s->b, s->r);
    s->rn = bl__nrm2(s->p, s->r);
    return BL_OK;
}

bl_status bl_linsolve_set(bl_linsolve *s, const double *b, const double *q0)
{
    if (!b)
        return bl__fail(s->o, BL_EINVAL, "linear %s: b is NULL", s->type->name);
    size_t bytes = (size_t)s->p * sizeof(double);
    memmove(s->b, b, bytes);
    s->iters = 0;
    s->exact = 0;
    s->estimated = 0;
    s->alpha = s->opts.step;
    s->beta = s->opts.momentum;
    bl_status st = BL_OK;
    if (q0) {
        memmove(s->q, q0, bytes);
        st = bl_linsolve_update_residual(s);
    } else { /* H·0 − b = −b: no product */
        memset(s->q, 0, bytes);
        for (int j = 0; j < s->p; j++)
            s->r[j] = -s->b[j];
        s->rn = bl__nrm2(s->p, s->r);
    }
    if (st == BL_OK && s->type->set)
        st = s->type->set(s, s->state);
    return st;
}

bl_status bl_linsolve_iterate(bl_linsolve *s)
{
    bl_status st = s->type->iterate(s, s->state);
    if (st == BL_OK)
        s->iters++;
    return st;
}

bl_status bl_linsolve_restart(bl_linsolve *s)
{
    return s->type->restart ? s->type->restart(s, s->state) : BL_OK;
}

bl_status bl_linsolve_constants(bl_linsolve *s, const char *missing, bl_constants *k)
{
    char who[64];
    snprintf(who, sizeof who, "linear %s", s->type->name);
    int est = 0;
    bl_status st = bl__step_constants(s->o, who, missing, NULL, bl__oracle_lambda(s->o), 0, k, &est);
    s->estimated |= est;
    return st;
}

double bl_linsolve_residual(const bl_linsolve *s) { return s->rn; }
const double *bl_linsolve_q(const bl_linsolve *s) { return s->q; }
int bl_linsolve_iters(const bl_linsolve *s) { return s->iters; }
double bl_linsolve_step(const bl_linsolve *s) { return s->alpha; }
double bl_linsolve_momentum(const bl_linsolve *s) { return s->beta; }
int bl_linsolve_steps_estimated(const bl_linsolve *s) { return s->estimated; }
int bl_linsolve_exact(const bl_linsolve *s) { return s->exact; }
const bl_linsolve_type *bl_linsolve_type_of(const bl_linsolve *s) { return s->type; }
double *bl_linsolve_q_mut(bl_linsolve *s) { return s->q; }
const double *bl_linsolve_b(const bl_linsolve *s) { return s->b; }
const double *bl_linsolve_resvec(const bl_linsolve *s) { return s->r; }
void bl_linsolve_set_residual_norm(bl_linsolve *s, double rn) { s->rn = rn; }
void bl_linsolve_set_exact(bl_linsolve *s) { s->exact = 1; }
bl_oracle *bl_linsolve_oracle(const bl_linsolve *s) { return s->o; }
const bl_linear_opts *bl_linsolve_options(const bl_linsolve *s) { return &s->opts; }

void bl_linsolve_set_steps(bl_linsolve *s, double step, double momentum)
{
    s->alpha = step;
    s->beta = momentum;
}

/* ------------------------------------------------------------------- loop */

/* Bookkeeping after iteration k: returns 1 when the loop must stop. */
static int after_iter(const bl_linsolve *s, double tol, int kmax, bl_linear_result *res)
{
    int k = s->iters;
    res->iters = k;
    res->residual = s->rn;
    if (s->opts.monitor && s->opts.monitor(k, s->q, s->rn, s->opts.monitor_ctx)) {
        res->stop = BL_STOP_TOL;
        return 1;
    }
    if (tol > 0 && s->rn <= tol) {
        res->stop = BL_STOP_TOL;
        return 1;
    }
    if (k >= kmax) {
        res->stop = BL_STOP_MAXITER;
        return 1;
    }
    if (s->exact) { /* exact solution: nothing left to do */
        res->stop = BL_STOP_TOL;
        return 1;
    }
    return 0;
}

bl_status bl_linsolve_solve(bl_linsolve *s, bl_linear_result *res)
{
    bl_linear_result dummy;
    res = res ? res : &dummy;
    memset(res, 0, sizeof *res);
    res->step = s->alpha;
    res->momentum = s->beta;
    res->steps_estimated = s->estimated;
    res->iters = s->iters;
    res->residual = s->rn;
    double tol = s->opts.tol;
    int kmax = s->opts.max_iters > 0 ? s->opts.max_iters : 1000;
    /* q0 may already solve the system; Neumann's series always takes its
     * first term (K ≥ 1, bl_linear). */
    if (tol > 0 && s->rn <= tol && s->type != bl_linsolve_neumann) {
        res->stop = BL_STOP_TOL;
        return BL_OK;
    }
    for (;;) {
        bl_status st = bl_linsolve_iterate(s);
        if (st != BL_OK) {
            if (st == BL_ENONCONVEX)
                res->stop = BL_STOP_NONCONVEX;
            res->iters = s->iters;
            return st;
        }
        if (after_iter(s, tol, kmax, res))
            return BL_OK;
    }
}

bl_status bl_linear_solve(bl_oracle *o, bl_linear method, const double *b, double *q,
                          const bl_linear_opts *opts, bl_linear_result *res)
{
    bl_linear_result dummy;
    res = res ? res : &dummy;
    memset(res, 0, sizeof *res);
    if (!b || !q || (unsigned)method >= BL_LINEAR_COUNT)
        return bl__fail(o, BL_EINVAL, "linear solve: bad arguments (method %d)", (int)method);
    bl_status st;
    bl_linsolve *s = bl_linsolve_new(bl_linear_type(method), o, opts, &st);
    if (!s)
        return st;
    /* Neumann ignores the initial q (its series starts from 0). */
    st = bl_linsolve_set(s, b, method == BL_LINEAR_NEUMANN ? NULL : q);
    if (st == BL_OK) { /* q is the solver's iterate from here on, whatever happens */
        st = bl_linsolve_solve(s, res);
        memcpy(q, s->q, (size_t)s->p * sizeof(double));
    } else {
        res->steps_estimated = s->estimated;
    }
    bl_linsolve_free(s);
    return st;
}
