/*
 * tests/bench/bench_fused.c — is X·[θ, v] as one two-column product faster
 * than two matrix-vector products? The question behind the "fused products"
 * engine change (README, "Measured performance"): the reverse sweep of an
 * unrolled logistic model multiplies the same X by θ_k (the value) and by the
 * tangent v.
 *
 * Usage: bench_fused ROWS COLS [THREADS] (OpenBLAS threads, default 1). X is ROWS×COLS row-major (Gaussian); four
 * contenders compute both products:
 *   two dgemv    — what the engine does today (one per node);
 *   dgemm n = 2  — one row-major dgemm with C ROWS×2 (B = [θ v] COLS×2);
 *   dgemm colmaj — one dgemm writing the two results as columns (ld ROWS);
 *   C kernel     — a portable two-column loop (two rows at a time, each X
 *                  entry loaded once for both dot products).
 * Each runs with X as the previous product left it ("warm") and after a pass
 * over a 64 MiB buffer that evicts X from the caches ("evicted"). Contenders
 * take turns in a rotating order; medians of 21 rounds after a warm-up.
 * The results are checked against two dgemv before anything is timed.
 * Prints times and fused / two-dgemv ratios; asserts nothing.
 */
#include "bench_util.h"

enum { NC = 4, ROUNDS = 21, EVICT_DOUBLES = 8 << 20 };

typedef struct fcase {
    int m, k;
    const double *X, *B; /* B: θ then v, k each */
    double *C, *T;       /* 2m each */
} fcase;

/* c1 = X·b1, c2 = X·b2 for row-major X (m×k), two rows at a time. */
static void two_column(int m, int k, const double *X, const double *b1, const double *b2,
                       double *c1, double *c2)
{
    int i = 0;
    for (; i + 1 < m; i += 2) {
        const double *x = X + (size_t)i * k, *y = x + k;
        double a0 = 0, a1 = 0, e0 = 0, e1 = 0;
        for (int j = 0; j < k; j++) {
            a0 += x[j] * b1[j];
            e0 += x[j] * b2[j];
            a1 += y[j] * b1[j];
            e1 += y[j] * b2[j];
        }
        c1[i] = a0, c2[i] = e0, c1[i + 1] = a1, c2[i + 1] = e1;
    }
    for (; i < m; i++) {
        const double *x = X + (size_t)i * k;
        double a = 0, e = 0;
        for (int j = 0; j < k; j++)
            a += x[j] * b1[j], e += x[j] * b2[j];
        c1[i] = a, c2[i] = e;
    }
}

/* Contender c into out (2m: X·θ then X·v; row-major m×2 for dgemm n = 2). */
static void contender(const fcase *f, int c, double *out)
{
    int m = f->m, k = f->k;
    const double *X = f->X, *B = f->B;
    switch (c) {
    case 0:
        cblas_dgemv(CblasRowMajor, CblasNoTrans, m, k, 1.0, X, k, B, 1, 0.0, out, 1);
        cblas_dgemv(CblasRowMajor, CblasNoTrans, m, k, 1.0, X, k, B + k, 1, 0.0, out + m, 1);
        break;
    case 1: /* C (m×2) = X (m×k) · Bᵀ with B stored 2×k */
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, 2, k, 1.0, X, k, B, k, 0.0, out, 2);
        break;
    case 2: /* column-major C (m×2) = (Xᵀ)ᵀ · B, X seen as column-major k×m */
        cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, m, 2, k, 1.0, X, k, B, k, 0.0, out, m);
        break;
    default:
        two_column(m, k, X, B, B + k, out, out + m);
    }
}

static const char *cname[NC] = {"two dgemv", "dgemm n = 2", "dgemm colmaj", "C kernel"};

/* Max relative difference of contender c against two dgemv. */
static double check(const fcase *f, int c)
{
    contender(f, 0, f->C);
    contender(f, c, f->T);
    double d = 0, s = 0;
    for (int i = 0; i < f->m; i++)
        for (int j = 0; j < 2; j++) {
            double ref = f->C[(size_t)j * f->m + i];
            double got = c == 1 ? f->T[(size_t)2 * i + j] : f->T[(size_t)j * f->m + i];
            d = fmax(d, fabs(got - ref));
            s = fmax(s, fabs(ref));
        }
    return d / fmax(s, 1e-300);
}

static void evict(double *buf)
{
    for (size_t q = 0; q < EVICT_DOUBLES; q += 8) /* one touch per cache line */
        buf[q] += 1.0;
}

int main(int argc, char **argv)
{
    if (argc < 3 || argc > 4 || atoi(argv[1]) < 2 || atoi(argv[2]) < 1 ||
        (argc == 4 && atoi(argv[3]) < 1)) {
        fprintf(stderr, "usage: bench_fused ROWS COLS [THREADS]\n");
        return 2;
    }
    int threads = argc == 4 ? atoi(argv[3]) : 1;
    openblas_set_num_threads(threads);
    fcase f = {atoi(argv[1]), atoi(argv[2]), NULL, NULL, NULL, NULL};
    size_t mk = (size_t)f.m * f.k;
    double *X = malloc(mk * sizeof *X), *B = malloc(2 * (size_t)f.k * sizeof *B);
    f.C = malloc(2 * (size_t)f.m * sizeof(double));
    f.T = malloc(2 * (size_t)f.m * sizeof(double));
    double *junk = calloc(EVICT_DOUBLES, sizeof *junk);
    if (!X || !B || !f.C || !f.T || !junk) {
        fprintf(stderr, "bench_fused: out of memory\n");
        return 1;
    }
    bench_rng r = {12345};
    for (size_t q = 0; q < mk; q++)
        X[q] = bench_gauss(&r);
    for (int q = 0; q < 2 * f.k; q++)
        B[q] = bench_gauss(&r);
    f.X = X, f.B = B;
    printf("X·[theta, v], X %dx%d row-major (%.1f MiB), %d OpenBLAS thread%s, medians of %d rounds\n",
           f.m, f.k, (double)mk * 8 / 1048576.0, threads, threads > 1 ? "s" : "", ROUNDS);
    for (int c = 1; c < NC; c++)
        printf("  %-12s max rel. diff vs two dgemv %.1e\n", cname[c], check(&f, c));
    static double t[2][NC][ROUNDS];
    for (int rd = -1; rd < ROUNDS; rd++) /* round −1 is the warm-up */
        for (int q = 0; q < NC; q++) {
            int c = (q + (rd < 0 ? 0 : rd)) % NC;
            for (int ev = 0; ev < 2; ev++) {
                if (ev)
                    evict(junk);
                else
                    contender(&f, c, f.T); /* X as this contender leaves it */
                double t0 = bench_now();
                contender(&f, c, f.T);
                if (rd >= 0)
                    t[ev][c][rd] = bench_now() - t0;
            }
        }
    for (int ev = 0; ev < 2; ev++) {
        double base = bench_median(t[ev][0], ROUNDS);
        printf("%s:\n", ev ? "X evicted from the caches" : "X warm");
        for (int c = 0; c < NC; c++) {
            double med = bench_median(t[ev][c], ROUNDS);
            printf("  %-12s %10.1f us   / two dgemv %.2f\n", cname[c], med * 1e6, med / base);
        }
    }
    free(X), free(B), free(f.C), free(f.T), free(junk);
    return 0;
}
