/*
 * tests/bench_peers/peer_logreg.c — the dense logistic workloads of the
 * peer benchmark, on the problem of tests/bench/bench_logreg.c (its
 * recording and its hand-written OpenBLAS code are reused as they are):
 *
 *   G(θ, λ) = (1/n) Σ_i softplus(−y_i x_iᵀθ) + ½ Σ_k e^{λ_k} θ_k²
 *
 * ops: grad (→ ∇_θG, ∇_λG), hvp_scratch / hvp_reuse (→ H·v),
 *      cross_scratch / cross_reuse (→ ∇²_λθG·v). "scratch" records G in the
 * call; "reuse" records it (AD: ad_hvp_prepare, forward-over-reverse as in
 * bl_oracle; hand: σ'(m)/n kept) once at setup. Args: n p.
 */
#include "peer_proto.h"

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wold-style-declaration"
#define main __attribute__((unused)) static bench_logreg_main
#include "../bench/bench_logreg.c"
#undef main
#pragma GCC diagnostic pop

typedef struct plr {
    lr L;
    int op; /* 0 grad, 1 hvp scratch, 2 hvp reuse, 3 cross scratch, 4 cross reuse */
    int ad;
    double *res;
    int nres;
} plr;

static void plr_ad(void *ctx)
{
    plr *P = ctx;
    lr *L = &P->L;
    ad_var th, la, G;
    switch (P->op) {
    case 0:
        ad_grad_fn(L);
        break;
    case 1:
    case 3:
        ad_tape_set_lazy(L->t, 1); /* no value wanted: as bench_logreg's scratch Hvp */
        G = lr_record(L, &th, &la);
        ad_tape_set_lazy(L->t, 0);
        ad_hvp_cross(L->t, G, th, la, L->v, P->op == 1 ? L->hv_ad : NULL,
                     P->op == 3 ? L->cr_ad : NULL, AD_HVP_FOR);
        ad_tape_rewind(L->t, L->base);
        break;
    default:
        ad_hvp_apply(L->t, &L->plan, L->v, P->op == 2 ? L->hv_ad : NULL,
                     P->op == 4 ? L->cr_ad : NULL);
    }
}

/* cross(v) = e^λ ⊙ θ ⊙ v needs no pass over X: hand code computes only that. */
static void plr_hand_cross(lr *L)
{
    for (int k = 0; k < L->p; k++)
        L->cr_h[k] = exp(L->lambda[k]) * L->theta[k] * L->v[k];
}

static void plr_hand(void *ctx)
{
    plr *P = ctx;
    lr *L = &P->L;
    switch (P->op) {
    case 0:
        hand_grad(L);
        break;
    case 1:
        hand_hvp_scratch(L);
        break;
    case 2:
        hand_hvp_apply(L);
        break;
    case 3:
        plr_hand_cross(L);
        break;
    default:
        for (int k = 0; k < L->p; k++)
            L->cr_h[k] = L->elam[k] * L->theta[k] * L->v[k];
    }
}

static const double *plr_result(void *ctx, int *n)
{
    plr *P = ctx;
    lr *L = &P->L;
    int p = L->p;
    if (P->op == 0) {
        memcpy(P->res, P->ad ? L->gth_ad : L->gth_h, (size_t)p * sizeof(double));
        memcpy(P->res + p, P->ad ? L->gla_ad : L->gla_h, (size_t)p * sizeof(double));
        *n = 2 * p;
    } else {
        const double *r = P->op <= 2 ? (P->ad ? L->hv_ad : L->hv_h) : (P->ad ? L->cr_ad : L->cr_h);
        memcpy(P->res, r, (size_t)p * sizeof(double));
        *n = p;
    }
    if (P->ad)
        bench_check_tape(L->t, "peer logreg");
    return P->res;
}

static void plr_done(void *ctx)
{
    plr *P = ctx;
    lr *L = &P->L;
    double *bufs[] = {(double *)L->X, (double *)L->ny, (double *)L->theta, (double *)L->lambda,
                      (double *)L->v, L->z, L->w, L->D, L->elam, L->gth_ad, L->gla_ad,
                      L->gth_h, L->gla_h, L->hv_ad, L->cr_ad, L->hv_h, L->cr_h, P->res};
    for (size_t k = 0; k < sizeof bufs / sizeof bufs[0]; k++)
        free(bufs[k]);
    if (L->t)
        ad_tape_free(L->t);
    free(P);
}

int peer_logreg_setup(const char *role, const char *op, const char *prefix, int argc, char **argv,
                      peer_work *w, char *msg, size_t msglen)
{
    static const char *ops[] = {"grad", "hvp_scratch", "hvp_reuse", "cross_scratch", "cross_reuse"};
    int k = 0;
    while (k < 5 && strcmp(op, ops[k]))
        k++;
    if (k == 5 || argc < 3) {
        snprintf(msg, msglen, "logreg: unknown op %s or missing n p", op);
        return -1;
    }
    int n = atoi(argv[1]), p = atoi(argv[2]);
    plr *P = peer_alloc(sizeof *P);
    lr *L = &P->L;
    P->op = k;
    P->ad = !strcmp(role, "ht");
    L->n = n;
    L->p = p;
    L->X = peer_load(prefix, "X.f64", (size_t)n * p, 8, msg, msglen);
    L->ny = peer_load(prefix, "ny.f64", (size_t)n, 8, msg, msglen);
    L->theta = peer_load(prefix, "theta.f64", (size_t)p, 8, msg, msglen);
    L->lambda = peer_load(prefix, "lambda.f64", (size_t)p, 8, msg, msglen);
    L->v = peer_load(prefix, "v.f64", (size_t)p, 8, msg, msglen);
    double **ws[] = {&L->z, &L->w, &L->D};
    for (size_t j = 0; j < 3; j++)
        *ws[j] = peer_alloc((size_t)n * sizeof(double));
    double **ps[] = {&L->elam, &L->gth_ad, &L->gla_ad, &L->gth_h, &L->gla_h,
                     &L->hv_ad, &L->cr_ad, &L->hv_h, &L->cr_h};
    for (size_t j = 0; j < sizeof ps / sizeof ps[0]; j++)
        *ps[j] = peer_alloc((size_t)p * sizeof(double));
    P->res = peer_alloc((size_t)2 * p * sizeof(double));
    w->ctx = P;
    w->done = plr_done;
    w->result = plr_result;
    if (!L->X || !L->ny || !L->theta || !L->lambda || !L->v) {
        plr_done(P);
        return -1;
    }
    if (P->ad) {
        L->t = ad_tape_new(NULL);
        if (!L->t) {
            snprintf(msg, msglen, "logreg: cannot create a tape");
            plr_done(P);
            return -1;
        }
        L->base = ad_tape_mark(L->t);
        L->mode = AD_HVP_FOR;
        if (k == 2 || k == 4)
            ad_prepare_fn(L); /* the recording every call reuses */
        w->call = plr_ad;
    } else {
        if (k == 2 || k == 4)
            hand_curvature(L);
        w->call = plr_hand;
    }
    return 0;
}
