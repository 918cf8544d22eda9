/*
 * bilevel/outer_f2sa.c — F2SA (Kwon, Kwon, Wright & Nowak 2023, "A fully
 * first-order method for stochastic bilevel optimization") and its Adam
 * variant, as the algorithm boxes of hypertape/outer.h: z tracks argmin_θ G,
 * y tracks argmin_θ F + νG, T inner steps of both on minibatch gradients,
 * then λ moves along d = ∇_λF(y) + ν(∇_λG(y) − ∇_λG(z)) and ν grows by δ.
 * No Hessian-vector product: the counts are gradients and samples.
 */
#include "bilevel/internal.h"
#include <hypertape/outer.h>
#include <hypertape/sampler.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct f2sa_state {
    int adam;                 /* 1: f2sa-adam */
    bl_oracle *orc;           /* the context's oracle */
    int p, m, T;
    double alpha, gamma, xi, nu0, delta;
    bl__batches bt;           /* batches and samplers */
    size_t bytes;             /* the doubles below (memory_bytes) */
    double nu;
    double *y, *z, *gz, *gy, *gf;     /* p each: iterates and inner gradients */
    double *mz, *vz, *my, *vy;        /* p each: inner Adam moments */
    double *d, *gl, *mx, *vx;         /* m each: direction, ∇_λG scratch, λ's Adam moments */
} f2sa_state;

static const char *check(const bl_outer_opts *op)
{
    if (op->batch_inner < 0 || op->batch_outer < 0)
        return "batch_inner and batch_outer must be >= 0 (0 = 64)";
    if (!(op->inner_step >= 0) || !isfinite(op->inner_step) || !(op->outer_step >= 0) ||
        !isfinite(op->outer_step))
        return "inner_step (alpha) and outer_step (gamma) must be finite and >= 0 (0 = default)";
    if (!(op->sched_a >= 0) || !(op->sched_b >= 0) || !isfinite(op->sched_a) || !isfinite(op->sched_b))
        return "sched_a and sched_b must be finite and >= 0";
    if (op->inner_steps < 0)
        return "inner_steps must be >= 0 (0 = 10)";
    if (!(op->nu0 >= 0) || !isfinite(op->nu0) || !(op->nu_delta >= 0) || !isfinite(op->nu_delta))
        return "nu0 and nu_delta must be finite and >= 0";
    if (!(op->xi >= 0) || !isfinite(op->xi))
        return "xi must be finite and >= 0 (0 = 1)";
    if (op->sample_mode < 0 || op->sample_mode >= BL_SAMPLE_MODE_COUNT)
        return "unknown sample_mode";
    return NULL;
}

static bl_status alloc_common(bl_outer *o, f2sa_state *s, int adam)
{
    const bl_problem *pb = bl_outer_problem(o);
    const bl_outer_opts *op = bl_outer_options(o);
    const char *why = check(op);
    if (why)
        return bl_outer_fail(o, BL_EINVAL, "%s", why);
    s->adam = adam;
    s->orc = bl_hg_oracle(bl_outer_hg(o));
    s->p = pb->p, s->m = pb->m;
    s->T = op->inner_steps > 0 ? op->inner_steps : 10;
    s->alpha = op->inner_step > 0 ? op->inner_step : adam ? 0.001 : 0.1;
    s->gamma = op->outer_step > 0 ? op->outer_step : s->alpha;
    s->xi = op->xi > 0 ? op->xi : 1.0;
    s->nu0 = op->nu0 > 0 ? op->nu0 : 1.0;
    s->delta = op->nu_delta;
    size_t p = (size_t)s->p, m = (size_t)s->m, nd = 9 * p + 4 * m;
    s->bytes = nd * sizeof(double);
    s->y = malloc(nd * sizeof(double));
    int b_in = bl__batch_size(op->batch_inner, pb->n_inner, 64);
    int b_out = bl__batch_size(op->batch_outer, pb->n_outer, 64);
    bl_status bst = bl__batches_init(&s->bt, b_in, pb->n_inner, b_out, pb->n_outer);
    if (!s->y || bst != BL_OK)
        return bl_outer_fail(o, BL_ENOMEM, "cannot allocate %zu doubles and %d indices", nd,
                             s->bt.n_idx);
    double *w = s->y;
    s->z = w += p, s->gz = w += p, s->gy = w += p, s->gf = w += p;
    s->mz = w += p, s->vz = w += p, s->my = w += p, s->vy = w += p;
    s->d = w += p, s->gl = w += m, s->mx = w += m, s->vx = w += m;
    return BL_OK;
}

static bl_status f2sa_alloc(bl_outer *o, void *state) { return alloc_common(o, state, 0); }
static bl_status f2sa_adam_alloc(bl_outer *o, void *state) { return alloc_common(o, state, 1); }

static void f2sa_free(void *state)
{
    f2sa_state *s = state;
    bl__batches_free(&s->bt);
    free(s->y);
}

static bl_status f2sa_set(bl_outer *o, void *state)
{
    f2sa_state *s = state;
    bl__outer_start(o, s->p, s->y);
    memcpy(s->z, s->y, (size_t)s->p * sizeof(double));
    memset(s->mx, 0, 2 * (size_t)s->m * sizeof(double)); /* mx, vx */
    s->nu = s->nu0;
    const bl_problem *pb = bl_outer_problem(o);
    bl_status st = bl__batches_set(o, &s->bt, pb->n_inner, pb->n_outer);
    if (st != BL_OK)
        return st;
    return BL_OK;
}

/* x ← x − a·(Adam step of g) with moments (mo, va) and count i ≥ 1, or x ← x − a·g. */
static void step(int n, double a, const double *g, double *x, double *mo, double *va, int i,
                 const bl_outer_opts *op)
{
    if (mo)
        bl__adam_step(n, a, g, x, mo, va, i, op);
    else
        bl__axpy(n, -a, g, x);
}

/* T steps of z on G and y on F + νG at λ. */
static bl_status inner_loop(f2sa_state *s, const double *lam, double a, double g,
                            const bl_outer_opts *op)
{
    bl_batch b;
    bl_status st = BL_OK;
    if (s->adam)
        memset(s->mz, 0, 4 * (size_t)s->p * sizeof(double)); /* mz, vz, my, vy */
    for (int t = 0; t < s->T && st == BL_OK; t++) {
        st = bl_oracle_G(s->orc, bl__batches_next(&s->bt, 0, &b), s->z, lam, NULL, s->gz, NULL);
        if (st == BL_OK)
            st = bl_oracle_G(s->orc, bl__batches_next(&s->bt, 0, &b), s->y, lam, NULL, s->gy, NULL);
        if (st == BL_OK)
            st = bl_oracle_F(s->orc, bl__batches_next(&s->bt, 1, &b), s->y, lam, NULL, s->gf, NULL);
        if (st != BL_OK)
            break;
        bl__axpy(s->p, s->nu, s->gy, s->gf); /* gf = ∇_θF + ν∇_θG */
        step(s->p, g, s->gz, s->z, s->adam ? s->mz : NULL, s->vz, t + 1, op);
        step(s->p, a, s->gf, s->y, s->adam ? s->my : NULL, s->vy, t + 1, op);
    }
    return st;
}

/* d = ∇_λF(y; ζ_x) + ν(∇_λG(y; φ_xy) − ∇_λG(z; φ_xz)); *value = F(y; ζ_x). */
static bl_status direction(f2sa_state *s, const double *lam, double *value)
{
    bl_batch b;
    bl_status st = bl_oracle_F(s->orc, bl__batches_next(&s->bt, 1, &b), s->y, lam, value, NULL, s->d);
    if (st == BL_OK)
        st = bl_oracle_G(s->orc, bl__batches_next(&s->bt, 0, &b), s->y, lam, NULL, NULL, s->gl);
    if (st == BL_OK)
        bl__axpy(s->m, s->nu, s->gl, s->d);
    if (st == BL_OK)
        st = bl_oracle_G(s->orc, bl__batches_next(&s->bt, 0, &b), s->z, lam, NULL, NULL, s->gl);
    if (st == BL_OK)
        bl__axpy(s->m, -s->nu, s->gl, s->d);
    return st;
}

static bl_status f2sa_iterate(bl_outer *o, void *state)
{
    f2sa_state *s = state;
    const bl_outer_opts *op = bl_outer_options(o);
    bl_outer_report *rep = bl_outer_report_mut(o);
    int t = rep->iter + 1;
    double a = op->sched_a > 0 ? s->alpha * pow((double)t, -op->sched_a) : s->alpha;
    double g = op->sched_b > 0 ? s->gamma * pow((double)t, -op->sched_b) : s->gamma;
    double *lam = bl_outer_lambda_mut(o), value = NAN;
    bl_oracle_clear_error(s->orc);
    bl_counts c0 = bl_oracle_counts(s->orc);
    bl_status st = inner_loop(s, lam, a, g, op);
    if (st == BL_OK)
        st = direction(s, lam, &value);
    bl_counts c1 = bl_oracle_counts(s->orc), dc = {c1.fval - c0.fval, c1.grad - c0.grad,
                                                   c1.hvp - c0.hvp, c1.cross - c0.cross,
                                                   c1.samples - c0.samples};
    bl_outer_charge(o, &dc);
    rep->status = st;
    if (st != BL_OK) {
        rep->accepted = 0;
        return bl_outer_fail(o, st, "%s", bl_oracle_message(s->orc));
    }
    rep->accepted = 1;
    rep->value = value;
    rep->grad_norm = bl__nrm2(s->m, s->d);
    rep->pgrad_norm = bl_outer_projected_norm(o, lam, s->d);
    rep->step = s->xi * a;
    bl__batches_note_memory(o, &s->bt, s->bytes, s->orc);
    bl_outer_note_value(o, lam, value);
    step(s->m, s->xi * a, s->d, lam, s->adam ? s->mx : NULL, s->vx, t, op);
    bl_outer_project(o, lam);
    s->nu += s->delta;
    return BL_OK;
}

/* z, the tracker of argmin_θ G: the model bl_outer_model reports (outer.h). */
const double *bl__f2sa_model(const bl_outer *o)
{
    const f2sa_state *s = bl_outer_state(o);
    return s ? s->z : NULL;
}

static const bl_outer_type f2sa_type = {"f2sa", sizeof(f2sa_state), f2sa_alloc, f2sa_set,
                                        f2sa_iterate, f2sa_free};
static const bl_outer_type f2sa_adam_type = {"f2sa-adam", sizeof(f2sa_state), f2sa_adam_alloc,
                                             f2sa_set, f2sa_iterate, f2sa_free};
const bl_outer_type *const bl_outer_f2sa = &f2sa_type;
const bl_outer_type *const bl_outer_f2sa_adam = &f2sa_adam_type;
