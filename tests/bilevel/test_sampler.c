/*
 * tests/bilevel/test_sampler.c — the minibatch samplers (hypertape/sampler.h):
 *   - the same seed gives the same stream (also drawn in different chunk
 *     sizes); different seeds give different streams;
 *   - epochs without replacement: every epoch holds each index exactly once,
 *     consecutive epochs are different permutations, the epoch counter;
 *   - with replacement: a chi-square test of the frequencies (generous
 *     bound) and repeats within a batch occur;
 *   - 4 threads, each with its own sampler, draw streams bitwise equal to
 *     the serial ones;
 *   - bad arguments.
 */
#include <hypertape/sampler.h>
#include "tests/testutil.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* The first len indices of the stream of (n, seed, mode), drawn in chunks
 * of `chunk`. Returns 0 on failure. */
static int stream(int n, uint64_t seed, int mode, int len, int chunk, int *out)
{
    bl_status st;
    bl_sampler *s = bl_sampler_new(n, seed, mode, &st);
    if (!s)
        return 0;
    int ok = 1;
    for (int k = 0; k < len && ok; k += chunk)
        ok = bl_sampler_draw(s, len - k < chunk ? len - k : chunk, out + k) == BL_OK;
    ok = ok && bl_sampler_drawn(s) == len;
    bl_sampler_free(s);
    return ok;
}

static void test_reproducible(void)
{
    enum { LEN = 5000 };
    static int a[LEN], b[LEN], c[LEN];
    for (int mode = 0; mode < BL_SAMPLE_MODE_COUNT; mode++) {
        EXPECT(stream(97, 42, mode, LEN, 64, a) && stream(97, 42, mode, LEN, 7, b) &&
                   stream(97, 43, mode, LEN, 64, c),
               "mode %d: streams could not be drawn", mode);
        EXPECT(memcmp(a, b, sizeof a) == 0, "mode %d: same seed, different chunks: streams differ", mode);
        int same = 0;
        for (int k = 0; k < LEN; k++)
            same += a[k] == c[k];
        /* independent streams agree on about LEN/97 ≈ 52 positions */
        EXPECT(same < 200, "mode %d: seeds 42 and 43 agree on %d of %d draws", mode, same, LEN);
        int inrange = 1;
        for (int k = 0; k < LEN; k++)
            inrange &= a[k] >= 0 && a[k] < 97;
        EXPECT(inrange, "mode %d: an index outside [0, 97)", mode);
    }
}

static void test_epochs(void)
{
    enum { N = 1000, E = 6 };
    static int idx[N * E + 10];
    bl_status st;
    bl_sampler *s = bl_sampler_new(N, 7, BL_SAMPLE_EPOCHS, &st);
    EXPECT(s && st == BL_OK, "new epochs sampler: %s", bl_strerror(st));
    if (!s)
        return;
    /* uneven chunks across epoch boundaries */
    int done = 0, chunk = 1;
    while (done < N * E) {
        int k = N * E - done < chunk ? N * E - done : chunk;
        EXPECT(bl_sampler_draw(s, k, idx + done) == BL_OK, "draw %d", k);
        done += k;
        chunk = chunk * 3 % 257 + 1;
        if (done < N * E)
            EXPECT(bl_sampler_epoch(s) == done / N, "epoch %ld after %d draws", bl_sampler_epoch(s), done);
    }
    EXPECT(bl_sampler_epoch(s) == E && bl_sampler_drawn(s) == (long)N * E, "epochs %ld drawn %ld",
           bl_sampler_epoch(s), bl_sampler_drawn(s));
    for (int e = 0; e < E; e++) {
        static int seen[N];
        memset(seen, 0, sizeof seen);
        int ok = 1;
        for (int k = 0; k < N; k++) {
            int i = idx[e * N + k];
            ok &= i >= 0 && i < N && !seen[i];
            if (i >= 0 && i < N)
                seen[i] = 1;
        }
        EXPECT(ok, "epoch %d is not a permutation of [0, %d)", e, N);
        if (e > 0) {
            int same = 0, fixed = 0;
            for (int k = 0; k < N; k++) {
                same += idx[e * N + k] == idx[(e - 1) * N + k];
                fixed += idx[e * N + k] == k;
            }
            EXPECT(same < 20 && fixed < 20, "epoch %d: %d positions as the previous epoch, %d fixed points",
                   e, same, fixed);
        }
    }
    bl_sampler_free(s);
}

static void test_frequencies(void)
{
    enum { N = 20, DRAWS = 200000 };
    static int idx[DRAWS];
    long cnt[N] = {0};
    EXPECT(stream(N, 2024, BL_SAMPLE_REPLACE, DRAWS, 1000, idx), "draw");
    for (int k = 0; k < DRAWS; k++)
        if (idx[k] >= 0 && idx[k] < N)
            cnt[idx[k]]++;
    double e = (double)DRAWS / N, chi2 = 0;
    for (int i = 0; i < N; i++)
        chi2 += (cnt[i] - e) * (cnt[i] - e) / e;
    /* 19 degrees of freedom: mean 19, sd 6.2; P(chi2 > 60) ≈ 3e-6 */
    EXPECT(chi2 < 60, "chi-square %.1f over %d bins", chi2, N);
    /* pairs: consecutive draws are independent (chi-square over N² cells) */
    static long pair[N][N];
    memset(pair, 0, sizeof pair);
    for (int k = 0; k + 1 < DRAWS; k += 2)
        pair[idx[k]][idx[k + 1]]++;
    double ep = (DRAWS / 2.0) / (N * N), chp = 0;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++)
            chp += (pair[i][j] - ep) * (pair[i][j] - ep) / ep;
    /* 399 degrees of freedom: mean 399, sd 28; bound at mean + 7 sd */
    EXPECT(chp < 600, "pair chi-square %.1f over %d cells", chp, N * N);
    /* with replacement, a batch of 10 out of 20 repeats an index w.p. 1 − 20!/(10!·20^10) ≈ 0.93 */
    int repeats = 0;
    for (int b = 0; b < 100; b++) {
        int seen[N] = {0}, rep = 0;
        for (int k = 0; k < 10; k++)
            rep |= seen[idx[b * 10 + k]]++ > 0;
        repeats += rep;
    }
    EXPECT(repeats > 70, "only %d of 100 batches of 10 repeat an index", repeats);
}

enum { TN = 4, TLEN = 20000 };
typedef struct job {
    int mode;
    uint64_t seed;
    int out[TLEN];
    int ok;
} job;

static void *thread_main(void *arg)
{
    job *j = arg;
    j->ok = stream(5003, j->seed, j->mode, TLEN, 64, j->out);
    return NULL;
}

static void test_threads(void)
{
    static job jobs[TN];
    static int serial[TN][TLEN];
    for (int t = 0; t < TN; t++) {
        jobs[t].mode = t % 2;
        jobs[t].seed = 1000 + (uint64_t)t / 2; /* two threads share each seed, in different modes */
        EXPECT(stream(5003, jobs[t].seed, jobs[t].mode, TLEN, 64, serial[t]), "serial %d", t);
    }
    pthread_t th[TN];
    int started[TN];
    for (int t = 0; t < TN; t++)
        started[t] = pthread_create(&th[t], NULL, thread_main, &jobs[t]) == 0;
    for (int t = 0; t < TN; t++) {
        EXPECT(started[t], "pthread_create %d", t);
        if (started[t])
            pthread_join(th[t], NULL);
        EXPECT(started[t] && jobs[t].ok && memcmp(jobs[t].out, serial[t], sizeof serial[t]) == 0,
               "thread %d (mode %d, seed %llu): stream differs from the serial one", t, jobs[t].mode,
               (unsigned long long)jobs[t].seed);
    }
}

static void test_bad(void)
{
    bl_status st = BL_OK;
    EXPECT(!bl_sampler_new(0, 1, BL_SAMPLE_REPLACE, &st) && st == BL_EINVAL, "n = 0: %s", bl_strerror(st));
    st = BL_OK;
    EXPECT(!bl_sampler_new(5, 1, 7, &st) && st == BL_EINVAL, "mode 7: %s", bl_strerror(st));
    EXPECT(!bl_sampler_new(-3, 1, BL_SAMPLE_EPOCHS, NULL), "n = -3 with st NULL");
    bl_sampler *s = bl_sampler_new(5, 1, BL_SAMPLE_EPOCHS, &st);
    int idx[3];
    EXPECT(s && bl_sampler_draw(s, -1, idx) == BL_EINVAL && strstr(bl_sampler_message(s), "-1"),
           "k = -1: '%s'", s ? bl_sampler_message(s) : "");
    EXPECT(s && bl_sampler_draw(s, 2, NULL) == BL_EINVAL && strstr(bl_sampler_message(s), "NULL"),
           "idx NULL: '%s'", s ? bl_sampler_message(s) : "");
    EXPECT(s && bl_sampler_draw(s, 0, NULL) == BL_OK && bl_sampler_drawn(s) == 0 &&
               bl_sampler_message(s)[0] == 0 && bl_sampler_size(s) == 5,
           "k = 0 is a no-op");
    bl_sampler_free(s);
    bl_sampler_free(NULL);
}

int main(void)
{
    test_reproducible();
    test_epochs();
    test_frequencies();
    test_threads();
    test_bad();
    return t_done();
}
