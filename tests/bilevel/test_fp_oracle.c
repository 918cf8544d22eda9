/*
 * tests/bilevel/test_fp_oracle.c — the fixed-point oracle against
 * independent truths: g and f against plain C, the JVP and VJP of the
 * linear map against A v, Aᵀu, Cᵀu exactly, of the tanh map against
 * central differences, the adjoint identity ⟨u, Jv⟩ = ⟨Jᵀu, v⟩, the loss
 * gradient against its closed form, counts and error messages.
 */
#include "fp_problems.h"

static void test_linear_products(void)
{
    fp_test P;
    fpt_init(&P, 7, 3, 0, 0.8, 11);
    bl_fp_oracle *o = bl_fp_oracle_new(&P.pb, 0);
    t_rng r = {5};
    double th[7], la[3], v[7], u[7], jv[7], jtu[7], ctu[3], g[7], fv[7], ref[7];
    t_fill(&r, th, 7, -1, 1);
    t_fill(&r, la, 3, -1, 1);
    t_fill(&r, v, 7, -1, 1);
    t_fill(&r, u, 7, -1, 1);
    EXPECT(bl_fp_oracle_g(o, th, la, g, fv) == BL_OK, "g");
    ref_f(&P, th, la, ref);
    double e = 0;
    for (int i = 0; i < 7; i++)
        e = fmax(e, fabs(fv[i] - ref[i]) + fabs(g[i] - (th[i] - ref[i])));
    EXPECT(e < 1e-14, "g and f vs plain C: %g", e);
    EXPECT(bl_fp_oracle_jvp(o, v, jv) == BL_EINVAL, "jvp without a point is refused");
    EXPECT(strstr(bl_fp_oracle_message(o), "no point") != NULL, "message: %s", bl_fp_oracle_message(o));
    bl_fp_oracle_clear_error(o);
    EXPECT(bl_fp_oracle_point(o, th, la, NULL) == BL_OK, "point");
    EXPECT(bl_fp_oracle_jvp(o, v, jv) == BL_OK, "jvp");
    EXPECT(bl_fp_oracle_vjp(o, u, jtu, ctu) == BL_OK, "vjp");
    double ej = 0, et = 0, ec = 0;
    for (int i = 0; i < 7; i++) {
        double a = 0, b = 0;
        for (int j = 0; j < 7; j++) {
            a += P.A[i * 7 + j] * v[j];
            b += P.A[j * 7 + i] * u[j];
        }
        ej = fmax(ej, fabs(jv[i] - a));
        et = fmax(et, fabs(jtu[i] - b));
    }
    for (int k = 0; k < 3; k++) {
        double c = 0;
        for (int i = 0; i < 7; i++)
            c += P.C[i * 3 + k] * u[i];
        ec = fmax(ec, fabs(ctu[k] - c));
    }
    EXPECT(ej < 1e-14 && et < 1e-14 && ec < 1e-14, "Av %g, A^T u %g, C^T u %g", ej, et, ec);
    bl_fp_counts c = bl_fp_oracle_counts(o);
    EXPECT(c.f == 2 && c.jvp == 1 && c.vjp == 1, "counts f %ld jvp %ld vjp %ld", c.f, c.jvp, c.vjp);
    /* loss: ∇_θL = θ − y, ∇_λL = aλ */
    double val, gt[7], gl[3];
    EXPECT(bl_fp_oracle_loss(o, th, la, &val, gt, gl) == BL_OK, "loss");
    double eg = 0, v0 = 0;
    for (int i = 0; i < 7; i++) {
        eg = fmax(eg, fabs(gt[i] - (th[i] - P.y[i])));
        v0 += 0.5 * (th[i] - P.y[i]) * (th[i] - P.y[i]);
    }
    for (int k = 0; k < 3; k++) {
        eg = fmax(eg, fabs(gl[k] - P.a * la[k]));
        v0 += 0.5 * P.a * la[k] * la[k];
    }
    EXPECT(eg < 1e-14 && fabs(val - v0) < 1e-13, "loss gradient %g value %g vs %g", eg, val, v0);
    th[2] = NAN;
    EXPECT(bl_fp_oracle_g(o, th, la, g, NULL) == BL_ENONFINITE, "NaN theta refused");
    EXPECT(strstr(bl_fp_oracle_message(o), "theta[2]") != NULL, "message names theta[2]: %s",
           bl_fp_oracle_message(o));
    bl_fp_oracle_free(o);
    fpt_free(&P);
}

static void test_tanh_products(void)
{
    fp_test P;
    fpt_init(&P, 9, 4, 1, 0.9, 12);
    bl_fp_oracle *o = bl_fp_oracle_new(&P.pb, 0);
    t_rng r = {6};
    double th[9], la[4], v[9], u[9], jv[9], jtu[9], ctu[4], fp[9], fm[9];
    t_fill(&r, th, 9, -1, 1);
    t_fill(&r, la, 4, -1, 1);
    t_fill(&r, v, 9, -1, 1);
    t_fill(&r, u, 9, -1, 1);
    EXPECT(bl_fp_oracle_point(o, th, la, NULL) == BL_OK, "point");
    EXPECT(bl_fp_oracle_jvp(o, v, jv) == BL_OK, "jvp");
    EXPECT(bl_fp_oracle_vjp(o, u, jtu, ctu) == BL_OK, "vjp");
    const double h = 1e-6;
    double tp[9], tm[9];
    for (int i = 0; i < 9; i++) {
        tp[i] = th[i] + h * v[i];
        tm[i] = th[i] - h * v[i];
    }
    ref_f(&P, tp, la, fp);
    ref_f(&P, tm, la, fm);
    double fd[9];
    for (int i = 0; i < 9; i++)
        fd[i] = (fp[i] - fm[i]) / (2 * h);
    EXPECT(t_relerr(jv, fd, 9, 1e-12) < 1e-8, "jvp vs central differences: %g",
           t_relerr(jv, fd, 9, 1e-12));
    double uj = 0, jtuv = 0;
    for (int i = 0; i < 9; i++) {
        uj += u[i] * jv[i];
        jtuv += jtu[i] * v[i];
    }
    EXPECT(fabs(uj - jtuv) < 1e-13 * fmax(1, fabs(uj)), "<u, Jv> = <J^T u, v>: %g vs %g", uj, jtuv);
    double fdl[4];
    for (int k = 0; k < 4; k++) {
        double lp[4], lm[4];
        memcpy(lp, la, sizeof lp);
        memcpy(lm, la, sizeof lm);
        lp[k] += h;
        lm[k] -= h;
        ref_f(&P, th, lp, fp);
        ref_f(&P, th, lm, fm);
        fdl[k] = 0;
        for (int i = 0; i < 9; i++)
            fdl[k] += u[i] * (fp[i] - fm[i]) / (2 * h);
    }
    EXPECT(t_relerr(ctu, fdl, 4, 1e-12) < 1e-8, "u^T df/dlambda vs central differences: %g",
           t_relerr(ctu, fdl, 4, 1e-12));
    bl_fp_oracle_free(o);
    fpt_free(&P);
}

static ad_var bad_shape(ad_tape *t, ad_var th, ad_var la, void *ctx)
{
    return ad_sum(t, th);
}

static void test_shape_error(void)
{
    fp_test P;
    fpt_init(&P, 4, 2, 0, 0.5, 13);
    P.pb.f = bad_shape;
    bl_fp_oracle *o = bl_fp_oracle_new(&P.pb, 0);
    double th[4] = {0}, la[2] = {0}, g[4];
    EXPECT(bl_fp_oracle_g(o, th, la, g, NULL) == BL_ESHAPE, "1x1 f refused");
    EXPECT(strstr(bl_fp_oracle_message(o), "1x1, expected 4x1") != NULL, "message: %s",
           bl_fp_oracle_message(o));
    bl_fp_oracle_free(o);
    fpt_free(&P);
}

int main(void)
{
    test_linear_products();
    test_tanh_products();
    test_shape_error();
    return t_done();
}
