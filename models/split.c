/*
 * models/split.c — seeded train/validation/test splits and standardisation
 * (fitted on the training part, applied to every part).
 *
 * Sizes: n samples, d features; mean, sd: d.
 */
#include "models/ds_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Stream tag of the split permutation (see ds__stream). */
#define TAG_SPLIT 0x53504c4954ULL /* "SPLIT" */

static int part_size(double frac, int n)
{
    double v = floor(frac * n + 0.5);
    return v < 0 ? 0 : v > n ? n : (int)v;
}

bl_status ds_split(const ds_set *s, double frac_a, double frac_b, uint64_t seed, ds_set *a,
                   ds_set *b, ds_set *c, char *msg, size_t msglen)
{
    if (a)
        memset(a, 0, sizeof *a);
    if (b)
        memset(b, 0, sizeof *b);
    if (c)
        memset(c, 0, sizeof *c);
    if (!a || !b)
        return ds__fail(msg, msglen, BL_EINVAL, "ds_split: parts a and b must not be NULL");
    if (a == b || a == c || b == c || (const ds_set *)a == s || (const ds_set *)b == s ||
        (const ds_set *)c == s)
        return ds__fail(msg, msglen, BL_EINVAL, "ds_split: the parts and the input must be distinct");
    bl_status st = ds__check(s, "ds_split", msg, msglen);
    if (st != BL_OK)
        return st;
    if (!(frac_a >= 0 && frac_b >= 0 && frac_a + frac_b <= 1 + 1e-12))
        return ds__fail(msg, msglen, BL_EINVAL,
                        "ds_split: fractions %g and %g must be >= 0 with a sum <= 1", frac_a, frac_b);
    int n = s->n, na = part_size(frac_a, n), nb = part_size(frac_b, n);
    if (nb > n - na)
        nb = n - na;
    int nc = n - na - nb;
    if (na == 0 || nb == 0 || (c && nc == 0))
        return ds__fail(msg, msglen, BL_EINVAL,
                        "ds_split: %d samples split as %d / %d / %d: part %s would be empty%s", n, na,
                        nb, nc, na == 0 ? "a" : nb == 0 ? "b" : "c",
                        (na && nb) ? " (pass c = NULL to drop the rest)" : "");
    int *perm = malloc((size_t)n * sizeof *perm);
    if (!perm)
        return ds__fail(msg, msglen, BL_ENOMEM, "ds_split: out of memory for %d indices", n);
    for (int i = 0; i < n; i++)
        perm[i] = i;
    ds_rng r = ds__stream(seed, TAG_SPLIT, 0);
    for (int i = n - 1; i > 0; i--) { /* Fisher–Yates */
        int j = (int)ds__below(&r, (uint32_t)i + 1);
        int t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    st = ds_subset(s, perm, na, a, msg, msglen);
    if (st == BL_OK)
        st = ds_subset(s, perm + na, nb, b, msg, msglen);
    if (st == BL_OK && c)
        st = ds_subset(s, perm + na + nb, nc, c, msg, msglen);
    free(perm);
    if (st != BL_OK) {
        ds_set_free(a);
        ds_set_free(b);
        ds_set_free(c);
    }
    return st;
}

bl_status ds_standardize_fit(const ds_set *train, double *mean, double *sd, char *msg,
                             size_t msglen)
{
    bl_status st = ds__check(train, "ds_standardize_fit", msg, msglen);
    if (st != BL_OK)
        return st;
    if (!mean || !sd)
        return ds__fail(msg, msglen, BL_EINVAL, "ds_standardize_fit: mean and sd must not be NULL");
    int n = train->n, d = train->d;
    /* Per feature: first value seen, whether another value differs, and
     * (sparse) how many entries are stored. */
    double *first = malloc((size_t)d * sizeof *first);
    int64_t *count = calloc((size_t)d, sizeof *count);
    unsigned char *varies = calloc((size_t)d, 1);
    if (!first || !count || !varies) {
        free(first);
        free(count);
        free(varies);
        return ds__fail(msg, msglen, BL_ENOMEM, "ds_standardize_fit: out of memory for the per-feature scratch "
                        "(first value, count, flag) of d = %d features", d);
    }
    for (int j = 0; j < d; j++)
        mean[j] = sd[j] = 0;
    if (train->X) {
        const double *X = train->X;
        for (int j = 0; j < d; j++)
            first[j] = X[j];
        for (int i = 0; i < n; i++) {
            const double *x = X + (size_t)i * d;
            for (int j = 0; j < d; j++) {
                mean[j] += x[j];
                varies[j] |= x[j] != first[j];
            }
        }
        for (int j = 0; j < d; j++)
            mean[j] /= n;
        for (int i = 0; i < n; i++) {
            const double *x = X + (size_t)i * d;
            for (int j = 0; j < d; j++)
                sd[j] += (x[j] - mean[j]) * (x[j] - mean[j]);
        }
        for (int j = 0; j < d; j++)
            count[j] = n;
    } else {
        int64_t nnz = train->rowptr[n];
        for (int64_t k = 0; k < nnz; k++) {
            int j = train->colind[k];
            if (j < 0 || j >= d)
                continue;
            if (count[j] == 0)
                first[j] = train->val[k];
            varies[j] |= train->val[k] != first[j];
            count[j]++;
            mean[j] += train->val[k];
        }
        for (int j = 0; j < d; j++)
            mean[j] /= n;
        for (int64_t k = 0; k < nnz; k++) {
            int j = train->colind[k];
            if (j >= 0 && j < d)
                sd[j] += (train->val[k] - mean[j]) * (train->val[k] - mean[j]);
        }
        for (int j = 0; j < d; j++) {
            sd[j] += (double)(n - count[j]) * mean[j] * mean[j]; /* the implicit zeros */
            if (count[j] == 0)
                first[j] = 0;
            else if (count[j] < n && first[j] != 0)
                varies[j] = 1; /* stored values differ from the implicit zeros */
        }
    }
    st = BL_OK;
    for (int j = 0; j < d; j++) {
        if (!isfinite(mean[j]) || !isfinite(sd[j])) {
            st = ds__fail(msg, msglen, BL_ENONFINITE,
                          "ds_standardize_fit: feature %d has non-finite values (mean %g)", j, mean[j]);
            break;
        }
        if (!varies[j])
            mean[j] = first[j]; /* exactly the constant: centring gives exact zeros */
        sd[j] = varies[j] ? sqrt(sd[j] / n) : 1.0;
        if (!(sd[j] > 0))
            sd[j] = 1.0;
    }
    free(first);
    free(count);
    free(varies);
    if (st == BL_OK)
        ds__ok(msg, msglen);
    return st;
}

bl_status ds_standardize_apply(ds_set *s, const double *mean, const double *sd, char *msg,
                               size_t msglen)
{
    bl_status st = ds__check(s, "ds_standardize_apply", msg, msglen);
    if (st != BL_OK)
        return st;
    if (!s->X)
        return ds__fail(msg, msglen, BL_EINVAL,
                        "ds_standardize_apply: the set (%d x %d) is sparse; centring would fill it "
                        "(ds_densify first)",
                        s->n, s->d);
    if (!mean || !sd)
        return ds__fail(msg, msglen, BL_EINVAL, "ds_standardize_apply: mean and sd must not be NULL");
    int d = s->d;
    for (int j = 0; j < d; j++)
        if (!isfinite(mean[j]) || !isfinite(sd[j]) || !(sd[j] > 0))
            return ds__fail(msg, msglen, BL_EINVAL,
                            "ds_standardize_apply: feature %d has mean %g, sd %g (need finite, sd > 0)",
                            j, mean[j], sd[j]);
    for (int i = 0; i < s->n; i++) {
        double *x = s->X + (size_t)i * d;
        for (int j = 0; j < d; j++)
            x[j] = (x[j] - mean[j]) / sd[j];
    }
    ds__ok(msg, msglen);
    return BL_OK;
}
