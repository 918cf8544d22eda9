/*
 * bilevel/lanczos.c — estimated constants (README, Notation) for problems
 * without a constants callback: extreme Ritz values of H by Lanczos with
 * full reorthogonalisation, and ‖∇²_θθF‖ by a power iteration on
 * finite differences of ∇_θF. Estimates, never certificates: Ritz values
 * lie inside the spectrum (μ from above, L from below).
 */
#include "bilevel/internal.h"

#include <stdint.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* LAPACK (OpenBLAS ships it): eigenvalues of a symmetric tridiagonal. */
extern void dstev_(const char *jobz, const int *n, double *d, double *e, double *z,
                   const int *ldz, double *work, int *info);

/* Deterministic start vector with no special structure. */
static void start_vector(int p, double *v)
{
    uint64_t s = 0x9E3779B97F4A7C15ULL;
    for (int i = 0; i < p; i++) {
        s ^= s >> 12;
        s ^= s << 25;
        s ^= s >> 27;
        v[i] = 0.5 + (double)((s * 2685821657736338717ULL) >> 11) * (1.0 / 9007199254740992.0);
    }
    double n = bl__nrm2(p, v);
    for (int i = 0; i < p; i++)
        v[i] /= n;
}

/* Extreme Ritz values of H at the oracle's point after up to `iters` steps. */
static bl_status lanczos(bl_oracle *o, int p, int iters, double *lmin, double *lmax)
{
    int n = iters < p ? iters : p;
    double *V = malloc(((size_t)(n + 1) * p + 4 * (size_t)n + p) * sizeof(double));
    if (!V)
        return bl__fail(o, BL_ENOMEM, "estimated constants: out of memory (p = %d)", p);
    double *al = V + (size_t)(n + 1) * p, *be = al + n, *d = be + n, *e = d + n, *w = e + n;
    start_vector(p, V);
    bl_status st = BL_OK;
    int j = 0;
    for (; j < n && st == BL_OK; j++) {
        double *v = V + (size_t)j * p;
        st = bl_oracle_hvp(o, v, w, NULL);
        if (st != BL_OK)
            break;
        al[j] = bl__dot(p, v, w);
        for (int pass = 0; pass < 2; pass++) /* full reorthogonalisation, twice */
            for (int i = 0; i <= j; i++)
                bl__axpy(p, -bl__dot(p, V + (size_t)i * p, w), V + (size_t)i * p, w);
        be[j] = bl__nrm2(p, w);
        if (!(be[j] > 1e-12 * fabs(al[j])) || j + 1 == n) { /* invariant subspace or done */
            j++;
            break;
        }
        for (int i = 0; i < p; i++)
            V[(size_t)(j + 1) * p + i] = w[i] / be[j];
    }
    if (st == BL_OK) {
        int info = 0, one = 1;
        memcpy(d, al, (size_t)j * sizeof(double));
        memcpy(e, be, (size_t)j * sizeof(double));
        dstev_("N", &j, d, e, NULL, &one, NULL, &info);
        if (info != 0)
            st = bl__fail(o, BL_EINVAL, "estimated constants: dstev failed (info %d)", info);
        *lmin = d[0];
        *lmax = d[j - 1];
    }
    free(V);
    return st;
}

/* ‖∇²_θθF(θ)‖ by 8 power steps on forward differences of ∇_θF. */
static bl_status estimate_Lf(bl_oracle *o, int p, const double *theta, const double *lambda,
                             double *Lf)
{
    double *w = malloc(4 * (size_t)p * sizeof(double));
    if (!w)
        return bl__fail(o, BL_ENOMEM, "estimated constants: out of memory (p = %d)", p);
    double *g0 = w, *g1 = w + p, *v = g1 + p, *th = v + p;
    bl_status st = bl_oracle_F(o, NULL, theta, lambda, NULL, g0, NULL);
    double h = 1e-6 * (1.0 + bl__nrm2(p, theta)), est = 0;
    start_vector(p, v);
    for (int it = 0; it < 8 && st == BL_OK; it++) {
        for (int i = 0; i < p; i++)
            th[i] = theta[i] + h * v[i];
        st = bl_oracle_F(o, NULL, th, lambda, NULL, g1, NULL);
        if (st != BL_OK)
            break;
        for (int i = 0; i < p; i++)
            g1[i] = (g1[i] - g0[i]) / h;
        double nn = bl__nrm2(p, g1);
        est = est > nn ? est : nn;
        if (!(nn > 0))
            break;
        for (int i = 0; i < p; i++)
            v[i] = g1[i] / nn;
    }
    *Lf = est;
    free(w);
    return st;
}

bl_status bl__estimate_spectrum(bl_oracle *o, int iters, double *lo, double *hi)
{
    bl_status st = lanczos(o, bl_oracle_problem(o)->p, iters, lo, hi);
    if (st == BL_OK && !(*lo > 0))
        st = bl__fail(o, BL_ENONCONVEX,
                      "estimated constants: smallest Ritz value of H is %g (not positive)", *lo);
    return st;
}

bl_status bl_estimate_constants(bl_oracle *o, const double *theta, const double *lambda,
                                int iters, bl_constants *k)
{
    if (!o || !theta || !lambda || !k || iters <= 0)
        return BL_EINVAL;
    int p = bl_oracle_problem(o)->p;
    memset(k, 0, sizeof *k);
    double Lf = 0, lo = 0, hi = 0;
    bl__oracle_drop_point(o); /* ∇F on an empty tape: no extra peak */
    bl_status st = estimate_Lf(o, p, theta, lambda, &Lf);
    if (st == BL_OK)
        st = bl_oracle_point(o, NULL, theta, lambda);
    if (st == BL_OK)
        st = bl__estimate_spectrum(o, iters, &lo, &hi);
    if (st != BL_OK)
        return st;
    k->mu = lo;
    k->L = hi;
    k->Lf = Lf;
    k->certified = 0;
    return BL_OK;
}
