/*
 * hypertape/models/dense.h — what the standard models (lr_, hc_, lsq_, rdg_, dn_)
 * share. Prefix md_.
 *
 *   - small dense linear algebra on row-major n×n matrices: Cholesky and a
 *     cyclic Jacobi symmetric eigensolver (for the exact solves, the
 *     certified constants and the tests; LAPACK is reserved for `exact`);
 *   - products of a data matrix (a ds_set, dense or CSR) restricted to a
 *     minibatch of rows, both in plain C (references) and on an ad tape;
 *   - a certified upper bound of ‖X‖₂² that costs one pass over the data;
 *   - the hand-written reference oracles of a model behind one interface
 *     (md_reference), so that tests and estimators can treat models alike;
 *   - a seeded splitmix64 generator for the models' synthetic generators;
 *   - validation of ds_sets (structure, finiteness, labels).
 *
 * Size glossary: n samples (rows of a data matrix), d features, nb rows in
 * a minibatch (batch == NULL: all n rows, in order), k columns of the
 * right-hand side of a product.
 *
 * Every function that can fail returns a bl_status and, when msg != NULL
 * and msglen > 0, writes a NUL-terminated message there (emptied on
 * success). Nothing here prints, exits or keeps global state.
 */
#ifndef HYPERTAPE_MODELS_DENSE_H
#define HYPERTAPE_MODELS_DENSE_H

#include <hypertape/ad.h>
#include <hypertape/bilevel.h>
#include <hypertape/models/data.h>

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------ messages */

/** Writes a printf-style message into msg (when msg != NULL and msglen >
 *  0; truncated, NUL-terminated) and returns st. */
bl_status md_fail(char *msg, size_t msglen, bl_status st, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

/** Empties msg (when msg != NULL and msglen > 0) and returns BL_OK. */
bl_status md_ok(char *msg, size_t msglen);

/* ---------------------------------------------------------- randomness */

/** splitmix64 state (Steele, Lea & Flood 2014). Seed it with any value. */
typedef struct md_rng {
    uint64_t s;
} md_rng;

/** Next 64 random bits. */
uint64_t md_rng_next(md_rng *r);
/** Uniform on the open interval (0, 1), 53 random bits. */
double md_rng_uniform(md_rng *r);
/** Uniform integer in [0, m), m ≥ 1 (multiply-shift; bias below 2^-32). */
int md_rng_below(md_rng *r, int m);
/** Standard normal (Box–Muller, one value per call). */
double md_rng_normal(md_rng *r);

/* ---------------------------------------------- small dense linear algebra */

/** In-place Cholesky A = L·Lᵀ of a symmetric positive definite n×n
 *  row-major A; on success the lower triangle holds L (the strict upper
 *  triangle is left as it was). BL_ENONCONVEX when a pivot is not positive
 *  (the message gives its index and value), BL_ENONFINITE on NaN/Inf. */
bl_status md_cholesky(int n, double *A, char *msg, size_t msglen);

/** Solves L·Lᵀ x = b in place (b ← x) with L from md_cholesky. */
void md_cholesky_solve(int n, const double *L, double *b);

/** Eigen-decomposition of a symmetric n×n row-major A (only its values are
 *  read; A is not modified) by cyclic Jacobi rotations: w (n) receives the
 *  eigenvalues in increasing order and, when V != NULL, the columns of V
 *  (n×n row-major) the matching orthonormal eigenvectors. Accurate to a
 *  few units of rounding times ‖A‖ (see md_eig_margin). BL_ENONFINITE on
 *  NaN/Inf in A, BL_ENOMEM when scratch cannot be allocated, BL_EINVAL if
 *  the rotations do not converge within 100 sweeps (never seen). */
bl_status md_sym_eig(int n, const double *A, double *w, double *V, char *msg, size_t msglen);

/** Safety margin to turn md_sym_eig's computed extreme eigenvalues into
 *  certified bounds: 32·n·ε·max|w|, above the backward error of Jacobi. */
double md_eig_margin(int n, const double *w);

/* ------------------------------------------------------- data matrices */

/** Validates a data set for a model: non-NULL, n, d ≥ 1, y and either X or
 *  the three CSR arrays present; rowptr[0] = 0 and non-decreasing, column
 *  indices in [0, d); every stored value and every y finite. With
 *  need_cls, cls must be present with every label in [0, nclass) and
 *  nclass ≥ 2; with need_pm1, every y must be ±1. `name` names the set in
 *  the message ("train", "val"). BL_EINVAL / BL_ENONFINITE. */
bl_status md_check_set(const ds_set *s, const char *name, int need_pm1, int need_cls, char *msg,
                       size_t msglen);

/** Checks that every batch index is in [0, n) (nb ≥ 1 when batch != NULL);
 *  BL_EINVAL naming `what`, the position and n. batch NULL is valid. */
bl_status md_check_batch(const int *batch, int nb, int n, const char *what, char *msg,
                         size_t msglen);

/** Plain product out (nb×k) = X_B·V with V d×k row-major; X_B the rows
 *  batch[0..nb) of s (batch NULL: all rows, nb = n). Indices are not
 *  checked (see md_check_batch). */
void md_mul(const ds_set *s, const int *batch, int nb, const double *V, int k, double *out);

/** Plain product out (d×k) ← beta·out + X_Bᵀ·Gm with Gm nb×k row-major. */
void md_tmul(const ds_set *s, const int *batch, int nb, const double *Gm, int k, double beta,
             double *out);

/** Records X_B·B on tape t (nb×k) for B a d×k value on t: dense data as an
 *  ad_const_ref (gathered rows for a batch), CSR data through ad_spmm
 *  (full) or gather/multiply/scatter of the batch's stored entries, built
 *  in temporary arrays that the ops copy (if they cannot be allocated: the
 *  batch rows of the full product, O(nnz)). A bad batch index records the
 *  tape error of ad_gather_rows. Returns AD_NONE on a tape error. */
ad_var md_record_mul(ad_tape *t, const ds_set *s, const int *batch, int nb, ad_var B);

/** Certified upper bound of ‖X̃‖₂², X̃ = X or [X, 1] (ones_col nonzero):
 *  the least of the Frobenius bound ‖X̃‖_F², the Schur test ‖X̃‖₁·‖X̃‖_∞
 *  and Collatz–Wielandt bounds max_j (Av)_j/v_j ≥ ρ(A) ≥ ‖X̃‖₂² for A =
 *  |X̃|ᵀ|X̃| along power iterations, stopped within 1e-4 of ρ(A) (which is
 *  ‖X̃‖² for non-negative data). Usually 6 to 12 passes over the data
 *  (at most 42), O(n + d) scratch; returns −1 when that cannot be
 *  allocated. */
double md_opnorm_sq_bound(const ds_set *s, int ones_col);

/** Squared row norms ‖x̃_i‖² of X̃ = X or [X, 1] into out (n). */
void md_row_norms_sq(const ds_set *s, int ones_col, double *out);

/* ------------------------------------------------ reference interface */

/** Reference (hand-written, no ad) value and gradients of G or F at (θ, λ)
 *  on a minibatch (batch NULL = all samples): *value, g_theta (p),
 *  g_lambda (m); any output may be NULL. */
typedef bl_status (*md_ref_fn)(const void *model, const double *theta, const double *lambda,
                               const int *batch, int nbatch, double *value, double *g_theta,
                               double *g_lambda, char *msg, size_t msglen);

/** Reference hv = H·v (p) and cross = ∇²_λθG·v (m) of G at (θ, λ) on a
 *  minibatch; either output may be NULL. */
typedef bl_status (*md_ref_hvp_fn)(const void *model, const double *theta, const double *lambda,
                                   const int *batch, int nbatch, const double *v, double *hv,
                                   double *cross, char *msg, size_t msglen);

/** The hand-written oracles of one model (each model's xx_reference()). */
typedef struct md_reference {
    const void *model; /**< passed as the first argument of the functions */
    md_ref_fn G, F;
    md_ref_hvp_fn hvp;
} md_reference;

/** Defines `md_reference NAME(const MODEL *m)`, which puts a model's typed
 *  reference functions REF_G, REF_F (md_ref_fn's signature with a
 *  `const MODEL *` first argument) and REF_HVP (md_ref_hvp_fn's, likewise)
 *  behind the shared interface. It writes the three trampolines that turn
 *  the interface's `const void *` back into `const MODEL *` (calling the
 *  typed functions through a cast pointer would be undefined behaviour), so
 *  each model states only which functions it has. Use at file scope, once
 *  per NAME; NAME must be declared in the model's header. */
#define MD_DEFINE_REFERENCE(NAME, MODEL, REF_G, REF_F, REF_HVP)                                    \
    static bl_status NAME##__G(const void *m, const double *th, const double *la, const int *b,   \
                               int nb, double *f, double *gt, double *gl, char *msg, size_t len)  \
    {                                                                                              \
        return REF_G((const MODEL *)m, th, la, b, nb, f, gt, gl, msg, len);                        \
    }                                                                                              \
    static bl_status NAME##__F(const void *m, const double *th, const double *la, const int *b,   \
                               int nb, double *f, double *gt, double *gl, char *msg, size_t len)  \
    {                                                                                              \
        return REF_F((const MODEL *)m, th, la, b, nb, f, gt, gl, msg, len);                        \
    }                                                                                              \
    static bl_status NAME##__hvp(const void *m, const double *th, const double *la, const int *b, \
                                 int nb, const double *v, double *hv, double *cr, char *msg,       \
                                 size_t len)                                                       \
    {                                                                                              \
        return REF_HVP((const MODEL *)m, th, la, b, nb, v, hv, cr, msg, len);                      \
    }                                                                                              \
    md_reference NAME(const MODEL *m)                                                              \
    {                                                                                              \
        return (md_reference){m, NAME##__G, NAME##__F, NAME##__hvp};                               \
    }

#ifdef __cplusplus
}
#endif
#endif
