/*
 * tests/bilevel/test_bounds_diag.c — the bound fields of bl_diag that
 * bl_hypergrad fills itself, against independent truths (closed forms of
 * models/lstsq and models/ridge; for logistic regression "exact" after a
 * Newton-CG inner solve to 1e-13, whose own certified a-posteriori bound tb
 * is added to every comparison, so the checks stay rigorous):
 *   1. the unroll family's a-posteriori bound through the equivalent
 *      linear-system iterate q_u (bl_diag.unroll_gap):
 *      a. least squares (G quadratic), unroll and unroll-truncated with gd
 *         and hb inner for several K: unroll_gap ≤ 1e-10·scale, the bound
 *         holds, q_out equals inexact-ad's q to 1e-10 and the bound
 *         inexact-ad's to 1e-10 relative plus the gap (which is rounding,
 *         and is all of the difference when the bound is at rounding level);
 *      b. logistic regression (not quadratic), many random instances and K:
 *         unroll, unroll-truncated and unroll-checkpointed bounds hold in
 *         every row, unroll_gap is finite and > 0 (= 0 allowed only once
 *         ‖∇_θG(θ_K)‖ < 1e-8: the iterates then stop moving in floating
 *         point, and most rows must have gap > 0), bound_certified is
 *         inexact-ad's, checkpointed and unroll-generic (whose q_u comes
 *         from the adjoints of its recorded gradients) give lean unroll's
 *         bound and q_u to 1e-10; unroll-forward has no bound;
 *   2. bound_a_priori on least squares, ridge and logistic regression for
 *      ift-gd, ift-hb, ift-neumann, ift-cg (gd, hb, nesterov inner) and
 *      inexact-ad (gd, hb inner) with several N, K: it holds in every row
 *      where a_priori_certified (which is set except for hb inner on a
 *      non-quadratic G, L_H > 0), and it equals bl_bound_a_priori called
 *      here with inputs recomputed here (‖∇_θG(θ_0)‖, ‖∇_θF(θ_ε)‖ + L_f ε̂,
 *      the model's ‖B(θ_ε)‖); it is NaN for lbfgs / newton-cg inner, shine,
 *      exact, identity, the unroll family and custom steps.
 * This program uses models/ (linked through hypertape_dep).
 */
#include "tests/bilevel/hg_out.h"
#include <hypertape/models/logreg.h>
#include <hypertape/models/lstsq.h>
#include <hypertape/models/ridge.h>
#include "tests/testutil.h"

#include <stdlib.h>
#include <string.h>

enum { MAXM = 16 };

static double nrm(int n, const double *a)
{
    double s = 0;
    for (int i = 0; i < n; i++)
        s += a[i] * a[i];
    return sqrt(s);
}

static double dist(int n, const double *a, const double *b)
{
    double s = 0;
    for (int i = 0; i < n; i++)
        s += (a[i] - b[i]) * (a[i] - b[i]);
    return sqrt(s);
}

static double rel(double a, double b)
{
    return fabs(a - b) / fmax(fabs(b), 1e-300);
}

/* A dense set n×d with N(0,1) features; binary ±1 labels or real targets. */
static void make_set(t_rng *g, int n, int d, int binary, const double *w, ds_set *s)
{
    memset(s, 0, sizeof *s);
    s->n = n, s->d = d, s->nclass = 2;
    s->X = malloc((size_t)n * d * sizeof(double));
    s->y = malloc((size_t)n * sizeof(double));
    for (int i = 0; i < n; i++) {
        double z = 0;
        for (int j = 0; j < d; j++) {
            s->X[i * d + j] = t_normal(g);
            z += s->X[i * d + j] * w[j];
        }
        z += 0.5 * t_normal(g);
        s->y[i] = binary ? (z >= 0 ? 1.0 : -1.0) : z;
    }
}

/* ------------------------------------------------------------- instances */

/* A certified test instance with its truth ∇h(λ) and tb ≥ ‖truth − ∇h‖
 * (0 for closed forms; the rounding floor is added by the checks). */
typedef struct inst {
    const char *kind;
    bl_problem pb;
    double lam[MAXM], truth[MAXM], tb;
    lsq_model *lsq;
    rdg_model *rdg;
    lr_model *lr;
    ds_set tr, va;
} inst;

static void inst_free(inst *I)
{
    lsq_model_free(I->lsq);
    rdg_model_free(I->rdg);
    lr_model_free(I->lr);
    ds_set_free(&I->tr);
    ds_set_free(&I->va);
}

static int inst_lstsq(int s, inst *I)
{
    memset(I, 0, sizeof *I);
    int nrow = 40 + 23 * (s % 4), p = 3 + s % 6, m = 2 + (s / 2) % 5;
    char msg[256];
    I->kind = "lstsq";
    if (lsq_generate(300 + s, nrow, p, m, &I->lsq, msg, sizeof msg) != BL_OK) {
        EXPECT(0, "lsq_generate: %s", msg);
        return 0;
    }
    I->pb = lsq_problem(I->lsq);
    for (int j = 0; j < m; j++)
        I->lam[j] = 1.0 + 0.3 * sin(s + j);
    bl_status st = lsq_hypergrad(I->lsq, I->lam, NULL, I->truth, NULL, msg, sizeof msg);
    EXPECT(st == BL_OK, "lsq truth: %s", msg);
    return st == BL_OK;
}

static int inst_ridge(int s, inst *I)
{
    memset(I, 0, sizeof *I);
    t_rng g = {500 + s};
    int d = 3 + s % 6, n = 30 + 5 * (s % 5);
    double w0[MAXM];
    char msg[256];
    I->kind = "ridge";
    for (int j = 0; j < d; j++)
        w0[j] = t_normal(&g);
    make_set(&g, n, d, 0, w0, &I->tr);
    make_set(&g, n / 2 + 5, d, 0, w0, &I->va);
    if (rdg_model_new(&I->tr, &I->va, &I->rdg, msg, sizeof msg) != BL_OK) {
        EXPECT(0, "rdg_model_new: %s", msg);
        return 0;
    }
    I->pb = rdg_problem(I->rdg);
    I->lam[0] = -2.0 + 3.0 * t_uniform(&g, 0, 1);
    bl_status st = rdg_hypergrad(I->rdg, I->lam, NULL, I->truth, NULL, msg, sizeof msg);
    EXPECT(st == BL_OK, "ridge truth: %s", msg);
    return st == BL_OK;
}

static int inst_logreg(int s, inst *I)
{
    memset(I, 0, sizeof *I);
    t_rng g = {9000 + s};
    int dim = 3 + s % 5, n = 40 + 10 * (s % 3);
    double w0[MAXM];
    char msg[256];
    I->kind = "logreg";
    for (int j = 0; j < dim; j++)
        w0[j] = t_normal(&g);
    make_set(&g, n, dim, 1, w0, &I->tr);
    make_set(&g, n / 2 + 5, dim, 1, w0, &I->va);
    lr_opts lo = {.reg = s % 2 ? LR_PER_FEATURE : LR_SCALAR, .intercept = s % 3 == 0};
    if (lr_model_new(&I->tr, &I->va, &lo, &I->lr, msg, sizeof msg) != BL_OK) {
        EXPECT(0, "lr_model_new: %s", msg);
        return 0;
    }
    I->pb = lr_problem(I->lr);
    for (int j = 0; j < I->pb.m; j++)
        I->lam[j] = -2.0 + 2.0 * t_uniform(&g, 0, 1);
    bl_hg_opts ex = {.method = BL_EXACT, .inner = bl_inner_newton_cg, .inner_tol = 1e-13};
    bl_diag dg;
    bl_status st = bl_hypergrad(&I->pb, I->lam, &ex, I->truth, &dg, msg, sizeof msg);
    EXPECT(st == BL_OK && dg.bound_certified, "logreg truth: %s (certified %d)", msg, dg.bound_certified);
    I->tb = dg.bound_a_posteriori;
    return st == BL_OK && dg.bound_certified;
}

/* The rounding floor of a comparison with the truth. */
static double floor_of(const inst *I)
{
    return 1e-13 * (1.0 + nrm(I->pb.m, I->truth)) + I->tb;
}

/* ============================================= 1a. unroll, quadratic G */

static void test_unroll_lstsq(void)
{
    static const int Ks[] = {2, 7, 25, 90};
    int rows = 0;
    double worst_gap = 0, worst_eq = 0;
    for (int s = 0; s < 12; s++) {
        inst I;
        if (!inst_lstsq(s, &I)) {
            inst_free(&I);
            continue;
        }
        int p = I.pb.p, m = I.pb.m;
        for (int hb = 0; hb < 2; hb++)
            for (int t = 0; t < 4; t++) {
                int K = Ks[t];
                double hg[MAXM], hi[MAXM], qu[MAXM], qi[MAXM];
                bl_diag du, di;
                char msg[256] = "";
                bl_hg_opts o = {.method = BL_INEXACT_AD, .inner = hb ? bl_inner_hb : bl_inner_gd,
                                .inner_iters = K};
                bl_status st = t_hypergrad_out(&I.pb, I.lam, &o, hi, &di, msg, sizeof msg, NULL, qi);
                EXPECT(st == BL_OK, "lstsq inexact-ad: %s", msg);
                for (int tr = 0; tr < 2 && st == BL_OK; tr++) {
                    o.method = tr ? BL_UNROLL_TRUNCATED : BL_UNROLL;
                    o.truncate = tr ? K / 2 + 1 : 0;
                    const char *nm = bl_method_name(o.method);
                    if (t_hypergrad_out(&I.pb, I.lam, &o, hg, &du, msg, sizeof msg, NULL, qu) != BL_OK) {
                        EXPECT(0, "lstsq %s: %s", nm, msg);
                        continue;
                    }
                    rows++;
                    double err = dist(m, hg, I.truth);
                    double scale = nrm(m, hg) + du.B_norm * nrm(p, qu);
                    worst_gap = fmax(worst_gap, du.unroll_gap / scale);
                    EXPECT(du.unroll_gap <= 1e-10 * scale, "lstsq s%d %s %s K=%d: gap %.3e (scale %.3e)", s,
                           nm, hb ? "hb" : "gd", K, du.unroll_gap, scale);
                    EXPECT(du.bound_certified && du.bound_a_posteriori + floor_of(&I) >= err,
                           "lstsq s%d %s K=%d: bound %.3e (certified %d) < error %.3e", s, nm, K,
                           du.bound_a_posteriori, du.bound_certified, err);
                    EXPECT(isnan(di.unroll_gap), "inexact-ad: unroll_gap %g", di.unroll_gap);
                    if (tr)
                        continue;
                    /* Quadratic G: unroll is inexact-ad, and q_u its q; the bounds
                     * differ by the gap (rounding), which matters only when the
                     * bound itself is at rounding level. */
                    double eq = fabs(du.bound_a_posteriori - di.bound_a_posteriori) /
                                (di.bound_a_posteriori + du.unroll_gap);
                    worst_eq = fmax(worst_eq, eq);
                    EXPECT(fabs(du.bound_a_posteriori - di.bound_a_posteriori) <=
                                   1e-10 * di.bound_a_posteriori + du.unroll_gap &&
                               dist(p, qu, qi) <= 1e-10 * nrm(p, qi),
                           "lstsq s%d %s K=%d: bound %.15e vs inexact-ad %.15e, |q_u - q| %.3e", s,
                           hb ? "hb" : "gd", K, du.bound_a_posteriori, di.bound_a_posteriori,
                           dist(p, qu, qi));
                    EXPECT(rel(du.linear_residual, di.linear_residual) <= 1e-8,
                           "lstsq K=%d: residual %.6e vs inexact-ad %.6e", K, du.linear_residual,
                           di.linear_residual);
                }
            }
        inst_free(&I);
    }
    printf("unroll on lstsq: %d rows, max gap/scale %.2e, max |bound - inexact-ad's|/(bound + gap) %.2e\n",
           rows, worst_gap, worst_eq);
}

/* ======================================== 1b. unroll family, logistic G */

static void test_unroll_logreg(void)
{
    static const int Ks[] = {1, 4, 15, 50, 120};
    static const bl_method ms[] = {BL_UNROLL, BL_UNROLL_TRUNCATED, BL_UNROLL_CHECKPOINTED,
                                   BL_UNROLL_GENERIC};
    int rows = 0, above = 0, positive = 0;
    double min_ratio = INFINITY;
    for (int s = 0; s < 24; s++) {
        inst I;
        if (!inst_logreg(s, &I)) {
            inst_free(&I);
            continue;
        }
        int p = I.pb.p, m = I.pb.m;
        for (int hb = 0; hb < 2; hb++)
            for (int t = 0; t < 5; t++) {
                int K = Ks[t];
                if (hb && K > 50) /* heavy ball on a non-quadratic: keep to short runs */
                    continue;
                double hi[MAXM], hgs[4][MAXM], q[4][MAXM], b[4];
                bl_diag d, di;
                char msg[256] = "";
                bl_hg_opts o = {.method = BL_INEXACT_AD, .inner = hb ? bl_inner_hb : bl_inner_gd,
                                .inner_iters = K, .truncate = K / 3 + 1, .snapshots = 3};
                bl_status st = bl_hypergrad(&I.pb, I.lam, &o, hi, &di, msg, sizeof msg);
                EXPECT(st == BL_OK, "logreg inexact-ad: %s", msg);
                for (int i = 0; i < 4 && st == BL_OK; i++) {
                    double *hg = hgs[i];
                    o.method = ms[i];
                    const char *nm = bl_method_name(o.method);
                    if (t_hypergrad_out(&I.pb, I.lam, &o, hg, &d, msg, sizeof msg, NULL, q[i]) != BL_OK) {
                        EXPECT(0, "logreg %s: %s", nm, msg);
                        b[i] = NAN;
                        continue;
                    }
                    rows++;
                    b[i] = d.bound_a_posteriori;
                    double err = dist(m, hg, I.truth);
                    EXPECT(d.bound_a_posteriori + floor_of(&I) >= err,
                           "logreg s%d %s %s K=%d: bound %.3e < error %.3e (truth bound %.1e)", s, nm,
                           hb ? "hb" : "gd", K, d.bound_a_posteriori, err, I.tb);
                    /* Once the iterates stop moving (θ_k = θ_K in floating point for
                     * every step whose adjoint is above rounding) the gap can be 0. */
                    EXPECT(isfinite(d.unroll_gap) && d.unroll_gap >= 0 &&
                               (d.unroll_gap > 0 || d.inner_grad_norm < 1e-8),
                           "logreg s%d %s K=%d: unroll_gap %g (|grad G| %.1e)", s, nm, K, d.unroll_gap,
                           d.inner_grad_norm);
                    positive += d.unroll_gap > 0;
                    EXPECT(d.bound_certified == di.bound_certified && !d.constants_estimated,
                           "logreg s%d %s K=%d: certified %d, inexact-ad %d", s, nm, K,
                           d.bound_certified, di.bound_certified);
                    EXPECT(isfinite(d.linear_residual), "logreg %s: residual %g", nm, d.linear_residual);
                    bl_constants kc;
                    I.pb.constants(I.lam, &kc, I.pb.ctx);
                    double own = bl_bound(&kc, d.inner_grad_norm / kc.mu, d.linear_residual,
                                          nrm(p, q[i]), d.B_norm) + d.unroll_gap;
                    EXPECT(rel(d.bound_a_posteriori, own) <= 1e-12,
                           "logreg s%d %s K=%d: bound %.15e, bl_bound(q_out) + gap %.15e", s, nm, K,
                           d.bound_a_posteriori, own);
                    if (err > 10 * floor_of(&I)) {
                        above++;
                        min_ratio = fmin(min_ratio, d.bound_a_posteriori / err);
                    }
                }
                /* Checkpointing changes the memory, not the arithmetic: the same
                 * bound to 1e-10. Generic records the same steps as ad ops, in
                 * another order: its result and q_u equal lean unroll's to
                 * rounding, and its bound equals lean unroll's up to that
                 * rounding amplified by ‖B‖/μ (residual and ε terms), so 1e-6
                 * relative above an absolute rounding floor. */
                for (int i = 2; i < 4 && st == BL_OK; i++) {
                    double dh = i == 2 ? 0.0 : dist(m, hgs[i], hgs[0]);
                    double tol = i == 2 ? 1e-10 * b[0] : 1e-6 * b[0] + 1e-13 * (1 + nrm(m, hgs[0]));
                    EXPECT(dh <= 1e-12 * nrm(m, hgs[0]) + 1e-15 && fabs(b[i] - b[0]) <= tol &&
                               dist(p, q[i], q[0]) <= 1e-10 * nrm(p, q[0]),
                           "logreg s%d %s K=%d: %s bound %.15e vs unroll %.15e, |dh| %.2e, |dq| %.2e",
                           s, hb ? "hb" : "gd", K, bl_method_name(ms[i]), b[i], b[0], dh,
                           dist(p, q[i], q[0]));
                }
            }
        inst_free(&I);
    }
    EXPECT(above >= rows / 2 && positive >= rows / 2,
           "logreg unroll: only %d of %d rows above the truth's floor, %d with a gap > 0", above, rows,
           positive);
    printf("unroll family on logreg: %d rows (%d above the floor, %d with gap > 0), min bound/error %.3g\n",
           rows, above, positive, min_ratio);
}

/* unroll-forward: no q, no bound (and, like the whole unroll family, no
 * a-priori bound: nothing bounds the gap a priori). */
static void test_unroll_no_q(void)
{
    inst I;
    if (inst_logreg(1, &I)) {
        static const bl_method ms[] = {BL_UNROLL_FORWARD};
        for (int i = 0; i < 1; i++) {
            double hg[MAXM], q[MAXM] = {0};
            bl_diag d;
            bl_hg_opts o = {.method = ms[i], .inner_iters = 10};
            bl_status st = t_hypergrad_out(&I.pb, I.lam, &o, hg, &d, NULL, 0, NULL, q);
            EXPECT(st == BL_OK && isnan(d.bound_a_posteriori) && isnan(d.unroll_gap) &&
                       isnan(d.linear_residual) && isnan(d.bound_a_priori) && nrm(I.pb.p, q) == 0,
                   "%s: bound %g, gap %g, residual %g", bl_method_name(ms[i]), d.bound_a_posteriori,
                   d.unroll_gap, d.linear_residual);
        }
    }
    inst_free(&I);
}

/* ============================================================ 2. a priori */

static bl_scheme scheme_of(const bl_inner_type *T)
{
    return T == bl_inner_gd ? BL_SCHEME_GD : T == bl_inner_hb ? BL_SCHEME_HB : BL_SCHEME_NESTEROV;
}

/* bl_bound_a_priori with every input recomputed here: θ_0 = 0, θ_ε from
 * theta_out, the problem's constants and its (certified) ‖B(θ_ε)‖. */
static double prior_by_hand(const inst *I, const bl_hg_opts *o, const bl_diag *d, const double *th,
                            int *cert)
{
    int p = I->pb.p;
    double zero[MAXM] = {0}, g[MAXM], gF[MAXM];
    bl_constants k;
    bl_oracle *orc = bl_oracle_new(&I->pb, 0);
    I->pb.constants(I->lam, &k, I->pb.ctx);
    bl_oracle_G(orc, NULL, zero, I->lam, NULL, g, NULL);
    double g0 = nrm(p, g);
    bl_oracle_G(orc, NULL, th, I->lam, NULL, g, NULL);
    bl_oracle_F(orc, NULL, th, I->lam, NULL, gF, NULL);
    bl_oracle_free(orc);
    double gFn = nrm(p, gF) + k.Lf * nrm(p, g) / k.mu, B = I->pb.cross_norm(th, I->lam, I->pb.ctx);
    bl_scheme si = scheme_of(o->inner), sl = si;
    switch (o->method) {
    case BL_IFT_GD: case BL_IFT_NEUMANN: sl = BL_SCHEME_GD; break;
    case BL_IFT_HB: sl = BL_SCHEME_HB; break;
    case BL_IFT_CG: sl = BL_SCHEME_CG; break;
    default: break; /* inexact-ad: the inner's scheme */
    }
    return bl_bound_a_priori(&k, si, d->inner_iters, g0, sl, d->linear_iters, gFn, B, cert);
}

static int prior_rows, prior_cert_rows, prior_above;
static double prior_min_ratio = INFINITY;

static void prior_row(const inst *I, bl_hg_opts o)
{
    int m = I->pb.m, cert = 0;
    double hg[MAXM], th[MAXM];
    bl_diag d;
    char msg[256] = "";
    bl_constants k;
    I->pb.constants(I->lam, &k, I->pb.ctx);
    const char *nm = bl_method_name(o.method), *in = bl_inner_type_name(o.inner);
    if (t_hypergrad_out(&I->pb, I->lam, &o, hg, &d, msg, sizeof msg, th, NULL) != BL_OK) {
        EXPECT(0, "%s prior %s/%s: %s", I->kind, nm, in, msg);
        return;
    }
    prior_rows++;
    double err = dist(m, hg, I->truth), hand = prior_by_hand(I, &o, &d, th, &cert);
    int want_cert = !(o.inner == bl_inner_hb && k.LH > 0); /* HB inner: quadratic G only */
    EXPECT(isfinite(d.bound_a_priori) && rel(d.bound_a_priori, hand) <= 1e-10 &&
               d.a_priori_certified == cert && cert == want_cert,
           "%s prior %s/%s N=%d K=%d: %.15e (certified %d) vs by hand %.15e (%d), expected certified %d",
           I->kind, nm, in, d.inner_iters, d.linear_iters, d.bound_a_priori, d.a_priori_certified,
           hand, cert, want_cert);
    if (!d.a_priori_certified)
        return;
    prior_cert_rows++;
    if (err > 10 * floor_of(I)) {
        prior_above++;
        prior_min_ratio = fmin(prior_min_ratio, d.bound_a_priori / err);
    }
    EXPECT(d.bound_a_priori + floor_of(I) >= err,
           "%s prior %s/%s N=%d K=%d: a-priori bound %.3e < error %.3e", I->kind, nm, in,
           d.inner_iters, d.linear_iters, d.bound_a_priori, err);
}

static void prior_instance(const inst *I)
{
    static const bl_inner_type *const *inners[] = {&bl_inner_gd, &bl_inner_hb, &bl_inner_nesterov};
    static const bl_method lin[] = {BL_IFT_GD, BL_IFT_HB, BL_IFT_NEUMANN, BL_IFT_CG};
    static const int Ns[] = {4, 25, 110}, Ks[] = {3, 12, 50}, Kcg[] = {1, 2, 4};
    for (int a = 0; a < 3; a++)
        for (int n = 0; n < 3; n++) {
            const bl_inner_type *T = *inners[a];
            int nonquad_hb = T == bl_inner_hb && !strcmp(I->kind, "logreg");
            if (nonquad_hb && Ns[n] > 25) /* heavy ball on a non-quadratic: short runs */
                continue;
            for (int l = 0; l < 4; l++)
                for (int kk = 0; kk < 3; kk++) {
                    bl_hg_opts o = {.method = lin[l], .inner = T, .inner_iters = Ns[n],
                                    .inner_tol = -1, .linear_tol = -1,
                                    .linear_iters = lin[l] == BL_IFT_CG ? Kcg[kk] : Ks[kk]};
                    prior_row(I, o);
                }
            if (T != bl_inner_nesterov) /* inexact-ad: linear K = N */
                prior_row(I, (bl_hg_opts){.method = BL_INEXACT_AD, .inner = T, .inner_iters = Ns[n]});
        }
    /* Default tolerances: the solvers stop early; the rates hold at the
     * iteration counts actually done. */
    prior_row(I, (bl_hg_opts){.method = BL_IFT_CG, .inner = bl_inner_gd});
    prior_row(I, (bl_hg_opts){.method = BL_IFT_GD, .inner = bl_inner_nesterov, .inner_tol = 1e-6,
                              .linear_tol = 1e-6});
}

static void test_prior(void)
{
    for (int s = 0; s < 24; s++) {
        inst I;
        int ok = s % 3 == 0 ? inst_lstsq(s, &I) : s % 3 == 1 ? inst_ridge(s, &I) : inst_logreg(s, &I);
        if (ok)
            prior_instance(&I);
        inst_free(&I);
    }
    EXPECT(prior_cert_rows >= prior_rows / 2, "a priori: only %d of %d rows certified", prior_cert_rows,
           prior_rows);
    EXPECT(prior_above >= prior_cert_rows / 2, "a priori: only %d of %d certified rows above the floor",
           prior_above, prior_cert_rows);
    printf("a priori: %d rows, %d certified (%d above the floor), min bound/error %.3g\n", prior_rows,
           prior_cert_rows, prior_above, prior_min_ratio);
}

/* Where the a-priori bound does not apply it is NaN and not certified. */
static void test_prior_nan(void)
{
    inst I;
    if (!inst_logreg(3, &I)) {
        inst_free(&I);
        return;
    }
    bl_hg_opts os[] = {
        {.method = BL_IFT_CG, .inner = bl_inner_lbfgs},
        {.method = BL_IFT_GD, .inner = bl_inner_newton_cg},
        {.method = BL_SHINE, .inner = bl_inner_lbfgs},
        {.method = BL_SHINE_REFINE, .inner = bl_inner_lbfgs},
        {.method = BL_EXACT, .inner = bl_inner_gd},
        {.method = BL_IFT_IDENTITY, .inner = bl_inner_gd},
        {.method = BL_UNROLL, .inner_iters = 20},
        {.method = BL_UNROLL_TRUNCATED, .inner_iters = 20, .truncate = 5},
        {.method = BL_UNROLL_CHECKPOINTED, .inner_iters = 20},
        {.method = BL_IFT_CG, .inner = bl_inner_gd, .step = 0.01, .inner_tol = -1}, /* custom inner step */
        {.method = BL_IFT_HB, .inner = bl_inner_hb, .momentum = 0.3},          /* custom momentum */
        {.method = BL_INEXACT_AD, .inner = bl_inner_gd, .inner_iters = 20, .step = 0.01},
        {.method = BL_IFT_GD, .inner = bl_inner_gd, .linear_step = 0.01, .linear_tol = -1}, /* custom linear step */
        {.method = BL_IFT_HB, .inner = bl_inner_gd, .linear_momentum = 0.2},
    };
    for (size_t i = 0; i < sizeof os / sizeof os[0]; i++) {
        double hg[MAXM];
        bl_diag d;
        char msg[256] = "";
        bl_status st = bl_hypergrad(&I.pb, I.lam, &os[i], hg, &d, msg, sizeof msg);
        EXPECT(st == BL_OK && isnan(d.bound_a_priori) && !d.a_priori_certified,
               "case %zu %s: %s, a-priori %g (certified %d)", i, bl_method_name(os[i].method), msg,
               d.bound_a_priori, d.a_priori_certified);
    }
    inst_free(&I);
}

int main(void)
{
    test_unroll_lstsq();
    test_unroll_logreg();
    test_unroll_no_q();
    test_prior();
    test_prior_nan();
    return t_done();
}
