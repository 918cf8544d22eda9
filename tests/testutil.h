/*
 * tests/testutil.h — the tiny harness shared by every test program:
 * EXPECT counts failures, t_done() prints the tally and gives the exit code,
 * t_rng/t_uniform/t_normal make reproducible random data.
 */
#ifndef HYPERTAPE_TESTUTIL_H
#define HYPERTAPE_TESTUTIL_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>

static int t_failed, t_passed;

#define EXPECT(cond, ...)                                                    \
    do {                                                                     \
        if (cond) {                                                          \
            t_passed++;                                                      \
        } else {                                                             \
            t_failed++;                                                      \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);             \
            fprintf(stderr, __VA_ARGS__);                                    \
            fputc('\n', stderr);                                             \
        }                                                                    \
    } while (0)

/* Prints "N passed, N failed" and returns the process exit code. */
static inline int t_done(void)
{
    printf("%d passed, %d failed\n", t_passed, t_failed);
    return t_failed ? 1 : 0;
}

typedef struct t_rng {
    uint64_t s;
} t_rng;

static inline uint64_t t_next(t_rng *r)
{
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return r->s * 2685821657736338717ULL;
}

/* Uniform on [a, b). */
static inline double t_uniform(t_rng *r, double a, double b)
{
    return a + (b - a) * ((t_next(r) >> 11) * (1.0 / 9007199254740992.0));
}

static inline double t_normal(t_rng *r)
{
    double u = t_uniform(r, 1e-300, 1.0), v = t_uniform(r, 0.0, 1.0);
    return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

static inline void t_fill(t_rng *r, double *x, size_t n, double a, double b)
{
    for (size_t k = 0; k < n; k++)
        x[k] = t_uniform(r, a, b);
}

/* ‖a − b‖ / max(‖a‖, ‖b‖, floor). */
static inline double t_relerr(const double *a, const double *b, size_t n, double floor)
{
    double e = 0, na = 0, nb = 0;
    for (size_t k = 0; k < n; k++) {
        e += (a[k] - b[k]) * (a[k] - b[k]);
        na += a[k] * a[k];
        nb += b[k] * b[k];
    }
    double d = sqrt(na > nb ? na : nb);
    return sqrt(e) / (d > floor ? d : floor);
}

#endif
