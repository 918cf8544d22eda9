/*
 * hypertape/models/denoise.h — variational denoising with learned regularisation
 * weights (prefix dn_). P pairs (y_k noisy, c_k clean) of 1-D signals
 * (rows = 1) or 2-D images (rows×cols, row-major), all of one shape;
 * θ = x = (x_1, ..., x_P) concatenated (p = P·rows·cols).
 *
 *   G(x, λ) = Σ_k [½‖x_k − y_k‖² + e^{λ₁} R(x_k)],
 *     DN_TV:       R(x) = Σ_j √((∇x)_j² + e^{λ₂})   (smoothed, anisotropic TV)
 *     DN_TIKHONOV: R(x) = ‖∇x‖²
 *   F(x, λ) = (1/P) Σ_k ½‖x_k − c_k‖²
 *
 * ∇ stacks the forward differences x[i][j+1] − x[i][j] (rows·(cols−1)) and,
 * for images, x[i+1][j] − x[i][j] ((rows−1)·cols); no wrap-around.
 * λ = (λ₁, λ₂) for DN_TV (m = 2) and λ = λ₁ for DN_TIKHONOV (m = 1).
 * Minibatches select pairs: G_B = (P/nb) Σ_{k∈B} G_k (unbiased), F_B the
 * batch mean. The model owns copies of the signals.
 */
#ifndef HYPERTAPE_MODELS_DENOISE_H
#define HYPERTAPE_MODELS_DENOISE_H

#include <hypertape/bilevel.h>
#include <hypertape/models/dense.h>

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** The regulariser. */
typedef enum dn_reg {
    DN_TV = 0,      /**< smoothed total variation, λ = (λ₁, λ₂) */
    DN_TIKHONOV = 1 /**< e^{λ₁}‖∇x‖², λ = λ₁ */
} dn_reg;

/** Opaque model. */
typedef struct dn_model dn_model;

/** Creates the model from P = npairs noisy and clean signals of rows×cols
 *  (each array P·rows·cols, pair-major); rows·cols ≥ 2. BL_EINVAL,
 *  BL_ENONFINITE (naming the array and index), BL_ENOMEM. */
bl_status dn_model_new(dn_reg reg, int npairs, int rows, int cols, const double *noisy,
                       const double *clean, dn_model **out, char *msg, size_t msglen);

/** Frees the model; dn_model_free(NULL) is a no-op. */
void dn_model_free(dn_model *m);

/** Seeded piecewise-constant signals and their noisy copies (arrays of
 *  npairs·rows·cols): 1-D (rows = 1): 2 to 7 constant pieces with random
 *  breakpoints and levels U[0,1); 2-D: a U[0,1) background with 1 to 4
 *  axis-aligned rectangles of U[0,1) levels. noisy = clean + sigma·N(0, 1).
 *  Deterministic in seed. BL_EINVAL for bad sizes or sigma < 0. */
bl_status dn_generate(uint64_t seed, int npairs, int rows, int cols, double sigma, double *clean,
                      double *noisy, char *msg, size_t msglen);

/** The bilevel problem ("denoise-tv" or "denoise-tikhonov", p = P·rows·cols,
 *  m = 2 or 1, n_inner = n_outer = P). */
bl_problem dn_problem(dn_model *m);

/** Certified constants, with ‖∇‖² ≤ N∇ = 4 (one direction) or 8 (images)
 *  and, for TV, ε = e^{λ₂}, φ(t) = √(t² + ε):
 *    TV: μ = 1, L = 1 + e^{λ₁} N∇ ε^{−1/2} (0 ≤ φ'' ≤ ε^{−1/2}),
 *        L_H = √2·e^{λ₁} N∇·(3/2)(4/5)^{5/2} ε^{−1} (|φ'''| ≤ that/ε),
 *        L_B = (√5/2) e^{λ₁} N∇ ε^{−1/2};
 *    Tikhonov: μ = 1, L = 1 + 2e^{λ₁} N∇, L_H = 0, L_B = 2e^{λ₁} N∇;
 *    both: L_f = 1/P, L_Fλ = 0. Derivations in denoise.c. */
bl_status dn_constants(const dn_model *m, const double *lambda, bl_constants *out);

/** Certified ‖B(x, λ)‖ ≤ ‖B‖_F (TV: two columns e^{λ₁}∇ᵀφ'(∇x) and
 *  e^{λ₁}∇ᵀ∂_{λ₂}φ'(∇x); Tikhonov: exactly ‖2e^{λ₁}∇ᵀ∇x‖); −1 when out
 *  of memory. */
double dn_cross_norm(const dn_model *m, const double *x, const double *lambda);

/** Tikhonov only: the exact x*(λ) (p), solving (I + 2e^{λ₁}∇ᵀ∇) x_k = y_k
 *  per pair in the cosine basis that diagonalises ∇ᵀ∇ (DCT-II; O(P·N·(rows
 *  + cols))). BL_EINVAL for a TV model. */
bl_status dn_tikhonov_solve(const dn_model *m, const double *lambda, double *x, char *msg,
                            size_t msglen);

/** Tikhonov only: h(λ) = F(x*(λ)) and the exact ∇h = −cross(H⁻¹∇_xF)
 *  (one value); any output may be NULL; x (p) receives x*(λ). */
bl_status dn_tikhonov_hypergrad(const dn_model *m, const double *lambda, double *value,
                                double *grad, double *x, char *msg, size_t msglen);

/** Reference G on a batch of pairs: value, ∇_xG (p; zero outside the
 *  batch), ∇_λG (m). */
bl_status dn_ref_G(const dn_model *m, const double *x, const double *lambda, const int *batch,
                   int nbatch, double *value, double *g_x, double *g_lambda, char *msg,
                   size_t msglen);

/** Reference F on a batch of pairs; ∇_λF = 0. */
bl_status dn_ref_F(const dn_model *m, const double *x, const double *lambda, const int *batch,
                   int nbatch, double *value, double *g_x, double *g_lambda, char *msg,
                   size_t msglen);

/** Reference H·v and cross(v) of G on a batch of pairs (TV: H v = v +
 *  e^{λ₁}∇ᵀ(φ''(∇x)⊙∇v), cross = e^{λ₁}(⟨φ'(∇x), ∇v⟩, ⟨∂_{λ₂}φ'(∇x), ∇v⟩)). */
bl_status dn_ref_hvp(const dn_model *m, const double *x, const double *lambda, const int *batch,
                     int nbatch, const double *v, double *hv, double *cross, char *msg,
                     size_t msglen);

/** The reference functions behind the shared interface. */
md_reference dn_reference(const dn_model *m);

#ifdef __cplusplus
}
#endif
#endif
