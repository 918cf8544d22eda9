/*
 * tests/bench_bilevel/bench_bl_persample.c — the cost of per-sample
 * quantities (bl_oracle_persample) on per-feature logistic regression
 * (hypertape/models/logreg.h, no intercept) on IJCNN1-shaped synthetic data
 * (ds_synth_ijcnn1, 49,990 × 22 train, 20,000 validation).
 *
 * One "set" is the five per-sample quantities of a minibatch of B = 64
 * inner and 64 outer samples — ∇_θG_i, ∇_θF_j, ∇_λF_j, H_i v, cross_i(v) —
 * as rows of matrices. Timed:
 *   fused    one bl_oracle_persample_all call with the five kinds (what a
 *            SAGA/SARAH step calls; the model's hook, one pass per batch);
 *   hand     the same five computed by plain C written here, in one pass
 *            per batch (e^λ included);
 *   per-kind five bl_oracle_persample calls (one kind each), for reference;
 *   fallback one bl_oracle_persample_all call with the hook removed (one
 *            batch-of-one recording per sample), for reference.
 * Each repetition draws a fresh batch (bl_sampler) and runs the four in
 * turn (interleaved; fused and hand swap order every repetition, so that
 * neither always finds the batch's rows in cache; per-kind and fallback
 * come after both, rows in cache). Whichever of fused and hand runs first
 * fetches the batch's random rows and pays most of the time, so printed
 * are the medians of each when first and when second, and the ratio held
 * to the target: the median over pairs of repetitions (one in each order)
 * of time(fused)/time(hand), with its quartiles as the spread. Target:
 * fused/hand <= 2.
 * The results are compared with the hand code's (max relative difference).
 * Nothing is asserted.
 *
 * Usage: bench_bl_persample [N [NV [B [REPS]]]]   (49990 20000 64 201)
 */
#include "bbl_problem.h"

#include <hypertape/sampler.h>
#include <hypertape/models/logreg.h>

typedef struct hand_model {
    const ds_set *tr, *va;
    int d;
} hand_model;

/* The five quantities by hand: rows as bl_oracle_persample lays them out
 * (gt b×d, ft b×d, fl b×d, hv b×d, cr b×d; per-feature λ, no intercept). */
static void hand_five(const hand_model *h, const int *bi, const int *bo, int b, const double *th,
                      const double *el, const double *v, double *gt, double *ft, double *fl,
                      double *hv, double *cr)
{
    int d = h->d;
    for (int k = 0; k < b; k++) {
        const double *x = h->tr->X + (size_t)bi[k] * d;
        double z = 0, xv = 0, y = h->tr->y[bi[k]];
        for (int j = 0; j < d; j++) {
            z += x[j] * th[j];
            xv += x[j] * v[j];
        }
        double s = -y * z, sg = 1.0 / (1.0 + exp(-s)), c = -y * sg, cv = sg * (1.0 - sg) * xv;
        double *g = gt + (size_t)k * d, *hr = hv + (size_t)k * d, *cx = cr + (size_t)k * d;
        for (int j = 0; j < d; j++) {
            g[j] = c * x[j] + el[j] * th[j];
            hr[j] = cv * x[j] + el[j] * v[j];
            cx[j] = el[j] * th[j] * v[j];
        }
        const double *xo = h->va->X + (size_t)bo[k] * d;
        double zo = 0, yo = h->va->y[bo[k]];
        for (int j = 0; j < d; j++)
            zo += xo[j] * th[j];
        double so = 1.0 / (1.0 + exp(yo * zo)), co = -yo * so;
        double *f = ft + (size_t)k * d, *l = fl + (size_t)k * d;
        for (int j = 0; j < d; j++) {
            f[j] = co * xo[j];
            l[j] = 0.0;
        }
    }
}

static void fail(const char *what, bl_oracle *o)
{
    fprintf(stderr, "bench: %s failed: %s\n", what, bl_oracle_message(o));
    exit(1);
}

/* The five in one bl_oracle_persample_all call. */
static void fused_five(bl_oracle *o, const int *bi, const int *bo, int b, const double *th,
                       const double *la, const double *v, double *out, int d)
{
    bl_batch in = {bi, b}, ou = {bo, b};
    size_t w = (size_t)b * d;
    bl_persample_req rq = {&in, &ou, v,
                           {[BL_PS_GRAD_G_THETA] = out, [BL_PS_GRAD_F_THETA] = out + w,
                            [BL_PS_GRAD_F_LAMBDA] = out + 2 * w, [BL_PS_HVP] = out + 3 * w,
                            [BL_PS_CROSS] = out + 4 * w}};
    if (bl_oracle_persample_all(o, &rq, th, la) != BL_OK)
        fail("persample_all", o);
}

/* The five by five bl_oracle_persample calls. */
static void kinds_five(bl_oracle *o, const int *bi, const int *bo, int b, const double *th,
                        const double *la, const double *v, double *out, int d)
{
    bl_batch in = {bi, b}, ou = {bo, b};
    size_t w = (size_t)b * d;
    bl_status st = bl_oracle_persample(o, BL_PS_GRAD_G_THETA, &in, th, la, NULL, out);
    st = st ? st : bl_oracle_persample(o, BL_PS_GRAD_F_THETA, &ou, th, la, NULL, out + w);
    st = st ? st : bl_oracle_persample(o, BL_PS_GRAD_F_LAMBDA, &ou, th, la, NULL, out + 2 * w);
    st = st ? st : bl_oracle_persample(o, BL_PS_HVP, &in, th, la, v, out + 3 * w);
    st = st ? st : bl_oracle_persample(o, BL_PS_CROSS, &in, th, la, v, out + 4 * w);
    if (st != BL_OK)
        fail("persample", o);
}


static double maxrel(const double *a, const double *b, size_t n)
{
    double e = 0, s = 0;
    for (size_t k = 0; k < n; k++) {
        e = fmax(e, fabs(a[k] - b[k]));
        s = fmax(s, fabs(b[k]));
    }
    return e / (s > 0 ? s : 1);
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    bbl_threads();
    int n = argc > 1 ? atoi(argv[1]) : 49990, nv = argc > 2 ? atoi(argv[2]) : 20000;
    int b = argc > 3 ? atoi(argv[3]) : 64, reps = argc > 4 ? atoi(argv[4]) : 201;
    if (n < 10 || nv < 10 || b < 1 || b > n || b > nv || reps < 1 || reps > 100000) {
        fprintf(stderr, "usage: bench_bl_persample [N [NV [B [REPS]]]]\n");
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
    if (lr_model_new(&tr, &va, &lo, &M, msg, sizeof msg) != BL_OK) {
        fprintf(stderr, "bench: %s\n", msg);
        return 1;
    }
    bl_problem pb = lr_problem(M), nohook = pb;
    nohook.persample = NULL;
    int d = pb.p;
    bl_oracle *o = bl_oracle_new(&pb, 0), *ok = bl_oracle_new(&pb, 0), *of = bl_oracle_new(&nohook, 0);
    size_t w = (size_t)b * d;
    double *th = bbl_alloc((size_t)d * sizeof(double)), *la = bbl_alloc((size_t)d * sizeof(double));
    double *el = bbl_alloc((size_t)d * sizeof(double)), *v = bbl_alloc((size_t)d * sizeof(double));
    double *ro = bbl_alloc(5 * w * sizeof(double)), *rh = bbl_alloc(5 * w * sizeof(double));
    double *rk = bbl_alloc(5 * w * sizeof(double)), *rf = bbl_alloc(5 * w * sizeof(double));
    double *to = bbl_alloc((size_t)reps * sizeof(double)), *tt = bbl_alloc((size_t)reps * sizeof(double));
    double *tk = bbl_alloc((size_t)reps * sizeof(double)), *tf = bbl_alloc((size_t)reps * sizeof(double));
    double *rat = bbl_alloc((size_t)reps * sizeof(double));
    int *bi = bbl_alloc((size_t)b * sizeof(int)), *bo = bbl_alloc((size_t)b * sizeof(int));
    bbl_lambda(d, la);
    for (int k = 0; k < d; k++) {
        th[k] = 0.05 * (k % 7) - 0.1;
        v[k] = 1.0 / (1.0 + k);
    }
    bl_status st;
    bl_sampler *si = bl_sampler_new(n, 1, BL_SAMPLE_EPOCHS, &st), *so = bl_sampler_new(nv, 2, BL_SAMPLE_EPOCHS, &st);
    if (!o || !ok || !of || !si || !so) {
        fprintf(stderr, "bench: cannot create the oracles or samplers\n");
        return 1;
    }
    printf("bench bl_persample: OpenBLAS threads %d; logreg per-feature on ds_synth_ijcnn1 %dx%d train, "
           "%d validation; minibatch %d inner + %d outer; %d interleaved repetitions (fresh batch each)\n",
           openblas_get_num_threads(), n, d, nv, b, b, reps);
    double err = 0, errk = 0, errf = 0, sink = 0;
    hand_model hm = {&tr, &va, d};
    for (int r = -3; r < reps; r++) { /* r < 0: warm-up */
        bl_sampler_draw(si, b, bi);
        bl_sampler_draw(so, b, bo);
        /* the order alternates, so that neither of fused and hand always
         * finds the batch's rows in cache from the other */
        double t_or = 0, t_hand = 0;
        for (int half = 0; half < 2; half++) {
            double s0 = bbl_now();
            if (half == (r & 1)) {
                fused_five(o, bi, bo, b, th, la, v, ro, d);
                t_or = bbl_now() - s0;
            } else {
                for (int k = 0; k < d; k++) /* e^λ is part of the hand computation */
                    el[k] = exp(la[k]);
                hand_five(&hm, bi, bo, b, th, el, v, rh, rh + w, rh + 2 * w, rh + 3 * w, rh + 4 * w);
                t_hand = bbl_now() - s0;
            }
        }
        double s1 = bbl_now();
        kinds_five(ok, bi, bo, b, th, la, v, rk, d);
        double s2 = bbl_now();
        fused_five(of, bi, bo, b, th, la, v, rf, d);
        double s3 = bbl_now();
        sink += ro[0] + rh[0] + rk[0] + rf[0];
        err = fmax(err, maxrel(ro, rh, 5 * w));
        errk = fmax(errk, maxrel(rk, rh, 5 * w));
        errf = fmax(errf, maxrel(rf, rh, 5 * w));
        if (r >= 0) {
            to[r] = t_or;
            tt[r] = t_hand;
            tk[r] = s2 - s1;
            tf[r] = s3 - s2;
        }
    }
    /* cold: the one that ran first in its repetition (it fetched the
     * batch's rows); warm: the one that ran second */
    int half = reps / 2;
    double *cold_o = bbl_alloc((size_t)reps * sizeof(double)), *warm_o = cold_o + half;
    double *cold_h = bbl_alloc((size_t)reps * sizeof(double)), *warm_h = cold_h + half;
    for (int q = 0; q < half; q++) { /* the pair 2q, 2q+1: fused first in one, hand first in the other */
        int fo = 2 * q, fh = 2 * q + 1; /* fused runs first in even repetitions */
        cold_o[q] = to[fo], warm_o[q] = to[fh];
        cold_h[q] = tt[fh], warm_h[q] = tt[fo];
        rat[q] = (to[fo] + to[fh]) / (tt[fo] + tt[fh]);
    }
    double pr = bbl_median(rat, half), rlo = rat[half / 4], rhi = rat[(3 * half) / 4]; /* sorted */
    double mco = bbl_median(cold_o, half), mch = bbl_median(cold_h, half);
    double mwo = bbl_median(warm_o, half), mwh = bbl_median(warm_h, half);
    double mo = bbl_median(to, reps), mh = bbl_median(tt, reps), mk = bbl_median(tk, reps);
    double mf = bbl_median(tf, reps);
    printf("five per-sample quantities, B = %d (medians over all repetitions, each first in half): fused oracle call (model hook) %.2f us, "
           "hand-written C %.2f us, five per-kind calls %.2f us, fallback (batch-of-one recordings) %.2f us\n",
           b, 1e6 * mo, 1e6 * mh, 1e6 * mk, 1e6 * mf);
    printf("  first in its repetition (fetches the batch's rows): fused %.2f us, hand %.2f us, ratio %.2f; "
           "second (rows in cache): fused %.2f us, hand %.2f us, ratio %.2f\n",
           1e6 * mco, 1e6 * mch, mco / mch, 1e6 * mwo, 1e6 * mwh, mwo / mwh);
    printf("ratio fused/hand = %.2f (target <= 2; median over %d pairs of repetitions, one in each order, "
           "of time(fused)/time(hand); quartiles %.2f %.2f); per-kind/hand = %.2f, fallback/hand = %.1f "
           "(both run after fused and hand, rows in cache: against hand second)\n",
           pr, half, rlo, rhi, mk / mwh, mf / mwh);
    free(cold_o), free(cold_h);
    printf("max relative difference to the hand code: fused %.1e, per-kind %.1e, fallback %.1e (checksum %.3g)\n",
           err, errk, errf, sink);
    bl_counts c = bl_oracle_counts(o);
    printf("fused oracle counts: grad %ld hvp %ld cross %ld samples %ld (%.2f epochs of the %d training samples)\n",
           c.grad, c.hvp, c.cross, c.samples, (double)c.samples / n, n);
    bl_sampler_free(si), bl_sampler_free(so);
    bl_oracle_free(o), bl_oracle_free(ok), bl_oracle_free(of);
    lr_model_free(M);
    ds_set_free(&tr), ds_set_free(&va);
    free(th), free(la), free(el), free(v), free(ro), free(rh), free(rk), free(rf);
    free(to), free(tt), free(tk), free(tf), free(rat);
    free(bi), free(bo);
    return 0;
}
