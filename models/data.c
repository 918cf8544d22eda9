/*
 * models/data.c — the ds_set container: free, CSR view, entry count,
 * allocation, densification and row subsets.
 *
 * Sizes: n samples, d features, nnz stored entries (CSR). X n×d row-major;
 * rowptr n+1; colind, val nnz; y n; cls n (multiclass sets only).
 */
#include "models/ds_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void ds_set_free(ds_set *s)
{
    if (!s)
        return;
    free(s->X);
    free(s->rowptr);
    free(s->colind);
    free(s->val);
    free(s->y);
    free(s->cls);
    memset(s, 0, sizeof *s);
}

ad_csr ds_csr(const ds_set *s)
{
    ad_csr c = {0, 0, NULL, NULL, NULL, 0};
    if (s) {
        c.rows = s->n;
        c.cols = s->d;
        c.rowptr = s->rowptr;
        c.colind = s->colind;
        c.val = s->val;
        c.checked = s->csr_token;
    }
    return c;
}

void ds_seal(ds_set *s)
{
    if (!s || s->X || !s->rowptr)
        return;
    ad_csr c = ds_csr(s);
    c.checked = 0;
    s->csr_token = ad_csr_check(&c, NULL, 0) == AD_OK ? c.checked : 0;
}

int64_t ds_nnz(const ds_set *s)
{
    if (!s)
        return 0;
    if (s->X)
        return (int64_t)s->n * s->d;
    return s->rowptr ? s->rowptr[s->n] : 0;
}

double ds__normal(ds_rng *r)
{
    double u = 1.0 - ds__uniform(r); /* (0, 1]: log(u) finite */
    double v = ds__uniform(r);
    return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

bl_status ds__alloc(ds_set *out, int n, int d, int dense, int64_t nnz, int withcls, char *msg,
                    size_t msglen)
{
    memset(out, 0, sizeof *out);
    if (n <= 0 || d <= 0)
        return ds__fail(msg, msglen, BL_EINVAL, "data set of %d samples x %d features: both must be >= 1",
                        n, d);
    if (dense && (int64_t)n * d > DS_MAX_ELEMS)
        return ds__fail(msg, msglen, BL_ENOMEM,
                        "dense data set of %d x %d = %lld elements exceeds the limit of %lld", n, d,
                        (long long)n * d, (long long)DS_MAX_ELEMS);
    if (!dense && (nnz < 0 || nnz > (int64_t)n * d || (uint64_t)nnz > SIZE_MAX / sizeof(double)))
        return ds__fail(msg, msglen, BL_ENOMEM, "sparse data set of %d x %d with %lld entries: out of range",
                        n, d, (long long)nnz);
    out->n = n;
    out->d = d;
    out->nclass = 2;
    out->y = malloc((size_t)n * sizeof *out->y);
    int ok = out->y != NULL;
    if (withcls) {
        out->cls = malloc((size_t)n * sizeof *out->cls);
        ok = ok && out->cls;
    }
    if (dense) {
        out->X = calloc((size_t)n * d, sizeof *out->X);
        ok = ok && out->X;
    } else {
        size_t m = nnz > 0 ? (size_t)nnz : 1;
        out->rowptr = calloc((size_t)n + 1, sizeof *out->rowptr);
        out->colind = malloc(m * sizeof *out->colind);
        out->val = malloc(m * sizeof *out->val);
        ok = ok && out->rowptr && out->colind && out->val;
    }
    if (!ok) {
        ds_set_free(out);
        return ds__fail(msg, msglen, BL_ENOMEM, "out of memory for a data set of %d x %d (%s, %lld entries)",
                        n, d, dense ? "dense" : "sparse", (long long)(dense ? (int64_t)n * d : nnz));
    }
    return BL_OK;
}

/* Checks the invariants a function reading s relies on. */
bl_status ds__check(const ds_set *s, const char *fn, char *msg, size_t msglen)
{
    if (!s)
        return ds__fail(msg, msglen, BL_EINVAL, "%s: data set is NULL", fn);
    if (s->n <= 0 || s->d <= 0 || !s->y || (!s->X && (!s->rowptr || !s->colind || !s->val)))
        return ds__fail(msg, msglen, BL_EINVAL, "%s: data set (%d x %d) is empty or incomplete", fn, s->n,
                        s->d);
    return BL_OK;
}

bl_status ds_densify(ds_set *s, char *msg, size_t msglen)
{
    bl_status st = ds__check(s, "ds_densify", msg, msglen);
    if (st != BL_OK)
        return st;
    if (s->X) {
        ds__ok(msg, msglen);
        return BL_OK;
    }
    if ((int64_t)s->n * s->d > DS_MAX_ELEMS)
        return ds__fail(msg, msglen, BL_ENOMEM,
                        "ds_densify: %d x %d = %lld elements exceeds the dense limit of %lld", s->n,
                        s->d, (long long)s->n * s->d, (long long)DS_MAX_ELEMS);
    double *X = calloc((size_t)s->n * s->d, sizeof *X);
    if (!X)
        return ds__fail(msg, msglen, BL_ENOMEM, "ds_densify: out of memory for %d x %d doubles", s->n,
                        s->d);
    for (int i = 0; i < s->n; i++)
        for (int64_t k = s->rowptr[i]; k < s->rowptr[i + 1]; k++) {
            int j = s->colind[k];
            if (j >= 0 && j < s->d)
                X[(size_t)i * s->d + j] = s->val[k];
        }
    free(s->rowptr);
    free(s->colind);
    free(s->val);
    s->rowptr = NULL;
    s->csr_token = 0;
    s->colind = NULL;
    s->val = NULL;
    s->X = X;
    ds__ok(msg, msglen);
    return BL_OK;
}

bl_status ds_subset(const ds_set *s, const int *idx, int n, ds_set *out, char *msg, size_t msglen)
{
    if (!out)
        return ds__fail(msg, msglen, BL_EINVAL, "ds_subset: out is NULL");
    memset(out, 0, sizeof *out);
    bl_status st = ds__check(s, "ds_subset", msg, msglen);
    if (st != BL_OK)
        return st;
    if (!idx || n <= 0)
        return ds__fail(msg, msglen, BL_EINVAL, "ds_subset: need n >= 1 indices (got %d%s)", n,
                        idx ? "" : ", idx NULL");
    int64_t nnz = 0;
    for (int i = 0; i < n; i++) {
        if (idx[i] < 0 || idx[i] >= s->n)
            return ds__fail(msg, msglen, BL_EINVAL, "ds_subset: idx[%d] = %d outside [0, %d)", i, idx[i],
                            s->n);
        if (!s->X)
            nnz += s->rowptr[idx[i] + 1] - s->rowptr[idx[i]];
    }
    st = ds__alloc(out, n, s->d, s->X != NULL, nnz, s->cls != NULL, msg, msglen);
    if (st != BL_OK)
        return st;
    out->nclass = s->nclass;
    int64_t at = 0;
    for (int i = 0; i < n; i++) {
        int r = idx[i];
        out->y[i] = s->y[r];
        if (s->cls)
            out->cls[i] = s->cls[r];
        if (s->X) {
            memcpy(out->X + (size_t)i * s->d, s->X + (size_t)r * s->d, (size_t)s->d * sizeof *out->X);
        } else {
            int64_t k0 = s->rowptr[r], len = s->rowptr[r + 1] - k0;
            if (len > 0) {
                memcpy(out->colind + at, s->colind + k0, (size_t)len * sizeof *out->colind);
                memcpy(out->val + at, s->val + k0, (size_t)len * sizeof *out->val);
            }
            at += len;
            out->rowptr[i + 1] = at;
        }
    }
    ds_seal(out);
    ds__ok(msg, msglen);
    return BL_OK;
}

bl_status ds_head(const ds_set *s, int k, ds_set *out, char *msg, size_t msglen)
{
    if (!out)
        return ds__fail(msg, msglen, BL_EINVAL, "ds_head: out is NULL");
    memset(out, 0, sizeof *out);
    bl_status st = ds__check(s, "ds_head", msg, msglen);
    if (st != BL_OK)
        return st;
    if (k <= 0 || k > s->n)
        return ds__fail(msg, msglen, BL_EINVAL, "ds_head: k = %d outside [1, %d]", k, s->n);
    int *idx = malloc((size_t)k * sizeof *idx);
    if (!idx)
        return ds__fail(msg, msglen, BL_ENOMEM, "ds_head: out of memory for %d indices", k);
    for (int i = 0; i < k; i++)
        idx[i] = i;
    st = ds_subset(s, idx, k, out, msg, msglen);
    free(idx);
    return st;
}
