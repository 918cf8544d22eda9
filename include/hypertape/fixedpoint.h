/*
 * hypertape/fixedpoint.h — fixed-point (DEQ) inner problems: the inner
 * variable is a root θ* = f_λ(θ*) of g(θ) = θ − f_λ(θ), not a minimiser
 * (README, "Fixed-point (DEQ) problems"). The outer loss L(θ, λ) is
 * recorded like F of a bl_problem, and the hypergradient is
 *   ∇h(λ) = ∇_λL + (∂_λf)ᵀu,   (I − ∂_θf)ᵀ u = ∇_θL   at θ*.
 *
 * Layers, as in hypertape/bilevel.h: the oracle (g, JVP ∂_θf·v, VJP uᵀ∂_θf
 * and uᵀ∂_λf from one reverse sweep, the loss and its gradients); root
 * solvers as GSL-style constant types with state objects (the caller may
 * own the loop); the nonsymmetric linear solves of the backward equation
 * (GMRES, BiCGStab, fixed-point iteration on u); and the hypergradient
 * context bl_fphg with the backward estimators (IFT, unroll,
 * Jacobian-free, SHINE, SHINE-refine, exact). Statuses follow bilevel.h
 * ("the hypergradient context"): BL_OK, BL_ENOTCONVERGED (a result, but a
 * requested tolerance was not met), BL_ENONFINITE (a non-finite iterate or
 * result), any other status is a failure.
 */
#ifndef HYPERTAPE_BILEVEL_FIXEDPOINT_H
#define HYPERTAPE_BILEVEL_FIXEDPOINT_H

#include <hypertape/bilevel.h>

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ================================================================ problem */

/** Records f_λ(θ) on tape t and returns its p×1 value; θ is a p×1 and λ an
 *  m×1 value on t (leaves). */
typedef ad_var (*bl_fp_map_fn)(ad_tape *t, ad_var theta, ad_var lambda, void *ctx);
/** Records the outer loss L(θ, λ) on tape t and returns its 1×1 value. */
typedef ad_var (*bl_fp_loss_fn)(ad_tape *t, ad_var theta, ad_var lambda, void *ctx);

/** A fixed-point problem: θ* = f_λ(θ*), outer loss L(θ*, λ). */
typedef struct bl_fp_problem {
    const char *name;   /**< short name, e.g. "deq" */
    int p, m;           /**< sizes of θ and λ */
    bl_fp_map_fn f;     /**< the map f_λ(θ) (p×1) */
    bl_fp_loss_fn L;    /**< the outer loss (1×1) */
    double rho;         /**< a contraction constant: ‖∂_θf‖ ≤ rho < 1 at every θ (operator
                             norm); ≤ 0 or NaN: unknown (the bounds are then NaN) */
    void *ctx;          /**< the model's data, passed to f and L */
} bl_fp_problem;

/* ================================================================ oracle */

/** Evaluation counts of a fixed-point oracle. */
typedef struct bl_fp_counts {
    long f;    /**< recordings of f (value-only evaluations and points) */
    long jvp;  /**< products ∂_θf·v */
    long vjp;  /**< products uᵀ∂_θf (with uᵀ∂_λf from the same sweep) */
    long loss; /**< loss evaluations (value and gradients) */
} bl_fp_counts;

/** Opaque oracle of a bl_fp_problem, all on one ad tape. Errors follow
 *  bl_oracle's rules (bilevel.h, "Errors"): the first failure is kept with
 *  its one-line message until bl_fp_oracle_clear_error(). */
typedef struct bl_fp_oracle bl_fp_oracle;

/** Creates the oracle of pb (which must outlive it); max_tape_bytes caps
 *  the tape (0 = none). NULL when out of memory or pb is invalid. */
bl_fp_oracle *bl_fp_oracle_new(const bl_fp_problem *pb, size_t max_tape_bytes);
/** Frees the oracle; NULL is a no-op. */
void bl_fp_oracle_free(bl_fp_oracle *o);
/** The problem of the oracle. */
const bl_fp_problem *bl_fp_oracle_problem(const bl_fp_oracle *o);
/** Status of the first failure kept (BL_OK when none). */
bl_status bl_fp_oracle_error(const bl_fp_oracle *o);
/** Its one-line message ("" when none). */
const char *bl_fp_oracle_message(const bl_fp_oracle *o);
/** Forgets the kept failure. */
void bl_fp_oracle_clear_error(bl_fp_oracle *o);
/** Counts since creation or the last bl_fp_oracle_reset(). */
bl_fp_counts bl_fp_oracle_counts(const bl_fp_oracle *o);
/** Peak tape bytes since creation or the last reset. */
size_t bl_fp_oracle_peak_bytes(const bl_fp_oracle *o);
/** Zeroes the counts and the peak. */
void bl_fp_oracle_reset(bl_fp_oracle *o);
/** g = θ − f_λ(θ) (p) and, when fval is non-NULL, f_λ(θ) (p). Counts one f.
 *  Drops the current point. */
bl_status bl_fp_oracle_g(bl_fp_oracle *o, const double *theta, const double *lambda, double *g,
                         double *fval);
/** L(θ, λ) into *value and, when non-NULL, ∇_θL (p) and ∇_λL (m). Counts one
 *  loss. Drops the current point. */
bl_status bl_fp_oracle_loss(bl_fp_oracle *o, const double *theta, const double *lambda,
                            double *value, double *g_theta, double *g_lambda);
/** Records f at (θ, λ) once for the following products (counts one f);
 *  fval (p) may receive f_λ(θ). */
bl_status bl_fp_oracle_point(bl_fp_oracle *o, const double *theta, const double *lambda,
                             double *fval);
/** At the point: out = ∂_θf·v (p), one forward sweep. */
bl_status bl_fp_oracle_jvp(bl_fp_oracle *o, const double *v, double *out);
/** At the point: out_theta = (∂_θf)ᵀu (p) and out_lambda = (∂_λf)ᵀu (m) from
 *  one reverse sweep; either output may be NULL (not both). */
bl_status bl_fp_oracle_vjp(bl_fp_oracle *o, const double *u, double *out_theta,
                           double *out_lambda);

/* ========================================================== root solvers */
/* GSL-style like the inner solvers (hypertape/solvers.h): an algorithm is a
 * constant table; the solver is a state object; the caller may own the loop
 * (bl_root_iterate, bl_root_converged) or call bl_root_solve. Each
 * iteration evaluates g at the new iterate, so bl_root_residual() is
 * always current. */

/** Opaque root solver state. */
typedef struct bl_root bl_root;

/** A root algorithm. `state` points to state_size zeroed bytes owned by the
 *  solver. Every callback but iterate may be NULL. */
typedef struct bl_root_type {
    const char *name;                           /**< "fixed", "anderson", "broyden" */
    size_t state_size;                          /**< bytes of per-solver state */
    bl_status (*alloc)(bl_root *s, void *state); /**< once, in bl_root_new */
    bl_status (*set)(bl_root *s, void *state);   /**< after θ0 and g(θ0) are set */
    bl_status (*iterate)(bl_root *s, void *state); /**< must leave θ, g, ‖g‖ current */
    void (*free)(void *state);                  /**< frees what alloc allocated */
} bl_root_type;

extern const bl_root_type *const bl_root_fixed;    /**< θ ← (1−β)θ + βf(θ) (β = damping) */
extern const bl_root_type *const bl_root_anderson; /**< Anderson acceleration (type II), memory m */
extern const bl_root_type *const bl_root_broyden;  /**< good Broyden, limited memory, inverse updates */

/** Name of a type. */
const char *bl_root_type_name(const bl_root_type *T);
/** The library's type with that name ("fixed", "anderson", "broyden"), or NULL. */
const bl_root_type *bl_root_type_from_name(const char *name);

/** Root solver options; zero = defaults. */
typedef struct bl_root_opts {
    double damping;    /**< β ∈ (0, 1]: fixed-point and Anderson mixing, Broyden's step
                            scale; 0 = 1 */
    int memory;        /**< Anderson: past residuals (0 = 5); Broyden: rank-one inverse
                            updates kept (0 = 30; when full, the oldest is dropped) */
    double regularization; /**< Anderson: Tikhonov term of its least squares, relative to
                                the largest diagonal entry; 0 = 1e-10 */
    int keep_iterates; /**< nonzero: store θ_0, θ_1, ... (unroll) */
} bl_root_opts;

/** Allocates a solver of type T on o. NULL on failure, with *st (may be NULL)
 *  set and the message in bl_fp_oracle_message(o). */
bl_root *bl_root_new(const bl_root_type *T, bl_fp_oracle *o, const bl_root_opts *opts,
                     bl_status *st);
/** Frees the solver; NULL is a no-op. */
void bl_root_free(bl_root *s);
/** Starts at θ0 (NULL = zeros) for λ (both copied); evaluates g(θ0). Forgets
 *  the method's memory. */
bl_status bl_root_set(bl_root *s, const double *theta0, const double *lambda);
/** One iteration; afterwards θ, g and ‖g‖ are current. BL_ENONFINITE when
 *  the new g is not finite. */
bl_status bl_root_iterate(bl_root *s);
/** 1 when ‖g(θ)‖ ≤ eps, else 0. */
int bl_root_converged(const bl_root *s, double eps);
/** Iterates until ‖g‖ ≤ eps or max_iters iterations (eps < 0: exactly
 *  max_iters). BL_ENOTCONVERGED (with a message naming the solver, its
 *  iterations and ‖g‖) when eps ≥ 0 was not met. */
bl_status bl_root_solve(bl_root *s, double eps, int max_iters);
/** Current iterate θ (p). */
const double *bl_root_theta(const bl_root *s);
/** g(θ) = θ − f(θ) at the current iterate (p). */
const double *bl_root_g(const bl_root *s);
/** ‖g(θ)‖ at the current iterate. */
double bl_root_residual(const bl_root *s);
/** Iterations since bl_root_set. */
int bl_root_iters(const bl_root *s);
/** Stored iterate θ_k, 0 ≤ k ≤ iters (keep_iterates), else NULL. */
const double *bl_root_iterate_at(const bl_root *s, int k);
/** The type of the solver. */
const bl_root_type *bl_root_type_of(const bl_root *s);
/** The options in use (defaults resolved). */
const bl_root_opts *bl_root_options(const bl_root *s);
/** λ of the solve (m). */
const double *bl_root_lambda(const bl_root *s);
/** The oracle of the solver. */
bl_fp_oracle *bl_root_oracle(const bl_root *s);
/** Mutable θ for a type's callbacks; call bl_root_eval() after changing it. */
double *bl_root_theta_mut(bl_root *s);
/** Evaluates g at the current θ (g and ‖g‖ become current). */
bl_status bl_root_eval(bl_root *s);

/** Broyden only: out = H·x (transpose 0) or Hᵀ·x (transpose 1), H = B⁻¹
 *  the inverse-Jacobian estimate of g, H = I + Σ_i a_i b_iᵀ over the kept
 *  updates. BL_EINVAL for other solvers. x and out may alias. */
bl_status bl_root_broyden_apply(const bl_root *s, int transpose, const double *x, double *out);
/** Broyden only: the rank-one update that makes H·y = s (the good-Broyden
 *  inverse update by Sherman–Morrison): the one each iteration makes with
 *  s = Δθ, y = Δg, public for extra secant conditions (e.g. the seed's
 *  OPA). Skipped (returns BL_OK) when |sᵀHy| ≤ 1e-14‖s‖‖Hy‖. */
bl_status bl_root_broyden_update(bl_root *s, const double *step, const double *dg);
/** Broyden only: the number of rank-one updates kept (0 for other solvers). */
int bl_root_broyden_rank(const bl_root *s);

/* ================================================ the backward linear solve */

/** Methods for (I − ∂_θf)ᵀ u = b at the oracle's point (a nonsymmetric
 *  system: CG does not apply). */
typedef enum bl_fp_linear {
    BL_FP_LIN_GMRES = 0, /**< restarted GMRES(r), modified Gram–Schmidt, Givens rotations */
    BL_FP_LIN_BICGSTAB,  /**< BiCGStab (van der Vorst 1992): two products per iteration */
    BL_FP_LIN_FIXED,     /**< u ← ∂_θfᵀu + b: converges when f is a contraction */
    BL_FP_LIN_COUNT
} bl_fp_linear;

/** "gmres", "bicgstab", "fixed" ("unknown" out of range). */
const char *bl_fp_linear_name(bl_fp_linear m);
/** Parses a linear method name; BL_EINVAL for an unknown one. */
bl_status bl_fp_linear_from_name(const char *name, bl_fp_linear *out);

/** Linear solve options; zero = defaults. */
typedef struct bl_fp_linear_opts {
    double tol;    /**< stop when ‖(I − Jᵀ)u − b‖ ≤ tol (absolute); 0 = run max_iters */
    int max_iters; /**< products budget in iterations; 0 = 200 */
    int restart;   /**< GMRES restart length; 0 = 30 */
} bl_fp_linear_opts;

/** What a linear solve did. */
typedef struct bl_fp_linear_result {
    int iters;       /**< iterations (GMRES: inner steps; BiCGStab: full iterations) */
    double residual; /**< ‖(I − Jᵀ)u − b‖ at the returned u, the method's own value:
                          GMRES's least-squares residual (the true one after a restart),
                          BiCGStab's recursion, the fixed-point iteration's exact one */
    bl_stop stop;    /**< tolerance, iteration cap, or diverged */
} bl_fp_linear_result;

/** Solves (I − ∂_θf)ᵀ u = b (p) from the start u (in/out; p entries) at the
 *  oracle's point with VJP products. BL_ENOTCONVERGED when tol > 0 was not
 *  met, BL_ENONFINITE when the iterates diverged or became non-finite. */
bl_status bl_fp_linear_solve(bl_fp_oracle *o, bl_fp_linear method, const double *b, double *u,
                             const bl_fp_linear_opts *opts, bl_fp_linear_result *res);

/* ====================================================== hypergradients */

/** Backward estimators of a fixed-point problem. */
typedef enum bl_fp_method {
    BL_FP_IFT = 0,        /**< "ift": (I − ∂_θf)ᵀu = ∇_θL by bl_fp_hg_opts.linear */
    BL_FP_UNROLL,         /**< "unroll": reverse sweep through K fixed-point iterations */
    BL_FP_JACOBIAN_FREE,  /**< "jacobian-free": u = ∇_θL (Fung et al. 2022) */
    BL_FP_SHINE,          /**< "shine": u = Hᵀ∇_θL with H = B⁻¹ from Broyden */
    BL_FP_SHINE_REFINE,   /**< "shine-refine": SHINE's u as the start of the linear solve */
    BL_FP_EXACT,          /**< "exact": ∂_θf by p JVPs, dense LU with partial pivoting */
    BL_FP_METHOD_COUNT
} bl_fp_method;

/** Name of a method ("unknown" out of range). */
const char *bl_fp_method_name(bl_fp_method m);
/** Parses a method name; BL_EINVAL for an unknown one. */
bl_status bl_fp_method_from_name(const char *name, bl_fp_method *out);

/** Largest p the exact method accepts. */
#define BL_FP_EXACT_MAX_P 4096

/** Options of the fixed-point hypergradient; zero = defaults. */
typedef struct bl_fp_hg_opts {
    bl_fp_method method;
    const bl_root_type *root; /**< NULL: broyden, fixed for unroll (unroll needs fixed;
                                   shine and shine-refine need broyden) */
    double root_tol;   /**< ‖g‖ ≤ root_tol; 0 = 1e-10 (unroll: none, exactly root_iters
                            steps); < 0 = none */
    int root_iters;    /**< K: the cap, or unroll's step count; 0 = 200 */
    double damping;    /**< bl_root_opts.damping */
    int memory;        /**< bl_root_opts.memory */
    bl_fp_linear linear;  /**< ift and shine-refine: the method; 0 = GMRES */
    double linear_tol; /**< 0 = 1e-10·max(1, ‖∇_θL‖); < 0 = none (run linear_iters) */
    double linear_rtol; /**< > 0: a relative tolerance instead, the solve stops at
                             ‖residual‖ ≤ max(linear_tol, linear_rtol·‖∇_θL‖) */
    int linear_iters;  /**< 0 = 200 */
    int restart;       /**< GMRES restart; 0 = 30 */
    const double *theta0; /**< θ_0 (p, copied) or NULL for zeros */
    int cold_start;    /**< nonzero: every evaluation starts from theta0 (default: warm,
                            from the previous θ) */
    size_t max_tape_bytes; /**< tape cap; 0 = none */
} bl_fp_hg_opts;

/** Diagnostics of one fixed-point hypergradient. */
typedef struct bl_fp_diag {
    bl_fp_method method;
    int produced;            /**< 1 when hg was written */
    double loss;             /**< L(θ_ε, λ) */
    double forward_residual; /**< ‖g(θ_ε)‖ */
    int forward_iters;       /**< root iterations */
    bl_stop forward_stop;
    double backward_residual;/**< ‖(I − ∂_θf)ᵀu − ∇_θL‖ at θ_ε, from the VJP that gives
                                  (∂_λf)ᵀu (no extra product); NaN for unroll */
    int backward_iters;      /**< linear iterations (ift, shine-refine) or unroll's K */
    bl_stop backward_stop;
    bl_fp_counts counts;     /**< all evaluations of this call */
    long backward_products;  /**< JVP + VJP products of the backward pass (the final
                                  (∂_λf)ᵀu included) */
    double forward_seconds, backward_seconds;
    size_t peak_tape_bytes;
    double rho;              /**< the problem's contraction constant (NaN if unknown) */
    double theta_bound;      /**< ‖θ_ε − θ*‖ ≤ ‖g(θ_ε)‖/(1 − ρ) (NaN if ρ unknown) */
    double u_bound;          /**< ‖u − u_ε‖ ≤ backward_residual/(1 − ρ), u_ε the exact
                                  solution at θ_ε (NaN if ρ unknown or no residual) */
    double u_norm;           /**< ‖u‖ (NaN for unroll) */
} bl_fp_diag;

/** The a-posteriori bound of a contraction: with ‖∂_θf‖ ≤ ρ < 1 the operator
 *  (I − ∂_θf)ᵀ has an inverse of norm ≤ 1/(1 − ρ), so an approximate solution
 *  with this residual is within residual/(1 − ρ) of the exact one (the same
 *  for θ and ‖g(θ)‖). NaN when ρ ∉ (0, 1) or residual is not finite. */
double bl_fp_contraction_bound(double residual, double rho);

/** Opaque fixed-point hypergradient context: owns the oracle, the root
 *  solver and the buffers of every method (exact's p×p matrices on first
 *  use); only the iterative backward solves (ift, shine-refine) allocate
 *  their workspace per evaluation, in bl_fp_linear_solve. */
typedef struct bl_fphg bl_fphg;

/** Validates opts for pb with a one-line message into msg (may be NULL). */
bl_status bl_fphg_check(const bl_fp_problem *pb, const bl_fp_hg_opts *opts, char *msg,
                        size_t msglen);
/** Creates a context (NULL with *st set on failure; bl_fphg_check gives the
 *  message of a validation failure). */
bl_fphg *bl_fphg_new(const bl_fp_problem *pb, const bl_fp_hg_opts *opts, bl_status *st);
/** Frees the context; NULL is a no-op. */
void bl_fphg_free(bl_fphg *h);
/** One hypergradient at λ into hg (m) and diag (may be NULL). Statuses as in
 *  the header comment; bl_fphg_message() has the message. */
bl_status bl_fphg_eval(bl_fphg *h, const double *lambda, double *hg, bl_fp_diag *diag);
/** The message of the last evaluation ("" after BL_OK). */
const char *bl_fphg_message(const bl_fphg *h);
/** θ_ε of the last evaluation (p) or NULL. */
const double *bl_fphg_theta(const bl_fphg *h);
/** u of the last evaluation (p) or NULL (unroll has none). */
const double *bl_fphg_u(const bl_fphg *h);
/** Sets the start of the next evaluation (p, copied); NULL: opts.theta0 or zeros. */
bl_status bl_fphg_set_theta(bl_fphg *h, const double *theta);
/** The context's oracle. */
bl_fp_oracle *bl_fphg_oracle(bl_fphg *h);
/** The context's root solver (its state after the last evaluation: for
 *  Broyden, the inverse estimate SHINE used). */
bl_root *bl_fphg_root(bl_fphg *h);

#ifdef __cplusplus
}
#endif
#endif /* HYPERTAPE_BILEVEL_FIXEDPOINT_H */
