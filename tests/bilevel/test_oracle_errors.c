/*
 * tests/bilevel/test_oracle_errors.c — the oracle's error contract
 * (bilevel.h, "Errors"), on small problems written here:
 *   - ad codes keep their meaning: a G of the wrong shape is BL_ESHAPE (from
 *     bl_oracle_G and from bl_oracle_point), a tape cap too small is
 *     BL_ENOMEM, non-finite data in a model's constant is BL_EINVAL, a
 *     non-finite value, gradient or product is BL_ENONFINITE;
 *   - first-error semantics (bl_oracle_keep_first_error): a later failure
 *     leaves the first message and status; bl_oracle_clear_error() forgets
 *     it; the legacy mode (the default for now) keeps the last;
 *   - bl_oracle_set_hvp_mode: both modes give the closed-form H·v, cross(v)
 *     and grad_jvp of G = Σ e^{θ_k λ_k}; another mode is BL_EINVAL.
 */
#include <hypertape/bilevel.h>
#include "tests/testutil.h"

#include <math.h>
#include <string.h>

/* G = ½‖θ‖² + λᵀθ (or variants by ctx), F = ½‖θ‖². p = m = 3. */
enum { OK = 0, WRONG_SHAPE, NAN_CONST, SQRT, EXP };

static ad_var G_cb(ad_tape *t, ad_var th, ad_var la, const int *b, int nb, void *ctx)
{
    int kind = *(const int *)ctx;
    ad_var q = ad_scale(t, ad_dot(t, th, th), 0.5);
    if (kind == WRONG_SHAPE)
        return ad_add(t, ad_scale(t, th, 0.5), la); /* 3×1, not 1×1 */
    if (kind == NAN_CONST) {
        double bad[3] = {1, NAN, 2};
        return ad_add(t, q, ad_dot(t, ad_const(t, 3, 1, bad), th));
    }
    if (kind == EXP)
        return ad_sum(t, ad_exp(t, ad_mul(t, th, la)));
    if (kind == SQRT) /* value finite at θ = 0, gradient infinite */
        return ad_add(t, ad_sum(t, ad_sqrt(t, ad_square(t, th))), ad_dot(t, la, th));
    return ad_add(t, q, ad_dot(t, la, th));
}

static ad_var F_cb(ad_tape *t, ad_var th, ad_var la, const int *b, int nb, void *ctx)
{
    return ad_scale(t, ad_dot(t, th, th), 0.5);
}

static bl_problem problem(int *kind)
{
    return (bl_problem){.name = "errs", .p = 3, .m = 3, .G = G_cb, .F = F_cb, .ctx = kind};
}

static void test_codes(void)
{
    double th[3] = {0.5, -1, 2}, la[3] = {1, 2, 3}, g[3], f;
    int kind = WRONG_SHAPE;
    bl_problem pb = problem(&kind);
    bl_oracle *o = bl_oracle_new(&pb, 0);
    bl_status st = bl_oracle_G(o, NULL, th, la, &f, g, NULL);
    EXPECT(st == BL_ESHAPE && strstr(bl_oracle_message(o), "3x1"), "wrong shape G: %s '%s'", bl_strerror(st),
           bl_oracle_message(o));
    bl_oracle_clear_error(o);
    st = bl_oracle_point(o, NULL, th, la);
    EXPECT(st == BL_ESHAPE && strstr(bl_oracle_message(o), "point"), "wrong shape point: %s '%s'",
           bl_strerror(st), bl_oracle_message(o));
    bl_oracle_free(o);

    kind = OK;
    for (size_t cap = 512; cap <= 2048; cap *= 2) {
        o = bl_oracle_new(&pb, cap);
        st = bl_oracle_point(o, NULL, th, la);
        EXPECT(st == BL_ENOMEM && bl_oracle_error(o) == BL_ENOMEM && bl_oracle_message(o)[0],
               "cap %zu B: %s '%s'", cap, bl_strerror(st), bl_oracle_message(o));
        bl_oracle_free(o);
    }

    kind = NAN_CONST;
    o = bl_oracle_new(&pb, 0);
    st = bl_oracle_G(o, NULL, th, la, &f, g, NULL);
    EXPECT(st == BL_EINVAL && strstr(bl_oracle_message(o), "nan"), "NaN in a model constant: %s '%s'",
           bl_strerror(st), bl_oracle_message(o));
    bl_oracle_free(o);

    kind = SQRT;
    double zero[3] = {0, 0, 0};
    o = bl_oracle_new(&pb, 0);
    st = bl_oracle_G(o, NULL, zero, la, &f, g, NULL);
    EXPECT(st == BL_ENONFINITE && strstr(bl_oracle_message(o), "dG/dtheta"), "infinite gradient: %s '%s'",
           bl_strerror(st), bl_oracle_message(o));
    bl_oracle_free(o);

    kind = OK;
    o = bl_oracle_new(&pb, 0);
    double v[3] = {1, INFINITY, 0}, hv[3];
    EXPECT(bl_oracle_point(o, NULL, th, la) == BL_OK, "point: %s", bl_oracle_message(o));
    st = bl_oracle_hvp(o, v, hv, NULL);
    EXPECT(st == BL_ENONFINITE && strstr(bl_oracle_message(o), "v[1]"), "Inf v: %s '%s'", bl_strerror(st),
           bl_oracle_message(o));
    bl_oracle_clear_error(o);
    st = bl_oracle_grad_jvp(o, la, v, hv);
    EXPECT(st == BL_ENONFINITE && strstr(bl_oracle_message(o), "v_lambda[1]"), "Inf v_lambda: %s '%s'",
           bl_strerror(st), bl_oracle_message(o));
    bl_oracle_free(o);
}

static void test_first_error(void)
{
    double th[3] = {0.5, -1, 2}, la[3] = {1, 2, 3}, g[3], f, bad[3] = {0, NAN, 0};
    int kind = OK;
    bl_problem pb = problem(&kind);
    bl_oracle *o = bl_oracle_new(&pb, 0);
    EXPECT(bl_oracle_error(o) == BL_OK && !bl_oracle_message(o)[0], "fresh oracle has an error");
    bl_oracle_keep_first_error(o, 1);
    EXPECT(bl_oracle_hvp(o, th, g, NULL) == BL_EINVAL, "hvp without a point");
    EXPECT(bl_oracle_G(o, NULL, bad, la, &f, g, NULL) == BL_ENONFINITE, "NaN theta");
    EXPECT(bl_oracle_G(o, NULL, th, la, &f, g, NULL) == BL_OK, "a success");
    EXPECT(bl_oracle_error(o) == BL_EINVAL && strstr(bl_oracle_message(o), "no point"),
           "first error not kept: %s '%s'", bl_strerror(bl_oracle_error(o)), bl_oracle_message(o));
    bl_oracle_clear_error(o);
    EXPECT(bl_oracle_error(o) == BL_OK && !bl_oracle_message(o)[0], "clear_error left '%s'", bl_oracle_message(o));
    EXPECT(bl_oracle_G(o, NULL, bad, la, &f, g, NULL) == BL_ENONFINITE, "NaN theta");
    EXPECT(bl_oracle_error(o) == BL_ENONFINITE && strstr(bl_oracle_message(o), "theta[1]"),
           "after clear: %s '%s'", bl_strerror(bl_oracle_error(o)), bl_oracle_message(o));
    /* legacy mode: the last failure overwrites */
    bl_oracle_keep_first_error(o, 0);
    EXPECT(bl_oracle_hvp(o, th, g, NULL) == BL_EINVAL, "hvp without a point");
    EXPECT(bl_oracle_error(o) == BL_EINVAL && strstr(bl_oracle_message(o), "no point"), "legacy: %s '%s'",
           bl_strerror(bl_oracle_error(o)), bl_oracle_message(o));
    bl_oracle_free(o);
}

/* G = Σ e^{θ_k λ_k}: H = diag(λ_k² e_k), ∂²G/∂λ_k∂θ_k = (1 + θ_kλ_k) e_k. */
static void test_hvp_mode(void)
{
    double th[3] = {0.5, -1, 0.25}, la[3] = {1, 0.5, -2}, v[3] = {1, -2, 3}, w[3] = {0.5, 1, -1};
    double hv[3], cr[3], jv[3];
    int kind = EXP;
    bl_problem pb = problem(&kind);
    bl_oracle *o = bl_oracle_new(&pb, 0);
    for (int mode = AD_HVP_FOR; mode <= AD_HVP_ROR; mode++) {
        EXPECT(bl_oracle_set_hvp_mode(o, (ad_hvp_mode)mode) == BL_OK, "set mode %d", mode);
        EXPECT(bl_oracle_point(o, NULL, th, la) == BL_OK, "point: %s", bl_oracle_message(o));
        EXPECT(bl_oracle_hvp(o, v, hv, cr) == BL_OK, "hvp: %s", bl_oracle_message(o));
        EXPECT(bl_oracle_grad_jvp(o, v, w, jv) == BL_OK, "grad_jvp: %s", bl_oracle_message(o));
        for (int k = 0; k < 3; k++) {
            double e = exp(th[k] * la[k]), h = la[k] * la[k] * e, x = (1 + th[k] * la[k]) * e;
            EXPECT(fabs(hv[k] - h * v[k]) <= 1e-14 * (1 + fabs(h * v[k])), "mode %d Hv[%d]", mode, k);
            EXPECT(fabs(cr[k] - x * v[k]) <= 1e-14 * (1 + fabs(x * v[k])), "mode %d cross[%d]", mode, k);
            EXPECT(fabs(jv[k] - h * v[k] - x * w[k]) <= 1e-14 * (1 + fabs(h * v[k] + x * w[k])), "mode %d grad_jvp[%d]", mode, k);
        }
    }
    EXPECT(bl_oracle_set_hvp_mode(o, (ad_hvp_mode)7) == BL_EINVAL &&
               strstr(bl_oracle_message(o), "mode 7"),
           "bad mode: '%s'", bl_oracle_message(o));
    bl_oracle_free(o);
}

int main(void)
{
    test_hvp_mode();
    test_codes();
    test_first_error();
    return t_done();
}
