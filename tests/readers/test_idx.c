/*
 * tests/readers/test_idx.c — IDX files written here (raw and gzip through
 * zlib) decode exactly; a tiny Fashion-MNIST folder loads as a dense
 * multiclass set; ds_fashion_pair and the class-name table.
 */
#include <hypertape/models/data.h>
#include "testutil.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

/* Writes an IDX file: magic, dims (big-endian), then the bytes; gzip when gz. */
static void write_idx(const char *path, int gz, unsigned magic, const unsigned *dims, int nd,
                      const unsigned char *data, size_t len)
{
    unsigned char hdr[16];
    size_t h = 0;
    unsigned v[4] = {magic, 0, 0, 0};
    for (int k = 0; k < nd; k++)
        v[k + 1] = dims[k];
    for (int k = 0; k <= nd; k++) {
        hdr[h++] = (unsigned char)(v[k] >> 24);
        hdr[h++] = (unsigned char)(v[k] >> 16);
        hdr[h++] = (unsigned char)(v[k] >> 8);
        hdr[h++] = (unsigned char)v[k];
    }
    if (gz) {
        gzFile f = gzopen(path, "wb9");
        if (!f || gzwrite(f, hdr, (unsigned)h) != (int)h || gzwrite(f, data, (unsigned)len) != (int)len) {
            fprintf(stderr, "cannot write %s\n", path);
            exit(2);
        }
        gzclose(f);
    } else {
        FILE *f = fopen(path, "wb");
        if (!f || fwrite(hdr, 1, h, f) != h || fwrite(data, 1, len, f) != len) {
            fprintf(stderr, "cannot write %s\n", path);
            exit(2);
        }
        fclose(f);
    }
}

int main(void)
{
    char msg[512];
    enum { N = 7, R = 3, C = 5 };
    unsigned char pix[N * R * C], lab[N] = {0, 6, 3, 6, 0, 9, 6};
    t_rng rng = {99};
    for (int k = 0; k < N * R * C; k++)
        pix[k] = (unsigned char)(t_next(&rng) >> 56);
    pix[0] = 0;
    pix[1] = 255;
    const unsigned idims[3] = {N, R, C}, ldims[1] = {N};

    /* Raw and gzip files decode to the same bytes. */
    for (int gz = 0; gz < 2; gz++) {
        const char *ip = gz ? "ds_idx_images.idx3.gz" : "ds_idx_images.idx3";
        const char *lp = gz ? "ds_idx_labels.idx1.gz" : "ds_idx_labels.idx1";
        write_idx(ip, gz, 0x803, idims, 3, pix, sizeof pix);
        write_idx(lp, gz, 0x801, ldims, 1, lab, sizeof lab);
        int n = 0, r = 0, c = 0, nl = 0;
        unsigned char *p = NULL, *l = NULL;
        EXPECT(ds_read_idx_images(ip, &n, &r, &c, &p, msg, sizeof msg) == BL_OK, "%s: %s", ip, msg);
        EXPECT(n == N && r == R && c == C, "%s: sizes %d %d %d", ip, n, r, c);
        EXPECT(p && memcmp(p, pix, sizeof pix) == 0, "%s: pixels differ", ip);
        EXPECT(ds_read_idx_labels(lp, &nl, &l, msg, sizeof msg) == BL_OK, "%s: %s", lp, msg);
        EXPECT(nl == N && l && memcmp(l, lab, sizeof lab) == 0, "%s: labels differ", lp);
        /* Swapped kinds: bad magic. */
        int n2 = 0;
        unsigned char *l2 = NULL;
        EXPECT(ds_read_idx_labels(ip, &n2, &l2, msg, sizeof msg) == BL_EFORMAT && !l2 && n2 == 0,
               "%s as labels", ip);
        free(p);
        free(l);
    }
    /* Bigger than the reader's first 1 MiB buffer: the buffer grows. */
    {
        enum { BN = 3000, BR = 20, BC = 20 };
        unsigned char *big = malloc((size_t)BN * BR * BC);
        for (size_t k = 0; big && k < (size_t)BN * BR * BC; k++)
            big[k] = (unsigned char)(k * 2654435761u >> 13);
        const unsigned bd[3] = {BN, BR, BC};
        write_idx("ds_idx_big.idx3.gz", 1, 0x803, bd, 3, big, (size_t)BN * BR * BC);
        int n = 0, r = 0, c = 0;
        unsigned char *p = NULL;
        EXPECT(ds_read_idx_images("ds_idx_big.idx3.gz", &n, &r, &c, &p, msg, sizeof msg) == BL_OK,
               "big: %s", msg);
        EXPECT(n == BN && r == BR && c == BC && p && memcmp(p, big, (size_t)BN * BR * BC) == 0,
               "big: content");
        free(p);
        free(big);
    }

    /* A tiny Fashion-MNIST folder: training part gzip, test part raw. */
    mkdir("ds_idx_fashion", 0777);
    write_idx("ds_idx_fashion/train-images-idx3-ubyte.gz", 1, 0x803, idims, 3, pix, sizeof pix);
    write_idx("ds_idx_fashion/train-labels-idx1-ubyte.gz", 1, 0x801, ldims, 1, lab, sizeof lab);
    const unsigned tdims[3] = {2, R, C}, tl[1] = {2};
    write_idx("ds_idx_fashion/t10k-images-idx3-ubyte", 0, 0x803, tdims, 3, pix, 2 * R * C);
    write_idx("ds_idx_fashion/t10k-labels-idx1-ubyte", 0, 0x801, tl, 1, lab, 2);
    ds_set s, t, pair;
    EXPECT(ds_fashion_mnist("ds_idx_fashion", 1, &s, msg, sizeof msg) == BL_OK, "tiny train: %s", msg);
    EXPECT(s.n == N && s.d == R * C && s.X && s.cls && s.nclass == 10 && !s.rowptr, "tiny train: shape");
    for (int k = 0; s.X && k < N * R * C; k++)
        EXPECT(s.X[k] == pix[k] / 255.0, "tiny train: X[%d]", k);
    EXPECT(s.X && s.X[0] == 0.0 && s.X[1] == 1.0, "scaled to [0, 1]");
    for (int i = 0; s.cls && i < N; i++)
        EXPECT(s.cls[i] == lab[i] && s.y[i] == lab[i], "tiny train: label %d", i);
    EXPECT(ds_fashion_mnist("ds_idx_fashion", 0, &t, msg, sizeof msg) == BL_OK && t.n == 2 &&
               t.cls[1] == 6,
           "tiny test (raw files): %s", msg);
    ds_set_free(&t);

    /* Pair 0 (T-shirt/top) → +1 vs 6 (Shirt) → −1, in the original order. */
    EXPECT(ds_fashion_pair(&s, 0, 6, &pair, msg, sizeof msg) == BL_OK, "pair: %s", msg);
    {
        const int keep[] = {0, 1, 3, 4, 6};
        const double y[] = {1, -1, -1, 1, -1};
        EXPECT(pair.n == 5 && pair.d == R * C && pair.nclass == 2 && !pair.cls && pair.X,
               "pair: shape %d", pair.n);
        for (int i = 0; i < 5 && pair.n == 5; i++) {
            EXPECT(pair.y[i] == y[i], "pair: y[%d] = %g", i, pair.y[i]);
            EXPECT(memcmp(pair.X + i * R * C, s.X + keep[i] * R * C, R * C * sizeof(double)) == 0,
                   "pair: row %d", i);
        }
    }
    ds_set_free(&pair);
    EXPECT(ds_fashion_pair(&s, 0, 0, &pair, msg, sizeof msg) == BL_EINVAL, "pair of one class");
    EXPECT(ds_fashion_pair(&s, 0, 10, &pair, msg, sizeof msg) == BL_EINVAL, "class 10");
    EXPECT(ds_fashion_pair(&s, 0, 1, &pair, msg, sizeof msg) == BL_EINVAL && strstr(msg, "class 1"),
           "class without samples: %s", msg);
    ds_set_free(&s);

    /* Class names. */
    EXPECT(strcmp(ds_fashion_class_name(0), "T-shirt/top") == 0, "name 0");
    EXPECT(strcmp(ds_fashion_class_name(6), "Shirt") == 0, "name 6");
    EXPECT(strcmp(ds_fashion_class_name(9), "Ankle boot") == 0, "name 9");
    EXPECT(ds_fashion_class_name(-1) == NULL && ds_fashion_class_name(10) == NULL, "out of range");

    /* Bad arguments. */
    int n;
    unsigned char *p;
    EXPECT(ds_read_idx_labels(NULL, &n, &p, msg, sizeof msg) == BL_EINVAL, "NULL path");
    EXPECT(ds_read_idx_images("x", NULL, NULL, NULL, NULL, msg, sizeof msg) == BL_EINVAL, "NULL outs");
    EXPECT(ds_fashion_mnist(NULL, 1, &s, msg, sizeof msg) == BL_EINVAL, "NULL dir");
    return t_done();
}
