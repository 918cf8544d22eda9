/*
 * tests/bench/bench_driver.h — the common protocol of the dense benchmarks
 * (logistic and softmax regression): a problem supplies its AD routines and
 * hand-written OpenBLAS references as callbacks; bench_run() times them in
 * pairs, measures tape memory, checks that AD and hand agree, and prints one
 * line per measurement plus the summary.
 *
 * Measurements (medians of alternating repetitions, after warm-up):
 *   value        record G + rewind               vs  hand f
 *   grad         record G + ad_grad_values       vs  hand f and ∇f
 *   hvp scratch  record G + ad_hvp_cross         vs  hand Hv + cross from θ (includes Xθ)
 *                (both modes); also vs hand ∇f + Hv + cross, the same work
 *                as AD does from scratch (informative)
 *   hvp reuse    ad_hvp_apply on a prepared plan vs  hand Hv + cross with the
 *                (both modes)                        curvature kept (D or P)
 *   hvp / grad   both AD
 */
#ifndef HYPERTAPE_BENCH_DRIVER_H
#define HYPERTAPE_BENCH_DRIVER_H

#include "bench_util.h"

enum { BENCH_CHECK_VALUE, BENCH_CHECK_GRAD, BENCH_CHECK_HVP };

typedef struct bench_problem {
    const char *tag;    /* e.g. "logreg 49990x22" */
    void *ctx;          /* passed to every callback */
    ad_tape **tape;     /* the context's tape ... */
    ad_mark *base;      /* ... and the mark every AD routine rewinds to */
    ad_hvp_mode *mode;  /* the mode the Hvp callbacks use */
    bench_fn ad_record;        /* record G, rewind */
    bench_fn hand_value;       /* f */
    bench_fn ad_grad;          /* record G, ad_grad_values, rewind */
    bench_fn hand_grad;        /* f, ∇_θ, ∇_λ */
    bench_fn ad_hvp_scratch;   /* record G, ad_hvp_cross, rewind */
    bench_fn hand_hvp_scratch; /* Hv, cross from θ */
    bench_fn hand_grad_hvp;    /* ∇ and Hv, cross from θ (AD's from-scratch work) */
    bench_fn ad_prepare;       /* record G, ad_hvp_prepare into the context; no rewind */
    bench_fn ad_apply;         /* ad_hvp_apply with the prepared plan */
    bench_fn hand_curvature;   /* compute what a hand Hvp keeps at fixed θ */
    bench_fn hand_apply;       /* Hv, cross with it */
    /* Writes "relerr ..." comparing the latest AD and hand results. */
    void (*check)(void *ctx, int what, char *buf, size_t n);
    const char *passes_note; /* how many passes over the data each side makes */
} bench_problem;

static const char *bench_mode_name(ad_hvp_mode m) { return m == AD_HVP_FOR ? "FOR" : "ROR"; }

static void bench_line(const char *tag, const char *what, double ad, double hand, double target,
                       const char *extra)
{
    char a[32], h[32];
    printf("bench %s  %-20s ad %10s  hand %10s  ratio %5.2f", tag, what,
           bench_fmt_time(ad, a, sizeof a), bench_fmt_time(hand, h, sizeof h), ad / hand);
    if (target > 0)
        printf(" (target <= %.2f)", target);
    printf("  %s\n", extra ? extra : "");
}

/* record + prepare + rewind, to time what building a plan costs. */
static const bench_problem *bench_cur;
static void bench_prepare_rewind(void *ctx)
{
    bench_cur->ad_prepare(ctx);
    ad_tape_rewind(*bench_cur->tape, *bench_cur->base);
}

static void bench_run(const bench_problem *P)
{
    bench_cur = P;
    const char *tag = P->tag;
    void *c = P->ctx;
    bench_summary S = {.name = tag};
    char extra[256], chk[128];
    bench_mem m;
    double t_h;

    /* ---- value: recording alone ---- */
    double t_rec, t_val;
    bench_pair(P->ad_record, c, P->hand_value, c, NULL, &t_rec, &t_val);
    bench_check_tape(*P->tape, "record");
    m = bench_mem_of(P->tape, P->base, NULL, P->ad_record, c);
    P->check(c, BENCH_CHECK_VALUE, chk, sizeof chk);
    snprintf(extra, sizeof extra, "(record G + rewind vs f only)  peak tape %.2f MiB  %s",
             bench_mib(m.peak), chk);
    bench_line(tag, "value", t_rec, t_val, -1, extra);

    /* ---- gradient ---- */
    double t_grad;
    bench_pair(P->ad_grad, c, P->hand_grad, c, NULL, &t_grad, &t_h);
    bench_check_tape(*P->tape, "grad");
    P->check(c, BENCH_CHECK_GRAD, chk, sizeof chk);
    m = bench_mem_of(P->tape, P->base, NULL, P->ad_grad, c);
    snprintf(extra, sizeof extra, "peak tape %.2f MiB (reserved %.2f MiB)  %s", bench_mib(m.peak),
             bench_mib(m.reserved), chk);
    bench_line(tag, "grad", t_grad, t_h, 1.15, extra);
    bench_note(&S, t_grad / t_h, 1.15, "grad: AD / hand");

    /* ---- Hvp from scratch: record G + one second-order sweep ---- */
    double t_scr[2], t_app[2], t_prep[2], t_hscr[2];
    for (int md = 0; md < 2; md++) {
        *P->mode = md == 0 ? AD_HVP_FOR : AD_HVP_ROR;
        const char *mn = bench_mode_name(*P->mode);
        bench_pair(P->ad_hvp_scratch, c, P->hand_hvp_scratch, c, NULL, &t_scr[md], &t_hscr[md]);
        bench_check_tape(*P->tape, "hvp scratch");
        P->check(c, BENCH_CHECK_HVP, chk, sizeof chk);
        m = bench_mem_of(P->tape, P->base, NULL, P->ad_hvp_scratch, c);
        snprintf(extra, sizeof extra, "peak tape %.2f MiB (reserved %.2f MiB)  %s",
                 bench_mib(m.peak), bench_mib(m.reserved), chk);
        char what[40];
        snprintf(what, sizeof what, "hvp scratch %s", mn);
        bench_line(tag, what, t_scr[md], t_hscr[md], 1.3, extra);
        bench_note(&S, t_scr[md] / t_hscr[md], 1.3, "hvp scratch %s: AD / hand", mn);
    }
    /* The same work as AD from scratch: hand ∇f + Hv + cross (informative). */
    double t_hgh;
    bench_pair(P->hand_grad_hvp, c, NULL, NULL, NULL, &t_hgh, NULL);
    for (int md = 0; md < 2; md++) {
        const char *mn = bench_mode_name(md == 0 ? AD_HVP_FOR : AD_HVP_ROR);
        char what[40];
        snprintf(what, sizeof what, "hvp scratch %s", mn);
        bench_line(tag, what, t_scr[md], t_hgh, -1,
                   "(informative: hand computes grad + Hv + cross, the work AD does)");
        bench_note(&S, t_scr[md] / t_hgh, -1, "hvp scratch %s: AD / hand (grad + Hv)", mn);
    }
    if (P->passes_note)
        printf("bench %s  note: %s\n", tag, P->passes_note);

    /* ---- Hvp reusing the recording: prepare once, apply per call ---- */
    for (int md = 0; md < 2; md++) {
        *P->mode = md == 0 ? AD_HVP_FOR : AD_HVP_ROR;
        const char *mn = bench_mode_name(*P->mode);
        bench_pair(bench_prepare_rewind, c, NULL, NULL, NULL, &t_prep[md], NULL);
        m = bench_mem_of(P->tape, P->base, P->ad_prepare, P->ad_apply, c);
        P->ad_prepare(c); /* the plan used below, on the benchmark's tape */
        P->hand_curvature(c);
        bench_pair(P->ad_apply, c, P->hand_apply, c, NULL, &t_app[md], &t_h);
        bench_check_tape(*P->tape, "hvp apply");
        P->check(c, BENCH_CHECK_HVP, chk, sizeof chk);
        ad_tape_rewind(*P->tape, *P->base);
        char pt[32];
        snprintf(extra, sizeof extra,
                 "peak tape %.2f MiB (plan %.2f MiB, reserved %.2f MiB; record+prepare %s)  %s",
                 bench_mib(m.peak), bench_mib(m.setup_peak), bench_mib(m.reserved),
                 bench_fmt_time(t_prep[md], pt, sizeof pt), chk);
        char what[40];
        snprintf(what, sizeof what, "hvp reuse %s", mn);
        bench_line(tag, what, t_app[md], t_h, 1.3, extra);
        bench_note(&S, t_app[md] / t_h, 1.3, "hvp reuse %s: AD apply / hand apply", mn);
    }

    /* ---- Hvp / gradient, both AD ---- */
    for (int md = 0; md < 2; md++) {
        const char *mn = bench_mode_name(md == 0 ? AD_HVP_FOR : AD_HVP_ROR);
        printf("bench %s  hvp/grad %s  scratch %.2f  reuse %.2f (target <= 2.00)\n", tag, mn,
               t_scr[md] / t_grad, t_app[md] / t_grad);
        bench_note(&S, t_scr[md] / t_grad, 2.0, "hvp scratch %s / grad (both AD)", mn);
        bench_note(&S, t_app[md] / t_grad, 2.0, "hvp reuse %s / grad (both AD)", mn);
    }
    printf("bench %s  faster mode: scratch %s (FOR/ROR time %.2f), reuse %s (FOR/ROR time %.2f)\n",
           tag, t_scr[0] <= t_scr[1] ? "FOR" : "ROR", t_scr[0] / t_scr[1],
           t_app[0] <= t_app[1] ? "FOR" : "ROR", t_app[0] / t_app[1]);
    bench_note(&S, t_scr[0] / t_scr[1], -1, "FOR / ROR time, hvp scratch (<1: FOR faster)");
    bench_note(&S, t_app[0] / t_app[1], -1, "FOR / ROR time, hvp reuse (<1: FOR faster)");
    bench_note(&S, t_rec / t_grad, -1, "share of AD grad spent recording G");
    bench_print_summary(&S);
}

#endif
