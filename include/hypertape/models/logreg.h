/*
 * hypertape/models/logreg.h — L2-regularised binary logistic regression as a bilevel
 * problem (prefix lr_). Notation as in README, Notation: λ outer, θ inner.
 *
 *   G(θ, λ) = (1/n) Σ_i softplus(−y_i ⟨x_i, w⟩ [− y_i b]) + ½ Σ_k e^{λ_k} w_k²  [+ ½ r_b b²]
 *   F(θ, λ) = (1/n_val) Σ_j softplus(−y_j ⟨x_j, w⟩ [− y_j b])      (validation set)
 *
 * Sizes: X n×d (train), n_val×d (val), dense or CSR; labels ±1.
 *   θ = w (p = d), or θ = (w, b) (p = d + 1) with an intercept b.
 *   λ: LR_PER_FEATURE m = d (one weight per feature), LR_SCALAR m = 1
 *      (½ e^λ ‖w‖²).
 * The intercept is never penalised through λ. By default it carries the
 * fixed ridge ½ r_b b² (lr_opts.intercept_reg), which keeps G strongly
 * convex in b; with LR_INTERCEPT_FREE it is free (r_b = 0, as in
 * scikit-learn; README, "Logistic regression: sums or means, the
 * intercept, the peers' conventions"): G is then convex but not
 * strongly convex in b uniformly over θ (∂²G/∂b² = (1/n) Σ_i σ'(s_i) → 0
 * as |b| → ∞), so no μ > 0 holds everywhere and lr_constants gives no
 * certified constants (see there).
 *
 * Minibatches: G's data term is the mean over the batch's samples, the
 * regulariser is always whole (so E[G_batch] = G); F is the batch mean.
 *
 * The model keeps pointers to the caller's sets (no copy): they must stay
 * alive and unchanged while the model exists.
 */
#ifndef HYPERTAPE_MODELS_LOGREG_H
#define HYPERTAPE_MODELS_LOGREG_H

#include <hypertape/bilevel.h>
#include <hypertape/models/data.h>
#include <hypertape/models/dense.h>

#ifdef __cplusplus
extern "C" {
#endif

/** How λ regularises w. */
typedef enum lr_reg {
    LR_SCALAR = 0,     /**< m = 1: ½ e^λ ‖w‖² */
    LR_PER_FEATURE = 1 /**< m = d: ½ Σ_k e^{λ_k} w_k² */
} lr_reg;

/** Whether θ has an intercept b, and how b is penalised (lr_opts.intercept). */
typedef enum lr_intercept {
    LR_INTERCEPT_NONE = 0,  /**< θ = w */
    LR_INTERCEPT_RIDGE = 1, /**< θ = (w, b), b carries ½ r_b b² (r_b = intercept_reg) */
    LR_INTERCEPT_FREE = 2   /**< θ = (w, b), b unpenalised (r_b = 0): no certified μ */
} lr_intercept;

/** Options; zero-initialised options (or NULL) are the defaults. */
typedef struct lr_opts {
    lr_reg reg;           /**< LR_SCALAR (default) or LR_PER_FEATURE */
    int intercept;        /**< an lr_intercept: 0 none, 1 ridge, 2 free (b is added to
                               every logit); other values are BL_EINVAL */
    double intercept_reg; /**< r_b > 0 in ½ r_b b² (fixed); 0 = 1e-2; only with
                               LR_INTERCEPT_RIDGE (must be 0 with LR_INTERCEPT_FREE) */
} lr_opts;

/** Opaque model. */
typedef struct lr_model lr_model;

/** Creates the model on train (n×d) and val (n_val×d) sets with labels ±1,
 *  dense or CSR (each may be either). Fails with BL_EINVAL (missing set,
 *  labels not ±1, bad CSR, different widths, bad options — the message
 *  names the set and the sizes; intercept not an lr_intercept, or
 *  LR_INTERCEPT_FREE with intercept_reg ≠ 0), BL_ENONFINITE (NaN/Inf in X or y) or
 *  BL_ENOMEM. On failure *out is NULL. */
bl_status lr_model_new(const ds_set *train, const ds_set *val, const lr_opts *opts, lr_model **out,
                       char *msg, size_t msglen);

/** Frees the model (not the sets); lr_model_free(NULL) is a no-op. */
void lr_model_free(lr_model *m);

/** The bilevel problem (name "logreg", p, m, G, F, constants, n_inner =
 *  n, n_outer = n_val, and a hand-written per-sample hook: row i is the
 *  batch-of-one quantity, the sample's loss term plus the whole
 *  regulariser, so the mean of the rows over a batch is the batch
 *  quantity); valid while the model exists. */
bl_problem lr_problem(lr_model *m);

/** Certified constants at λ (m values), README, Notation. With σ'' ≤ 1/(6√3),
 *  X̃ = X or [X, 1], ‖X̃‖² bounded by md_opnorm_sq_bound:
 *    μ = min(min_k e^{λ_k}, r_b), L = ‖X̃‖²/(4n) + max(max_k e^{λ_k}, r_b),
 *    L_f = ‖X̃_val‖²/(4 n_val), L_H = max_i ‖x̃_i‖·‖X̃‖²/(6√3 n),
 *    L_B = max_k e^{λ_k}, L_Fλ = 0 (r_b terms only with an intercept).
 *  The derivations are in logreg.c. Returns BL_OK with certified = 1, or,
 *  with a free intercept (LR_INTERCEPT_FREE), BL_EINVAL: no μ > 0
 *  holds for every θ. *out then still receives L, L_f, L_H, L_B, L_Fλ
 *  above with r_b = 0 (still proven upper bounds) and μ = 0 (the only
 *  lower bound valid for every θ), with certified = 0; the library's
 *  callers (default steps, error bounds) then estimate the constants at
 *  the current θ (bl_estimate_constants), and every bound built on them
 *  is labelled "estimated" (bl_bound_label). */
bl_status lr_constants(const lr_model *m, const double *lambda, bl_constants *out);

/** ‖B(θ, λ)‖ = ‖∇²_θλG‖ exactly: max_k e^{λ_k}|w_k| (per feature) or
 *  e^λ‖w‖ (scalar); B does not depend on the data. */
double lr_cross_norm(const lr_model *m, const double *theta, const double *lambda);

/** Reference G (plain C + cblas, no ad) at (θ, λ) on a batch of training
 *  samples (NULL = all): *value, ∇_θG (p), ∇_λG (m); outputs may be NULL. */
bl_status lr_ref_G(const lr_model *m, const double *theta, const double *lambda, const int *batch,
                   int nbatch, double *value, double *g_theta, double *g_lambda, char *msg,
                   size_t msglen);

/** Reference F on a batch of validation samples; ∇_λF = 0. */
bl_status lr_ref_F(const lr_model *m, const double *theta, const double *lambda, const int *batch,
                   int nbatch, double *value, double *g_theta, double *g_lambda, char *msg,
                   size_t msglen);

/** Reference H·v (p) and cross(v) = ∇²_λθG·v (m) of G on a training batch:
 *    H v = (1/nb) X̃_Bᵀ(σ(μ_i)(1−σ(μ_i)) ⊙ X̃_B v) + e^λ⊙v_w [+ r_b v_b], μ_i = −y_i z_i;
 *    cross(v)_k = e^{λ_k} w_k v_k (per feature) or e^λ⟨w, v_w⟩ (scalar). */
bl_status lr_ref_hvp(const lr_model *m, const double *theta, const double *lambda,
                     const int *batch, int nbatch, const double *v, double *hv, double *cross,
                     char *msg, size_t msglen);

/** The three reference functions above behind the shared interface. */
md_reference lr_reference(const lr_model *m);

#ifdef __cplusplus
}
#endif
#endif
