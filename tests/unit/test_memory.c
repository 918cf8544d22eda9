/*
 * tests/unit/test_memory.c — mark/rewind and memory statistics:
 *  - an inner loop that records, differentiates (ad_grad, ad_hvp_cross,
 *    ad_jvp) and rewinds does no allocation after its first iteration:
 *    reserved_bytes stays constant and, outside sanitizer builds, the
 *    malloc/calloc/realloc calls of this process are counted and must not
 *    grow;
 *  - nodes and bytes return to the mark's values; peak_bytes ≥ bytes;
 *  - outside sanitizer builds, an allocator that fails on demand: every
 *    allocation of a recording + differentiation in turn returns NULL, and
 *    the engine must answer AD_ENOMEM (or AD_OK), never crash or leak.
 */
#include <stdlib.h>

#include <hypertape/ad.h>
#include "testutil.h"

#include <string.h>

#if defined(__SANITIZE_ADDRESS__)
#define HT_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(memory_sanitizer)
#define HT_SANITIZED 1
#endif
#endif

#if !defined(HT_SANITIZED) && defined(__GLIBC__)
#define HT_COUNT_MALLOC 1
/* Interposed allocator: forwards to glibc, counts calls made by this
 * thread while `counting` is set, and fails on demand. Other threads
 * (OpenBLAS workers) are neither counted nor failed. */
extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t m);
extern void *__libc_realloc(void *p, size_t n);
extern void __libc_free(void *p);

static _Thread_local int counting;
static long n_alloc;       /* allocation calls seen while counting */
static long fail_from = -1; /* calls with index ≥ fail_from fail (−1: none) */
static long fail_only = -1; /* the call with this index fails (−1: none) */
static long n_failed;

static int should_fail(void)
{
    if (!counting)
        return 0;
    long k = n_alloc++;
    if ((fail_from >= 0 && k >= fail_from) || k == fail_only) {
        n_failed++;
        return 1;
    }
    return 0;
}

void *malloc(size_t n) { return should_fail() ? NULL : __libc_malloc(n); }
void *calloc(size_t n, size_t m) { return should_fail() ? NULL : __libc_calloc(n, m); }
void *realloc(void *p, size_t n) { return should_fail() ? NULL : __libc_realloc(p, n); }
void free(void *p) { __libc_free(p); }
#endif

enum { N = 30, P = 8, ITERS = 40 };

typedef struct data {
    double X[N * P], y[N];
} data;

/* One iteration of a typical inner loop: leaves θ (P×1), λ (P×1) with fresh
 * values; G(θ, λ) = mean softplus(−y ⊙ Xθ) + ½ Σ e^λ θ²; its gradient, a
 * second-order term, Hvp/cross in both modes and a jvp. Returns a checksum
 * of the results and writes the largest `bytes` seen into *hi. */
static double iteration(ad_tape *t, ad_var X, ad_var y, int it, size_t *hi)
{
    double th[P], la[P], v[P], hv[P], cr[P], hv2[P], cr2[P], jv;
    t_rng rng = {(uint64_t)it + 1};
    t_fill(&rng, th, P, -1, 1);
    t_fill(&rng, la, P, -2, 0);
    t_fill(&rng, v, P, -1, 1);
    ad_var theta = ad_leaf(t, P, 1, th), lambda = ad_leaf(t, P, 1, la);
    ad_var z = ad_mul(t, ad_neg(t, y), ad_matvec(t, X, theta, 0));
    ad_var G = ad_add(t, ad_mean(t, ad_softplus(t, z)),
                      ad_scale(t, ad_sum(t, ad_mul(t, ad_exp(t, lambda), ad_square(t, theta))), 0.5));
    ad_var wrt[2] = {theta, lambda}, g[2], g2;
    ad_grad(t, G, 2, wrt, g, AD_CREATE_GRAPH);
    ad_var s = ad_dot(t, g[0], ad_const(t, P, 1, v));
    ad_grad(t, s, 1, &lambda, &g2, 0);
    ad_hvp_cross(t, G, theta, lambda, v, hv, cr, AD_HVP_FOR);
    ad_hvp_cross(t, G, theta, lambda, v, hv2, cr2, AD_HVP_ROR);
    const double *tin[1] = {v};
    double *tout[1] = {&jv};
    ad_jvp(t, 1, &theta, tin, 1, &G, tout);
    ad_stats st = ad_tape_stats(t);
    if (st.bytes > *hi)
        *hi = st.bytes;
    if (ad_tape_status(t) != AD_OK)
        return NAN;
    double sum = jv;
    for (int k = 0; k < P; k++)
        sum += hv[k] + cr[k] + hv2[k] + cr2[k] + ad_value(t, g[1])[k] + ad_value(t, g2)[k];
    return sum;
}

static void make_data(data *d)
{
    t_rng rng = {99};
    t_fill(&rng, d->X, N * P, -1, 1);
    for (int i = 0; i < N; i++)
        d->y[i] = t_uniform(&rng, 0, 1) < 0.5 ? -1.0 : 1.0;
}

static void test_loop(size_t block_bytes, int mark_on_empty)
{
    data d;
    make_data(&d);
    ad_tape_opts o = {0};
    o.block_bytes = block_bytes;
    ad_tape *t = ad_tape_new(&o);
    ad_mark m0 = ad_tape_mark(t);
    ad_var X = AD_NONE, y = AD_NONE;
    if (!mark_on_empty) {
        X = ad_const_ref(t, N, P, d.X);
        y = ad_const(t, N, 1, d.y);
        m0 = ad_tape_mark(t);
    }
    ad_stats s0 = ad_tape_stats(t);
    size_t reserved1 = 0, hi = 0;
#ifdef HT_COUNT_MALLOC
    long allocs1 = 0;
#endif
    double first = 0;
    for (int it = 0; it < ITERS; it++) {
        if (mark_on_empty) { /* data recorded after the mark, every time */
            X = ad_const_ref(t, N, P, d.X);
            y = ad_const(t, N, 1, d.y);
        }
#ifdef HT_COUNT_MALLOC
        counting = 1;
#endif
        double sum = iteration(t, X, y, it % 3, &hi);
#ifdef HT_COUNT_MALLOC
        counting = 0;
#endif
        EXPECT(ad_tape_status(t) == AD_OK, "iteration %d: %s", it, ad_tape_message(t));
        EXPECT(isfinite(sum), "iteration %d: non-finite results", it);
        if (it == 0)
            first = sum;
        else if (it % 3 == 0)
            EXPECT(sum == first, "iteration %d: results changed after rewinds (%.17g vs %.17g)",
                   it, sum, first);
        ad_stats st = ad_tape_stats(t);
        EXPECT(st.peak_bytes >= st.bytes && st.peak_bytes >= hi,
               "iteration %d: peak %zu < bytes %zu or seen %zu", it, st.peak_bytes, st.bytes, hi);
        ad_tape_rewind(t, m0);
        st = ad_tape_stats(t);
        EXPECT(st.nodes == s0.nodes && st.bytes == s0.bytes,
               "iteration %d: after rewind %zu nodes %zu bytes, mark had %zu, %zu", it, st.nodes,
               st.bytes, s0.nodes, s0.bytes);
        EXPECT(st.peak_bytes >= hi, "peak forgot the iteration's high-water mark");
        if (it == 0) {
            reserved1 = st.reserved_bytes;
#ifdef HT_COUNT_MALLOC
            allocs1 = n_alloc;
#endif
        } else {
            EXPECT(st.reserved_bytes == reserved1, "iteration %d: reserved %zu, after it 0: %zu", it,
                   st.reserved_bytes, reserved1);
#ifdef HT_COUNT_MALLOC
            EXPECT(n_alloc == allocs1, "iteration %d: %ld allocation calls since iteration 0", it,
                   n_alloc - allocs1);
#endif
        }
    }
#ifdef HT_COUNT_MALLOC
    EXPECT(allocs1 > 0, "the counter saw no allocation in iteration 0 (interposition broken?)");
    n_alloc = 0;
#endif
    ad_tape_reset_peak(t);
    ad_stats st = ad_tape_stats(t);
    EXPECT(st.peak_bytes == st.bytes, "reset_peak: peak %zu, bytes %zu", st.peak_bytes, st.bytes);
    EXPECT(st.reserved_bytes >= st.bytes, "reserved %zu < bytes %zu", st.reserved_bytes, st.bytes);
    ad_tape_free(t);
}

/* Nested marks: an outer loop that rewinds to m0 around an inner loop that
 * rewinds to m1. Byte counts return to each mark. */
static void test_nested_marks(void)
{
    ad_tape *t = ad_tape_new(NULL);
    ad_var a = ad_leaf(t, 64, 64, NULL);
    ad_mark m0 = ad_tape_mark(t);
    ad_stats s0 = ad_tape_stats(t);
    size_t reserved = 0;
    for (int i = 0; i < 4; i++) {
        ad_var b = ad_exp(t, a);
        ad_mark m1 = ad_tape_mark(t);
        ad_stats s1 = ad_tape_stats(t);
        EXPECT(s1.bytes > s0.bytes, "recording did not add bytes");
        for (int j = 0; j < 4; j++) {
            ad_var c = ad_sum(t, ad_mul(t, b, ad_tanh(t, b))), g;
            ad_grad(t, c, 1, &a, &g, AD_CREATE_GRAPH);
            EXPECT(ad_ok(g), "inner grad failed: %s", ad_tape_message(t));
            ad_tape_rewind(t, m1);
            ad_stats s = ad_tape_stats(t);
            EXPECT(s.nodes == s1.nodes && s.bytes == s1.bytes, "inner rewind: %zu/%zu vs %zu/%zu",
                   s.nodes, s.bytes, s1.nodes, s1.bytes);
            EXPECT(ad_ok(ad_exp(t, b)), "b lost after inner rewind");
            ad_tape_rewind(t, m1);
        }
        ad_tape_rewind(t, m0);
        ad_stats s = ad_tape_stats(t);
        EXPECT(s.nodes == s0.nodes && s.bytes == s0.bytes, "outer rewind");
        if (i == 0)
            reserved = s.reserved_bytes;
        else
            EXPECT(s.reserved_bytes == reserved, "outer iteration %d reserved more", i);
    }
    /* A mark past the end (from before a rewind) is ignored. */
    ad_var x = ad_exp(t, a);
    ad_mark late = ad_tape_mark(t);
    ad_tape_rewind(t, m0);
    ad_tape_rewind(t, late);
    EXPECT(ad_tape_stats(t).nodes == s0.nodes, "rewind to a mark past the end moved the tape");
    EXPECT(ad_value(t, x) == NULL, "rewound node came back");
    /* A mark from another tape (its block index is past this arena) is
     * ignored rather than orphaning the kept blocks. */
    ad_tape_opts o = {0};
    o.block_bytes = 1024;
    ad_tape *t2 = ad_tape_new(&o);
    for (int k = 0; k < 50; k++)
        ad_leaf(t2, 8, 8, NULL);
    ad_mark foreign = ad_tape_mark(t2);
    foreign.nodes = 0;
    size_t res = ad_tape_stats(t).reserved_bytes;
    ad_tape_rewind(t, foreign);
    EXPECT(ad_tape_stats(t).nodes == s0.nodes, "a foreign mark moved the tape");
    for (int k = 0; k < 10; k++)
        ad_exp(t, a);
    EXPECT(ad_tape_status(t) == AD_OK && ad_tape_stats(t).reserved_bytes == res,
           "recording after a foreign mark reserved more (%zu vs %zu)",
           ad_tape_stats(t).reserved_bytes, res);
    ad_tape_free(t2);
    ad_tape_free(t);
}

#ifdef HT_COUNT_MALLOC
static ad_var quartic(ad_tape *t, ad_var x, void *ctx)
{
    (void)ctx;
    return ad_sum(t, ad_pow(t, x, 4.0));
}

/* The same program run with allocation k failing; returns the first status. */
static ad_status failing_run(const data *d, long k, int persistent, double *result)
{
    ad_tape_opts o = {0};
    o.block_bytes = 2048; /* many blocks, many allocation points */
    fail_from = persistent ? k : -1;
    fail_only = persistent ? -1 : k;
    n_alloc = 0;
    counting = 1;
    ad_status s = AD_OK;
    ad_tape *t = ad_tape_new(&o);
    if (!t) {
        s = AD_ENOMEM;
    } else {
        ad_var X = ad_const_ref(t, N, P, d->X), y = ad_const(t, N, 1, d->y);
        ad_mark m = ad_tape_mark(t);
        size_t hi = 0;
        *result = iteration(t, X, y, 0, &hi);
        ad_tape_rewind(t, m);
        s = ad_tape_status(t);
        if (s != AD_OK)
            EXPECT(ad_tape_message(t)[0] != '\0', "failure %ld: status %s without a message", k,
                   ad_strerror(s));
        ad_tape_free(t);
    }
    double x0[3] = {0.5, -1.0, 2.0};
    ad_check_report rep;
    ad_status sc = ad_check_grad(quartic, NULL, 3, 1, x0, NULL, &rep);
    if (s == AD_OK)
        s = sc;
    counting = 0;
    fail_from = fail_only = -1;
    return s;
}

static void test_failing_allocator(void)
{
    data d;
    make_data(&d);
    double want = NAN, got;
    EXPECT(failing_run(&d, -1, 0, &want) == AD_OK, "run without failures failed");
    long total = n_alloc;
    EXPECT(total > 10, "only %ld allocation points", total);
    int bad = 0;
    for (int persistent = 0; persistent < 2; persistent++) {
        for (long k = 0; k < total; k++) {
            n_failed = 0;
            got = NAN;
            ad_status s = failing_run(&d, k, persistent, &got);
            if (s != AD_ENOMEM && !(s == AD_OK && got == want))
                bad++;
            EXPECT(s == AD_ENOMEM || (s == AD_OK && n_failed == 0) || (s == AD_OK && got == want),
                   "allocation %ld failing (%s): status %s", k, persistent ? "from" : "only",
                   ad_strerror(s));
            EXPECT(n_failed > 0, "allocation %ld was never attempted", k);
        }
    }
    EXPECT(bad == 0, "%d runs gave neither AD_ENOMEM nor the right answer", bad);
}
#endif

int main(void)
{
    test_loop(0, 0);        /* default 1 MiB blocks */
    test_loop(1024, 0);     /* small blocks: many, some skipped for big values */
    test_loop(4096, 1);     /* mark on an empty tape */
    test_nested_marks();
#ifdef HT_COUNT_MALLOC
    test_failing_allocator();
#else
    printf("sanitizer build: malloc counting and the failing allocator are skipped\n");
#endif
    return t_done();
}
