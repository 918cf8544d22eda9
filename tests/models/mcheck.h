/*
 * tests/models/mcheck.h — helpers shared by the model tests:
 *   - a minimal JSON number reader for the PyTorch fixtures;
 *   - random data sets (the same samples as dense and as CSR);
 *   - mc_compare_ad: the ad recording (bl_problem callbacks + ad_grad /
 *     ad_hvp_cross, both second-order modes) against the hand-written
 *     reference on value, ∇_θ, ∇_λ, H·v and cross(v);
 *   - mc_check_fd: the reference against central finite differences of
 *     itself (gradients from values, H·v from ∇_θG, cross from ∇_λG);
 *   - mc_check_constants: μ ≤ eig(H) ≤ L from a dense Hessian, L_f from a
 *     finite-difference Hessian of F, L_H and L_B from pairs of points,
 *     ‖B‖ ≤ cross_norm;
 *   - dense Newton on the reference and the dense-solve hypergradient.
 * Every check reports through EXPECT of tests/testutil.h.
 */
#ifndef HYPERTAPE_TESTS_MCHECK_H
#define HYPERTAPE_TESTS_MCHECK_H

#include "testutil.h"

#include <hypertape/ad.h>
#include <hypertape/bilevel.h>
#include <hypertape/models/data.h>
#include <hypertape/models/dense.h>

#include <cblas.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ json */

/* The whole file as a NUL-terminated string (malloc'ed), or NULL. */
static inline char *j_read(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) {
        free(s);
        s = NULL;
    }
    if (s)
        s[n] = '\0';
    fclose(f);
    return s;
}

/* Position right after `"key":` at or after from, or NULL. */
static inline const char *j_key(const char *from, const char *key)
{
    char pat[128];
    snprintf(pat, sizeof pat, "\"%s\"", key);
    const char *p = from ? strstr(from, pat) : NULL;
    if (!p)
        return NULL;
    p += strlen(pat);
    while (isspace((unsigned char)*p))
        p++;
    return *p == ':' ? p + 1 : NULL;
}

/* Reads the numbers of the value at p (a number or nested arrays of
 * numbers) into out (at most max); returns how many, −1 on a parse error. */
static inline int j_nums(const char *p, double *out, int max)
{
    int depth = 0, n = 0;
    if (!p)
        return -1;
    do {
        while (isspace((unsigned char)*p) || *p == ',')
            p++;
        if (*p == '[') {
            depth++, p++;
        } else if (*p == ']') {
            depth--, p++;
        } else {
            char *end;
            double v = strtod(p, &end);
            if (end == p)
                return -1;
            if (n < max)
                out[n] = v;
            n++;
            p = end;
        }
    } while (depth > 0);
    return n;
}

/* Integers, as j_nums. */
static inline int j_ints(const char *p, int *out, int max)
{
    double *tmp = malloc((size_t)max * sizeof *tmp);
    int n = j_nums(p, tmp, max);
    for (int k = 0; k < n && k < max; k++)
        out[k] = (int)tmp[k];
    free(tmp);
    return n;
}

/* --------------------------------------------------------------- data */

/* A random data set X n×d with about `density` nonzeros N(0, 1) (every
 * row keeps at least one entry when keep_rows), y = ±1 (binary) or class
 * labels (nclass > 2, also as y). Returns the same samples dense (*dense)
 * and CSR (*csr); either pointer may be NULL. */
static inline void mc_random_set(t_rng *r, int n, int d, double density, int nclass, int keep_rows,
                          ds_set *dense, ds_set *csr)
{
    double *X = calloc((size_t)n * d, sizeof *X);
    int64_t nnz = 0;
    for (int i = 0; i < n; i++) {
        int any = 0;
        for (int j = 0; j < d; j++)
            if (t_uniform(r, 0, 1) < density) {
                X[(size_t)i * d + j] = t_normal(r);
                any = 1;
            }
        if (keep_rows && !any)
            X[(size_t)i * d + (int)t_uniform(r, 0, d)] = t_normal(r);
        for (int j = 0; j < d; j++)
            nnz += X[(size_t)i * d + j] != 0;
    }
    double *y = malloc((size_t)n * sizeof *y);
    int *cls = nclass > 2 ? malloc((size_t)n * sizeof *cls) : NULL;
    for (int i = 0; i < n; i++) {
        if (cls) {
            cls[i] = (int)t_uniform(r, 0, nclass);
            y[i] = cls[i];
        } else {
            y[i] = t_uniform(r, 0, 1) < 0.5 ? -1.0 : 1.0;
        }
    }
    if (csr) {
        memset(csr, 0, sizeof *csr);
        csr->n = n, csr->d = d, csr->nclass = nclass > 2 ? nclass : 2;
        csr->rowptr = malloc(((size_t)n + 1) * sizeof *csr->rowptr);
        csr->colind = malloc((size_t)(nnz ? nnz : 1) * sizeof *csr->colind);
        csr->val = malloc((size_t)(nnz ? nnz : 1) * sizeof *csr->val);
        int64_t e = 0;
        csr->rowptr[0] = 0;
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < d; j++)
                if (X[(size_t)i * d + j] != 0) {
                    csr->colind[e] = j;
                    csr->val[e++] = X[(size_t)i * d + j];
                }
            csr->rowptr[i + 1] = e;
        }
        csr->y = malloc((size_t)n * sizeof *csr->y);
        memcpy(csr->y, y, (size_t)n * sizeof *y);
        if (cls) {
            csr->cls = malloc((size_t)n * sizeof *cls);
            memcpy(csr->cls, cls, (size_t)n * sizeof *cls);
        }
    }
    if (dense) {
        memset(dense, 0, sizeof *dense);
        dense->n = n, dense->d = d, dense->nclass = nclass > 2 ? nclass : 2;
        dense->X = X;
        dense->y = y;
        dense->cls = cls;
    } else {
        free(X), free(y), free(cls);
    }
}

static inline double *mc_vec(size_t n)
{
    double *v = calloc(n ? n : 1, sizeof *v);
    if (!v) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    return v;
}

static inline void mc_fill_normal(t_rng *r, double *x, int n, double s)
{
    for (int k = 0; k < n; k++)
        x[k] = s * t_normal(r);
}

/* ------------------------------------------------------ ad vs reference */

/* Records pb's G (outer = 0) or F at (θ, λ) on a batch; value and both
 * gradients by ad_grad_values. Returns 0 on a tape error (reported). */
static inline int mc_ad_eval(const bl_problem *pb, int outer, const double *th, const double *la,
                      const int *b, int nb, double *f, double *gt, double *gl)
{
    ad_tape *t = ad_tape_new(NULL);
    ad_var tv = ad_leaf(t, pb->p, 1, th), lv = ad_leaf(t, pb->m, 1, la);
    ad_var y = (outer ? pb->F : pb->G)(t, tv, lv, b, nb, pb->ctx);
    ad_var wrt[2] = {tv, lv};
    double *out[2] = {gt, gl};
    int ok = ad_ok(y) && ad_grad_values(t, y, 2, wrt, out) == AD_OK;
    if (ok)
        *f = ad_scalar_value(t, y);
    EXPECT(ok, "%s %s: tape error: %s", pb->name, outer ? "F" : "G", ad_tape_message(t));
    ad_tape_free(t);
    return ok;
}

/* H·v and cross(v) of pb's G by ad_hvp_cross in the given mode. */
static inline int mc_ad_hvp(const bl_problem *pb, const double *th, const double *la, const int *b, int nb,
                     const double *v, double *hv, double *cr, ad_hvp_mode mode)
{
    ad_tape *t = ad_tape_new(NULL);
    ad_var tv = ad_leaf(t, pb->p, 1, th), lv = ad_leaf(t, pb->m, 1, la);
    ad_var y = pb->G(t, tv, lv, b, nb, pb->ctx);
    int ok = ad_ok(y) && ad_hvp_cross(t, y, tv, lv, v, hv, cr, mode) == AD_OK;
    EXPECT(ok, "%s hvp: tape error: %s", pb->name, ad_tape_message(t));
    ad_tape_free(t);
    return ok;
}

/* Relative error with a floor that keeps exact zeros comparable. */
static inline double mc_rel(const double *a, const double *b, int n) { return t_relerr(a, b, (size_t)n, 1e-14); }

/* ad vs reference on value, ∇_θ, ∇_λ of G and F and on H·v, cross(v) for
 * two random v (both second-order modes), at (θ, λ) with the given inner
 * and outer batches (NULL = all). */
static inline void mc_compare_ad(const bl_problem *pb, md_reference ref, const double *th,
                          const double *la, const int *bi, int nbi, const int *bo, int nbo,
                          t_rng *r, double tol, const char *label)
{
    int p = pb->p, m = pb->m;
    double *ga = mc_vec((size_t)p), *gr = mc_vec((size_t)p), *la_a = mc_vec((size_t)m),
           *la_r = mc_vec((size_t)m), *v = mc_vec((size_t)p);
    char msg[256];
    for (int outer = 0; outer < 2; outer++) {
        double fa = 0, fr = 0;
        const int *b = outer ? bo : bi;
        int nb = outer ? nbo : nbi;
        if (!mc_ad_eval(pb, outer, th, la, b, nb, &fa, ga, la_a))
            continue;
        bl_status st = (outer ? ref.F : ref.G)(ref.model, th, la, b, nb, &fr, gr, la_r, msg, sizeof msg);
        EXPECT(st == BL_OK, "%s: reference failed: %s", label, msg);
        const char *w = outer ? "F" : "G";
        EXPECT(fabs(fa - fr) <= tol * fmax(fabs(fr), 1e-14), "%s %s value: ad %.17g ref %.17g",
               label, w, fa, fr);
        EXPECT(mc_rel(ga, gr, p) <= tol, "%s grad_theta %s: rel err %.3g", label, w, mc_rel(ga, gr, p));
        EXPECT(mc_rel(la_a, la_r, m) <= tol, "%s grad_lambda %s: rel err %.3g", label, w,
               mc_rel(la_a, la_r, m));
    }
    for (int rep = 0; rep < 2; rep++) {
        mc_fill_normal(r, v, p, 1.0);
        bl_status st = ref.hvp(ref.model, th, la, bi, nbi, v, gr, la_r, msg, sizeof msg);
        EXPECT(st == BL_OK, "%s: reference hvp failed: %s", label, msg);
        for (int mode = 0; mode < 2; mode++) {
            if (!mc_ad_hvp(pb, th, la, bi, nbi, v, ga, la_a, (ad_hvp_mode)mode))
                continue;
            EXPECT(mc_rel(ga, gr, p) <= tol, "%s Hv (%s): rel err %.3g", label,
                   mode ? "ROR" : "FOR", mc_rel(ga, gr, p));
            EXPECT(mc_rel(la_a, la_r, m) <= tol, "%s cross (%s): rel err %.3g", label,
                   mode ? "ROR" : "FOR", mc_rel(la_a, la_r, m));
        }
    }
    free(ga), free(gr), free(la_a), free(la_r), free(v);
}

/* ------------------------------------------------- reference vs FD */

static inline double mc_ref_val(md_reference ref, int outer, const double *th, const double *la,
                         const int *b, int nb)
{
    double f = NAN;
    (outer ? ref.F : ref.G)(ref.model, th, la, b, nb, &f, NULL, NULL, NULL, 0);
    return f;
}

/* Central differences of the reference itself (step h relative to 1):
 * directional derivatives of G and F in θ and λ along coordinates (when
 * the size is ≤ 40) and 4 random unit directions; H·v from ∇_θG(θ ± hv);
 * cross(v) from ∇_λG(θ ± hv) (mixed partials commute). */
static inline void mc_check_fd(md_reference ref, int p, int m, const double *th, const double *la,
                        const int *bi, int nbi, const int *bo, int nbo, t_rng *r, double h,
                        double tol, const char *label)
{
    double *g = mc_vec((size_t)p), *gl = mc_vec((size_t)m), *u = mc_vec((size_t)(p > m ? p : m));
    double *tp = mc_vec((size_t)p), *lp = mc_vec((size_t)m), *a = mc_vec((size_t)p),
           *b = mc_vec((size_t)p), *la_ = mc_vec((size_t)m), *lb = mc_vec((size_t)m),
           *hv = mc_vec((size_t)p), *cr = mc_vec((size_t)m), *fd = mc_vec((size_t)p),
           *fdl = mc_vec((size_t)m);
    for (int outer = 0; outer < 2; outer++) {
        const int *bb = outer ? bo : bi;
        int nb = outer ? nbo : nbi;
        double f0;
        (outer ? ref.F : ref.G)(ref.model, th, la, bb, nb, &f0, g, gl, NULL, 0);
        double gn = sqrt(cblas_ddot(p, g, 1, g, 1)), gln = sqrt(cblas_ddot(m, gl, 1, gl, 1));
        for (int wrt = 0; wrt < 2; wrt++) { /* 0: θ, 1: λ */
            int n = wrt ? m : p;
            double nrm = wrt ? gln : gn;
            const double *grad = wrt ? gl : g;
            int ndir = (n <= 40 ? n : 0) + 4;
            double worst = 0;
            for (int k = 0; k < ndir; k++) {
                memset(u, 0, (size_t)n * sizeof *u);
                if (k < ndir - 4) {
                    u[k] = 1.0;
                } else {
                    mc_fill_normal(r, u, n, 1.0);
                    cblas_dscal(n, 1.0 / cblas_dnrm2(n, u, 1), u, 1);
                }
                memcpy(tp, th, (size_t)p * sizeof *tp);
                memcpy(lp, la, (size_t)m * sizeof *lp);
                double *x = wrt ? lp : tp;
                cblas_daxpy(n, h, u, 1, x, 1);
                double fp = mc_ref_val(ref, outer, tp, lp, bb, nb);
                cblas_daxpy(n, -2 * h, u, 1, x, 1);
                double fm = mc_ref_val(ref, outer, tp, lp, bb, nb);
                double err = fabs((fp - fm) / (2 * h) - cblas_ddot(n, grad, 1, u, 1)) /
                             fmax(nrm, fmax(fabs(f0), 1.0) * 1e-8);
                worst = err > worst ? err : worst;
            }
            EXPECT(worst <= tol, "%s: FD of %s in %s: rel err %.3g", label, outer ? "F" : "G",
                   wrt ? "lambda" : "theta", worst);
        }
    }
    for (int rep = 0; rep < 2; rep++) {
        double *v = u;
        mc_fill_normal(r, v, p, 1.0);
        ref.hvp(ref.model, th, la, bi, nbi, v, hv, cr, NULL, 0);
        memcpy(tp, th, (size_t)p * sizeof *tp);
        cblas_daxpy(p, h, v, 1, tp, 1);
        ref.G(ref.model, tp, la, bi, nbi, NULL, a, la_, NULL, 0);
        cblas_daxpy(p, -2 * h, v, 1, tp, 1);
        ref.G(ref.model, tp, la, bi, nbi, NULL, b, lb, NULL, 0);
        for (int k = 0; k < p; k++)
            fd[k] = (a[k] - b[k]) / (2 * h);
        for (int k = 0; k < m; k++)
            fdl[k] = (la_[k] - lb[k]) / (2 * h);
        EXPECT(t_relerr(hv, fd, (size_t)p, 1e-8) <= tol, "%s: FD of Hv: rel err %.3g", label,
               t_relerr(hv, fd, (size_t)p, 1e-8));
        EXPECT(t_relerr(cr, fdl, (size_t)m, 1e-8) <= tol, "%s: FD of cross: rel err %.3g", label,
               t_relerr(cr, fdl, (size_t)m, 1e-8));
    }
    free(g), free(gl), free(u), free(tp), free(lp), free(a), free(b), free(la_), free(lb);
    free(hv), free(cr), free(fd), free(fdl);
}

/* ---------------------------------------------------- dense matrices */

/* H (p×p) of G at (θ, λ) from p reference H·e_k (symmetrised), and, when
 * B != NULL, B (p×m) with row k = cross(e_k). */
static inline void mc_dense_hessian(md_reference ref, int p, int m, const double *th, const double *la,
                             double *H, double *B)
{
    double *e = mc_vec((size_t)p), *hv = mc_vec((size_t)p), *cr = mc_vec((size_t)m);
    for (int k = 0; k < p; k++) {
        e[k] = 1.0;
        ref.hvp(ref.model, th, la, NULL, 0, e, hv, cr, NULL, 0);
        e[k] = 0.0;
        for (int i = 0; i < p; i++)
            H[(size_t)i * p + k] = hv[i];
        if (B)
            memcpy(B + (size_t)k * m, cr, (size_t)m * sizeof *cr);
    }
    for (int i = 0; i < p; i++)
        for (int j = 0; j < i; j++) {
            double s = 0.5 * (H[(size_t)i * p + j] + H[(size_t)j * p + i]);
            H[(size_t)i * p + j] = H[(size_t)j * p + i] = s;
        }
    free(e), free(hv), free(cr);
}

/* Extreme eigenvalues of a symmetric n×n matrix (Jacobi of models/dense.c,
 * itself tested in test_dense against analytic spectra). */
static inline void mc_eig_range(int n, const double *A, double *lo, double *hi)
{
    double *w = mc_vec((size_t)n);
    bl_status st = md_sym_eig(n, A, w, NULL, NULL, 0);
    EXPECT(st == BL_OK, "md_sym_eig failed");
    *lo = w[0];
    *hi = w[n - 1];
    free(w);
}

/* Spectral norm of an r×c matrix: √(λ_max(MᵀM)). */
static inline double mc_norm2(int r, int c, const double *Mx)
{
    double *S = mc_vec((size_t)c * c), lo, hi;
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, c, c, r, 1.0, Mx, c, Mx, c, 0.0, S, c);
    mc_eig_range(c, S, &lo, &hi);
    free(S);
    return sqrt(fmax(hi, 0.0));
}

/* Certified constants of pb at (θ, λ) against the reference: eig(H) in
 * [μ, L]; L_f ≥ the top eigenvalue of a finite-difference Hessian of F
 * (with 1e-6 slack); for 3 points θ' near and far, ‖H(θ) − H(θ')‖ ≤
 * L_H‖θ − θ'‖ and ‖B(θ) − B(θ')‖ ≤ L_B‖θ − θ'‖; ‖B(θ)‖ ≤ cross_norm(θ).
 * Returns the constants (for model-specific checks); obs (may be NULL)
 * receives the smallest and largest eigenvalue of H and the largest of
 * F's finite-difference Hessian. */
static inline bl_constants mc_check_constants_obs(const bl_problem *pb, md_reference ref,
                                                  const double *th, const double *la, t_rng *r,
                                                  const char *label, double obs[3])
{
    int p = pb->p, m = pb->m;
    bl_constants k = {0};
    bl_status st = pb->constants(la, &k, pb->ctx);
    EXPECT(st == BL_OK && k.certified, "%s: constants not certified (status %d)", label, (int)st);
    double *H = mc_vec((size_t)p * p), *H2 = mc_vec((size_t)p * p), *B = mc_vec((size_t)p * m),
           *B2 = mc_vec((size_t)p * m), *t2 = mc_vec((size_t)p), *ga = mc_vec((size_t)p),
           *gb = mc_vec((size_t)p), lo, hi;
    mc_dense_hessian(ref, p, m, th, la, H, B);
    mc_eig_range(p, H, &lo, &hi);
    if (obs)
        obs[0] = lo, obs[1] = hi;
    double slack = 1e-12 * fmax(1.0, fabs(hi));
    EXPECT(lo >= k.mu - slack, "%s: smallest eigenvalue of H %.17g < mu %.17g", label, lo, k.mu);
    EXPECT(hi <= k.L + slack, "%s: largest eigenvalue of H %.17g > L %.17g", label, hi, k.L);
    if (pb->cross_norm) {
        double bn = mc_norm2(p, m, B), cb = pb->cross_norm(th, la, pb->ctx);
        EXPECT(bn <= cb * (1 + 1e-12) + 1e-300, "%s: ||B|| %.17g > cross_norm %.17g", label, bn, cb);
    }
    /* L_f from a central-difference Hessian of F (step 1e-5). */
    double h = 1e-5;
    for (int c = 0; c < p; c++) {
        memcpy(t2, th, (size_t)p * sizeof *t2);
        t2[c] += h;
        ref.F(ref.model, t2, la, NULL, 0, NULL, ga, NULL, NULL, 0);
        t2[c] -= 2 * h;
        ref.F(ref.model, t2, la, NULL, 0, NULL, gb, NULL, NULL, 0);
        for (int i = 0; i < p; i++)
            H2[(size_t)i * p + c] = (ga[i] - gb[i]) / (2 * h);
    }
    for (int i = 0; i < p; i++)
        for (int j = 0; j < i; j++)
            H2[(size_t)i * p + j] = H2[(size_t)j * p + i] =
                0.5 * (H2[(size_t)i * p + j] + H2[(size_t)j * p + i]);
    mc_eig_range(p, H2, &lo, &hi);
    if (obs)
        obs[2] = hi;
    EXPECT(hi <= k.Lf * (1 + 1e-6) + 1e-9, "%s: largest eigenvalue of F's Hessian %.10g > L_f %.10g",
           label, hi, k.Lf);
    for (int rep = 0; rep < 3; rep++) {
        double scale = rep == 0 ? 1e-3 : rep == 1 ? 0.3 : 3.0;
        for (int i = 0; i < p; i++)
            t2[i] = th[i] + scale * t_normal(r) / sqrt((double)p);
        double dist = 0;
        for (int i = 0; i < p; i++)
            dist += (t2[i] - th[i]) * (t2[i] - th[i]);
        dist = sqrt(dist);
        mc_dense_hessian(ref, p, m, t2, la, H2, B2);
        for (size_t q = 0; q < (size_t)p * p; q++)
            H2[q] -= H[q];
        mc_eig_range(p, H2, &lo, &hi);
        double dh = fmax(fabs(lo), fabs(hi));
        EXPECT(dh <= k.LH * dist * (1 + 1e-9) + 1e-11 * fmax(1.0, k.L),
               "%s: ||H - H'|| %.6g > L_H ||dtheta|| = %.6g", label, dh, k.LH * dist);
        for (size_t q = 0; q < (size_t)p * m; q++)
            B2[q] -= B[q];
        double db = mc_norm2(p, m, B2);
        EXPECT(db <= k.LB * dist * (1 + 1e-9) + 1e-11, "%s: ||B - B'|| %.6g > L_B ||dtheta|| = %.6g",
               label, db, k.LB * dist);
    }
    free(H), free(H2), free(B), free(B2), free(t2), free(ga), free(gb);
    return k;
}

/* mc_check_constants_obs without the observed spectrum. */
static inline bl_constants mc_check_constants(const bl_problem *pb, md_reference ref,
                                              const double *th, const double *la, t_rng *r,
                                              const char *label)
{
    return mc_check_constants_obs(pb, ref, th, la, r, label, NULL);
}

/* ------------------------------------------- Newton and the dense solve */

/* Newton on the reference G from θ (in place) until ‖∇G‖ ≤ 1e-14·max(1,
 * ‖∇G(θ₀)‖) or 100 steps (full steps; the test problems are smooth and
 * strongly convex, started near enough). Returns the final ‖∇G‖. */
static inline double mc_newton(md_reference ref, int p, int m, double *th, const double *la)
{
    double *g = mc_vec((size_t)p), *H = mc_vec((size_t)p * p), gn = INFINITY;
    for (int it = 0; it < 100; it++) {
        ref.G(ref.model, th, la, NULL, 0, NULL, g, NULL, NULL, 0);
        gn = cblas_dnrm2(p, g, 1);
        if (gn <= 1e-15)
            break;
        mc_dense_hessian(ref, p, m, th, la, H, NULL);
        if (md_cholesky(p, H, NULL, 0) != BL_OK)
            break;
        md_cholesky_solve(p, H, g);
        cblas_daxpy(p, -1.0, g, 1, th, 1);
        if (cblas_dnrm2(p, g, 1) <= 1e-16 * fmax(1.0, cblas_dnrm2(p, th, 1)))
            break;
    }
    ref.G(ref.model, th, la, NULL, 0, NULL, g, NULL, NULL, 0);
    gn = cblas_dnrm2(p, g, 1);
    free(g), free(H);
    return gn;
}

/* ∇h = ∇_λF − cross(H⁻¹∇_θF) at θ by a dense Cholesky solve on the
 * reference; *fval = F(θ). */
static inline void mc_dense_hypergrad(md_reference ref, int p, int m, const double *th, const double *la,
                               double *hg, double *fval)
{
    double *gF = mc_vec((size_t)p), *H = mc_vec((size_t)p * p), *cr = mc_vec((size_t)m);
    ref.F(ref.model, th, la, NULL, 0, fval, gF, hg, NULL, 0);
    mc_dense_hessian(ref, p, m, th, la, H, NULL);
    EXPECT(md_cholesky(p, H, NULL, 0) == BL_OK, "dense hypergradient: H not positive definite");
    md_cholesky_solve(p, H, gF); /* q */
    ref.hvp(ref.model, th, la, NULL, 0, gF, NULL, cr, NULL, 0);
    for (int k = 0; k < m; k++)
        hg[k] -= cr[k];
    free(gF), free(H), free(cr);
}

/* ∇h at θ by a dense solve with everything from the ad recording:
 * H from ad H·e_k, ∇_θF and ∇_λF from ad_grad, cross(q) from ad. */
static inline void mc_ad_dense_hypergrad(const bl_problem *pb, const double *th, const double *la, double *hg)
{
    int p = pb->p, m = pb->m;
    double *H = mc_vec((size_t)p * p), *e = mc_vec((size_t)p), *hv = mc_vec((size_t)p),
           *gF = mc_vec((size_t)p), *cr = mc_vec((size_t)m), f;
    for (int k = 0; k < p; k++) {
        e[k] = 1.0;
        mc_ad_hvp(pb, th, la, NULL, 0, e, hv, NULL, AD_HVP_FOR);
        e[k] = 0.0;
        for (int i = 0; i < p; i++)
            H[(size_t)i * p + k] = hv[i];
    }
    mc_ad_eval(pb, 1, th, la, NULL, 0, &f, gF, hg);
    EXPECT(md_cholesky(p, H, NULL, 0) == BL_OK, "ad Hessian not positive definite");
    md_cholesky_solve(p, H, gF);
    mc_ad_hvp(pb, th, la, NULL, 0, gF, NULL, cr, AD_HVP_ROR);
    for (int k = 0; k < m; k++)
        hg[k] -= cr[k];
    free(H), free(e), free(hv), free(gF), free(cr);
}

/* Conjugate gradients on the reference gradient of a quadratic G in θ
 * (H·v from the reference) from θ = 0 until ‖∇G‖ ≤ tol·‖∇G(0)‖. */
static inline int mc_cg(md_reference ref, int p, const double *la, double *th, double tol, int maxit)
{
    double *r = mc_vec((size_t)p), *d = mc_vec((size_t)p), *Hd = mc_vec((size_t)p);
    memset(th, 0, (size_t)p * sizeof *th);
    ref.G(ref.model, th, la, NULL, 0, NULL, r, NULL, NULL, 0);
    cblas_dscal(p, -1.0, r, 1); /* r = −∇G(0) = b − H·0 */
    memcpy(d, r, (size_t)p * sizeof *d);
    double rr = cblas_ddot(p, r, 1, r, 1), r0 = sqrt(rr);
    int it = 0;
    for (; it < maxit && sqrt(rr) > tol * r0; it++) {
        ref.hvp(ref.model, th, la, NULL, 0, d, Hd, NULL, NULL, 0);
        double a = rr / cblas_ddot(p, d, 1, Hd, 1);
        cblas_daxpy(p, a, d, 1, th, 1);
        cblas_daxpy(p, -a, Hd, 1, r, 1);
        double rr2 = cblas_ddot(p, r, 1, r, 1);
        cblas_dscal(p, rr2 / rr, d, 1);
        cblas_daxpy(p, 1.0, r, 1, d, 1);
        rr = rr2;
    }
    /* The true residual (not the recursion's): */
    ref.G(ref.model, th, la, NULL, 0, NULL, r, NULL, NULL, 0);
    double fin = cblas_dnrm2(p, r, 1);
    free(r), free(d), free(Hd);
    return fin <= tol * r0 * 10 ? it : -1;
}

/* A random batch of nb indices in [0, n) with one repeat (when nb ≥ 3). */
static inline void mc_batch(t_rng *r, int n, int nb, int *b)
{
    for (int k = 0; k < nb; k++)
        b[k] = (int)t_uniform(r, 0, n);
    if (nb >= 3)
        b[nb - 1] = b[0];
}

#endif
