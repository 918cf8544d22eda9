/*
 * bilevel/outer_bome.c — BOME (Liu, Ye, Wright, Stone & Liu 2022, "BOME!
 * Bilevel optimization made easy: a simple first-order approach"), as the
 * box in hypertape/outer.h: the value-function constraint
 * q(θ, λ) = G(θ, λ) − min G(·, λ) ≤ 0, its minimum approximated by T
 * gradient steps from θ_k, and one dynamic-barrier step on (θ, λ):
 * d = ∇F + w∇q̂ with w = max(η‖∇q̂‖² − ⟨∇F, ∇q̂⟩, 0)/‖∇q̂‖². No
 * Hessian-vector product: the counts are gradients and samples.
 */
#include "bilevel/internal.h"
#include <hypertape/outer.h>
#include <hypertape/sampler.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct bome_state {
    bl_oracle *orc;
    int p, m, T;
    double alpha, beta, eta;
    bl__batches bt;           /* batches and samplers */
    size_t bytes;             /* the doubles below (memory_bytes) */
    double *theta, *thT, *g, *fT, *qT; /* p each: θ_k, θ^T, scratch, ∇_θF, ∇_θq̂ */
    double *fL, *qL, *gl;              /* m each: ∇_λF, ∇_λq̂, ∇_λG(θ^T) */
} bome_state;

static const char *check(const bl_outer_opts *op)
{
    if (op->batch_inner < 0 || op->batch_outer < 0)
        return "batch_inner and batch_outer must be >= 0 (0 = full)";
    if (!(op->inner_step >= 0) || !isfinite(op->inner_step) || !(op->outer_step >= 0) ||
        !isfinite(op->outer_step))
        return "inner_step (alpha) and outer_step (beta) must be finite and >= 0 (0 = default)";
    if (op->inner_steps < 0)
        return "inner_steps must be >= 0 (0 = 10)";
    if (!(op->bome_eta >= 0) || !isfinite(op->bome_eta))
        return "bome_eta must be finite and >= 0 (0 = 0.5)";
    if (op->sample_mode < 0 || op->sample_mode >= BL_SAMPLE_MODE_COUNT)
        return "unknown sample_mode";
    return NULL;
}

static bl_status bome_alloc(bl_outer *o, void *state)
{
    bome_state *s = state;
    const bl_problem *pb = bl_outer_problem(o);
    const bl_outer_opts *op = bl_outer_options(o);
    const char *why = check(op);
    if (why)
        return bl_outer_fail(o, BL_EINVAL, "%s", why);
    s->orc = bl_hg_oracle(bl_outer_hg(o));
    s->p = pb->p, s->m = pb->m;
    s->T = op->inner_steps > 0 ? op->inner_steps : 10;
    s->alpha = op->inner_step > 0 ? op->inner_step : 0.1;
    s->beta = op->outer_step > 0 ? op->outer_step : s->alpha;
    s->eta = op->bome_eta > 0 ? op->bome_eta : 0.5;
    size_t p = (size_t)s->p, m = (size_t)s->m, nd = 5 * p + 3 * m;
    s->bytes = nd * sizeof(double);
    s->theta = malloc(nd * sizeof(double));
    int b_in = bl__batch_size(op->batch_inner, pb->n_inner, pb->n_inner); /* 0 = full */
    int b_out = bl__batch_size(op->batch_outer, pb->n_outer, pb->n_outer);
    bl_status bst = bl__batches_init(&s->bt, b_in, pb->n_inner, b_out, pb->n_outer);
    if (!s->theta || bst != BL_OK)
        return bl_outer_fail(o, BL_ENOMEM, "cannot allocate %zu doubles and %d indices", nd,
                             s->bt.n_idx);
    double *w = s->theta;
    s->thT = w += p, s->g = w += p, s->fT = w += p, s->qT = w += p;
    s->fL = w += p, s->qL = w += m, s->gl = w += m;
    return BL_OK;
}

static void bome_free(void *state)
{
    bome_state *s = state;
    bl__batches_free(&s->bt);
    free(s->theta);
}

static bl_status bome_set(bl_outer *o, void *state)
{
    bome_state *s = state;
    bl__outer_start(o, s->p, s->theta);
    const bl_problem *pb = bl_outer_problem(o);
    bl_status st = bl__batches_set(o, &s->bt, pb->n_inner, pb->n_outer);
    if (st != BL_OK)
        return st;
    return BL_OK;
}

/* θ^T, ∇F at θ_k (value too) and ∇q̂ at θ_k (one inner batch for both G terms). */
static bl_status gradients(bome_state *s, const double *lam, double *value)
{
    bl_batch b;
    bl_status st = BL_OK;
    memcpy(s->thT, s->theta, (size_t)s->p * sizeof(double));
    for (int t = 0; t < s->T && st == BL_OK; t++) {
        st = bl_oracle_G(s->orc, bl__batches_next(&s->bt, 0, &b), s->thT, lam, NULL, s->g, NULL);
        if (st == BL_OK)
            bl__axpy(s->p, -s->alpha, s->g, s->thT);
    }
    if (st == BL_OK)
        st = bl_oracle_F(s->orc, bl__batches_next(&s->bt, 1, &b), s->theta, lam, value, s->fT, s->fL);
    const bl_batch *bq = bl__batches_next(&s->bt, 0, &b);
    if (st == BL_OK)
        st = bl_oracle_G(s->orc, bq, s->theta, lam, NULL, s->qT, s->qL);
    if (st == BL_OK)
        st = bl_oracle_G(s->orc, bq, s->thT, lam, NULL, NULL, s->gl);
    if (st == BL_OK)
        bl__axpy(s->m, -1.0, s->gl, s->qL);
    return st;
}

static bl_status bome_iterate(bl_outer *o, void *state)
{
    bome_state *s = state;
    bl_outer_report *rep = bl_outer_report_mut(o);
    double *lam = bl_outer_lambda_mut(o), value = NAN;
    bl_oracle_clear_error(s->orc);
    bl_counts c0 = bl_oracle_counts(s->orc);
    bl_status st = gradients(s, lam, &value);
    bl_counts c1 = bl_oracle_counts(s->orc), dc = {c1.fval - c0.fval, c1.grad - c0.grad,
                                                   c1.hvp - c0.hvp, c1.cross - c0.cross,
                                                   c1.samples - c0.samples};
    bl_outer_charge(o, &dc);
    rep->status = st;
    if (st != BL_OK) {
        rep->accepted = 0;
        return bl_outer_fail(o, st, "%s", bl_oracle_message(s->orc));
    }
    double nq2 = bl__dot(s->p, s->qT, s->qT) + bl__dot(s->m, s->qL, s->qL);
    double dot = bl__dot(s->p, s->fT, s->qT) + bl__dot(s->m, s->fL, s->qL);
    double w = nq2 > 0 ? fmax(s->eta * nq2 - dot, 0.0) / nq2 : 0.0;
    bl__axpy(s->p, w, s->qT, s->fT); /* d_θ */
    bl__axpy(s->m, w, s->qL, s->fL); /* d_λ */
    rep->accepted = 1;
    rep->value = value;
    rep->grad_norm = bl__nrm2(s->m, s->fL);
    rep->pgrad_norm = bl_outer_projected_norm(o, lam, s->fL);
    rep->step = s->beta;
    bl__batches_note_memory(o, &s->bt, s->bytes, s->orc);
    bl_outer_note_value(o, lam, value);
    bl__axpy(s->p, -s->alpha, s->fT, s->theta);
    bl__axpy(s->m, -s->beta, s->fL, lam);
    bl_outer_project(o, lam);
    return BL_OK;
}

/* θ_k: the model bl_outer_model reports (outer.h). */
const double *bl__bome_model(const bl_outer *o)
{
    const bome_state *s = bl_outer_state(o);
    return s ? s->theta : NULL;
}

static const bl_outer_type bome_type = {"bome", sizeof(bome_state), bome_alloc, bome_set,
                                        bome_iterate, bome_free};
const bl_outer_type *const bl_outer_bome = &bome_type;
