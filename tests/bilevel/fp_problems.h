/*
 * tests/bilevel/fp_problems.h — fixed-point test problems for the fp_*
 * tests, and the dense reference code the tests compare against (written
 * here, independent of the library's solvers).
 *   linear:    f(θ) = Aθ + Cλ + c0,  L = ½‖θ − y‖² + ½a‖λ‖²
 *   nonlinear: f(θ) = tanh(Aθ + Cλ + c0), same L
 * A is scaled to Frobenius norm rho (≥ its spectral norm), so f is a
 * contraction of constant rho in both problems (tanh is 1-Lipschitz).
 */
#ifndef HYPERTAPE_TESTS_FP_PROBLEMS_H
#define HYPERTAPE_TESTS_FP_PROBLEMS_H

#include <hypertape/fixedpoint.h>
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

typedef struct fp_test {
    int p, m, nonlinear;
    double *A, *C, *c0, *y, a; /* A p×p, C p×m, c0 p, y p */
    bl_fp_problem pb;
} fp_test;

static inline ad_var fpt_f(ad_tape *t, ad_var th, ad_var la, void *ctx)
{
    fp_test *P = ctx;
    ad_var A = ad_const_ref(t, P->p, P->p, P->A), C = ad_const_ref(t, P->p, P->m, P->C);
    ad_var z = ad_add(t, ad_add(t, ad_matvec(t, A, th, 0), ad_matvec(t, C, la, 0)),
                      ad_const_ref(t, P->p, 1, P->c0));
    return P->nonlinear ? ad_tanh(t, z) : z;
}

static inline ad_var fpt_L(ad_tape *t, ad_var th, ad_var la, void *ctx)
{
    fp_test *P = ctx;
    ad_var d = ad_sub(t, th, ad_const_ref(t, P->p, 1, P->y));
    return ad_add(t, ad_scale(t, ad_dot(t, d, d), 0.5), ad_scale(t, ad_dot(t, la, la), 0.5 * P->a));
}

static inline void fpt_init(fp_test *P, int p, int m, int nonlinear, double rho, uint64_t seed)
{
    t_rng r = {seed};
    P->p = p;
    P->m = m;
    P->nonlinear = nonlinear;
    P->a = 0.1;
    P->A = malloc(sizeof(double) * p * p);
    P->C = malloc(sizeof(double) * p * m);
    P->c0 = malloc(sizeof(double) * p);
    P->y = malloc(sizeof(double) * p);
    double fro = 0;
    for (int i = 0; i < p * p; i++) {
        P->A[i] = t_normal(&r);
        fro += P->A[i] * P->A[i];
    }
    for (int i = 0; i < p * p; i++)
        P->A[i] *= rho / sqrt(fro);
    for (int i = 0; i < p * m; i++)
        P->C[i] = t_normal(&r) / sqrt((double)m);
    for (int i = 0; i < p; i++) {
        P->c0[i] = 0.5 * t_normal(&r);
        P->y[i] = t_normal(&r);
    }
    P->pb = (bl_fp_problem){nonlinear ? "fp-tanh" : "fp-linear", p, m, fpt_f, fpt_L, rho, P};
}

static inline void fpt_free(fp_test *P)
{
    free(P->A);
    free(P->C);
    free(P->c0);
    free(P->y);
}

/* Reference dense solve M x = b (n×n, copied) by Gauss-Jordan with full
 * row pivoting, written here independently of the library. */
static inline void ref_solve(int n, const double *M0, const double *b, double *x)
{
    double *M = malloc(sizeof(double) * n * (n + 1));
    for (int i = 0; i < n; i++) {
        memcpy(M + i * (n + 1), M0 + i * n, sizeof(double) * n);
        M[i * (n + 1) + n] = b[i];
    }
    for (int k = 0; k < n; k++) {
        int pv = k;
        for (int i = k + 1; i < n; i++)
            if (fabs(M[i * (n + 1) + k]) > fabs(M[pv * (n + 1) + k]))
                pv = i;
        for (int j = 0; j <= n; j++) {
            double t = M[k * (n + 1) + j];
            M[k * (n + 1) + j] = M[pv * (n + 1) + j];
            M[pv * (n + 1) + j] = t;
        }
        for (int i = 0; i < n; i++) {
            if (i == k)
                continue;
            double l = M[i * (n + 1) + k] / M[k * (n + 1) + k];
            for (int j = k; j <= n; j++)
                M[i * (n + 1) + j] -= l * M[k * (n + 1) + j];
        }
    }
    for (int i = 0; i < n; i++)
        x[i] = M[i * (n + 1) + n] / M[i * (n + 1) + i];
    free(M);
}

/* f(θ) in plain C (independent of ad). */
static inline void ref_f(const fp_test *P, const double *th, const double *la, double *out)
{
    for (int i = 0; i < P->p; i++) {
        double z = P->c0[i];
        for (int j = 0; j < P->p; j++)
            z += P->A[i * P->p + j] * th[j];
        for (int j = 0; j < P->m; j++)
            z += P->C[i * P->m + j] * la[j];
        out[i] = P->nonlinear ? tanh(z) : z;
    }
}

/* Closed form of the linear problem: θ* = (I − A)⁻¹(Cλ + c0),
 * ∇h = Cᵀ(I − A)⁻ᵀ(θ* − y) + aλ; u* = (I − A)⁻ᵀ(θ* − y) too. */
static inline void ref_linear_truth(const fp_test *P, const double *la, double *theta, double *u,
                             double *hg)
{
    int p = P->p, m = P->m;
    double *M = calloc((size_t)p * p, sizeof(double)), *rhs = calloc((size_t)p, sizeof(double));
    for (int i = 0; i < p; i++) {
        rhs[i] = P->c0[i];
        for (int j = 0; j < m; j++)
            rhs[i] += P->C[i * m + j] * la[j];
        for (int j = 0; j < p; j++)
            M[i * p + j] = (i == j) - P->A[i * p + j];
    }
    ref_solve(p, M, rhs, theta);
    for (int i = 0; i < p; i++) {
        rhs[i] = theta[i] - P->y[i];
        for (int j = 0; j < p; j++)
            M[i * p + j] = (i == j) - P->A[j * p + i];
    }
    ref_solve(p, M, rhs, u);
    for (int k = 0; k < m; k++) {
        hg[k] = P->a * la[k];
        for (int i = 0; i < p; i++)
            hg[k] += P->C[i * m + k] * u[i];
    }
    free(M);
    free(rhs);
}

#endif
