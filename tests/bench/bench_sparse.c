/*
 * tests/bench/bench_sparse.c — the cost of ad_spmm in a sparse logistic loss.
 *
 *   G(w) = Σ_i softplus(−y_i (S w)_i),  S m×k CSR with nnz ≈ density·m·k
 *
 * Usage: bench_sparse M K DENSITY (default 100000 50000 0.001). Reports the
 * median over 7 alternating repetitions of (a) the gradient (record +
 * ad_grad_values) and (b) H·v from scratch (ad_hvp_cross, reverse-over-
 * reverse and forward-over-reverse), each against one hand-written S·x
 * product for scale (Sᵀ·u costs about the same). The AD gradient is
 * compared with a hand-written one. Nothing is asserted.
 */
#include "bench_util.h"

#include <stdio.h>
#include <stdlib.h>

typedef struct sp {
    ad_csr S;
    const double *y, *w0, *v;
    double *g_ad, *g_h, *hv, *z;
    ad_tape *t;
} sp;

static ad_var sp_record(sp *P, ad_var *w)
{
    ad_tape *t = P->t;
    *w = ad_leaf(t, P->S.cols, 1, P->w0);
    ad_var z = ad_spmm(t, &P->S, *w, 0);
    ad_var y = ad_const_ref(t, P->S.rows, 1, P->y);
    return ad_sum(t, ad_softplus(t, ad_neg(t, ad_mul(t, y, z))));
}

static void sp_grad(void *ctx)
{
    sp *P = ctx;
    ad_mark m = ad_tape_mark(P->t);
    ad_var w, G = sp_record(P, &w);
    double *out[1] = {P->g_ad};
    ad_grad_values(P->t, G, 1, &w, out);
    bench_check_tape(P->t, "sparse grad");
    ad_tape_rewind(P->t, m);
}

static void sp_hvp(sp *P, ad_hvp_mode mode)
{
    ad_mark m = ad_tape_mark(P->t);
    ad_tape_set_lazy(P->t, 1); /* no value wanted, as bl_oracle_point */
    ad_var w, G = sp_record(P, &w);
    ad_tape_set_lazy(P->t, 0);
    ad_hvp_cross(P->t, G, w, AD_NONE, P->v, P->hv, NULL, mode);
    bench_check_tape(P->t, "sparse hvp");
    ad_tape_rewind(P->t, m);
}
static void sp_hvp_ror(void *ctx) { sp_hvp(ctx, AD_HVP_ROR); }
static void sp_hvp_for(void *ctx) { sp_hvp(ctx, AD_HVP_FOR); }

/* One hand-written S·w (z = S w). */
static void sp_hand_mv(void *ctx)
{
    sp *P = ctx;
    const ad_csr *s = &P->S;
    for (int i = 0; i < s->rows; i++) {
        double acc = 0;
        for (int64_t p = s->rowptr[i]; p < s->rowptr[i + 1]; p++)
            acc += s->val[p] * P->w0[s->colind[p]];
        P->z[i] = acc;
    }
}

/* Hand gradient: −Sᵀ(y ⊙ σ(−y ⊙ Sw)). */
static void sp_hand_grad(sp *P)
{
    const ad_csr *s = &P->S;
    sp_hand_mv(P);
    for (int j = 0; j < s->cols; j++)
        P->g_h[j] = 0;
    for (int i = 0; i < s->rows; i++) {
        double m = -P->y[i] * P->z[i], sg, spv;
        bench_sig_softplus(m, &sg, &spv);
        double u = -P->y[i] * sg;
        for (int64_t p = s->rowptr[i]; p < s->rowptr[i + 1]; p++)
            P->g_h[s->colind[p]] += s->val[p] * u;
    }
}

static double median_of(bench_fn f, void *ctx, bench_fn ref, void *rctx, double *ref_med)
{
    enum { R = 7 };
    double a[R], b[R];
    f(ctx);
    ref(rctx);
    for (int k = 0; k < R; k++) {
        double t0 = bench_now();
        f(ctx);
        double t1 = bench_now();
        ref(rctx);
        double t2 = bench_now();
        a[k] = t1 - t0;
        b[k] = t2 - t1;
    }
    *ref_med = bench_median(b, R);
    return bench_median(a, R);
}

int main(int argc, char **argv)
{
    int M = argc > 1 ? atoi(argv[1]) : 100000, K = argc > 2 ? atoi(argv[2]) : 50000;
    double dens = argc > 3 ? atof(argv[3]) : 0.001;
    if (M <= 0 || K <= 0 || !(dens > 0 && dens <= 1)) {
        fprintf(stderr, "usage: %s M K DENSITY\n", argv[0]);
        return 1;
    }
    int per_row = (int)(dens * K + 0.5);
    if (per_row < 1)
        per_row = 1;
    size_t nnz = (size_t)M * per_row;
    int64_t *rowptr = bench_alloc((size_t)(M + 1) * sizeof(int64_t));
    int *col = bench_alloc(nnz * sizeof(int));
    double *val = bench_doubles(nnz), *y = bench_doubles(M), *w0 = bench_doubles(K),
           *v = bench_doubles(K);
    bench_rng rng = {12345};
    for (int i = 0; i <= M; i++)
        rowptr[i] = (int64_t)i * per_row;
    for (size_t p = 0; p < nnz; p++) {
        col[p] = (int)(bench_next(&rng) % (uint64_t)K);
        val[p] = bench_gauss(&rng);
    }
    for (int i = 0; i < M; i++)
        y[i] = bench_unif(&rng) < 0.5 ? -1.0 : 1.0;
    for (int j = 0; j < K; j++) {
        w0[j] = 0.1 * bench_gauss(&rng);
        v[j] = bench_gauss(&rng);
    }
    sp P = {{M, K, rowptr, col, val, 0}, y, w0, v, bench_doubles(K), bench_doubles(K),
            bench_doubles(K), bench_doubles(M), ad_tape_new(NULL)};
    if (!P.t) {
        fprintf(stderr, "bench: cannot create a tape\n");
        return 1;
    }
    char cmsg[160];
    if (ad_csr_check(&P.S, cmsg, sizeof cmsg) != AD_OK) { /* once, as a model over fixed data does */
        fprintf(stderr, "bench: %s\n", cmsg);
        return 1;
    }
    bench_header("sparse logistic");
    printf("S %dx%d, %zu stored entries (%d per row)\n", M, K, nnz, per_row);
    sp_grad(&P);
    sp_hand_grad(&P);
    printf("relerr grad %.1e\n", bench_relerr(P.g_ad, P.g_h, (size_t)K));
    double h1, h2, h3;
    double tg = median_of(sp_grad, &P, sp_hand_mv, &P, &h1);
    double tr = median_of(sp_hvp_ror, &P, sp_hand_mv, &P, &h2);
    double tf = median_of(sp_hvp_for, &P, sp_hand_mv, &P, &h3);
    double h = bench_median((double[]){h1, h2, h3}, 3);
    printf("hand S*w            %8.3f ms\n", 1e3 * h);
    printf("gradient            %8.3f ms  (%.2f S*w)\n", 1e3 * tg, tg / h);
    printf("Hv from scratch ROR %8.3f ms  (%.2f S*w)\n", 1e3 * tr, tr / h);
    printf("Hv from scratch FOR %8.3f ms  (%.2f S*w)\n", 1e3 * tf, tf / h);
    ad_tape_free(P.t);
    return 0;
}
