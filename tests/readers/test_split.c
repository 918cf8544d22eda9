/*
 * tests/readers/test_split.c — ds_split (sizes, disjointness, cover,
 * determinism), ds_subset / ds_head, standardisation fitted on the training
 * part (mean 0 / sd 1 there, constant features sd 1, same maps applied to
 * the other parts), dense and sparse.
 */
#include <hypertape/models/data.h>
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

enum { N = 101, D = 5 };

/* A dense set whose feature 0 is the sample id; feature 2 is constant. */
static void make_dense(ds_set *s)
{
    memset(s, 0, sizeof *s);
    s->n = N;
    s->d = D;
    s->nclass = 2;
    s->X = malloc(sizeof(double) * N * D);
    s->y = malloc(sizeof(double) * N);
    t_rng r = {5};
    for (int i = 0; i < N; i++) {
        double *x = s->X + i * D;
        x[0] = i;
        x[1] = 1000 + 3 * t_normal(&r);
        x[2] = 0.1;
        x[3] = t_uniform(&r, -1, 1) < 0 ? 0 : t_normal(&r); /* half zeros */
        x[4] = 1e-3 * t_normal(&r);
        s->y[i] = i % 3 ? 1 : -1;
    }
}

/* The CSR copy of a dense set, dropping zeros. */
static void make_sparse(const ds_set *d, ds_set *s)
{
    memset(s, 0, sizeof *s);
    s->n = d->n;
    s->d = d->d;
    s->nclass = 2;
    s->rowptr = calloc((size_t)d->n + 1, sizeof *s->rowptr);
    s->colind = malloc(sizeof(int) * d->n * d->d);
    s->val = malloc(sizeof(double) * d->n * d->d);
    s->y = malloc(sizeof(double) * d->n);
    int64_t k = 0;
    for (int i = 0; i < d->n; i++) {
        for (int j = 0; j < d->d; j++)
            if (d->X[i * d->d + j] != 0) {
                s->colind[k] = j;
                s->val[k++] = d->X[i * d->d + j];
            }
        s->rowptr[i + 1] = k;
        s->y[i] = d->y[i];
    }
}

/* Sample id of row i (feature 0; 0 when not stored). */
static int row_id(const ds_set *s, int i)
{
    if (s->X)
        return (int)s->X[i * s->d];
    return (s->rowptr[i + 1] > s->rowptr[i] && s->colind[s->rowptr[i]] == 0) ? (int)s->val[s->rowptr[i]]
                                                                              : 0;
}

static void check_split(const ds_set *s, const char *what)
{
    char msg[256];
    ds_set a, b, c, a2, b2, c2;
    EXPECT(ds_split(s, 0.6, 0.2, 42, &a, &b, &c, msg, sizeof msg) == BL_OK, "%s: %s", what, msg);
    EXPECT(a.n == 61 && b.n == 20 && c.n == 20, "%s: sizes %d %d %d", what, a.n, b.n, c.n);
    int seen[N] = {0}, ok = 1;
    const ds_set *parts[3] = {&a, &b, &c};
    for (int p = 0; p < 3; p++)
        for (int i = 0; i < parts[p]->n; i++) {
            int id = row_id(parts[p], i);
            ok &= id >= 0 && id < N;
            if (id >= 0 && id < N) {
                seen[id]++;
                ok &= parts[p]->y[i] == s->y[id];
            }
        }
    int cover = 1;
    for (int i = 0; i < N; i++)
        cover &= seen[i] == 1;
    EXPECT(ok && cover, "%s: parts are disjoint and cover the set", what);
    EXPECT(a.X == NULL ? (a.rowptr != NULL) : (a.rowptr == NULL), "%s: storage kind kept", what);
    /* Deterministic per seed; another seed gives another permutation. */
    EXPECT(ds_split(s, 0.6, 0.2, 42, &a2, &b2, &c2, msg, sizeof msg) == BL_OK, "%s again", what);
    int same = 1;
    for (int i = 0; i < a.n; i++)
        same &= row_id(&a, i) == row_id(&a2, i);
    EXPECT(same, "%s: same seed, same split", what);
    ds_set_free(&a2);
    ds_set_free(&b2);
    ds_set_free(&c2);
    EXPECT(ds_split(s, 0.6, 0.2, 43, &a2, &b2, &c2, msg, sizeof msg) == BL_OK, "%s seed 43", what);
    same = 1;
    for (int i = 0; i < a.n; i++)
        same &= row_id(&a, i) == row_id(&a2, i);
    EXPECT(!same, "%s: another seed, another split", what);
    ds_set_free(&a2);
    ds_set_free(&b2);
    ds_set_free(&c2);
    ds_set_free(&a);
    ds_set_free(&b);
    ds_set_free(&c);
    /* c = NULL drops the rest; a two-way split needs c NULL. */
    EXPECT(ds_split(s, 0.5, 0.25, 1, &a, &b, NULL, msg, sizeof msg) == BL_OK && a.n == 51 && b.n == 25,
           "%s: drop the rest (%d, %d)", what, a.n, b.n);
    ds_set_free(&a);
    ds_set_free(&b);
    EXPECT(ds_split(s, 0.5, 0.5, 1, &a, &b, &c, msg, sizeof msg) == BL_EINVAL && c.n == 0 && a.n == 0,
           "%s: empty c rejected: %s", what, msg);
    EXPECT(ds_split(s, 0.8, 0.3, 1, &a, &b, NULL, msg, sizeof msg) == BL_EINVAL, "%s: sum > 1", what);
    EXPECT(ds_split(s, 0.0, 0.3, 1, &a, &b, NULL, msg, sizeof msg) == BL_EINVAL, "%s: empty a", what);
    EXPECT(ds_split(s, 0.5, 0.3, 1, &a, &a, NULL, msg, sizeof msg) == BL_EINVAL, "%s: aliasing", what);
}

int main(void)
{
    char msg[256];
    ds_set dense, sparse;
    make_dense(&dense);
    make_sparse(&dense, &sparse);
    check_split(&dense, "dense");
    check_split(&sparse, "sparse");

    /* Subsets: any order, repeats; head. */
    {
        const int idx[] = {7, 3, 7, 100};
        ds_set a, b;
        EXPECT(ds_subset(&sparse, idx, 4, &a, msg, sizeof msg) == BL_OK, "subset: %s", msg);
        EXPECT(ds_subset(&dense, idx, 4, &b, msg, sizeof msg) == BL_OK, "subset dense: %s", msg);
        EXPECT(a.n == 4 && row_id(&a, 0) == 7 && row_id(&a, 1) == 3 && row_id(&a, 2) == 7 &&
                   row_id(&a, 3) == 100,
               "subset rows");
        EXPECT(ds_densify(&a, msg, sizeof msg) == BL_OK &&
                   memcmp(a.X, b.X, sizeof(double) * 4 * D) == 0,
               "sparse subset densified = dense subset");
        ds_set_free(&a);
        ds_set_free(&b);
        const int badidx[] = {0, 101};
        EXPECT(ds_subset(&dense, badidx, 2, &a, msg, sizeof msg) == BL_EINVAL && a.X == NULL,
               "index out of range: %s", msg);
        EXPECT(ds_head(&sparse, 10, &a, msg, sizeof msg) == BL_OK && a.n == 10 && row_id(&a, 9) == 9,
               "head");
        ds_set_free(&a);
        EXPECT(ds_head(&dense, 102, &a, msg, sizeof msg) == BL_EINVAL, "head too long");
    }

    /* Standardisation fitted on the training part. */
    {
        ds_set a, b, c;
        EXPECT(ds_split(&dense, 0.6, 0.2, 9, &a, &b, &c, msg, sizeof msg) == BL_OK, "split: %s", msg);
        double mean[D], sd[D], mean2[D], sd2[D];
        EXPECT(ds_standardize_fit(&a, mean, sd, msg, sizeof msg) == BL_OK, "fit: %s", msg);
        EXPECT(sd[2] == 1.0 && fabs(mean[2] - 0.1) < 1e-15, "constant feature: mean %g, sd %g",
               mean[2], sd[2]);
        /* Reference: plain two-pass mean and population sd. */
        for (int j = 0; j < D; j++) {
            double m = 0, v = 0;
            for (int i = 0; i < a.n; i++)
                m += a.X[i * D + j];
            m /= a.n;
            for (int i = 0; i < a.n; i++)
                v += (a.X[i * D + j] - m) * (a.X[i * D + j] - m);
            double sdr = j == 2 ? 1.0 : sqrt(v / a.n);
            EXPECT(fabs(mean[j] - m) <= 1e-12 * (1 + fabs(m)) && fabs(sd[j] - sdr) <= 1e-12 * sdr,
                   "fit feature %d: %g %g vs %g %g", j, mean[j], sd[j], m, sdr);
        }
        /* The sparse fit agrees (implicit zeros counted). */
        ds_set as;
        make_sparse(&a, &as);
        EXPECT(ds_standardize_fit(&as, mean2, sd2, msg, sizeof msg) == BL_OK, "sparse fit: %s", msg);
        for (int j = 0; j < D; j++)
            EXPECT(fabs(mean2[j] - mean[j]) <= 1e-12 * (1 + fabs(mean[j])) &&
                       fabs(sd2[j] - sd[j]) <= 1e-12 * sd[j],
                   "sparse fit feature %d: %g %g vs %g %g", j, mean2[j], sd2[j], mean[j], sd[j]);
        EXPECT(ds_standardize_apply(&as, mean, sd, msg, sizeof msg) == BL_EINVAL, "apply on sparse");
        ds_set_free(&as);

        ds_set b0;
        EXPECT(ds_head(&b, b.n, &b0, msg, sizeof msg) == BL_OK, "copy of b");
        EXPECT(ds_standardize_apply(&a, mean, sd, msg, sizeof msg) == BL_OK, "apply a: %s", msg);
        EXPECT(ds_standardize_apply(&b, mean, sd, msg, sizeof msg) == BL_OK, "apply b: %s", msg);
        EXPECT(ds_standardize_apply(&c, mean, sd, msg, sizeof msg) == BL_OK, "apply c: %s", msg);
        for (int j = 0; j < D; j++) {
            double m = 0, v = 0;
            for (int i = 0; i < a.n; i++)
                m += a.X[i * D + j];
            m /= a.n;
            for (int i = 0; i < a.n; i++)
                v += (a.X[i * D + j] - m) * (a.X[i * D + j] - m);
            v /= a.n;
            EXPECT(fabs(m) < 1e-12, "train feature %d: mean %g after standardising", j, m);
            if (j == 2)
                EXPECT(v == 0 && a.X[2] == 0, "constant feature centred only");
            else
                EXPECT(fabs(v - 1) < 1e-12, "train feature %d: variance %.15g", j, v);
        }
        int ok = 1;
        for (int i = 0; i < b.n; i++)
            for (int j = 0; j < D; j++)
                ok &= b.X[i * D + j] == (b0.X[i * D + j] - mean[j]) / sd[j];
        EXPECT(ok, "validation part: the training maps applied");
        sd[1] = 0;
        EXPECT(ds_standardize_apply(&b, mean, sd, msg, sizeof msg) == BL_EINVAL, "sd 0 rejected");
        ds_set_free(&a);
        ds_set_free(&b);
        ds_set_free(&b0);
        ds_set_free(&c);
    }
    ds_set_free(&dense);
    ds_set_free(&sparse);
    return t_done();
}
