/*
 * models/fashion.c — Fashion-MNIST (Xiao, Rasul & Vollgraf 2017) as ds_sets:
 * the class names, the multiclass loader and binary pairs of classes.
 *
 * Sizes: n samples (60000 train, 10000 test), d = rows·cols = 784 pixels.
 */
#include "models/ds_internal.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const class_names[DS_FASHION_NCLASS] = {
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot",
};
_Static_assert(sizeof class_names / sizeof class_names[0] == DS_FASHION_NCLASS,
               "class name table out of step");

const char *ds_fashion_class_name(int k)
{
    return (k >= 0 && k < DS_FASHION_NCLASS) ? class_names[k] : NULL;
}

/* dir/base.gz when it exists, else dir/base: a malloc'ed path or NULL. */
static char *find_file(const char *dir, const char *base)
{
    size_t len = strlen(dir) + strlen(base) + 8;
    char *p = malloc(len);
    if (!p)
        return NULL;
    snprintf(p, len, "%s/%s.gz", dir, base);
    if (access(p, F_OK) != 0)
        snprintf(p, len, "%s/%s", dir, base);
    return p;
}

bl_status ds_fashion_mnist(const char *dir, int train, ds_set *out, char *msg, size_t msglen)
{
    if (!out)
        return ds__fail(msg, msglen, BL_EINVAL, "ds_fashion_mnist: out is NULL");
    memset(out, 0, sizeof *out);
    if (!dir)
        return ds__fail(msg, msglen, BL_EINVAL, "ds_fashion_mnist: dir is NULL");
    const char *pre = train ? "train" : "t10k";
    char ibase[40], lbase[40];
    snprintf(ibase, sizeof ibase, "%s-images-idx3-ubyte", pre);
    snprintf(lbase, sizeof lbase, "%s-labels-idx1-ubyte", pre);
    char *ipath = find_file(dir, ibase), *lpath = find_file(dir, lbase);
    unsigned char *pix = NULL, *lab = NULL;
    int n = 0, rows = 0, cols = 0, nl = 0;
    bl_status st = BL_OK;
    if (!ipath || !lpath) {
        st = ds__fail(msg, msglen, BL_ENOMEM, "ds_fashion_mnist: out of memory");
        goto done;
    }
    st = ds_read_idx_images(ipath, &n, &rows, &cols, &pix, msg, msglen);
    if (st != BL_OK)
        goto done;
    st = ds_read_idx_labels(lpath, &nl, &lab, msg, msglen);
    if (st != BL_OK)
        goto done;
    if (nl != n) {
        st = ds__fail(msg, msglen, BL_EFORMAT, "%s: %d labels, but %s holds %d images", lpath, nl,
                      ipath, n);
        goto done;
    }
    for (int i = 0; i < n; i++)
        if (lab[i] >= DS_FASHION_NCLASS) {
            st = ds__fail(msg, msglen, BL_EFORMAT, "%s: label %d at byte offset %d is not in 0..%d",
                          lpath, lab[i], 8 + i, DS_FASHION_NCLASS - 1);
            goto done;
        }
    int64_t d = (int64_t)rows * cols;
    if (d > INT32_MAX) {
        st = ds__fail(msg, msglen, BL_ENOMEM, "%s: images of %d x %d pixels are too large", ipath,
                      rows, cols);
        goto done;
    }
    st = ds__alloc(out, n, (int)d, 1, 0, 1, msg, msglen);
    if (st != BL_OK)
        goto done;
    out->nclass = DS_FASHION_NCLASS;
    size_t total = (size_t)n * (size_t)d;
    for (size_t k = 0; k < total; k++)
        out->X[k] = pix[k] / 255.0;
    for (int i = 0; i < n; i++) {
        out->cls[i] = lab[i];
        out->y[i] = lab[i];
    }
    ds__ok(msg, msglen);
done:
    free(ipath);
    free(lpath);
    free(pix);
    free(lab);
    return st;
}

bl_status ds_fashion_pair(const ds_set *full, int class_a, int class_b, ds_set *out, char *msg,
                          size_t msglen)
{
    if (!out)
        return ds__fail(msg, msglen, BL_EINVAL, "ds_fashion_pair: out is NULL");
    memset(out, 0, sizeof *out);
    bl_status st = ds__check(full, "ds_fashion_pair", msg, msglen);
    if (st != BL_OK)
        return st;
    if (!full->cls)
        return ds__fail(msg, msglen, BL_EINVAL, "ds_fashion_pair: the set has no class labels (cls)");
    if (class_a < 0 || class_a >= full->nclass || class_b < 0 || class_b >= full->nclass ||
        class_a == class_b)
        return ds__fail(msg, msglen, BL_EINVAL,
                        "ds_fashion_pair: classes %d and %d must differ and lie in [0, %d)", class_a,
                        class_b, full->nclass);
    int na = 0, nb = 0;
    for (int i = 0; i < full->n; i++) {
        na += full->cls[i] == class_a;
        nb += full->cls[i] == class_b;
    }
    if (na == 0 || nb == 0)
        return ds__fail(msg, msglen, BL_EINVAL, "ds_fashion_pair: class %d has no samples",
                        na == 0 ? class_a : class_b);
    int *idx = malloc((size_t)(na + nb) * sizeof *idx);
    if (!idx)
        return ds__fail(msg, msglen, BL_ENOMEM, "ds_fashion_pair: out of memory");
    int m = 0;
    for (int i = 0; i < full->n; i++)
        if (full->cls[i] == class_a || full->cls[i] == class_b)
            idx[m++] = i;
    st = ds_subset(full, idx, m, out, msg, msglen);
    if (st == BL_OK) {
        for (int i = 0; i < m; i++)
            out->y[i] = out->cls[i] == class_a ? 1.0 : -1.0;
        free(out->cls);
        out->cls = NULL;
        out->nclass = 2;
    }
    free(idx);
    return st;
}
