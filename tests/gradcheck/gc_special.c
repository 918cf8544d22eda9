/*
 * tests/gradcheck/gc_special.c — checks against closed forms that finite
 * differences cannot reach:
 *
 *  - select does not leak NaN/Inf from the branch not taken: with some
 *    inputs on the wrong side (x ≤ 0 under sqrt or log, 1/0, exp overflow),
 *    the value, the gradient, the jvp, both Hvps and a third derivative
 *    are finite and equal to the closed forms of the branch taken;
 *  - third order: an Hvp recorded with AD_CREATE_GRAPH differentiated
 *    once more (grad of grad of grad), for elementwise functions with a
 *    coupling term, logsumexp and a quartic through matvec.
 */
#include "gc.h"

#define N 12

/* ------------------------------------------------ closed-form comparison */

/* Compares an n-vector with its closed form (normwise relative) and
 * requires every entry to be finite. */
static void expect_close(const char *name, const char *what, const double *ad, const double *cf,
                         size_t n)
{
    int finite = 1;
    for (size_t k = 0; k < n; k++)
        finite &= isfinite(ad[k]) != 0;
    EXPECT(finite, "%s: %s is not finite", name, what);
    if (finite)
        gc_expect(name, "", what, gc_relerr(ad, cf, n));
}

/* ∂ of s = Σ_i w_i y_i(x_i) + ½ c_i y_i² elementwise, given y and its
 * first three derivatives: s' = (w + c y) y', s'' = c y'² + (w + c y) y'',
 * s''' = 3 c y' y'' + (w + c y) y'''. */
typedef struct elem {
    double y, d1, d2, d3;
} elem;

/* ---------------------------------------------------- select NaN safety */

typedef struct select_case {
    const char *name;
    ad_var (*build)(ad_tape *t, ad_var x); /* y = select(...) */
    elem (*form)(double x);                /* closed form of the branch taken */
    double xs[N];                          /* inputs, some on the wrong side */
} select_case;

/* select(x > 0, sqrt(x), 0) */
static ad_var sel_sqrt(ad_tape *t, ad_var x)
{
    ad_var zero = ad_const(t, ad_rows(t, x), ad_cols(t, x), NULL);
    return ad_select(t, ad_greater(t, x, ad_scalar(t, 0.0)), ad_sqrt(t, x), zero);
}
static elem form_sqrt(double x)
{
    if (x <= 0)
        return (elem){0, 0, 0, 0};
    double r = sqrt(x);
    return (elem){r, 0.5 / r, -0.25 / (x * r), 0.375 / (x * x * r)};
}

/* select(x > 0, log(x), x): NaN for x < 0 and −Inf at 0 in the branch not taken */
static ad_var sel_log(ad_tape *t, ad_var x)
{
    return ad_select(t, ad_greater(t, x, ad_scalar(t, 0.0)), ad_log(t, x), x);
}
static elem form_log(double x)
{
    if (x <= 0)
        return (elem){x, 1, 0, 0};
    return (elem){log(x), 1 / x, -1 / (x * x), 2 / (x * x * x)};
}

/* select(0 > x, x², x^2.5): the NaN of x^2.5 for x < 0 sits in b */
static ad_var sel_pow(ad_tape *t, ad_var x)
{
    return ad_select(t, ad_greater(t, ad_scalar(t, 0.0), x), ad_square(t, x), ad_pow(t, x, 2.5));
}
static elem form_pow(double x)
{
    if (x < 0)
        return (elem){x * x, 2 * x, 2, 0};
    return (elem){pow(x, 2.5), 2.5 * pow(x, 1.5), 3.75 * sqrt(x), x > 0 ? 1.875 / sqrt(x) : 0};
}

/* select(x² > 0, 1/x, 0): 1/0 = Inf not taken at x = 0 */
static ad_var sel_recip(ad_tape *t, ad_var x)
{
    ad_var one = ad_scalar(t, 1.0);
    ad_var zero = ad_const(t, ad_rows(t, x), ad_cols(t, x), NULL);
    return ad_select(t, ad_greater(t, ad_square(t, x), ad_scalar(t, 0.0)), ad_div(t, one, x), zero);
}
static elem form_recip(double x)
{
    if (x == 0)
        return (elem){0, 0, 0, 0};
    return (elem){1 / x, -1 / (x * x), 2 / (x * x * x), -6 / (x * x * x * x)};
}

/* select(x < 5, exp(x), 1): exp(800) = Inf not taken */
static ad_var sel_exp(ad_tape *t, ad_var x)
{
    ad_var one = ad_affine(t, ad_const(t, ad_rows(t, x), ad_cols(t, x), NULL), 0.0, 1.0);
    return ad_select(t, ad_greater(t, ad_scalar(t, 5.0), x), ad_exp(t, x), one);
}
static elem form_exp(double x)
{
    if (x >= 5)
        return (elem){1, 0, 0, 0};
    double e = exp(x);
    return (elem){e, e, e, e};
}

/* select(x > 0, x·log(x) + sqrt(x)·x, 0): NaN inside products and sums */
static ad_var sel_mix(ad_tape *t, ad_var x)
{
    ad_var zero = ad_const(t, ad_rows(t, x), ad_cols(t, x), NULL);
    ad_var a = ad_add(t, ad_mul(t, x, ad_log(t, x)), ad_mul(t, ad_sqrt(t, x), x));
    return ad_select(t, ad_greater(t, x, ad_scalar(t, 0.0)), a, zero);
}
static elem form_mix(double x)
{
    if (x <= 0)
        return (elem){0, 0, 0, 0};
    double r = sqrt(x);
    return (elem){x * log(x) + x * r, log(x) + 1 + 1.5 * r, 1 / x + 0.75 / r,
                  -1 / (x * x) - 0.375 / (x * r)};
}

static const select_case select_cases[] = {
    {"select(x>0, sqrt x, 0)", sel_sqrt, form_sqrt,
     {0.7, -1.0, 0.0, 1.3, -0.2, 2.0, 0.0, -3.0, 0.9, 1.1, -0.5, 0.6}},
    {"select(x>0, log x, x)", sel_log, form_log,
     {0.7, -1.0, 0.0, 1.3, -0.2, 2.0, 0.0, -3.0, 0.9, 1.1, -0.5, 0.6}},
    {"select(0>x, x^2, x^2.5)", sel_pow, form_pow,
     {0.7, -1.0, 0.5, 1.3, -0.2, 2.0, 0.8, -3.0, 0.9, 1.1, -0.5, 0.6}},
    {"select(x^2>0, 1/x, 0)", sel_recip, form_recip,
     {0.7, -1.0, 0.0, 1.3, -0.7, 2.0, 0.0, -1.5, 0.9, 1.1, -0.5, 0.6}},
    {"select(5>x, exp x, 1)", sel_exp, form_exp,
     {0.7, -1.0, 800.0, 1.3, -0.2, 2.0, 750.0, -3.0, 0.9, 1.1, 710.0, 0.6}},
    {"select(x>0, x log x + x sqrt x, 0)", sel_mix, form_mix,
     {0.7, -1.0, 0.0, 1.3, -0.2, 2.0, 0.0, -3.0, 0.9, 1.1, -0.5, 0.6}},
};

/* Records s = Σ w⊙y + ½ Σ c⊙y² for y = build(x). */
static ad_var select_objective(ad_tape *t, const select_case *sc, ad_var x, const double *w,
                               const double *c, int r, int cc)
{
    ad_var y = sc->build(t, x);
    return ad_add(t, ad_dot(t, ad_const(t, r, cc, w), y),
                  ad_scale(t, ad_sum(t, ad_mul(t, ad_const(t, r, cc, c), ad_square(t, y))), 0.5));
}

static void check_select_case(const select_case *sc, int r, int cc)
{
    size_t n = (size_t)r * cc;
    double w[N], c[N], u[N], v[N], yv[N], g[N], hv[N], tv[N], ty[N];
    double cy[N], cg[N], ch[N], ct[N], cty[N];
    t_fill(&gc_rng, w, n, -1.0, 1.0);
    t_fill(&gc_rng, c, n, -1.0, 1.0);
    gc_unit(u, n);
    gc_unit(v, n);
    for (size_t k = 0; k < n; k++) {
        elem e = sc->form(sc->xs[k]);
        double a = w[k] + c[k] * e.y;
        cy[k] = e.y;
        cg[k] = a * e.d1;
        ch[k] = (c[k] * e.d1 * e.d1 + a * e.d2) * v[k];
        ct[k] = (3 * c[k] * e.d1 * e.d2 + a * e.d3) * u[k] * v[k];
        cty[k] = e.d1 * u[k];
    }
    ad_tape *t = ad_tape_new(NULL);
    ad_var x = ad_leaf(t, r, cc, sc->xs);
    ad_var y = sc->build(t, x);
    ad_var s = select_objective(t, sc, x, w, c, r, cc);
    EXPECT(ad_tape_status(t) == AD_OK, "%s: recording failed: %s", sc->name, ad_tape_message(t));
    if (ad_tape_status(t) != AD_OK) {
        ad_tape_free(t);
        return;
    }
    memcpy(yv, ad_value(t, y), n * sizeof(double));
    expect_close(sc->name, "value", yv, cy, n);
    double *gp = g, *typ = ty;
    EXPECT(ad_grad_values(t, s, 1, &x, &gp) == AD_OK, "%s: grad failed", sc->name);
    expect_close(sc->name, "grad", g, cg, n);
    const double *up = u;
    EXPECT(ad_jvp(t, 1, &x, &up, 1, &y, &typ) == AD_OK, "%s: jvp failed", sc->name);
    expect_close(sc->name, "jvp", ty, cty, n);
    for (int mode = 0; mode < 2; mode++) {
        EXPECT(ad_hvp_cross(t, s, x, AD_NONE, v, hv, NULL, (ad_hvp_mode)mode) == AD_OK,
               "%s: hvp failed: %s", sc->name, ad_tape_message(t));
        expect_close(sc->name, mode ? "hvp-ror" : "hvp-for", hv, ch, n);
    }
    /* third order: grad of ⟨grad of ⟨grad s, v⟩, u⟩ */
    ad_var g1, g2, g3;
    ad_status st = ad_grad(t, s, 1, &x, &g1, AD_CREATE_GRAPH);
    if (st == AD_OK)
        st = ad_grad(t, ad_dot(t, g1, ad_const(t, r, cc, v)), 1, &x, &g2, AD_CREATE_GRAPH);
    if (st == AD_OK)
        st = ad_grad(t, ad_dot(t, g2, ad_const(t, r, cc, u)), 1, &x, &g3, 0);
    EXPECT(st == AD_OK, "%s: third-order recording failed: %s", sc->name, ad_tape_message(t));
    if (st == AD_OK) {
        memcpy(tv, ad_value(t, g3), n * sizeof(double));
        expect_close(sc->name, "third order", tv, ct, n);
    }
    ad_tape_free(t);
}

/* select over reductions: a dead dot (1×1) and dead logsumexp rows.
 * y = select(m, dot(x, log x), Σx) with m = 0 and some x ≤ 0: y = Σx, so
 * ∇y = 1 and H = 0. Then Y = select(rows, lse_rows(log X), sum_cols(X))
 * with X r×c: a live row (all entries > 0) gives log Σ_j X_ij, whose
 * gradient is 1/Σ_j X_ij in every entry and whose Hvp is −(Σ_j v_ij)/(Σ_j
 * X_ij)²; a dead row gives Σ_j X_ij (gradient 1, Hvp 0). */
static void check_select_reductions(void)
{
    const int r = 3, c = 4, n = r * c;
    double x[12] = {0.5, -1.0, 0.0, 2.0, 1.5, 0.3, 0.7, 1.1, -0.2, 0.4, 0.9, 1.2};
    double live[3] = {0.0, 1.0, 0.0}, w[3], v[12], g[12], hv[12], cg[12], ch[12];
    t_fill(&gc_rng, w, 3, -1.0, 1.0);
    gc_unit(v, (size_t)n);

    ad_tape *t = ad_tape_new(NULL);
    ad_var xv = ad_leaf(t, 1, n, x);
    ad_var y = ad_select(t, ad_scalar(t, 0.0), ad_dot(t, xv, ad_log(t, xv)), ad_sum(t, xv));
    double *gp = g, sx = 0;
    for (int k = 0; k < n; k++) {
        sx += x[k];
        cg[k] = 1.0;
        ch[k] = 0.0;
    }
    EXPECT(fabs(ad_scalar_value(t, y) - sx) <= 1e-15, "select over dot: value %g, want %g",
           ad_scalar_value(t, y), sx);
    EXPECT(ad_grad_values(t, y, 1, &xv, &gp) == AD_OK, "select over dot: grad failed");
    expect_close("select(0, dot(x, log x), sum x)", "grad", g, cg, (size_t)n);
    for (int mode = 0; mode < 2; mode++) {
        EXPECT(ad_hvp_cross(t, y, xv, AD_NONE, v, hv, NULL, (ad_hvp_mode)mode) == AD_OK,
               "select over dot: hvp failed");
        int finite = 1, zero = 1;
        for (int k = 0; k < n; k++) {
            finite &= isfinite(hv[k]) != 0;
            zero &= hv[k] == 0.0;
        }
        EXPECT(finite && zero, "select(0, dot(x, log x), sum x): hvp-%s is not exactly zero",
               mode ? "ror" : "for");
    }
    ad_tape_free(t);

    t = ad_tape_new(NULL);
    xv = ad_leaf(t, r, c, x);
    ad_var Y = ad_select(t, ad_const(t, r, 1, live), ad_logsumexp_rows(t, ad_log(t, xv)),
                         ad_sum_cols(t, xv));
    ad_var s = ad_dot(t, ad_const(t, r, 1, w), Y);
    for (int i = 0; i < r; i++) {
        double rs = 0, vs = 0;
        for (int j = 0; j < c; j++) {
            rs += x[i * c + j];
            vs += v[i * c + j];
        }
        for (int j = 0; j < c; j++) {
            cg[i * c + j] = live[i] ? w[i] / rs : w[i];
            ch[i * c + j] = live[i] ? -w[i] * vs / (rs * rs) : 0.0;
        }
    }
    EXPECT(ad_grad_values(t, s, 1, &xv, &gp) == AD_OK, "select over logsumexp: grad failed");
    expect_close("select(rows, lse_rows(log X), sum_cols X)", "grad", g, cg, (size_t)n);
    for (int mode = 0; mode < 2; mode++) {
        EXPECT(ad_hvp_cross(t, s, xv, AD_NONE, v, hv, NULL, (ad_hvp_mode)mode) == AD_OK,
               "select over logsumexp: hvp failed");
        expect_close("select(rows, lse_rows(log X), sum_cols X)", mode ? "hvp-ror" : "hvp-for",
                     hv, ch, (size_t)n);
    }
    ad_tape_free(t);
}

/* ------------------------------------------------------------ third order */

typedef struct third_case {
    const char *name;
    ad_var (*phi)(ad_tape *t, ad_var x);
    elem (*form)(double x); /* y = φ(x) and φ', φ'', φ''' */
    double lo, hi;
} third_case;

static ad_var ph_cube(ad_tape *t, ad_var x) { return ad_mul(t, ad_mul(t, x, x), x); }
static elem fm_cube(double x) { return (elem){x * x * x, 3 * x * x, 6 * x, 6}; }
static ad_var ph_exp2(ad_tape *t, ad_var x) { return ad_exp(t, ad_scale(t, x, 2.0)); }
static elem fm_exp2(double x)
{
    double e = exp(2 * x);
    return (elem){e, 2 * e, 4 * e, 8 * e};
}
static ad_var ph_tanh(ad_tape *t, ad_var x) { return ad_tanh(t, x); }
static elem fm_tanh(double x)
{
    double y = tanh(x), s = 1 - y * y;
    return (elem){y, s, -2 * y * s, s * (6 * y * y - 2)};
}
static ad_var ph_sigmoid(ad_tape *t, ad_var x) { return ad_sigmoid(t, x); }
static elem fm_sigmoid(double x)
{
    double p = 1 / (1 + exp(-x)), q = p * (1 - p);
    return (elem){p, q, q * (1 - 2 * p), q * (1 - 6 * p + 6 * p * p)};
}
static ad_var ph_softplus(ad_tape *t, ad_var x) { return ad_softplus(t, x); }
static elem fm_softplus(double x)
{
    double p = 1 / (1 + exp(-x)), q = p * (1 - p);
    return (elem){log1p(exp(x)), p, q, q * (1 - 2 * p)};
}
static ad_var ph_logsigmoid(ad_tape *t, ad_var x) { return ad_logsigmoid(t, x); }
static elem fm_logsigmoid(double x)
{
    double p = 1 / (1 + exp(x)), q = p * (1 - p); /* p = σ(−x) */
    return (elem){-log1p(exp(-x)), p, -q, q * (1 - 2 * p)};
}
static ad_var ph_log(ad_tape *t, ad_var x) { return ad_log(t, x); }
static elem fm_log(double x) { return (elem){log(x), 1 / x, -1 / (x * x), 2 / (x * x * x)}; }
static ad_var ph_log1p(ad_tape *t, ad_var x) { return ad_log1p(t, x); }
static elem fm_log1p(double x)
{
    double z = 1 + x;
    return (elem){log1p(x), 1 / z, -1 / (z * z), 2 / (z * z * z)};
}
static ad_var ph_sqrt(ad_tape *t, ad_var x) { return ad_sqrt(t, x); }
static elem fm_sqrt(double x)
{
    double r = sqrt(x);
    return (elem){r, 0.5 / r, -0.25 / (x * r), 0.375 / (x * x * r)};
}
static ad_var ph_pow(ad_tape *t, ad_var x) { return ad_pow(t, x, -1.5); }
static elem fm_pow(double x)
{
    return (elem){pow(x, -1.5), -1.5 * pow(x, -2.5), 3.75 * pow(x, -3.5), -13.125 * pow(x, -4.5)};
}
static ad_var ph_recip(ad_tape *t, ad_var x) { return ad_div(t, ad_scalar(t, 1.0), x); }
static elem fm_recip(double x)
{
    return (elem){1 / x, -1 / (x * x), 2 / (x * x * x), -6 / (x * x * x * x)};
}
static ad_var ph_abs3(ad_tape *t, ad_var x) { return ad_mul(t, ad_square(t, x), ad_abs(t, x)); }
static elem fm_abs3(double x)
{
    double s = x > 0 ? 1 : -1;
    return (elem){x * x * fabs(x), 3 * x * fabs(x), 6 * fabs(x), 6 * s};
}
static ad_var ph_relu3(ad_tape *t, ad_var x) { return ad_pow(t, ad_relu(t, x), 3.0); }
static elem fm_relu3(double x)
{
    return x > 0 ? (elem){x * x * x, 3 * x * x, 6 * x, 6} : (elem){0, 0, 0, 0};
}

static const third_case third_cases[] = {
    {"x^3 (mul)", ph_cube, fm_cube, -2, 2},
    {"exp(2x)", ph_exp2, fm_exp2, -1, 1},
    {"tanh", ph_tanh, fm_tanh, -2, 2},
    {"sigmoid", ph_sigmoid, fm_sigmoid, -3, 3},
    {"softplus", ph_softplus, fm_softplus, -3, 3},
    {"logsigmoid", ph_logsigmoid, fm_logsigmoid, -3, 3},
    {"log", ph_log, fm_log, 0.5, 2},
    {"log1p", ph_log1p, fm_log1p, -0.5, 2},
    {"sqrt", ph_sqrt, fm_sqrt, 0.5, 2},
    {"pow -1.5", ph_pow, fm_pow, 0.5, 2},
    {"1/x (div)", ph_recip, fm_recip, 0.5, 2},
    {"x^2 |x|", ph_abs3, fm_abs3, -2, 2},
    {"relu(x)^3", ph_relu3, fm_relu3, -2, 2},
};

/* f(x) = Σ w⊙φ(x) + (Σ x)³ on an r×c leaf: the third derivative along
 * (v, u) is w⊙φ'''⊙u⊙v + 6 (Σu)(Σv)·1; also the Hvp w⊙φ''⊙v + 6 (Σx)(Σv). */
static void check_third(const third_case *tc, int r, int c)
{
    size_t n = (size_t)r * c;
    double x[N], w[N], u[N], v[N], ht[N], tt[N], hv[N];
    t_fill(&gc_rng, x, n, tc->lo, tc->hi);
    for (size_t k = 0; k < n; k++) /* keep away from the kinks at 0 */
        if (fabs(x[k]) < 0.1)
            x[k] = x[k] < 0 ? -0.1 : 0.1;
    t_fill(&gc_rng, w, n, -1.0, 1.0);
    gc_unit(u, n);
    gc_unit(v, n);
    double sx = 0, su = 0, sv = 0;
    for (size_t k = 0; k < n; k++) {
        sx += x[k];
        su += u[k];
        sv += v[k];
    }
    for (size_t k = 0; k < n; k++) {
        elem e = tc->form(x[k]);
        ht[k] = w[k] * e.d2 * v[k] + 6 * sx * sv;
        tt[k] = w[k] * e.d3 * u[k] * v[k] + 6 * su * sv;
    }
    ad_tape *t = ad_tape_new(NULL);
    ad_var xv = ad_leaf(t, r, c, x);
    ad_var f = ad_add(t, ad_dot(t, ad_const(t, r, c, w), tc->phi(t, xv)),
                      ad_pow(t, ad_sum(t, xv), 3.0));
    ad_var g1, g2, g3;
    ad_status st = ad_grad(t, f, 1, &xv, &g1, AD_CREATE_GRAPH);
    if (st == AD_OK)
        st = ad_grad(t, ad_dot(t, g1, ad_const(t, r, c, v)), 1, &xv, &g2, AD_CREATE_GRAPH);
    if (st == AD_OK) {
        memcpy(hv, ad_value(t, g2), n * sizeof(double));
        st = ad_grad(t, ad_dot(t, g2, ad_const(t, r, c, u)), 1, &xv, &g3, AD_CREATE_GRAPH);
    }
    char what[64];
    snprintf(what, sizeof what, "%dx%d", r, c);
    EXPECT(st == AD_OK, "third order %s [%s]: recording failed: %s", tc->name, what,
           ad_tape_message(t));
    if (st == AD_OK) {
        char nm[96];
        snprintf(nm, sizeof nm, "third order of w.%s + (sum x)^3 [%dx%d]", tc->name, r, c);
        expect_close(nm, "hvp (recorded)", hv, ht, n);
        expect_close(nm, "grad of hvp", ad_value(t, g3), tt, n);
        /* the recorded Hvp through the plan API too (both modes agree with
         * the closed form of the second order) */
        for (int mode = 0; mode < 2; mode++) {
            EXPECT(ad_hvp_cross(t, f, xv, AD_NONE, v, hv, NULL, (ad_hvp_mode)mode) == AD_OK,
                   "%s: hvp failed", nm);
            expect_close(nm, mode ? "hvp-ror" : "hvp-for", hv, ht, n);
        }
    }
    ad_tape_free(t);
}

/* logsumexp of a 1×n row: D³f[u, v] = p∘u∘v − (p∘v)(pᵀu) − (p∘u)(pᵀv)
 * − p (pᵀ(u∘v)) + 2 p (pᵀu)(pᵀv) with p = softmax(x). */
static void check_third_lse(int n)
{
    double x[N], u[N], v[N], p[N], tt[N];
    t_fill(&gc_rng, x, (size_t)n, -2.0, 2.0);
    gc_unit(u, (size_t)n);
    gc_unit(v, (size_t)n);
    double mx = x[0], z = 0, pu = 0, pv = 0, puv = 0;
    for (int k = 1; k < n; k++)
        mx = fmax(mx, x[k]);
    for (int k = 0; k < n; k++)
        z += exp(x[k] - mx);
    for (int k = 0; k < n; k++) {
        p[k] = exp(x[k] - mx) / z;
        pu += p[k] * u[k];
        pv += p[k] * v[k];
        puv += p[k] * u[k] * v[k];
    }
    for (int k = 0; k < n; k++)
        tt[k] = p[k] * u[k] * v[k] - p[k] * v[k] * pu - p[k] * u[k] * pv - p[k] * puv +
                2 * p[k] * pu * pv;
    ad_tape *t = ad_tape_new(NULL);
    ad_var xv = ad_leaf(t, 1, n, x), g1, g2, g3;
    ad_var f = ad_logsumexp_rows(t, xv);
    ad_status st = ad_grad(t, f, 1, &xv, &g1, AD_CREATE_GRAPH);
    if (st == AD_OK)
        st = ad_grad(t, ad_dot(t, g1, ad_const(t, 1, n, v)), 1, &xv, &g2, AD_CREATE_GRAPH);
    if (st == AD_OK)
        st = ad_grad(t, ad_dot(t, g2, ad_const(t, 1, n, u)), 1, &xv, &g3, 0);
    EXPECT(st == AD_OK, "third order logsumexp 1x%d: %s", n, ad_tape_message(t));
    char nm[64];
    snprintf(nm, sizeof nm, "third order of logsumexp [1x%d]", n);
    if (st == AD_OK)
        expect_close(nm, "grad of hvp", ad_value(t, g3), tt, (size_t)n);
    ad_tape_free(t);
}

/* f(x) = (xᵀAx)² through matvec and dot, A symmetric n×n, q = xᵀAx:
 * H v = 4q A v + 8 (Ax)(xᵀAv); D(Hv)[u] = 8 (xᵀAu) A v + 8 (Au)(xᵀAv)
 * + 8 (Ax)(uᵀAv). */
static void check_third_quartic(int n)
{
    double A[N * N], x[N], u[N], v[N], Ax[N], Au[N], Av[N], tt[N];
    for (int i = 0; i < n; i++)
        for (int j = 0; j <= i; j++)
            A[i * n + j] = A[j * n + i] = t_uniform(&gc_rng, -1.0, 1.0);
    t_fill(&gc_rng, x, (size_t)n, -1.0, 1.0);
    gc_unit(u, (size_t)n);
    gc_unit(v, (size_t)n);
    double xAu = 0, xAv = 0, uAv = 0;
    for (int i = 0; i < n; i++) {
        Ax[i] = Au[i] = Av[i] = 0;
        for (int j = 0; j < n; j++) {
            Ax[i] += A[i * n + j] * x[j];
            Au[i] += A[i * n + j] * u[j];
            Av[i] += A[i * n + j] * v[j];
        }
    }
    for (int i = 0; i < n; i++) {
        xAu += x[i] * Au[i];
        xAv += x[i] * Av[i];
        uAv += u[i] * Av[i];
    }
    for (int i = 0; i < n; i++)
        tt[i] = 8 * xAu * Av[i] + 8 * Au[i] * xAv + 8 * Ax[i] * uAv;
    ad_tape *t = ad_tape_new(NULL);
    ad_var xv = ad_leaf(t, n, 1, x), g1, g2, g3;
    ad_var f = ad_square(t, ad_dot(t, xv, ad_matvec(t, ad_const(t, n, n, A), xv, 0)));
    ad_status st = ad_grad(t, f, 1, &xv, &g1, AD_CREATE_GRAPH);
    if (st == AD_OK)
        st = ad_grad(t, ad_dot(t, g1, ad_const(t, n, 1, v)), 1, &xv, &g2, AD_CREATE_GRAPH);
    if (st == AD_OK)
        st = ad_grad(t, ad_dot(t, g2, ad_const(t, n, 1, u)), 1, &xv, &g3, 0);
    EXPECT(st == AD_OK, "third order quartic n=%d: %s", n, ad_tape_message(t));
    char nm[64];
    snprintf(nm, sizeof nm, "third order of (x'Ax)^2 [%dx1]", n);
    if (st == AD_OK)
        expect_close(nm, "grad of hvp", ad_value(t, g3), tt, (size_t)n);
    ad_tape_free(t);
}

int main(void)
{
    gc_rng.s = 0xA54FF53A5F1D36F1ULL;
    static const int shapes[][2] = {{3, 4}, {4, 3}, {12, 1}, {1, 12}, {2, 6}};
    for (size_t k = 0; k < sizeof select_cases / sizeof select_cases[0]; k++)
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
            check_select_case(&select_cases[k], shapes[s][0], shapes[s][1]);
    check_select_reductions();

    static const int tshapes[][2] = {{1, 1}, {3, 4}, {4, 3}, {1, 5}, {5, 1}};
    for (size_t k = 0; k < sizeof third_cases / sizeof third_cases[0]; k++)
        for (size_t s = 0; s < sizeof tshapes / sizeof tshapes[0]; s++)
            check_third(&third_cases[k], tshapes[s][0], tshapes[s][1]);
    for (int n = 1; n <= 6; n++) {
        check_third_lse(n);
        check_third_quartic(n);
    }
    return gc_done("gc_special");
}
