/*
 * tests/models/test_cleaning.c — data hypercleaning (hc_):
 *   1. the independent PyTorch fixture (tests/data/cleaning.json, data
 *      inline): Newton on the reference gives W* and F(W*) to 1e-9, the
 *      dense solve the hypergradient (60 sample weights) to 1e-8, from the
 *      reference and from the ad recording;
 *   2. random problems, dense and CSR: ad vs reference (1e-10) on the full
 *      set and minibatches, reference vs finite differences, minibatch
 *      reference vs a model on the subset, certified constants;
 *   3. label corruption (rate, only other classes, uniform among them,
 *      determinism) and the separation AUC against a brute-force count;
 *   4. errors.
 * Usage: test_models_cleaning DATA_DIR
 */
#include "mcheck.h"

#include <hypertape/models/cleaning.h>

static void test_fixture(const char *dir)
{
    char path[1024], msg[256];
    snprintf(path, sizeof path, "%s/cleaning.json", dir);
    char *js = j_read(path);
    EXPECT(js != NULL, "cannot read %s", path);
    if (!js)
        return;
    enum { N = 60, NV = 40, D = 5, C = 3, P = C * (D + 1) };
    double r = 0, cls_d = 0, xtr[N * D], xva[NV * D], lam[N], W[P], want_f = NAN, want_hg[N];
    int ltr[N], lva[NV];
    EXPECT(j_nums(j_key(js, "r"), &r, 1) == 1 && j_nums(j_key(js, "classes"), &cls_d, 1) == 1 &&
               j_nums(j_key(js, "train_x"), xtr, N * D) == N * D &&
               j_ints(j_key(js, "train_label"), ltr, N) == N &&
               j_nums(j_key(js, "val_x"), xva, NV * D) == NV * D &&
               j_ints(j_key(js, "val_label"), lva, NV) == NV &&
               j_nums(j_key(js, "lambda"), lam, N) == N && j_nums(j_key(js, "W_star"), W, P) == P &&
               j_nums(j_key(js, "outer_value"), &want_f, 1) == 1 &&
               j_nums(j_key(js, "hypergradient"), want_hg, N) == N,
           "fixture %s has unexpected sizes", path);
    double ytr[N], yva[NV];
    for (int i = 0; i < N; i++)
        ytr[i] = ltr[i];
    for (int i = 0; i < NV; i++)
        yva[i] = lva[i];
    ds_set tr = {.n = N, .d = D, .X = xtr, .y = ytr, .cls = ltr, .nclass = (int)cls_d};
    ds_set va = {.n = NV, .d = D, .X = xva, .y = yva, .cls = lva, .nclass = (int)cls_d};
    hc_model *M;
    bl_status st = hc_model_new(&tr, &va, r, &M, msg, sizeof msg);
    EXPECT(st == BL_OK && hc_classes(M) == C, "hc_model_new: %s", msg);
    if (st == BL_OK) {
        bl_problem pb = hc_problem(M);
        md_reference ref = hc_reference(M);
        double th[P] = {0}, hg[N], hga[N], f;
        EXPECT(pb.p == P && pb.m == N, "sizes p %d m %d", pb.p, pb.m);
        double gn = mc_newton(ref, P, N, th, lam);
        mc_dense_hypergrad(ref, P, N, th, lam, hg, &f);
        mc_ad_dense_hypergrad(&pb, th, lam, hga);
        EXPECT(gn < 1e-14, "Newton stopped at |grad| %.3g", gn);
        EXPECT(t_relerr(th, W, P, 1e-300) < 1e-9, "W* vs PyTorch: rel %.3g", t_relerr(th, W, P, 1e-300));
        EXPECT(fabs(f - want_f) < 1e-9 * fabs(want_f), "F(W*) %.17g vs PyTorch %.17g", f, want_f);
        EXPECT(t_relerr(hg, want_hg, N, 1e-300) < 1e-8, "hypergradient (reference) vs PyTorch: rel %.3g",
               t_relerr(hg, want_hg, N, 1e-300));
        EXPECT(t_relerr(hga, want_hg, N, 1e-300) < 1e-8, "hypergradient (ad) vs PyTorch: rel %.3g",
               t_relerr(hga, want_hg, N, 1e-300));
        hc_model_free(M);
    }
    free(js);
}

static void test_random(t_rng *r)
{
    int n = 36, nv = 22, d = 5, c = 4;
    ds_set trD, trS, vaD, vaS;
    mc_random_set(r, n, d, 0.5, c, 1, &trD, &trS);
    mc_random_set(r, nv, d, 0.5, c, 1, &vaD, &vaS);
    for (int k = 0; k < nv * d; k++) /* non-negative validation features: L_f nearly tight */
        vaD.X[k] = fabs(vaD.X[k]);
    for (int64_t k = 0; k < vaS.rowptr[nv]; k++)
        vaS.val[k] = fabs(vaS.val[k]);
    char msg[256], label[64];
    hc_model *MD, *MS;
    EXPECT(hc_model_new(&trD, &vaD, 0.05, &MD, msg, sizeof msg) == BL_OK, "%s", msg);
    EXPECT(hc_model_new(&trS, &vaS, 0.05, &MS, msg, sizeof msg) == BL_OK, "%s", msg);
    bl_problem pD = hc_problem(MD), pS = hc_problem(MS);
    int p = pD.p, m = pD.m;
    EXPECT(p == c * (d + 1) && m == n, "sizes p %d m %d", p, m);
    double *th = mc_vec((size_t)p), *la = mc_vec((size_t)m), *zero = mc_vec((size_t)p);
    int bi[8], bo[5];
    for (int rep = 0; rep < 2; rep++) {
        mc_fill_normal(r, th, p, 0.7);
        mc_fill_normal(r, la, m, 1.5);
        mc_batch(r, n, 8, bi);
        mc_batch(r, nv, 5, bo);
        for (int sp = 0; sp < 2; sp++) {
            const bl_problem *pb = sp ? &pS : &pD;
            md_reference ref = hc_reference(sp ? MS : MD);
            snprintf(label, sizeof label, "cleaning %s", sp ? "csr" : "dense");
            mc_compare_ad(pb, ref, th, la, NULL, 0, NULL, 0, r, 1e-10, label);
            mc_compare_ad(pb, ref, th, la, bi, 8, bo, 5, r, 1e-10, label);
            mc_check_fd(ref, p, m, th, la, NULL, 0, NULL, 0, r, 1e-5, 1e-6, label);
            mc_check_fd(ref, p, m, th, la, bi, 8, bo, 5, r, 1e-5, 1e-6, label);
            bl_constants k = mc_check_constants(pb, ref, th, la, r, label);
            mc_check_constants(pb, ref, zero, la, r, label);
            EXPECT(k.mu == 0.05, "mu %g", k.mu);
        }
        /* The minibatch reference equals a model on the subset (with λ_B). */
        ds_set subT, subV;
        EXPECT(ds_subset(&trS, bi, 8, &subT, msg, sizeof msg) == BL_OK, "%s", msg);
        EXPECT(ds_subset(&vaS, bo, 5, &subV, msg, sizeof msg) == BL_OK, "%s", msg);
        subT.nclass = subV.nclass = c; /* a subset may miss a class */
        hc_model *Msub;
        EXPECT(hc_model_new(&subT, &subV, 0.05, &Msub, msg, sizeof msg) == BL_OK, "%s", msg);
        double lb[8], fb, fs, *gb = mc_vec((size_t)p), *gs = mc_vec((size_t)p);
        for (int k = 0; k < 8; k++)
            lb[k] = la[bi[k]];
        hc_ref_G(MS, th, la, bi, 8, &fb, gb, NULL, NULL, 0);
        hc_ref_G(Msub, th, lb, NULL, 0, &fs, gs, NULL, NULL, 0);
        EXPECT(fabs(fb - fs) < 1e-13 * fabs(fs) && t_relerr(gb, gs, (size_t)p, 1e-300) < 1e-13,
               "batch G vs subset model: %.17g %.17g", fb, fs);
        hc_ref_F(MS, th, la, bo, 5, &fb, gb, NULL, NULL, 0);
        hc_ref_F(Msub, th, lb, NULL, 0, &fs, gs, NULL, NULL, 0);
        EXPECT(fabs(fb - fs) < 1e-13 * fabs(fs) && t_relerr(gb, gs, (size_t)p, 1e-300) < 1e-13,
               "batch F vs subset model: %.17g %.17g", fb, fs);
        hc_model_free(Msub);
        ds_set_free(&subT), ds_set_free(&subV);
        free(gb), free(gs);
    }
    free(th), free(la), free(zero);
    hc_model_free(MD), hc_model_free(MS);
    ds_set_free(&trD), ds_set_free(&trS), ds_set_free(&vaD), ds_set_free(&vaS);
}

/* Where the derivation is tight: 2 classes, θ = 0 (softmax ½/½, so P has
 * eigenvalue ½), σ(λ) ≈ 1 and non-negative features (the ‖Ã‖² bound is then
 * nearly exact): L and L_f must be attained within 0.1%. */
static void test_tight(t_rng *r)
{
    int n = 30, d = 4;
    ds_set tr, va;
    mc_random_set(r, n, d, 0.8, 2, 1, &tr, NULL);
    mc_random_set(r, n, d, 0.8, 2, 1, &va, NULL);
    tr.cls = malloc((size_t)n * sizeof *tr.cls);
    va.cls = malloc((size_t)n * sizeof *va.cls);
    for (int i = 0; i < n * d; i++)
        tr.X[i] = fabs(tr.X[i]), va.X[i] = fabs(va.X[i]);
    for (int i = 0; i < n; i++)
        tr.cls[i] = va.cls[i] = i % 2;
    hc_model *M;
    char msg[256];
    EXPECT(hc_model_new(&tr, &va, 0.01, &M, msg, sizeof msg) == BL_OK, "%s", msg);
    bl_problem pb = hc_problem(M);
    md_reference ref = hc_reference(M);
    int p = pb.p;
    double *th = mc_vec((size_t)p), *la = mc_vec((size_t)n), obs[3];
    for (int i = 0; i < n; i++)
        la[i] = 40.0; /* σ = 1 to rounding */
    bl_constants k = mc_check_constants_obs(&pb, ref, th, la, r, "cleaning tight", obs);
    EXPECT(k.L <= obs[1] * 1.001, "L %.10g not attained: top eigenvalue %.10g", k.L, obs[1]);
    EXPECT(k.Lf <= obs[2] * 1.001, "L_f %.10g not attained: top eigenvalue %.10g", k.Lf, obs[2]);
    EXPECT(k.mu == 0.01 && obs[0] >= 0.01 * (1 - 1e-9) && obs[0] <= 0.01 * (1 + 1e-9),
           "mu %g vs smallest eigenvalue %.12g (the 1-vector of classes is flat)", k.mu, obs[0]);
    hc_model_free(M);
    free(th), free(la);
    ds_set_free(&tr), ds_set_free(&va);
}

static void test_corruption(void)
{
    enum { N = 20000, K = 5 };
    int *orig = malloc(N * sizeof *orig), *lab = malloc(N * sizeof *lab), *lab2 = malloc(N * sizeof *lab2);
    unsigned char *bad = malloc(N), *bad2 = malloc(N);
    for (int i = 0; i < N; i++)
        orig[i] = i % K;
    memcpy(lab, orig, N * sizeof *lab);
    memcpy(lab2, orig, N * sizeof *lab2);
    int nbad = -1, nbad2 = -1;
    char msg[256];
    EXPECT(hc_corrupt_labels(lab, N, K, 0.3, 99, bad, &nbad, msg, sizeof msg) == BL_OK, "%s", msg);
    EXPECT(hc_corrupt_labels(lab2, N, K, 0.3, 99, bad2, &nbad2, msg, sizeof msg) == BL_OK, "%s", msg);
    EXPECT(nbad == nbad2 && !memcmp(lab, lab2, N * sizeof *lab) && !memcmp(bad, bad2, N),
           "same seed, different corruption");
    int consistent = 1, cnt = 0, moved[K][K] = {{0}};
    for (int i = 0; i < N; i++) {
        consistent &= bad[i] ? lab[i] != orig[i] : lab[i] == orig[i];
        consistent &= lab[i] >= 0 && lab[i] < K;
        cnt += bad[i];
        if (bad[i])
            moved[orig[i]][lab[i]]++;
    }
    EXPECT(consistent && cnt == nbad, "corruption flags disagree with the labels");
    EXPECT(fabs(cnt / (double)N - 0.3) < 0.015, "corruption rate %.4f, expected 0.3", cnt / (double)N);
    /* Each of the other K − 1 classes gets about 1/(K − 1) of a class's corrupted labels. */
    double worst = 0;
    for (int a = 0; a < K; a++) {
        int tot = 0;
        for (int b = 0; b < K; b++)
            tot += moved[a][b];
        for (int b = 0; b < K; b++)
            if (b != a)
                worst = fmax(worst, fabs(moved[a][b] / (double)tot - 1.0 / (K - 1)));
    }
    EXPECT(worst < 0.04, "new labels not uniform over the other classes (off by %.3f)", worst);
    memcpy(lab2, orig, N * sizeof *lab2);
    hc_corrupt_labels(lab2, N, K, 0.3, 100, NULL, &nbad2, NULL, 0);
    EXPECT(memcmp(lab, lab2, N * sizeof *lab) != 0, "different seeds, same corruption");
    memcpy(lab2, orig, N * sizeof *lab2);
    hc_corrupt_labels(lab2, N, K, 0.0, 1, bad2, &nbad2, NULL, 0);
    EXPECT(nbad2 == 0 && !memcmp(lab2, orig, N * sizeof *lab2), "prob 0 changed labels");
    hc_corrupt_labels(lab2, N, K, 1.0, 1, bad2, &nbad2, NULL, 0);
    EXPECT(nbad2 == N, "prob 1 corrupted %d of %d", nbad2, N);
    memcpy(lab2, orig, N * sizeof *lab2);
    lab2[7] = K;
    EXPECT(hc_corrupt_labels(lab2, N, K, 0.5, 1, NULL, NULL, msg, sizeof msg) == BL_EINVAL &&
               strstr(msg, "sample 7") && lab2[0] == orig[0],
           "label out of range: %s", msg);
    EXPECT(hc_corrupt_labels(lab2, N, K, 1.5, 1, NULL, NULL, msg, sizeof msg) == BL_EINVAL, "prob 1.5");
    EXPECT(hc_corrupt_labels(lab2, N, 1, 0.5, 1, NULL, NULL, msg, sizeof msg) == BL_EINVAL, "1 class");
    free(orig), free(lab), free(lab2), free(bad), free(bad2);
}

/* hc_corrupt_labels_mode: the exact fraction is round(p·n) for every n and p,
 * the subset is uniform (each sample selected with frequency p over seeds),
 * "uniform" redraws among all K classes (kept ≈ 1/K of the selected, new
 * labels ≈ uniform), "other" always changes the label, the draws are
 * reproducible from the seed, and (other, not exact) is hc_corrupt_labels. */
static void test_corruption_modes(void)
{
    enum { N = 20000, K = 10 };
    int *orig = malloc(N * sizeof *orig), *lab = malloc(N * sizeof *lab), *lab2 = malloc(N * sizeof *lab2);
    unsigned char *bad = malloc(N), *bad2 = malloc(N);
    char msg[256];
    for (int i = 0; i < N; i++)
        orig[i] = (i * 7) % K;
    const int ns[] = {1, 2, 997, 1000, N};
    const double ps[] = {0, 0.1, 1.0 / 3, 0.5, 0.7, 1};
    int exact_ok = 1, flags_ok = 1;
    for (int a = 0; a < 5; a++)
        for (int b = 0; b < 6; b++)
            for (int mode = 0; mode < HC_CORRUPT_MODE_COUNT; mode++) {
                int n = ns[a], cnt = -1, sum = 0;
                memcpy(lab, orig, (size_t)n * sizeof *lab);
                bl_status st = hc_corrupt_labels_mode(lab, n, K, ps[b], mode, 1, 42 + a, bad, &cnt,
                                                      msg, sizeof msg);
                int want = (int)floor(ps[b] * n + 0.5);
                for (int i = 0; i < n; i++) {
                    sum += bad[i];
                    flags_ok &= bad[i] || lab[i] == orig[i];
                    flags_ok &= mode != HC_CORRUPT_OTHER || !bad[i] || lab[i] != orig[i];
                    flags_ok &= lab[i] >= 0 && lab[i] < K;
                }
                exact_ok &= st == BL_OK && cnt == want && sum == want;
                if (!(st == BL_OK && cnt == want && sum == want))
                    fprintf(stderr, "n %d p %g mode %d: %d selected (flags %d), want %d: %s\n", n,
                            ps[b], mode, cnt, sum, want, msg);
            }
    EXPECT(exact_ok, "exact fraction: selected count != round(p n)");
    EXPECT(flags_ok, "flags disagree with the labels (or other mode kept a label)");
    /* uniform mode at p = 0.5 on N: kept ≈ 1/K of the selected, new labels ≈ 1/K each */
    memcpy(lab, orig, N * sizeof *lab);
    int cnt = 0, kept = 0, per[K] = {0};
    hc_corrupt_labels_mode(lab, N, K, 0.5, HC_CORRUPT_UNIFORM, 1, 7, bad, &cnt, NULL, 0);
    for (int i = 0; i < N; i++)
        if (bad[i])
            kept += lab[i] == orig[i], per[lab[i]]++;
    double worst = 0;
    for (int k = 0; k < K; k++)
        worst = fmax(worst, fabs(per[k] / (double)cnt - 1.0 / K));
    EXPECT(cnt == N / 2 && fabs(kept / (double)cnt - 1.0 / K) < 0.01 && worst < 0.012,
           "uniform mode: %d selected, kept %.4f (want 0.1), new labels off uniform by %.4f", cnt,
           kept / (double)cnt, worst);
    /* the exact subset is uniform: over 4000 seeds each of 20 samples is picked ≈ 0.3 of the time */
    enum { NS = 20, SEEDS = 4000 };
    int freq[NS] = {0};
    for (int sd = 0; sd < SEEDS; sd++) {
        memcpy(lab2, orig, NS * sizeof *lab2);
        hc_corrupt_labels_mode(lab2, NS, K, 0.3, HC_CORRUPT_OTHER, 1, 1000 + sd, bad2, NULL, NULL, 0);
        for (int i = 0; i < NS; i++)
            freq[i] += bad2[i];
    }
    double fw = 0;
    for (int i = 0; i < NS; i++)
        fw = fmax(fw, fabs(freq[i] / (double)SEEDS - 0.3));
    EXPECT(fw < 0.03, "exact subset not uniform: a sample's frequency is off 0.3 by %.4f", fw);
    /* reproducible from the seed; another seed differs */
    for (int mode = 0; mode < HC_CORRUPT_MODE_COUNT; mode++)
        for (int exact = 0; exact < 2; exact++) {
            int c1 = -1, c2 = -2;
            memcpy(lab, orig, N * sizeof *lab);
            memcpy(lab2, orig, N * sizeof *lab2);
            hc_corrupt_labels_mode(lab, N, K, 0.7, mode, exact, 123, bad, &c1, NULL, 0);
            hc_corrupt_labels_mode(lab2, N, K, 0.7, mode, exact, 123, bad2, &c2, NULL, 0);
            EXPECT(c1 == c2 && !memcmp(lab, lab2, N * sizeof *lab) && !memcmp(bad, bad2, N),
                   "mode %s exact %d: same seed, different corruption", hc_corrupt_mode_name(mode),
                   exact);
            memcpy(lab2, orig, N * sizeof *lab2);
            hc_corrupt_labels_mode(lab2, N, K, 0.7, mode, exact, 124, bad2, NULL, NULL, 0);
            EXPECT(memcmp(lab, lab2, N * sizeof *lab) != 0 && memcmp(bad, bad2, N) != 0,
                   "mode %s exact %d: another seed, same corruption", hc_corrupt_mode_name(mode), exact);
        }
    /* (other, not exact) is the old function bitwise */
    memcpy(lab, orig, N * sizeof *lab);
    memcpy(lab2, orig, N * sizeof *lab2);
    hc_corrupt_labels(lab, N, K, 0.1, 9, bad, NULL, NULL, 0);
    hc_corrupt_labels_mode(lab2, N, K, 0.1, HC_CORRUPT_OTHER, 0, 9, bad2, NULL, NULL, 0);
    EXPECT(!memcmp(lab, lab2, N * sizeof *lab) && !memcmp(bad, bad2, N), "other/not exact != hc_corrupt_labels");
    /* names and errors: nothing changed on failure */
    EXPECT(hc_corrupt_mode_from_name("uniform") == HC_CORRUPT_UNIFORM &&
               hc_corrupt_mode_from_name("other") == HC_CORRUPT_OTHER &&
               hc_corrupt_mode_from_name("nope") == -1,
           "mode names");
    memcpy(lab, orig, N * sizeof *lab);
    EXPECT(hc_corrupt_labels_mode(lab, N, K, 0.5, 7, 1, 1, NULL, NULL, msg, sizeof msg) == BL_EINVAL &&
               strstr(msg, "mode 7") && !memcmp(lab, orig, N * sizeof *lab),
           "unknown mode: %s", msg);
    EXPECT(hc_corrupt_labels_mode(lab, N, K, -0.1, 0, 1, 1, NULL, NULL, msg, sizeof msg) == BL_EINVAL,
           "prob -0.1");
    free(orig), free(lab), free(lab2), free(bad), free(bad2);
}

static void test_auc(t_rng *r)
{
    enum { N = 300 };
    double lam[N];
    unsigned char bad[N];
    for (int i = 0; i < N; i++) {
        bad[i] = t_uniform(r, 0, 1) < 0.3;
        lam[i] = round(4 * (t_normal(r) - bad[i])) / 4; /* ties on purpose */
    }
    double wins = 0, pairs = 0, auc = -1;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++)
            if (!bad[i] && bad[j]) {
                wins += lam[i] > lam[j] ? 1.0 : lam[i] == lam[j] ? 0.5 : 0.0;
                pairs++;
            }
    EXPECT(hc_separation_auc(lam, bad, N, &auc, NULL, 0) == BL_OK && fabs(auc - wins / pairs) < 1e-12,
           "AUC %.15g vs brute force %.15g", auc, wins / pairs);
    memset(bad, 0, sizeof bad);
    char msg[128];
    EXPECT(hc_separation_auc(lam, bad, N, &auc, msg, sizeof msg) == BL_EINVAL, "AUC without corrupted samples");
}

/* The detector λ_i < 0 on a hand-counted instance: flags {0, 2, 5} (λ = 0 is σ = ½, not
 * flagged), corrupted {0, 3, 4, 5}: hits {0, 5}, precision 2/3, recall 2/4. */
static void test_detect(void)
{
    const double lam[6] = {-1, 2, -0.5, 0, 3, -2};
    const unsigned char bad[6] = {1, 0, 0, 1, 1, 1}, none[6] = {0};
    const double pos[6] = {1, 1, 1, 1, 1, 1};
    hc_detection d;
    char msg[128];
    EXPECT(hc_detect(lam, bad, 6, &d, msg, sizeof msg) == BL_OK && d.flagged == 3 && d.corrupted == 4 &&
               d.hits == 2 && fabs(d.precision - 2.0 / 3) < 1e-15 && fabs(d.recall - 0.5) < 1e-15,
           "detector: flagged %d corrupted %d hits %d precision %g recall %g (want 3 4 2 2/3 1/2)",
           d.flagged, d.corrupted, d.hits, d.precision, d.recall);
    EXPECT(hc_detect(pos, bad, 6, &d, NULL, 0) == BL_OK && d.flagged == 0 && isnan(d.precision) &&
               d.recall == 0, "detector: nothing flagged: precision NaN, recall 0");
    EXPECT(hc_detect(lam, none, 6, &d, NULL, 0) == BL_OK && d.corrupted == 0 && isnan(d.recall) &&
               d.precision == 0, "detector: nothing corrupted: recall NaN, precision 0");
    EXPECT(hc_detect(lam, NULL, 6, &d, msg, sizeof msg) == BL_EINVAL && strstr(msg, "hc_detect"),
           "detector: NULL flags: %s", msg);
}

static void test_errors(t_rng *r)
{
    ds_set tr, va, bin;
    mc_random_set(r, 12, 3, 0.7, 3, 1, &tr, NULL);
    mc_random_set(r, 8, 3, 0.7, 3, 1, &va, NULL);
    mc_random_set(r, 8, 3, 0.7, 2, 1, &bin, NULL); /* binary: no cls */
    char msg[256];
    hc_model *M = NULL;
    EXPECT(hc_model_new(&tr, &bin, 0.1, &M, msg, sizeof msg) == BL_EINVAL && !M && strstr(msg, "val"),
           "missing class labels: %s", msg);
    EXPECT(hc_model_new(&tr, &va, 0.0, &M, msg, sizeof msg) == BL_EINVAL, "r = 0");
    tr.cls[2] = 3;
    EXPECT(hc_model_new(&tr, &va, 0.1, &M, msg, sizeof msg) == BL_EINVAL && strstr(msg, "cls[2]"),
           "label out of range: %s", msg);
    tr.cls[2] = 0;
    EXPECT(hc_model_new(&tr, &va, 0.1, &M, msg, sizeof msg) == BL_OK, "%s", msg);
    double th[12] = {0}, lam[12] = {0}, f;
    int b[1] = {12};
    EXPECT(hc_ref_G(M, th, lam, b, 1, &f, NULL, NULL, msg, sizeof msg) == BL_EINVAL, "bad batch");
    hc_model_free(M);
    hc_model_free(NULL);
    ds_set_free(&tr), ds_set_free(&va), ds_set_free(&bin);
}

/* hc_evaluate: the cross-entropy equals F (hc_ref_F) on the same set, and
 * the accuracy is the fraction of samples whose largest logit, computed here
 * by hand from W, is the label; dense and CSR agree; bad sets are refused. */
static void test_evaluate(t_rng *r)
{
    int n = 30, nv = 25, d = 4, c = 3, p = c * (d + 1);
    ds_set trD, vaD, vaS, wide;
    mc_random_set(r, n, d, 0.6, c, 1, &trD, NULL);
    mc_random_set(r, nv, d, 0.6, c, 1, &vaD, &vaS);
    mc_random_set(r, 5, d + 1, 0.6, c, 1, &wide, NULL);
    char msg[256];
    hc_model *M;
    EXPECT(hc_model_new(&trD, &vaD, 0.1, &M, msg, sizeof msg) == BL_OK, "%s", msg);
    double *th = mc_vec((size_t)p), f, ce, acc, ce2, acc2;
    mc_fill_normal(r, th, p, 1.0);
    EXPECT(hc_ref_F(M, th, NULL, NULL, 0, &f, NULL, NULL, msg, sizeof msg) == BL_OK, "%s", msg);
    EXPECT(hc_evaluate(M, &vaD, th, &ce, &acc, msg, sizeof msg) == BL_OK, "%s", msg);
    EXPECT(hc_evaluate(M, &vaS, th, &ce2, &acc2, msg, sizeof msg) == BL_OK, "%s", msg);
    int right = 0;
    for (int i = 0; i < nv; i++) {
        int best = 0;
        double u[8];
        for (int j = 0; j < c; j++) {
            u[j] = th[j * (d + 1) + d];
            for (int k = 0; k < d; k++)
                u[j] += th[j * (d + 1) + k] * vaD.X[(size_t)i * d + k];
            best = u[j] > u[best] ? j : best;
        }
        right += best == vaD.cls[i];
    }
    EXPECT(fabs(ce - f) < 1e-13 * fabs(f), "evaluate CE %.17g vs F %.17g", ce, f);
    EXPECT(acc == (double)right / nv, "accuracy %g vs by hand %g", acc, (double)right / nv);
    EXPECT(fabs(ce2 - ce) < 1e-13 * ce && acc2 == acc, "CSR vs dense: %g %g", ce2, acc2);
    EXPECT(hc_evaluate(M, &wide, th, &ce, NULL, msg, sizeof msg) == BL_EINVAL && strstr(msg, "features"),
           "a set of another width is refused: %s", msg);
    hc_model_free(M);
    free(th);
    ds_set_free(&trD), ds_set_free(&vaD), ds_set_free(&vaS), ds_set_free(&wide);
}

int main(int argc, char **argv)
{
    t_rng r = {0xc1ea};
    test_fixture(argc > 1 ? argv[1] : "tests/data");
    test_random(&r);
    test_tight(&r);
    test_corruption();
    test_corruption_modes();
    test_auc(&r);
    test_detect();
    test_errors(&r);
    test_evaluate(&r);
    return t_done();
}
