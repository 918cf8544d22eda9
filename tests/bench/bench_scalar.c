/*
 * tests/bench/bench_scalar.c — the per-op cost of the tape on scalar code.
 *
 *   f(x) = Σ_{i<N} [100 (x_{i+1} − x_i²)² + (1 − x_i)²],  x ∈ R^{N+1}
 *
 * written with 1×1 ad ops on N+1 separate 1×1 leaves (genuinely scalar
 * code: no vector op hides the per-node overhead). Usage: bench_scalar N
 * (default 10^5).
 *
 * Reports, as medians over alternating repetitions (record with plain C,
 * grad with grad-CG), each with the fastest repetition as "(min ...)":
 *   record          leaves + ops recorded, then rewound: ns per recorded node
 *   record + grad   the same plus ad_grad_values (the numeric sweep, no node
 *                   recorded) into N+1 doubles: ns per forward node
 *   record + grad (AD_CREATE_GRAPH), for the cost of a differentiable backward
 *   replay          f compiled once (ad_replay_new), then ad_replay_gradient at
 *                   the same point: forward + reverse over the compiled program,
 *                   ns per recorded node; paired with ad_grad on the recording
 * and, for scale, plain C f + ∇f. The AD gradient is compared with the
 * hand-written one. Nothing is asserted.
 */
#include "bench_util.h"

typedef struct sc {
    int N;
    const double *x0;   /* N+1 */
    ad_var *x, *g;      /* N+1 handles */
    double *g_ad, *g_h; /* N+1 */
    double **g_out;     /* N+1 pointers into g_ad (ad_grad_values), or NULL */
    double f_ad, f_h;
    unsigned flags;
    ad_tape *t;
    ad_mark base;
} sc;

/* Records N+1 leaves and f; returns f. */
static ad_var sc_record(sc *S)
{
    ad_tape *t = S->t;
    int N = S->N;
    for (int i = 0; i <= N; i++)
        S->x[i] = ad_leaf(t, 1, 1, &S->x0[i]);
    ad_var acc = AD_NONE;
    for (int i = 0; i < N; i++) {
        ad_var d = ad_sub(t, S->x[i + 1], ad_square(t, S->x[i]));   /* x_{i+1} − x_i² */
        ad_var a = ad_scale(t, ad_square(t, d), 100.0);             /* 100 d² */
        ad_var b = ad_square(t, ad_affine(t, S->x[i], -1.0, 1.0));  /* (1 − x_i)² */
        ad_var term = ad_add(t, a, b);
        acc = i == 0 ? term : ad_add(t, acc, term);
    }
    return acc;
}

static void ad_record_only(void *ctx)
{
    sc *S = ctx;
    sc_record(S);
    ad_tape_rewind(S->t, S->base);
}

static void ad_record_grad(void *ctx)
{
    sc *S = ctx;
    ad_var f = sc_record(S);
    S->f_ad = ad_scalar_value(S->t, f);
    if (!(S->flags & AD_CREATE_GRAPH)) /* values straight into g_ad: no node recorded */
        ad_grad_values(S->t, f, S->N + 1, S->x, S->g_out);
    else if (ad_grad(S->t, f, S->N + 1, S->x, S->g, S->flags) == AD_OK)
        for (int i = 0; i <= S->N; i++)
            S->g_ad[i] = ad_scalar_value(S->t, S->g[i]);
    ad_tape_rewind(S->t, S->base);
}

typedef struct sc_rp {
    sc *S;
    ad_replay *r;
    ad_var f;
    double *g2, **out; /* N+1 values, and one pointer to each (ad_grad_values) */
} sc_rp;

static void replay_grad(void *ctx)
{
    sc_rp *R = ctx;
    if (ad_replay_gradient(R->r, R->S->x0, &R->S->f_ad, R->S->g_ad) != AD_OK) {
        fprintf(stderr, "bench: replay: %s\n", ad_replay_message(R->r));
        exit(1);
    }
}

/* ad_grad on the existing recording (no re-evaluation), rewound after. */
static void recorded_grad(void *ctx)
{
    sc_rp *R = ctx;
    sc *S = R->S;
    if (ad_grad_values(S->t, R->f, S->N + 1, S->x, R->out) != AD_OK)
        bench_check_tape(S->t, "grad on the recording");
}

static void hand_fgrad(void *ctx)
{
    sc *S = ctx;
    const double *x = S->x0;
    double *g = S->g_h, f = 0;
    memset(g, 0, (size_t)(S->N + 1) * sizeof(double));
    for (int i = 0; i < S->N; i++) {
        double d = x[i + 1] - x[i] * x[i], e = 1.0 - x[i];
        f += 100.0 * d * d + e * e;
        g[i] += -400.0 * x[i] * d - 2.0 * e;
        g[i + 1] += 200.0 * d;
    }
    S->f_h = f;
}

int main(int argc, char **argv)
{
    int N = argc > 1 ? atoi(argv[1]) : 100000;
    if (N <= 0) {
        fprintf(stderr, "usage: %s N\n", argv[0]);
        return 2;
    }
    char tag[64];
    snprintf(tag, sizeof tag, "scalar rosenbrock N=%d", N);
    bench_header(tag);

    bench_rng rng = {0x12345ull + (uint64_t)N};
    double *x0 = bench_doubles((size_t)N + 1);
    for (int i = 0; i <= N; i++)
        x0[i] = 0.5 + 0.1 * bench_gauss(&rng);
    sc S = {.N = N, .x0 = x0};
    S.x = bench_alloc((size_t)(N + 1) * sizeof(ad_var));
    S.g = bench_alloc((size_t)(N + 1) * sizeof(ad_var));
    S.g_ad = bench_doubles((size_t)N + 1);
    S.g_h = bench_doubles((size_t)N + 1);
    S.g_out = bench_alloc((size_t)(N + 1) * sizeof(double *));
    for (int i = 0; i <= N; i++)
        S.g_out[i] = &S.g_ad[i];
    S.t = ad_tape_new(NULL);
    if (!S.t) {
        fprintf(stderr, "bench: cannot create a tape\n");
        return 1;
    }
    S.base = ad_tape_mark(S.t);
    bench_summary Sum = {.name = tag};
    bench_cfg cfg = {2, 7, 41, 2.0};
    char a[32], h[32];

    /* Node counts: forward (leaves + ops), and backward with / without graph. */
    ad_tape_reset_peak(S.t);
    ad_var f = sc_record(&S);
    size_t n_fwd = ad_tape_stats(S.t).nodes;
    size_t pk_rec = ad_tape_stats(S.t).peak_bytes;
    ad_grad_values(S.t, f, N + 1, S.x, S.g_out);
    size_t n_bwd = ad_tape_stats(S.t).nodes - n_fwd; /* 0: nothing recorded */
    size_t pk_grad = ad_tape_stats(S.t).peak_bytes;
    bench_check_tape(S.t, "record + grad");
    ad_tape_rewind(S.t, S.base);
    ad_tape_reset_peak(S.t);
    f = sc_record(&S);
    ad_grad(S.t, f, N + 1, S.x, S.g, AD_CREATE_GRAPH);
    size_t n_bwd_cg = ad_tape_stats(S.t).nodes - n_fwd;
    size_t pk_cg = ad_tape_stats(S.t).peak_bytes;
    bench_check_tape(S.t, "record + grad (create graph)");
    ad_tape_rewind(S.t, S.base);

    /* record + rewind, paired with plain C */
    double t_rec, t_plain, m_rec, m_plain;
    bench_pair_min(ad_record_only, &S, hand_fgrad, &S, &cfg, &t_rec, &t_plain, &m_rec, &m_plain);
    bench_check_tape(S.t, "record");
    double ns_rec = 1e9 * t_rec / (double)n_fwd;
    printf("bench %s  record           %10s  %6.1f ns/node (min %.1f)  (%zu nodes: %d leaves + %zu ops)  peak tape %.1f MiB (%.0f B/node)\n",
           tag, bench_fmt_time(t_rec, a, sizeof a), ns_rec, 1e9 * m_rec / (double)n_fwd, n_fwd,
           N + 1, n_fwd - (size_t)(N + 1), bench_mib(pk_rec), (double)pk_rec / (double)n_fwd);
    bench_note(&Sum, ns_rec, -1, "record: ns per recorded node");

    /* record + grad, without and with AD_CREATE_GRAPH, paired with each other */
    sc S2 = S;
    S.flags = 0;
    S2.flags = AD_CREATE_GRAPH;
    S2.g_ad = bench_doubles((size_t)N + 1);
    S2.g = bench_alloc((size_t)(N + 1) * sizeof(ad_var));
    double t_grad, t_cg, m_grad, m_cg;
    bench_pair_min(ad_record_grad, &S, ad_record_grad, &S2, &cfg, &t_grad, &t_cg, &m_grad, &m_cg);
    bench_check_tape(S.t, "record + grad");
    double e = bench_relerr(S.g_ad, S.g_h, (size_t)N + 1), e2 = bench_relerr(S2.g_ad, S.g_h, (size_t)N + 1);
    double ns_fwd = 1e9 * t_grad / (double)n_fwd, ns_all = 1e9 * t_grad / (double)(n_fwd + n_bwd);
    printf("bench %s  record + grad    %10s  %6.1f ns per forward node (min %.1f), %5.1f ns/node over all %zu nodes (%zu backward)  peak tape %.1f MiB  relerr grad %.1e f %.1e\n",
           tag, bench_fmt_time(t_grad, a, sizeof a), ns_fwd, 1e9 * m_grad / (double)n_fwd, ns_all,
           n_fwd + n_bwd, n_bwd, bench_mib(pk_grad), e, fabs(S.f_ad - S.f_h) / fabs(S.f_h));
    printf("bench %s  record + grad CG %10s  %6.1f ns per forward node (min %.1f), %5.1f ns/node over all %zu nodes (%zu backward)  peak tape %.1f MiB  relerr grad %.1e\n",
           tag, bench_fmt_time(t_cg, a, sizeof a), 1e9 * t_cg / (double)n_fwd,
           1e9 * m_cg / (double)n_fwd, 1e9 * t_cg / (double)(n_fwd + n_bwd_cg), n_fwd + n_bwd_cg,
           n_bwd_cg, bench_mib(pk_cg), e2);
    bench_note(&Sum, ns_fwd, -1, "record + grad: ns per forward node");
    bench_note(&Sum, ns_all, -1, "record + grad: ns per node (fwd + bwd)");
    /* the numeric sweep records no backward op (n_bwd counts only the N+1
     * gradient constants): its cost is per forward node swept */
    bench_note(&Sum, 1e9 * (t_grad - t_rec) / (double)n_fwd, -1,
               "grad sweep alone: ns per forward node (median difference)");
    bench_note(&Sum, t_grad / t_rec, -1, "record + grad / record");
    bench_note(&Sum, 1e9 * t_cg / (double)n_fwd, -1, "record + grad (create graph): ns per fwd node");

    /* replay vs ad_grad on the same recording */
    ad_tape_rewind(S.t, S.base);
    sc_rp R = {&S, NULL, sc_record(&S), bench_doubles((size_t)N + 1), NULL};
    R.out = bench_alloc((size_t)(N + 1) * sizeof(double *));
    for (int i = 0; i <= N; i++)
        R.out[i] = &R.g2[i];
    R.r = ad_replay_new(S.t, R.f, N + 1, S.x);
    bench_check_tape(S.t, "replay compile");
    double t_rp, t_rg, m_rp, m_rg;
    bench_pair_min(replay_grad, &R, recorded_grad, &R, &cfg, &t_rp, &t_rg, &m_rp, &m_rg);
    double e_rp = bench_relerr(S.g_ad, S.g_h, (size_t)N + 1), e_rg = bench_relerr(R.g2, S.g_h, (size_t)N + 1);
    printf("bench %s  replay grad      %10s  %6.1f ns per recorded node (min %.1f), %zu instructions  relerr grad %.1e\n",
           tag, bench_fmt_time(t_rp, a, sizeof a), 1e9 * t_rp / (double)n_fwd, 1e9 * m_rp / (double)n_fwd,
           ad_replay_size(R.r), e_rp);
    printf("bench %s  grad on recording %9s  %6.1f ns per recorded node (min %.1f)  relerr grad %.1e\n",
           tag, bench_fmt_time(t_rg, a, sizeof a), 1e9 * t_rg / (double)n_fwd, 1e9 * m_rg / (double)n_fwd, e_rg);
    bench_note(&Sum, 1e9 * t_rp / (double)n_fwd, -1, "replay gradient (forward + reverse): ns per node");
    bench_note(&Sum, 1e9 * t_rg / (double)n_fwd, -1, "ad_grad on the recording: ns per node");
    ad_replay_free(R.r);
    free(R.g2);
    free(R.out);
    ad_tape_rewind(S.t, S.base);

    printf("bench %s  plain C f+grad   %10s  %6.2f ns/term; record+grad / plain C = %.0f\n", tag,
           bench_fmt_time(t_plain, h, sizeof h), 1e9 * t_plain / N, t_grad / t_plain);
    bench_note(&Sum, t_grad / t_plain, -1, "record + grad / plain C f+grad");
    printf("bench %s  note: medians of alternating repetitions; (min ...) is the fastest one, less sensitive to other load on the machine\n",
           tag);
    bench_print_summary(&Sum);

    ad_tape_free(S.t);
    free(S.x);
    free(S.g);
    free(S2.g);
    free(S2.g_ad);
    free(S.g_ad);
    free(S.g_h);
    free(S.g_out);
    free(x0);
    return 0;
}
