/*
 * tests/unit/test_replay.c — ad_replay (<hypertape/ad.h>): a scalar
 * recording compiled once and re-evaluated at new leaf values.
 *
 * Truth:
 *   - the Rosenbrock chain f(x) = Σ 100 (x_{i+1} − x_i²)² + (1 − x_i)² with
 *     its gradient and Hessian-vector product in closed form (plain C);
 *   - a fresh recording at the new point: replayed values and gradients are
 *     compared bit for bit with ad_scalar_value and ad_grad_values there,
 *     on a function that uses every replayable op, and replayed H·v with
 *     ad_hvp_cross there (forward-over-reverse on the recorded gradient, a
 *     different code path) and with central differences of the gradient;
 *   - the errors: select, a non-scalar value, an unsupported op, a non-leaf
 *     or repeated leaf, non-finite leaf values, anomaly mode, and structure
 *     checks with ad_replay_matches.
 */
#include <hypertape/ad.h>
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { NR = 40 };

/* ------------------------------------------------------------ Rosenbrock */

static ad_var rosen(ad_tape *t, const ad_var *x, int N)
{
    ad_var acc = AD_NONE;
    for (int i = 0; i < N; i++) {
        ad_var d = ad_sub(t, x[i + 1], ad_square(t, x[i]));
        ad_var term = ad_add(t, ad_scale(t, ad_square(t, d), 100.0),
                             ad_square(t, ad_affine(t, x[i], -1.0, 1.0)));
        acc = i == 0 ? term : ad_add(t, acc, term);
    }
    return acc;
}

/* f, ∇f and H·v of the chain in closed form. */
static double rosen_hand(const double *x, const double *v, int N, double *g, double *hv)
{
    double f = 0;
    memset(g, 0, (size_t)(N + 1) * sizeof(double));
    memset(hv, 0, (size_t)(N + 1) * sizeof(double));
    for (int i = 0; i < N; i++) {
        double d = x[i + 1] - x[i] * x[i], e = 1.0 - x[i];
        f += 100.0 * d * d + e * e;
        g[i] += -400.0 * x[i] * d - 2.0 * e;
        g[i + 1] += 200.0 * d;
        double hii = 1200.0 * x[i] * x[i] - 400.0 * x[i + 1] + 2.0, hij = -400.0 * x[i];
        hv[i] += hii * v[i] + hij * v[i + 1];
        hv[i + 1] += hij * v[i] + 200.0 * v[i + 1];
    }
    return f;
}

static void test_rosenbrock(void)
{
    t_rng rng = {77};
    double x0[NR + 1], x1[NR + 1], v[NR + 1], g[NR + 1], hv[NR + 1], gh[NR + 1], hvh[NR + 1];
    t_fill(&rng, x0, NR + 1, -1.0, 1.5);
    t_fill(&rng, x1, NR + 1, -1.0, 1.5);
    t_fill(&rng, v, NR + 1, -1.0, 1.0);
    ad_tape *t = ad_tape_new(NULL);
    ad_var x[NR + 1];
    for (int i = 0; i <= NR; i++)
        x[i] = ad_leaf(t, 1, 1, &x0[i]);
    ad_var f = rosen(t, x, NR);
    ad_replay *r = ad_replay_new(t, f, NR + 1, x);
    EXPECT(r != NULL, "compile: %s", ad_tape_message(t));
    if (!r) {
        ad_tape_free(t);
        return;
    }
    EXPECT(ad_replay_inputs(r) == NR + 1 && ad_replay_size(r) == (size_t)(8 * NR - 1),
           "inputs %d, size %zu (want %d, %d)", ad_replay_inputs(r), ad_replay_size(r), NR + 1,
           8 * NR - 1);
    ad_tape_free(t); /* the program is a copy */
    for (int pass = 0; pass < 3; pass++) {
        const double *xp = pass == 1 ? x0 : x1;
        double y, y2, y3, fh = rosen_hand(xp, v, NR, gh, hvh);
        EXPECT(ad_replay_gradient(r, xp, &y, g) == AD_OK, "gradient: %s", ad_replay_message(r));
        EXPECT(fabs(y - fh) <= 1e-14 * fabs(fh), "pass %d f %.17g vs %.17g", pass, y, fh);
        EXPECT(t_relerr(g, gh, NR + 1, 1e-300) < 1e-14, "pass %d grad relerr %.2e", pass,
               t_relerr(g, gh, NR + 1, 1e-300));
        EXPECT(ad_replay_forward(r, xp, &y2) == AD_OK && y2 == y, "forward %.17g vs %.17g", y2, y);
        double g2[NR + 1];
        EXPECT(ad_replay_hvp(r, xp, v, &y3, g2, hv) == AD_OK, "hvp: %s", ad_replay_message(r));
        EXPECT(y3 == y && t_relerr(g2, g, NR + 1, 1e-300) < 1e-15, "hvp's value and gradient");
        EXPECT(t_relerr(hv, hvh, NR + 1, 1e-300) < 1e-13, "pass %d Hv relerr %.2e", pass,
               t_relerr(hv, hvh, NR + 1, 1e-300));
    }
    ad_replay_free(r);
}

/* ------------------------------------------------- every replayable op */

enum { NX = 4 };

/* A function of x0..x3 using every op replay compiles, plus a constant, a
 * leaf not listed (w) and a value recorded before the listed leaves (pre). */
static ad_var allops(ad_tape *t, const ad_var *x, ad_var w, ad_var pre)
{
    ad_var a = ad_exp(t, ad_scale(t, x[0], 0.3));
    ad_var b = ad_log(t, ad_shift(t, ad_square(t, x[1]), 1.0));
    ad_var c = ad_log1p(t, ad_square(t, x[2]));
    ad_var d = ad_sqrt(t, ad_shift(t, ad_square(t, x[3]), 1.0));
    ad_var e = ad_pow(t, ad_shift(t, ad_abs(t, x[0]), 1.0), 1.7);
    ad_var f = ad_sigmoid(t, ad_mul(t, x[1], x[2]));
    ad_var g = ad_softplus(t, ad_sub(t, x[2], x[3]));
    ad_var h = ad_logsigmoid(t, ad_div(t, x[0], ad_shift(t, ad_square(t, x[3]), 2.0)));
    ad_var k = ad_tanh(t, ad_mul(t, x[1], w));
    ad_var l = ad_relu(t, ad_shift(t, x[2], -0.1));
    ad_var m = ad_mul(t, ad_detach(t, x[0]), x[1]);
    ad_var n = ad_mul(t, ad_greater(t, x[3], ad_scalar(t, 0.2)), ad_square(t, x[3]));
    ad_var o = ad_transpose(t, ad_reshape(t, ad_sum(t, ad_mul(t, x[0], x[3])), 1, 1));
    ad_var p = ad_broadcast(t, ad_sum_rows(t, ad_sum_cols(t, ad_mul(t, pre, x[2]))), 1, 1);
    ad_var q = ad_div(t, x[1], ad_shift(t, ad_square(t, x[0]), 0.5));
    ad_var terms[] = {a, b, c, d, e, f, g, h, k, l, m, n, o, p, q};
    ad_var s = terms[0];
    for (size_t j = 1; j < sizeof terms / sizeof terms[0]; j++)
        s = ad_add(t, s, ad_mul(t, terms[j], ad_scalar(t, 1.0 + 0.1 * (double)j)));
    return s;
}

/* Records allops at xv on t (pre before the leaves x and the unlisted
 * leaf w among them, both at fixed values); returns y. */
static ad_var rec_allops(ad_tape *t, const double *xv, ad_var *x)
{
    ad_var pre = ad_exp(t, ad_leaf(t, 1, 1, (const double[]){0.4}));
    for (int j = 0; j < NX; j++)
        x[j] = ad_leaf(t, 1, 1, &xv[j]);
    ad_var w = ad_leaf(t, 1, 1, (const double[]){-0.7});
    return allops(t, x, w, pre);
}

static void test_allops(void)
{
    t_rng rng = {4242};
    double x0[NX] = {0.3, -0.8, 0.5, 0.9};
    ad_tape *t = ad_tape_new(NULL);
    ad_var x[NX];
    ad_var y = rec_allops(t, x0, x);
    ad_replay *r = ad_replay_new(t, y, NX, x);
    EXPECT(r != NULL, "compile allops: %s", ad_tape_message(t));
    if (!r) {
        ad_tape_free(t);
        return;
    }
    int same = 1, hv_ok = 1, fd_ok = 1;
    for (int trial = 0; trial < 60; trial++) {
        double xs[NX], v[NX], yr, gr[NX], g2[NX], hv[NX];
        t_fill(&rng, xs, NX, -1.5, 1.5);
        t_fill(&rng, v, NX, -1.0, 1.0);
        ad_tape *u = ad_tape_new(NULL);
        ad_var xu[NX];
        ad_var yu = rec_allops(u, xs, xu);
        double gf[NX], hvf[NX], *out[NX];
        for (int j = 0; j < NX; j++)
            out[j] = &gf[j];
        double yf = ad_scalar_value(u, yu);
        ad_grad_values(u, yu, NX, xu, out);
        EXPECT(ad_replay_gradient(r, xs, &yr, gr) == AD_OK, "gradient");
        same &= yr == yf && !memcmp(gr, gf, sizeof gr);
        /* H·v against the tape's forward-over-reverse (θ = the four leaves as
         * one 4×1 is not this recording, so one leaf at a time: e_j·H·v) */
        EXPECT(ad_replay_hvp(r, xs, v, NULL, g2, hv) == AD_OK, "hvp");
        for (int j = 0; j < NX; j++) {
            double hj = 0;
            for (int l = 0; l < NX; l++) { /* H_jl: ∂²y/∂x_j² as hv, else as cross */
                double cr = 0, hjj = 0;
                ad_hvp_cross(u, yu, xu[j], l == j ? AD_NONE : xu[l], &(double){1.0}, &hjj,
                             l == j ? NULL : &cr, AD_HVP_FOR);
                hj += (l == j ? hjj : cr) * v[l];
            }
            hvf[j] = hj;
        }
        hv_ok &= t_relerr(hv, hvf, NX, 1e-12) < 1e-12;
        /* central differences of the replayed gradient along v */
        double hstep = 1e-6, xp[NX], xm[NX], gp[NX], gm[NX], fd[NX];
        for (int j = 0; j < NX; j++)
            xp[j] = xs[j] + hstep * v[j], xm[j] = xs[j] - hstep * v[j];
        ad_replay_gradient(r, xp, NULL, gp);
        ad_replay_gradient(r, xm, NULL, gm);
        for (int j = 0; j < NX; j++)
            fd[j] = (gp[j] - gm[j]) / (2 * hstep);
        /* term m = 2.0·detach(x0)·x1 makes ∂y/∂x1 vary with x0 although no
         * derivative flows through detach: its 2.0·v0 is not in H·v */
        fd[1] -= 2.0 * v[0];
        /* relu's kink and greater's jump sit on measure-zero sets */
        fd_ok &= t_relerr(hv, fd, NX, 1e-3) < 1e-6;
        if (!hv_ok || !fd_ok || !same) {
            fprintf(stderr, "trial %d: x %g %g %g %g\n", trial, xs[0], xs[1], xs[2], xs[3]);
            ad_tape_free(u);
            break;
        }
        ad_tape_free(u);
    }
    EXPECT(same, "replayed value and gradient equal a fresh recording's bit for bit");
    EXPECT(hv_ok, "replayed H·v equals ad_hvp_cross's");
    EXPECT(fd_ok, "replayed H·v equals central differences of the gradient");
    ad_replay_free(r);
    ad_tape_free(t);
}

/* ----------------------------------------------------------------- errors */

static void expect_fail(ad_tape *t, ad_var y, int n, const ad_var *lv, ad_status st,
                        const char *needle, const char *what)
{
    double before = ad_value(t, y)[0];
    ad_replay *r = ad_replay_new(t, y, n, lv);
    EXPECT(!r && ad_tape_status(t) == st && strstr(ad_tape_message(t), needle),
           "%s: status %d, message '%s'", what, (int)ad_tape_status(t), ad_tape_message(t));
    ad_replay_free(r);
    ad_tape_clear_error(t);
    EXPECT(ad_tape_status(t) == AD_OK && ad_value(t, y)[0] == before,
           "%s: the recording is untouched", what);
}

static void test_errors(void)
{
    ad_tape *t = ad_tape_new(NULL);
    ad_var a = ad_leaf(t, 1, 1, (const double[]){0.5}), b = ad_leaf(t, 1, 1, (const double[]){2.0});
    ad_var ab[2] = {a, b};
    ad_var sel = ad_add(t, ad_select(t, ad_greater(t, a, b), a, b), a);
    expect_fail(t, sel, 2, ab, AD_EINVAL, "select", "select");
    ad_var v2 = ad_leaf(t, 2, 1, (const double[]){1.0, 2.0});
    ad_var s2 = ad_sum(t, ad_mul(t, v2, a));
    expect_fail(t, s2, 2, ab, AD_ESHAPE, "2x1", "non-scalar value");
    ad_var mm = ad_add(t, ad_matmul(t, a, b, 0, 0), a);
    expect_fail(t, mm, 2, ab, AD_EINVAL, "matmul", "unsupported op");
    ad_var nl[2] = {a, ad_exp(t, b)};
    expect_fail(t, ad_mul(t, a, b), 2, nl, AD_EINVAL, "not a 1x1 leaf", "non-leaf");
    ad_var dup[2] = {a, a};
    expect_fail(t, ad_mul(t, a, b), 2, dup, AD_EINVAL, "same node", "repeated leaf");
    expect_fail(t, ad_mul(t, a, b), 0, ab, AD_EINVAL, "n > 0", "n = 0");
    expect_fail(t, v2, 2, ab, AD_ESHAPE, "1x1", "non-scalar output");

    /* non-finite leaf values */
    ad_replay *r = ad_replay_new(t, ad_log(t, ad_mul(t, a, b)), 2, ab);
    EXPECT(r != NULL, "compile log(ab)");
    double y = 0, g[2];
    EXPECT(ad_replay_gradient(r, (const double[]){NAN, 1.0}, &y, g) == AD_EINVAL &&
               strstr(ad_replay_message(r), "x[0]"),
           "NaN leaf: '%s'", ad_replay_message(r));
    /* outside anomaly mode log(−1) is a NaN result with AD_OK, like the ops */
    EXPECT(ad_replay_forward(r, (const double[]){-1.0, 1.0}, &y) == AD_OK && isnan(y),
           "log(-1) outside anomaly mode");
    EXPECT(ad_replay_forward(r, (const double[]){1.0, 3.0}, &y) == AD_OK &&
               y == log(3.0) && !*ad_replay_message(r),
           "log(3) and the message cleared");
    ad_replay_free(r);

    /* anomaly mode at compile time: a NaN names the node and op */
    ad_tape_set_anomaly(t, 1);
    ad_var a1 = ad_leaf(t, 1, 1, (const double[]){1.0}), b1 = ad_leaf(t, 1, 1, (const double[]){2.0});
    ad_var lg = ad_log(t, ad_mul(t, a1, b1));
    r = ad_replay_new(t, lg, 2, (ad_var[]){a1, b1});
    ad_tape_set_anomaly(t, 0);
    EXPECT(ad_replay_forward(r, (const double[]){-1.0, 1.0}, &y) == AD_EANOMALY &&
               strstr(ad_replay_message(r), "'log'"),
           "anomaly: '%s'", ad_replay_message(r));

    /* structure checks: the same code recorded again matches, other code not */
    ad_mark m = ad_tape_mark(t);
    ad_var a2 = ad_leaf(t, 1, 1, (const double[]){3.0}), b2 = ad_leaf(t, 1, 1, (const double[]){4.0});
    ad_log(t, ad_mul(t, a2, b2));
    EXPECT(ad_replay_matches(r, t, m) == AD_OK, "same structure: %s", ad_replay_message(r));
    ad_tape_rewind(t, m);
    a2 = ad_leaf(t, 1, 1, (const double[]){3.0});
    b2 = ad_leaf(t, 1, 1, (const double[]){4.0});
    ad_log(t, ad_add(t, a2, b2));
    EXPECT(ad_replay_matches(r, t, m) == AD_ECHECK && strstr(ad_replay_message(r), "structure"),
           "other structure: '%s'", ad_replay_message(r));
    ad_tape_rewind(t, m);
    ad_leaf(t, 1, 1, (const double[]){3.0});
    EXPECT(ad_replay_matches(r, t, m) == AD_ECHECK, "too short: '%s'", ad_replay_message(r));
    ad_replay_free(r);
    EXPECT(ad_replay_gradient(NULL, NULL, NULL, NULL) == AD_EINVAL && ad_replay_inputs(NULL) == 0,
           "NULL replay");
    ad_tape_free(t);
}

int main(void)
{
    test_rosenbrock();
    test_allops();
    test_errors();
    return t_done();
}
