/*
 * tests/bench_peers/peer_scalar.c — the scalar chain of the peer
 * benchmark, on the problem of tests/bench/bench_scalar.c (recording and
 * plain C f + ∇f reused):
 *
 *   f(x) = Σ_{i<N} [100 (x_{i+1} − x_i²)² + (1 − x_i)²]  on N+1 1×1 leaves
 *
 * ops: record_grad (record f, ad_grad_values into N+1 doubles, rewind) and grad_tape
 * (f recorded once at setup and compiled with ad_replay_new; each call is
 * ad_replay_gradient at the leaf values x0: a forward and a reverse sweep
 * over the compiled recording, the counterpart of ADOL-C's gradient() on
 * an existing tape, which also re-evaluates the function at its point).
 * Hand code is the plain C f + ∇f for both. Args: N.
 */
#include "peer_proto.h"

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wold-style-declaration"
#define main __attribute__((unused)) static bench_scalar_main
#include "../bench/bench_scalar.c"
#undef main
#pragma GCC diagnostic pop

typedef struct psc {
    sc S;
    int op, ad;
    ad_replay *r; /* the compiled recording (grad_tape) */
    ad_status rs; /* its last status */
} psc;

static void psc_grad_tape(void *ctx)
{
    psc *P = ctx;
    P->rs = ad_replay_gradient(P->r, P->S.x0, &P->S.f_ad, P->S.g_ad);
}

static void psc_call(void *ctx)
{
    psc *P = ctx;
    if (!P->ad)
        hand_fgrad(&P->S);
    else if (P->op == 0)
        ad_record_grad(&P->S);
    else
        psc_grad_tape(P);
}

static const double *psc_result(void *ctx, int *n)
{
    psc *P = ctx;
    *n = P->S.N + 1;
    if (P->ad)
        bench_check_tape(P->S.t, "peer scalar");
    if (P->ad && P->op == 1 && P->rs != AD_OK) {
        fprintf(stderr, "bench: peer scalar replay failed: %s\n", ad_replay_message(P->r));
        exit(1);
    }
    return P->ad ? P->S.g_ad : P->S.g_h;
}

static void psc_done(void *ctx)
{
    psc *P = ctx;
    sc *S = &P->S;
    free((double *)S->x0);
    free(S->x);
    free(S->g);
    free(S->g_ad);
    free(S->g_h);
    free(S->g_out);
    if (S->t)
        ad_tape_free(S->t);
    ad_replay_free(P->r);
    free(P);
}

int peer_scalar_setup(const char *role, const char *op, const char *prefix, int argc, char **argv,
                      peer_work *w, char *msg, size_t msglen)
{
    int k = !strcmp(op, "record_grad") ? 0 : !strcmp(op, "grad_tape") ? 1 : -1;
    if (k < 0 || argc < 2 || atoi(argv[1]) <= 0) {
        snprintf(msg, msglen, "scalar: unknown op %s or missing N", op);
        return -1;
    }
    int N = atoi(argv[1]);
    psc *P = peer_alloc(sizeof *P);
    sc *S = &P->S;
    P->op = k;
    P->ad = !strcmp(role, "ht");
    S->N = N;
    S->x0 = peer_load(prefix, "x0.f64", (size_t)N + 1, 8, msg, msglen);
    S->x = peer_alloc((size_t)(N + 1) * sizeof(ad_var));
    S->g = peer_alloc((size_t)(N + 1) * sizeof(ad_var));
    S->g_ad = peer_alloc((size_t)(N + 1) * sizeof(double));
    S->g_h = peer_alloc((size_t)(N + 1) * sizeof(double));
    S->g_out = peer_alloc((size_t)(N + 1) * sizeof(double *));
    for (int i = 0; i <= N; i++)
        S->g_out[i] = &S->g_ad[i];
    w->ctx = P;
    w->call = psc_call;
    w->result = psc_result;
    w->done = psc_done;
    if (!S->x0) {
        psc_done(P);
        return -1;
    }
    if (P->ad) {
        S->t = ad_tape_new(NULL);
        if (!S->t) {
            snprintf(msg, msglen, "scalar: cannot create a tape");
            psc_done(P);
            return -1;
        }
        S->base = ad_tape_mark(S->t);
        if (k == 1 && !(P->r = ad_replay_new(S->t, sc_record(S), N + 1, S->x))) {
            snprintf(msg, msglen, "scalar: cannot compile the replay: %s", ad_tape_message(S->t));
            psc_done(P);
            return -1;
        }
    }
    return 0;
}
