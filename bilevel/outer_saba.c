/*
 * bilevel/outer_saba.c — SABA (Dagréou, Ablin, Vaiter & Moreau 2022): SOBA
 * with SAGA memories (Defazio, Bach & Lacoste-Julien 2014) on the five
 * per-sample quantities ∇_θG_i, H_i v, cross_i(v) (inner tables, n_inner
 * rows) and ∇_θF_j, ∇_λF_j (outer tables, n_outer rows), each with its
 * running mean. Each quantity's estimate on a batch S is
 *   (1/|S|) Σ_{k∈S} (q_k(θ_t, v_t, λ_t) − T[k]) + mean(T),
 * after which the rows of S and the means are updated (a repeated index
 * counts once: its second difference is 0). The tables start at
 * (θ_0, v_0 = 0, λ_0), one epoch of each side, charged. Memory:
 * n_inner(2p + m) + n_outer(p + m) doubles (README, "Stochastic
 * algorithms").
 */
#include "bilevel/internal.h"
#include <hypertape/outer.h>

#include <stdlib.h>
#include <string.h>

typedef struct saba_state {
    bl__stoch s;              /* first: bl_outer_stoch_get */
    double *tab[BL_PS_COUNT]; /* the memories, layout of bl_oracle_persample */
    double *mean[BL_PS_COUNT];
    double *block;
} saba_state;

static int is_outer(int k) { return k == BL_PS_GRAD_F_THETA || k == BL_PS_GRAD_F_LAMBDA; }
static int width(const bl__stoch *s, int k) { return k == BL_PS_CROSS || k == BL_PS_GRAD_F_LAMBDA ? s->m : s->p; }

static bl_status saba_alloc(bl_outer *o, void *state)
{
    saba_state *S = state;
    bl__stoch *s = &S->s;
    bl_status st = bl__stoch_alloc(o, s, 0.1, 0.1);
    if (st != BL_OK)
        return st;
    size_t total = 0;
    for (int k = 0; k < BL_PS_COUNT; k++)
        total += ((size_t)(is_outer(k) ? s->n_out : s->n_in) + 1) * width(s, k);
    if (!(S->block = malloc(total * sizeof(double))))
        return bl_outer_fail(o, BL_ENOMEM, "cannot allocate the SAGA tables (%zu doubles, %zu bytes)",
                             total, total * sizeof(double));
    double *q = S->block;
    for (int k = 0; k < BL_PS_COUNT; k++) {
        size_t w = width(s, k), n = is_outer(k) ? s->n_out : s->n_in;
        S->tab[k] = q;
        S->mean[k] = q + n * w;
        q += (n + 1) * w;
    }
    s->bytes += total * sizeof(double);
    return BL_OK;
}

static void saba_free(void *state)
{
    saba_state *S = state;
    bl__stoch_free(&S->s);
    free(S->block);
}

static bl_status saba_set(bl_outer *o, void *state)
{
    saba_state *S = state;
    bl__stoch *s = &S->s;
    bl_status st = bl__stoch_set(o, s);
    if (st != BL_OK)
        return st;
    st = bl__stoch_rows(o, s, NULL, NULL, s->theta, bl_outer_lambda(o), s->v, S->tab);
    if (st != BL_OK)
        return bl__stoch_fail(o, s, st);
    for (int k = 0; k < BL_PS_COUNT; k++) {
        int w = width(s, k), n = is_outer(k) ? s->n_out : s->n_in;
        memset(S->mean[k], 0, (size_t)w * sizeof(double));
        for (int i = 0; i < n; i++)
            bl__axpy(w, 1.0, S->tab[k] + (size_t)i * w, S->mean[k]);
        for (int j = 0; j < w; j++)
            S->mean[k][j] /= n;
    }
    return BL_OK;
}

/* est (w) = SAGA estimate of kind k from the new rows of the batch; then
 * stores the rows and updates the running mean. */
static void saga_kind(saba_state *S, int k, const int *idx, int b, const double *rows, double *est)
{
    bl__stoch *s = &S->s;
    int w = width(s, k), n = is_outer(k) ? s->n_out : s->n_in;
    double *T = S->tab[k], *mu = S->mean[k], inv_b = 1.0 / b, inv_n = 1.0 / n;
    memcpy(est, mu, (size_t)w * sizeof(double));
    for (int r = 0; r < b; r++) {
        const double *nw = rows + (size_t)r * w, *old = T + (size_t)idx[r] * w;
        for (int j = 0; j < w; j++)
            est[j] += inv_b * (nw[j] - old[j]);
    }
    for (int r = 0; r < b; r++) {
        const double *nw = rows + (size_t)r * w;
        double *old = T + (size_t)idx[r] * w;
        for (int j = 0; j < w; j++) {
            mu[j] += inv_n * (nw[j] - old[j]);
            old[j] = nw[j];
        }
    }
}

static bl_status saba_iterate(bl_outer *o, void *state)
{
    saba_state *S = state;
    bl__stoch *s = &S->s;
    int p = s->p, m = s->m, t = bl_outer_last(o)->iter + 1;
    size_t bi = (size_t)s->bt.b_in, bo = (size_t)s->bt.b_out;
    double *lam = bl_outer_lambda_mut(o), *r = s->rows;
    double *rows[BL_PS_COUNT] = {[BL_PS_GRAD_G_THETA] = r, [BL_PS_HVP] = r + bi * p,
                                 [BL_PS_CROSS] = r + 2 * bi * p,
                                 [BL_PS_GRAD_F_THETA] = r + bi * (2 * p + m),
                                 [BL_PS_GRAD_F_LAMBDA] = r + bi * (2 * p + m) + bo * p};
    bl_oracle_clear_error(s->orc);
    bl__batches_draw(&s->bt, 1, 1);
    bl_batch in = {s->bt.idx_in, s->bt.b_in}, out = {s->bt.idx_out, s->bt.b_out};
    bl_status st = bl__stoch_rows(o, s, &in, &out, s->theta, lam, s->v, rows);
    if (st == BL_OK)
        st = bl__stoch_value(o, s, t, lam);
    if (st != BL_OK)
        return bl__stoch_fail(o, s, st);
    double *hv = s->work, *fT = hv + p, *fL = fT + p;
    double *est[BL_PS_COUNT] = {[BL_PS_GRAD_G_THETA] = s->dth, [BL_PS_HVP] = hv, [BL_PS_CROSS] = s->dla,
                                [BL_PS_GRAD_F_THETA] = fT, [BL_PS_GRAD_F_LAMBDA] = fL};
    for (int k = 0; k < BL_PS_COUNT; k++)
        saga_kind(S, k, is_outer(k) ? s->bt.idx_out : s->bt.idx_in, is_outer(k) ? s->bt.b_out : s->bt.b_in,
                  rows[k], est[k]);
    bl__soba_update(o, s, hv, fT, fL, t);
    return BL_OK;
}

bl_status bl_outer_saba_table(bl_outer *o, bl_persample_kind kind, const double **rows,
                              const double **mean)
{
    if (bl_outer_type_of(o) != bl_outer_saba || kind < 0 || kind >= BL_PS_COUNT)
        return bl_outer_fail(o, BL_EINVAL, "saba_table: %s (kind %d)",
                             bl_outer_type_of(o) != bl_outer_saba ? "not a SABA algorithm"
                                                                  : "unknown kind", (int)kind);
    const saba_state *S = bl_outer_state(o);
    if (rows)
        *rows = S->tab[kind];
    if (mean)
        *mean = S->mean[kind];
    return BL_OK;
}

static const bl_outer_type saba_type = {"saba", sizeof(saba_state), saba_alloc, saba_set,
                                        saba_iterate, saba_free};
const bl_outer_type *const bl_outer_saba = &saba_type;
