/*
 * bilevel/inner.c — the inner solver object shared by every inner
 * algorithm: allocation, warm start, the iterate/test loop, stored iterates.
 */
#include "bilevel/internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *bl_inner_type_name(const bl_inner_type *T) { return T ? T->name : "(none)"; }

const bl_inner_type *bl_inner_type_from_name(const char *name)
{
    const bl_inner_type *const list[] = {bl_inner_gd, bl_inner_hb, bl_inner_nesterov,
                                         bl_inner_lbfgs, bl_inner_newton_cg};
    for (size_t k = 0; name && k < sizeof list / sizeof list[0]; k++)
        if (!strcmp(list[k]->name, name))
            return list[k];
    return NULL;
}

bl_status bl__constants(bl_oracle *o, const double *lambda, bl_constants *k, const char *who)
{
    const bl_problem *pb = bl_oracle_problem(o);
    if (!pb->constants)
        return bl__fail(o, BL_EINVAL,
                        "%s: no step given and problem '%s' has no constants to derive one",
                        who, pb->name ? pb->name : "?");
    if (!lambda)
        return bl__fail(o, BL_EINVAL, "%s: constants need a point (call bl_oracle_point first)", who);
    bl_status s = pb->constants(lambda, k, pb->ctx);
    if (s != BL_OK)
        return bl__fail(o, s, "%s: problem '%s' could not give its constants", who,
                        pb->name ? pb->name : "?");
    if (!(k->mu > 0) || !(k->L >= k->mu) || !isfinite(k->L))
        return bl__fail(o, BL_EINVAL, "%s: constants mu = %g, L = %g are not usable (need 0 < mu <= L)",
                        who, k->mu, k->L);
    return BL_OK;
}

bl_inner *bl_inner_new(const bl_inner_type *T, bl_oracle *o, const bl_inner_opts *opts,
                       bl_status *st)
{
    bl_status dummy;
    st = st ? st : &dummy;
    *st = BL_EINVAL;
    if (!T || !o)
        return NULL;
    const bl_problem *pb = bl_oracle_problem(o);
    bl_inner *s = calloc(1, sizeof *s);
    *st = BL_ENOMEM;
    if (!s)
        return NULL;
    s->type = T;
    s->o = o;
    s->p = pb->p;
    s->m = pb->m;
    if (opts)
        s->opts = *opts;
    s->theta = malloc((size_t)(2 * s->p + s->m) * sizeof(double));
    s->state = T->state_size ? calloc(1, T->state_size) : NULL;
    if (!s->theta || (T->state_size && !s->state)) {
        bl_inner_free(s);
        return NULL;
    }
    s->grad = s->theta + s->p;
    s->lambda = s->grad + s->p;
    *st = T->alloc ? T->alloc(s, s->state) : BL_OK;
    if (*st != BL_OK) {
        bl_inner_free(s);
        return NULL;
    }
    return s;
}

void bl_inner_free(bl_inner *s)
{
    if (!s)
        return;
    if (s->type && s->type->free && s->state)
        s->type->free(s->state);
    free(s->state);
    free(s->theta);
    free(s->traj);
    free(s);
}

bl_status bl__inner_eval(bl_inner *s)
{
    bl_status st = bl_oracle_G(s->o, NULL, s->theta, s->lambda, &s->value, s->grad, NULL);
    s->gnorm = st == BL_OK ? bl__nrm2(s->p, s->grad) : NAN;
    return st;
}

bl_status bl__inner_keep(bl_inner *s)
{
    if (!s->opts.keep_iterates)
        return BL_OK;
    if (s->iters + 1 > s->traj_cap) {
        int cap = s->traj_cap ? 2 * s->traj_cap : 64;
        double *p = realloc(s->traj, (size_t)cap * s->p * sizeof(double));
        if (!p)
            return bl__fail(s->o, BL_ENOMEM, "inner %s: cannot store %d iterates of size %d",
                            s->type->name, cap, s->p);
        s->traj = p;
        s->traj_cap = cap;
    }
    memcpy(s->traj + (size_t)s->iters * s->p, s->theta, (size_t)s->p * sizeof(double));
    return BL_OK;
}

bl_status bl_inner_set(bl_inner *s, const double *theta0, const double *lambda)
{
    if (!lambda)
        return bl__fail(s->o, BL_EINVAL, "inner %s: lambda is NULL", s->type->name);
    if (theta0)
        memcpy(s->theta, theta0, (size_t)s->p * sizeof(double));
    else
        memset(s->theta, 0, (size_t)s->p * sizeof(double));
    memcpy(s->lambda, lambda, (size_t)s->m * sizeof(double));
    s->iters = 0;
    s->stalled = 0;
    s->alpha = s->opts.step;
    s->beta = s->opts.momentum;
    bl_status st = bl__inner_eval(s);
    if (st == BL_OK)
        st = bl__inner_keep(s);
    if (st == BL_OK && s->type->set)
        st = s->type->set(s, s->state);
    return st;
}

bl_status bl_inner_iterate(bl_inner *s)
{
    bl_status st = s->type->iterate(s, s->state);
    if (st != BL_OK)
        return st;
    s->iters++;
    if (!isfinite(s->gnorm))
        return bl__fail(s->o, BL_ENONFINITE,
                        "inner %s: gradient norm is %g at iteration %d (step too large?)",
                        s->type->name, s->gnorm, s->iters);
    return bl__inner_keep(s);
}

int bl_inner_converged(const bl_inner *s, double eps) { return s->gnorm <= eps; }
int bl_inner_stalled(const bl_inner *s) { return s->stalled; }

bl_status bl__line_search(bl_inner *s, const double *d, double slope, double t, double *th0)
{
    int p = s->p;
    double f0 = s->value, g0 = s->gnorm, slack = 1e-13 * fabs(f0);
    memcpy(th0, s->theta, (size_t)p * sizeof(double));
    for (int tries = 0; tries < 50; tries++, t *= 0.5) {
        for (int j = 0; j < p; j++)
            s->theta[j] = th0[j] - t * d[j];
        bl_status st = bl__inner_eval(s);
        if (st == BL_ENONFINITE)
            continue;
        if (st != BL_OK)
            return st;
        if (s->value <= f0 + 1e-4 * t * slope || (s->value <= f0 + slack && s->gnorm < g0))
            return BL_OK;
    }
    s->stalled = 1;
    memcpy(s->theta, th0, (size_t)p * sizeof(double));
    return bl__inner_eval(s);
}

bl_status bl_inner_solve(bl_inner *s, double eps, int max_iters)
{
    bl_status st = BL_OK;
    while (st == BL_OK && s->iters < max_iters && !s->stalled && !bl_inner_converged(s, eps))
        st = bl_inner_iterate(s);
    return st;
}

const double *bl_inner_theta(const bl_inner *s) { return s->theta; }
const double *bl_inner_grad(const bl_inner *s) { return s->grad; }
double bl_inner_grad_norm(const bl_inner *s) { return s->gnorm; }
int bl_inner_iters(const bl_inner *s) { return s->iters; }
double bl_inner_step(const bl_inner *s) { return s->alpha; }
double bl_inner_momentum(const bl_inner *s) { return s->beta; }
const bl_inner_type *bl_inner_type_of(const bl_inner *s) { return s->type; }

const double *bl_inner_iterate_at(const bl_inner *s, int k)
{
    if (!s->traj || k < 0 || k > s->iters)
        return NULL;
    return s->traj + (size_t)k * s->p;
}
