/*
 * tests/bilevel/test_threads.c — contexts are independent: 4 pthreads, each
 * with its own problem instance (built inside the thread) and its own bl_hg
 * contexts, run warm-started λ paths with several methods; every hg is
 * bitwise equal to a serial run of the same paths (no shared mutable state
 * in the bilevel or ad layers).
 */
#include "tests/bilevel/problems.h"

#include <pthread.h>
#include <stdio.h>

#define NT 4
#define NPTS 8
#define P 10

static const bl_method METHODS[] = {BL_IFT_CG, BL_IFT_GD, BL_SHINE_REFINE, BL_UNROLL, BL_EXACT};
#define NM (int)(sizeof METHODS / sizeof METHODS[0])

typedef struct job {
    int index;                  /* the thread's path and data seed */
    double hg[NM][NPTS][P];
    int bad;                    /* evaluations that did not return BL_OK */
} job;

static void *run_job(void *arg)
{
    job *J = arg;
    logreg L;
    logreg_init(&L, 200, 100, P, 1.0, 1000 + (uint64_t)J->index);
    bl_problem pb = logreg_problem(&L);
    for (int k = 0; k < NM; k++) {
        bl_hg_opts o = {.method = METHODS[k], .inner_tol = 1e-11,
                        .inner_iters = METHODS[k] == BL_UNROLL ? 60 : 0};
        bl_hg *h = bl_hg_new(&pb, &o, NULL);
        for (int i = 0; i < NPTS; i++) {
            double lam[P];
            for (int j = 0; j < P; j++)
                lam[j] = -1.0 + 0.1 * J->index + 0.05 * i * (j % 3 - 1);
            if (!h || bl_hg_eval(h, lam, J->hg[k][i], NULL) != BL_OK)
                J->bad++;
        }
        bl_hg_free(h);
    }
    logreg_free(&L);
    return NULL;
}

int main(void)
{
    static job par[NT], ser[NT];
    pthread_t th[NT];
    for (int t = 0; t < NT; t++) {
        par[t].index = ser[t].index = t;
        EXPECT(pthread_create(&th[t], NULL, run_job, &par[t]) == 0, "pthread_create %d", t);
    }
    for (int t = 0; t < NT; t++)
        pthread_join(th[t], NULL);
    for (int t = 0; t < NT; t++)
        run_job(&ser[t]);
    for (int t = 0; t < NT; t++) {
        EXPECT(par[t].bad == 0 && ser[t].bad == 0, "thread %d: %d / %d evaluations failed", t,
               par[t].bad, ser[t].bad);
        for (int k = 0; k < NM; k++)
            EXPECT(!memcmp(par[t].hg[k], ser[t].hg[k], sizeof par[t].hg[k]),
                   "thread %d, %s: hg along the path bitwise equal to the serial run", t,
                   bl_method_name(METHODS[k]));
    }
    /* the paths differ between threads: the comparison is not vacuous */
    EXPECT(memcmp(ser[0].hg, ser[1].hg, sizeof ser[0].hg) != 0, "threads 0 and 1 ran different paths");
    return t_done();
}
