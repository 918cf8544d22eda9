/*
 * bilevel/fp_internal.h — private parts of the fixed-point layer
 * (hypertape/fixedpoint.h): the root solver object and shared helpers.
 * Not installed.
 */
#ifndef HYPERTAPE_BILEVEL_FP_INTERNAL_H
#define HYPERTAPE_BILEVEL_FP_INTERNAL_H

#include <hypertape/fixedpoint.h>
#include "bilevel/internal.h"

/* The root solver object shared by every root algorithm. */
struct bl_root {
    const bl_root_type *type;
    void *state;
    bl_fp_oracle *o;
    int p, m;
    bl_root_opts opts;     /* defaults resolved */
    double *theta, *g, *lambda; /* θ (p), g(θ) (p), λ (m) */
    double gnorm;
    int iters;
    double *traj;          /* θ_0..θ_iters when keep_iterates */
    int traj_cap;
};

/* Records st and its message as the oracle's failure (first one kept) and
 * returns st; BL_OK records nothing. */
bl_status bl__fp_fail(bl_fp_oracle *o, bl_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* calloc of n doubles, with a failure naming what and its size. */
double *bl__fp_alloc(bl_fp_oracle *o, const char *what, size_t n);
/* 1 when all n entries are finite. */
int bl__fp_finite(const double *x, int n);

/* Solves A x = b in place (A n×n row-major, overwritten by its LU factors;
 * b overwritten by x) by Gaussian elimination with partial pivoting
 * (bilevel/fp_dense.c). Returns 0, or 1 when a pivot is ≤ 1e-300 or not
 * finite (singular to working precision). */
int bl__fp_lu_solve(int n, double *A, double *b);
/* The unroll backward (bilevel/fp_unroll.c): reverse sweep through the K
 * damped fixed-point steps stored by s (keep_iterates), from the adjoint
 * b = ∇_θL(θ_K): hg = gl + Σ_k β(∂_λf(θ_k))ᵀa_{k+1}, a_K = b,
 * a_k = (1 − β)a_{k+1} + β(∂_θf(θ_k))ᵀa_{k+1}. work holds 2p + m doubles. */
bl_status bl__fp_unroll(bl_fp_oracle *o, const bl_root *s, const double *b, const double *gl,
                        double *hg, double *work);

#endif
