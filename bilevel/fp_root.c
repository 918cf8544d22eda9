/*
 * bilevel/fp_root.c — the root solver object shared by the root
 * algorithms (hypertape/fixedpoint.h, "root solvers"): θ, g(θ) = θ − f(θ),
 * the stored iterates, the loop and the stop on ‖g‖ ≤ ε or K iterations.
 */
#include "bilevel/fp_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *bl_root_type_name(const bl_root_type *T) { return T ? T->name : "unknown"; }

const bl_root_type *bl_root_type_from_name(const char *name)
{
    const bl_root_type *all[3] = {bl_root_fixed, bl_root_anderson, bl_root_broyden};
    for (int i = 0; name && i < 3; i++)
        if (!strcmp(all[i]->name, name))
            return all[i];
    return NULL;
}

bl_root *bl_root_new(const bl_root_type *T, bl_fp_oracle *o, const bl_root_opts *opts,
                     bl_status *st)
{
    bl_status s = BL_OK;
    bl_root *r = NULL;
    bl_root_opts op = opts ? *opts : (bl_root_opts){0};
    if (!T || !T->iterate || !o) {
        s = o ? bl__fp_fail(o, BL_EINVAL, "root_new: type or its iterate is NULL") : BL_EINVAL;
        goto out;
    }
    if (op.damping == 0)
        op.damping = 1;
    if (op.memory == 0)
        op.memory = T == bl_root_broyden ? 30 : 5;
    if (op.regularization == 0)
        op.regularization = 1e-10;
    if (!(op.damping > 0 && op.damping <= 1) || op.memory < 0 || !(op.regularization > 0)) {
        s = bl__fp_fail(o, BL_EINVAL,
                        "root_new %s: damping = %g must be in (0, 1], memory = %d >= 0, "
                        "regularization = %g > 0",
                        T->name, op.damping, op.memory, op.regularization);
        goto out;
    }
    const bl_fp_problem *pb = bl_fp_oracle_problem(o);
    r = calloc(1, sizeof *r);
    if (!r) {
        s = bl__fp_fail(o, BL_ENOMEM, "root_new: out of memory allocating %zu bytes", sizeof *r);
        goto out;
    }
    r->type = T;
    r->o = o;
    r->p = pb->p;
    r->m = pb->m;
    r->opts = op;
    if (!(r->theta = bl__fp_alloc(o, "root_new theta", (size_t)r->p)) ||
        !(r->g = bl__fp_alloc(o, "root_new g", (size_t)r->p)) ||
        !(r->lambda = bl__fp_alloc(o, "root_new lambda", (size_t)r->m))) {
        s = BL_ENOMEM;
        goto out;
    }
    if (T->state_size && !(r->state = calloc(1, T->state_size))) {
        s = bl__fp_fail(o, BL_ENOMEM, "root_new %s: out of memory allocating %zu bytes of state",
                        T->name, T->state_size);
        goto out;
    }
    if (T->alloc)
        s = T->alloc(r, r->state);
out:
    if (s != BL_OK) {
        bl_root_free(r);
        r = NULL;
    }
    if (st)
        *st = s;
    return r;
}

void bl_root_free(bl_root *s)
{
    if (!s)
        return;
    if (s->type && s->type->free && s->state)
        s->type->free(s->state);
    free(s->state);
    free(s->theta);
    free(s->g);
    free(s->lambda);
    free(s->traj);
    free(s);
}

bl_status bl_root_eval(bl_root *s)
{
    bl_status st = bl_fp_oracle_g(s->o, s->theta, s->lambda, s->g, NULL);
    s->gnorm = st == BL_OK ? bl__nrm2(s->p, s->g) : NAN;
    return st;
}

/* Stores θ as iterate number s->iters (keep_iterates), growing the buffer. */
static bl_status keep(bl_root *s)
{
    if (!s->opts.keep_iterates)
        return BL_OK;
    int cap = bl__traj_grow(&s->traj, &s->traj_cap, s->iters + 1, 16, s->p);
    if (cap)
        return bl__fp_fail(s->o, BL_ENOMEM, "root %s: out of memory allocating %zu bytes of iterates",
                           s->type->name, (size_t)cap * (size_t)s->p * sizeof(double));
    memcpy(s->traj + (size_t)s->iters * (size_t)s->p, s->theta, (size_t)s->p * sizeof *s->theta);
    return BL_OK;
}

bl_status bl_root_set(bl_root *s, const double *theta0, const double *lambda)
{
    if (!lambda)
        return bl__fp_fail(s->o, BL_EINVAL, "root_set: lambda is NULL");
    bl__copy_or_zero(s->p, theta0, s->theta);
    memcpy(s->lambda, lambda, (size_t)s->m * sizeof *s->lambda);
    s->iters = 0;
    bl_status st = bl_root_eval(s);
    if (st == BL_OK)
        st = keep(s);
    if (st == BL_OK && s->type->set)
        st = s->type->set(s, s->state);
    return st;
}

bl_status bl_root_iterate(bl_root *s)
{
    bl_status st = s->type->iterate(s, s->state);
    if (st != BL_OK)
        return st;
    s->iters++;
    if (!isfinite(s->gnorm) || !bl__fp_finite(s->theta, s->p))
        return bl__fp_fail(s->o, BL_ENONFINITE, "root %s: iterate %d is not finite (|g| = %g)",
                           s->type->name, s->iters, s->gnorm);
    return keep(s);
}

int bl_root_converged(const bl_root *s, double eps) { return s->gnorm <= eps; }

bl_status bl_root_solve(bl_root *s, double eps, int max_iters)
{
    while (s->iters < max_iters && !(eps >= 0 && bl_root_converged(s, eps))) {
        bl_status st = bl_root_iterate(s);
        if (st != BL_OK)
            return st;
    }
    if (eps >= 0 && !bl_root_converged(s, eps))
        return bl__fp_fail(s->o, BL_ENOTCONVERGED,
                           "root %s: |g| = %.3g > tol %.3g after %d iterations", s->type->name,
                           s->gnorm, eps, s->iters);
    return BL_OK;
}

const double *bl_root_theta(const bl_root *s) { return s->theta; }
double *bl_root_theta_mut(bl_root *s) { return s->theta; }
const double *bl_root_g(const bl_root *s) { return s->g; }
double bl_root_residual(const bl_root *s) { return s->gnorm; }
int bl_root_iters(const bl_root *s) { return s->iters; }
const bl_root_type *bl_root_type_of(const bl_root *s) { return s->type; }
const bl_root_opts *bl_root_options(const bl_root *s) { return &s->opts; }
const double *bl_root_lambda(const bl_root *s) { return s->lambda; }
bl_fp_oracle *bl_root_oracle(const bl_root *s) { return s->o; }

const double *bl_root_iterate_at(const bl_root *s, int k)
{
    if (!s->opts.keep_iterates || k < 0 || k > s->iters)
        return NULL;
    return s->traj + (size_t)k * (size_t)s->p;
}
