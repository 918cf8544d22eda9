/*
 * hypertape/bilevel.h — hypertape's bilevel layer: the problem interface that
 * models implement, the oracles, inner solvers, linear solves, the
 * hypergradient estimators and their context, and the error bounds.
 *
 * Notation (README, "Notation and definitions"): outer variable λ ∈ R^m,
 * inner variable θ ∈ R^p, inner objective G(θ, λ), outer objective F(θ, λ),
 * θ*(λ) = argmin_θ G, h(λ) = F(θ*(λ), λ), the hypergradient
 * ∇h(λ) = ∇_λF − ∇²_λθG·H⁻¹∇_θF at θ*, H = ∇²_θθ G, cross(v) = ∇²_λθ G·v,
 * B = ∇²_θλG (so cross(v) = Bᵀv).
 */
#ifndef HYPERTAPE_BILEVEL_H
#define HYPERTAPE_BILEVEL_H

#include <hypertape/ad.h>
#include <hypertape/status.h>

#ifdef __cplusplus
extern "C" {
#endif

/** The constants of the error bounds at a given λ (README, "Notation and
 *  definitions"): G is μ-strongly convex and L-smooth in θ, and the other
 *  fields are Lipschitz constants in θ of the named derivatives. */
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

/** A certified upper bound on ‖B(θ, λ)‖ = ‖∇²_θλG(θ, λ)‖ (operator norm),
 *  when the model knows one; returns a negative value when it does not. */
typedef double (*bl_cross_norm_fn)(const double *theta, const double *lambda, void *ctx);

/** Per-sample quantities (bl_oracle_persample). Row k of the output is the
 *  quantity on the batch of one sample {idx[k]}: for G, G_i is G on the
 *  batch {i}, so for a model whose batch objective is the mean of its
 *  samples' objectives (every model in models/: the data term is the batch
 *  mean, the regulariser is whole) the mean of the rows over a batch is the
 *  batch quantity. */
typedef enum bl_persample_kind {
    BL_PS_GRAD_G_THETA = 0, /**< ∇_θG_i (p per row), inner samples */
    BL_PS_GRAD_F_THETA,     /**< ∇_θF_j (p per row), outer samples */
    BL_PS_GRAD_F_LAMBDA,    /**< ∇_λF_j (m per row), outer samples */
    BL_PS_HVP,              /**< H_i v = ∇²_θθG_i·v (p per row), inner samples */
    BL_PS_CROSS,            /**< cross_i(v) = ∇²_λθG_i·v (m per row), inner samples */
    BL_PS_COUNT
} bl_persample_kind;

/** Several per-sample kinds at one (θ, λ) in one call
 *  (bl_oracle_persample_all), so that a model computes what they share
 *  (for a GLM: one x̃_iᵀθ and one x̃_iᵀv per sample serve ∇_θG_i, H_i v and
 *  cross_i) once. rows[kind] receives the rows of that kind (n rows of p or
 *  m doubles, row-major, as bl_persample_kind says), or is NULL when the
 *  kind is not wanted; distinct kinds must not overlap. */
struct bl_batch; /* below, with the oracles */
typedef struct bl_persample_req {
    const struct bl_batch *inner; /**< samples of ∇_θG_i, H_i v, cross_i (NULL: all n_inner) */
    const struct bl_batch *outer; /**< samples of ∇_θF_j, ∇_λF_j (NULL: all n_outer) */
    const double *v;              /**< p; read when rows[BL_PS_HVP] or rows[BL_PS_CROSS] is set */
    double *rows[BL_PS_COUNT];    /**< output of each kind; NULL: not computed */
} bl_persample_req;

/** Optional model hook for per-sample quantities: fills req->rows[kind]
 *  for every non-NULL one, for the samples of req->inner (G's kinds) or
 *  req->outer (F's kinds) at (θ, λ), in as few passes over the batch as
 *  it likes. The oracle checks everything before the call and hands the
 *  hook resolved batches: req->inner (req->outer) is non-NULL with idx set
 *  whenever a kind of that side is wanted, and req->v is non-NULL and
 *  finite when BL_PS_HVP or BL_PS_CROSS is. It must handle every kind and
 *  give exactly what batch-of-one oracle calls give (up to rounding).
 *  Returns BL_OK or a failure status. */
typedef bl_status (*bl_persample_fn)(const bl_persample_req *req, const double *theta,
                                     const double *lambda, void *ctx);

/** A bilevel problem: what a model provides, and all the estimators need. */
typedef struct bl_problem {
    const char *name;          /**< short name, e.g. "logreg" */
    int p, m;                  /**< sizes of θ and λ */
    bl_record_fn G, F;         /**< inner and outer objectives */
    bl_constants_fn constants; /**< may be NULL */
    int n_inner, n_outer;      /**< sample counts for minibatches (0: no minibatch support) */
    void *ctx;                 /**< the model's data, passed to the callbacks */
    bl_cross_norm_fn cross_norm; /**< may be NULL: ‖B‖ is then computed (see bl_hypergrad) */
    bl_persample_fn persample;   /**< may be NULL: bl_oracle_persample(_all) then makes
                                      one batch-of-one oracle call per sample and kind */
} bl_problem;


/* ================================================================ oracles */

/** Evaluation counts: every estimator reports these. */
typedef struct bl_counts {
    long fval;  /**< value-only evaluations of G or F */
    long grad;  /**< gradient evaluations (of G or F, each call one) */
    long hvp;   /**< Hessian-vector products H·v */
    long cross; /**< cross products ∇²_λθG·v */
    long samples; /**< sample-level evaluations, the unit of the stochastic literature:
                       every counted gradient, H·v and cross product adds the size of
                       its batch (b for a batch of b indices, repeats included;
                       n_inner for a full G or point, n_outer for a full F, so one
                       full gradient of G adds one epoch). H·v and cross from one
                       sweep add b each, as they count one each. A per-sample call
                       (bl_oracle_persample) on b samples adds b. Value-only
                       evaluations add nothing. Problems with n_inner = 0 (no
                       minibatch support) add 0 for full calls. */
} bl_counts;

/** Opaque oracle: value, ∇_θG, ∇_θF, ∇_λF, H·v and cross(v) of a problem,
 *  all from one ad tape. Built once per problem; every solver and estimator
 *  uses these same oracles. */
typedef struct bl_oracle bl_oracle;

/** A minibatch: n sample indices (inner samples for G, outer ones for F).
 *  A NULL bl_batch pointer, or idx NULL, means all samples. */
typedef struct bl_batch {
    const int *idx; /**< n indices in [0, n_inner) or [0, n_outer); repeats allowed */
    int n;
} bl_batch;

/** Creates the oracles of pb (pb must outlive the oracle). max_tape_bytes
 *  caps the tape (0 = no cap). Returns NULL only when out of memory. */
bl_oracle *bl_oracle_new(const bl_problem *pb, size_t max_tape_bytes);
/** Frees the oracle; bl_oracle_free(NULL) is a no-op. */
void bl_oracle_free(bl_oracle *o);
/** The problem the oracle evaluates. */
const bl_problem *bl_oracle_problem(const bl_oracle *o);
/* Errors. The oracle keeps the FIRST failure, as an ad tape does: the
 * first failing call (or library routine working on the oracle) records its
 * status and one-line message, and later failures return their own status
 * but leave the recorded message alone, until bl_oracle_clear_error(). A
 * caller that starts an operation (one hypergradient, one outer step) and
 * wants only that operation's failure clears first. A caller that
 * tolerates an expected failure (a trial step, an optional estimate) saves
 * bl_oracle_error() before and clears afterwards only if it was BL_OK.
 * ad failures keep their meaning: AD_ESHAPE → BL_ESHAPE, AD_ENOMEM (also a
 * tape cap) → BL_ENOMEM, AD_EINVAL → BL_EINVAL, AD_EANOMALY and non-finite
 * values, gradients or products → BL_ENONFINITE, any other → BL_EAD. */

/** Message of the first failure since creation or the last
 *  bl_oracle_clear_error() ("" when none). */
const char *bl_oracle_message(const bl_oracle *o);
/** Status of that first failure (BL_OK when none). */
bl_status bl_oracle_error(const bl_oracle *o);
/** Forgets the recorded failure: bl_oracle_error() is then BL_OK and the
 *  message "". Counts, peak and point are kept. */
void bl_oracle_clear_error(bl_oracle *o);
/** on = 1 (the default of a new oracle): keep the first failure (above).
 *  on = 0: each failure overwrites the status and message. */
void bl_oracle_keep_first_error(bl_oracle *o, int on);
/** The second-order mode of the following bl_oracle_point() calls (the
 *  point already set keeps its own). The default is AD_HVP_FOR
 *  (forward-over-reverse). Which mode is faster on a reused recording
 *  depends on the model: `./dev bench` (bench_logreg, bench_softmax) has
 *  measured FOR faster on narrow data (logistic 49,990×22) and ROR faster on
 *  wide dense data (logistic 20,000×784); README, "Measured performance",
 *  gives the ratios. BL_EINVAL, with the oracle's message, for another
 *  mode. */
bl_status bl_oracle_set_hvp_mode(bl_oracle *o, ad_hvp_mode mode);
/** Counts since creation or the last bl_oracle_reset(). */
bl_counts bl_oracle_counts(const bl_oracle *o);
/** Peak tape bytes since creation or the last bl_oracle_reset(). */
size_t bl_oracle_peak_bytes(const bl_oracle *o);
/** Zeroes the counts and the peak. */
void bl_oracle_reset(bl_oracle *o);
/* Every evaluation takes the sample batch it runs on: G calls (and
 * bl_oracle_point) a batch of inner samples, F calls a batch of outer
 * samples. NULL means all samples. A batch is read during the call only;
 * there is no sticky batch state, so a new batch per product re-records
 * only that product's objective. */

/** G(θ, λ) on the inner batch and, when the pointers are non-NULL, ∇_θG (p)
 *  and ∇_λG (m). With value NULL, G is recorded with lazy values
 *  (ad_tape_set_lazy): what only the value needs (softplus's log1p, the
 *  final sums) is not computed, and the finiteness check covers the
 *  gradients alone. The same holds for bl_oracle_F. */
bl_status bl_oracle_G(bl_oracle *o, const bl_batch *batch, const double *theta, const double *lambda, double *value,
                      double *g_theta, double *g_lambda);
/** F(θ, λ) on the outer batch and, when the pointers are non-NULL, ∇_θF
 *  (p) and ∇_λF (m). */
bl_status bl_oracle_F(bl_oracle *o, const bl_batch *batch, const double *theta, const double *lambda, double *value,
                      double *g_theta, double *g_lambda);
/** Fixes the point (θ, λ) and the inner batch of the following
 *  second-order calls: G on that batch and its gradient are recorded once
 *  (with lazy values: G's value is never read) and reused by every
 *  bl_oracle_hvp(). */
bl_status bl_oracle_point(bl_oracle *o, const bl_batch *batch, const double *theta, const double *lambda);
/** At the current point: hv = H·v (p) and cross = ∇²_λθG·v (m) from one
 *  sweep; either output may be NULL (and is then not counted). */
bl_status bl_oracle_hvp(bl_oracle *o, const double *v, double *hv, double *cross);
/** At the current point: the derivative of ∇_θG along (v_theta, v_lambda),
 *  i.e. H·v_theta + ∇²_θλG·v_lambda (p); v_lambda may be NULL. */
bl_status bl_oracle_grad_jvp(bl_oracle *o, const double *v_theta, const double *v_lambda,
                             double *out);

/** Per-sample quantities for variance-reduced methods (SAGA/SARAH
 *  memories), several kinds in one call: for every kind with
 *  req->rows[kind] non-NULL, row k of it is the quantity of that kind on
 *  the batch of one sample {idx[k]} at (θ, λ), idx being req->inner for
 *  G's kinds and req->outer for F's (see bl_persample_req; a NULL batch
 *  means all n_inner or n_outer samples, which must then be > 0): p
 *  doubles per row for BL_PS_GRAD_G_THETA, BL_PS_GRAD_F_THETA and
 *  BL_PS_HVP, m for BL_PS_GRAD_F_LAMBDA and BL_PS_CROSS (see
 *  bl_persample_kind for the normalisation). req->v (p) is needed by
 *  BL_PS_HVP and BL_PS_CROSS, else ignored (may be NULL). This is the call
 *  a SAGA/SARAH loop makes once per step: with a hook the model shares the
 *  work of the kinds (one pass over the batch for logistic regression).
 *
 *  Design: per-sample quantities come from a model hook
 *  (bl_problem.persample), not from an ad sweep. Per-sample gradients of a
 *  generic tape need one reverse sweep per sample (or a per-row Jacobian
 *  pass the tape does not have), while a model knows its closed form: for
 *  a GLM such as logistic regression each row is one scalar times x̃_i plus
 *  the regulariser's term, so b rows cost O(b·p) with no recording. Without
 *  a hook the oracle falls back to one batch-of-one oracle call per sample
 *  and kind (one recording and sweep each): correct for any problem, but
 *  slow.
 *
 *  Counts: as many as one bl_oracle_persample call per requested kind:
 *  one grad per gradient kind, one hvp (BL_PS_HVP), one cross (BL_PS_CROSS),
 *  and the batch size per kind in samples. The oracle's point is dropped
 *  (call bl_oracle_point again before bl_oracle_hvp). BL_EINVAL for a NULL
 *  req, theta, lambda or needed v, no kind requested, or a bad batch;
 *  BL_ENONFINITE for non-finite inputs or outputs (the message names the
 *  kind, the row, its sample index and the entry; every output entry is
 *  checked, in one cheap pass); the hook's status otherwise. On failure
 *  the rows' contents are unspecified. */
bl_status bl_oracle_persample_all(bl_oracle *o, const bl_persample_req *req, const double *theta,
                                  const double *lambda);

/** One kind of bl_oracle_persample_all: rows (b rows of p or m doubles)
 *  for the batch (inner samples for G's kinds, outer ones for F's; NULL =
 *  all), v (p) read by BL_PS_HVP and BL_PS_CROSS only (else may be NULL).
 *  Same counts and statuses; BL_EINVAL also for an unknown kind or NULL
 *  rows. */
bl_status bl_oracle_persample(bl_oracle *o, bl_persample_kind kind, const bl_batch *batch,
                              const double *theta, const double *lambda, const double *v,
                              double *rows);

/* ========================================================== inner solvers */
/* GSL-style: an algorithm is a constant type (its table is public in
 * hypertape/solvers.h, so a user can add one); the solver is a state
 * object; the caller may own the loop (bl_inner_iterate then
 * bl_inner_converged) or call bl_inner_solve. Every solver evaluates the
 * gradient of its objective at each new iterate, so bl_inner_grad_norm()
 * is always current. */

/** An inner algorithm (a constant table: hypertape/solvers.h). */
typedef struct bl_inner_type bl_inner_type;
extern const bl_inner_type *const bl_inner_gd;        /**< gradient descent, θ ← θ − α∇G */
extern const bl_inner_type *const bl_inner_hb;        /**< heavy ball: + β(θ_k − θ_{k−1}) */
extern const bl_inner_type *const bl_inner_nesterov;  /**< Nesterov / FISTA */
extern const bl_inner_type *const bl_inner_lbfgs;     /**< L-BFGS, keeps its pairs for SHINE */
extern const bl_inner_type *const bl_inner_newton_cg; /**< Newton-CG with Armijo backtracking (objective G only) */

/** Name of a type ("gd", "hb", "nesterov", "lbfgs", "newton-cg"). */
const char *bl_inner_type_name(const bl_inner_type *T);
/** The library's type with that name, or NULL. */
const bl_inner_type *bl_inner_type_from_name(const char *name);

/** What an inner solver minimises over θ. */
typedef enum bl_objective {
    BL_OBJ_G = 0,   /**< the inner objective G(θ, λ) (default) */
    BL_OBJ_F_NU_G,  /**< F(θ, λ) + ν G(θ, λ), ν = bl_inner_opts.nu > 0 (penalty methods, F2SA) */
    BL_OBJ_COUNT
} bl_objective;

/** Inner solver options; zero = defaults.
 *  Default steps and momenta come from μ and L of the objective: the
 *  problem's constants at λ when it has a constants callback, else (or
 *  when the callback fails) estimates at θ0 from 30 Lanczos steps on H·v
 *  (bl_estimate_constants' method) with L ← 1.5·L_est and μ = μ_est. The
 *  Ritz values lie inside the spectrum, so L_est ≤ L: GD and heavy ball
 *  converge on a quadratic when L' + μ' > L and Nesterov when L' ≥ L, so
 *  the margin tolerates L_est down to L/1.5 (extreme Ritz values converge
 *  first; the margin also covers a moderate growth of L away from θ0). The
 *  overestimated μ only lowers the momentum and, in GD's 2/(L'+μ'), is
 *  bounded by L_est, so it keeps those conditions. Explicit step and
 *  momentum are always used as given; bl_inner_steps_estimated() says
 *  whether an estimate was made. */
typedef struct bl_inner_opts {
    double step;       /**< α; 0 = from the constants (GD 2/(L+μ), HB 4/(√L+√μ)², Nesterov 1/L) */
    double momentum;   /**< β; 0 = from the constants (HB ((√L−√μ)/(√L+√μ))², Nesterov (√L−√μ)/(√L+√μ)) */
    int memory;        /**< L-BFGS memory; 0 = 10 */
    int keep_iterates; /**< nonzero: store θ_0, θ_1, ... for unrolling */
    int objective;     /**< a bl_objective; 0 = BL_OBJ_G */
    double nu;         /**< ν of BL_OBJ_F_NU_G (> 0); ignored for BL_OBJ_G. For F + νG the
                            constants are L = L_f + νL_G, μ = νμ_G − L_f (estimated L_f: 1.5× a
                            power-iteration estimate of ‖∇²_θθF(θ0)‖). newton-cg refuses it
                            (BL_EINVAL in bl_inner_new): the oracle has H·v of G only. */
} bl_inner_opts;

/** Opaque inner solver state. */
typedef struct bl_inner bl_inner;

/** Allocates a solver of type T on the oracles o. On failure returns NULL
 *  and, if st is non-NULL, sets *st; bl_oracle_message(o) has the reason
 *  (for an allocation failure: what was allocated and its size). */
bl_inner *bl_inner_new(const bl_inner_type *T, bl_oracle *o, const bl_inner_opts *opts,
                       bl_status *st);
/** Frees the solver; bl_inner_free(NULL) is a no-op. */
void bl_inner_free(bl_inner *s);
/** Starts at θ0 (NULL = zeros: warm starts pass the previous solution) for
 *  the outer point λ; evaluates the objective's gradient at θ0. Resolves α
 *  and β (see bl_inner_opts; an estimate sets the oracle's point at θ0 and
 *  then drops it). Without an explicit step or momentum and when the
 *  estimate fails (e.g. BL_ENONCONVEX: a non-positive Ritz value), the
 *  message names what is missing. */
bl_status bl_inner_set(bl_inner *s, const double *theta0, const double *lambda);
/** One iteration; afterwards θ, the gradient and its norm are current. */
bl_status bl_inner_iterate(bl_inner *s);
/** Forgets the method's memory (heavy-ball / Nesterov momentum, L-BFGS
 *  pairs), keeps θ: the next iteration starts like the first. */
bl_status bl_inner_restart(bl_inner *s);
/** 1 when ‖∇(objective)(θ)‖ ≤ eps, else 0. */
int bl_inner_converged(const bl_inner *s, double eps);
/** 1 when a line search found no decrease at rounding level (L-BFGS,
 *  Newton-CG): further iterations cannot improve θ; bl_inner_solve stops. */
int bl_inner_stalled(const bl_inner *s);
/** Iterates until ‖∇(objective)‖ ≤ eps or max_iters iterations (eps < 0: exactly max_iters). */
bl_status bl_inner_solve(bl_inner *s, double eps, int max_iters);
/** Current iterate θ (p). */
const double *bl_inner_theta(const bl_inner *s);
/** Gradient of the objective (∇_θG, or ∇_θ(F + νG)) at the current iterate (p). */
const double *bl_inner_grad(const bl_inner *s);
/** Its norm at the current iterate. */
double bl_inner_grad_norm(const bl_inner *s);
/** Iterations done since bl_inner_set. */
int bl_inner_iters(const bl_inner *s);
/** Stored iterate θ_k, 0 ≤ k ≤ iters (keep_iterates), else NULL. */
const double *bl_inner_iterate_at(const bl_inner *s, int k);
/** The step α in use (after bl_inner_set). */
double bl_inner_step(const bl_inner *s);
/** The momentum β in use (after bl_inner_set). */
double bl_inner_momentum(const bl_inner *s);
/** 1 when the last bl_inner_set derived α or β from estimated constants
 *  (the problem gave none), else 0: diagnostics label such steps "estimated". */
int bl_inner_steps_estimated(const bl_inner *s);
/** The type of the solver. */
const bl_inner_type *bl_inner_type_of(const bl_inner *s);
/** L-BFGS only: the stored secant pairs, oldest first: S and Y are count×p
 *  row-major (s_i = θ_{i+1} − θ_i, y_i = ∇G_{i+1} − ∇G_i). Returns count
 *  (0 for other solvers). */
int bl_inner_lbfgs_pairs(const bl_inner *s, const double **S, const double **Y);

/* ========================================================= linear solves */
/* Solve H q = b at the oracle's current point (bl_oracle_point) with H·v
 * products only. Two layers: resumable solver objects (bl_linsolve_*, the
 * shape of the inner solvers; algorithm tables public in
 * hypertape/solvers.h), and bl_linear_solve, the one-call loop over them. */

/** Why an iterative method stopped. */
typedef enum bl_stop {
    BL_STOP_NONE = 0,   /**< not run */
    BL_STOP_TOL,        /**< reached the tolerance */
    BL_STOP_MAXITER,    /**< reached the iteration cap */
    BL_STOP_NONCONVEX,  /**< found non-positive curvature; the best iterate is returned */
    BL_STOP_DIRECT,     /**< a direct method (no iterations) */
    BL_STOP_STALLED,    /**< no further decrease is possible at rounding level */
    BL_STOP_DIVERGED,   /**< the iterates diverged (the status is BL_ENONFINITE) */
    BL_STOP_COUNT
} bl_stop;

/** Short name of a stop reason ("tolerance", "iteration cap", ...). */
const char *bl_stop_name(bl_stop s);

/** Linear methods. */
typedef enum bl_linear {
    BL_LINEAR_CG = 0,   /**< conjugate gradient */
    BL_LINEAR_GD,       /**< q ← q − α(Hq − b) */
    BL_LINEAR_HB,       /**< heavy ball on the quadratic */
    BL_LINEAR_NEUMANN,  /**< q = α Σ_{j<K} (I − αH)^j b (K ≥ 1 terms = K GD steps from 0) */
    BL_LINEAR_COUNT
} bl_linear;

/** Called after each iteration k ≥ 1 with the iterate q and its residual
 *  ‖Hq − b‖; return nonzero to stop. */
typedef int (*bl_linear_monitor)(int k, const double *q, double residual, void *ctx);

/** Linear solve options; zero = defaults. Default steps and momenta come
 *  from μ and L of H: the problem's constants at the point's λ, else (or
 *  when the callback fails) 30 Lanczos steps on H·v at the point with
 *  L ← 1.5·L_est, μ = μ_est (the margin is justified at bl_inner_opts).
 *  Explicit values are always used as given; bl_linear_result and
 *  bl_linsolve_steps_estimated() say whether an estimate was made. */
typedef struct bl_linear_opts {
    double tol;        /**< stop when ‖Hq − b‖ ≤ tol (absolute); 0 = run max_iters */
    int max_iters;     /**< 0 = 1000 */
    double step;       /**< α for GD/HB/Neumann; 0 = from the constants (GD, Neumann 2/(L+μ); HB 4/(√L+√μ)²) */
    double momentum;   /**< β for HB; 0 = ((√L−√μ)/(√L+√μ))² */
    bl_linear_monitor monitor;
    void *monitor_ctx;
} bl_linear_opts;

/** What a linear solve did. */
typedef struct bl_linear_result {
    int iters;
    double residual;   /**< ‖Hq − b‖ at the returned q (CG: its recursively updated residual) */
    bl_stop stop;
    double step, momentum; /**< α, β used */
    int steps_estimated;   /**< 1 when α or β came from estimated constants (no constants callback) */
} bl_linear_result;

/** A linear method (a constant table: hypertape/solvers.h). */
typedef struct bl_linsolve_type bl_linsolve_type;
extern const bl_linsolve_type *const bl_linsolve_cg;      /**< conjugate gradient ("cg") */
extern const bl_linsolve_type *const bl_linsolve_gd;      /**< gradient descent ("gd") */
extern const bl_linsolve_type *const bl_linsolve_hb;      /**< heavy ball ("hb") */
extern const bl_linsolve_type *const bl_linsolve_neumann; /**< Neumann series ("neumann") */

/** Name of a linear type ("cg", "gd", "hb", "neumann"). */
const char *bl_linsolve_type_name(const bl_linsolve_type *T);
/** The library's linear type with that name, or NULL. */
const bl_linsolve_type *bl_linsolve_type_from_name(const char *name);
/** The type of a bl_linear method, or NULL for an invalid one. */
const bl_linsolve_type *bl_linear_type(bl_linear method);

/** Opaque resumable linear solver state. */
typedef struct bl_linsolve bl_linsolve;

/** Allocates a solver of type T on the oracle o with options opts (NULL =
 *  defaults; copied). On failure returns NULL, sets *st (if non-NULL), and
 *  bl_oracle_message(o) has the reason (for an allocation failure: what was
 *  allocated and its size). */
bl_linsolve *bl_linsolve_new(const bl_linsolve_type *T, bl_oracle *o, const bl_linear_opts *opts,
                             bl_status *st);
/** Frees the solver; bl_linsolve_free(NULL) is a no-op. */
void bl_linsolve_free(bl_linsolve *s);
/** Starts on H q = b (b copied) from q0 (NULL = zeros, with no product;
 *  warm starts pass the previous q) at the oracle's current point:
 *  computes the residual Hq0 − b and resolves the step and momentum. Call
 *  it again to rewrite q (or b). Neumann from q0 sums the series on the
 *  residual, q = q0 + α Σ_j (I − αH)^j (b − Hq0), i.e. GD from q0. */
bl_status bl_linsolve_set(bl_linsolve *s, const double *b, const double *q0);
/** One iteration. BL_ENONCONVEX (CG: non-positive curvature; q is left at
 *  the last iterate and the iteration is not counted) with a message. */
bl_status bl_linsolve_iterate(bl_linsolve *s);
/** Forgets the method's memory, keeps q: CG restarts its direction at the
 *  residual, heavy ball drops its momentum, Neumann restarts its series at
 *  the residual b − Hq (one product); nothing for GD. */
bl_status bl_linsolve_restart(bl_linsolve *s);
/** Iterates with the options' tolerance, cap (counted since
 *  bl_linsolve_set) and monitor, and fills res (may be NULL) as
 *  bl_linear_solve does. Stops before the first iteration when q0 already
 *  meets the tolerance (Neumann always takes its first term). */
bl_status bl_linsolve_solve(bl_linsolve *s, bl_linear_result *res);
/** ‖Hq − b‖ at the current q (CG: the recursively updated residual). */
double bl_linsolve_residual(const bl_linsolve *s);
/** Current iterate q (p). */
const double *bl_linsolve_q(const bl_linsolve *s);
/** Iterations done since bl_linsolve_set. */
int bl_linsolve_iters(const bl_linsolve *s);
/** The step α in use (0 for CG). */
double bl_linsolve_step(const bl_linsolve *s);
/** The momentum β in use (0 unless heavy ball). */
double bl_linsolve_momentum(const bl_linsolve *s);
/** 1 when the last bl_linsolve_set derived α or β from estimated constants. */
int bl_linsolve_steps_estimated(const bl_linsolve *s);
/** 1 when the method reached the exact solution (CG's residual recursion hit 0). */
int bl_linsolve_exact(const bl_linsolve *s);
/** The type of the solver. */
const bl_linsolve_type *bl_linsolve_type_of(const bl_linsolve *s);

/** Solves H q = b from the initial q (in/out; p entries; ignored by
 *  Neumann, which starts from 0) at the oracle's point: bl_linsolve_new,
 *  _set, _solve and _free. Returns BL_ENONCONVEX (with q the best iterate)
 *  when CG meets non-positive curvature. */
bl_status bl_linear_solve(bl_oracle *o, bl_linear method, const double *b, double *q,
                          const bl_linear_opts *opts, bl_linear_result *res);

/* ========================================================== hypergradients */

/** Every estimator (README, Notation: "Estimators"), selected by name (bl_method_name). */
typedef enum bl_method {
    BL_UNROLL = 0,          /**< "unroll": lean reverse sweep over the stored iterates */
    BL_UNROLL_GENERIC,      /**< "unroll-generic": the inner steps recorded as ad ops (create-graph) */
    BL_UNROLL_TRUNCATED,    /**< "unroll-truncated": only the last T steps differentiated */
    BL_UNROLL_CHECKPOINTED, /**< "unroll-checkpointed": s snapshots, binomial (revolve) schedule */
    BL_UNROLL_FORWARD,      /**< "unroll-forward": forward mode, Z_k = dθ_k/dλ (p×m) */
    BL_INEXACT_AD,          /**< "inexact-ad": the unroll recursion with H, cross at θ_K */
    BL_IFT_CG,              /**< "ift-cg" */
    BL_IFT_GD,              /**< "ift-gd" */
    BL_IFT_HB,              /**< "ift-hb" */
    BL_IFT_NEUMANN,         /**< "ift-neumann" */
    BL_IFT_IDENTITY,        /**< "ift-identity": q = ∇_θF */
    BL_SHINE,               /**< "shine": q = B⁻¹∇_θF from the inner L-BFGS */
    BL_SHINE_OPA,           /**< "shine-opa": plus a secant pair along B⁻¹∇_θF */
    BL_SHINE_REFINE,        /**< "shine-refine": SHINE's q as CG's start */
    BL_EXACT,               /**< "exact": dense Cholesky of H (LAPACK), small p */
    BL_METHOD_COUNT
} bl_method;

/** The name of a method ("unroll", "ift-cg", ...; "unknown" out of range). */
const char *bl_method_name(bl_method m);
/** Parses a method name; returns BL_EINVAL for an unknown one. */
bl_status bl_method_from_name(const char *name, bl_method *out);
/** 1 for the methods that run exactly K inner steps by design and
 *  differentiate them: the unroll family and inexact-ad. Their inner
 *  tolerance is off by default, and stopping at K is not "not converged". */
int bl_method_is_unroll(bl_method m);
/** 1 when the method produces a linear-system iterate q (bl_hg_q). */
int bl_method_has_q(bl_method m);
/** 1 when the method needs the lbfgs inner solver (the SHINE family). */
int bl_method_needs_lbfgs(bl_method m);
/** The inner solver a method uses when bl_hg_opts.inner is NULL. */
const bl_inner_type *bl_method_default_inner(bl_method m);
/** Writes the method names, separated by sep, into buf (for usage texts);
 *  returns the length it needed (snprintf-style). */
int bl_method_list(char *buf, size_t len, const char *sep);

/** How much a hypergradient evaluation spends on diagnostics. */
typedef enum bl_diag_level {
    BL_DIAG_FULL = 0, /**< everything in bl_diag: recomputed ‖∇_θG(θ_ε)‖, the residual
                           by one more Hvp, ‖B‖, the bounds, and the Lanczos estimate
                           (which also probes for non-positive curvature) */
    BL_DIAG_CHEAP,    /**< norms and counts the estimate already has; no extra product.
                           Bounds, B_norm and the unroll gap stay NaN */
    BL_DIAG_NONE,     /**< counts, iterations, stop reasons and seconds only */
} bl_diag_level;

/** Estimator options. Zero-initialised = defaults (listed per field). */
typedef struct bl_hg_opts {
    bl_method method;
    const bl_inner_type *inner; /**< NULL: gd for the unroll family and inexact-ad, lbfgs otherwise */
    double inner_tol;  /**< stop when ‖∇_θG‖ ≤ inner_tol; 0 = 1e-10, except the unroll
                            family and inexact-ad, which then run exactly inner_iters steps;
                            < 0 = no tolerance (run inner_iters steps). A tolerance, the
                            default one included, is a request: not meeting it gives
                            BL_ENOTCONVERGED (not for the unroll family) */
    int inner_iters;   /**< K: the iteration cap, or the step count (see inner_tol); 0 = 1000 */
    double step, momentum; /**< inner α and β; 0 = from the problem's constants */
    int memory;        /**< L-BFGS memory; 0 = 10 */
    int truncate;      /**< T of unroll-truncated; 0 = K */
    int snapshots;     /**< s of unroll-checkpointed (θ_0's slot included); 0 = 10 */
    double linear_tol; /**< stop when ‖Hq − ∇_θF‖ ≤ linear_tol; 0 = 1e-12·max(1, ‖∇_θF‖);
                            < 0 = no tolerance (run linear_iters steps). Not meeting a
                            tolerance gives BL_ENOTCONVERGED */
    int linear_iters;  /**< linear iteration cap; 0 = 1000 (CG: max(1000, 2p)) */
    double linear_step, linear_momentum; /**< α, β of ift-gd/hb/neumann; 0 = from the constants */
    const double *theta0;  /**< θ_0 of the first evaluation (p; copied), or NULL for zeros */
    size_t max_tape_bytes; /**< cap on each tape; 0 = none */
    int cold_start;        /**< bl_hg_eval: 0 (default) warm-starts θ from the previous θ_ε
                                and q from the previous q; nonzero starts every call from
                                theta0 and q = 0 */
    bl_diag_level diag_level; /**< what the diagnostics compute; 0 = BL_DIAG_FULL */
    int bound_lanczos_iters; /**< problems without constants: Lanczos steps of the estimate
                                  behind the a-posteriori bound; 0 = 30, < 0 = no estimate
                                  (the bound is then NaN) */
} bl_hg_opts;

/** Diagnostics every estimator returns. */
typedef struct bl_diag {
    bl_method method;
    int steps_estimated;     /**< bit 1: the inner step or momentum, bit 2: the linear ones
                                  came from estimated constants (the problem has none: see
                                  bl_inner_opts); the a-priori bound is then NaN */
    int produced;            /**< 1 when hg was written: BL_OK, and BL_ENOTCONVERGED,
                                  BL_ENONCONVEX or BL_ENONFINITE (diverging) results; 0
                                  after a failure, which leaves hg untouched */
    double outer_value;      /**< F(θ_ε, λ) */
    double outer_grad_norm;  /**< ‖∇_θF(θ_ε, λ)‖ (NaN where the method does not form it) */
    double value_error_bound; /**< full level, with the bound's constants: a bound on
                                   |F(θ_ε, λ) − h(λ)| ≤ ‖∇_θF(θ_ε)‖ε̂ + L_f ε̂²/2 with
                                   ε̂ = ‖∇_θG(θ_ε)‖/μ (Taylor in θ with ∇_θF L_f-Lipschitz,
                                   ‖θ_ε − θ*‖ ≤ ε̂); NaN otherwise */
    double inner_grad_norm;  /**< ‖∇_θG(θ_ε, λ)‖ */
    int inner_iters;
    bl_stop inner_stop;
    double linear_residual;  /**< ‖H(θ_ε)q − ∇_θF(θ_ε)‖ where a q exists (for unroll,
                                  unroll-generic, unroll-truncated and
                                  unroll-checkpointed: δ(q_u) with
                                  q_u of unroll_gap and θ_ε = θ_K), else NaN */
    int linear_iters;
    bl_stop linear_stop;
    bl_counts counts;        /**< gradient, Hvp and cross evaluations (the diagnostics'
                                  own products are not counted: the residual's Hvp, with
                                  the unroll family the cross of unroll_gap in the same
                                  sweep, ‖B‖ and constant estimates) */
    double seconds;          /**< wall time of the estimate */
    size_t peak_tape_bytes;
    long forward_steps;      /**< inner steps of unroll-checkpointed's schedule
                                  (= bl_checkpoint_forward_steps(K, s)); the first sweep's
                                  K − 1 of them are the inner solve itself, not repeated */
    size_t stored_doubles;   /**< doubles kept for the reverse sweep (unroll family) */
    double bound_a_posteriori; /**< a-posteriori bound on ‖estimate − ∇h‖ (bl_bound with
                                    ε = ‖∇_θG‖/μ and the measured residual). For unroll,
                                    unroll-generic, unroll-truncated and
                                    unroll-checkpointed it is
                                    unroll_gap + bl_bound(k, ε, δ(q_u), ‖q_u‖, ‖B‖): bl_bound
                                    bounds ‖h_q − ∇h‖ for any q, and the triangle inequality
                                    adds ‖h_u − h_q‖. NaN for unroll-forward (no q:
                                    forward mode never forms the adjoints c_k), and when
                                    the problem has no
                                    constants and the estimate is off or failed. Without
                                    constants it uses bl_estimate_constants (an estimate:
                                    see constants_estimated, bl_bound_label) */
    int bound_certified;     /**< 1 if the bound rests on certified constants and a certified ‖B‖ */
    double B_norm;           /**< the ‖∇²_θλG(θ_ε)‖ used by the bound (NaN if none) */
    int constants_estimated; /**< 1 when the problem has no constants and the bound uses
                                  estimates (bl_estimate_constants; bound_certified is then 0) */
    double bound_mu, bound_L; /**< the μ and L used by the bound (NaN if none) */
    double unroll_gap;       /**< unroll, unroll-generic, unroll-truncated,
                                  unroll-checkpointed: ‖h_u − h_q‖, the distance from the
                                  unrolled estimate h_u (the result) to
                                  h_q = ∇_λF(θ_K) − ∇²_λθG(θ_K) q_u, where q_u = α Σ_k c_k
                                  sums the reverse sweep's adjoints c_k over the steps it
                                  differentiates (all K, or the last T; unroll-generic reads
                                  them off its tape as −∂F/∂∇G(θ_k)). q_u is the
                                  "equivalent linear-system iterate": for G quadratic in θ
                                  (H, B constant) h_u = h_q exactly (the gap is rounding) and
                                  q_u is K (truncated: T) steps of GD / heavy ball on
                                  H q = ∇_θF from 0. The cross product behind h_q comes
                                  from the same sweep as linear_residual's Hvp.
                                  Not charged to counts. NaN for the other methods */
    double bound_a_priori;   /**< bl_bound_a_priori(k, inner scheme, N, ‖∇_θG(θ_0)‖, linear
                                  scheme, K, gF, ‖B‖) with k the constants of the
                                  a-posteriori bound (estimated ones too: then it is not
                                  certified), θ_0 the inner start (theta0 or 0), N =
                                  inner_iters and K = linear_iters (the iterations done:
                                  the rates hold whatever stopped the solvers), for:
                                  ift-gd and ift-neumann (linear GD),
                                  ift-hb (HB), ift-cg (CG), inexact-ad (the inner's scheme,
                                  K = N); inner gd, hb or nesterov with the default step and
                                  momentum (and, for ift-gd/-neumann/-hb, the default
                                  linear step and momentum). gF = ‖∇_θF(θ_ε)‖ + L_f ε̂ ≥
                                  ‖∇_θF(θ*)‖ (ε̂ = ‖∇_θG(θ_ε)‖/μ ≥ ‖θ_ε − θ*‖) and ‖B‖ is
                                  B_norm: both are measured at θ_ε, so the bound is a priori
                                  in the iteration counts only. Excludes the rounding floor.
                                  NaN for the other methods (shine*, exact, identity, the
                                  unroll family), for lbfgs / newton-cg inner, custom steps,
                                  non-positive curvature, or when bound_a_posteriori is not
                                  computed (no constants and no estimate) */
    int a_priori_certified;  /**< 1 when bound_a_priori is a proven bound: the schemes'
                                  rates are certified (bl_bound_a_priori's flag, e.g. not HB
                                  inner with L_H > 0), ‖B‖ is certified and the constants
                                  are the problem's certified ones (not estimated); else 0 */
} bl_diag;

/** "certified", "estimated" or "none" (no bound): the word every output
 *  prints beside diag->bound_a_posteriori. */
const char *bl_bound_label(const bl_diag *d);

/* ------------------------------------------------ the hypergradient context */
/* A context owns the oracle, the inner solver, the linear solver's state
 * and every buffer, and reuses them on each bl_hg_eval(): an outer loop
 * allocates nothing per step after the first. By default each evaluation
 * warm-starts θ from the previous θ_ε and q from the previous q.
 *
 * Statuses of bl_hg_eval (and bl_hypergrad). BL_OK means that every
 * tolerance asked for was met (a default tolerance counts as asked) and
 * that no check the library ran found a problem. A result that was
 * produced but failed a check still fills hg and diag:
 *   BL_ENOTCONVERGED  a requested tolerance was not met (iteration cap, or a
 *                     line search that stalled above it); the message names
 *                     the solver, its iterations and the norm reached. The
 *                     unroll family (bl_method_is_unroll) runs K steps by
 *                     design and is never "not converged" for stopping at K;
 *   BL_ENONCONVEX     non-positive curvature found by CG, Cholesky or the
 *                     Lanczos estimate of the full diagnostics (hg from the
 *                     best iterate; for "exact" from CG's, with
 *                     diag->linear_stop = BL_STOP_NONCONVEX);
 *   BL_ENONFINITE     a non-finite or diverging iterate (‖∇_θG‖ or the linear
 *                     residual grew 1e10-fold beyond max(1, its start)), or a
 *                     non-finite hg; the message names the iteration. A
 *                     diverging iterate still gives hg; a non-finite one
 *                     (NaN/Inf in θ or ∇G) does not.
 * diag->produced says whether hg was written. Any other status is a
 * failure: hg is left untouched. */

/** Opaque hypergradient context. */
typedef struct bl_hg bl_hg;

/** Creates a context for pb (which must outlive it) with the options opts
 *  (copied, theta0 too). Validates the options first: a method that needs
 *  another inner solver, negative counts and so on fail here, before any
 *  work. Returns NULL and sets *st (may be NULL) on failure;
 *  bl_hg_check() gives the message. */
bl_hg *bl_hg_new(const bl_problem *pb, const bl_hg_opts *opts, bl_status *st);
/** The validation of bl_hg_new, with a one-line message into msg (may be NULL). */
bl_status bl_hg_check(const bl_problem *pb, const bl_hg_opts *opts, char *msg, size_t msglen);
/** Frees the context; bl_hg_free(NULL) is a no-op. */
void bl_hg_free(bl_hg *h);
/** One hypergradient ∇h(λ) into hg (m entries) and diag (may be NULL) at the
 *  context's diagnostics level. See the statuses above; bl_hg_message()
 *  has the one-line message ("" after BL_OK). */
bl_status bl_hg_eval(bl_hg *h, const double *lambda, double *hg, bl_diag *diag);
/** The message of the last evaluation ("" when it returned BL_OK). */
const char *bl_hg_message(const bl_hg *h);
/** θ_ε of the last evaluation (p), or NULL when it produced none (e.g. the
 *  inner solve failed at its start). */
const double *bl_hg_theta(const bl_hg *h);
/** q of the last evaluation (p): the linear-system iterate of ift-*, exact,
 *  inexact-ad and SHINE, and for unroll, unroll-generic, unroll-truncated and
 *  unroll-checkpointed the equivalent iterate q_u (see bl_diag.unroll_gap);
 *  NULL for unroll-forward or when none was produced. */
const double *bl_hg_q(const bl_hg *h);
/** Sets the θ the next evaluation starts from (p, copied); NULL resets it to
 *  opts.theta0 (or zeros). Non-finite entries are BL_ENONFINITE. */
bl_status bl_hg_set_theta(bl_hg *h, const double *theta);
/** Sets the q the next linear solve starts from (p, copied; used by the
 *  methods whose solve can be warm-started: ift-cg, ift-gd, ift-hb); NULL
 *  resets it to 0. */
bl_status bl_hg_set_q(bl_hg *h, const double *q);
/** The context's oracle. bl_hg_eval resets its counts at the start of each
 *  evaluation, so they are the last evaluation's, diagnostics included
 *  (bl_diag.counts leaves the diagnostics' own products out). */
bl_oracle *bl_hg_oracle(bl_hg *h);
/** Changes the tolerances of the following evaluations, as the fields of
 *  bl_hg_opts say (0 = the default, < 0 = none); outer algorithms with a
 *  tolerance schedule (HOAG, the bound-controlled method) call it before
 *  each evaluation. NaN is BL_EINVAL. */
bl_status bl_hg_set_tolerances(bl_hg *h, double inner_tol, double linear_tol);
/** The options in use, defaults resolved (inner_tol −1 means none). */
const bl_hg_opts *bl_hg_options(const bl_hg *h);

/** One hypergradient with a fresh context: bl_hg_check, bl_hg_new,
 *  bl_hg_eval, bl_hg_free. Writes the one-line message into msg (may be
 *  NULL; emptied on BL_OK). */
bl_status bl_hypergrad(const bl_problem *pb, const double *lambda, const bl_hg_opts *opts,
                       double *hg, bl_diag *diag, char *msg, size_t msglen);

/** The a-posteriori error bound (Ehrhardt & Roberts 2023) for an
 *  estimate ∇_λF − cross(q) at θ_ε:
 *    ‖B‖δ/μ + [‖B‖(L_f + ‖q‖L_H)/μ + ‖q‖L_B]ε + L_B ε(δ/μ + ε(L_f + ‖q‖L_H)/μ) + L_Fλ ε
 *  where ε bounds ‖θ_ε − θ*‖ and δ bounds ‖H(θ_ε)q − ∇_θF(θ_ε)‖. With
 *  ε = ‖∇_θG(θ_ε)‖/μ and the measured δ this is the a-posteriori bound;
 *  with ε, δ from the solvers' rates it is the a-priori bound. */
double bl_bound(const bl_constants *k, double eps, double delta, double q_norm, double B_norm);

/* ------------------------------------------------------- a-priori bounds */
/* Notation: κ = L/μ, ε₀ = ‖∇_θG(θ_0)‖/μ ≥ ‖θ_0 − θ*‖ (strong convexity).
 * Each function sets *certified (may be NULL) to 1 only when the estimate is
 * a proven bound given certified constants (k->certified) and the solver's
 * default steps (those derived from μ and L; custom steps void the bound). */

/** Iterative schemes with a-priori rates. */
typedef enum bl_scheme {
    BL_SCHEME_GD = 0,   /**< gradient descent, α = 2/(L+μ) (inner gd, ift-gd, ift-neumann) */
    BL_SCHEME_HB,       /**< heavy ball, α = 4/(√L+√μ)², β = q_HB² (inner hb, ift-hb) */
    BL_SCHEME_NESTEROV, /**< Nesterov constant-step scheme, α = 1/L, β = (√L−√μ)/(√L+√μ) */
    BL_SCHEME_CG,       /**< conjugate gradient (linear solves only; ift-cg) */
    BL_SCHEME_COUNT
} bl_scheme;

/** Per-iteration contraction factor q of a scheme (NaN for bad constants):
 *    GD        q = (L−μ)/(L+μ)              = (κ−1)/(κ+1)
 *    HB, CG    q = (√L−√μ)/(√L+√μ)          = (√κ−1)/(√κ+1)
 *    Nesterov  q = √(1 − √(μ/L))            (per-step factor of the distance bound) */
double bl_rate(bl_scheme s, const bl_constants *k);

/** ε_N, a bound on ‖θ_N − θ*‖ after N inner iterations from θ_0 with
 *  ‖∇_θG(θ_0)‖ = grad0_norm:
 *    GD        ε_N = q_GD^N ε₀.  Certified for every L-smooth μ-strongly convex
 *              G (Nesterov 2004, Thm 2.1.15).
 *    HB        ε_N = (1 + (1+q)N) q_HB^N ε₀.  Proven here for quadratic G
 *              (each eigencomponent obeys x_{k+1} = (1+β−αλ)x_k − βx_{k−1},
 *              x_{−1} = x_0, whose roots have modulus √β = q for λ ∈ [μ, L],
 *              so |x_k| = q^k|sin((k+1)φ) − q sin kφ|/|sin φ|·|x_0| ≤ (1+(1+q)k)q^k|x_0|);
 *              certified only when L_H = 0 (H constant, G quadratic in θ): for
 *              non-quadratic G heavy ball with these α, β need not converge
 *              (Lessard, Recht & Packard 2016).
 *    Nesterov  ε_N = √(1+κ) (1 − √(μ/L))^{N/2} ε₀, from f(θ_N) − f* ≤
 *              (1−√(μ/L))^N (f(θ_0) − f* + μ/2‖θ_0−θ*‖²) (Nesterov 2004,
 *              Thm 2.2.3, constant step scheme III) with f(θ_0) − f* ≤ L/2·ε₀²
 *              and μ/2‖θ_N−θ*‖² ≤ f(θ_N) − f*. Certified for every smooth
 *              strongly convex G (not for FISTA's t_k sequence, i.e. step given
 *              without momentum).
 *    CG        not an inner scheme: NaN. */
double bl_inner_error_a_priori(bl_scheme s, const bl_constants *k, int N, double grad0_norm,
                               int *certified);

/** δ_K, a bound on the residual ‖Hq_K − b‖ of K iterations on H q = b from
 *  q = 0, with ‖b‖ ≤ r0 and μI ≼ H ≼ LI:
 *    GD        δ_K = q_GD^K r0   (r_K = (I − αH)^K b, ‖I − αH‖ = q_GD; this is
 *              sharper than the (L/μ) q_GD^K r0 often quoted, which also holds);
 *    HB        δ_K = (1 + (1+q)K) q_HB^K r0  (the residual obeys the recurrence
 *              of the HB inner bound above, for any symmetric H: certified);
 *    CG        δ_K = 2√κ q_HB^K r0  (‖e_K‖_H ≤ 2q^K‖e_0‖_H, ‖r‖ ≤ √L‖e‖_H,
 *              ‖e_0‖_H ≤ ‖b‖/√μ; sharper than the 2κ^{3/2} often quoted; exact
 *              arithmetic, which finite-precision CG tracks closely for the
 *              moderate κ and K where the bound is above rounding);
 *    Nesterov  not a linear scheme here: NaN.
 *  Neumann with K terms equals K GD steps: use BL_SCHEME_GD. The result is
 *  never below 0; it does not include the rounding floor (≈ 1e-16·L‖q‖). */
double bl_linear_residual_a_priori(bl_scheme s, const bl_constants *k, int K, double r0,
                                   int *certified);

/** The a-priori bound on ‖∇_λF − cross(q) − ∇h‖ for an IFT estimate after
 *  N iterations of `inner` from θ_0 and K iterations of `linear` from q = 0:
 *    ε  = bl_inner_error_a_priori(inner, k, N, grad0_norm)
 *    r0 = gF_norm + L_f ε            (≥ ‖∇_θF(θ_ε)‖; gF_norm ≥ ‖∇_θF(θ*)‖)
 *    δ  = bl_linear_residual_a_priori(linear, k, K, r0)
 *    ‖q‖ ≤ (r0 + δ)/μ                (‖q − H_ε⁻¹b‖ ≤ δ/μ, ‖H_ε⁻¹b‖ ≤ r0/μ)
 *    bl_bound(k, ε, δ, (r0 + δ)/μ, B_norm)
 *  B_norm must bound ‖∇²_θλG(θ_ε)‖ (e.g. the model's bound at θ* widened by
 *  L_B ε). When a solver stops at a tolerance instead, replace ε by
 *  max(ε, inner_tol/μ) and δ by max(δ, linear_tol). *certified is the
 *  conjunction of both schemes' flags. NaN for bad arguments. */
double bl_bound_a_priori(const bl_constants *k, bl_scheme inner, int N, double grad0_norm,
                         bl_scheme linear, int K, double gF_norm, double B_norm, int *certified);

/** Estimated constants at (θ, λ) for problems without a constants callback
 *  (bilevel/lanczos.c): μ and L are the extreme Ritz values of `iters`
 *  Lanczos steps (full reorthogonalisation, capped at p) on H(θ) — inside
 *  the spectrum, so μ may be too large and L too small; L_f is a power
 *  iteration of 8 finite differences of ∇_θF (an estimate of ‖∇²_θθF(θ)‖,
 *  not of its Lipschitz constant over a region); L_B = L_H = L_Fλ = 0 (not
 *  estimated: the bound then keeps only its first-order terms in ε).
 *  k->certified = 0. The oracle's point is left at (θ, λ). The products
 *  are counted by the oracle like any other. BL_ENONCONVEX when the
 *  smallest Ritz value is not positive. */
bl_status bl_estimate_constants(bl_oracle *o, const double *theta, const double *lambda,
                                int iters, bl_constants *k);

/** Forward steps of the binomial checkpointing schedule for l steps with s
 *  snapshots (θ_0's slot included): r·l − C(s+r, s+1), r minimal with
 *  C(s+r, s) ≥ l. Returns −1 for invalid arguments. */
long bl_checkpoint_forward_steps(long l, int s);

#ifdef __cplusplus
}
#endif

#include <hypertape/solvers.h> /* the public solver tables and their accessors */

#endif /* HYPERTAPE_BILEVEL_H */
