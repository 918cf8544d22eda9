/*
 * tests/examples/tune_steps_test.c — the --tune-steps criteria of
 * `hypertape tune` (examples/tune_steps.c) against independent values:
 *  - TS_AT_MODEL is the validation logistic loss of the algorithm's own
 *    model, computed here by hand from the LIBSVM rows after running the
 *    same algorithm with the same options and stop separately;
 *  - TS_TRUE_H is the evaluation hook's h at the final λ, here computed by
 *    a separate bl_outer_evaluate;
 *  - ts_select takes the lowest finite value, the first on ties.
 */
#include "../../examples/tune_steps.h"
#include "testutil.h"

#include <hypertape/models/logreg.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#ifndef TEST_DATA_DIR
#error "TEST_DATA_DIR must be defined"
#endif

/* (1/n) Σ_j log(1 + exp(−y_j ⟨x_j, w⟩)) over the CSR rows of s. */
static double val_loss(const ds_set *s, const double *w)
{
    double sum = 0;
    for (int j = 0; j < s->n; j++) {
        double z = 0;
        for (int64_t k = s->rowptr[j]; k < s->rowptr[j + 1]; k++)
            z += s->val[k] * w[s->colind[k]];
        double u = -s->y[j] * z;
        sum += u > 0 ? u + log1p(exp(-u)) : log1p(exp(u));
    }
    return sum / s->n;
}

int main(void)
{
    char msg[512];
    ds_set tr = {0}, va = {0};
    bl_status st = ds_read_libsvm(TEST_DATA_DIR "/logreg.train.svm", 0, &tr, msg, sizeof msg);
    if (st == BL_OK)
        st = ds_read_libsvm(TEST_DATA_DIR "/logreg.val.svm", tr.d, &va, msg, sizeof msg);
    EXPECT(st == BL_OK, "read the test pair: %s", msg);
    if (st != BL_OK)
        return t_done();
    tr.d = va.d = tr.d > va.d ? tr.d : va.d;
    lr_model *m = NULL;
    lr_opts lo = {LR_SCALAR, 0, 0};
    st = lr_model_new(&tr, &va, &lo, &m, msg, sizeof msg);
    EXPECT(st == BL_OK, "lr_model_new: %s", msg);
    if (st != BL_OK)
        return t_done();
    bl_problem pb = lr_problem(m);
    double lam0[1] = {-1};
    bl_outer_opts o = {0};
    o.batch_inner = o.batch_outer = 16;
    o.seed = 3;
    bl_outer_stop stop = {0};
    stop.max_iters = 40;
    stop.tol = -1;
    ts_point pts[TS_MAX_POINTS];
    int n = ts_grid(bl_outer_soba, &o, pts);
    EXPECT(n == 9, "soba's grid has 9 points, got %d", n);

    /* Point 4 (the centre) by ts_run, then by hand. */
    ts_point p = pts[4];
    st = ts_run(bl_outer_soba, &pb, &o, lam0, &stop, TS_AT_MODEL, &p, msg, sizeof msg);
    EXPECT(st == BL_OK, "ts_run soba at model: %s", msg);
    bl_outer_opts oo = o;
    ts_apply(bl_outer_soba, &pts[4], &oo);
    bl_outer *ob = bl_outer_new(bl_outer_soba, &pb, &oo, &st, msg, sizeof msg);
    EXPECT(ob && bl_outer_set(ob, lam0, NULL) == BL_OK && bl_outer_solve(ob, &stop, NULL, NULL) == BL_OK,
           "the same soba run by hand");
    double f = ob && bl_outer_model(ob) ? val_loss(&va, bl_outer_model(ob)) : NAN;
    EXPECT(isfinite(p.h) && fabs(p.h - f) <= 1e-12 * fabs(f),
           "TS_AT_MODEL = validation loss of the model: %.17g vs %.17g by hand", p.h, f);
    double h = NAN, g = NAN;
    EXPECT(ob && bl_outer_evaluate(ob, bl_outer_lambda(ob), &h, &g, NULL) == BL_OK, "true h by hand");
    bl_outer_free(ob);
    ts_point q = pts[4];
    st = ts_run(bl_outer_soba, &pb, &o, lam0, &stop, TS_TRUE_H, &q, msg, sizeof msg);
    EXPECT(st == BL_OK && fabs(q.h - h) <= 1e-10 * fabs(h),
           "TS_TRUE_H = the hook's true h: %.17g vs %.17g", q.h, h);
    EXPECT(h <= f + 1e-12, "true h (F at theta*) %.6g <= F at the model %.6g", h, f);

    /* A type without a model: TS_AT_MODEL gives NaN, and ts_select skips it. */
    ts_point r = {0.5, NAN, 0, BL_OK};
    bl_outer_opts oh = {0};
    bl_outer_stop s2 = {0};
    s2.max_iters = 2;
    ts_run(bl_outer_hgd, &pb, &oh, lam0, &s2, TS_AT_MODEL, &r, msg, sizeof msg);
    EXPECT(isnan(r.h), "hgd keeps no model: criterion NaN, got %g", r.h);
    ts_point sel[4] = {{1, 1, NAN, BL_OK}, {1, 1, 3.0, BL_OK}, {1, 1, 2.0, BL_OK}, {1, 1, 2.0, BL_OK}};
    EXPECT(ts_select(sel, 4) == 2, "ts_select: lowest finite, first on ties (got %d)", ts_select(sel, 4));
    EXPECT(strcmp(ts_criterion_name(TS_AT_MODEL), "val_loss_at_model") == 0 &&
               strcmp(ts_criterion_name(TS_TRUE_H), "true_h") == 0,
           "criterion names");
    lr_model_free(m);
    ds_set_free(&tr);
    ds_set_free(&va);
    return t_done();
}
