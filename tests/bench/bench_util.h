/*
 * tests/bench/bench_util.h — shared helpers of the ad benchmarks: a monotonic
 * clock, medians over repetitions (with warm-up), paired timing of an AD
 * routine against its hand-written reference, a seeded Gaussian generator,
 * relative errors, and the summary table every benchmark prints at the end.
 *
 * Benchmarks print ratios measured in the same run and assert nothing: they
 * exit 0 unless they could not run (allocation or tape failure).
 */
#ifndef HYPERTAPE_BENCH_UTIL_H
#define HYPERTAPE_BENCH_UTIL_H

#include <hypertape/ad.h>

#include <cblas.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ----------------------------------------------------------------- clock */

static inline double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median of n values (sorts them in place). */
static inline double bench_median(double *x, int n)
{
    qsort(x, (size_t)n, sizeof *x, bench_cmp_double);
    return n % 2 ? x[n / 2] : 0.5 * (x[n / 2 - 1] + x[n / 2]);
}

/* ------------------------------------------------------------ randomness */

typedef struct bench_rng {
    uint64_t s;
} bench_rng;

static inline uint64_t bench_next(bench_rng *r) /* splitmix64 */
{
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform in (0, 1). */
static inline double bench_unif(bench_rng *r)
{
    return ((double)(bench_next(r) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

/* Standard normal (Box–Muller). */
static inline double bench_gauss(bench_rng *r)
{
    double u = bench_unif(r), v = bench_unif(r);
    return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

/* ------------------------------------------------------------- numerics */

/* ‖a − b‖ / max(‖b‖, tiny). */
static inline double bench_relerr(const double *a, const double *b, size_t n)
{
    double d = 0, s = 0;
    for (size_t k = 0; k < n; k++) {
        d += (a[k] - b[k]) * (a[k] - b[k]);
        s += b[k] * b[k];
    }
    return sqrt(d) / (s > 0 ? sqrt(s) : 1e-300);
}

/* Stable σ(m) and softplus(m) sharing one exp. */
static inline void bench_sig_softplus(double m, double *sig, double *sp)
{
    double e = exp(-fabs(m));
    if (sp)
        *sp = (m > 0 ? m : 0.0) + log1p(e);
    *sig = m >= 0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
}

/* ----------------------------------------------------------- allocation */

static inline void *bench_alloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "bench: cannot allocate %zu bytes\n", n);
        exit(77); /* could not run */
    }
    return p;
}

static inline double *bench_doubles(size_t n) { return bench_alloc(n * sizeof(double)); }

/* Exits with a message when the tape holds an error: the benchmark could not run. */
static inline void bench_check_tape(const ad_tape *t, const char *where)
{
    if (ad_tape_status(t) != AD_OK) {
        fprintf(stderr, "bench: %s: %s: %s\n", where, ad_strerror(ad_tape_status(t)),
                ad_tape_message(t));
        exit(1);
    }
}

/* --------------------------------------------------------------- timing */

/* A routine under test; it does one full call (e.g. record + grad + rewind). */
typedef void (*bench_fn)(void *ctx);

typedef struct bench_cfg {
    int warmup;     /* untimed calls first */
    int min_reps;   /* at least this many timed calls */
    int max_reps;   /* at most this many */
    double budget;  /* stop adding repetitions after this many seconds */
} bench_cfg;

static const bench_cfg bench_default_cfg = {2, 7, 61, 1.5};

/* Times a and b alternately (a, b, a, b, ...) so that drift of the machine
 * hits both equally; returns the medians in seconds (b may be NULL) and,
 * when min_a / min_b are not NULL, the fastest repetitions. */
static inline void bench_pair_min(bench_fn a, void *actx, bench_fn b, void *bctx,
                                  const bench_cfg *cfg, double *med_a, double *med_b,
                                  double *min_a, double *min_b)
{
    if (!cfg)
        cfg = &bench_default_cfg;
    for (int w = 0; w < cfg->warmup; w++) {
        a(actx);
        if (b)
            b(bctx);
    }
    double *ta = bench_doubles((size_t)cfg->max_reps), *tb = bench_doubles((size_t)cfg->max_reps);
    int n = 0;
    double start = bench_now();
    while (n < cfg->max_reps && (n < cfg->min_reps || bench_now() - start < cfg->budget)) {
        double t0 = bench_now();
        a(actx);
        double t1 = bench_now();
        if (b)
            b(bctx);
        double t2 = bench_now();
        ta[n] = t1 - t0;
        tb[n] = t2 - t1;
        n++;
    }
    *med_a = bench_median(ta, n); /* sorts: ta[0] is then the minimum */
    if (min_a)
        *min_a = ta[0];
    if (med_b)
        *med_b = b ? bench_median(tb, n) : 0.0;
    if (min_b)
        *min_b = b ? tb[0] : 0.0;
    free(ta);
    free(tb);
}

/* bench_pair_min without the minima. */
static inline void bench_pair(bench_fn a, void *actx, bench_fn b, void *bctx, const bench_cfg *cfg,
                              double *med_a, double *med_b)
{
    bench_pair_min(a, actx, b, bctx, cfg, med_a, med_b, NULL, NULL);
}

/* Prints a time with a unit that keeps 3-4 significant digits. */
static inline const char *bench_fmt_time(double s, char *buf, size_t n)
{
    if (s >= 1.0)
        snprintf(buf, n, "%.3f s", s);
    else if (s >= 1e-3)
        snprintf(buf, n, "%.3f ms", s * 1e3);
    else
        snprintf(buf, n, "%.2f us", s * 1e6);
    return buf;
}

static inline double bench_mib(size_t b) { return (double)b / (1024.0 * 1024.0); }

/* ---------------------------------------------------------------- memory */

typedef struct bench_mem {
    size_t setup_peak; /* peak_bytes after setup (e.g. a prepared Hvp plan) */
    size_t peak;       /* peak_bytes after one call of fn */
    size_t reserved;   /* reserved_bytes after it: all memory the tape took
                          from the system, scratch arena and sweep buffers too */
} bench_mem;

/* Runs setup (may be NULL) and then one call of fn on a FRESH tape, so that
 * the numbers belong to this measurement alone. *tp and *bp are the
 * context's tape and base mark; they are swapped for the fresh tape and
 * restored afterwards. */
static inline bench_mem bench_mem_of(ad_tape **tp, ad_mark *bp, bench_fn setup, bench_fn fn,
                                     void *ctx)
{
    bench_mem m = {0, 0, 0};
    ad_tape *keep = *tp;
    ad_mark keep_base = *bp;
    ad_tape *t = ad_tape_new(NULL);
    if (!t)
        return m;
    *tp = t;
    *bp = ad_tape_mark(t);
    if (setup)
        setup(ctx);
    m.setup_peak = ad_tape_stats(t).peak_bytes;
    fn(ctx);
    ad_stats s = ad_tape_stats(t);
    m.peak = s.peak_bytes;
    m.reserved = s.reserved_bytes;
    bench_check_tape(t, "memory measurement");
    ad_tape_free(t);
    *tp = keep;
    *bp = keep_base;
    return m;
}

/* ------------------------------------------------------------- summary */

#define BENCH_MAX_ROWS 64

typedef struct bench_row {
    char what[96];
    double value, target; /* target < 0: informative only */
} bench_row;

typedef struct bench_summary {
    const char *name;
    int n;
    bench_row row[BENCH_MAX_ROWS];
} bench_summary;

/* Adds a ratio (or any value) to the summary; target < 0 means no target. */
static inline void bench_note(bench_summary *s, double value, double target, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static inline void bench_note(bench_summary *s, double value, double target, const char *fmt, ...)
{
    if (s->n >= BENCH_MAX_ROWS)
        return;
    bench_row *r = &s->row[s->n++];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->what, sizeof r->what, fmt, ap);
    va_end(ap);
    r->value = value;
    r->target = target;
}

static inline void bench_print_summary(const bench_summary *s)
{
    int met = 0, total = 0;
    printf("\n==== summary: %s ====\n", s->name);
    for (int k = 0; k < s->n; k++) {
        const bench_row *r = &s->row[k];
        if (r->target >= 0) {
            int ok = r->value <= r->target;
            met += ok;
            total++;
            printf("  %-58s %8.3f  target <= %.2f  %s\n", r->what, r->value, r->target,
                   ok ? "MET" : "NOT MET");
        } else {
            printf("  %-58s %8.3f\n", r->what, r->value);
        }
    }
    if (total)
        printf("  targets met: %d of %d\n", met, total);
    else
        printf("  (no targets: informative numbers)\n");
    printf("==== end summary: %s ====\n", s->name);
}

static inline void bench_header(const char *name)
{
    printf("bench %s: OpenBLAS threads %d (%s)\n", name, openblas_get_num_threads(),
           openblas_get_config());
}

#endif
