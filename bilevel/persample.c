/*
 * bilevel/persample.c — per-sample quantities of a problem (∇_θG_i, ∇_θF_j,
 * ∇_λF_j, H_i v, cross_i(v)) as rows of a matrix, for SAGA/SARAH-style
 * memory tables (bl_oracle_persample in bilevel.h).
 *
 * Two paths. With the model's hook (bl_problem.persample) the model fills
 * the rows from its closed form: no recording, O(b·p) for a GLM. Without
 * it, one batch-of-one oracle call per sample (a recording and a sweep
 * each): correct for every problem, slow. The hook is the design choice,
 * rather than an ad sweep returning one gradient per sample, because the
 * tape's reverse sweep accumulates one adjoint per value: per-sample
 * gradients would need b sweeps (what the fallback does) or a batched
 * Jacobian pass the tape does not have, while a model's per-sample
 * gradient is a few lines of C (see models/logreg.c).
 */
#include "bilevel/internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const kind_names[BL_PS_COUNT] = {
    [BL_PS_GRAD_G_THETA] = "grad-G-theta", [BL_PS_GRAD_F_THETA] = "grad-F-theta",
    [BL_PS_GRAD_F_LAMBDA] = "grad-F-lambda", [BL_PS_HVP] = "hvp", [BL_PS_CROSS] = "cross",
};

static int kind_is_outer(bl_persample_kind k) { return k == BL_PS_GRAD_F_THETA || k == BL_PS_GRAD_F_LAMBDA; }

static int kind_width(const bl_problem *pb, bl_persample_kind k)
{
    return k == BL_PS_GRAD_F_LAMBDA || k == BL_PS_CROSS ? pb->m : pb->p;
}

/* One batch-of-one oracle call per sample. */
static bl_status fallback(bl_oracle *o, bl_persample_kind kind, const int *idx, int n,
                          const double *theta, const double *lambda, const double *v, double *rows)
{
    int w = kind_width(bl_oracle_problem(o), kind);
    bl_status st = BL_OK;
    for (int k = 0; k < n && st == BL_OK; k++) {
        bl_batch one = {idx + k, 1};
        double *row = rows + (size_t)k * w;
        switch (kind) {
        case BL_PS_GRAD_G_THETA: st = bl_oracle_G(o, &one, theta, lambda, NULL, row, NULL); break;
        case BL_PS_GRAD_F_THETA: st = bl_oracle_F(o, &one, theta, lambda, NULL, row, NULL); break;
        case BL_PS_GRAD_F_LAMBDA: st = bl_oracle_F(o, &one, theta, lambda, NULL, NULL, row); break;
        default:
            st = bl_oracle_point(o, &one, theta, lambda);
            if (st == BL_OK)
                st = kind == BL_PS_HVP ? bl_oracle_hvp(o, v, row, NULL) : bl_oracle_hvp(o, v, NULL, row);
        }
    }
    return st;
}

/* Checks everything but the batch; BL_OK or the failure (recorded). */
static bl_status check_args(bl_oracle *o, bl_persample_kind kind, const double *theta,
                            const double *lambda, const double *v, double *rows)
{
    const bl_problem *pb = bl_oracle_problem(o);
    if ((unsigned)kind >= BL_PS_COUNT)
        return bl__fail(o, BL_EINVAL, "persample: unknown kind %d", (int)kind);
    if (!theta || !lambda || !rows || (!v && (kind == BL_PS_HVP || kind == BL_PS_CROSS)))
        return bl__fail(o, BL_EINVAL, "persample %s: %s is NULL", kind_names[kind],
                        !theta ? "theta" : !lambda ? "lambda" : !rows ? "rows" : "v");
    bl_status st = bl__check_finite(o, "persample", "theta", theta, pb->p);
    if (st == BL_OK)
        st = bl__check_finite(o, "persample", "lambda", lambda, pb->m);
    if (st == BL_OK && (kind == BL_PS_HVP || kind == BL_PS_CROSS))
        st = bl__check_finite(o, "persample", "v", v, pb->p);
    return st;
}

/* idx of the batch, or 0..n−1 in *own (to free) for all samples. */
static bl_status batch_indices(bl_oracle *o, bl_persample_kind kind, const bl_batch *batch,
                               const int **idx, int *n, int **own)
{
    const bl_problem *pb = bl_oracle_problem(o);
    int outer = kind_is_outer(kind);
    *own = NULL;
    bl_status st = bl__oracle_check_batch(o, "persample", outer, batch);
    if (st != BL_OK)
        return st;
    if (batch && batch->idx) {
        *idx = batch->idx;
        *n = batch->n;
        return BL_OK;
    }
    *n = outer ? pb->n_outer : pb->n_inner;
    if (*n <= 0)
        return bl__fail(o, BL_EINVAL, "persample %s: problem '%s' declares no %s samples (n_%s = %d)",
                        kind_names[kind], pb->name ? pb->name : "?", outer ? "outer" : "inner",
                        outer ? "outer" : "inner", *n);
    if (!(*own = malloc((size_t)*n * sizeof **own)))
        return bl__fail(o, BL_ENOMEM, "persample: cannot allocate %d indices (%zu bytes)", *n,
                        (size_t)*n * sizeof **own);
    for (int k = 0; k < *n; k++)
        (*own)[k] = k;
    *idx = *own;
    return BL_OK;
}

bl_status bl_oracle_persample(bl_oracle *o, bl_persample_kind kind, const bl_batch *batch,
                              const double *theta, const double *lambda, const double *v,
                              double *rows)
{
    const bl_problem *pb = bl_oracle_problem(o);
    const int *idx = NULL;
    int n = 0, *own = NULL;
    bl_status st = check_args(o, kind, theta, lambda, v, rows);
    if (st == BL_OK)
        st = batch_indices(o, kind, batch, &idx, &n, &own);
    if (st != BL_OK)
        return st;
    bl__oracle_drop_point(o);
    bl_counts c = bl_oracle_counts(o);
    if (pb->persample) {
        st = pb->persample(kind, idx, n, theta, lambda, v, rows, pb->ctx);
        if (st != BL_OK)
            bl__fail(o, st, "persample %s: the model's hook failed on %d samples (%s)",
                     kind_names[kind], n, bl_strerror(st));
    } else {
        st = fallback(o, kind, idx, n, theta, lambda, v, rows);
        bl__oracle_drop_point(o);
    }
    c.grad += kind != BL_PS_HVP && kind != BL_PS_CROSS;
    c.hvp += kind == BL_PS_HVP;
    c.cross += kind == BL_PS_CROSS;
    c.samples += n;
    bl__oracle_set_counts(o, &c);
    size_t w = (size_t)kind_width(pb, kind);
    for (size_t k = 0; st == BL_OK && k < (size_t)n * w; k++)
        if (!isfinite(rows[k]))
            st = bl__fail(o, BL_ENONFINITE, "persample %s: row %zu (sample %d) entry %zu is %g",
                          kind_names[kind], k / w, idx[k / w], k % w, rows[k]);
    free(own);
    return st;
}
