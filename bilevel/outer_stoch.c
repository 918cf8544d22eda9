/*
 * bilevel/outer_stoch.c — what the stochastic outer algorithms share
 * (hypertape/outer.h, README "Stochastic algorithms"): option defaults, the
 * batches (bilevel/outer_batches.c), the batch means of the five
 * quantities (∇_θG, H v, cross(v), ∇_θF, ∇_λF) from the model's per-sample
 * hook or from batched oracle calls, the step schedules, the charged
 * counts and the report.
 */
#include "bilevel/internal.h"
#include <hypertape/outer.h>
#include <hypertape/sampler.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *check(const bl_outer_opts *op, const bl_problem *pb)
{
    if (pb->n_inner <= 0 || pb->n_outer <= 0)
        return "needs a problem with minibatch support (n_inner and n_outer > 0)";
    if (op->batch_inner < 0 || op->batch_outer < 0)
        return "batch_inner and batch_outer must be >= 0";
    if (!(op->inner_step >= 0) || !isfinite(op->inner_step) || !(op->outer_step >= 0) ||
        !isfinite(op->outer_step))
        return "inner_step and outer_step must be finite and >= 0 (0 = default)";
    if (!(op->sched_a >= 0) || !(op->sched_b >= 0) || !isfinite(op->sched_a) || !isfinite(op->sched_b))
        return "sched_a and sched_b must be finite and >= 0";
    if (op->inner_steps < 0 || op->neumann_terms < 0 || op->refresh < 0)
        return "inner_steps, neumann_terms and refresh must be >= 0";
    if (op->sample_mode < 0 || op->sample_mode >= BL_SAMPLE_MODE_COUNT)
        return "unknown sample_mode";
    return NULL;
}

bl_status bl__stoch_alloc(bl_outer *o, bl__stoch *s, double rho0, double gamma0)
{
    const bl_problem *pb = bl_outer_problem(o);
    const bl_outer_opts *op = bl_outer_options(o);
    const char *why = check(op, pb);
    if (why)
        return bl_outer_fail(o, BL_EINVAL, "%s", why);
    s->orc = bl_hg_oracle(bl_outer_hg(o));
    s->p = pb->p, s->m = pb->m, s->n_in = pb->n_inner, s->n_out = pb->n_outer;
    int b_in = bl__batch_size(op->batch_inner, s->n_in, 64);
    int b_out = bl__batch_size(op->batch_outer, s->n_out, 64);
    s->rho = op->inner_step > 0 ? op->inner_step : rho0;
    s->gamma = op->outer_step > 0 ? op->outer_step : gamma0;
    s->sa = op->sched_a, s->sb = op->sched_b;
    s->T = op->inner_steps > 0 ? op->inner_steps : 10;
    s->Q = op->neumann_terms > 0 ? op->neumann_terms : 10;
    s->refresh = op->refresh > 0 ? op->refresh
                                 : (int)ceil((double)(s->n_in + s->n_out) / (b_in + b_out));
    s->use_ps = pb->persample != NULL;
    size_t p = (size_t)s->p, m = (size_t)s->m;
    size_t nrows = (size_t)b_in * (2 * p + m) + (size_t)b_out * (p + m);
    size_t nd = nrows + 4 * p + m + 3 * p + 2 * m;
    s->rows = malloc(nd * sizeof(double));
    bl_status bst = bl__batches_init(&s->bt, b_in, s->n_in, b_out, s->n_out);
    if (!s->rows || bst != BL_OK)
        return bl_outer_fail(o, BL_ENOMEM, "cannot allocate %zu doubles and %d indices", nd,
                             s->bt.n_idx);
    s->theta = s->rows + nrows;
    s->v = s->theta + p;
    s->dth = s->v + p;
    s->dv = s->dth + p;
    s->dla = s->dv + p;
    s->work = s->dla + m;
    s->bytes = nd * sizeof(double);
    s->v_radius = INFINITY;
    return BL_OK;
}

void bl__stoch_free(bl__stoch *s)
{
    bl__batches_free(&s->bt);
    free(s->rows);
}

bl_status bl__stoch_set(bl_outer *o, bl__stoch *s)
{
    size_t p = (size_t)s->p;
    bl__outer_start(o, s->p, s->theta);
    memset(s->v, 0, (3 * p + s->m) * sizeof(double)); /* v, D_θ, D_v, D_λ */
    bl_status st = bl__batches_set(o, &s->bt, s->n_in, s->n_out);
    if (st != BL_OK)
        return st;
    s->value = NAN;
    s->refreshed = 0;
    s->v_radius = INFINITY;
    bl_oracle_reset(s->orc);
    bl_oracle_clear_error(s->orc);
    return BL_OK;
}

bl_status bl__stoch_fail(bl_outer *o, bl__stoch *s, bl_status st)
{
    bl_outer_report_mut(o)->status = st;
    return bl_outer_fail(o, st, "%s", bl_oracle_message(s->orc));
}

/* Adds the oracle's counts since *before to o. */
static void charge_since(bl_outer *o, bl__stoch *s, const bl_counts *before)
{
    bl_counts now = bl_oracle_counts(s->orc), d = {
        now.fval - before->fval, now.grad - before->grad, now.hvp - before->hvp,
        now.cross - before->cross, now.samples - before->samples};
    bl_outer_charge(o, &d);
}

bl_status bl__stoch_rows(bl_outer *o, bl__stoch *s, const bl_batch *in, const bl_batch *out,
                         const double *theta, const double *lambda, const double *v,
                         double *const rows[BL_PS_COUNT])
{
    bl_persample_req rq = {in, out, v, {NULL}};
    for (int k = 0; k < BL_PS_COUNT; k++)
        rq.rows[k] = rows[k];
    bl_counts c0 = bl_oracle_counts(s->orc);
    bl_status st = bl_oracle_persample_all(s->orc, &rq, theta, lambda);
    charge_since(o, s, &c0);
    return st;
}

/* out (w) = mean of the b rows of width w. */
static void row_mean(int b, int w, const double *rows, double *out)
{
    memset(out, 0, (size_t)w * sizeof *out);
    for (int k = 0; k < b; k++)
        for (int j = 0; j < w; j++)
            out[j] += rows[(size_t)k * w + j];
    double inv = 1.0 / b;
    for (int j = 0; j < w; j++)
        out[j] *= inv;
}

static bl_status means_ps(bl_outer *o, bl__stoch *s, const double *theta, const double *lambda,
                          const double *v, const bl__means *d)
{
    size_t p = (size_t)s->p, m = (size_t)s->m, bi = (size_t)s->bt.b_in, bo = (size_t)s->bt.b_out;
    double *r = s->rows;
    double *rows[BL_PS_COUNT] = {
        [BL_PS_GRAD_G_THETA] = d->gG ? r : NULL, [BL_PS_HVP] = d->hv ? r + bi * p : NULL,
        [BL_PS_CROSS] = d->cr ? r + 2 * bi * p : NULL,
        [BL_PS_GRAD_F_THETA] = d->fT ? r + bi * (2 * p + m) : NULL,
        [BL_PS_GRAD_F_LAMBDA] = d->fL ? r + bi * (2 * p + m) + bo * p : NULL};
    bl_batch in = {s->bt.idx_in, s->bt.b_in}, out = {s->bt.idx_out, s->bt.b_out};
    bl_status st = bl__stoch_rows(o, s, &in, &out, theta, lambda, v, rows);
    if (st != BL_OK)
        return st;
    double *dst[BL_PS_COUNT] = {[BL_PS_GRAD_G_THETA] = d->gG, [BL_PS_HVP] = d->hv, [BL_PS_CROSS] = d->cr,
                                [BL_PS_GRAD_F_THETA] = d->fT, [BL_PS_GRAD_F_LAMBDA] = d->fL};
    for (int k = 0; k < BL_PS_COUNT; k++) {
        int outer = k == BL_PS_GRAD_F_THETA || k == BL_PS_GRAD_F_LAMBDA;
        int w = k == BL_PS_CROSS || k == BL_PS_GRAD_F_LAMBDA ? s->m : s->p;
        if (dst[k])
            row_mean(outer ? s->bt.b_out : s->bt.b_in, w, rows[k], dst[k]);
    }
    return BL_OK;
}

static bl_status means_batched(bl_outer *o, bl__stoch *s, const double *theta, const double *lambda,
                               const double *v, const bl__means *d, int full)
{
    bl_batch in = {s->bt.idx_in, s->bt.b_in}, out = {s->bt.idx_out, s->bt.b_out};
    const bl_batch *bi = full || s->bt.full_in ? NULL : &in, *bo = full || s->bt.full_out ? NULL : &out;
    bl_counts c0 = bl_oracle_counts(s->orc);
    bl_status st = BL_OK;
    if (d->gG)
        st = bl_oracle_G(s->orc, bi, theta, lambda, NULL, d->gG, NULL);
    if (st == BL_OK && (d->hv || d->cr))
        st = bl_oracle_point(s->orc, bi, theta, lambda);
    if (st == BL_OK && (d->hv || d->cr))
        st = bl_oracle_hvp(s->orc, v, d->hv, d->cr);
    if (st == BL_OK && (d->fT || d->fL))
        st = bl_oracle_F(s->orc, bo, theta, lambda, full ? &s->value : NULL, d->fT, d->fL);
    charge_since(o, s, &c0);
    return st;
}

bl_status bl__stoch_means(bl_outer *o, bl__stoch *s, const double *theta, const double *lambda,
                          const double *v, const bl__means *d, int full)
{
    int batched = full || !s->use_ps || (s->bt.full_in && s->bt.full_out);
    return batched ? means_batched(o, s, theta, lambda, v, d, full)
                   : means_ps(o, s, theta, lambda, v, d);
}

void bl__stoch_steps(const bl__stoch *s, int t, double *rho, double *gamma)
{
    *rho = s->sa > 0 ? s->rho * pow((double)t, -s->sa) : s->rho;
    *gamma = s->sb > 0 ? s->gamma * pow((double)t, -s->sb) : s->gamma;
}

bl_status bl__stoch_value(bl_outer *o, bl__stoch *s, int t, const double *lambda)
{
    if ((t - 1) % BL__STOCH_VALUE_EVERY)
        return BL_OK;
    bl_batch out = {s->bt.idx_out, s->bt.b_out};
    bl_counts c0 = bl_oracle_counts(s->orc);
    bl_status st = bl_oracle_F(s->orc, s->bt.full_out ? NULL : &out, s->theta, lambda, &s->value, NULL,
                               NULL);
    charge_since(o, s, &c0);
    return st;
}

/* The report after an iteration that moves λ with step γ_t. */
static void report(bl_outer *o, bl__stoch *s, double gamma)
{
    bl_outer_report *rep = bl_outer_report_mut(o);
    const double *lam = bl_outer_lambda(o);
    rep->accepted = 1;
    rep->status = BL_OK;
    rep->value = s->value;
    rep->grad_norm = bl__nrm2(s->m, s->dla);
    rep->pgrad_norm = bl_outer_projected_norm(o, lam, s->dla);
    rep->step = gamma;
    bl__batches_note_memory(o, &s->bt, s->bytes, s->orc);
    if (isfinite(s->value))
        bl_outer_note_value(o, lam, s->value);
}

void bl__stoch_move(bl_outer *o, bl__stoch *s, int t, int inner)
{
    double rho, gamma, *lam = bl_outer_lambda_mut(o);
    bl__stoch_steps(s, t, &rho, &gamma);
    report(o, s, gamma);
    if (inner) {
        bl__axpy(s->p, -rho, s->dth, s->theta);
        bl__axpy(s->p, -rho, s->dv, s->v);
    }
    bl__axpy(s->m, -gamma, s->dla, lam);
    bl_outer_project(o, lam);
}

/* ------------------------------------------------------------ the view */

static int is_stoch(const bl_outer_type *T)
{
    return T == bl_outer_soba || T == bl_outer_saba || T == bl_outer_srba || T == bl_outer_stocbio ||
           T == bl_outer_amigo;
}

bl_status bl_outer_stoch_get(bl_outer *o, bl_outer_stoch_view *view)
{
    if (!is_stoch(bl_outer_type_of(o)) || !view)
        return bl_outer_fail(o, BL_EINVAL, "stoch_get: %s",
                             view ? "not a stochastic algorithm (soba, saba, srba, stocbio, amigo)"
                                  : "view is NULL");
    const bl__stoch *s = bl_outer_state(o);
    *view = (bl_outer_stoch_view){s->theta, s->v, s->dth, s->dv, s->dla, s->refreshed, s->v_radius};
    return BL_OK;
}

const double *bl_outer_model(const bl_outer *o)
{
    const bl_outer_type *T = bl_outer_type_of(o);
    if (is_stoch(T))
        return ((const bl__stoch *)bl_outer_state(o))->theta;
    if (T == bl_outer_f2sa || T == bl_outer_f2sa_adam)
        return bl__f2sa_model(o);
    if (T == bl_outer_bome)
        return bl__bome_model(o);
    return NULL;
}
