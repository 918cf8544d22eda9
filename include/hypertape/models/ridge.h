/*
 * hypertape/models/ridge.h — ridge regression with one scalar hyperparameter
 * (prefix rdg_): θ ∈ R^d (p = d), λ ∈ R (m = 1),
 *
 *   G(θ, λ) = ½‖Xθ − y‖²/n + ½ e^λ ‖θ‖²,   F(θ, λ) = ½‖X_val θ − y_val‖²/n_val,
 *   θ*(λ) = (K + e^λ I)⁻¹ c with K = XᵀX/n, c = Xᵀy/n,
 *   ∇h(λ) = −e^λ ⟨θ*, (K + e^λ I)⁻¹ ∇_θF(θ*)⟩.
 *
 * X dense or CSR (train and val each), y real targets. Minibatches: the
 * data term is the batch mean, the penalty whole; F is the batch mean.
 * The model keeps pointers to the sets (they must outlive it).
 */
#ifndef HYPERTAPE_MODELS_RIDGE_H
#define HYPERTAPE_MODELS_RIDGE_H

#include <hypertape/bilevel.h>
#include <hypertape/models/data.h>
#include <hypertape/models/dense.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Largest d for which the model forms K = XᵀX/n (closed forms). */
#define RDG_GRAM_MAX_D 1024
/** Largest d for which the constants use K's exact eigenvalues. */
#define RDG_EIG_MAX_D 256

/** Opaque model. */
typedef struct rdg_model rdg_model;

/** Creates the model on train (n×d) and val (n_val×d), dense or CSR, with
 *  finite real targets y. For d ≤ RDG_GRAM_MAX_D it forms K (d×d) and c;
 *  for d ≤ RDG_EIG_MAX_D also the extreme eigenvalues of K and K_val.
 *  BL_EINVAL, BL_ENONFINITE, BL_ENOMEM. */
bl_status rdg_model_new(const ds_set *train, const ds_set *val, rdg_model **out, char *msg,
                        size_t msglen);

/** Frees the model; rdg_model_free(NULL) is a no-op. */
void rdg_model_free(rdg_model *m);

/** The bilevel problem ("ridge", p = d, m = 1, n_inner = n, n_outer = n_val). */
bl_problem rdg_problem(rdg_model *m);

/** Certified constants at λ: μ = κ_min + e^λ, L = κ_max + e^λ, L_f =
 *  κ_max(val), L_B = e^λ, L_H = L_Fλ = 0, where κ are the extreme
 *  eigenvalues of K (Jacobi, widened by md_eig_margin) for d ≤
 *  RDG_EIG_MAX_D, else κ_min = 0 and κ_max = md_opnorm_sq_bound(X)/n. */
bl_status rdg_constants(const rdg_model *m, const double *lambda, bl_constants *out);

/** ‖B(θ, λ)‖ = e^λ‖θ‖ (B = e^λ θ, one column). */
double rdg_cross_norm(const rdg_model *m, const double *theta, const double *lambda);

/** θ*(λ) by Cholesky of K + e^λ I (d ≤ RDG_GRAM_MAX_D, else BL_EINVAL). */
bl_status rdg_solve(const rdg_model *m, const double *lambda, double *theta, char *msg,
                    size_t msglen);

/** h(λ) = F(θ*(λ)) and the exact ∇h(λ) (1 value); any output may be NULL;
 *  theta (d) receives θ*(λ). d ≤ RDG_GRAM_MAX_D. */
bl_status rdg_hypergrad(const rdg_model *m, const double *lambda, double *value, double *grad,
                        double *theta, char *msg, size_t msglen);

/** Reference G on a training batch: ∇_θG = X_Bᵀ(X_Bθ − y_B)/nb + e^λθ,
 *  ∇_λG = ½e^λ‖θ‖². */
bl_status rdg_ref_G(const rdg_model *m, const double *theta, const double *lambda,
                    const int *batch, int nbatch, double *value, double *g_theta, double *g_lambda,
                    char *msg, size_t msglen);

/** Reference F on a validation batch; ∇_λF = 0. */
bl_status rdg_ref_F(const rdg_model *m, const double *theta, const double *lambda,
                    const int *batch, int nbatch, double *value, double *g_theta, double *g_lambda,
                    char *msg, size_t msglen);

/** Reference H·v = X_BᵀX_B v/nb + e^λ v and cross(v) = e^λ⟨θ, v⟩. */
bl_status rdg_ref_hvp(const rdg_model *m, const double *theta, const double *lambda,
                      const int *batch, int nbatch, const double *v, double *hv, double *cross,
                      char *msg, size_t msglen);

/** The reference functions behind the shared interface. */
md_reference rdg_reference(const rdg_model *m);

#ifdef __cplusplus
}
#endif
#endif
