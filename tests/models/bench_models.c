/*
 * tests/models/bench_models.c — the standard models through the ad engine
 * against their hand-written references (the xx_ref_ functions), timed in the
 * same run:
 *   grad   record G (bl_problem callback) + ad_grad_values + rewind   vs  xx_ref_G (value, ∇_θ, ∇_λ)
 *   hvp    record G + ad_hvp_cross (forward-over-reverse) + rewind     vs  xx_ref_hvp (H·v and cross)
 *   reuse  ad_hvp_apply on a prepared plan                             vs  xx_ref_hvp
 * with the full data set and, where the model has samples, a minibatch.
 * Prints time ratios ad / reference (and the relative error between the two,
 * so the timings are of the same math). Asserts nothing.
 *
 * Usage: bench_models MODEL [ARGS]
 *   logreg-dense N             ds_synth_ijcnn1 data (N×22, validation N/10)
 *   logreg-sparse N D DENSITY  ds_synth_sparse (DS_SPARSE_N × DS_SPARSE_D at 0.1% is the default set)
 *   cleaning N D C DENSITY     random features (dense when DENSITY = 1), C classes
 *   lstsq NROW P M             lsq_generate
 *   ridge-dense N              ds_synth_ijcnn1 features (N×22), targets ±1
 *   ridge-sparse N D DENSITY   ds_synth_sparse features, targets ±1
 *   denoise-tv P R C           dn_generate, TV (R = 1: 1-D signals)
 *   denoise-tikhonov P R C
 */
#include "bench/bench_util.h"

#include <hypertape/models/cleaning.h>
#include <hypertape/models/denoise.h>
#include <hypertape/models/logreg.h>
#include <hypertape/models/lstsq.h>
#include <hypertape/models/ridge.h>

typedef struct bm {
    bl_problem pb;
    md_reference ref;
    const double *theta, *lambda, *v;
    const int *batch;
    int nb;
    double *g_ad, *l_ad, *g_ref, *l_ref;
    ad_tape *t;
    ad_mark base;
    ad_hvp_plan plan;
} bm;

static ad_var record(bm *B, ad_var *th, ad_var *la)
{
    *th = ad_leaf(B->t, B->pb.p, 1, B->theta);
    *la = ad_leaf(B->t, B->pb.m, 1, B->lambda);
    return B->pb.G(B->t, *th, *la, B->batch, B->nb, B->pb.ctx);
}

static void ad_grad_fn(void *ctx)
{
    bm *B = ctx;
    ad_var wrt[2];
    ad_var G = record(B, &wrt[0], &wrt[1]);
    double *out[2] = {B->g_ad, B->l_ad};
    ad_grad_values(B->t, G, 2, wrt, out);
    bench_check_tape(B->t, "grad");
    ad_tape_rewind(B->t, B->base);
}

static void ref_grad_fn(void *ctx)
{
    bm *B = ctx;
    double f;
    B->ref.G(B->ref.model, B->theta, B->lambda, B->batch, B->nb, &f, B->g_ref, B->l_ref, NULL, 0);
}

static void ad_hvp_fn(void *ctx)
{
    bm *B = ctx;
    ad_var th, la;
    ad_var G = record(B, &th, &la);
    ad_hvp_cross(B->t, G, th, la, B->v, B->g_ad, B->l_ad, AD_HVP_FOR);
    bench_check_tape(B->t, "hvp");
    ad_tape_rewind(B->t, B->base);
}

static void ad_apply_fn(void *ctx)
{
    bm *B = ctx;
    ad_hvp_apply(B->t, &B->plan, B->v, B->g_ad, B->l_ad);
}

static void ref_hvp_fn(void *ctx)
{
    bm *B = ctx;
    B->ref.hvp(B->ref.model, B->theta, B->lambda, B->batch, B->nb, B->v, B->g_ref, B->l_ref, NULL, 0);
}

static double relerr2(const bm *B)
{
    size_t p = (size_t)B->pb.p, m = (size_t)B->pb.m;
    double e = bench_relerr(B->g_ad, B->g_ref, p), f = bench_relerr(B->l_ad, B->l_ref, m);
    return e > f ? e : f;
}

/* Times grad, hvp and reuse for one (problem, batch) and notes the ratios. */
static void run(bench_summary *S, const char *what, bl_problem pb, md_reference ref, const int *batch,
                int nb)
{
    bench_rng r = {0xbe7c4};
    size_t p = (size_t)pb.p, m = (size_t)pb.m;
    double *theta = bench_doubles(p), *lambda = bench_doubles(m), *v = bench_doubles(p);
    for (size_t k = 0; k < p; k++) {
        theta[k] = 0.1 * bench_gauss(&r);
        v[k] = bench_gauss(&r);
    }
    for (size_t k = 0; k < m; k++)
        lambda[k] = -2.0 + 0.5 * bench_gauss(&r);
    bm B = {.pb = pb, .ref = ref, .theta = theta, .lambda = lambda, .v = v, .batch = batch,
            .nb = nb, .g_ad = bench_doubles(p), .l_ad = bench_doubles(m), .g_ref = bench_doubles(p),
            .l_ref = bench_doubles(m), .t = ad_tape_new(NULL)};
    B.base = ad_tape_mark(B.t);
    double ta, tr;
    char b1[32], b2[32];
    bench_pair(ad_grad_fn, &B, ref_grad_fn, &B, NULL, &ta, &tr);
    printf("  %-34s grad   ad %10s  ref %10s  ratio %6.2f  (rel err %.1e)\n", what,
           bench_fmt_time(ta, b1, sizeof b1), bench_fmt_time(tr, b2, sizeof b2), ta / tr, relerr2(&B));
    bench_note(S, ta / tr, -1, "%s grad ad/ref", what);
    bench_pair(ad_hvp_fn, &B, ref_hvp_fn, &B, NULL, &ta, &tr);
    printf("  %-34s hvp    ad %10s  ref %10s  ratio %6.2f  (rel err %.1e)\n", what,
           bench_fmt_time(ta, b1, sizeof b1), bench_fmt_time(tr, b2, sizeof b2), ta / tr, relerr2(&B));
    bench_note(S, ta / tr, -1, "%s hvp+cross ad/ref", what);
    ad_var th, la;
    ad_var G = record(&B, &th, &la);
    ad_hvp_prepare(B.t, G, th, la, AD_HVP_FOR, &B.plan);
    bench_check_tape(B.t, "prepare");
    bench_pair(ad_apply_fn, &B, ref_hvp_fn, &B, NULL, &ta, &tr);
    printf("  %-34s reuse  ad %10s  ref %10s  ratio %6.2f  (rel err %.1e)\n", what,
           bench_fmt_time(ta, b1, sizeof b1), bench_fmt_time(tr, b2, sizeof b2), ta / tr, relerr2(&B));
    bench_note(S, ta / tr, -1, "%s hvp reuse ad/ref", what);
    printf("  %-34s peak tape %.1f MiB\n", what, bench_mib(ad_tape_stats(B.t).peak_bytes));
    ad_tape_free(B.t);
    free(theta), free(lambda), free(v), free(B.g_ad), free(B.l_ad), free(B.g_ref), free(B.l_ref);
}

/* Full set and a minibatch of nb random samples (nb < n). */
static void run_both(bench_summary *S, const char *name, bl_problem pb, md_reference ref, int nb)
{
    char what[64];
    snprintf(what, sizeof what, "%s full", name);
    run(S, what, pb, ref, NULL, 0);
    if (nb > 0 && nb < pb.n_inner) {
        int *b = bench_alloc((size_t)nb * sizeof *b);
        bench_rng r = {0xba7c};
        for (int k = 0; k < nb; k++)
            b[k] = (int)(bench_next(&r) % (uint64_t)pb.n_inner);
        snprintf(what, sizeof what, "%s batch %d", name, nb);
        run(S, what, pb, ref, b, nb);
        free(b);
    }
}

static void need(bl_status st, const char *msg)
{
    if (st != BL_OK) {
        fprintf(stderr, "bench_models: %s: %s\n", bl_strerror(st), msg);
        exit(1);
    }
}

/* Random features n×d at a density (dense when density ≥ 1), nclass labels. */
static void random_set(uint64_t seed, int n, int d, double density, int nclass, ds_set *s)
{
    bench_rng r = {seed};
    memset(s, 0, sizeof *s);
    s->n = n, s->d = d, s->nclass = nclass;
    s->y = bench_doubles((size_t)n);
    s->cls = bench_alloc((size_t)n * sizeof *s->cls);
    for (int i = 0; i < n; i++) {
        s->cls[i] = (int)(bench_next(&r) % (uint64_t)nclass);
        s->y[i] = s->cls[i];
    }
    if (density >= 1) {
        s->X = bench_doubles((size_t)n * d);
        for (size_t k = 0; k < (size_t)n * d; k++)
            s->X[k] = bench_gauss(&r);
        return;
    }
    int per = (int)(density * d + 0.5);
    per = per < 1 ? 1 : per;
    s->rowptr = bench_alloc(((size_t)n + 1) * sizeof *s->rowptr);
    s->colind = bench_alloc((size_t)n * per * sizeof *s->colind);
    s->val = bench_doubles((size_t)n * per);
    for (int i = 0; i <= n; i++)
        s->rowptr[i] = (int64_t)i * per;
    for (int i = 0; i < n; i++) { /* per distinct sorted columns: a stride walk */
        int step = d / per, start = (int)(bench_next(&r) % (uint64_t)(step > 0 ? step : 1));
        for (int k = 0; k < per; k++) {
            s->colind[(size_t)i * per + k] = start + k * step;
            s->val[(size_t)i * per + k] = bench_gauss(&r);
        }
    }
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_models MODEL [ARGS]\n");
        return 2;
    }
    const char *model = argv[1];
    int a1 = argc > 2 ? atoi(argv[2]) : 0, a2 = argc > 3 ? atoi(argv[3]) : 0,
        a3 = argc > 4 ? atoi(argv[4]) : 0;
    double dens = argc > 4 ? atof(argv[4]) : 0.0;
    char msg[256], name[96];
    bench_summary S = {.name = model};
    bench_header(model);
    if (!strcmp(model, "logreg-dense") || !strcmp(model, "logreg-sparse")) {
        int sparse = model[7] == 's';
        ds_set tr, va;
        if (sparse) {
            need(ds_synth_sparse(1, a1, a2, dens, &tr, msg, sizeof msg), msg);
            need(ds_synth_sparse(2, a1 / 10, a2, dens, &va, msg, sizeof msg), msg);
        } else {
            need(ds_synth_ijcnn1(1, a1, a1 / 10, &tr, &va, msg, sizeof msg), msg);
        }
        printf("data: train %dx%d (%s, nnz %lld), val %d\n", tr.n, tr.d, sparse ? "CSR" : "dense",
               (long long)ds_nnz(&tr), va.n);
        for (int per = 0; per < 2; per++) {
            lr_opts o = {per ? LR_PER_FEATURE : LR_SCALAR, 0, 0};
            lr_model *M;
            need(lr_model_new(&tr, &va, &o, &M, msg, sizeof msg), msg);
            snprintf(name, sizeof name, "logreg %s %s", sparse ? "csr" : "dense", per ? "per-feat" : "scalar");
            run_both(&S, name, lr_problem(M), lr_reference(M), 1000);
            lr_model_free(M);
        }
        ds_set_free(&tr), ds_set_free(&va);
    } else if (!strcmp(model, "cleaning")) {
        double dn = argc > 5 ? atof(argv[5]) : 1.0;
        ds_set tr, va;
        random_set(3, a1, a2, dn, a3, &tr);
        random_set(4, a1 / 5, a2, dn, a3, &va);
        printf("data: train %dx%d (%s, nnz %lld), %d classes\n", tr.n, tr.d, tr.X ? "dense" : "CSR",
               (long long)ds_nnz(&tr), a3);
        hc_model *M;
        need(hc_model_new(&tr, &va, 1e-3, &M, msg, sizeof msg), msg);
        snprintf(name, sizeof name, "cleaning %s", tr.X ? "dense" : "csr");
        run_both(&S, name, hc_problem(M), hc_reference(M), 500);
        hc_model_free(M);
        ds_set_free(&tr), ds_set_free(&va);
    } else if (!strcmp(model, "lstsq")) {
        lsq_model *M;
        need(lsq_generate(5, a1, a2, a3, &M, msg, sizeof msg), msg);
        run_both(&S, "lstsq", lsq_problem(M), lsq_reference(M), 100);
        lsq_model_free(M);
    } else if (!strcmp(model, "ridge-dense") || !strcmp(model, "ridge-sparse")) {
        int sparse = model[6] == 's';
        ds_set tr, va;
        if (sparse) {
            need(ds_synth_sparse(6, a1, a2, dens, &tr, msg, sizeof msg), msg);
            need(ds_synth_sparse(7, a1 / 10, a2, dens, &va, msg, sizeof msg), msg);
        } else {
            need(ds_synth_ijcnn1(6, a1, a1 / 10, &tr, &va, msg, sizeof msg), msg);
        }
        printf("data: train %dx%d (%s, nnz %lld)\n", tr.n, tr.d, sparse ? "CSR" : "dense",
               (long long)ds_nnz(&tr));
        rdg_model *M;
        need(rdg_model_new(&tr, &va, &M, msg, sizeof msg), msg);
        run_both(&S, sparse ? "ridge csr" : "ridge dense", rdg_problem(M), rdg_reference(M), 1000);
        rdg_model_free(M);
        ds_set_free(&tr), ds_set_free(&va);
    } else if (!strcmp(model, "denoise-tv") || !strcmp(model, "denoise-tikhonov")) {
        int tv = model[8] == 't' && model[9] == 'v';
        size_t n = (size_t)a1 * a2 * a3;
        double *c = bench_doubles(n), *y = bench_doubles(n);
        need(dn_generate(8, a1, a2, a3, 0.1, c, y, msg, sizeof msg), msg);
        dn_model *M;
        need(dn_model_new(tv ? DN_TV : DN_TIKHONOV, a1, a2, a3, y, c, &M, msg, sizeof msg), msg);
        snprintf(name, sizeof name, "denoise %s %dx%dx%d", tv ? "tv" : "tikh", a1, a2, a3);
        run_both(&S, name, dn_problem(M), dn_reference(M), a1 / 4);
        dn_model_free(M);
        free(c), free(y);
    } else {
        fprintf(stderr, "bench_models: unknown model '%s'\n", model);
        return 2;
    }
    bench_print_summary(&S);
    return 0;
}
