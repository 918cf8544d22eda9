/*
 * tests/unit/test_errors.c — bad input never crashes and is reported well:
 * a table of shape mismatches (one row per op that checks shapes), the
 * sticky first error, invalid and stale handles, non-finite input, anomaly
 * mode, ad_strerror and ad_tape_free(NULL).
 */
#include <hypertape/ad.h>
#include "testutil.h"

#include <string.h>

/* ------------------------------------------------------ shape-mismatch table */

/* A constant 3×4 CSR matrix S (one entry per row) for the spmm rows. */
static const int64_t S_rowptr[4] = {0, 1, 2, 3};
static const int S_colind[3] = {0, 2, 3};
static const double S_val[3] = {1.0, -2.0, 0.5};
static const ad_csr S34 = {3, 4, S_rowptr, S_colind, S_val, 0};

/* Each case gets its operands x[0..nops) (leaves of the table's shapes) and
 * performs the one op that must fail. */
typedef ad_var (*case_fn)(ad_tape *t, const ad_var *x);

static ad_var c_add(ad_tape *t, const ad_var *x) { return ad_add(t, x[0], x[1]); }
static ad_var c_sub(ad_tape *t, const ad_var *x) { return ad_sub(t, x[0], x[1]); }
static ad_var c_mul(ad_tape *t, const ad_var *x) { return ad_mul(t, x[0], x[1]); }
static ad_var c_div(ad_tape *t, const ad_var *x) { return ad_div(t, x[0], x[1]); }
static ad_var c_greater(ad_tape *t, const ad_var *x) { return ad_greater(t, x[0], x[1]); }
static ad_var c_dot(ad_tape *t, const ad_var *x) { return ad_dot(t, x[0], x[1]); }
static ad_var c_mm_nn(ad_tape *t, const ad_var *x) { return ad_matmul(t, x[0], x[1], 0, 0); }
static ad_var c_mm_tn(ad_tape *t, const ad_var *x) { return ad_matmul(t, x[0], x[1], 1, 0); }
static ad_var c_mm_nt(ad_tape *t, const ad_var *x) { return ad_matmul(t, x[0], x[1], 0, 1); }
static ad_var c_mm_tt(ad_tape *t, const ad_var *x) { return ad_matmul(t, x[0], x[1], 1, 1); }
static ad_var c_mv(ad_tape *t, const ad_var *x) { return ad_matvec(t, x[0], x[1], 0); }
static ad_var c_mv_t(ad_tape *t, const ad_var *x) { return ad_matvec(t, x[0], x[1], 1); }
static ad_var c_select(ad_tape *t, const ad_var *x) { return ad_select(t, x[0], x[1], x[2]); }
static ad_var c_concat0(ad_tape *t, const ad_var *x) { return ad_concat(t, x[0], x[1], 0); }
static ad_var c_concat1(ad_tape *t, const ad_var *x) { return ad_concat(t, x[0], x[1], 1); }
static ad_var c_slice_r(ad_tape *t, const ad_var *x) { return ad_slice(t, x[0], 2, 2, 0, 1); }
static ad_var c_slice_c(ad_tape *t, const ad_var *x) { return ad_slice(t, x[0], 0, 1, -1, 2); }
static ad_var c_embed(ad_tape *t, const ad_var *x) { return ad_embed(t, x[0], 3, 4, 2, 0); }
static ad_var c_reshape(ad_tape *t, const ad_var *x) { return ad_reshape(t, x[0], 5, 2); }
static ad_var c_bcast(ad_tape *t, const ad_var *x) { return ad_broadcast(t, x[0], 3, 5); }
static ad_var c_bcast_col(ad_tape *t, const ad_var *x) { return ad_broadcast(t, x[0], 3, 4); }
static ad_var c_spmm(ad_tape *t, const ad_var *x) { return ad_spmm(t, &S34, x[0], 0); }
static ad_var c_spmm_t(ad_tape *t, const ad_var *x) { return ad_spmm(t, &S34, x[0], 1); }

static ad_var c_gather(ad_tape *t, const ad_var *x)
{
    static const int idx[2] = {0, 12}; /* x is 3×4: 12 is one past the end */
    return ad_gather(t, x[0], idx, 1, 2);
}
static ad_var c_gather_neg(ad_tape *t, const ad_var *x)
{
    static const int idx[2] = {3, -1};
    return ad_gather(t, x[0], idx, 2, 1);
}
static ad_var c_gather_rows(ad_tape *t, const ad_var *x)
{
    static const int rows[2] = {1, 3};
    return ad_gather_rows(t, x[0], rows, 2);
}
static ad_var c_scatter(ad_tape *t, const ad_var *x)
{
    static const int idx[4] = {0, 5, 11, 12}; /* into 3×4 */
    return ad_scatter_add(t, x[0], idx, 3, 4);
}
static ad_var c_xent(ad_tape *t, const ad_var *x)
{
    static const int labels[3] = {0, 4, 1}; /* logits 3×4: 4 is out of range */
    return ad_softmax_xent(t, x[0], labels);
}
static ad_var c_grad(ad_tape *t, const ad_var *x)
{
    ad_var y = ad_exp(t, x[0]), g;
    return ad_grad(t, y, 1, x, &g, 0) == AD_OK ? g : AD_NONE;
}

typedef struct shape_case {
    const char *label;   /* what the row tests */
    const char *opname;  /* must appear in the message */
    const char *shape;   /* must appear in the message */
    ad_status status;    /* expected status */
    int nops;            /* operands, leaves of shape dims[k] */
    int dims[3][2];
    case_fn fn;
} shape_case;

static const shape_case shape_cases[] = {
    {"add 3x4 + 2x4", "add", "2x4", AD_ESHAPE, 2, {{3, 4}, {2, 4}}, c_add},
    {"sub 3x4 - 3x5", "sub", "3x5", AD_ESHAPE, 2, {{3, 4}, {3, 5}}, c_sub},
    {"mul 3x4 * 4x3", "mul", "4x3", AD_ESHAPE, 2, {{3, 4}, {4, 3}}, c_mul},
    {"div 3x4 / 2x1", "div", "2x1", AD_ESHAPE, 2, {{3, 4}, {2, 1}}, c_div},
    {"greater 3x4 > 1x5", "greater", "1x5", AD_ESHAPE, 2, {{3, 4}, {1, 5}}, c_greater},
    {"dot 3x4 . 4x3", "dot", "4x3", AD_ESHAPE, 2, {{3, 4}, {4, 3}}, c_dot},
    {"matmul A B", "matmul", "5x2", AD_ESHAPE, 2, {{3, 4}, {5, 2}}, c_mm_nn},
    {"matmul A' B", "matmul", "4x2", AD_ESHAPE, 2, {{3, 4}, {4, 2}}, c_mm_tn},
    {"matmul A B'", "matmul", "2x5", AD_ESHAPE, 2, {{3, 4}, {2, 5}}, c_mm_nt},
    {"matmul A' B'", "matmul", "2x4", AD_ESHAPE, 2, {{3, 4}, {2, 4}}, c_mm_tt},
    {"matmul vector A x", "matmul", "5x1", AD_ESHAPE, 2, {{3, 4}, {5, 1}}, c_mm_nn},
    {"matmul vector x' B", "matmul", "1x3", AD_ESHAPE, 2, {{1, 3}, {4, 2}}, c_mm_nn},
    {"matvec A x", "mat", "3x1", AD_ESHAPE, 2, {{3, 4}, {3, 1}}, c_mv},
    {"matvec A' x", "mat", "4x1", AD_ESHAPE, 2, {{3, 4}, {4, 1}}, c_mv_t},
    {"matvec with a matrix x", "matvec", "4x2", AD_ESHAPE, 2, {{3, 4}, {4, 2}}, c_mv},
    {"select b differs", "select", "3x5", AD_ESHAPE, 3, {{3, 4}, {3, 4}, {3, 5}}, c_select},
    {"select mask differs", "select", "4x3", AD_ESHAPE, 3, {{4, 3}, {3, 4}, {3, 4}}, c_select},
    {"concat axis 0", "concat", "2x5", AD_ESHAPE, 2, {{3, 4}, {2, 5}}, c_concat0},
    {"concat axis 1", "concat", "2x4", AD_ESHAPE, 2, {{3, 4}, {2, 4}}, c_concat1},
    {"slice rows out of range", "slice", "3x4", AD_ESHAPE, 1, {{3, 4}}, c_slice_r},
    {"slice negative column", "slice", "3x4", AD_ESHAPE, 1, {{3, 4}}, c_slice_c},
    {"embed does not fit", "embed", "3x4", AD_ESHAPE, 1, {{2, 2}}, c_embed},
    {"reshape wrong size", "reshape", "3x4", AD_ESHAPE, 1, {{3, 4}}, c_reshape},
    {"broadcast 3x4 to 3x5", "broadcast", "3x5", AD_ESHAPE, 1, {{3, 4}}, c_bcast},
    {"broadcast 2x1 to 3x4", "broadcast", "2x1", AD_ESHAPE, 1, {{2, 1}}, c_bcast_col},
    {"spmm wrong inner size", "spmm", "5x2", AD_ESHAPE, 1, {{5, 2}}, c_spmm},
    {"spmm' wrong inner size", "spmm", "4x2", AD_ESHAPE, 1, {{4, 2}}, c_spmm_t},
    {"gather index past end", "gather", "12", AD_EINVAL, 1, {{3, 4}}, c_gather},
    {"gather negative index", "gather", "-1", AD_EINVAL, 1, {{3, 4}}, c_gather_neg},
    {"gather_rows bad row", "gather_rows", "3", AD_EINVAL, 1, {{3, 4}}, c_gather_rows},
    {"scatter_add bad index", "scatter_add", "12", AD_EINVAL, 1, {{2, 2}}, c_scatter},
    {"softmax_xent bad label", "softmax_xent", "3x4", AD_EINVAL, 1, {{3, 4}}, c_xent},
    {"grad of a 3x4 output", "grad", "3x4", AD_ESHAPE, 1, {{3, 4}}, c_grad},
};

static void test_shape_table(void)
{
    t_rng rng = {42};
    double buf[64];
    int n = (int)(sizeof shape_cases / sizeof shape_cases[0]);
    for (int k = 0; k < n; k++) {
        const shape_case *sc = &shape_cases[k];
        ad_tape *t = ad_tape_new(NULL);
        ad_var x[3];
        for (int j = 0; j < sc->nops; j++) {
            t_fill(&rng, buf, (size_t)sc->dims[j][0] * sc->dims[j][1], -1, 1);
            x[j] = ad_leaf(t, sc->dims[j][0], sc->dims[j][1], buf);
        }
        EXPECT(ad_tape_status(t) == AD_OK, "%s: operands failed: %s", sc->label,
               ad_tape_message(t));
        size_t nodes = ad_tape_stats(t).nodes;
        ad_var y = sc->fn(t, x);
        const char *msg = ad_tape_message(t);
        EXPECT(!ad_ok(y), "%s: returned a handle", sc->label);
        EXPECT(ad_tape_status(t) == sc->status, "%s: status %s, want %s", sc->label,
               ad_strerror(ad_tape_status(t)), ad_strerror(sc->status));
        EXPECT(strstr(msg, sc->opname) != NULL, "%s: message '%s' does not name '%s'", sc->label,
               msg, sc->opname);
        EXPECT(strstr(msg, sc->shape) != NULL, "%s: message '%s' does not show '%s'", sc->label,
               msg, sc->shape);
        /* The grad case records exp before failing; every other op must fail
         * before it records anything. */
        if (sc->fn != c_grad)
            EXPECT(ad_tape_stats(t).nodes == nodes, "%s: the failed op added %zu nodes",
                   sc->label, ad_tape_stats(t).nodes - nodes);
        ad_tape_free(t);
    }
}

/* Bad sizes and bad arguments that are not shape mismatches between operands. */
static void test_bad_arguments(void)
{
    ad_tape *t = ad_tape_new(NULL);
    ad_var x = ad_leaf(t, 0, 3, NULL);
    EXPECT(!ad_ok(x) && ad_tape_status(t) == AD_ESHAPE, "leaf 0x3 accepted");
    EXPECT(strstr(ad_tape_message(t), "leaf") && strstr(ad_tape_message(t), "0x3"),
           "leaf 0x3 message: %s", ad_tape_message(t));
    ad_tape_clear_error(t);
    x = ad_const(t, 2, -1, NULL);
    EXPECT(!ad_ok(x) && ad_tape_status(t) == AD_ESHAPE, "const 2x-1 accepted");
    ad_tape_clear_error(t);
    x = ad_const_ref(t, 2, 2, NULL);
    EXPECT(!ad_ok(x) && ad_tape_status(t) == AD_EINVAL, "const_ref NULL accepted");
    ad_tape_clear_error(t);
    ad_var a = ad_leaf(t, 2, 2, NULL);
    EXPECT(!ad_ok(ad_softmax_xent(t, a, NULL)) && ad_tape_status(t) == AD_EINVAL,
           "softmax_xent NULL labels accepted");
    ad_tape_clear_error(t);
    EXPECT(!ad_ok(ad_gather(t, a, NULL, 1, 1)) && ad_tape_status(t) == AD_EINVAL,
           "gather NULL index accepted");
    ad_tape_clear_error(t);
    EXPECT(!ad_ok(ad_concat(t, a, a, 2)) && ad_tape_status(t) == AD_ESHAPE,
           "concat axis 2 accepted");
    ad_tape_clear_error(t);
    ad_var s = ad_sum(t, a), g;
    EXPECT(ad_grad(t, s, 0, &a, &g, 0) == AD_EINVAL, "grad with n = 0 accepted");
    ad_tape_clear_error(t);
    EXPECT(ad_grad(t, s, 1, &a, NULL, 0) == AD_EINVAL, "grad without output accepted");
    ad_tape_clear_error(t);
    double tan[4] = {0}, out[1];
    const double *tin[1] = {tan};
    double *tout[1] = {out};
    EXPECT(ad_jvp(t, 0, &a, tin, 1, &s, tout) == AD_EINVAL, "jvp with n_in = 0 accepted");
    ad_tape_clear_error(t);
    EXPECT(ad_hvp_cross(t, s, a, AD_NONE, tan, tan, NULL, (ad_hvp_mode)7) == AD_EINVAL,
           "hvp with an unknown mode accepted");
    ad_tape_clear_error(t);
    EXPECT(ad_ok(ad_exp(t, a)), "tape not usable after clearing");
    ad_tape_free(t);
}

/* ------------------------------------------------------------ sticky error */

static void test_sticky(void)
{
    ad_tape *t = ad_tape_new(NULL);
    double av[12], bv[8];
    t_rng rng = {7};
    t_fill(&rng, av, 12, -1, 1);
    t_fill(&rng, bv, 8, -1, 1);
    ad_var a = ad_leaf(t, 3, 4, av), b = ad_leaf(t, 2, 4, bv);
    ad_var c = ad_add(t, a, b); /* first error */
    EXPECT(!ad_ok(c) && ad_tape_status(t) == AD_ESHAPE, "add 3x4 + 2x4 did not fail");
    char first[256];
    snprintf(first, sizeof first, "%s", ad_tape_message(t));
    EXPECT(strstr(first, "add") && strstr(first, "3x4") && strstr(first, "2x4"),
           "first message: %s", first);

    ad_stats st0 = ad_tape_stats(t);
    /* Later ops, valid or not, return AD_NONE and do no work. */
    EXPECT(!ad_ok(ad_mul(t, a, a)), "valid op on a failed tape returned a handle");
    EXPECT(!ad_ok(ad_dot(t, a, b)), "second bad op returned a handle");
    EXPECT(!ad_ok(ad_leaf(t, 2, 2, NULL)), "leaf on a failed tape returned a handle");
    EXPECT(!ad_ok(ad_scalar(t, 1.0)), "scalar on a failed tape returned a handle");
    EXPECT(!ad_ok(ad_exp(t, (ad_var){12345})), "bad handle on a failed tape returned a handle");
    ad_var g;
    EXPECT(ad_grad(t, a, 1, &a, &g, 0) == AD_ESHAPE, "grad on a failed tape: not the first status");
    double tan[12] = {0}, out[12];
    const double *tin[1] = {tan};
    double *tout[1] = {out};
    EXPECT(ad_jvp(t, 1, &a, tin, 1, &a, tout) == AD_ESHAPE, "jvp on a failed tape");
    EXPECT(ad_hvp_cross(t, a, a, AD_NONE, tan, out, NULL, AD_HVP_FOR) == AD_ESHAPE,
           "hvp_cross on a failed tape");
    ad_stats st1 = ad_tape_stats(t);
    EXPECT(st1.nodes == st0.nodes && st1.bytes == st0.bytes && st1.reserved_bytes == st0.reserved_bytes,
           "a failed tape still recorded: nodes %zu -> %zu, bytes %zu -> %zu", st0.nodes,
           st1.nodes, st0.bytes, st1.bytes);
    EXPECT(ad_tape_status(t) == AD_ESHAPE, "status changed to %d", (int)ad_tape_status(t));
    EXPECT(strcmp(ad_tape_message(t), first) == 0, "message changed: '%s' -> '%s'", first,
           ad_tape_message(t));

    ad_tape_clear_error(t);
    EXPECT(ad_tape_status(t) == AD_OK, "status not cleared");
    EXPECT(ad_tape_message(t)[0] == '\0', "message not cleared: %s", ad_tape_message(t));
    ad_var d = ad_mul(t, a, a);
    EXPECT(ad_ok(d), "tape unusable after ad_tape_clear_error");
    const double *dv = ad_value(t, d);
    int good = dv != NULL;
    for (int k = 0; good && k < 12; k++)
        good = dv[k] == av[k] * av[k];
    EXPECT(good, "a*a wrong after clearing");
    /* A new error after clearing is recorded as the new first one. */
    EXPECT(!ad_ok(ad_reshape(t, a, 5, 5)), "reshape 3x4 -> 5x5 accepted");
    EXPECT(strstr(ad_tape_message(t), "reshape") != NULL, "new error not recorded: %s",
           ad_tape_message(t));
    ad_tape_free(t);
}

/* ------------------------------------------------- invalid and stale handles */

static void test_handles(void)
{
    ad_tape *t = ad_tape_new(NULL);
    ad_var a = ad_leaf(t, 2, 3, NULL);
    EXPECT(!ad_ok(ad_exp(t, (ad_var){999})) && ad_tape_status(t) == AD_EHANDLE,
           "handle 999 accepted");
    EXPECT(strstr(ad_tape_message(t), "exp") && strstr(ad_tape_message(t), "999"),
           "message: %s", ad_tape_message(t));
    ad_tape_clear_error(t);
    EXPECT(!ad_ok(ad_add(t, a, AD_NONE)) && ad_tape_status(t) == AD_EHANDLE,
           "AD_NONE accepted as an operand");
    ad_tape_clear_error(t);
    EXPECT(!ad_ok(ad_sum(t, (ad_var){-7})) && ad_tape_status(t) == AD_EHANDLE,
           "negative handle accepted");
    ad_tape_clear_error(t);

    /* Stale handles: everything after the mark is gone. */
    ad_mark m = ad_tape_mark(t);
    ad_var x = ad_leaf(t, 2, 3, NULL);
    ad_var y = ad_sum(t, ad_square(t, x));
    EXPECT(ad_ok(y), "recording after the mark failed");
    ad_tape_rewind(t, m);
    EXPECT(ad_value(t, x) == NULL && ad_rows(t, x) == 0 && ad_cols(t, x) == 0,
           "stale handle still has a value");
    EXPECT(isnan(ad_scalar_value(t, y)), "stale scalar has a value");
    EXPECT(!ad_ok(ad_exp(t, x)) && ad_tape_status(t) == AD_EHANDLE, "stale handle accepted: %s",
           ad_strerror(ad_tape_status(t)));
    ad_tape_clear_error(t);
    ad_var g;
    EXPECT(ad_grad(t, y, 1, &a, &g, 0) == AD_EHANDLE, "grad of a stale output accepted");
    ad_tape_clear_error(t);
    ad_var s = ad_sum(t, a);
    EXPECT(ad_grad(t, s, 1, &y, &g, 0) == AD_EHANDLE, "grad wrt a stale handle accepted");
    ad_tape_clear_error(t);
    double tan[6] = {0}, out[1];
    const double *tin[1] = {tan};
    double *tout[1] = {out};
    /* s took x's slot (handles are indices), but y is still past the end. */
    EXPECT(ad_jvp(t, 1, &y, tin, 1, &s, tout) == AD_EHANDLE, "jvp from a stale handle accepted");
    ad_tape_clear_error(t);
    /* The node before the mark is still valid. */
    EXPECT(ad_ok(ad_exp(t, a)), "handle from before the mark broken by rewind");
    ad_tape_free(t);
}

/* -------------------------------------------------------- non-finite input */

static void test_nonfinite(void)
{
    ad_tape *t = ad_tape_new(NULL);
    double d[6] = {1, 2, 3, 4, NAN, 6};
    EXPECT(!ad_ok(ad_leaf(t, 2, 3, d)) && ad_tape_status(t) == AD_EINVAL, "leaf with NaN accepted");
    const char *msg = ad_tape_message(t);
    EXPECT(strstr(msg, "leaf") && strstr(msg, "element 4") && strstr(msg, "2x3"),
           "leaf NaN message: %s", msg);
    ad_tape_clear_error(t);
    double e[3] = {0, -INFINITY, 1};
    EXPECT(!ad_ok(ad_const(t, 3, 1, e)) && ad_tape_status(t) == AD_EINVAL, "const with -Inf accepted");
    msg = ad_tape_message(t);
    EXPECT(strstr(msg, "const") && strstr(msg, "element 1") && strstr(msg, "inf"),
           "const Inf message: %s", msg);
    ad_tape_clear_error(t);
    EXPECT(!ad_ok(ad_scalar(t, INFINITY)) && ad_tape_status(t) == AD_EINVAL, "scalar Inf accepted");
    ad_tape_clear_error(t);
    ad_var x = ad_leaf(t, 1, 1, NULL);
    EXPECT(!ad_ok(ad_affine(t, x, NAN, 0)) && ad_tape_status(t) == AD_EINVAL, "affine NaN accepted");
    ad_tape_clear_error(t);
    EXPECT(!ad_ok(ad_pow(t, x, INFINITY)) && ad_tape_status(t) == AD_EINVAL, "pow Inf accepted");
    ad_tape_clear_error(t);
    /* const_ref is checked only in anomaly mode. */
    EXPECT(ad_ok(ad_const_ref(t, 2, 3, d)), "const_ref with NaN rejected outside anomaly mode");
    ad_tape_set_anomaly(t, 1);
    EXPECT(!ad_ok(ad_const_ref(t, 2, 3, d)) && ad_tape_status(t) == AD_EINVAL,
           "const_ref with NaN accepted in anomaly mode");
    EXPECT(strstr(ad_tape_message(t), "element 4") != NULL, "const_ref message: %s",
           ad_tape_message(t));
    ad_tape_free(t);
}

/* ------------------------------------------------------------ anomaly mode */

static void test_anomaly(void)
{
    ad_tape_opts o = {0};
    o.anomaly = 1;
    ad_tape *t = ad_tape_new(&o);
    double xv[3] = {1.0, -2.0, 3.0};
    ad_var x = ad_leaf(t, 3, 1, xv);
    ad_var e = ad_exp(t, x);
    EXPECT(ad_ok(e), "exp failed in anomaly mode: %s", ad_tape_message(t));
    int lognode = (int)ad_tape_stats(t).nodes; /* the index log's node will get */
    /* log(x) is NaN at element 1; sqrt and tanh downstream would be NaN too,
     * but the first bad op must be the one named. */
    ad_var y = ad_tanh(t, ad_sqrt(t, ad_log(t, x)));
    EXPECT(!ad_ok(y) && ad_tape_status(t) == AD_EANOMALY, "log of a negative: status %s",
           ad_strerror(ad_tape_status(t)));
    const char *msg = ad_tape_message(t);
    char want[32];
    snprintf(want, sizeof want, "node %d", lognode);
    EXPECT(strstr(msg, "'log'") && strstr(msg, want) && strstr(msg, "element 1"),
           "anomaly message: %s (want 'log', '%s', 'element 1')", msg, want);
    EXPECT(!strstr(msg, "sqrt") && !strstr(msg, "tanh"), "a later op was named: %s", msg);
    ad_tape_free(t);

    /* Off: NaN flows silently. Switched on later: the next bad op is caught. */
    t = ad_tape_new(NULL);
    x = ad_leaf(t, 3, 1, xv);
    y = ad_log(t, x);
    EXPECT(ad_ok(y) && ad_tape_status(t) == AD_OK && isnan(ad_value(t, y)[1]),
           "anomaly off: log(-2) should give NaN quietly");
    ad_tape_set_anomaly(t, 1);
    ad_var z = ad_sqrt(t, ad_neg(t, x));
    EXPECT(!ad_ok(z) && ad_tape_status(t) == AD_EANOMALY, "set_anomaly(1) had no effect");
    EXPECT(strstr(ad_tape_message(t), "sqrt") != NULL, "message: %s", ad_tape_message(t));
    ad_tape_clear_error(t);
    ad_tape_set_anomaly(t, 0);
    EXPECT(ad_ok(ad_sqrt(t, ad_neg(t, x))), "set_anomaly(0) had no effect");

    /* Anomaly inside a backward pass: d/dx sqrt(x) at 0 is Inf; the backward
     * op that makes it (div) is named. */
    ad_tape_set_anomaly(t, 1);
    double zero = 0.0;
    ad_var u = ad_leaf(t, 1, 1, &zero);
    ad_var s = ad_sqrt(t, u), g;
    EXPECT(ad_ok(s), "sqrt(0) is finite but failed");
    EXPECT(ad_grad(t, s, 1, &u, &g, 0) == AD_EANOMALY, "grad of sqrt at 0 not an anomaly");
    EXPECT(strstr(ad_tape_message(t), "backward of op 'sqrt'") != NULL,
           "numeric backward anomaly message: %s", ad_tape_message(t));
    /* Recorded (AD_CREATE_GRAPH): the backward op that makes it (div) is named. */
    ad_tape_clear_error(t);
    EXPECT(ad_grad(t, s, 1, &u, &g, AD_CREATE_GRAPH) == AD_EANOMALY,
           "recorded grad of sqrt at 0 not an anomaly");
    EXPECT(strstr(ad_tape_message(t), "div") != NULL, "recorded backward anomaly message: %s",
           ad_tape_message(t));
    ad_tape_free(t);
}

/* ------------------------------------------------ strerror, free(NULL), NULL */

static void test_misc(void)
{
    for (int s = 0; s < AD_STATUS_COUNT; s++) {
        const char *m = ad_strerror((ad_status)s);
        EXPECT(m && m[0], "ad_strerror(%d) empty", s);
        EXPECT(m && strcmp(m, ad_strerror(AD_STATUS_COUNT)) != 0,
               "ad_strerror(%d) is the unknown text", s);
        for (int q = 0; q < s; q++)
            EXPECT(strcmp(m, ad_strerror((ad_status)q)) != 0, "ad_strerror(%d) == (%d)", s, q);
    }
    EXPECT(ad_strerror(AD_STATUS_COUNT) != NULL, "strerror(COUNT) NULL");
    EXPECT(ad_strerror((ad_status)-1) != NULL, "strerror(-1) NULL");
    ad_tape_free(NULL);
    EXPECT(1, "ad_tape_free(NULL) returned");
    EXPECT(ad_tape_status(NULL) != AD_OK, "status of a NULL tape is OK");
    EXPECT(ad_tape_message(NULL) != NULL, "message of a NULL tape is NULL");
    EXPECT(!ad_ok(ad_leaf(NULL, 1, 1, NULL)), "leaf on a NULL tape");
    EXPECT(!ad_ok(ad_exp(NULL, (ad_var){0})), "exp on a NULL tape");
    ad_var g;
    EXPECT(ad_grad(NULL, (ad_var){0}, 1, &g, &g, 0) == AD_EINVAL, "grad on a NULL tape");
    EXPECT(ad_rows(NULL, (ad_var){0}) == 0 && ad_value(NULL, (ad_var){0}) == NULL,
           "accessors on a NULL tape");
    /* The tape-level calls accept NULL quietly. */
    ad_tape_clear_error(NULL);
    ad_tape_set_anomaly(NULL, 1);
    ad_tape_reset_peak(NULL);
    ad_tape_rewind(NULL, ad_tape_mark(NULL));
    ad_stats z = ad_tape_stats(NULL);
    EXPECT(z.nodes == 0 && z.reserved_bytes == 0, "stats of a NULL tape");
    (void)ad_tape_fingerprint(NULL, ad_tape_mark(NULL));
        /* A fresh tape is clean. */
    ad_tape *t = ad_tape_new(NULL);
    EXPECT(t && ad_tape_status(t) == AD_OK && ad_tape_message(t)[0] == '\0', "fresh tape not clean");
    ad_stats st = ad_tape_stats(t);
    EXPECT(st.nodes == 0 && st.bytes == 0, "fresh tape stats %zu nodes %zu bytes", st.nodes, st.bytes);
    ad_tape_free(t);
}

int main(void)
{
    test_shape_table();
    test_bad_arguments();
    test_sticky();
    test_handles();
    test_nonfinite();
    test_anomaly();
    test_misc();
    return t_done();
}
