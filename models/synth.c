/*
 * models/synth.c — seeded synthetic data sets: IJCNN1-shaped dense binary
 * data and a large sparse binary set.
 *
 * Every random draw comes from splitmix64 streams (ds__stream): the hidden
 * model from one stream, sample i of a part from its own stream, so the
 * output depends only on the seed and a smaller call yields a prefix.
 *
 * Sizes: n samples, d features; w* d (hidden weights); M d×d (mixing).
 */
#include "models/ds_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Stream tags. */
enum {
    TAG_IJ_MODEL = 0x494a4d, /* "IJM" */
    TAG_IJ_PILOT,
    TAG_IJ_TRAIN,
    TAG_IJ_VAL,
    TAG_SP_MODEL = 0x53504d, /* "SPM" */
    TAG_SP_ROW,
};

static double sigmoid(double t)
{
    return t >= 0 ? 1.0 / (1.0 + exp(-t)) : exp(t) / (1.0 + exp(t));
}

/* ----------------------------------------------------------------- IJCNN1 */

#define IJ_D DS_IJCNN1_D
#define IJ_IRRELEVANT 6   /* features with w*_j = 0 */
#define IJ_MARGIN_SD 3.0  /* standard deviation of w*·x over the population */
#define IJ_PILOT 4096     /* samples used to scale w* to that margin */

typedef struct ij_model {
    double M[IJ_D][IJ_D]; /* x = tanh(a ∘ (M z)), z ~ N(0, I) */
    double a[IJ_D];       /* per-feature scales in [0.3, 1.5] */
    double w[IJ_D];       /* hidden weights */
} ij_model;

/* One sample from rng r: x (IJ_D) and its margin w*·x. */
static double ij_sample(const ij_model *m, ds_rng *r, double *x)
{
    double z[IJ_D];
    for (int k = 0; k < IJ_D; k++)
        z[k] = ds__normal(r);
    double t = 0;
    for (int j = 0; j < IJ_D; j++) {
        double u = 0;
        for (int k = 0; k < IJ_D; k++)
            u += m->M[j][k] * z[k];
        x[j] = tanh(m->a[j] * u);
        t += m->w[j] * x[j];
    }
    return t;
}

static void ij_model_init(ij_model *m, uint64_t seed)
{
    ds_rng r = ds__stream(seed, TAG_IJ_MODEL, 0);
    for (int j = 0; j < IJ_D; j++)
        for (int k = 0; k < IJ_D; k++)
            m->M[j][k] = (j == k) + 0.35 * ds__normal(&r) / sqrt((double)IJ_D);
    for (int j = 0; j < IJ_D; j++)
        m->a[j] = 0.3 + 1.2 * ds__uniform(&r);
    for (int j = 0; j < IJ_D; j++)
        m->w[j] = ds__normal(&r);
    /* Zero IJ_IRRELEVANT weights chosen by a partial Fisher–Yates shuffle. */
    int perm[IJ_D];
    for (int j = 0; j < IJ_D; j++)
        perm[j] = j;
    for (int j = 0; j < IJ_IRRELEVANT; j++) {
        int k = j + (int)ds__below(&r, (uint32_t)(IJ_D - j));
        int t = perm[j];
        perm[j] = perm[k];
        perm[k] = t;
        m->w[perm[j]] = 0;
    }
    /* Scale w* so that the margin has standard deviation IJ_MARGIN_SD. */
    double s1 = 0, s2 = 0, x[IJ_D];
    for (int i = 0; i < IJ_PILOT; i++) {
        ds_rng p = ds__stream(seed, TAG_IJ_PILOT, (uint64_t)i);
        double t = ij_sample(m, &p, x);
        s1 += t;
        s2 += t * t;
    }
    double var = s2 / IJ_PILOT - (s1 / IJ_PILOT) * (s1 / IJ_PILOT);
    double scale = var > 0 ? IJ_MARGIN_SD / sqrt(var) : 1.0;
    for (int j = 0; j < IJ_D; j++)
        m->w[j] *= scale;
}

static void ij_fill(const ij_model *m, uint64_t seed, uint64_t tag, ds_set *s)
{
    for (int i = 0; i < s->n; i++) {
        ds_rng r = ds__stream(seed, tag, (uint64_t)i);
        double t = ij_sample(m, &r, s->X + (size_t)i * IJ_D);
        s->y[i] = ds__uniform(&r) < sigmoid(t) ? 1.0 : -1.0;
    }
}

bl_status ds_synth_ijcnn1(uint64_t seed, int n_train, int n_val, ds_set *train, ds_set *val,
                          char *msg, size_t msglen)
{
    if (train)
        memset(train, 0, sizeof *train);
    if (val)
        memset(val, 0, sizeof *val);
    if (!train || !val || train == val)
        return ds__fail(msg, msglen, BL_EINVAL, "ds_synth_ijcnn1: train and val must be distinct sets");
    if (n_train <= 0 || n_val <= 0)
        return ds__fail(msg, msglen, BL_EINVAL, "ds_synth_ijcnn1: sizes %d and %d must be >= 1",
                        n_train, n_val);
    ij_model *m = malloc(sizeof *m);
    if (!m)
        return ds__fail(msg, msglen, BL_ENOMEM, "ds_synth_ijcnn1: out of memory for the generator model (%zu bytes)",
                        sizeof *m);
    bl_status st = ds__alloc(train, n_train, IJ_D, 1, 0, 0, msg, msglen);
    if (st == BL_OK)
        st = ds__alloc(val, n_val, IJ_D, 1, 0, 0, msg, msglen);
    if (st != BL_OK) {
        ds_set_free(train);
        free(m);
        return st;
    }
    ij_model_init(m, seed);
    ij_fill(m, seed, TAG_IJ_TRAIN, train);
    ij_fill(m, seed, TAG_IJ_VAL, val);
    free(m);
    ds__ok(msg, msglen);
    return BL_OK;
}

/* ----------------------------------------------------------------- sparse */

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* k distinct columns of [0, d), increasing, into cols. stamp (d ints) marks
 * the columns taken in the current row with the value mark. */
static void pick_columns(ds_rng *r, int d, int k, int *cols, int *stamp, int mark)
{
    if ((int64_t)k * 32 > d) { /* selection sampling (Knuth's algorithm S) */
        int m = 0;
        for (int j = 0; j < d && m < k; j++)
            if ((double)(d - j) * ds__uniform(r) < (double)(k - m))
                cols[m++] = j;
        return;
    }
    for (int m = 0; m < k;) { /* rejection: duplicates are rare at this density */
        int j = (int)ds__below(r, (uint32_t)d);
        if (stamp[j] != mark) {
            stamp[j] = mark;
            cols[m++] = j;
        }
    }
    qsort(cols, (size_t)k, sizeof *cols, cmp_int);
}

bl_status ds_synth_sparse(uint64_t seed, int n, int d, double density, ds_set *out, char *msg,
                          size_t msglen)
{
    if (!out)
        return ds__fail(msg, msglen, BL_EINVAL, "ds_synth_sparse: out is NULL");
    memset(out, 0, sizeof *out);
    if (n <= 0 || d <= 0 || !(density > 0 && density <= 1))
        return ds__fail(msg, msglen, BL_EINVAL,
                        "ds_synth_sparse: need n, d >= 1 and density in (0, 1] (got %d, %d, %g)", n, d,
                        density);
    double kd = density * d;
    int kfloor = (int)floor(kd);
    double kfrac = kd - kfloor;
    int kmax = kfloor + (kfrac > 0);
    if (kmax > d)
        kmax = d;
    int64_t cap = (int64_t)n * kmax;
    bl_status st = ds__alloc(out, n, d, 0, cap, 0, msg, msglen);
    if (st != BL_OK)
        return st;
    double *w = malloc((size_t)d * sizeof *w);
    int *stamp = malloc((size_t)d * sizeof *stamp);
    if (!w || !stamp) {
        free(w);
        free(stamp);
        ds_set_free(out);
        return ds__fail(msg, msglen, BL_ENOMEM, "ds_synth_sparse: out of memory for the hidden weights and "
                        "column stamps (d = %d)", d);
    }
    ds_rng r = ds__stream(seed, TAG_SP_MODEL, 0);
    for (int j = 0; j < d; j++) {
        w[j] = ds__normal(&r);
        stamp[j] = -1;
    }
    double scale = 2.0 / sqrt(kd > 1 ? kd : 1.0); /* margin sd about 2 */
    int64_t at = 0;
    for (int i = 0; i < n; i++) {
        ds_rng ri = ds__stream(seed, TAG_SP_ROW, (uint64_t)i);
        int k = kfloor + (ds__uniform(&ri) < kfrac);
        if (k > d)
            k = d;
        int *cols = out->colind + at;
        pick_columns(&ri, d, k, cols, stamp, i);
        double t = 0;
        for (int m = 0; m < k; m++) {
            double v = ds__normal(&ri);
            out->val[at + m] = v;
            t += w[cols[m]] * v;
        }
        at += k;
        out->rowptr[i + 1] = at;
        out->y[i] = ds__uniform(&ri) < sigmoid(scale * t) ? 1.0 : -1.0;
    }
    free(w);
    free(stamp);
    if (at < cap && at > 0) { /* give back the rows drawn short */
        int *ci = realloc(out->colind, (size_t)at * sizeof *ci);
        if (ci)
            out->colind = ci;
        double *v = realloc(out->val, (size_t)at * sizeof *v);
        if (v)
            out->val = v;
    }
    ds_seal(out);
    ds__ok(msg, msglen);
    return BL_OK;
}
