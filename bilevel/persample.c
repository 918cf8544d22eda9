/*
 * bilevel/persample.c — per-sample quantities of a problem (∇_θG_i, ∇_θF_j,
 * ∇_λF_j, H_i v, cross_i(v)) as rows of matrices, for SAGA/SARAH-style
 * memory tables (bl_oracle_persample_all and bl_oracle_persample in
 * bilevel.h).
 *
 * Two paths. With the model's hook (bl_problem.persample) the model fills
 * the rows of every requested kind from its closed form, sharing what the
 * kinds have in common: no recording, one O(b·p) pass for a GLM. Without
 * it, batch-of-one oracle calls per sample (a recording and a sweep each):
 * correct for every problem, slow. The hook is the design choice, rather
 * than an ad sweep returning one gradient per sample, because the tape's
 * reverse sweep accumulates one adjoint per value: per-sample gradients
 * would need b sweeps (what the fallback does) or a batched Jacobian pass
 * the tape does not have, while a model's per-sample gradient is a few
 * lines of C (see models/logreg.c).
 *
 * The outputs are checked for finiteness by a screen (sums of blocks, with
 * independent accumulators): a finite sum proves every term finite, so the
 * entry-by-entry search that names the bad entry runs only when a sum is
 * not finite (a bad entry, or an overflowing sum of finite ones).
 */
#include "bilevel/internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const kind_names[BL_PS_COUNT] = {
    [BL_PS_GRAD_G_THETA] = "grad-G-theta", [BL_PS_GRAD_F_THETA] = "grad-F-theta",
    [BL_PS_GRAD_F_LAMBDA] = "grad-F-lambda", [BL_PS_HVP] = "hvp", [BL_PS_CROSS] = "cross",
};

static int kind_is_outer(int k) { return k == BL_PS_GRAD_F_THETA || k == BL_PS_GRAD_F_LAMBDA; }

static int kind_width(const bl_problem *pb, int k)
{
    return k == BL_PS_GRAD_F_LAMBDA || k == BL_PS_CROSS ? pb->m : pb->p;
}

static int wants_v(const bl_persample_req *r) { return r->rows[BL_PS_HVP] || r->rows[BL_PS_CROSS]; }

static int wants_side(const bl_persample_req *r, int outer)
{
    for (int k = 0; k < BL_PS_COUNT; k++)
        if (r->rows[k] && kind_is_outer(k) == outer)
            return 1;
    return 0;
}

/* The inner kinds of sample k: ∇_θG_i from one G call, H_i v and cross_i
 * from one point and one sweep. */
static bl_status fallback_inner(bl_oracle *o, const bl_persample_req *r, int k, const double *theta,
                                const double *lambda)
{
    const bl_problem *pb = bl_oracle_problem(o);
    bl_batch one = {r->inner->idx + k, 1};
    double *g = r->rows[BL_PS_GRAD_G_THETA], *hv = r->rows[BL_PS_HVP], *cr = r->rows[BL_PS_CROSS];
    bl_status st = g ? bl_oracle_G(o, &one, theta, lambda, NULL, g + (size_t)k * pb->p, NULL) : BL_OK;
    if (st == BL_OK && (hv || cr))
        st = bl_oracle_point(o, &one, theta, lambda);
    if (st == BL_OK && (hv || cr))
        st = bl_oracle_hvp(o, r->v, hv ? hv + (size_t)k * pb->p : NULL, cr ? cr + (size_t)k * pb->m : NULL);
    return st;
}

/* Batch-of-one oracle calls per sample; the oracle's counts are restored
 * by the caller. */
static bl_status fallback(bl_oracle *o, const bl_persample_req *r, const double *theta,
                          const double *lambda)
{
    const bl_problem *pb = bl_oracle_problem(o);
    double *ft = r->rows[BL_PS_GRAD_F_THETA], *fl = r->rows[BL_PS_GRAD_F_LAMBDA];
    bl_status st = BL_OK;
    for (int k = 0; wants_side(r, 0) && k < r->inner->n && st == BL_OK; k++)
        st = fallback_inner(o, r, k, theta, lambda);
    for (int k = 0; (ft || fl) && k < r->outer->n && st == BL_OK; k++) {
        bl_batch one = {r->outer->idx + k, 1};
        st = bl_oracle_F(o, &one, theta, lambda, NULL, ft ? ft + (size_t)k * pb->p : NULL,
                         fl ? fl + (size_t)k * pb->m : NULL);
    }
    bl__oracle_drop_point(o);
    return st;
}

/* Checks req, theta, lambda and v; BL_OK or the failure (recorded). */
static bl_status check_args(bl_oracle *o, const bl_persample_req *r, const double *theta,
                            const double *lambda)
{
    const bl_problem *pb = bl_oracle_problem(o);
    if (!r || !theta || !lambda || (wants_v(r) && !r->v))
        return bl__fail(o, BL_EINVAL, "persample: %s is NULL",
                        !r ? "req" : !theta ? "theta" : !lambda ? "lambda" : "v");
    if (!wants_side(r, 0) && !wants_side(r, 1))
        return bl__fail(o, BL_EINVAL, "persample: no kind requested (every req->rows[kind] is NULL)");
    bl_status st = bl__check_finite(o, "persample", "theta", theta, pb->p);
    if (st == BL_OK)
        st = bl__check_finite(o, "persample", "lambda", lambda, pb->m);
    if (st == BL_OK && wants_v(r))
        st = bl__check_finite(o, "persample", "v", r->v, pb->p);
    return st;
}

/* The batch of one side, checked, into *out: batch itself, or 0..n−1 in
 * *own (to free) for all samples. */
static bl_status resolve_batch(bl_oracle *o, int outer, const bl_batch *batch, bl_batch *out, int **own)
{
    const bl_problem *pb = bl_oracle_problem(o);
    bl_status st = bl__oracle_check_batch(o, "persample", outer, batch);
    if (st != BL_OK)
        return st;
    if (batch && batch->idx) {
        *out = *batch;
        return BL_OK;
    }
    int n = outer ? pb->n_outer : pb->n_inner;
    if (n <= 0)
        return bl__fail(o, BL_EINVAL, "persample: problem '%s' declares no %s samples (n_%s = %d)",
                        pb->name ? pb->name : "?", outer ? "outer" : "inner", outer ? "outer" : "inner", n);
    if (!(*own = malloc((size_t)n * sizeof **own)))
        return bl__fail(o, BL_ENOMEM, "persample: cannot allocate %d indices (%zu bytes)", n,
                        (size_t)n * sizeof **own);
    for (int k = 0; k < n; k++)
        (*own)[k] = k;
    *out = (bl_batch){*own, n};
    return BL_OK;
}

/* 1 when every x[0..n) is finite, by the screen described above (eight
 * independent sums in scalars, so the adds pipeline and stay in
 * registers). */
static int all_finite(const double *x, size_t n)
{
    enum { BLOCK = 512 };
    for (size_t a = 0; a < n; a += BLOCK) {
        size_t e = n - a < BLOCK ? n : a + BLOCK, k = a;
        double s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;
        for (; k + 8 <= e; k += 8) {
            s0 += x[k], s1 += x[k + 1], s2 += x[k + 2], s3 += x[k + 3];
            s4 += x[k + 4], s5 += x[k + 5], s6 += x[k + 6], s7 += x[k + 7];
        }
        for (; k < e; k++)
            s0 += x[k];
        if (!isfinite(((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))))
            for (k = a; k < e; k++)
                if (!isfinite(x[k]))
                    return 0;
    }
    return 1;
}

/* BL_OK, or BL_ENONFINITE naming the first non-finite entry. */
static bl_status check_rows(bl_oracle *o, const bl_persample_req *r)
{
    const bl_problem *pb = bl_oracle_problem(o);
    for (int q = 0; q < BL_PS_COUNT; q++) {
        const bl_batch *b = kind_is_outer(q) ? r->outer : r->inner;
        size_t w = (size_t)kind_width(pb, q), len = r->rows[q] ? (size_t)b->n * w : 0;
        if (all_finite(r->rows[q], len))
            continue;
        for (size_t k = 0; k < len; k++)
            if (!isfinite(r->rows[q][k]))
                return bl__fail(o, BL_ENONFINITE, "persample %s: row %zu (sample %d) entry %zu is %g",
                                kind_names[q], k / w, b->idx[k / w], k % w, r->rows[q][k]);
    }
    return BL_OK;
}

/* One call's worth of counts per requested kind. */
static void charge(bl_oracle *o, bl_counts c, const bl_persample_req *r)
{
    for (int q = 0; q < BL_PS_COUNT; q++) {
        if (!r->rows[q])
            continue;
        c.grad += q != BL_PS_HVP && q != BL_PS_CROSS;
        c.hvp += q == BL_PS_HVP;
        c.cross += q == BL_PS_CROSS;
        c.samples += (kind_is_outer(q) ? r->outer : r->inner)->n;
    }
    bl__oracle_set_counts(o, &c);
}

bl_status bl_oracle_persample_all(bl_oracle *o, const bl_persample_req *req, const double *theta,
                                  const double *lambda)
{
    const bl_problem *pb = bl_oracle_problem(o);
    bl_batch in = {0}, out = {0};
    int *own_in = NULL, *own_out = NULL;
    bl_status st = check_args(o, req, theta, lambda);
    if (st == BL_OK && wants_side(req, 0))
        st = resolve_batch(o, 0, req->inner, &in, &own_in);
    if (st == BL_OK && wants_side(req, 1))
        st = resolve_batch(o, 1, req->outer, &out, &own_out);
    if (st == BL_OK) {
        bl_persample_req r = *req;
        r.inner = wants_side(req, 0) ? &in : NULL;
        r.outer = wants_side(req, 1) ? &out : NULL;
        r.v = wants_v(req) ? req->v : NULL;
        bl__oracle_drop_point(o);
        bl_counts c = bl_oracle_counts(o);
        if (pb->persample) {
            st = pb->persample(&r, theta, lambda, pb->ctx);
            if (st != BL_OK)
                bl__fail(o, st, "persample: the model's hook failed on %d inner and %d outer samples (%s)",
                         in.n, out.n, bl_strerror(st));
        } else
            st = fallback(o, &r, theta, lambda);
        charge(o, c, &r);
        if (st == BL_OK)
            st = check_rows(o, &r);
    }
    free(own_in), free(own_out);
    return st;
}

bl_status bl_oracle_persample(bl_oracle *o, bl_persample_kind kind, const bl_batch *batch,
                              const double *theta, const double *lambda, const double *v,
                              double *rows)
{
    if ((unsigned)kind >= BL_PS_COUNT)
        return bl__fail(o, BL_EINVAL, "persample: unknown kind %d", (int)kind);
    if (!rows)
        return bl__fail(o, BL_EINVAL, "persample %s: rows is NULL", kind_names[kind]);
    bl_persample_req r = {.inner = batch, .outer = batch, .v = v};
    r.rows[kind] = rows;
    return bl_oracle_persample_all(o, &r, theta, lambda);
}
