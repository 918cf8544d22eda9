/*
 * ad/blocks.c — ad_blocks: a flat p×1 parameter vector θ viewed as named
 * blocks of given shapes (weights, biases), offsets computed. Each block is
 * an ad_slice of θ followed by an ad_reshape, so its derivatives (reverse,
 * forward, any order) are theirs. See include/hypertape/ad.h.
 */
#include "internal.h"

#include <limits.h>
#include <stdio.h>

/* The name of block k for messages ("#k" when the spec gives none). */
static const char *block_name(const ad_block *b, int k, char *buf, size_t n)
{
    if (b->name)
        return b->name;
    snprintf(buf, n, "#%d", k);
    return buf;
}

int ad_blocks_size(int n, const ad_block *spec)
{
    if (n <= 0 || !spec)
        return -1;
    long long p = 0;
    for (int k = 0; k < n; k++) {
        if (spec[k].rows <= 0 || spec[k].cols <= 0)
            return -1;
        p += (long long)spec[k].rows * spec[k].cols;
        if (p > INT_MAX)
            return -1;
    }
    return (int)p;
}

/* Checks the spec against θ's size p; records the error and returns 0 when
 * it does not fit. */
static int check_spec(ad_tape *t, int p, int n, const ad_block *spec)
{
    char buf[16];
    long long sum = 0;
    for (int k = 0; k < n; k++) {
        const ad_block *b = &spec[k];
        if (b->rows <= 0 || b->cols <= 0) {
            ad__fail(t, AD_ESHAPE, "blocks: block %d ('%s') has shape %dx%d (need positive sizes)",
                     k, block_name(b, k, buf, sizeof buf), b->rows, b->cols);
            return 0;
        }
        sum += (long long)b->rows * b->cols;
        if (sum > p) {
            ad__fail(t, AD_ESHAPE,
                     "blocks: block %d ('%s', %dx%d) ends at %lld, past theta's %d entries "
                     "(%dx1)",
                     k, block_name(b, k, buf, sizeof buf), b->rows, b->cols, sum, p, p);
            return 0;
        }
    }
    if (sum != p) {
        const ad_block *b = &spec[n - 1];
        ad__fail(t, AD_ESHAPE,
                 "blocks: the %d blocks (last '%s', %dx%d) hold %lld entries, theta %dx1 holds %d",
                 n, block_name(b, n - 1, buf, sizeof buf), b->rows, b->cols, sum, p, p);
        return 0;
    }
    return 1;
}

ad_status ad_blocks(ad_tape *t, ad_var theta, int n, const ad_block *spec, ad_var *out)
{
    if (!t)
        return AD_EINVAL;
    for (int k = 0; out && k < n; k++)
        out[k] = AD_NONE;
    if (ad_tape_status(t) != AD_OK)
        return ad_tape_status(t);
    if (n <= 0 || !spec || !out)
        return ad__failst(t, AD_EINVAL, "blocks: need n > 0 blocks (got %d), a spec (%s) and "
                          "an output array (%s)", n, spec ? "given" : "NULL",
                          out ? "given" : "NULL");
    const ad_node *x = ad__arg(t, "blocks", theta);
    if (!x)
        return ad_tape_status(t);
    if (x->cols != 1)
        return ad__failst(t, AD_ESHAPE, "blocks: theta must be a column p x 1, got %dx%d",
                          x->rows, x->cols);
    if (!check_spec(t, x->rows, n, spec))
        return ad_tape_status(t);
    int off = 0;
    for (int k = 0; k < n; k++) {
        int len = spec[k].rows * spec[k].cols;
        ad_var v = ad_slice(t, theta, off, len, 0, 1);
        if (spec[k].cols != 1)
            v = ad_reshape(t, v, spec[k].rows, spec[k].cols);
        off += len;
        if (!ad_ok(v))
            break;
        out[k] = v;
    }
    if (ad_tape_status(t) != AD_OK)
        for (int k = 0; k < n; k++)
            out[k] = AD_NONE;
    return ad_tape_status(t);
}
