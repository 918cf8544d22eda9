/*
 * bilevel/fp_unroll.c — the unroll backward of a fixed-point problem:
 * reverse mode through θ_{k+1} = (1 − β)θ_k + βf(θ_k), k < K, written as
 * the adjoint recursion over the stored iterates (one VJP per step).
 */
#include "bilevel/fp_internal.h"

#include <string.h>

bl_status bl__fp_unroll(bl_fp_oracle *o, const bl_root *s, const double *b, const double *gl,
                        double *hg, double *work)
{
    int p = s->p, m = s->m, K = bl_root_iters(s);
    double beta = bl_root_options(s)->damping;
    double *a = work, *w = work + p, *wl = work + 2 * p;
    if (!bl_root_iterate_at(s, K))
        return bl__fp_fail(o, BL_EINVAL, "fp unroll: the root solver kept no iterates");
    memcpy(a, b, (size_t)p * sizeof *a);
    memcpy(hg, gl, (size_t)m * sizeof *hg);
    for (int k = K - 1; k >= 0; k--) {
        bl_status st = bl_fp_oracle_point(o, bl_root_iterate_at(s, k), s->lambda, NULL);
        if (st == BL_OK)
            st = bl_fp_oracle_vjp(o, a, w, wl);
        if (st != BL_OK)
            return st;
        bl__axpy(m, beta, wl, hg);
        for (int i = 0; i < p; i++)
            a[i] = (1 - beta) * a[i] + beta * w[i];
    }
    return BL_OK;
}
