/*
 * tests/readers/test_fashion_real.c — decodes the real Fashion-MNIST files
 * (Debian package dataset-fashion-mnist; folder from the meson option
 * fashion_mnist_dir, passed as argv[1]). Skipped (exit 77) when absent.
 *
 * Expected values were computed once, independently of hypertape, with
 * Python's gzip and struct modules:
 *   python3 -c 'import gzip,struct; im=gzip.open(D+"train-images-idx3-ubyte.gz").read();
 *     lb=gzip.open(D+"train-labels-idx1-ubyte.gz").read(); p=im[16:16+784];
 *     print(struct.unpack(">IIII",im[:16]), lb[8], sum(p),
 *           sum((i+1)*v for i,v in enumerate(p)), sum(im[16:]), lb[-1])'
 * and the same for t10k-*.
 */
#include <hypertape/models/data.h>
#include "testutil.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct part_truth {
    const char *images, *labels;
    int n;
    int label0, label_last;
    long long sum0, wsum0; /* Σ p_k and Σ (k+1) p_k over the first image */
    int center0;           /* pixel (14, 14) of the first image */
    long long sum_all;     /* Σ of every pixel of the file */
} part_truth;

static const part_truth parts[2] = {
    {"train-images-idx3-ubyte", "train-labels-idx1-ubyte", 60000, 9, 5, 76247, 35954273, 217,
     3431114169LL},
    {"t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", 10000, 9, 5, 33456, 16008570, 110,
     573469082LL},
};

/* dir/name.gz if readable, else dir/name (as ds_fashion_mnist looks). */
static void locate(char *path, size_t len, const char *dir, const char *name)
{
    snprintf(path, len, "%s/%s.gz", dir, name);
    if (access(path, R_OK) != 0)
        snprintf(path, len, "%s/%s", dir, name);
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "/usr/share/datasets/fashion-mnist";
    char msg[512], path[1024];
    locate(path, sizeof path, dir, parts[0].images);
    if (access(path, R_OK) != 0) {
        printf("skip: %s not readable (install dataset-fashion-mnist)\n", path);
        return 77;
    }
    for (int k = 0; k < 2; k++) {
        const part_truth *t = &parts[k];
        int n = 0, r = 0, c = 0, nl = 0;
        unsigned char *pix = NULL, *lab = NULL;
        locate(path, sizeof path, dir, t->images);
        EXPECT(ds_read_idx_images(path, &n, &r, &c, &pix, msg, sizeof msg) == BL_OK, "%s", msg);
        EXPECT(n == t->n && r == 28 && c == 28, "%s: %d x %d x %d", t->images, n, r, c);
        locate(path, sizeof path, dir, t->labels);
        EXPECT(ds_read_idx_labels(path, &nl, &lab, msg, sizeof msg) == BL_OK, "%s", msg);
        EXPECT(nl == t->n, "%s: %d labels", t->labels, nl);
        if (!pix || !lab || n != t->n || r != 28 || c != 28 || nl != n) {
            free(pix);
            free(lab);
            continue;
        }
        long long s = 0, w = 0, all = 0;
        for (int q = 0; q < 784; q++) {
            s += pix[q];
            w += (long long)(q + 1) * pix[q];
        }
        for (size_t q = 0; q < (size_t)n * 784; q++)
            all += pix[q];
        EXPECT(lab[0] == t->label0, "%s: first label %d, expected %d", t->labels, lab[0], t->label0);
        EXPECT(lab[n - 1] == t->label_last, "%s: last label %d", t->labels, lab[n - 1]);
        EXPECT(s == t->sum0 && w == t->wsum0, "%s: first image checksums %lld %lld, expected %lld %lld",
               t->images, s, w, t->sum0, t->wsum0);
        EXPECT(pix[14 * 28 + 14] == t->center0, "%s: centre pixel %d", t->images, pix[14 * 28 + 14]);
        EXPECT(all == t->sum_all, "%s: pixel total %lld, expected %lld", t->images, all, t->sum_all);
        int hist[10] = {0};
        for (int i = 0; i < n; i++)
            hist[lab[i] < 10 ? lab[i] : 0]++;
        for (int q = 0; q < 10; q++) /* both parts are balanced */
            EXPECT(hist[q] == n / 10, "%s: class %d has %d samples", t->labels, q, hist[q]);
        free(pix);
        free(lab);
    }

    /* The test part as a ds_set, and the T-shirt/top vs Shirt pair. */
    ds_set s, pair;
    EXPECT(ds_fashion_mnist(dir, 0, &s, msg, sizeof msg) == BL_OK, "ds_fashion_mnist: %s", msg);
    EXPECT(s.n == 10000 && s.d == 784 && s.nclass == 10 && s.X && s.cls, "test set shape");
    if (s.X) {
        double sum = 0;
        for (int q = 0; q < 784; q++)
            sum += s.X[q] * 255.0;
        EXPECT(fabs(sum - 33456) < 1e-9, "first test image sum %.12g", sum);
        EXPECT(s.cls[0] == 9 && s.y[0] == 9.0, "first test label");
        EXPECT(ds_fashion_pair(&s, 0, 6, &pair, msg, sizeof msg) == BL_OK && pair.n == 2000 &&
                   pair.d == 784 && pair.nclass == 2,
               "pair 0 vs 6: %s", msg);
        int pos = 0;
        for (int i = 0; i < pair.n; i++)
            pos += pair.y[i] == 1.0;
        EXPECT(pos == 1000, "pair: %d positives", pos);
        ds_set_free(&pair);
    }
    ds_set_free(&s);
    return t_done();
}
