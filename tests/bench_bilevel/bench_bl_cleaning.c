/*
 * tests/bench_bilevel/bench_bl_cleaning.c — the cost of one unit of work of
 * `hypertape bounds --cleaning` (README, "Hypercleaning") against
 * hand-written OpenBLAS code of the same math, in the same run.
 *
 * Problem: the published configuration's data hypercleaning
 * (hypertape/models/cleaning.h) on real Fashion-MNIST: N_TRAIN training
 * samples (10% of labels corrupted, seed 1, as the CLI) and N_VAL
 * validation samples, 784 pixels + bias, 10 classes, so θ = W is 10×785;
 * r = μ = 0.002; θ ~ 0.01·N(0, 1), λ ~ N(0, 1) (seeded).
 *
 * The two units the command counts:
 *   gradient  one lower-level gradient (value and ∇_θG, as the heavy-ball
 *             inner step asks): bl_oracle_G recording from scratch, against
 *             hand code (two dgemm, the softmax and its log);
 *   Hvp       one linear-solve product H·v at a fixed point: bl_oracle_hvp
 *             on the recording bl_oracle_point made, against hand code that
 *             keeps the point's softmax too (two dgemm and the P·δu rows).
 * The hand code keeps its n×10 intermediates class-major (10×n), so that
 * each dgemm has the long dimension as its output rows: OpenBLAS 0.3.21's
 * row-major dgemm with 10 output columns is 1.6–2.5× slower (README,
 * "Products with few columns"), and a hand reference on that shape would
 * flatter the engine.
 * Each pair is timed alternately (median of ≥ 15 repetitions after warm-up)
 * at 1 and then 2 OpenBLAS threads. The results are checked against the
 * hand code first (max relative difference), and the hand code against the
 * model's own references hc_ref_G and hc_ref_hvp (row-major, softmax
 * recomputed). Target: ad / hand ≤ 1.2 for
 * each unit. Nothing is asserted; exit 77 when Fashion-MNIST is missing.
 *
 * Usage: bench_bl_cleaning [N_TRAIN [N_VAL]]   (20000 5000)
 */
#include "bench/bench_util.h"

#include <hypertape/bilevel.h>
#include <hypertape/models/cleaning.h>
#include <hypertape/models/data.h>

#define FASHION_DIR "/usr/share/datasets/fashion-mnist"
#define RIDGE 0.002

typedef struct unit_ctx {
    const ds_set *tr;
    hc_model *M;
    bl_oracle *o;
    int n, d, c, p;
    double *theta, *lam, *v;
    double *g_ad, *g_hand, *hv_ad, *hv_hand;
    double value;        /* the hand G */
    double *S, *w;       /* the point's softmax (c×n, class-major) and σ(λ_i)/n (hand Hvp) */
    double *DU;          /* c×n scratch of the hand code */
} unit_ctx;

static void fail(const char *what, const char *msg)
{
    fprintf(stderr, "bench_bl_cleaning: %s: %s\n", what, msg);
    exit(1);
}

static void unit_ad_grad(void *p)
{
    unit_ctx *u = p;
    double value;
    if (bl_oracle_G(u->o, NULL, u->theta, u->lam, &value, u->g_ad, NULL) != BL_OK)
        fail("bl_oracle_G", bl_oracle_message(u->o));
}

/* Logits as Uᵀ = W_{:,:d} Xᵀ + bias (c×n, class-major: OpenBLAS's row-major
 * dgemm is slow with 10 output columns; README, "Products with few
 * columns"), straight from W's layout. */
static void hand_logits_t(const unit_ctx *u, const double *W, double *Ut)
{
    int n = u->n, d = u->d, c = u->c;
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, c, n, d, 1.0, W, d + 1, u->tr->X, d, 0.0,
                Ut, n);
    for (int j = 0; j < c; j++) {
        double b = W[(size_t)j * (d + 1) + d], *row = Ut + (size_t)j * n;
        for (int r = 0; r < n; r++)
            row[r] += b;
    }
}

/* out (c×(d+1)) = Dᵀ Ã + r·w: Dᵀ (c×n) times X into the first d columns,
 * Dᵀ's row sums as the bias column. */
static void hand_back(const unit_ctx *u, const double *Dt, const double *w, double *out)
{
    int n = u->n, d = u->d, c = u->c;
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, c, d, n, 1.0, Dt, n, u->tr->X, d, 0.0,
                out, d + 1);
    for (int j = 0; j < c; j++) {
        double b = 0;
        for (int r = 0; r < n; r++)
            b += Dt[(size_t)j * n + r];
        out[(size_t)j * (d + 1) + d] = b;
    }
    for (int k = 0; k < u->p; k++)
        out[k] += RIDGE * w[k];
}

static double sigm(double l) { return l >= 0 ? 1.0 / (1.0 + exp(-l)) : exp(l) / (1.0 + exp(l)); }

/* Column r of the class-major logits U (c×n) replaced by exp(u − max u);
 * returns their sum z, the max in *mx. */
static double exp_col(double *U, int n, int c, int r, double *mx)
{
    double m = U[r], z = 0;
    for (int j = 1; j < c; j++)
        m = U[(size_t)j * n + r] > m ? U[(size_t)j * n + r] : m;
    for (int j = 0; j < c; j++)
        z += (U[(size_t)j * n + r] = exp(U[(size_t)j * n + r] - m));
    *mx = m;
    return z;
}

/* G = (1/n) Σ σ(λ_i) CE_i + (r/2)‖W‖² and ∇_θG = (1/n) Σ σ(λ_i)(s_i − e_{b_i}) ã_iᵀ + r W. */
static void hand_grad(void *p)
{
    unit_ctx *u = p;
    int n = u->n, c = u->c;
    double *U = u->DU, f = 0;
    hand_logits_t(u, u->theta, U);
    for (int r = 0; r < n; r++) {
        int b = u->tr->cls[r];
        double mx, ub = U[(size_t)b * n + r], z = exp_col(U, n, c, r, &mx);
        ub -= mx;
        double w = sigm(u->lam[r]);
        f += w * (log(z) - ub);
        for (int j = 0; j < c; j++)
            U[(size_t)j * n + r] = w / n * (U[(size_t)j * n + r] / z - (j == b));
    }
    u->value = f / n + 0.5 * RIDGE * cblas_ddot(u->p, u->theta, 1, u->theta, 1);
    hand_back(u, U, u->theta, u->g_hand);
}

static void unit_ad_hvp(void *p)
{
    unit_ctx *u = p;
    if (bl_oracle_hvp(u->o, u->v, u->hv_ad, NULL) != BL_OK)
        fail("bl_oracle_hvp", bl_oracle_message(u->o));
}

/* H v = (1/n) Σ σ(λ_i) (P_i δu_i) ã_iᵀ + r V with δu_i = V ã_i and the
 * point's softmax s_i kept: P_i δu = s ⊙ (δu − sᵀδu). */
static void hand_hvp(void *p)
{
    unit_ctx *u = p;
    int n = u->n, c = u->c;
    double *D = u->DU;
    hand_logits_t(u, u->v, D);
    for (int r = 0; r < n; r++) {
        double sdu = 0;
        for (int j = 0; j < c; j++)
            sdu += u->S[(size_t)j * n + r] * D[(size_t)j * n + r];
        for (int j = 0; j < c; j++)
            D[(size_t)j * n + r] = u->w[r] * u->S[(size_t)j * n + r] * (D[(size_t)j * n + r] - sdu);
    }
    hand_back(u, D, u->v, u->hv_hand);
}

/* The hand Hvp's state at the point: softmax columns (c×n) and weights. */
static void hand_point(unit_ctx *u)
{
    int n = u->n, c = u->c;
    double *S = u->S;
    hand_logits_t(u, u->theta, S);
    for (int r = 0; r < n; r++) {
        double mx, z = exp_col(S, n, c, r, &mx);
        for (int j = 0; j < c; j++)
            S[(size_t)j * n + r] /= z;
        u->w[r] = sigm(u->lam[r]) / n;
    }
}

static void load(int ntr, int nva, ds_set *tr, ds_set *va)
{
    char msg[512];
    ds_set full = {0};
    if (ds_fashion_mnist(FASHION_DIR, 1, &full, msg, sizeof msg) != BL_OK) {
        printf("bench_bl_cleaning: skipped: %s (Debian dataset-fashion-mnist)\n", msg);
        exit(77);
    }
    if (ntr + nva > full.n || ds_split(&full, (double)ntr / full.n, (double)nva / full.n, 1, tr, va,
                                       NULL, msg, sizeof msg) != BL_OK)
        fail("split", ntr + nva > full.n ? "N_TRAIN + N_VAL exceeds 60000" : msg);
    ds_set_free(&full);
    if (hc_corrupt_labels(tr->cls, tr->n, tr->nclass, 0.1, 1, NULL, NULL, msg, sizeof msg) != BL_OK)
        fail("corrupt", msg);
}

static void setup(unit_ctx *u, const ds_set *tr, const ds_set *va, bl_problem *pb)
{
    char msg[512];
    if (hc_model_new(tr, va, RIDGE, &u->M, msg, sizeof msg) != BL_OK)
        fail("hc_model_new", msg);
    *pb = hc_problem(u->M);
    u->tr = tr;
    u->n = tr->n;
    u->d = tr->d;
    u->c = hc_classes(u->M);
    u->p = pb->p;
    size_t p = (size_t)u->p, nc = (size_t)u->n * u->c;
    u->theta = bench_doubles(p);
    u->v = bench_doubles(p);
    u->lam = bench_doubles((size_t)u->n);
    u->g_ad = bench_doubles(p);
    u->g_hand = bench_doubles(p);
    u->hv_ad = bench_doubles(p);
    u->hv_hand = bench_doubles(p);
    u->S = bench_doubles(nc);
    u->DU = bench_doubles(nc);
    u->w = bench_doubles((size_t)u->n);
    bench_rng g = {2024};
    for (size_t k = 0; k < p; k++) {
        u->theta[k] = 0.01 * bench_gauss(&g);
        u->v[k] = bench_gauss(&g);
    }
    for (int i = 0; i < u->n; i++)
        u->lam[i] = bench_gauss(&g);
    u->o = bl_oracle_new(pb, 0);
    if (!u->o || bl_oracle_point(u->o, NULL, u->theta, u->lam) != BL_OK)
        fail("bl_oracle_point", u->o ? bl_oracle_message(u->o) : "out of memory");
    hand_point(u);
}

/* The contenders agree before anything is timed. */
static void check(unit_ctx *u)
{
    char msg[256];
    double *ref = bench_doubles((size_t)u->p);
    unit_ad_grad(u);
    hand_grad(u);
    unit_ad_hvp(u);
    hand_hvp(u);
    if (hc_ref_hvp(u->M, u->theta, u->lam, NULL, 0, u->v, ref, NULL, msg, sizeof msg) != BL_OK)
        fail("hc_ref_hvp", msg);
    double e_hv = bench_relerr(u->hv_hand, ref, (size_t)u->p), vref;
    if (hc_ref_G(u->M, u->theta, u->lam, NULL, 0, &vref, ref, NULL, msg, sizeof msg) != BL_OK)
        fail("hc_ref_G", msg);
    printf("check: hand gradient vs hc_ref_G %.2e, hand G vs hc_ref_G %.2e\n",
           bench_relerr(u->g_hand, ref, (size_t)u->p), fabs(u->value - vref) / fabs(vref));
    printf("check: gradient ad vs hand %.2e, Hvp ad vs hand %.2e, hand Hvp vs hc_ref_hvp %.2e "
           "(max relative differences)\n",
           bench_relerr(u->g_ad, u->g_hand, (size_t)u->p), bench_relerr(u->hv_ad, u->hv_hand, (size_t)u->p),
           e_hv);
    free(ref);
}

static void time_units(unit_ctx *u, int threads, bench_summary *sum)
{
    static const bench_cfg cfg = {2, 15, 61, 4.0};
    char a[32], b[32];
    double ta, tb;
    openblas_set_num_threads(threads);
    bench_pair(unit_ad_grad, u, hand_grad, u, &cfg, &ta, &tb);
    printf("%d thread(s): gradient unit  ad %s, hand %s, ratio %.3f\n", threads,
           bench_fmt_time(ta, a, sizeof a), bench_fmt_time(tb, b, sizeof b), ta / tb);
    bench_note(sum, ta / tb, 1.2, "gradient unit, ad / hand, %d thread(s)", threads);
    bench_pair(unit_ad_hvp, u, hand_hvp, u, &cfg, &ta, &tb);
    printf("%d thread(s): Hvp unit       ad %s, hand %s, ratio %.3f\n", threads,
           bench_fmt_time(ta, a, sizeof a), bench_fmt_time(tb, b, sizeof b), ta / tb);
    bench_note(sum, ta / tb, 1.2, "linear-solve Hvp unit, ad / hand, %d thread(s)", threads);
}

int main(int argc, char **argv)
{
    int ntr = argc > 1 ? atoi(argv[1]) : 20000, nva = argc > 2 ? atoi(argv[2]) : 5000;
    if (ntr < 10 || nva < 10) {
        fprintf(stderr, "usage: bench_bl_cleaning [N_TRAIN [N_VAL]] (each >= 10)\n");
        return 2;
    }
    ds_set tr = {0}, va = {0};
    load(ntr, nva, &tr, &va);
    unit_ctx u = {0};
    bl_problem pb;
    setup(&u, &tr, &va, &pb);
    bench_header("bl_cleaning_unit");
    printf("problem: hypercleaning, Fashion-MNIST %d train (10%% corrupted) / %d val, %d classes x %d "
           "features + bias (p = %d), r = %g\n", u.n, va.n, u.c, u.d, u.p, RIDGE);
    check(&u);
    bench_summary sum = {.name = "bl_cleaning_unit"};
    time_units(&u, 1, &sum);
    time_units(&u, 2, &sum);
    bench_print_summary(&sum);
    bl_oracle_free(u.o);
    hc_model_free(u.M);
    ds_set_free(&tr);
    ds_set_free(&va);
    return 0;
}
