/*
 * tests/unit/test_cap.c — the byte cap (ad_tape_opts.max_bytes): runaway
 * recording, ad_grad and ad_jvp past the cap fail with AD_ENOMEM and a
 * message, never crash, never exceed the cap, and the tape can be freed (or
 * cleared, rewound and used again).
 */
#include "ad/ad.h"
#include "testutil.h"

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
    ad_var f = chain(t, x), g;
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
        ad_var f = chain(t, x), g = {0};
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

int main(void)
{
    test_runaway_recording();
    test_cap_in_sweeps();
    test_cap_in_hvp();
    return t_done();
}
