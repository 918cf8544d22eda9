/*
 * tests/unit/test_cap.c — the byte cap (ad_tape_opts.max_bytes): runaway
 * recording, ad_grad and ad_jvp past the cap fail with AD_ENOMEM and a
 * message, never crash, never exceed the cap, and the tape can be freed (or
 * cleared, rewound and used again). Caps below the default 1 MiB block (4 KiB
 * up) record, differentiate and give the right derivatives when the
 * recording fits, and name the cap when it does not.
 */
#include <hypertape/ad.h>
#include "testutil.h"

#include <stdio.h>
#include <string.h>

enum { P = 50, DEPTH = 30 };

/* f(x) = Σ y_D with y_0 = x, y_{k+1} = tanh(0.9 y_k + 0.1): x P×1. */
static ad_var chain(ad_tape *t, ad_var x)
{
    ad_var y = x;
    for (int k = 0; k < DEPTH; k++)
        y = ad_tanh(t, ad_affine(t, y, 0.9, 0.1));
    return ad_sum(t, y);
}

/* DEPTH branches of x, all recorded before they are added up: the numeric
 * sweep holds every branch's adjoint at once (a chain needs one at a time,
 * as swept adjoints are reused). */
static ad_var fan(ad_tape *t, ad_var x)
{
    ad_var u[DEPTH];
    for (int k = 0; k < DEPTH; k++)
        u[k] = ad_tanh(t, ad_affine(t, x, 0.9 - 0.01 * k, 0.1));
    ad_var y = u[0];
    for (int k = 1; k < DEPTH; k++)
        y = ad_add(t, y, u[k]);
    return ad_sum(t, y);
}

/* The recording of the sweep variants: fan for the numeric sweep, chain
 * for the others. */
static ad_var recording(ad_tape *t, ad_var x, int use_jvp, unsigned flags)
{
    return use_jvp || flags ? chain(t, x) : fan(t, x);
}

static ad_tape_opts small_blocks(size_t cap)
{
    ad_tape_opts o = {0};
    o.block_bytes = 4096;
    o.max_bytes = cap;
    return o;
}

static void test_runaway_recording(void)
{
    ad_tape_opts o = small_blocks(256 * 1024);
    ad_tape *t = ad_tape_new(&o);
    double x0[256];
    t_rng rng = {3};
    t_fill(&rng, x0, 256, -1, 1);
    ad_var x = ad_leaf(t, 16, 16, x0);
    ad_mark m = ad_tape_mark(t);
    ad_var y = x;
    int steps = 0;
    while (ad_ok(y) && steps < 100000) {
        y = ad_exp(t, ad_affine(t, y, 1e-3, 0.0));
        steps++;
    }
    EXPECT(!ad_ok(y) && ad_tape_status(t) == AD_ENOMEM, "recording never hit the cap (%d steps)",
           steps);
    EXPECT(strstr(ad_tape_message(t), "cap") != NULL, "cap message: %s", ad_tape_message(t));
    ad_stats st = ad_tape_stats(t);
    EXPECT(st.reserved_bytes <= o.max_bytes, "reserved %zu > cap %zu", st.reserved_bytes,
           o.max_bytes);
    EXPECT(st.reserved_bytes > o.max_bytes / 2, "stopped far below the cap: %zu of %zu",
           st.reserved_bytes, o.max_bytes);
    /* 16×16 doubles per value: at least ~100 nodes fit under 256 KiB. */
    EXPECT(steps > 50, "only %d steps before the cap", steps);
    EXPECT(!ad_ok(ad_exp(t, x)), "an op after the cap succeeded");
    EXPECT(ad_tape_status(t) == AD_ENOMEM, "status changed after the cap");

    /* Clear, rewind: the same memory serves again, with no new reservation. */
    ad_tape_clear_error(t);
    ad_tape_rewind(t, m);
    y = x;
    for (int k = 0; k < 20 && ad_ok(y); k++)
        y = ad_exp(t, ad_affine(t, y, 1e-3, 0.0));
    EXPECT(ad_ok(y), "recording after clear+rewind failed: %s", ad_tape_message(t));
    EXPECT(ad_tape_stats(t).reserved_bytes == st.reserved_bytes, "rewound recording reserved more");
    double want = exp(1e-3 * x0[5]);
    for (int k = 1; k < 20; k++)
        want = exp(1e-3 * want);
    EXPECT(ad_ok(y) && fabs(ad_value(t, y)[5] - want) < 1e-14, "value after rewind wrong");
    ad_tape_free(t);

    /* One allocation larger than the cap fails without trying. */
    o = small_blocks(1 << 20);
    t = ad_tape_new(&o);
    EXPECT(!ad_ok(ad_leaf(t, 1000, 1000, NULL)) && ad_tape_status(t) == AD_ENOMEM,
           "8 MB leaf under a 1 MiB cap");
    EXPECT(ad_tape_stats(t).reserved_bytes <= o.max_bytes, "reserved past the cap");
    ad_tape_free(t);

    /* A cap below the tape header: nothing fits, nothing breaks. */
    o = small_blocks(1);
    t = ad_tape_new(&o);
    EXPECT(t != NULL, "ad_tape_new with a tiny cap returned NULL");
    EXPECT(!ad_ok(ad_scalar(t, 1.0)) && ad_tape_status(t) == AD_ENOMEM, "tiny cap: scalar recorded");
    ad_tape_free(t);
}

/* Reserved bytes after recording `chain` and after differentiating it
 * (grad with flags, or jvp when use_jvp), on an uncapped tape. */
static void measure(int use_jvp, unsigned flags, size_t *r_fwd, size_t *r_diff)
{
    ad_tape_opts o = small_blocks(0);
    ad_tape *t = ad_tape_new(&o);
    double x0[P], tan[P], out;
    t_rng rng = {11};
    t_fill(&rng, x0, P, -1, 1);
    t_fill(&rng, tan, P, -1, 1);
    ad_var x = ad_leaf(t, P, 1, x0);
    ad_var f = recording(t, x, use_jvp, flags), g;
    *r_fwd = ad_tape_stats(t).reserved_bytes;
    if (use_jvp) {
        const double *tin[1] = {tan};
        double *tout[1] = {&out};
        EXPECT(ad_jvp(t, 1, &x, tin, 1, &f, tout) == AD_OK, "uncapped jvp failed");
    } else {
        EXPECT(ad_grad(t, f, 1, &x, &g, flags) == AD_OK, "uncapped grad failed");
    }
    *r_diff = ad_tape_stats(t).reserved_bytes;
    ad_tape_free(t);
}

static void test_cap_in_sweeps(void)
{
    for (int variant = 0; variant < 3; variant++) {
        int use_jvp = variant == 2;
        unsigned flags = variant == 1 ? AD_CREATE_GRAPH : 0;
        const char *name = use_jvp ? "jvp" : flags ? "grad(create_graph)" : "grad";
        size_t r_fwd, r_diff;
        measure(use_jvp, flags, &r_fwd, &r_diff);
        EXPECT(r_diff > r_fwd + 4096, "%s: differentiation reserved only %zu more bytes", name,
               r_diff - r_fwd);
        /* Same recording under a cap between the two: it must fail inside the
         * sweep, not while recording. */
        ad_tape_opts o = small_blocks(r_fwd + (r_diff - r_fwd) / 2);
        ad_tape *t = ad_tape_new(&o);
        double x0[P], tan[P], out = 12345.0;
        t_rng rng = {11};
        t_fill(&rng, x0, P, -1, 1);
        t_fill(&rng, tan, P, -1, 1);
        ad_var x = ad_leaf(t, P, 1, x0);
        ad_mark m = ad_tape_mark(t);
        ad_var f = recording(t, x, use_jvp, flags), g = {0};
        EXPECT(ad_ok(f) && ad_tape_stats(t).reserved_bytes == r_fwd,
               "%s: recording under the cap differs (reserved %zu, want %zu)", name,
               ad_tape_stats(t).reserved_bytes, r_fwd);
        ad_status s;
        if (use_jvp) {
            const double *tin[1] = {tan};
            double *tout[1] = {&out};
            s = ad_jvp(t, 1, &x, tin, 1, &f, tout);
        } else {
            s = ad_grad(t, f, 1, &x, &g, flags);
        }
        EXPECT(s == AD_ENOMEM && ad_tape_status(t) == AD_ENOMEM, "%s past the cap: %s", name,
               ad_strerror(s));
        EXPECT(ad_tape_message(t)[0] != '\0' && strstr(ad_tape_message(t), "cap"),
               "%s: cap message '%s'", name, ad_tape_message(t));
        EXPECT(ad_tape_stats(t).reserved_bytes <= o.max_bytes, "%s: reserved past the cap", name);
        if (variant == 0) /* the numeric sweep: its adjoints or its buffer are named */
            EXPECT(strstr(ad_tape_message(t), "adjoint") || strstr(ad_tape_message(t), "sweep buffer"),
                   "%s: message '%s' names neither the adjoints nor the sweep buffer", name,
                   ad_tape_message(t));
        if (!use_jvp)
            EXPECT(!ad_ok(g), "%s: a gradient handle came back from a failed sweep", name);

        /* Clear and rewind: the tape works again, and a failed grad without
         * AD_CREATE_GRAPH did not leave the tape recording non-differentiably:
         * d²/dx² Σ x³ = 6x must still come out. */
        ad_tape_clear_error(t);
        ad_tape_rewind(t, m);
        ad_var u = ad_leaf(t, 1, 1, &x0[0]), g1, g2;
        ad_var c = ad_sum(t, ad_pow(t, u, 3.0));
        EXPECT(ad_grad(t, c, 1, &u, &g1, AD_CREATE_GRAPH) == AD_OK &&
                   ad_grad(t, g1, 1, &u, &g2, 0) == AD_OK,
               "%s: tape unusable after clearing: %s", name, ad_tape_message(t));
        EXPECT(fabs(ad_scalar_value(t, g2) - 6 * x0[0]) < 1e-12,
               "%s: second derivative after a failed sweep %g, want %g", name,
               ad_scalar_value(t, g2), 6 * x0[0]);
        ad_tape_free(t);
    }
}

/* The numeric sweep of a chain reuses swept adjoints: its peak over the
 * recording stays within a few P-vectors (DEPTH·2 adjoints without reuse). */
static void test_sweep_reuse(void)
{
    double x0[P];
    t_rng rng = {12};
    t_fill(&rng, x0, P, -1, 1);
    ad_tape *t = ad_tape_new(NULL);
    ad_var x = ad_leaf(t, P, 1, x0);
    ad_var f = chain(t, x);
    size_t before = ad_tape_stats(t).peak_bytes;
    double g[P], *out[1] = {g};
    EXPECT(ad_grad_values(t, f, 1, &x, out) == AD_OK, "chain grad: %s", ad_tape_message(t));
    size_t grew = ad_tape_stats(t).peak_bytes - before;
    EXPECT(grew <= 6 * P * sizeof(double), "numeric sweep of a %d-step chain took %zu bytes",
           DEPTH, grew);
    /* and the values: d/dx Σ chain is a product of per-step factors */
    double err = 0;
    for (int i = 0; i < P; i++) {
        double y = x0[i], d = 1;
        for (int k = 0; k < DEPTH; k++) {
            y = tanh(0.9 * y + 0.1);
            d *= 0.9 * (1 - y * y);
        }
        err = fmax(err, fabs(g[i] - d) / fmax(fabs(d), 1e-300));
    }
    EXPECT(err < 1e-13, "chain gradient relerr %.2e", err);
    ad_tape_free(t);
}

/* ad_hvp_cross and ad_check-style loops past the cap: only statuses. */
static void test_cap_in_hvp(void)
{
    double x0[P], v[P], hv[P];
    t_rng rng = {5};
    t_fill(&rng, x0, P, -1, 1);
    t_fill(&rng, v, P, -1, 1);
    for (int mode = AD_HVP_FOR; mode <= AD_HVP_ROR; mode++) {
        ad_tape_opts o = small_blocks(0);
        ad_tape *t = ad_tape_new(&o);
        ad_var x = ad_leaf(t, P, 1, x0);
        ad_var f = chain(t, x);
        size_t r_fwd = ad_tape_stats(t).reserved_bytes;
        EXPECT(ad_hvp_cross(t, f, x, AD_NONE, v, hv, NULL, (ad_hvp_mode)mode) == AD_OK,
               "uncapped hvp failed");
        size_t r_hvp = ad_tape_stats(t).reserved_bytes;
        ad_tape_free(t);
        o = small_blocks(r_fwd + (r_hvp - r_fwd) / 2);
        t = ad_tape_new(&o);
        x = ad_leaf(t, P, 1, x0);
        f = chain(t, x);
        ad_status s = ad_hvp_cross(t, f, x, AD_NONE, v, hv, NULL, (ad_hvp_mode)mode);
        EXPECT(s == AD_ENOMEM, "hvp mode %d past the cap: %s", mode, ad_strerror(s));
        EXPECT(ad_tape_stats(t).reserved_bytes <= o.max_bytes, "hvp: reserved past the cap");
        ad_tape_free(t);
    }
}

enum { N10 = 10 };

/* f(x) = Σ y_d with y_0 = x, y_{k+1} = tanh(0.9 y_k + 0.1), x N10×1. */
static ad_var chain_d(ad_tape *t, ad_var x, int d)
{
    ad_var y = x;
    for (int k = 0; k < d; k++)
        y = ad_tanh(t, ad_affine(t, y, 0.9, 0.1));
    return ad_sum(t, y);
}

/* Plain-C reference: g = ∂f/∂x and h = ∂²f/∂x² (f is separable, so H is
 * diagonal), by the recurrences u' = 0.9 s u, w' = 0.81 (−2 y s) u² + 0.9 s w
 * with s = 1 − y_{k+1}². */
static void chain_d_derivs(const double *x, int d, double *g, double *h)
{
    for (int i = 0; i < N10; i++) {
        double y = x[i], u = 1, w = 0;
        for (int k = 0; k < d; k++) {
            y = tanh(0.9 * y + 0.1);
            double s = 1 - y * y;
            w = 0.81 * (-2 * y * s) * u * u + 0.9 * s * w;
            u = 0.9 * s * u;
        }
        g[i] = u;
        h[i] = w;
    }
}

/* Peak bytes (nodes + values) of recording chain_d and differentiating it
 * (mode −1: ad_grad, else ad_hvp_cross in that mode) on an uncapped tape. */
static size_t chain_peak(const double *x0, const double *v, int d, int mode)
{
    ad_tape *t = ad_tape_new(NULL);
    ad_var x = ad_leaf(t, N10, 1, x0), g;
    ad_var f = chain_d(t, x, d);
    double hv[N10];
    ad_status s = mode < 0 ? ad_grad(t, f, 1, &x, &g, 0)
                           : ad_hvp_cross(t, f, x, AD_NONE, v, hv, NULL, (ad_hvp_mode)mode);
    EXPECT(s == AD_OK, "uncapped chain of depth %d, mode %d: %s", d, mode, ad_tape_message(t));
    size_t peak = ad_tape_stats(t).peak_bytes;
    ad_tape_free(t);
    return peak;
}

/* Records chain_d and differentiates it under `cap` (default block size).
 * Returns 1 when it succeeded (and then checks the derivative against the
 * reference), 0 when it failed (and then checks the status and message). */
static int chain_under_cap(size_t cap, const double *x0, const double *v, int d, int mode)
{
    ad_tape_opts o = {.max_bytes = cap};
    ad_tape *t = ad_tape_new(&o);
    double gw[N10], hw[N10], got[N10];
    chain_d_derivs(x0, d, gw, hw);
    ad_var x = ad_leaf(t, N10, 1, x0), g;
    ad_var f = chain_d(t, x, d);
    ad_status s;
    if (mode < 0) {
        s = ad_grad(t, f, 1, &x, &g, 0);
        if (s == AD_OK)
            memcpy(got, ad_value(t, g), sizeof got);
    } else {
        s = ad_hvp_cross(t, f, x, AD_NONE, v, got, NULL, (ad_hvp_mode)mode);
        for (int i = 0; i < N10; i++)
            gw[i] = hw[i] * v[i];
    }
    EXPECT(ad_tape_stats(t).reserved_bytes <= cap, "cap %zu, depth %d, mode %d: reserved %zu",
           cap, d, mode, ad_tape_stats(t).reserved_bytes);
    if (s == AD_OK) {
        double e = t_relerr(got, gw, N10, 1e-300);
        EXPECT(e < 1e-13, "cap %zu, depth %d, mode %d: derivative off the reference by %g", cap,
               d, mode, e);
    } else {
        char capstr[40];
        snprintf(capstr, sizeof capstr, "max_bytes %zu", cap);
        const char *msg = ad_tape_message(t);
        EXPECT(s == AD_ENOMEM && strstr(msg, "cap reached") && strstr(msg, capstr),
               "cap %zu, depth %d, mode %d: %s '%s'", cap, d, mode, ad_strerror(s), msg);
    }
    ad_tape_free(t);
    return s == AD_OK;
}

/* Caps from 4 KiB to 1 MiB with the default (1 MiB) block size. Chains of
 * growing depth (0, 1, 2, 4, …) on a 10×1 vector are differentiated
 * (ad_grad, and the Hvp in both modes). Every run either gives the reference
 * derivative or fails with AD_ENOMEM naming the cap; a run whose uncapped
 * peak (nodes + values) is at most half the cap must succeed (the other half
 * covers the tape header, block headers and growth slack), one whose peak
 * exceeds the cap must fail. */
static void test_small_caps(void)
{
    static const size_t caps[] = {4096, 8192, 16384, 65536, 262144, 1048576};
    double x0[N10], v[N10];
    t_rng rng = {17};
    t_fill(&rng, x0, N10, -2, 2);
    t_fill(&rng, v, N10, -1, 1);
    for (size_t c = 0; c < sizeof caps / sizeof *caps; c++) {
        for (int mode = -1; mode <= AD_HVP_ROR; mode++) {
            int fits = 0, failed = 0;
            for (int d = 0;; d = d ? 2 * d : 1) {
                size_t peak = chain_peak(x0, v, d, mode);
                int ok = chain_under_cap(caps[c], x0, v, d, mode);
                EXPECT(ok || peak > caps[c] / 2,
                       "cap %zu, depth %d, mode %d: failed with an uncapped peak of %zu bytes",
                       caps[c], d, mode, peak);
                EXPECT(!ok || peak <= caps[c],
                       "cap %zu, depth %d, mode %d: succeeded with a peak of %zu bytes", caps[c],
                       d, mode, peak);
                fits += ok;
                failed += !ok;
                if (peak > 2 * caps[c])
                    break;
            }
            EXPECT(fits > 0 && failed > 0, "cap %zu, mode %d: %d depths fit, %d failed", caps[c],
                   mode, fits, failed);
        }

        /* One leaf bigger than the cap: the message names the cap and the bytes. */
        ad_tape_opts o = {.max_bytes = caps[c]};
        ad_tape *t = ad_tape_new(&o);
        int rows = (int)(caps[c] / sizeof(double)) + 1;
        char capstr[40], req[40];
        snprintf(capstr, sizeof capstr, "max_bytes %zu", caps[c]);
        snprintf(req, sizeof req, "%zu bytes", (size_t)rows * sizeof(double));
        EXPECT(!ad_ok(ad_leaf(t, rows, 1, NULL)) && ad_tape_status(t) == AD_ENOMEM,
               "cap %zu: a %d-double leaf recorded", caps[c], rows);
        const char *msg = ad_tape_message(t);
        EXPECT(strstr(msg, "cap reached") && strstr(msg, capstr) && strstr(msg, req),
               "cap %zu: message does not name the cap and the request: '%s'", caps[c], msg);
        ad_tape_free(t);

        /* A recording that grows until the cap stops it, using most of the cap. */
        t = ad_tape_new(&o);
        ad_var y = ad_leaf(t, N10, 1, x0);
        int steps = 0;
        while (ad_ok(y) && steps < 1000000) {
            y = ad_exp(t, ad_affine(t, y, 1e-3, 0.0));
            steps++;
        }
        msg = ad_tape_message(t);
        EXPECT(ad_tape_status(t) == AD_ENOMEM && strstr(msg, "cap reached") &&
                   strstr(msg, capstr),
               "cap %zu: runaway recording: %s '%s'", caps[c], ad_strerror(ad_tape_status(t)),
               msg);
        ad_stats st = ad_tape_stats(t);
        EXPECT(st.reserved_bytes <= caps[c] && st.bytes > caps[c] / 2,
               "cap %zu: runaway stopped with %zu bytes in use (%zu reserved)", caps[c], st.bytes,
               st.reserved_bytes);
        ad_tape_free(t);
    }
}

int main(void)
{
    test_runaway_recording();
    test_cap_in_sweeps();
    test_sweep_reuse();
    test_cap_in_hvp();
    test_small_caps();
    return t_done();
}
