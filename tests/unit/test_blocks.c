/*
 * tests/unit/test_blocks.c — ad_blocks and ad_blocks_size: the blocks'
 * values and shapes against offsets counted by hand, gradients flowing back
 * into θ's positions, and every bad spec reported with a message that names
 * the op, the block and the sizes, sticky on the tape.
 */
#include <hypertape/ad.h>
#include "testutil.h"

#include <string.h>

/* The one-hidden-layer spec of the README: W1 5×4, b1 5×1, w2 1×5, b2 1×1. */
static const ad_block MLP[4] = {{"W1", 5, 4}, {"b1", 5, 1}, {"w2", 1, 5}, {"b2", 1, 1}};
#define MLP_P 31 /* 20 + 5 + 5 + 1, counted by hand */

static void test_size(void)
{
    EXPECT(ad_blocks_size(4, MLP) == MLP_P, "size %d, want %d", ad_blocks_size(4, MLP), MLP_P);
    EXPECT(ad_blocks_size(1, MLP) == 20, "size of W1 alone %d", ad_blocks_size(1, MLP));
    EXPECT(ad_blocks_size(0, MLP) == -1, "n = 0 accepted");
    EXPECT(ad_blocks_size(-3, MLP) == -1, "n < 0 accepted");
    EXPECT(ad_blocks_size(2, NULL) == -1, "NULL spec accepted");
    ad_block bad[2] = {{"a", 2, 2}, {"b", 0, 3}};
    EXPECT(ad_blocks_size(2, bad) == -1, "0x3 block accepted");
    bad[1] = (ad_block){"b", 3, -1};
    EXPECT(ad_blocks_size(2, bad) == -1, "3x-1 block accepted");
    ad_block huge[2] = {{"a", 50000, 50000}, {"b", 1, 1}}; /* 2.5e9 > INT_MAX */
    EXPECT(ad_blocks_size(2, huge) == -1, "a size past INT_MAX accepted");
}

/* Values, shapes and gradients of the MLP blocks of θ_i = i. */
static void test_values(void)
{
    ad_tape *t = ad_tape_new(NULL);
    double th[MLP_P];
    for (int i = 0; i < MLP_P; i++)
        th[i] = i;
    ad_var theta = ad_leaf(t, MLP_P, 1, th), b[4];
    EXPECT(ad_blocks(t, theta, 4, MLP, b) == AD_OK, "blocks failed: %s", ad_tape_message(t));
    static const int start[4] = {0, 20, 25, 30}; /* by hand */
    for (int k = 0; k < 4; k++) {
        EXPECT(ad_rows(t, b[k]) == MLP[k].rows && ad_cols(t, b[k]) == MLP[k].cols,
               "%s is %dx%d, want %dx%d", MLP[k].name, ad_rows(t, b[k]), ad_cols(t, b[k]),
               MLP[k].rows, MLP[k].cols);
        const double *v = ad_value(t, b[k]);
        int good = v != NULL;
        for (int q = 0; good && q < MLP[k].rows * MLP[k].cols; q++)
            good = v[q] == start[k] + q;
        EXPECT(good, "%s does not hold theta[%d..]", MLP[k].name, start[k]);
    }
    /* W1[2][3] is θ_{2·4+3} = θ_11, row-major */
    EXPECT(ad_value(t, b[0])[2 * 4 + 3] == 11.0, "W1[2][3] = %g", ad_value(t, b[0])[11]);
    /* y = Σ_k c_k·Σ block_k: ∂y/∂θ_i = c_{block of i} */
    static const double c[4] = {1.0, -2.0, 3.0, 0.5};
    ad_var y = ad_scalar(t, 0.0);
    for (int k = 0; k < 4; k++)
        y = ad_add(t, y, ad_scale(t, ad_sum(t, b[k]), c[k]));
    double g[MLP_P];
    double *out[1] = {g};
    EXPECT(ad_grad_values(t, y, 1, &theta, out) == AD_OK, "grad failed: %s", ad_tape_message(t));
    int good = 1;
    for (int k = 0; k < 4; k++)
        for (int q = 0; q < MLP[k].rows * MLP[k].cols; q++)
            good &= g[start[k] + q] == c[k];
    EXPECT(good, "gradient does not reach theta's positions");
    /* one block that is all of θ, and a spec without names */
    ad_block whole = {NULL, MLP_P, 1}, two[2] = {{NULL, 1, 30}, {NULL, 1, 1}};
    ad_var w, tw[2];
    EXPECT(ad_blocks(t, theta, 1, &whole, &w) == AD_OK && ad_value(t, w)[30] == 30.0,
           "whole-theta block: %s", ad_tape_message(t));
    EXPECT(ad_blocks(t, theta, 2, two, tw) == AD_OK && ad_cols(t, tw[0]) == 30 &&
               ad_value(t, tw[1])[0] == 30.0,
           "unnamed blocks: %s", ad_tape_message(t));
    ad_tape_free(t);
}

/* Runs ad_blocks on a fresh tape with a θ of shape r×c and expects status
 * want and a message holding every string in must (NULL-terminated). */
static void expect_fail(const char *what, int r, int c, int n, const ad_block *spec, int null_out,
                        ad_status want, const char *const *must)
{
    ad_tape *t = ad_tape_new(NULL);
    ad_var theta = ad_leaf(t, r, c, NULL), out[8];
    for (int k = 0; k < 8; k++)
        out[k] = (ad_var){0};
    ad_status s = ad_blocks(t, theta, n, spec, null_out ? NULL : out);
    EXPECT(s == want && ad_tape_status(t) == want, "%s: status %d, want %d (%s)", what, (int)s,
           (int)want, ad_tape_message(t));
    for (int k = 0; !null_out && k < n && k < 8; k++)
        EXPECT(!ad_ok(out[k]), "%s: out[%d] is a handle after a failure", what, k);
    const char *msg = ad_tape_message(t);
    for (int k = 0; must[k]; k++)
        EXPECT(strstr(msg, must[k]) != NULL, "%s: message '%s' lacks '%s'", what, msg, must[k]);
    /* sticky: a later valid op fails and the message stays */
    char first[256];
    snprintf(first, sizeof first, "%s", msg);
    EXPECT(!ad_ok(ad_exp(t, theta)) && strcmp(ad_tape_message(t), first) == 0,
           "%s: error not sticky", what);
    ad_tape_free(t);
}

static void test_errors(void)
{
    const char *const sum_short[] = {"blocks", "b2", "30", "31", NULL};
    expect_fail("spec 30 for theta 31", MLP_P, 1, 3, MLP, 0, AD_ESHAPE,
                (const char *const[]){"blocks", "w2", "30", "31", NULL});
    ad_block short_spec[4] = {{"W1", 5, 4}, {"b1", 5, 1}, {"w2", 1, 4}, {"b2", 1, 1}};
    expect_fail("sum 30 for theta 31", MLP_P, 1, 4, short_spec, 0, AD_ESHAPE, sum_short);
    expect_fail("sum 31 for theta 30", 30, 1, 4, MLP, 0, AD_ESHAPE,
                (const char *const[]){"blocks", "b2", "31", "30", NULL});
    ad_block zero[2] = {{"W1", 5, 4}, {"b1", 0, 1}};
    expect_fail("0x1 block", 20, 1, 2, zero, 0, AD_ESHAPE,
                (const char *const[]){"blocks", "b1", "0x1", NULL});
    ad_block neg[1] = {{"W", -2, 3}};
    expect_fail("-2x3 block", 6, 1, 1, neg, 0, AD_ESHAPE,
                (const char *const[]){"blocks", "'W'", "-2x3", NULL});
    expect_fail("theta a row", 1, MLP_P, 4, MLP, 0, AD_ESHAPE,
                (const char *const[]){"blocks", "1x31", NULL});
    expect_fail("n = 0", MLP_P, 1, 0, MLP, 0, AD_EINVAL,
                (const char *const[]){"blocks", "got 0", NULL});
    expect_fail("NULL spec", MLP_P, 1, 4, NULL, 0, AD_EINVAL,
                (const char *const[]){"blocks", "NULL", NULL});
    expect_fail("NULL out", MLP_P, 1, 4, MLP, 1, AD_EINVAL,
                (const char *const[]){"blocks", "NULL", NULL});
    ad_block unnamed[1] = {{NULL, 0, 0}};
    expect_fail("unnamed 0x0", 4, 1, 1, unnamed, 0, AD_ESHAPE,
                (const char *const[]){"blocks", "#0", "0x0", NULL});

    /* a bad handle, and a tape that already failed: the first error stays */
    ad_tape *t = ad_tape_new(NULL);
    ad_var out[4];
    EXPECT(ad_blocks(t, (ad_var){77}, 4, MLP, out) == AD_EHANDLE, "bad handle: %s",
           ad_tape_message(t));
    EXPECT(strstr(ad_tape_message(t), "blocks") != NULL, "bad handle message: %s",
           ad_tape_message(t));
    ad_tape_clear_error(t);
    ad_var theta = ad_leaf(t, MLP_P, 1, NULL);
    ad_reshape(t, theta, 2, 2); /* first error */
    char first[256];
    snprintf(first, sizeof first, "%s", ad_tape_message(t));
    EXPECT(ad_blocks(t, theta, 4, MLP, out) == AD_ESHAPE && !ad_ok(out[0]) && !ad_ok(out[3]),
           "blocks on a failed tape returned handles or a new status");
    EXPECT(strcmp(ad_tape_message(t), first) == 0, "message changed to '%s'", ad_tape_message(t));
    EXPECT(ad_blocks(NULL, theta, 4, MLP, out) == AD_EINVAL, "NULL tape accepted");
    ad_tape_free(t);
}

int main(void)
{
    test_size();
    test_values();
    test_errors();
    return t_done();
}
