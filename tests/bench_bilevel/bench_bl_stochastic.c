/*
 * tests/bench_bilevel/bench_bl_stochastic.c — throughput of the stochastic
 * outer algorithms SOBA and SABA (hypertape/outer.h) against a hand-written
 * C loop of the same updates, on per-feature logistic regression
 * (hypertape/models/logreg.h with its per-sample hook, no intercept) on
 * IJCNN1-shaped synthetic data (ds_synth_ijcnn1, 49,990 × 22 train,
 * 20,000 validation), batch 64 inner + 64 outer, constant steps.
 *
 * The hand loop draws the same batches (its own samplers, seeded as
 * outer.h documents), computes the five batch quantities in one pass per
 * batch (SABA: the per-sample rows and the SAGA tables and means), the F
 * value on the outer batch every 16 iterations as the library's report
 * does, and the same θ, v, λ updates with the box projection, so both runs
 * follow the same trajectory (the largest |λ difference| is printed).
 * Timed: blocks of K iterations, library and hand alternating (the order
 * swaps every block); per-iteration medians of each and the median over
 * blocks of time(library)/time(hand). Target: ratio <= 2. SABA's table
 * initialisation (bl_outer_set, one epoch) is not timed. Nothing is
 * asserted.
 *
 * Usage: bench_bl_stochastic [N [NV [B [BLOCKS [K]]]]]   (49990 20000 64 41 200)
 */
#include "bbl_problem.h"

#include <hypertape/outer.h>
#include <hypertape/sampler.h>
#include <hypertape/models/logreg.h>

#define STEP 0.05
#define VALUE_EVERY 16 /* the library's report cadence (bilevel/internal.h) */

typedef struct hand {
    const ds_set *tr, *va;
    int d, b, saba;
    bl_sampler *si, *so;
    int *bi, *bo;
    double *th, *v, *la, *el, *gG, *hv, *cr, *fT, *rows, value;
    double *tg, *th_tab, *tc, *tf, *mg, *mh, *mc, *mf; /* SABA tables and means (∇_λF = 0) */
    long t;
} hand;

static double sigm(double s) { return 1.0 / (1.0 + exp(-s)); }

/* The inner rows of sample i: g = c x + e^λθ, hv = cv x + e^λ v, cr = e^λ θ v. */
static void inner_row(const hand *h, int i, double *g, double *hv, double *cr)
{
    int d = h->d;
    const double *x = h->tr->X + (size_t)i * d;
    double z = 0, xv = 0, y = h->tr->y[i];
    for (int j = 0; j < d; j++)
        z += x[j] * h->th[j], xv += x[j] * h->v[j];
    double sg = sigm(-y * z), c = -y * sg, cv = sg * (1.0 - sg) * xv;
    for (int j = 0; j < d; j++) {
        g[j] = c * x[j] + h->el[j] * h->th[j];
        hv[j] = cv * x[j] + h->el[j] * h->v[j];
        cr[j] = h->el[j] * h->th[j] * h->v[j];
    }
}

static void outer_row(const hand *h, int j, double *ft)
{
    int d = h->d;
    const double *x = h->va->X + (size_t)j * d;
    double z = 0, y = h->va->y[j];
    for (int k = 0; k < d; k++)
        z += x[k] * h->th[k];
    double c = -y * sigm(-y * z);
    for (int k = 0; k < d; k++)
        ft[k] = c * x[k];
}

static double outer_value(const hand *h)
{
    double s = 0;
    for (int k = 0; k < h->b; k++) {
        const double *x = h->va->X + (size_t)h->bo[k] * h->d;
        double z = 0, y = h->va->y[h->bo[k]];
        for (int j = 0; j < h->d; j++)
            z += x[j] * h->th[j];
        double u = -y * z;
        s += u > 0 ? u + log1p(exp(-u)) : log1p(exp(u));
    }
    return s / h->b;
}

/* SAGA on one kind: est = mean(new − T[idx]) + mean; then store and update. */
static void saga(int w, int n, int b, const int *idx, const double *rows, double *T, double *mu, double *est)
{
    memcpy(est, mu, (size_t)w * sizeof *est);
    for (int r = 0; r < b; r++)
        for (int j = 0; j < w; j++)
            est[j] += (rows[(size_t)r * w + j] - T[(size_t)idx[r] * w + j]) / b;
    for (int r = 0; r < b; r++)
        for (int j = 0; j < w; j++) {
            double *o = T + (size_t)idx[r] * w + j;
            mu[j] += (rows[(size_t)r * w + j] - *o) / n;
            *o = rows[(size_t)r * w + j];
        }
}

static void hand_iter(hand *h)
{
    int d = h->d, b = h->b;
    h->t++;
    bl_sampler_draw(h->si, b, h->bi);
    bl_sampler_draw(h->so, b, h->bo);
    for (int j = 0; j < d; j++)
        h->el[j] = exp(h->la[j]);
    double *rg = h->rows, *rh = rg + (size_t)b * d, *rc = rh + (size_t)b * d, *rf = rc + (size_t)b * d;
    if (!h->saba) {
        double g[64], hv[64], cr[64], ft[64];
        memset(h->gG, 0, 4 * (size_t)d * sizeof(double)); /* gG, hv, cr, fT */
        for (int k = 0; k < b; k++) {
            inner_row(h, h->bi[k], g, hv, cr);
            for (int j = 0; j < d; j++)
                h->gG[j] += g[j], h->hv[j] += hv[j], h->cr[j] += cr[j];
            outer_row(h, h->bo[k], ft);
            for (int j = 0; j < d; j++)
                h->fT[j] += ft[j];
        }
        for (int j = 0; j < 4 * d; j++)
            h->gG[j] /= b;
    } else {
        for (int k = 0; k < b; k++) {
            inner_row(h, h->bi[k], rg + (size_t)k * d, rh + (size_t)k * d, rc + (size_t)k * d);
            outer_row(h, h->bo[k], rf + (size_t)k * d);
        }
        saga(d, h->tr->n, b, h->bi, rg, h->tg, h->mg, h->gG);
        saga(d, h->tr->n, b, h->bi, rh, h->th_tab, h->mh, h->hv);
        saga(d, h->tr->n, b, h->bi, rc, h->tc, h->mc, h->cr);
        saga(d, h->va->n, b, h->bo, rf, h->tf, h->mf, h->fT);
    }
    if ((h->t - 1) % VALUE_EVERY == 0)
        h->value = outer_value(h);
    for (int j = 0; j < d; j++) {
        h->th[j] -= STEP * h->gG[j];
        h->v[j] -= STEP * (h->hv[j] + h->fT[j]);
        h->la[j] = fmin(12.0, fmax(-12.0, h->la[j] - STEP * h->cr[j])); /* ∇_λF = 0 */
    }
}

/* The hand state at θ = 0, v = 0, λ_0, tables at that point (SABA). */
static void hand_init(hand *h, const double *la0)
{
    int d = h->d;
    bl_status st;
    h->si = bl_sampler_new(h->tr->n, 1, BL_SAMPLE_REPLACE, &st);
    h->so = bl_sampler_new(h->va->n, 1 + 0x9E3779B97F4A7C15ull, BL_SAMPLE_REPLACE, &st);
    h->bi = bbl_alloc(2 * (size_t)h->b * sizeof(int));
    h->bo = h->bi + h->b;
    h->th = bbl_alloc(8 * (size_t)d * sizeof(double));
    h->v = h->th + d, h->la = h->v + d, h->el = h->la + d;
    h->gG = h->el + d, h->hv = h->gG + d, h->cr = h->hv + d, h->fT = h->cr + d;
    memset(h->th, 0, 2 * (size_t)d * sizeof(double));
    memcpy(h->la, la0, (size_t)d * sizeof(double));
    h->rows = bbl_alloc(4 * (size_t)h->b * d * sizeof(double));
    h->t = 0;
    if (!h->saba)
        return;
    size_t n = h->tr->n, nv = h->va->n;
    h->tg = bbl_alloc((3 * n + nv + 4) * d * sizeof(double));
    h->th_tab = h->tg + n * d, h->tc = h->th_tab + n * d, h->tf = h->tc + n * d;
    h->mg = h->tf + nv * d, h->mh = h->mg + d, h->mc = h->mh + d, h->mf = h->mc + d;
    memset(h->mg, 0, 4 * (size_t)d * sizeof(double));
    for (int j = 0; j < d; j++)
        h->el[j] = exp(h->la[j]);
    for (size_t i = 0; i < n; i++) {
        inner_row(h, (int)i, h->tg + i * d, h->th_tab + i * d, h->tc + i * d);
        for (int j = 0; j < d; j++)
            h->mg[j] += h->tg[i * d + j] / n, h->mh[j] += h->th_tab[i * d + j] / n,
                h->mc[j] += h->tc[i * d + j] / n;
    }
    for (size_t i = 0; i < nv; i++) {
        outer_row(h, (int)i, h->tf + i * d);
        for (int j = 0; j < d; j++)
            h->mf[j] += h->tf[i * d + j] / nv;
    }
}

static void hand_free(hand *h)
{
    bl_sampler_free(h->si), bl_sampler_free(h->so);
    free(h->bi), free(h->th), free(h->rows);
    if (h->saba)
        free(h->tg);
}

static void run(const char *name, const bl_outer_type *T, const bl_problem *pb, const ds_set *tr,
                const ds_set *va, int b, int blocks, int K)
{
    int d = pb->p;
    char msg[256];
    bl_status st;
    bl_outer_opts op = {.batch_inner = b, .batch_outer = b, .inner_step = STEP, .outer_step = STEP,
                        .seed = 1};
    bl_outer *o = bl_outer_new(T, pb, &op, &st, msg, sizeof msg);
    if (!o) {
        fprintf(stderr, "bench: %s\n", msg);
        exit(1);
    }
    double *la0 = bbl_alloc((size_t)d * sizeof(double));
    bbl_lambda(d, la0);
    double s0 = bbl_now();
    if (bl_outer_set(o, la0, NULL) != BL_OK) {
        fprintf(stderr, "bench: set: %s\n", bl_outer_message(o));
        exit(1);
    }
    double t_set = bbl_now() - s0;
    hand h = {.tr = tr, .va = va, .d = d, .b = b, .saba = T == bl_outer_saba};
    hand_init(&h, la0);
    double *tl = bbl_alloc(3 * (size_t)blocks * sizeof(double)), *th = tl + blocks, *rat = th + blocks;
    for (int r = -2; r < blocks; r++) { /* r < 0: warm-up */
        double tlib = 0, thand = 0;
        for (int half = 0; half < 2; half++) {
            double a = bbl_now();
            if (half == (r & 1)) {
                for (int k = 0; k < K; k++)
                    if (bl_outer_iterate(o) != BL_OK) {
                        fprintf(stderr, "bench: iterate: %s\n", bl_outer_message(o));
                        exit(1);
                    }
                tlib = (bbl_now() - a) / K;
            } else {
                for (int k = 0; k < K; k++)
                    hand_iter(&h);
                thand = (bbl_now() - a) / K;
            }
        }
        if (r >= 0)
            tl[r] = tlib, th[r] = thand, rat[r] = tlib / thand;
    }
    double dl = 0;
    for (int j = 0; j < d; j++)
        dl = fmax(dl, fabs(bl_outer_lambda(o)[j] - h.la[j]));
    double ml = bbl_median(tl, blocks), mh = bbl_median(th, blocks), mr = bbl_median(rat, blocks);
    const bl_outer_report *rep = bl_outer_last(o);
    printf("%s, batch %d: library %.2f us/iter (%.0f it/s), hand-written C %.2f us/iter (%.0f it/s); "
           "ratio library/hand = %.2f (target <= 2; median over %d blocks of %d iterations, quartiles "
           "%.2f %.2f)\n",
           name, b, 1e6 * ml, 1 / ml, 1e6 * mh, 1 / mh, mr, blocks, K, rat[blocks / 4], rat[(3 * blocks) / 4]);
    printf("  after %d iterations: max |lambda_lib - lambda_hand| = %.1e; value %.6f vs hand %.6f; "
           "samples %ld (%.2f epochs); memory_bytes %zu; set (table init) %.1f ms\n",
           rep->iter, dl, rep->value, h.value, rep->counts.samples,
           (double)rep->counts.samples / (tr->n + va->n), rep->memory_bytes, 1e3 * t_set);
    hand_free(&h);
    bl_outer_free(o);
    free(la0), free(tl);
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    bbl_threads();
    int n = argc > 1 ? atoi(argv[1]) : 49990, nv = argc > 2 ? atoi(argv[2]) : 20000;
    int b = argc > 3 ? atoi(argv[3]) : 64, blocks = argc > 4 ? atoi(argv[4]) : 41;
    int K = argc > 5 ? atoi(argv[5]) : 200;
    if (n < 10 || nv < 10 || b < 1 || b > n || b > nv || blocks < 1 || K < 1) {
        fprintf(stderr, "usage: bench_bl_stochastic [N [NV [B [BLOCKS [K]]]]]\n");
        return 1;
    }
    ds_set tr, va;
    char msg[256];
    if (ds_synth_ijcnn1(BBL_SEED, n, nv, &tr, &va, msg, sizeof msg) != BL_OK) {
        fprintf(stderr, "bench: %s\n", msg);
        return 1;
    }
    lr_opts lo = {LR_PER_FEATURE, 0, 0};
    lr_model *M;
    if (lr_model_new(&tr, &va, &lo, &M, msg, sizeof msg) != BL_OK || tr.d > 64 || !tr.X) {
        fprintf(stderr, "bench: %s\n", msg);
        return 1;
    }
    bl_problem pb = lr_problem(M);
    printf("bench bl_stochastic: OpenBLAS threads %d; logreg per-feature on ds_synth_ijcnn1 %dx%d train, "
           "%d validation; steps rho = gamma = %g constant\n",
           openblas_get_num_threads(), n, pb.p, nv, STEP);
    run("soba", bl_outer_soba, &pb, &tr, &va, b, blocks, K);
    run("saba", bl_outer_saba, &pb, &tr, &va, b, blocks, K);
    lr_model_free(M);
    ds_set_free(&tr), ds_set_free(&va);
    return 0;
}
