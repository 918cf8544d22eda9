/*
 * tests/gradcheck/gc.h — the finite-difference harness of the gradcheck
 * suite. Header-only: every gradcheck program is one translation unit, so
 * the EXPECT counters of testutil.h stay in one place.
 *
 * A case is one op on concrete shapes: up to three inputs (shape, value
 * range, differentiable leaf or constant) and a callback that records the
 * op's output y (ry×cy) from them. gc_run() then checks, for every
 * differentiable input x_k, against central differences only:
 *
 *   grad      ∇_{x_k} s(y), s(y) = Σ w⊙y + ½ Σ c⊙y² with random w, c,
 *             every coordinate;
 *   hvp       ∇²_{x_k x_k} s · v from ad_hvp_cross (lambda = AD_NONE) in
 *             both AD_HVP_FOR and AD_HVP_ROR, vs differences of ∇_{x_k} s;
 *   jvp       ∂y/∂x_k · u from ad_jvp, vs differences of y;
 *
 * and, when two or more inputs are differentiable, the joint directional
 * gradient and jvp (all inputs perturbed at once) and the cross term
 * ∂/∂x_q ⟨∇_{x_p} s, v⟩ (ad_hvp_cross with lambda = x_q, both modes).
 *
 * Every comparison is ‖AD − FD‖ / max(‖AD‖, ‖FD‖, σ) against GC_TOL =
 * 1e-7, where σ is the typical size of the product for a unit direction
 * (‖J‖_F/√n or ‖H‖_F/√n, from the coordinate differences — never from AD)
 * and only matters for a direction that the Jacobian nearly annihilates
 * (the gradient itself, Jᵀ(w + c⊙y), is such a product too); for the
 * joint directional gradient it is |⟨∇s, u⟩ − FD| / max(‖∇s‖, σ). Steps
 * are h = GC_H·max(1, max|x_k|) along unit directions, with the
 * fourth-order central stencil (Richardson on ±h/2 and ±h), and the AD
 * side is given the step the stencil actually took; callers keep inputs
 * away from kinks and poles (at least 0.1 away, far beyond h), so the
 * truncation error (~h⁴) and the rounding error (~ε/h) both sit well
 * below 1e-9.
 *
 * A failing check prints one line: op, input shapes, which check, error.
 * GC_VERBOSE=<e> in the environment also prints every error above e.
 */
#ifndef HYPERTAPE_TESTS_GC_H
#define HYPERTAPE_TESTS_GC_H

#include <hypertape/ad.h>
#include "ad/internal.h" /* vjp_off and pushed: the reverse sweep's paths */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GC_TOL 1e-7
#ifndef GC_H
#define GC_H 3e-4 /* relative step (≈ ε^(1/5) for the fourth-order stencil); -DGC_H=... to study */
#endif
#define GC_MAXIN 3
#define GC_NDIRS 2 /* random directions per input for hvp and jvp */

/* Records the op's output from its inputs (x[k] is a leaf or a constant). */
typedef ad_var (*gc_opfn)(ad_tape *t, const ad_var *x, const void *ctx);

/* One input of a case. */
typedef struct gc_input {
    int r, c;
    double lo, hi;      /* values uniform in [lo, hi), or in ±[lo, hi) when sign */
    int sign;           /* random sign: keeps |x| ≥ lo (poles, kinks) */
    int konst;          /* a constant (not differentiable) */
    const double *data; /* fixed values instead of random ones (e.g. a mask) */
} gc_input;

static t_rng gc_rng = {0x2545F4914F6CDD1DULL};
static double gc_worst; /* largest error seen by any passing check (reported) */
static double gc_path_worst;          /* largest numeric vs recorded gradient difference */
static long gc_path_same, gc_path_all; /* gradient elements equal bit for bit, and checked */

static inline gc_input gc_uniform(int r, int c, double lo, double hi)
{
    return (gc_input){r, c, lo, hi, 0, 0, NULL};
}
static inline gc_input gc_signed(int r, int c, double lo, double hi)
{
    return (gc_input){r, c, lo, hi, 1, 0, NULL};
}
/* A constant with the given values (a mask, say). */
static inline gc_input gc_fixed(int r, int c, const double *data)
{
    return (gc_input){r, c, 0, 0, 0, 1, data};
}
/* A differentiable input at the given values. */
static inline gc_input gc_at(int r, int c, const double *data)
{
    return (gc_input){r, c, 0, 0, 0, 0, data};
}

static inline double gc_norm(const double *x, size_t n)
{
    double s = 0;
    for (size_t k = 0; k < n; k++)
        s += x[k] * x[k];
    return sqrt(s);
}

/* ‖a − b‖ / max(‖a‖, ‖b‖, scale); 0 when all vanish; NaN-safe (NaN →
 * +Inf). scale is the typical size of the product being checked (see
 * gc_state.jf2): it only matters when a random direction happens to be
 * nearly annihilated, where ‖a‖ and ‖b‖ are small by chance. */
static inline double gc_relerr_s(const double *a, const double *b, size_t n, double scale)
{
    double e = t_relerr(a, b, n, scale > 1e-300 ? scale : 1e-300);
    return isfinite(e) ? e : INFINITY;
}

static inline double gc_relerr(const double *a, const double *b, size_t n)
{
    return gc_relerr_s(a, b, n, 0.0);
}

/* Fills x (n) with a random unit vector. */
static inline void gc_unit(double *x, size_t n)
{
    for (size_t k = 0; k < n; k++)
        x[k] = t_normal(&gc_rng);
    double s = gc_norm(x, n);
    for (size_t k = 0; k < n; k++)
        x[k] /= s;
}

/* Random integers in [0, n). */
static inline int gc_int(int n) { return (int)(t_next(&gc_rng) % (uint64_t)n); }

/* Records a failure or a pass of one comparison. */
static inline void gc_expect(const char *op, const char *shapes, const char *check, double err)
{
    EXPECT(err <= GC_TOL, "%s [%s] %s: relative error %.3g (tol %.0e)", op, shapes, check, err,
           GC_TOL);
    if (err <= GC_TOL && err > gc_worst)
        gc_worst = err;
    if (getenv("GC_VERBOSE") && err > atof(getenv("GC_VERBOSE")))
        printf("  %s [%s] %s: %.3g\n", op, shapes, check, err);
}

/* ---------------------------------------------------------------- state */

typedef struct gc_state {
    const char *op;
    char shapes[96];
    int nin;
    const gc_input *in;
    gc_opfn fn;
    const void *ctx;
    ad_tape *t;
    double *x[GC_MAXIN];   /* the point */
    size_t n[GC_MAXIN];
    double h[GC_MAXIN];    /* FD step per input */
    int ry, cy;
    size_t ny;
    double *w, *c;         /* coefficients of s, ry×cy each */
    double anorm;          /* ‖w + c⊙y‖ at the point: ∇_{x_k} s = J_kᵀ (w + c⊙y) */
    /* From the coordinate differences of the gradient check: ‖J_k‖_F² of
     * ∂y/∂x_k and ‖H_jk‖_F² of ∂²s/∂x_j∂x_k. For a unit direction u,
     * ‖J_k‖_F/√n_k is the typical ‖J_k u‖: the scale of a directional check
     * (so that a direction nearly in a null space, where ‖J_k u‖ is tiny and
     * the differences' absolute error dominates, does not fail a correct
     * op). Likewise ‖J_k‖_F ‖w + c⊙y‖/√ny is the typical size of the
     * gradient J_kᵀ(w + c⊙y). All come from differences, never from AD. */
    double jf2[GC_MAXIN], hf2[GC_MAXIN][GC_MAXIN];
} gc_state;

/* Records the inputs at xs, y = op(inputs) and s(y); leaves the handles in
 * xv, yv, sv. Returns 0 (and fails the case) on a tape error. */
static inline int gc_record(gc_state *st, double *const xs[], ad_var *xv, ad_var *yv, ad_var *sv)
{
    ad_tape *t = st->t;
    for (int k = 0; k < st->nin; k++)
        xv[k] = st->in[k].konst ? ad_const(t, st->in[k].r, st->in[k].c, xs[k])
                                : ad_leaf(t, st->in[k].r, st->in[k].c, xs[k]);
    *yv = st->fn(t, xv, st->ctx);
    if (sv && ad_tape_status(t) == AD_OK) {
        ad_var W = ad_const_ref(t, st->ry, st->cy, st->w);
        ad_var C = ad_const_ref(t, st->ry, st->cy, st->c);
        *sv = ad_add(t, ad_dot(t, W, *yv), ad_scale(t, ad_sum(t, ad_mul(t, C, ad_square(t, *yv))), 0.5));
    }
    if (ad_tape_status(t) != AD_OK) {
        EXPECT(0, "%s [%s]: recording failed: %s", st->op, st->shapes, ad_tape_message(t));
        return 0;
    }
    return 1;
}

/* Evaluates at xs: y (if y), s (if s), gradients of s wrt every
 * differentiable input (into g[k] where non-NULL). */
static inline int gc_eval(gc_state *st, double *const xs[], double *y, double *s, double *const g[])
{
    ad_mark m = ad_tape_mark(st->t);
    ad_var xv[GC_MAXIN], yv, sv;
    int ok = gc_record(st, xs, xv, &yv, &sv);
    if (ok && y)
        memcpy(y, ad_value(st->t, yv), st->ny * sizeof(double));
    if (ok && s)
        *s = ad_scalar_value(st->t, sv);
    if (ok && g) {
        ad_var wrt[GC_MAXIN];
        double *out[GC_MAXIN];
        int nw = 0;
        for (int k = 0; k < st->nin; k++)
            if (!st->in[k].konst) {
                wrt[nw] = xv[k];
                out[nw++] = g[k];
            }
        if (ad_grad_values(st->t, sv, nw, wrt, out) != AD_OK) {
            EXPECT(0, "%s [%s]: ad_grad_values failed: %s", st->op, st->shapes,
                   ad_tape_message(st->t));
            ok = 0;
        }
    }
    ad_tape_rewind(st->t, m);
    return ok;
}

/* xs = x + a·d (d[k] may be NULL: unperturbed). */
static inline void gc_shift(const gc_state *st, double *const xs[], double *const d[], double a)
{
    for (int k = 0; k < st->nin; k++)
        for (size_t q = 0; q < st->n[k]; q++)
            xs[k][q] = st->x[k][q] + (d[k] ? a * st->h[k] * d[k][q] : 0.0);
}

/* Central differences along the steps h[k]·d[k], Richardson-extrapolated
 * (the fourth-order central stencil):
 *     D = [8 (f(x + h/2) − f(x − h/2)) − (f(x + h) − f(x − h))] / 6,
 * so that D/h = f'·d + O(h⁴): the truncation error of plain central
 * differences, O(h²) with the large third derivatives of deep
 * compositions, would eat most of a 1e-7 budget at h = 1e-5. D of y goes
 * into dy (if dy), of s into *ds (if ds), of the gradients into dg[k] (if
 * dg); the caller divides by h. On return d[k] holds the direction the
 * stencil actually saw, the same combination of the rounded points
 * (x + a·h·d) − x divided by h, so that rounding of the points does not
 * enter the comparison. Returns 0 on a tape error. */
static inline int gc_central(gc_state *st, double *const d[], double *dy, double *ds,
                             double *const dg[])
{
    static const double at[4] = {1.0, -1.0, 0.5, -0.5};
    static const double wt[4] = {-1.0 / 6, 1.0 / 6, 8.0 / 6, -8.0 / 6};
    double *xs[GC_MAXIN], *gp[GC_MAXIN] = {NULL, NULL, NULL}, *eff[GC_MAXIN] = {NULL, NULL, NULL};
    size_t tot = 0;
    for (int k = 0; k < st->nin; k++)
        tot += 3 * st->n[k];
    double *buf = malloc((tot + st->ny + 1) * sizeof(double)), *p = buf, *yp;
    for (int k = 0; k < st->nin; k++) {
        xs[k] = p;
        gp[k] = dg && dg[k] ? p + st->n[k] : NULL;
        eff[k] = p + 2 * st->n[k];
        memset(eff[k], 0, st->n[k] * sizeof(double));
        p += 3 * st->n[k];
    }
    yp = p;
    if (dy)
        memset(dy, 0, st->ny * sizeof(double));
    if (ds)
        *ds = 0;
    for (int k = 0; k < st->nin; k++)
        if (gp[k])
            memset(dg[k], 0, st->n[k] * sizeof(double));
    int ok = 1;
    for (int a = 0; a < 4 && ok; a++) {
        double sv = 0;
        gc_shift(st, xs, d, at[a]);
        ok = gc_eval(st, xs, dy ? yp : NULL, &sv, dg ? gp : NULL);
        if (!ok)
            break;
        if (dy)
            for (size_t q = 0; q < st->ny; q++)
                dy[q] += wt[a] * yp[q];
        if (ds)
            *ds += wt[a] * sv;
        for (int k = 0; k < st->nin; k++) {
            for (size_t q = 0; gp[k] && q < st->n[k]; q++)
                dg[k][q] += wt[a] * gp[k][q];
            for (size_t q = 0; d[k] && q < st->n[k]; q++)
                eff[k][q] += wt[a] * (xs[k][q] - st->x[k][q]);
        }
    }
    for (int k = 0; ok && k < st->nin; k++)
        for (size_t q = 0; d[k] && q < st->n[k]; q++)
            d[k][q] = eff[k][q] / st->h[k];
    free(buf);
    return ok;
}

/* ---------------------------------------------------------------- checks */

/* (1) gradient: every coordinate of every differentiable input. The same
 * differences give the columns of the Jacobian of y and of the Hessian of
 * s, whose norms set the scales of the directional checks. */
static inline void gc_check_grad(gc_state *st, double *const g[])
{
    double *d[GC_MAXIN] = {NULL, NULL, NULL}, *dg[GC_MAXIN] = {NULL, NULL, NULL};
    double *dy = malloc((st->ny + 1) * sizeof(double));
    for (int j = 0; j < st->nin; j++)
        if (!st->in[j].konst)
            dg[j] = malloc(st->n[j] * sizeof(double));
    for (int k = 0; k < st->nin; k++) {
        if (st->in[k].konst)
            continue;
        double *fd = malloc(2 * st->n[k] * sizeof(double)), *e = fd + st->n[k];
        int ok = 1;
        for (size_t q = 0; q < st->n[k] && ok; q++) {
            memset(e, 0, st->n[k] * sizeof(double));
            e[q] = 1.0;
            d[k] = e;
            double ds;
            ok = gc_central(st, d, dy, &ds, dg);
            double step = st->h[k] * e[q];
            fd[q] = ds / step;
            for (size_t i = 0; i < st->ny; i++)
                st->jf2[k] += (dy[i] / step) * (dy[i] / step);
            for (int j = 0; j < st->nin; j++)
                for (size_t i = 0; dg[j] && i < st->n[j]; i++)
                    st->hf2[j][k] += (dg[j][i] / step) * (dg[j][i] / step);
        }
        d[k] = NULL;
        if (ok) {
            char what[32];
            snprintf(what, sizeof what, "grad wrt x%d", k);
            double scale = sqrt(st->jf2[k] / (double)st->ny) * st->anorm;
            gc_expect(st->op, st->shapes, what, gc_relerr_s(g[k], fd, st->n[k], scale));
        }
        free(fd);
    }
    free(dy);
    for (int j = 0; j < st->nin; j++)
        free(dg[j]);
}

/* The leaf handles of a fresh recording at the point; G = s. */
static inline int gc_record_point(gc_state *st, ad_var *xv, ad_var *yv, ad_var *sv)
{
    return gc_record(st, st->x, xv, yv, sv);
}

/* (2) Hvp of s wrt each differentiable input, both modes. */
static inline void gc_check_hvp(gc_state *st)
{
    static const ad_hvp_mode modes[2] = {AD_HVP_FOR, AD_HVP_ROR};
    static const char *const mname[2] = {"for", "ror"};
    for (int k = 0; k < st->nin; k++) {
        if (st->in[k].konst)
            continue;
        size_t n = st->n[k];
        double *v = malloc(3 * n * sizeof(double)), *hv = v + n, *fd = hv + n;
        for (int j = 0; j < GC_NDIRS; j++) {
            gc_unit(v, n);
            double *d[GC_MAXIN] = {NULL, NULL, NULL}, *dg[GC_MAXIN] = {NULL, NULL, NULL};
            d[k] = v;
            dg[k] = fd;
            if (!gc_central(st, d, NULL, NULL, dg))
                break;
            for (size_t q = 0; q < n; q++)
                fd[q] /= st->h[k];
            for (int mo = 0; mo < 2; mo++) {
                ad_mark m = ad_tape_mark(st->t);
                ad_var xv[GC_MAXIN], yv, sv;
                if (gc_record_point(st, xv, &yv, &sv)) {
                    ad_status s = ad_hvp_cross(st->t, sv, xv[k], AD_NONE, v, hv, NULL, modes[mo]);
                    char what[48];
                    snprintf(what, sizeof what, "hvp-%s wrt x%d dir %d", mname[mo], k, j);
                    if (s != AD_OK)
                        EXPECT(0, "%s [%s] %s: %s", st->op, st->shapes, what, ad_tape_message(st->t));
                    else
                        gc_expect(st->op, st->shapes, what,
                                  gc_relerr_s(hv, fd, n, sqrt(st->hf2[k][k] / (double)n)));
                }
                ad_tape_rewind(st->t, m);
            }
        }
        free(v);
    }
}

/* Runs ad_jvp at the point with tangents u[k] (NULL = not an input of the
 * sweep) into ty. */
static inline int gc_jvp(gc_state *st, double *const u[], double *ty)
{
    ad_mark m = ad_tape_mark(st->t);
    ad_var xv[GC_MAXIN], yv, in[GC_MAXIN];
    const double *tin[GC_MAXIN];
    int nin = 0, ok = gc_record(st, st->x, xv, &yv, NULL);
    for (int k = 0; ok && k < st->nin; k++)
        if (u[k]) {
            in[nin] = xv[k];
            tin[nin++] = u[k];
        }
    if (ok && ad_jvp(st->t, nin, in, tin, 1, &yv, &ty) != AD_OK) {
        EXPECT(0, "%s [%s]: ad_jvp failed: %s", st->op, st->shapes, ad_tape_message(st->t));
        ok = 0;
    }
    ad_tape_rewind(st->t, m);
    return ok;
}

/* (3) jvp along random directions, one input at a time and jointly; and the
 * joint directional gradient. */
static inline void gc_check_jvp(gc_state *st, double *const g[])
{
    double *ty = malloc(2 * st->ny * sizeof(double)), *fd = ty + st->ny;
    int ndiff = 0;
    double jall = 0, nall = 0;
    for (int k = 0; k < st->nin; k++)
        if (!st->in[k].konst) {
            ndiff++;
            jall += st->jf2[k];
            nall += (double)st->n[k];
        }
    for (int k = 0; k <= st->nin; k++) {
        int joint = k == st->nin;
        if ((!joint && st->in[k].konst) || (joint && ndiff < 2))
            continue;
        for (int j = 0; j < GC_NDIRS; j++) {
            double *u[GC_MAXIN] = {NULL, NULL, NULL}, *us[GC_MAXIN] = {NULL, NULL, NULL};
            double un = 0; /* one random direction over all perturbed inputs, unit norm */
            for (int q = 0; q < st->nin; q++)
                if (!st->in[q].konst && (joint || q == k)) {
                    u[q] = malloc(2 * st->n[q] * sizeof(double));
                    us[q] = u[q] + st->n[q];
                    for (size_t i = 0; i < st->n[q]; i++) {
                        u[q][i] = t_normal(&gc_rng);
                        un += u[q][i] * u[q][i];
                    }
                }
            for (int q = 0; q < st->nin; q++)
                for (size_t i = 0; u[q] && i < st->n[q]; i++)
                    u[q][i] /= sqrt(un);
            /* the FD steps are h[q]·u[q]; the tangent is the same in units
             * of one common step: scale each direction by h[q]/hmin */
            double hmin = INFINITY;
            for (int q = 0; q < st->nin; q++)
                if (u[q] && st->h[q] < hmin)
                    hmin = st->h[q];
            for (int q = 0; q < st->nin; q++)
                if (u[q])
                    for (size_t i = 0; i < st->n[q]; i++)
                        us[q][i] = u[q][i] * hmin / st->h[q];
            double ds;
            int ok = gc_central(st, us, fd, &ds, NULL);
            for (int q = 0; q < st->nin; q++) /* the steps actually taken */
                for (size_t i = 0; u[q] && i < st->n[q]; i++)
                    u[q][i] = us[q][i] * st->h[q] / hmin;
            if (ok && gc_jvp(st, u, ty)) {
                for (size_t i = 0; i < st->ny; i++)
                    fd[i] /= hmin;
                char what[48];
                if (joint)
                    snprintf(what, sizeof what, "jvp joint dir %d", j);
                else
                    snprintf(what, sizeof what, "jvp wrt x%d dir %d", k, j);
                double scale = joint ? sqrt(jall / nall) : sqrt(st->jf2[k] / (double)st->n[k]);
                gc_expect(st->op, st->shapes, what, gc_relerr_s(ty, fd, st->ny, scale));
                if (joint) { /* ⟨∇s, u⟩ vs the difference of s */
                    double ad = 0, gn = 0;
                    for (int q = 0; q < st->nin; q++)
                        if (u[q])
                            for (size_t i = 0; i < st->n[q]; i++) {
                                ad += g[q][i] * u[q][i];
                                gn += g[q][i] * g[q][i];
                            }
                    double e = fabs(ad - ds / hmin) /
                               fmax(fmax(sqrt(gn), sqrt(jall / (double)st->ny) * st->anorm), 1e-300);
                    snprintf(what, sizeof what, "grad joint dir %d", j);
                    gc_expect(st->op, st->shapes, what, isfinite(e) ? e : INFINITY);
                }
            }
            for (int q = 0; q < st->nin; q++)
                free(u[q]);
        }
    }
    free(ty);
}

/* (4) cross term ∂/∂x_q ⟨∇_{x_p} s, v⟩ and Hvp with lambda present, for the
 * first two differentiable inputs p < q, both modes. */
/* The first two differentiable inputs (−1 where there is none). */
static inline void gc_first_two(const gc_state *st, int *p, int *q)
{
    *p = *q = -1;
    for (int k = 0; k < st->nin; k++)
        if (!st->in[k].konst) {
            if (*p < 0)
                *p = k;
            else if (*q < 0)
                *q = k;
        }
}

/* H·v alone and cross alone (the other output NULL, so the sweep may skip
 * what only it needs) against both together: bitwise. */
static inline void gc_check_one_output(gc_state *st, int p, int q, ad_hvp_mode mode,
                                       const double *v, const double *hv, const double *cr)
{
    size_t np = st->n[p], nq = st->n[q];
    double *hv1 = malloc((np + nq) * sizeof(double)), *cr1 = hv1 + np;
    for (int which = 0; which < 2; which++) {
        ad_mark m = ad_tape_mark(st->t);
        ad_var xv[GC_MAXIN], yv, sv;
        if (gc_record_point(st, xv, &yv, &sv)) {
            ad_status s = ad_hvp_cross(st->t, sv, xv[p], xv[q], v, which ? NULL : hv1,
                                       which ? cr1 : NULL, mode);
            EXPECT(s == AD_OK, "%s [%s] %s alone: %s", st->op, st->shapes,
                   which ? "cross" : "hvp", ad_tape_message(st->t));
            if (s == AD_OK && which)
                EXPECT(memcmp(cr1, cr, nq * sizeof(double)) == 0,
                       "%s [%s] cross alone (mode %d) differs from cross with H.v", st->op,
                       st->shapes, (int)mode);
            else if (s == AD_OK)
                EXPECT(memcmp(hv1, hv, np * sizeof(double)) == 0,
                       "%s [%s] H.v alone (mode %d) differs from H.v with cross", st->op,
                       st->shapes, (int)mode);
        }
        ad_tape_rewind(st->t, m);
    }
    free(hv1);
}

static inline void gc_check_cross(gc_state *st)
{
    static const ad_hvp_mode modes[2] = {AD_HVP_FOR, AD_HVP_ROR};
    static const char *const mname[2] = {"for", "ror"};
    int p, q;
    gc_first_two(st, &p, &q);
    if (q < 0)
        return;
    size_t np = st->n[p], nq = st->n[q];
    double *v = malloc((3 * np + 2 * nq) * sizeof(double)), *hv = v + np, *fdp = hv + np,
           *cr = fdp + np, *fdq = cr + nq;
    gc_unit(v, np);
    double *d[GC_MAXIN] = {NULL, NULL, NULL}, *dg[GC_MAXIN] = {NULL, NULL, NULL};
    d[p] = v;
    dg[p] = fdp;
    dg[q] = fdq;
    if (gc_central(st, d, NULL, NULL, dg)) {
        for (size_t i = 0; i < np; i++)
            fdp[i] /= st->h[p];
        for (size_t i = 0; i < nq; i++)
            fdq[i] /= st->h[p];
        for (int mo = 0; mo < 2; mo++) {
            ad_mark m = ad_tape_mark(st->t);
            ad_var xv[GC_MAXIN], yv, sv;
            if (gc_record_point(st, xv, &yv, &sv)) {
                ad_status s = ad_hvp_cross(st->t, sv, xv[p], xv[q], v, hv, cr, modes[mo]);
                char what[64];
                if (s != AD_OK) {
                    EXPECT(0, "%s [%s] cross-%s: %s", st->op, st->shapes, mname[mo],
                           ad_tape_message(st->t));
                } else {
                    snprintf(what, sizeof what, "cross-%s d/dx%d <grad_x%d, v>", mname[mo], q, p);
                    gc_expect(st->op, st->shapes, what,
                              gc_relerr_s(cr, fdq, nq, sqrt(st->hf2[q][p] / (double)np)));
                    snprintf(what, sizeof what, "hvp-%s wrt x%d with lambda x%d", mname[mo], p, q);
                    gc_expect(st->op, st->shapes, what,
                              gc_relerr_s(hv, fdp, np, sqrt(st->hf2[p][p] / (double)np)));
                    gc_check_one_output(st, p, q, modes[mo], v, hv, cr);
                }
            }
            ad_tape_rewind(st->t, m);
        }
    }
    free(v);
}

/* (5) The reverse sweep's three paths at the point: the numeric sweep (the
 * kernels, g from gc_eval), the numeric sweep with every op's recorded rule
 * as fallback (vjp_off), and the recorded sweep (AD_CREATE_GRAPH). They
 * must agree to GC_PATH_TOL·‖g‖∞ (matmul's accumulation order may differ;
 * the rest is bitwise). A numeric ad_grad appends exactly its nw gradient
 * constants and ad_grad_values no node at all (counted by t->pushed, which
 * a rewind does not undo), unless vjp_off. */
#define GC_PATH_TOL 1e-14

static inline void gc_path_cmp(gc_state *st, const char *what, int k, const double *a,
                               const double *b)
{
    double d = 0, s = 0;
    for (size_t q = 0; q < st->n[k]; q++) {
        d = fmax(d, fabs(a[q] - b[q]));
        s = fmax(s, fabs(b[q]));
        gc_path_same += memcmp(&a[q], &b[q], sizeof(double)) == 0 || a[q] == b[q];
        gc_path_all++;
    }
    double e = s > 0 ? d / s : d;
    if (!isfinite(e))
        e = INFINITY;
    EXPECT(e <= GC_PATH_TOL, "%s [%s] %s wrt x%d: differs from the numeric sweep by %.3g (tol %.0e)",
           st->op, st->shapes, what, k, e, GC_PATH_TOL);
    if (e > gc_path_worst)
        gc_path_worst = e;
}

static inline void gc_check_paths(gc_state *st, double *const g[])
{
    ad_tape *t = st->t;
    ad_mark m = ad_tape_mark(t);
    ad_var xv[GC_MAXIN], yv, sv, wrt[GC_MAXIN], gr[GC_MAXIN];
    int kk[GC_MAXIN], nw = 0;
    double *buf[GC_MAXIN] = {NULL, NULL, NULL};
    if (!gc_record_point(st, xv, &yv, &sv))
        return;
    for (int k = 0; k < st->nin; k++)
        if (!st->in[k].konst) {
            kk[nw] = k;
            buf[nw] = malloc(st->n[k] * sizeof(double));
            wrt[nw++] = xv[k];
        }
    uint64_t p0 = t->pushed;
    ad_status s = ad_grad(t, sv, nw, wrt, gr, 0);
    EXPECT(s == AD_OK && t->pushed == p0 + (uint64_t)nw,
           "%s [%s]: numeric ad_grad appended %llu nodes for %d gradients (%s)", st->op,
           st->shapes, (unsigned long long)(t->pushed - p0), nw, ad_tape_message(t));
    for (int j = 0; s == AD_OK && j < nw; j++)
        gc_path_cmp(st, "numeric ad_grad", kk[j], ad_value(t, gr[j]), g[kk[j]]);
    p0 = t->pushed;
    s = ad_grad_values(t, sv, nw, wrt, buf);
    EXPECT(s == AD_OK && t->pushed == p0, "%s [%s]: ad_grad_values appended %llu nodes (%s)",
           st->op, st->shapes, (unsigned long long)(t->pushed - p0), ad_tape_message(t));
    t->vjp_off = 1;
    s = ad_grad_values(t, sv, nw, wrt, buf);
    t->vjp_off = 0;
    EXPECT(s == AD_OK, "%s [%s]: fallback sweep failed: %s", st->op, st->shapes, ad_tape_message(t));
    for (int j = 0; s == AD_OK && j < nw; j++)
        gc_path_cmp(st, "recorded rules in the numeric sweep", kk[j], buf[j], g[kk[j]]);
    s = ad_grad(t, sv, nw, wrt, gr, AD_CREATE_GRAPH);
    EXPECT(s == AD_OK, "%s [%s]: AD_CREATE_GRAPH grad failed: %s", st->op, st->shapes,
           ad_tape_message(t));
    for (int j = 0; s == AD_OK && j < nw; j++)
        gc_path_cmp(st, "AD_CREATE_GRAPH", kk[j], ad_value(t, gr[j]), g[kk[j]]);
    for (int j = 0; j < nw; j++)
        free(buf[j]);
    ad_tape_rewind(t, m);
}

/* (6) Lazy values: forward-over-reverse H·v and cross with the gradient's
 * values deferred (the default) against the same with nothing deferred
 * (t->lazy_off): the same bits, and the deferred ∇ values, once read,
 * equal the eagerly computed ones bit for bit. Counts how many values were
 * deferred and how many of those a read later had to compute. */
static long gc_lazy_deferred, gc_lazy_forced, gc_lazy_cases;

static inline int gc_lazy_run(gc_state *st, int p, int q, const double *v, double *hv, double *cr,
                              double *gv)
{
    ad_tape *t = st->t;
    ad_mark m = ad_tape_mark(t);
    ad_var xv[GC_MAXIN], yv, sv;
    ad_hvp_plan plan;
    int ok = gc_record_point(st, xv, &yv, &sv) &&
             ad_hvp_prepare(t, sv, xv[p], q >= 0 ? xv[q] : AD_NONE, AD_HVP_FOR, &plan) == AD_OK &&
             ad_hvp_apply(t, &plan, v, hv, q >= 0 ? cr : NULL) == AD_OK;
    if (ok)
        memcpy(gv, ad_value(t, plan.g_theta), st->n[p] * sizeof(double));
    EXPECT(ok, "%s [%s] lazy check (lazy_off %d): %s", st->op, st->shapes, t->lazy_off,
           ad_tape_message(t));
    ad_tape_rewind(t, m);
    return ok;
}

/* The gradient of s recorded with ad_tape_set_lazy (the numeric sweep
 * computing only what its kernels read) against g from gc_eval, and the
 * output's value, once read, against an eager recording: bitwise. */
static inline void gc_check_lazy_grad(gc_state *st, double *const g[])
{
    ad_tape *t = st->t;
    ad_mark m = ad_tape_mark(t);
    ad_var xv[GC_MAXIN], yv, sv, wrt[GC_MAXIN];
    double *buf[GC_MAXIN] = {NULL, NULL, NULL}, *y0 = malloc(st->ny * sizeof(double));
    int kk[GC_MAXIN], nw = 0, ok = gc_record_point(st, xv, &yv, &sv);
    if (ok)
        memcpy(y0, ad_value(t, yv), st->ny * sizeof(double));
    ad_tape_rewind(t, m);
    ad_tape_set_lazy(t, 1);
    ok = ok && gc_record_point(st, xv, &yv, &sv);
    ad_tape_set_lazy(t, 0);
    for (int k = 0; ok && k < st->nin; k++)
        if (!st->in[k].konst) {
            kk[nw] = k;
            buf[nw] = malloc(st->n[k] * sizeof(double));
            wrt[nw++] = xv[k];
        }
    ok = ok && ad_grad_values(t, sv, nw, wrt, buf) == AD_OK;
    EXPECT(ok, "%s [%s]: lazy recording + gradient failed: %s", st->op, st->shapes,
           ad_tape_message(t));
    for (int j = 0; ok && j < nw; j++)
        EXPECT(memcmp(buf[j], g[kk[j]], st->n[kk[j]] * sizeof(double)) == 0,
               "%s [%s]: gradient wrt x%d of a lazy recording differs from eager", st->op,
               st->shapes, kk[j]);
    EXPECT(!ok || memcmp(ad_value(t, yv), y0, st->ny * sizeof(double)) == 0,
           "%s [%s]: deferred output value, once read, differs from eager", st->op, st->shapes);
    for (int j = 0; j < nw; j++)
        free(buf[j]);
    free(y0);
    ad_tape_rewind(t, m);
}

static inline void gc_check_lazy(gc_state *st)
{
    int p, q;
    gc_first_two(st, &p, &q);
    if (p < 0)
        return;
    size_t np = st->n[p], nq = q >= 0 ? st->n[q] : 1;
    double *v = malloc((5 * np + 2 * nq) * sizeof(double)), *hv = v + np, *hv0 = hv + np,
           *gv = hv0 + np, *gv0 = gv + np, *cr = gv0 + np, *cr0 = cr + nq;
    gc_unit(v, np);
    uint64_t d0 = st->t->deferred, f0 = st->t->forced;
    int ok = gc_lazy_run(st, p, q, v, hv, cr, gv);
    uint64_t d1 = st->t->deferred, f1 = st->t->forced;
    st->t->lazy_off = 1;
    ok = ok && gc_lazy_run(st, p, q, v, hv0, cr0, gv0);
    st->t->lazy_off = 0;
    EXPECT(st->t->deferred == d1, "%s [%s]: lazy_off still deferred values", st->op, st->shapes);
    if (ok) {
        EXPECT(memcmp(hv, hv0, np * sizeof(double)) == 0, "%s [%s]: lazy H.v differs from eager",
               st->op, st->shapes);
        EXPECT(q < 0 || memcmp(cr, cr0, nq * sizeof(double)) == 0,
               "%s [%s]: lazy cross differs from eager", st->op, st->shapes);
        EXPECT(memcmp(gv, gv0, np * sizeof(double)) == 0,
               "%s [%s]: deferred gradient value, once read, differs from eager", st->op,
               st->shapes);
        gc_lazy_deferred += (long)(d1 - d0);
        gc_lazy_forced += (long)(f1 - f0);
        gc_lazy_cases++;
    }
    free(v);
}

/* ------------------------------------------------------------------ run */

/* Checks one op on one set of input shapes (see the header comment). */
static inline void gc_run(const char *op, gc_opfn fn, const void *ctx, int nin, const gc_input *in)
{
    gc_state st = {.op = op, .nin = nin, .in = in, .fn = fn, .ctx = ctx};
    int len = 0;
    for (int k = 0; k < nin; k++)
        len += snprintf(st.shapes + len, sizeof st.shapes - (size_t)len, "%s%dx%d%s",
                        k ? ", " : "", in[k].r, in[k].c, in[k].konst ? " const" : "");
    st.t = ad_tape_new(NULL);
    ad_mark m0 = ad_tape_mark(st.t);
    for (int k = 0; k < nin; k++) {
        st.n[k] = (size_t)in[k].r * in[k].c;
        st.x[k] = malloc(st.n[k] * sizeof(double));
        double mx = 1.0;
        for (size_t q = 0; q < st.n[k]; q++) {
            double v = in[k].data ? in[k].data[q] : t_uniform(&gc_rng, in[k].lo, in[k].hi);
            if (!in[k].data && in[k].sign && (t_next(&gc_rng) & 1))
                v = -v;
            st.x[k][q] = v;
            mx = fmax(mx, fabs(v));
        }
        st.h[k] = GC_H * mx;
    }
    /* the output's shape, then the coefficients of s */
    ad_var xv[GC_MAXIN], yv;
    if (gc_record(&st, st.x, xv, &yv, NULL)) {
        st.ry = ad_rows(st.t, yv);
        st.cy = ad_cols(st.t, yv);
        st.ny = (size_t)st.ry * st.cy;
        st.w = malloc(2 * st.ny * sizeof(double));
        st.c = st.w + st.ny;
        const double *y0 = ad_value(st.t, yv);
        for (size_t q = 0; q < st.ny; q++) {
            st.w[q] = t_uniform(&gc_rng, -1.0, 1.0);
            st.c[q] = t_uniform(&gc_rng, -1.0, 1.0);
            st.anorm += (st.w[q] + st.c[q] * y0[q]) * (st.w[q] + st.c[q] * y0[q]);
        }
        st.anorm = sqrt(st.anorm);
        ad_tape_rewind(st.t, m0);
        double *g[GC_MAXIN] = {NULL, NULL, NULL};
        for (int k = 0; k < nin; k++)
            g[k] = malloc(st.n[k] * sizeof(double));
        if (gc_eval(&st, st.x, NULL, NULL, g)) {
            gc_check_grad(&st, g);
            gc_check_hvp(&st);
            gc_check_jvp(&st, g);
            gc_check_cross(&st);
            gc_check_paths(&st, g);
            gc_check_lazy(&st);
            gc_check_lazy_grad(&st, g);
        }
        for (int k = 0; k < nin; k++)
            free(g[k]);
        free(st.w);
    }
    for (int k = 0; k < nin; k++)
        free(st.x[k]);
    ad_tape_free(st.t);
}

/* Prints the summary line of a gradcheck program and returns its exit code. */
static inline int gc_done(const char *prog)
{
    for (int op = 0; op < AD_OP_COUNT; op++) /* every differentiable op has a numeric kernel */
        EXPECT(!ad__def(op)->bwd || ad__def(op)->vjp, "op '%s' has no numeric vjp kernel",
               ad__opname(op));
    printf("%s: largest error of a passing check %.3g (tol %.0e)\n", prog, gc_worst, GC_TOL);
    printf("%s: numeric vs recorded reverse sweep: %ld of %ld gradient elements bitwise equal, "
           "largest difference %.3g (tol %.0e)\n",
           prog, gc_path_same, gc_path_all, gc_path_worst, GC_PATH_TOL);
    printf("%s: lazy H.v = eager bitwise in %ld cases; %ld gradient values deferred, %ld of them "
           "computed later (tangent reads and ad_value)\n",
           prog, gc_lazy_cases, gc_lazy_deferred, gc_lazy_forced);
    return t_done();
}

#endif
