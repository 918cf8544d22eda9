/*
 * bilevel/inner.c — the inner solver object shared by every inner
 * algorithm: allocation, the objective (G or F + νG), warm start, the
 * iterate/test loop, restarts, stored iterates and the accessors that
 * algorithm tables use (hypertape/solvers.h).
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

/* Options that cannot work, refused before any work. */
static bl_status check_opts(const bl_inner_type *T, bl_oracle *o, const bl_inner_opts *op)
{
    if ((unsigned)op->objective >= BL_OBJ_COUNT)
        return bl__fail(o, BL_EINVAL, "inner %s: unknown objective %d", T->name, op->objective);
    if (op->objective == BL_OBJ_F_NU_G && !(op->nu > 0 && isfinite(op->nu)))
        return bl__fail(o, BL_EINVAL, "inner %s: objective F + nu G needs nu > 0, not %g", T->name,
                        op->nu);
    if (op->objective == BL_OBJ_F_NU_G && T == bl_inner_newton_cg)
        return bl__fail(o, BL_EINVAL,
                        "inner newton-cg: objective F + nu G is not supported (the oracle has "
                        "H.v of G only); use gd, hb, nesterov or lbfgs");
    if (!T->iterate)
        return bl__fail(o, BL_EINVAL, "inner %s: the type has no iterate function", T->name);
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
    bl_inner_opts dflt = {0};
    if ((*st = check_opts(T, o, opts ? opts : &dflt)) != BL_OK)
        return NULL;
    const bl_problem *pb = bl_oracle_problem(o);
    bl_inner *s = calloc(1, sizeof *s);
    if (!s) {
        *st = bl__fail(o, BL_ENOMEM, "inner %s: cannot allocate the solver (%zu bytes)", T->name,
                       sizeof *s);
        return NULL;
    }
    s->type = T;
    s->o = o;
    s->p = pb->p;
    s->m = pb->m;
    if (opts)
        s->opts = *opts;
    size_t nvec = (size_t)(3 * s->p + s->m);
    s->theta = malloc(nvec * sizeof(double));
    s->state = T->state_size ? calloc(1, T->state_size) : NULL;
    if (!s->theta || (T->state_size && !s->state)) {
        *st = !s->theta ? bl__fail(o, BL_ENOMEM,
                                   "inner %s: cannot allocate theta, its gradient and lambda "
                                   "(%zu doubles, %zu bytes)", T->name, nvec, nvec * sizeof(double))
                        : bl__fail(o, BL_ENOMEM, "inner %s: cannot allocate the type's state (%zu bytes)",
                                   T->name, T->state_size);
        bl_inner_free(s);
        return NULL;
    }
    s->grad = s->theta + s->p;
    s->gG = s->grad + s->p;
    s->lambda = s->gG + s->p;
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

bl_status bl_inner_objective(bl_inner *s, const double *theta, double *value, double *grad)
{
    if (s->opts.objective != BL_OBJ_F_NU_G)
        return bl_oracle_G(s->o, NULL, theta, s->lambda, value, grad, NULL);
    double f, g, nu = s->opts.nu, *gG = grad ? s->gG : NULL;
    bl_status st = bl_oracle_F(s->o, NULL, theta, s->lambda, value ? &f : NULL, grad, NULL);
    if (st == BL_OK)
        st = bl_oracle_G(s->o, NULL, theta, s->lambda, value ? &g : NULL, gG, NULL);
    if (st != BL_OK)
        return st;
    if (value)
        *value = f + nu * g;
    if (grad)
        bl__axpy(s->p, nu, gG, grad);
    return BL_OK;
}

bl_status bl_inner_eval(bl_inner *s)
{
    s->value_ok = s->type->uses_value;
    bl_status st = bl_inner_objective(s, s->theta, s->value_ok ? &s->value : NULL, s->grad);
    s->gnorm = st == BL_OK ? bl__nrm2(s->p, s->grad) : NAN;
    if (st != BL_OK)
        s->value_ok = 0;
    return st;
}

bl_status bl_inner_constants(bl_inner *s, const char *missing, bl_constants *k)
{
    char who[64];
    snprintf(who, sizeof who, "inner %s", s->type->name);
    int fnug = s->opts.objective == BL_OBJ_F_NU_G, est = 0;
    bl_status st = bl__step_constants(s->o, who, missing, s->theta, s->lambda, fnug, k, &est);
    if (est)
        bl__oracle_drop_point(s->o); /* the estimate's recording: first-order calls follow */
    if (st != BL_OK)
        return st;
    s->estimated |= est;
    if (!fnug)
        return BL_OK;
    double nu = s->opts.nu, L = k->Lf + nu * k->L, mu = nu * k->mu - k->Lf;
    if (!(mu > 0) || !isfinite(L))
        return bl__fail(s->o, BL_EINVAL,
                        "%s: no %s given, and for F + nu G (nu = %g) the constants give "
                        "nu*mu - Lf = %g, not positive: give a %s or a larger nu",
                        who, missing, nu, mu, missing);
    k->L = L;
    k->mu = mu;
    return BL_OK;
}

int bl__traj_grow(double **traj, int *cap, int need, int first, int p)
{
    if (need <= *cap)
        return 0;
    int c = *cap ? 2 * *cap : first;
    double *t = realloc(*traj, (size_t)c * (size_t)p * sizeof(double));
    if (!t)
        return c;
    *traj = t;
    *cap = c;
    return 0;
}

bl_status bl__inner_keep(bl_inner *s)
{
    if (!s->opts.keep_iterates)
        return BL_OK;
    int cap = bl__traj_grow(&s->traj, &s->traj_cap, s->iters + 1, 64, s->p);
    if (cap)
        return bl__fail(s->o, BL_ENOMEM, "inner %s: cannot store %d iterates of size %d (%zu bytes)",
                        s->type->name, cap, s->p, (size_t)cap * s->p * sizeof(double));
    memcpy(s->traj + (size_t)s->iters * s->p, s->theta, (size_t)s->p * sizeof(double));
    return BL_OK;
}

bl_status bl_inner_set(bl_inner *s, const double *theta0, const double *lambda)
{
    if (!lambda)
        return bl__fail(s->o, BL_EINVAL, "inner %s: lambda is NULL", s->type->name);
    bl__copy_or_zero(s->p, theta0, s->theta);
    memcpy(s->lambda, lambda, (size_t)s->m * sizeof(double));
    s->iters = 0;
    s->stalled = 0;
    s->estimated = 0;
    s->alpha = s->opts.step;
    s->beta = s->opts.momentum;
    bl_status st = bl_inner_eval(s);
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

bl_status bl_inner_restart(bl_inner *s)
{
    if (s->type->restart)
        s->type->restart(s, s->state);
    return BL_OK;
}

int bl_inner_converged(const bl_inner *s, double eps) { return s->gnorm <= eps; }
int bl_inner_stalled(const bl_inner *s) { return s->stalled; }

bl_status bl__line_search(bl_inner *s, const double *d, double slope, double t, double *th0)
{
    int p = s->p;
    double f0 = bl_inner_value(s), g0 = s->gnorm, slack = 1e-13 * fabs(f0);
    memcpy(th0, s->theta, (size_t)p * sizeof(double));
    bl_status had = bl_oracle_error(s->o);
    for (int tries = 0; tries < 50; tries++, t *= 0.5) {
        for (int j = 0; j < p; j++)
            s->theta[j] = th0[j] - t * d[j];
        bl_status st = bl_inner_eval(s);
        if (st == BL_ENONFINITE) { /* a trial point: shorten the step, forget the failure */
            if (had == BL_OK)
                bl_oracle_clear_error(s->o);
            continue;
        }
        if (st != BL_OK)
            return st;
        double f = bl_inner_value(s);
        if (f <= f0 + 1e-4 * t * slope || (f <= f0 + slack && s->gnorm < g0))
            return BL_OK;
    }
    s->stalled = 1;
    memcpy(s->theta, th0, (size_t)p * sizeof(double));
    return bl_inner_eval(s);
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
int bl_inner_steps_estimated(const bl_inner *s) { return s->estimated; }
double *bl_inner_theta_mut(bl_inner *s) { return s->theta; }
double bl_inner_value(bl_inner *s)
{
    if (!s->value_ok) {
        s->value_ok = bl_inner_objective(s, s->theta, &s->value, NULL) == BL_OK;
        if (!s->value_ok)
            return NAN;
    }
    return s->value;
}
bl_oracle *bl_inner_oracle(const bl_inner *s) { return s->o; }
const double *bl_inner_lambda(const bl_inner *s) { return s->lambda; }
const bl_inner_opts *bl_inner_options(const bl_inner *s) { return &s->opts; }

void bl_inner_set_steps(bl_inner *s, double step, double momentum)
{
    s->alpha = step;
    s->beta = momentum;
}

const double *bl_inner_iterate_at(const bl_inner *s, int k)
{
    if (!s->traj || k < 0 || k > s->iters)
        return NULL;
    return s->traj + (size_t)k * s->p;
}
