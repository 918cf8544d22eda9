/*
 * tests/bench_peers/peer_softmax.c — the softmax workloads of the peer
 * benchmark, on the problem of tests/bench/bench_softmax.c (its recording
 * and hand-written OpenBLAS code are reused as they are):
 *
 *   G(W, λ) = (1/n) Σ_i [logsumexp(z_i) − z_{i,y_i}] + ½ e^λ ‖W‖²,  Z = X W
 *
 * ops: grad (→ ∇_WG, ∂G/∂λ), hvp_scratch / hvp_reuse (→ H·V and
 * cross(V) = ∂/∂λ⟨∇_WG, V⟩ from one call). Args: n d C.
 */
#include "peer_proto.h"

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wold-style-declaration"
#define main __attribute__((unused)) static bench_softmax_main
#include "../bench/bench_softmax.c"
#undef main
#pragma GCC diagnostic pop

typedef struct psm {
    sm S;
    int op, ad; /* op: 0 grad, 1 hvp scratch, 2 hvp reuse */
    double *lam, *res;
} psm;

static void psm_call(void *ctx)
{
    psm *P = ctx;
    static void (*const ad[])(void *) = {ad_grad_fn, ad_hvp_scratch_fn, ad_hvp_apply_fn};
    static void (*const hand[])(void *) = {hand_grad, hand_hvp_scratch, hand_hvp_apply};
    (P->ad ? ad : hand)[P->op](&P->S);
}

static const double *psm_result(void *ctx, int *n)
{
    psm *P = ctx;
    sm *S = &P->S;
    size_t dc = (size_t)S->d * S->C;
    const double *v = P->op == 0 ? (P->ad ? S->gW_ad : S->gW_h) : (P->ad ? S->hv_ad : S->hv_h);
    memcpy(P->res, v, dc * sizeof(double));
    P->res[dc] = P->op == 0 ? (P->ad ? S->gl_ad : S->gl_h) : (P->ad ? S->cr_ad : S->cr_h);
    *n = (int)dc + 1;
    if (P->ad)
        bench_check_tape(S->t, "peer softmax");
    return P->res;
}

static void psm_done(void *ctx)
{
    psm *P = ctx;
    sm *S = &P->S;
    double *bufs[] = {(double *)S->X, (double *)S->W, (double *)S->V, S->Z, S->P, S->U, S->T,
                      S->gW_ad, S->gW_h, S->hv_ad, S->hv_h, P->lam, P->res};
    for (size_t k = 0; k < sizeof bufs / sizeof bufs[0]; k++)
        free(bufs[k]);
    free((int *)S->label);
    if (S->t)
        ad_tape_free(S->t);
    free(P);
}

int peer_softmax_setup(const char *role, const char *op, const char *prefix, int argc, char **argv,
                       peer_work *w, char *msg, size_t msglen)
{
    static const char *ops[] = {"grad", "hvp_scratch", "hvp_reuse"};
    int k = 0;
    while (k < 3 && strcmp(op, ops[k]))
        k++;
    if (k == 3 || argc < 4) {
        snprintf(msg, msglen, "softmax: unknown op %s or missing n d C", op);
        return -1;
    }
    int n = atoi(argv[1]), d = atoi(argv[2]), C = atoi(argv[3]);
    size_t nd = (size_t)n * d, dc = (size_t)d * C, nc = (size_t)n * C;
    psm *P = peer_alloc(sizeof *P);
    sm *S = &P->S;
    P->op = k;
    P->ad = !strcmp(role, "ht");
    S->n = n;
    S->d = d;
    S->C = C;
    S->X = peer_load(prefix, "X.f64", nd, 8, msg, msglen);
    S->label = peer_load(prefix, "label.i32", (size_t)n, 4, msg, msglen);
    S->W = peer_load(prefix, "W.f64", dc, 8, msg, msglen);
    S->V = peer_load(prefix, "V.f64", dc, 8, msg, msglen);
    P->lam = peer_load(prefix, "lambda.f64", 1, 8, msg, msglen);
    double **nbuf[] = {&S->Z, &S->P, &S->U};
    for (int j = 0; j < 3; j++)
        *nbuf[j] = peer_alloc(nc * sizeof(double));
    double **dbuf[] = {&S->T, &S->gW_ad, &S->gW_h, &S->hv_ad, &S->hv_h};
    for (int j = 0; j < 5; j++)
        *dbuf[j] = peer_alloc(dc * sizeof(double));
    P->res = peer_alloc((dc + 1) * sizeof(double));
    w->ctx = P;
    w->call = psm_call;
    w->result = psm_result;
    w->done = psm_done;
    if (!S->X || !S->label || !S->W || !S->V || !P->lam) {
        psm_done(P);
        return -1;
    }
    S->lambda = P->lam[0];
    if (P->ad) {
        S->t = ad_tape_new(NULL);
        if (!S->t) {
            snprintf(msg, msglen, "softmax: cannot create a tape");
            psm_done(P);
            return -1;
        }
        S->base = ad_tape_mark(S->t);
        S->mode = AD_HVP_FOR;
        if (k == 2)
            ad_prepare_fn(S);
    } else if (k == 2) {
        hand_curvature(S);
    }
    return 0;
}
