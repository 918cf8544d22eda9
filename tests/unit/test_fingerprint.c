/*
 * tests/unit/test_fingerprint.c — ad_tape_fingerprint is structural: the
 * same code recorded at different tape positions, on different values,
 * fingerprints alike; changing one op, one shape, one parent link or one
 * integer parameter changes it.
 */
#include <hypertape/ad.h>
#include "testutil.h"

/* What a variant changes in the reference recording. */
enum variant {
    V_SAME,       /* the reference */
    V_OP,         /* tanh → sigmoid */
    V_SHAPE,      /* x is 4×2 instead of 4×1 (everything downstream follows) */
    V_LINK,       /* mul(h, w) → mul(h, h): same ops and shapes, one link moved */
    V_TRANS,      /* matmul(W, V, 0, 0) → matmul(W, V, 1, 0), W square */
    V_SLICE,      /* slice offset r0 = 0 → 1, same shape */
    V_OUTER,      /* the older node it reads is a different op (leaf → const) */
    V_OUTER_SHAPE,/* the older node it reads has another shape (2×8) */
    V_EXTRA,      /* one more op at the end */
    V_COUNT
};

/* Records the reference code after the current end of the tape and returns
 * the fingerprint of the range. `outer` is an older node (16 values) it reads. */
static uint64_t record(ad_tape *t, ad_var outer, int variant, t_rng *rng)
{
    double wv[16], xv[8], vv[16];
    t_fill(rng, wv, 16, -1, 1);
    t_fill(rng, xv, 8, -1, 1);
    t_fill(rng, vv, 16, -1, 1);
    ad_mark m = ad_tape_mark(t);
    int xc = variant == V_SHAPE ? 2 : 1;
    ad_var W = ad_leaf(t, 4, 4, wv);
    ad_var x = ad_leaf(t, 4, xc, xv);
    ad_var V = ad_const(t, 4, 4, vv);
    ad_var WV = ad_matmul(t, W, V, variant == V_TRANS, 0);   /* 4×4 */
    ad_var h = ad_matmul(t, ad_add(t, WV, ad_reshape(t, outer, 4, 4)), x, 0, 0); /* 4×xc */
    h = variant == V_OP ? ad_sigmoid(t, h) : ad_tanh(t, h);
    ad_var w = ad_leaf(t, 4, xc, xv);
    ad_var p = variant == V_LINK ? ad_mul(t, h, h) : ad_mul(t, h, w);
    ad_var s = ad_slice(t, p, variant == V_SLICE ? 1 : 0, 3, 0, 1); /* 3×1 */
    ad_var y = ad_sum(t, ad_square(t, s));
    if (variant == V_EXTRA)
        y = ad_exp(t, y);
    EXPECT(ad_ok(y) && ad_tape_status(t) == AD_OK, "variant %d failed to record: %s", variant,
           ad_tape_message(t));
    return ad_tape_fingerprint(t, m);
}

static void test_positions_and_values(void)
{
    t_rng rng = {1};
    double ov[16];
    t_fill(&rng, ov, 16, -1, 1);
    /* Tape 1: the code right after the outer node. */
    ad_tape *t1 = ad_tape_new(NULL);
    ad_var o1 = ad_leaf(t1, 4, 4, ov);
    uint64_t ref = record(t1, o1, V_SAME, &rng);
    /* The same tape, much later and on other values. */
    for (int k = 0; k < 37; k++)
        ad_exp(t1, o1);
    uint64_t again = record(t1, o1, V_SAME, &rng);
    EXPECT(again == ref, "same code later on the same tape: %016llx vs %016llx",
           (unsigned long long)again, (unsigned long long)ref);
    /* Another tape, with other nodes before, an outer node elsewhere. */
    ad_tape *t2 = ad_tape_new(NULL);
    for (int k = 0; k < 5; k++)
        ad_leaf(t2, 1 + k, 3, NULL);
    ad_var o2 = ad_leaf(t2, 4, 4, NULL);
    ad_leaf(t2, 7, 7, NULL);
    uint64_t other = record(t2, o2, V_SAME, &rng);
    EXPECT(other == ref, "same code on another tape: %016llx vs %016llx",
           (unsigned long long)other, (unsigned long long)ref);
    /* After a rewind, re-recording gives it again. */
    ad_mark m = ad_tape_mark(t2);
    record(t2, o2, V_OP, &rng);
    ad_tape_rewind(t2, m);
    EXPECT(record(t2, o2, V_SAME, &rng) == ref, "after a rewind");

    /* Each single change differs from the reference and from each other. */
    uint64_t fp[V_COUNT];
    fp[V_SAME] = ref;
    for (int v = 1; v < V_COUNT; v++) {
        ad_var outer = o2;
        if (v == V_OUTER)
            outer = ad_const(t2, 4, 4, ov);
        if (v == V_OUTER_SHAPE)
            outer = ad_leaf(t2, 2, 8, ov);
        fp[v] = record(t2, outer, v, &rng);
        EXPECT(fp[v] != ref, "variant %d has the reference fingerprint", v);
        for (int u = 1; u < v; u++)
            EXPECT(fp[v] != fp[u], "variants %d and %d share a fingerprint", u, v);
    }

    /* Empty ranges agree; a range differs from the empty one. */
    ad_mark end1 = ad_tape_mark(t1), end2 = ad_tape_mark(t2);
    EXPECT(ad_tape_fingerprint(t1, end1) == ad_tape_fingerprint(t2, end2), "empty ranges differ");
    ad_leaf(t1, 1, 1, NULL);
    EXPECT(ad_tape_fingerprint(t1, end1) != ad_tape_fingerprint(t2, end2),
           "one leaf fingerprints like nothing");
    ad_tape_free(t1);
    ad_tape_free(t2);
}

/* Finer single changes, one pair at a time, against the same prefix. */
static void test_single_changes(void)
{
    ad_tape *t = ad_tape_new(NULL);
    ad_var a = ad_leaf(t, 3, 3, NULL), b = ad_leaf(t, 3, 3, NULL);
    ad_mark m = ad_tape_mark(t);
    /* fp(t, m, k): rewind to m, record case k, fingerprint from m. */
    uint64_t f[14];
    for (int k = 0; k < 14; k++) {
        ad_tape_rewind(t, m);
        switch (k) {
        case 0: ad_matmul(t, a, b, 0, 0); break;
        case 1: ad_matmul(t, a, b, 1, 0); break;
        case 2: ad_matmul(t, a, b, 0, 1); break;
        case 3: ad_matmul(t, b, a, 0, 0); break;
        case 4: ad_sub(t, a, b); break;
        case 5: ad_add(t, a, b); break;
        case 6: ad_concat(t, a, b, 0); break;
        case 7: ad_concat(t, a, b, 1); break;
        case 8: ad_slice(t, a, 0, 2, 1, 2); break;
        case 9: ad_slice(t, a, 1, 2, 0, 2); break;
        case 10: ad_embed(t, a, 4, 4, 0, 0); break;
        case 11: ad_embed(t, a, 4, 4, 1, 1); break;
        case 12: ad_reshape(t, a, 1, 9); break;
        default: ad_reshape(t, a, 9, 1); break;
        }
        EXPECT(ad_tape_status(t) == AD_OK, "case %d: %s", k, ad_tape_message(t));
        f[k] = ad_tape_fingerprint(t, m);
    }
    ad_tape_rewind(t, m);
    ad_matmul(t, a, b, 0, 0);
    EXPECT(f[0] == ad_tape_fingerprint(t, m), "matmul not reproducible");
    EXPECT(f[0] != f[1], "matmul ta flag ignored");
    EXPECT(f[0] != f[2], "matmul tb flag ignored");
    EXPECT(f[1] != f[2], "ta and tb confused");
    /* Links to older nodes hash as op and shape: a and b are both 3×3 leaves. */
    EXPECT(f[0] == f[3], "links to older nodes hashed by position");
    EXPECT(f[4] != f[5], "sub and add share a fingerprint");
    EXPECT(f[6] != f[7], "concat axis ignored");
    EXPECT(f[8] != f[9], "slice offsets ignored");
    EXPECT(f[10] != f[11], "embed offsets ignored");
    EXPECT(f[12] != f[13], "reshape shape ignored");
    ad_tape_rewind(t, m);
    ad_leaf(t, 2, 3, NULL);
    uint64_t l23 = ad_tape_fingerprint(t, m);
    ad_tape_rewind(t, m);
    ad_leaf(t, 3, 2, NULL);
    uint64_t l32 = ad_tape_fingerprint(t, m);
    ad_tape_rewind(t, m);
    ad_const(t, 2, 3, NULL);
    uint64_t c23 = ad_tape_fingerprint(t, m);
    EXPECT(l23 != l32, "leaf shape ignored");
    EXPECT(l23 != c23, "leaf vs const ignored");
    /* Inner links hash by position: x⊙x versus x⊙y, x and y alike. */
    ad_tape_rewind(t, m);
    ad_var x = ad_leaf(t, 3, 3, NULL), y = ad_leaf(t, 3, 3, NULL);
    ad_mul(t, x, x);
    uint64_t fxx = ad_tape_fingerprint(t, m);
    ad_tape_rewind(t, m);
    x = ad_leaf(t, 3, 3, NULL);
    y = ad_leaf(t, 3, 3, NULL);
    ad_mul(t, x, y);
    uint64_t fxy = ad_tape_fingerprint(t, m);
    ad_tape_rewind(t, m);
    x = ad_leaf(t, 3, 3, NULL);
    y = ad_leaf(t, 3, 3, NULL);
    ad_mul(t, y, x);
    uint64_t fyx = ad_tape_fingerprint(t, m);
    EXPECT(fxx != fxy && fxy != fyx && fxx != fyx, "inner parent links ignored");
    /* A big older operand: its shape is hashed without overflow (UBSan). */
    ad_var big = ad_leaf(t, 100000, 1, NULL);
    ad_mark m2 = ad_tape_mark(t);
    ad_sum(t, big);
    uint64_t fbig = ad_tape_fingerprint(t, m2);
    ad_tape_rewind(t, m2);
    ad_var big2 = ad_leaf(t, 99999, 1, NULL);
    m2 = ad_tape_mark(t);
    ad_sum(t, big2);
    EXPECT(fbig != ad_tape_fingerprint(t, m2), "older operands 100000x1 and 99999x1 alike");
    ad_tape_free(t);
}

int main(void)
{
    test_positions_and_values();
    test_single_changes();
    return t_done();
}
