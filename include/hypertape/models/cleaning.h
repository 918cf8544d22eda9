/*
 * hypertape/models/cleaning.h — data hypercleaning (prefix hc_): multinomial logistic
 * (softmax) regression with one learned weight per training sample.
 *
 *   W ∈ R^{c×(d+1)} (last column the bias: features get a trailing 1,
 *   ã_i = (a_i, 1)), θ = vec(W) row-major (p = c(d+1)), λ ∈ R^n (m = n).
 *   G(θ, λ) = (1/n) Σ_i σ(λ_i) CE(W ã_i, b_i) + (r/2)‖W‖_F²   (bias included)
 *   F(θ, λ) = (1/n_val) Σ_j CE(W ã_j, b_j)                     (validation)
 *   CE(u, b) = log Σ_k e^{u_k} − u_b,  σ the logistic function.
 *
 * Minibatches: G's data term is the mean over the batch (weights σ(λ_i) of
 * the batch's samples), (r/2)‖W‖² whole; F is the batch mean.
 *
 * Sets: dense or CSR features with class labels (ds_set.cls in [0,
 * nclass)); the model keeps pointers to them (they must outlive it).
 */
#ifndef HYPERTAPE_MODELS_CLEANING_H
#define HYPERTAPE_MODELS_CLEANING_H

#include <hypertape/bilevel.h>
#include <hypertape/models/data.h>
#include <hypertape/models/dense.h>

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Opaque model. */
typedef struct hc_model hc_model;

/** Creates the model: train (n×d) and val (n_val×d) with class labels,
 *  c = train->nclass classes (val->nclass ≤ c), ridge weight r > 0.
 *  BL_EINVAL (missing labels, labels out of range, widths differ, r ≤ 0),
 *  BL_ENONFINITE, BL_ENOMEM; the message names the set and sizes. */
bl_status hc_model_new(const ds_set *train, const ds_set *val, double r, hc_model **out,
                       char *msg, size_t msglen);

/** Frees the model (not the sets); hc_model_free(NULL) is a no-op. */
void hc_model_free(hc_model *m);

/** The bilevel problem ("cleaning", p = c(d+1), m = n, n_inner = n,
 *  n_outer = n_val). */
bl_problem hc_problem(hc_model *m);

/** Number of classes c. */
int hc_classes(const hc_model *m);

/** Certified constants at λ (n values); derivations in cleaning.c. With
 *  S = min(Σ_i σ(λ_i)‖ã_i‖², max_i σ(λ_i)·‖Ã‖²) ≥ ‖diag(σ(λ))^{1/2} Ã‖²:
 *    μ = r, L = r + S/(2n), L_f = ‖Ã_val‖²/(2 n_val),
 *    L_H = max_i‖ã_i‖·S/(√2 n), L_B = √(Σ_i σ'(λ_i)²‖ã_i‖⁴)/(2n), L_Fλ = 0. */
bl_status hc_constants(const hc_model *m, const double *lambda, bl_constants *out);

/** Certified ‖B(θ, λ)‖ ≤ ‖B‖_F = (1/n)√(Σ_i σ'(λ_i)²‖s_i − e_{b_i}‖²‖ã_i‖²)
 *  (one pass over the training data); −1 when out of memory. */
double hc_cross_norm(const hc_model *m, const double *theta, const double *lambda);

/** Reference G (no ad) on a batch of training samples: value, ∇_θG (p),
 *  ∇_λG (n: (1/nb) σ'(λ_i) CE_i on the batch, 0 elsewhere). */
bl_status hc_ref_G(const hc_model *m, const double *theta, const double *lambda, const int *batch,
                   int nbatch, double *value, double *g_theta, double *g_lambda, char *msg,
                   size_t msglen);

/** Reference F on a batch of validation samples; ∇_λF = 0. */
bl_status hc_ref_F(const hc_model *m, const double *theta, const double *lambda, const int *batch,
                   int nbatch, double *value, double *g_theta, double *g_lambda, char *msg,
                   size_t msglen);

/** Reference H·v and cross(v) of G on a training batch. With δu_i = V ã_i,
 *  P_i = diag(s_i) − s_i s_iᵀ (s_i the softmax of W ã_i):
 *    H v = (1/nb) Σ σ(λ_i) (P_i δu_i) ã_iᵀ + r V,
 *    cross(v)_i = (1/nb) σ'(λ_i) ⟨s_i − e_{b_i}, δu_i⟩. */
bl_status hc_ref_hvp(const hc_model *m, const double *theta, const double *lambda,
                     const int *batch, int nbatch, const double *v, double *hv, double *cross,
                     char *msg, size_t msglen);

/** The reference functions behind the shared interface. */
md_reference hc_reference(const hc_model *m);

/** Evaluates the classifier W = θ (p, the model's layout) on a labelled set
 *  s (n×d, the model's d, classes < c), e.g. the test set: *ce (may be
 *  NULL) the mean cross-entropy, *acc (may be NULL) the fraction of samples
 *  whose largest logit is the label (ties: the first class). BL_EINVAL for
 *  a set of another width or without labels, BL_ENOMEM. */
bl_status hc_evaluate(const hc_model *m, const ds_set *s, const double *theta, double *ce,
                      double *acc, char *msg, size_t msglen);

/** Seeded label corruption, in place: with probability prob each label
 *  cls[i] ∈ [0, nclass) is replaced by a uniformly drawn OTHER class;
 *  corrupted[i] (n, may be NULL) records 1 for replaced labels, else 0;
 *  *ncorrupted (may be NULL) their count. Deterministic in seed. BL_EINVAL
 *  for prob outside [0, 1], nclass < 2 or a label out of range (nothing is
 *  changed then). */
bl_status hc_corrupt_labels(int *cls, int n, int nclass, double prob, uint64_t seed,
                            unsigned char *corrupted, int *ncorrupted, char *msg, size_t msglen);

/** How a selected sample's new label is drawn (hc_corrupt_labels_mode). */
typedef enum hc_corrupt_mode {
    HC_CORRUPT_OTHER = 0, /**< uniform among the other nclass − 1 classes: the label always changes */
    HC_CORRUPT_UNIFORM,   /**< uniform among all nclass classes: it may keep its class (the
                               convention of benchopt's and the F2SA-Adam study's hypercleaning) */
    HC_CORRUPT_MODE_COUNT
} hc_corrupt_mode;

/** Seeded label corruption, in place, with a mode (hc_corrupt_mode) and an
 *  exact fraction. exact = 0: each sample is selected with probability prob
 *  (one uniform draw per sample, as hc_corrupt_labels); exact ≠ 0: exactly
 *  round(prob·n) samples are selected, a uniform subset (partial
 *  Fisher–Yates from the seed's stream). Each selected label is redrawn by
 *  the mode, in index order. corrupted[i] (n, may be NULL) is 1 for the
 *  selected samples (in uniform mode a selected label may equal its old
 *  one), *ncorrupted (may be NULL) their count. Deterministic in seed;
 *  (mode other, exact 0) is hc_corrupt_labels bitwise. BL_EINVAL for prob
 *  outside [0, 1], nclass < 2, an unknown mode or a label out of range,
 *  BL_ENOMEM (exact: n ints and n flags); nothing is changed then. */
bl_status hc_corrupt_labels_mode(int *cls, int n, int nclass, double prob, int mode, int exact,
                                 uint64_t seed, unsigned char *corrupted, int *ncorrupted,
                                 char *msg, size_t msglen);

/** "other" or "uniform" ("(unknown)" for another value). */
const char *hc_corrupt_mode_name(int mode);
/** The mode of that name, or −1. */
int hc_corrupt_mode_from_name(const char *name);

/** How well λ separates clean from corrupted samples: the probability that
 *  a random clean sample has a larger λ than a random corrupted one (ties
 *  count ½), i.e. the ROC AUC of −λ as a corruption detector (1 = perfect,
 *  ½ = chance). O(n log n). BL_EINVAL when either group is empty. */
bl_status hc_separation_auc(const double *lambda, const unsigned char *corrupted, int n,
                            double *auc, char *msg, size_t msglen);

/** What a detector of the corrupted samples scores. */
typedef struct hc_detection {
    int flagged;      /**< samples with λ_i < 0 (σ(λ_i) < ½) */
    int corrupted;    /**< samples with corrupted[i] ≠ 0 */
    int hits;         /**< flagged and corrupted */
    double precision; /**< hits / flagged (NaN when nothing is flagged) */
    double recall;    /**< hits / corrupted (NaN when nothing is corrupted) */
} hc_detection;

/** σ(λ_i) < ½, i.e. λ_i < 0, as a detector of the samples with
 *  corrupted[i] ≠ 0 (n each). Flagging at random has precision
 *  corrupted / n. BL_EINVAL for NULL arrays or n < 1. */
bl_status hc_detect(const double *lambda, const unsigned char *corrupted, int n, hc_detection *out,
                    char *msg, size_t msglen);

#ifdef __cplusplus
}
#endif
#endif
