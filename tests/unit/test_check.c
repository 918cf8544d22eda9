/*
 * tests/unit/test_check.c — the finite-difference checkers shipped for
 * users' model code: they pass correct functions and return AD_ECHECK on
 * deliberately wrong ones (a detach that hides part of the derivative).
 */
#include <hypertape/ad.h>
#include "testutil.h"

#include <string.h>

/* Correct: f(x) = Σ x⁴/4 + logsumexp(row) + Σ tanh(x) ⊙ x (any shape). */
static ad_var f_good(ad_tape *t, ad_var x, void *ctx)
{
    (void)ctx;
    ad_var q = ad_scale(t, ad_sum(t, ad_pow(t, x, 4.0)), 0.25);
    ad_var row = ad_reshape(t, x, 1, ad_rows(t, x) * ad_cols(t, x));
    ad_var l = ad_sum(t, ad_logsumexp_rows(t, row));
    return ad_add(t, ad_add(t, q, l), ad_sum(t, ad_mul(t, ad_tanh(t, x), x)));
}

/* Wrong first derivative: f(x) = Σ x ⊙ detach(x); AD says x, truth is 2x. */
static ad_var f_bad_grad(ad_tape *t, ad_var x, void *ctx)
{
    (void)ctx;
    return ad_sum(t, ad_mul(t, x, ad_detach(t, x)));
}

/* Wrong second derivative: f(x) = Σ x²⊙detach(x) has AD gradient
 * 2x⊙detach(x) (numerically 2x²; the truth is 3x², so the gradient check
 * fails too), and AD Hv = 2x⊙v while differences of the AD gradient give
 * 4x⊙v. */
static ad_var f_bad_hess(ad_tape *t, ad_var x, void *ctx)
{
    (void)ctx;
    return ad_sum(t, ad_mul(t, ad_square(t, x), ad_detach(t, x)));
}

/* A detach that changes nothing: f(x) = ½‖x‖² + Σ (x − detach(x))³. The
 * second term and its AD derivatives of orders 1 and 2 are 0 at every x,
 * which is the truth: a must-pass case (no false alarm). */
static ad_var f_detach_zero(ad_tape *t, ad_var x, void *ctx)
{
    (void)ctx;
    ad_var d = ad_sub(t, x, ad_detach(t, x));
    return ad_add(t, ad_scale(t, ad_dot(t, x, x), 0.5), ad_sum(t, ad_pow(t, d, 3.0)));
}

/* Returns a 2×1 value: the checkers must refuse it. */
static ad_var f_not_scalar(ad_tape *t, ad_var x, void *ctx)
{
    (void)ctx;
    return ad_slice(t, ad_reshape(t, x, ad_rows(t, x) * ad_cols(t, x), 1), 0, 2, 0, 1);
}

/* A shape error inside the user's function. */
static ad_var f_shape_error(ad_tape *t, ad_var x, void *ctx)
{
    (void)ctx;
    return ad_dot(t, x, ad_transpose(t, x));
}

/* Counts calls through ctx. */
static ad_var f_counted(ad_tape *t, ad_var x, void *ctx)
{
    ++*(int *)ctx;
    return ad_sum(t, ad_exp(t, x));
}

static void test_grad_checker(void)
{
    t_rng rng = {17};
    double x[2 * 3], big[100];
    t_fill(&rng, x, 6, -1, 1);
    t_fill(&rng, big, 100, -1, 1);
    ad_check_report rep;
    ad_status s = ad_check_grad(f_good, NULL, 2, 3, x, NULL, &rep);
    EXPECT(s == AD_OK, "good f failed: %s (%s)", ad_strerror(s), rep.message);
    EXPECT(rep.nchecks >= 9 && rep.max_rel_err < 1e-6, "good f: %d checks, err %g", rep.nchecks,
           rep.max_rel_err);
    /* Large input: random directions only. */
    s = ad_check_grad(f_good, NULL, 100, 1, big, NULL, &rep);
    EXPECT(s == AD_OK, "good f (100): %s (%s)", ad_strerror(s), rep.message);
    ad_check_opts o = {0};
    o.ndirs = 3;
    o.seed = 12345;
    s = ad_check_grad(f_good, NULL, 100, 1, big, &o, &rep);
    EXPECT(s == AD_OK && rep.nchecks == 3, "ndirs = 3 gave %d checks", rep.nchecks);

    s = ad_check_grad(f_bad_grad, NULL, 2, 3, x, NULL, &rep);
    EXPECT(s == AD_ECHECK, "x*detach(x) passed the gradient check: %s", ad_strerror(s));
    /* AD gives x, differences 2x: all coordinates ‖x − 2x‖ / ‖2x‖ = 1/2, a
     * unit direction d |⟨x, d⟩| / ‖x‖ ∈ [0, 1]. */
    EXPECT(rep.max_rel_err > 0.5 - 1e-6 && rep.max_rel_err < 1 + 1e-6,
           "bad f: error %g, want in [0.5, 1]", rep.max_rel_err);
    EXPECT(rep.message[0] != '\0', "bad f: no message");
    s = ad_check_grad(f_bad_grad, NULL, 100, 1, big, NULL, &rep);
    EXPECT(s == AD_ECHECK, "x*detach(x) (100) passed: %s", ad_strerror(s));
    EXPECT(rep.message[0] && strstr(rep.message, "direction"), "message: %s", rep.message);

    /* A loose tolerance lets the bad one through; a tight one keeps it out. */
    o = (ad_check_opts){0};
    o.tol = 0.9;
    EXPECT(ad_check_grad(f_bad_grad, NULL, 2, 3, x, &o, &rep) == AD_OK, "tol 0.9 not honoured");

    /* Bad uses. */
    EXPECT(ad_check_grad(f_not_scalar, NULL, 2, 3, x, NULL, &rep) == AD_EINVAL,
           "non-scalar f accepted");
    EXPECT(rep.message[0] != '\0', "non-scalar f: no message");
    s = ad_check_grad(f_shape_error, NULL, 2, 3, x, NULL, &rep);
    EXPECT(s == AD_ESHAPE && strstr(rep.message, "dot"), "shape error in f: %s / %s",
           ad_strerror(s), rep.message);
    EXPECT(ad_check_grad(NULL, NULL, 2, 3, x, NULL, &rep) == AD_EINVAL, "NULL f accepted");
    EXPECT(ad_check_grad(f_good, NULL, 0, 3, x, NULL, &rep) == AD_EINVAL, "0x3 accepted");
    EXPECT(ad_check_grad(f_good, NULL, 2, 3, NULL, NULL, &rep) == AD_EINVAL, "NULL x0 accepted");
    int calls = 0;
    EXPECT(ad_check_grad(f_counted, &calls, 2, 2, x, NULL, &rep) == AD_OK && calls > 4,
           "ctx not passed through (%d calls)", calls);
}

static void test_hvp_checker(void)
{
    t_rng rng = {23};
    double x[6];
    t_fill(&rng, x, 6, -1, 1);
    for (int mode = AD_HVP_FOR; mode <= AD_HVP_ROR; mode++) {
        ad_check_opts o = {0};
        o.mode = (ad_hvp_mode)mode;
        ad_check_report rep;
        ad_status s = ad_check_hvp(f_good, NULL, 3, 2, x, &o, &rep);
        EXPECT(s == AD_OK, "mode %d good f: %s (%s)", mode, ad_strerror(s), rep.message);
        EXPECT(rep.nchecks == 8 && rep.max_rel_err < 1e-6, "mode %d: %d checks, err %g", mode,
               rep.nchecks, rep.max_rel_err);
        s = ad_check_hvp(f_detach_zero, NULL, 3, 2, x, &o, &rep);
        EXPECT(s == AD_OK, "mode %d: (x - detach x)^3 term: %s (%s)", mode, ad_strerror(s),
               rep.message);
        s = ad_check_hvp(f_bad_hess, NULL, 3, 2, x, &o, &rep);
        EXPECT(s == AD_ECHECK, "mode %d: x^2*detach(x) passed the Hvp check", mode);
        /* AD Hv = 2x⊙v, differences 4x⊙v: relative error 1/2 in every direction. */
        EXPECT(fabs(rep.max_rel_err - 0.5) < 1e-5, "mode %d: error %g, want 0.5", mode,
               rep.max_rel_err);
        EXPECT(rep.message[0] != '\0', "mode %d: no message", mode);
        s = ad_check_hvp(f_shape_error, NULL, 3, 2, x, &o, &rep);
        EXPECT(s == AD_ESHAPE, "mode %d: shape error in f gave %s", mode, ad_strerror(s));
    }
    ad_check_report rep;
    EXPECT(ad_check_hvp(NULL, NULL, 3, 2, x, NULL, &rep) == AD_EINVAL, "NULL f accepted");
    /* The first-order bug is also visible to the gradient checker. */
    EXPECT(ad_check_grad(f_bad_hess, NULL, 3, 2, x, NULL, &rep) == AD_ECHECK,
           "x^2*detach(x) passed the gradient check");
}

int main(void)
{
    test_grad_checker();
    test_hvp_checker();
    return t_done();
}
