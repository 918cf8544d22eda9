/*
 * tests/readers/test_multiclass.c — multiclass sets from user files
 * (hypertape/models/multiclass.h): a LIBSVM multiclass file whose class map
 * and classes are counted by hand, validation/test files mapped through the
 * training map (an unknown label is an error naming file and line), an IDX
 * pair written here (raw and gzip) read back equal, and label corruption at
 * the CLI's largest rate 0.9 (exact counts in "other" mode, binomial
 * tolerance in "uniform" mode).
 */
#include <hypertape/models/cleaning.h>
#include <hypertape/models/multiclass.h>
#include "testutil.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    if (!f || fputs(text, f) < 0) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(2);
    }
    fclose(f);
}

/* An IDX file: magic, dims (big-endian), the bytes; gzip when gz. */
static void write_idx(const char *path, int gz, unsigned magic, const unsigned *dims, int nd,
                      const unsigned char *data, size_t len)
{
    unsigned char hdr[16];
    size_t h = 0;
    unsigned v[4] = {magic, 0, 0, 0};
    for (int k = 0; k < nd; k++)
        v[k + 1] = dims[k];
    for (int k = 0; k <= nd; k++)
        for (int s = 24; s >= 0; s -= 8)
            hdr[h++] = (unsigned char)(v[k] >> s);
    int ok;
    if (gz) {
        gzFile f = gzopen(path, "wb9");
        ok = f && gzwrite(f, hdr, (unsigned)h) == (int)h && gzwrite(f, data, (unsigned)len) == (int)len;
        if (f)
            gzclose(f);
    } else {
        FILE *f = fopen(path, "wb");
        ok = f && fwrite(hdr, 1, h, f) == h && fwrite(data, 1, len, f) == len;
        if (f)
            fclose(f);
    }
    if (!ok) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(2);
    }
}

static void test_libsvm(void)
{
    char msg[512];
    /* labels 7, -3, 12, 7, 0 (as "+0"), 12.0: sorted distinct -3, 0, 7, 12 → classes 0..3 */
    write_text("mc_train.svm", "# a comment line\n"
                               "7 1:0.5 3:2\n"
                               "-3 2:1\n"
                               "\n"
                               "12 1:-1 4:0.25\n"
                               "7 3:1\n"
                               "+0 1:3\n"
                               "12.0 2:2 # trailing comment\n");
    ds_classes cl = {0};
    ds_set tr = {0};
    EXPECT(ds_read_libsvm_multiclass("mc_train.svm", NULL, &cl, &tr, msg, sizeof msg) == BL_OK, "%s", msg);
    const int want_map[4] = {-3, 0, 7, 12}, want_cls[6] = {2, 0, 3, 2, 1, 3};
    EXPECT(cl.n == 4 && !memcmp(cl.value, want_map, sizeof want_map), "map: %d classes", cl.n);
    EXPECT(tr.n == 6 && tr.d == 4 && tr.nclass == 4 && tr.cls && !tr.X, "train %dx%d, %d classes",
           tr.n, tr.d, tr.nclass);
    int same = tr.cls != NULL;
    for (int i = 0; same && i < 6; i++)
        same = tr.cls[i] == want_cls[i] && tr.y[i] == want_cls[i];
    EXPECT(same, "training classes differ from the hand count");
    EXPECT(tr.rowptr && tr.rowptr[6] == 8 && tr.val[0] == 0.5 && tr.colind[1] == 2,
           "values are kept as they are (CSR)");
    EXPECT(ds_classes_find(&cl, 7) == 2 && ds_classes_find(&cl, 5) == -1 && ds_classes_find(&cl, 13) == -1,
           "ds_classes_find");
    /* validation through the same map: labels 12, -3, 0 → 3, 0, 1; a wider file is fine */
    write_text("mc_val.svm", "12 5:1\n-3 1:1\n0 2:1\n");
    ds_set va = {0};
    ds_classes keep = cl;
    EXPECT(ds_read_libsvm_multiclass("mc_val.svm", NULL, &cl, &va, msg, sizeof msg) == BL_OK, "%s", msg);
    EXPECT(va.n == 3 && va.d == 5 && va.nclass == 4 && va.cls[0] == 3 && va.cls[1] == 0 &&
               va.cls[2] == 1 && !memcmp(&cl, &keep, sizeof cl),
           "val mapped through the training map");
    ds_set_free(&va);
    /* a label not in the training set: the file and line (3) are named, the map unchanged */
    write_text("mc_bad.svm", "7 1:1\n# c\n5 1:1\n");
    bl_status st = ds_read_libsvm_multiclass("mc_bad.svm", NULL, &cl, &va, msg, sizeof msg);
    EXPECT(st == BL_EFORMAT && strstr(msg, "mc_bad.svm:3:") && strstr(msg, "label 5") && va.n == 0 &&
               !va.cls && !memcmp(&cl, &keep, sizeof cl),
           "unknown label: %s", msg);
    /* non-integer labels, in learning and in mapping mode */
    write_text("mc_frac.svm", "1 1:1\n2.5 1:1\n");
    ds_classes fresh = {0};
    st = ds_read_libsvm_multiclass("mc_frac.svm", NULL, &fresh, &va, msg, sizeof msg);
    EXPECT(st == BL_EFORMAT && strstr(msg, "mc_frac.svm:2:") && fresh.n == 0, "2.5: %s", msg);
    st = ds_read_libsvm_multiclass("mc_frac.svm", NULL, &cl, &va, msg, sizeof msg);
    EXPECT(st == BL_EFORMAT && strstr(msg, "mc_frac.svm:1:"), "label 1 not in the map: %s", msg);
    write_text("mc_big.svm", "3000000000 1:1\n");
    fresh.n = 0;
    st = ds_read_libsvm_multiclass("mc_big.svm", NULL, &fresh, &va, msg, sizeof msg);
    EXPECT(st == BL_EFORMAT && strstr(msg, "mc_big.svm:1:"), "label above 2^31: %s", msg);
    /* the binary reader still refuses multiclass labels */
    EXPECT(ds_read_libsvm("mc_train.svm", 0, &va, msg, sizeof msg) == BL_EFORMAT, "binary reader");
    /* more than DS_MAX_CLASSES distinct labels: an error at the first extra one */
    FILE *f = fopen("mc_many.svm", "wb");
    for (int k = 0; k <= DS_MAX_CLASSES; k++)
        fprintf(f, "%d 1:1\n", 2 * k);
    fclose(f);
    fresh.n = 0;
    st = ds_read_libsvm_multiclass("mc_many.svm", NULL, &fresh, &va, msg, sizeof msg);
    char where[64];
    snprintf(where, sizeof where, "mc_many.svm:%d:", DS_MAX_CLASSES + 1);
    EXPECT(st == BL_EFORMAT && strstr(msg, where) && fresh.n == 0, "too many classes: %s", msg);
    EXPECT(ds_read_libsvm_multiclass("mc_train.svm", NULL, NULL, &va, msg, sizeof msg) == BL_EINVAL,
           "NULL map");
    ds_set_free(&tr);
}

static void test_idx(void)
{
    char msg[512];
    enum { N = 6, R = 2, C = 3, NV = 3 };
    unsigned char pix[N * R * C], lab[N] = {4, 9, 4, 2, 9, 2}, vlab[NV] = {9, 2, 4};
    for (int k = 0; k < N * R * C; k++)
        pix[k] = (unsigned char)(k * 37 + 11);
    pix[0] = 0, pix[1] = 255;
    const unsigned idims[3] = {N, R, C}, ldims[1] = {N}, vdims[3] = {NV, R, C}, vl[1] = {NV};
    for (int gz = 0; gz < 2; gz++) {
        const char *ip = gz ? "mc_img.gz" : "mc_img", *lp = gz ? "mc_lab.gz" : "mc_lab";
        write_idx(ip, gz, 0x803, idims, 3, pix, sizeof pix);
        write_idx(lp, gz, 0x801, ldims, 1, lab, sizeof lab);
        ds_classes cl = {0};
        ds_set s = {0};
        EXPECT(ds_read_idx_multiclass(ip, lp, &cl, &s, msg, sizeof msg) == BL_OK, "%s", msg);
        /* labels 2, 4, 9 → classes 0, 1, 2 */
        const int want[N] = {1, 2, 1, 0, 2, 0};
        int ok = s.n == N && s.d == R * C && s.X && s.nclass == 3 && cl.n == 3 && cl.value[0] == 2 &&
                 cl.value[1] == 4 && cl.value[2] == 9;
        for (int i = 0; ok && i < N; i++)
            ok = s.cls[i] == want[i] && s.y[i] == want[i];
        for (int k = 0; ok && k < N * R * C; k++)
            ok = s.X[k] == pix[k] / 255.0;
        EXPECT(ok, "%s: the pair read back differs", ip);
        EXPECT(s.X[0] == 0 && s.X[1] == 1, "%s: pixels scaled to [0, 1]", ip);
        /* validation pair through the same map */
        write_idx("mc_vimg", gz, 0x803, vdims, 3, pix, (size_t)NV * R * C);
        write_idx("mc_vlab", gz, 0x801, vl, 1, vlab, sizeof vlab);
        ds_set v = {0};
        EXPECT(ds_read_idx_multiclass("mc_vimg", "mc_vlab", &cl, &v, msg, sizeof msg) == BL_OK &&
                   v.n == NV && v.cls[0] == 2 && v.cls[1] == 0 && v.cls[2] == 1 && v.nclass == 3,
               "val pair: %s", msg);
        ds_set_free(&v);
        /* a validation label not in the training set: the labels file and byte offset 8 + 1 */
        unsigned char badl[NV] = {9, 5, 4};
        write_idx("mc_vlab", gz, 0x801, vl, 1, badl, sizeof badl);
        bl_status st = ds_read_idx_multiclass("mc_vimg", "mc_vlab", &cl, &v, msg, sizeof msg);
        EXPECT(st == BL_EFORMAT && strstr(msg, "mc_vlab") && strstr(msg, "byte offset 9") &&
                   strstr(msg, "label 5") && v.n == 0 && !v.X && cl.n == 3,
               "unknown IDX label: %s", msg);
        /* counts differ: both files named */
        st = ds_read_idx_multiclass(ip, "mc_vlab", &cl, &v, msg, sizeof msg);
        EXPECT(st == BL_EFORMAT && strstr(msg, ip) && strstr(msg, "mc_vlab"), "count mismatch: %s", msg);
        ds_set_free(&s);
    }
}

/* Corruption at p = 0.9 (the CLI's largest rate), K classes, n samples. */
static void test_corrupt_09(void)
{
    enum { N = 10000, K = 10 };
    int *orig = malloc(N * sizeof *orig), *lab = malloc(N * sizeof *lab);
    unsigned char *bad = malloc(N);
    for (int i = 0; i < N; i++)
        orig[i] = (i * 3) % K;
    char msg[256];
    /* exact, other: exactly round(0.9 N) = 9000 labels change */
    memcpy(lab, orig, N * sizeof *lab);
    int cnt = -1, changed = 0;
    EXPECT(hc_corrupt_labels_mode(lab, N, K, 0.9, HC_CORRUPT_OTHER, 1, 5, bad, &cnt, msg, sizeof msg) == BL_OK,
           "%s", msg);
    for (int i = 0; i < N; i++)
        changed += lab[i] != orig[i];
    EXPECT(cnt == 9000 && changed == 9000, "other, exact 0.9: %d selected, %d changed (want 9000)", cnt,
           changed);
    /* exact, uniform: 9000 selected, each keeps its class with probability 1/K:
     * changed ~ Binomial(9000, 0.9), mean 8100, sd sqrt(9000 · 0.9 · 0.1) = 28.5; 5 sd */
    memcpy(lab, orig, N * sizeof *lab);
    changed = 0;
    hc_corrupt_labels_mode(lab, N, K, 0.9, HC_CORRUPT_UNIFORM, 1, 5, bad, &cnt, NULL, 0);
    for (int i = 0; i < N; i++)
        changed += lab[i] != orig[i];
    EXPECT(cnt == 9000 && fabs(changed - 8100.0) < 5 * 28.5,
           "uniform, exact 0.9: %d selected, %d changed (want 8100 +- 142)", cnt, changed);
    /* not exact, other: selected = changed ~ Binomial(N, 0.9), mean 9000, sd 30 */
    memcpy(lab, orig, N * sizeof *lab);
    changed = 0;
    hc_corrupt_labels_mode(lab, N, K, 0.9, HC_CORRUPT_OTHER, 0, 6, bad, &cnt, NULL, 0);
    for (int i = 0; i < N; i++)
        changed += lab[i] != orig[i];
    EXPECT(cnt == changed && fabs(changed - 9000.0) < 5 * 30.0, "other, 0.9: %d changed", changed);
    /* not exact, uniform: changed ~ Binomial(N, 0.9 · 0.9), mean 8100, sd sqrt(N·0.81·0.19) = 39.2 */
    memcpy(lab, orig, N * sizeof *lab);
    changed = 0;
    hc_corrupt_labels_mode(lab, N, K, 0.9, HC_CORRUPT_UNIFORM, 0, 6, bad, &cnt, NULL, 0);
    for (int i = 0; i < N; i++)
        changed += lab[i] != orig[i];
    EXPECT(fabs(changed - 8100.0) < 5 * 39.2 && fabs(cnt - 9000.0) < 5 * 30.0,
           "uniform, 0.9: %d selected, %d changed", cnt, changed);
    free(orig);
    free(lab);
    free(bad);
}

int main(void)
{
    test_libsvm();
    test_idx();
    test_corrupt_09();
    return t_done();
}
