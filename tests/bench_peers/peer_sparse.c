/*
 * tests/bench_peers/peer_sparse.c — sparse logistic regression of the peer
 * benchmark (the sparse form of tests/bench/bench_logreg.c's problem):
 *
 *   G(θ, λ) = (1/n) Σ_i softplus(−y_i s_iᵀθ) + ½ Σ_k e^{λ_k} θ_k²,  S n×p CSR
 *
 * ops: grad (→ ∇_θG, ∇_λG), hvp_scratch / hvp_reuse (→ H·v; reuse: AD
 * ad_hvp_prepare once, hand keeps σ'(m)/n). Hand code: row-wise CSR
 * products, Sᵀw as a scatter over the rows (what scipy's S.T @ w does).
 * Args: n p nnz.
 */
#include "peer_proto.h"

#include <hypertape/ad.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct psp {
    int n, p, op, ad;
    ad_csr S;
    double *ny, *theta, *lambda, *v;
    double *z, *w, *D, *g, *gl, *hv, *res;
    ad_tape *t;
    ad_mark base;
    ad_hvp_plan plan;
} psp;

/* ------------------------------------------------------------ AD side */

static ad_var psp_record(psp *P, ad_var *th, ad_var *la)
{
    ad_tape *t = P->t;
    ad_var ny = ad_const_ref(t, P->n, 1, P->ny);
    *th = ad_leaf(t, P->p, 1, P->theta);
    *la = ad_leaf(t, P->p, 1, P->lambda);
    ad_var m = ad_mul(t, ny, ad_spmm(t, &P->S, *th, 0)); /* n×1 */
    ad_var data = ad_mean(t, ad_softplus(t, m));
    ad_var reg = ad_scale(t, ad_sum(t, ad_mul(t, ad_exp(t, *la), ad_square(t, *th))), 0.5);
    return ad_add(t, data, reg);
}

static void psp_ad(void *ctx)
{
    psp *P = ctx;
    ad_var wrt[2], G;
    if (P->op == 0) {
        G = psp_record(P, &wrt[0], &wrt[1]);
        double *out[2] = {P->g, P->gl};
        ad_grad_values(P->t, G, 2, wrt, out);
        ad_tape_rewind(P->t, P->base);
    } else if (P->op == 1) {
        ad_tape_set_lazy(P->t, 1); /* no value wanted, as bl_oracle_point */
        G = psp_record(P, &wrt[0], &wrt[1]);
        ad_tape_set_lazy(P->t, 0);
        ad_hvp_cross(P->t, G, wrt[0], wrt[1], P->v, P->hv, NULL, AD_HVP_FOR);
        ad_tape_rewind(P->t, P->base);
    } else {
        ad_hvp_apply(P->t, &P->plan, P->v, P->hv, NULL);
    }
}

/* ---------------------------------------------------------- hand side */

static void spmv(const ad_csr *S, const double *x, double *y)
{
    for (int i = 0; i < S->rows; i++) {
        double s = 0;
        for (int64_t q = S->rowptr[i]; q < S->rowptr[i + 1]; q++)
            s += S->val[q] * x[S->colind[q]];
        y[i] = s;
    }
}

static void spmv_t(const ad_csr *S, const double *x, double *y)
{
    memset(y, 0, (size_t)S->cols * sizeof(double));
    for (int i = 0; i < S->rows; i++) {
        double xi = x[i];
        for (int64_t q = S->rowptr[i]; q < S->rowptr[i + 1]; q++)
            y[S->colind[q]] += S->val[q] * xi;
    }
}

static double sig(double m)
{
    double e = exp(-fabs(m));
    return m >= 0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
}

static void psp_curvature(psp *P)
{
    spmv(&P->S, P->theta, P->z);
    for (int i = 0; i < P->n; i++) {
        double s = sig(P->ny[i] * P->z[i]);
        P->D[i] = s * (1.0 - s) / P->n;
    }
}

static void psp_apply(psp *P)
{
    spmv(&P->S, P->v, P->w);
    for (int i = 0; i < P->n; i++)
        P->w[i] *= P->D[i];
    spmv_t(&P->S, P->w, P->hv);
    for (int k = 0; k < P->p; k++)
        P->hv[k] += exp(P->lambda[k]) * P->v[k];
}

static void psp_hand(void *ctx)
{
    psp *P = ctx;
    if (P->op == 0) {
        spmv(&P->S, P->theta, P->z);
        for (int i = 0; i < P->n; i++)
            P->w[i] = P->ny[i] * sig(P->ny[i] * P->z[i]) / P->n;
        spmv_t(&P->S, P->w, P->g);
        for (int k = 0; k < P->p; k++) {
            double e = exp(P->lambda[k]), th = P->theta[k];
            P->g[k] += e * th;
            P->gl[k] = 0.5 * e * th * th;
        }
    } else {
        if (P->op == 1)
            psp_curvature(P);
        psp_apply(P);
    }
}

static const double *psp_result(void *ctx, int *n)
{
    psp *P = ctx;
    if (P->ad && ad_tape_status(P->t) != AD_OK) {
        fprintf(stderr, "peer sparse: %s\n", ad_tape_message(P->t));
        exit(1);
    }
    if (P->op == 0) {
        memcpy(P->res, P->g, (size_t)P->p * sizeof(double));
        memcpy(P->res + P->p, P->gl, (size_t)P->p * sizeof(double));
        *n = 2 * P->p;
        return P->res;
    }
    *n = P->p;
    return P->hv;
}

static void psp_done(void *ctx)
{
    psp *P = ctx;
    double *bufs[] = {P->ny, P->theta, P->lambda, P->v, P->z, P->w, P->D, P->g, P->gl, P->hv,
                      P->res, (double *)P->S.val};
    for (size_t k = 0; k < sizeof bufs / sizeof bufs[0]; k++)
        free(bufs[k]);
    free((int64_t *)P->S.rowptr);
    free((int *)P->S.colind);
    if (P->t)
        ad_tape_free(P->t);
    free(P);
}

int peer_sparse_setup(const char *role, const char *op, const char *prefix, int argc, char **argv,
                      peer_work *w, char *msg, size_t msglen)
{
    int k = !strcmp(op, "grad") ? 0 : !strcmp(op, "hvp_scratch") ? 1 : !strcmp(op, "hvp_reuse") ? 2 : -1;
    if (k < 0 || argc < 4) {
        snprintf(msg, msglen, "sparse: unknown op %s or missing n p nnz", op);
        return -1;
    }
    int n = atoi(argv[1]), p = atoi(argv[2]);
    size_t nnz = (size_t)atoll(argv[3]);
    psp *P = peer_alloc(sizeof *P);
    P->n = n;
    P->p = p;
    P->op = k;
    P->ad = !strcmp(role, "ht");
    P->S.rows = n;
    P->S.cols = p;
    P->S.rowptr = peer_load(prefix, "rowptr.i64", (size_t)n + 1, 8, msg, msglen);
    P->S.colind = peer_load(prefix, "colind.i32", nnz, 4, msg, msglen);
    P->S.val = peer_load(prefix, "val.f64", nnz, 8, msg, msglen);
    P->ny = peer_load(prefix, "ny.f64", (size_t)n, 8, msg, msglen);
    P->theta = peer_load(prefix, "theta.f64", (size_t)p, 8, msg, msglen);
    P->lambda = peer_load(prefix, "lambda.f64", (size_t)p, 8, msg, msglen);
    P->v = peer_load(prefix, "v.f64", (size_t)p, 8, msg, msglen);
    double **nb[] = {&P->z, &P->w, &P->D};
    for (int j = 0; j < 3; j++)
        *nb[j] = peer_alloc((size_t)n * sizeof(double));
    double **pb[] = {&P->g, &P->gl, &P->hv};
    for (int j = 0; j < 3; j++)
        *pb[j] = peer_alloc((size_t)p * sizeof(double));
    P->res = peer_alloc((size_t)2 * p * sizeof(double));
    w->ctx = P;
    w->call = P->ad ? psp_ad : psp_hand;
    w->result = psp_result;
    w->done = psp_done;
    if (!P->S.rowptr || !P->S.colind || !P->S.val || !P->ny || !P->theta || !P->lambda || !P->v) {
        psp_done(P);
        return -1;
    }
    if (P->ad) { /* validated once, as a model over a fixed data set does (ds_set's token) */
        if (ad_csr_check(&P->S, msg, msglen) != AD_OK) {
            psp_done(P);
            return -1;
        }
        P->t = ad_tape_new(NULL);
        if (!P->t) {
            snprintf(msg, msglen, "sparse: cannot create a tape");
            psp_done(P);
            return -1;
        }
        P->base = ad_tape_mark(P->t);
        if (k == 2) {
            ad_var th, la;
            ad_tape_set_lazy(P->t, 1);
            ad_var G = psp_record(P, &th, &la);
            ad_tape_set_lazy(P->t, 0);
            ad_hvp_prepare(P->t, G, th, la, AD_HVP_FOR, &P->plan);
        }
    } else if (k == 2) {
        psp_curvature(P);
    }
    return 0;
}
