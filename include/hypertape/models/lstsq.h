/*
 * hypertape/models/lstsq.h — the least-squares bilevel test problem of Li, Gu & Huang
 * (2022), README, Notation (prefix lsq_). Here θ = x (p), λ = w (m):
 *
 *   G(x, w) = ‖C w + D x − e‖²,   F(x, w) = ‖A x − b‖²,
 *   x*(w) = D⁺(e − C w),          h(w) = ‖A x*(w) − b‖²,
 *   ∇h(w) = 2 (A D⁺ C)ᵀ (b − A x*(w))   (dx*(w)/dw = −D⁺C).
 *
 * Sizes: C nrow×m, D nrow×p (full column rank), e nrow; A na×p, b na.
 * Samples: the nrow rows of (C, D, e) for G, the na rows of (A, b) for F;
 * a minibatch B gives the unbiased (nrow/nb)·Σ_{i∈B} r_i² (resp. (na/nb)·).
 * The paper's instance: nrow = na = 1000, p = m = 10, w = 1 (lsq_generate).
 */
#ifndef HYPERTAPE_MODELS_LSTSQ_H
#define HYPERTAPE_MODELS_LSTSQ_H

#include <hypertape/bilevel.h>
#include <hypertape/models/dense.h>

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Opaque model (owns copies of its matrices). */
typedef struct lsq_model lsq_model;

/** Read-only view of the model's data (row-major, owned by the model). */
typedef struct lsq_view {
    int nrow, p, m, na;
    const double *A, *b, *C, *D, *e;
} lsq_view;

/** Creates the model from copies of A (na×p), b (na), C (nrow×m), D
 *  (nrow×p), e (nrow). D must have full column rank (nrow ≥ p): its
 *  singular values are computed here (Jacobi on DᵀD) for the constants and
 *  DᵀD is factored for x*. BL_EINVAL (bad sizes, NULL arrays),
 *  BL_ENONFINITE, BL_ENONCONVEX (D rank-deficient), BL_ENOMEM. */
bl_status lsq_model_new(int nrow, int p, int m, int na, const double *A, const double *b,
                        const double *C, const double *D, const double *e, lsq_model **out,
                        char *msg, size_t msglen);

/** The paper's random instance, deterministic in seed: A, C, D (nrow×p,
 *  nrow×m, nrow×p; na = nrow) with U[0,1) entries, b = A x₀ + 0.01 ε,
 *  e = C w₀ + D x₀ + 0.01 ε' with x₀ ~ N(0, I_p), w₀ ~ N(0, I_m), ε, ε' ~
 *  N(0, I). Use nrow = 1000, p = m = 10 for the published sizes. */
bl_status lsq_generate(uint64_t seed, int nrow, int p, int m, lsq_model **out, char *msg,
                       size_t msglen);

/** Frees the model; lsq_model_free(NULL) is a no-op. */
void lsq_model_free(lsq_model *m);

/** The model's data. */
lsq_view lsq_data(const lsq_model *m);

/** The bilevel problem ("lstsq", p, m, n_inner = nrow, n_outer = na). */
bl_problem lsq_problem(lsq_model *m);

/** The default outer point w = 1 (fills m values). */
void lsq_default_lambda(const lsq_model *m, double *w);

/** Certified constants (independent of w): μ = 2σ_min(D)², L = 2σ_max(D)²,
 *  L_f = 2σ_max(A)², L_B = L_H = L_Fλ = 0 — G and F are quadratics with
 *  H = 2DᵀD, ∇²F = 2AᵀA and B = 2DᵀC constant. Eigenvalues by LAPACK dsyev,
 *  widened by md_eig_margin. */
bl_status lsq_constants(const lsq_model *m, const double *lambda, bl_constants *out);

/** ‖B‖ = 2‖DᵀC‖₂ (constant; dsyev on the smaller Gram of DᵀC, widened by md_eig_margin of m). */
double lsq_cross_norm(const lsq_model *m, const double *x, const double *w);

/** x*(w) = D⁺(e − C w) (normal equations with the stored Cholesky factor). */
bl_status lsq_solve(const lsq_model *m, const double *w, double *x, char *msg, size_t msglen);

/** h(w) = ‖A x*(w) − b‖² (value may be NULL) and the exact hypergradient
 *  ∇h(w) = 2(A D⁺ C)ᵀ(b − A x*(w)) (m; grad may be NULL); x (p) may be
 *  NULL or receives x*(w). */
bl_status lsq_hypergrad(const lsq_model *m, const double *w, double *value, double *grad,
                        double *x, char *msg, size_t msglen);

/** Reference G on a batch of the nrow rows: value, ∇_xG = 2·s·Dᵀr,
 *  ∇_wG = 2·s·Cᵀr (r = Cw + Dx − e on the batch, s = nrow/nb). */
bl_status lsq_ref_G(const lsq_model *m, const double *x, const double *w, const int *batch,
                    int nbatch, double *value, double *g_x, double *g_w, char *msg, size_t msglen);

/** Reference F on a batch of the na rows: ∇_xF = 2·s·Aᵀ(Ax − b), ∇_wF = 0. */
bl_status lsq_ref_F(const lsq_model *m, const double *x, const double *w, const int *batch,
                    int nbatch, double *value, double *g_x, double *g_w, char *msg, size_t msglen);

/** Reference H·v = 2s·D_BᵀD_B v and cross(v) = 2s·C_BᵀD_B v. */
bl_status lsq_ref_hvp(const lsq_model *m, const double *x, const double *w, const int *batch,
                      int nbatch, const double *v, double *hv, double *cross, char *msg,
                      size_t msglen);

/** The reference functions behind the shared interface. */
md_reference lsq_reference(const lsq_model *m);

#ifdef __cplusplus
}
#endif
#endif
