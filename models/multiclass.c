/*
 * models/multiclass.c — the class map of multiclass data sets and the IDX
 * image/label pair reader (hypertape/models/multiclass.h); the LIBSVM
 * multiclass reader shares the LIBSVM parser in libsvm.c.
 *
 * Sizes: n samples, d = rows·cols pixels, c = cl->n ≤ DS_MAX_CLASSES.
 */
#include "models/ds_internal.h"

#include <hypertape/models/multiclass.h>

#include <stdlib.h>
#include <string.h>

int ds_classes_find(const ds_classes *cl, int v)
{
    if (!cl)
        return -1;
    int lo = ds__classes_lower(cl, v);
    return lo < cl->n && cl->value[lo] == v ? lo : -1;
}

/* The class of each label byte under *cl (learnt from lab when cl->n == 0,
 * into *use); fails naming the labels file and the byte offset. */
static bl_status map_bytes(const unsigned char *lab, int n, const ds_classes *cl, ds_classes *use,
                           const char *lpath, char *msg, size_t msglen)
{
    if (cl->n > 0) {
        *use = *cl;
        for (int i = 0; i < n; i++)
            if (ds_classes_find(cl, lab[i]) < 0)
                return ds__fail(msg, msglen, BL_EFORMAT,
                                "%s: label %d at byte offset %d is not a class of the training set "
                                "(%d classes)", lpath, lab[i], 8 + i, cl->n);
        return BL_OK;
    }
    int seen[256] = {0};
    for (int i = 0; i < n; i++)
        seen[lab[i]] = 1;
    use->n = 0;
    for (int v = 0; v < 256; v++)
        if (seen[v])
            use->value[use->n++] = v;
    return BL_OK;
}

bl_status ds_read_idx_multiclass(const char *images, const char *labels, ds_classes *cl,
                                 ds_set *out, char *msg, size_t msglen)
{
    if (!out)
        return ds__fail(msg, msglen, BL_EINVAL, "ds_read_idx_multiclass: out is NULL");
    memset(out, 0, sizeof *out);
    if (!images || !labels || !cl || cl->n < 0 || cl->n > DS_MAX_CLASSES)
        return ds__fail(msg, msglen, BL_EINVAL,
                        "ds_read_idx_multiclass: need both paths and cl with n in [0, %d]",
                        DS_MAX_CLASSES);
    unsigned char *pix = NULL, *lab = NULL;
    int n = 0, rows = 0, cols = 0, nl = 0;
    ds_classes *use = malloc(sizeof *use);
    bl_status st = use ? BL_OK
                       : ds__fail(msg, msglen, BL_ENOMEM, "ds_read_idx_multiclass: out of memory");
    if (st == BL_OK)
        st = ds_read_idx_images(images, &n, &rows, &cols, &pix, msg, msglen);
    if (st == BL_OK)
        st = ds_read_idx_labels(labels, &nl, &lab, msg, msglen);
    if (st == BL_OK && nl != n)
        st = ds__fail(msg, msglen, BL_EFORMAT, "%s: %d labels, but %s holds %d images", labels, nl,
                      images, n);
    if (st == BL_OK)
        st = map_bytes(lab, n, cl, use, labels, msg, msglen);
    int64_t d = (int64_t)rows * cols;
    if (st == BL_OK && d > INT32_MAX)
        st = ds__fail(msg, msglen, BL_ENOMEM, "%s: images of %d x %d pixels are too large", images,
                      rows, cols);
    if (st == BL_OK)
        st = ds__alloc(out, n, (int)d, 1, 0, 1, msg, msglen);
    if (st == BL_OK) {
        size_t total = (size_t)n * (size_t)d;
        for (size_t k = 0; k < total; k++)
            out->X[k] = pix[k] / 255.0;
        for (int i = 0; i < n; i++) {
            out->cls[i] = ds_classes_find(use, lab[i]);
            out->y[i] = out->cls[i];
        }
        out->nclass = use->n;
        *cl = *use;
        ds__ok(msg, msglen);
    }
    free(use);
    free(pix);
    free(lab);
    return st;
}
