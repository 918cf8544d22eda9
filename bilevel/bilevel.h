/*
 * bilevel/bilevel.h — hypertape's bilevel layer: the problem interface that
 * models implement, and (as the estimator issues land) inner solvers,
 * hypergradient estimators, bounds and outer algorithms.
 *
 * Notation (DESIGN.md §1): outer variable λ ∈ R^m, inner variable θ ∈ R^p,
 * inner objective G(θ, λ), outer objective F(θ, λ), θ*(λ) = argmin_θ G,
 * h(λ) = F(θ*(λ), λ), H = ∇²_θθ G, cross(v) = ∇²_λθ G·v.
 */
#ifndef HYPERTAPE_BILEVEL_H
#define HYPERTAPE_BILEVEL_H

#include "ad/ad.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Status codes of the bilevel layer, the models and the data readers. */
typedef enum bl_status {
    BL_OK = 0,
    BL_EINVAL,     /**< bad argument */
    BL_ESHAPE,     /**< sizes do not fit */
    BL_ENOMEM,     /**< out of memory or tape cap reached */
    BL_EAD,        /**< the ad layer failed; the message holds its text */
    BL_EIO,        /**< a file could not be opened or read */
    BL_EFORMAT,    /**< a file is malformed; the message names the line or byte offset */
    BL_ENONFINITE, /**< NaN or Inf in input data or in an iterate */
    BL_ENONCONVEX, /**< non-positive curvature found where the method needs convexity */
    BL_STATUS_COUNT
} bl_status;

/** Static English description of a status (never NULL). */
const char *bl_strerror(bl_status s);

/** Constants of DESIGN.md §3 at a given λ. */
typedef struct bl_constants {
    double mu;     /**< strong convexity of G in θ */
    double L;      /**< Lipschitz constant of ∇_θG in θ */
    double Lf;     /**< Lipschitz constant of ∇_θF in θ */
    double LB;     /**< Lipschitz constant of B = ∇²_θλG in θ */
    double LH;     /**< Lipschitz constant of H in θ */
    double LFlam;  /**< Lipschitz constant of ∇_λF in θ (0 when F does not depend on λ) */
    int certified; /**< 1: proven bounds (derivation in the model); 0: estimates */
} bl_constants;

/** Records G or F at (θ, λ) on tape t and returns the 1×1 result. θ is a
 *  p×1 and λ an m×1 value on t. batch (nbatch sample indices) selects a
 *  minibatch of the inner samples (for G) or outer samples (for F); batch
 *  NULL means all samples. */
typedef ad_var (*bl_record_fn)(ad_tape *t, ad_var theta, ad_var lambda, const int *batch,
                               int nbatch, void *ctx);

/** Fills *out with the constants at λ (size m). Returns BL_OK, or BL_EINVAL
 *  when the model cannot give them (the caller then estimates them). */
typedef bl_status (*bl_constants_fn)(const double *lambda, bl_constants *out, void *ctx);

/** A bilevel problem: what a model provides, and all the estimators need. */
typedef struct bl_problem {
    const char *name;          /**< short name, e.g. "logreg" */
    int p, m;                  /**< sizes of θ and λ */
    bl_record_fn G, F;         /**< inner and outer objectives */
    bl_constants_fn constants; /**< may be NULL */
    int n_inner, n_outer;      /**< sample counts for minibatches (0: no minibatch support) */
    void *ctx;                 /**< the model's data, passed to the callbacks */
} bl_problem;

#ifdef __cplusplus
}
#endif
#endif /* HYPERTAPE_BILEVEL_H */
