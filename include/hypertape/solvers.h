/*
 * hypertape/solvers.h — the algorithm tables of the inner solvers and of the
 * linear solves, public as GSL's multimin types are: a user adds an inner
 * algorithm or a linear method by filling one of these constant tables
 * and passing it to bl_inner_new / bl_linsolve_new, without editing the
 * library. Included by hypertape/bilevel.h; the accessors below are what a
 * type's callbacks use (the solver objects themselves stay opaque).
 *
 * Writing an inner type: `iterate` moves θ (bl_inner_theta_mut) and must
 * leave θ, the objective's gradient and its norm current, which
 * bl_inner_eval() does; bl_inner_iterate() then counts the iteration,
 * checks the norm is finite and stores θ (keep_iterates). `set` runs after
 * θ0 is copied, the objective and its gradient are evaluated at θ0 and the
 * step and momentum are taken from the options (0 = not given): a type
 * that needs a missing one derives it with bl_inner_constants() and
 * records it with bl_inner_set_steps(). `restart` forgets the method's
 * memory (momentum, secant pairs) and keeps θ.
 *
 * Writing a linear type: `iterate` moves q (bl_linsolve_q_mut) and must
 * leave the residual norm current: bl_linsolve_update_residual() computes
 * r = Hq − b with one H·v product, or a type that updates its residual by
 * a recursion (as CG does) calls bl_linsolve_set_residual_norm().
 * bl_linsolve_iterate() then counts the iteration. `set` runs after b and
 * q0 are copied and r = Hq0 − b with its norm are computed.
 */
#ifndef HYPERTAPE_BILEVEL_SOLVERS_H
#define HYPERTAPE_BILEVEL_SOLVERS_H

#include <hypertape/bilevel.h>

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ============================================================ inner types */

/** An inner algorithm. `state` points to state_size zeroed bytes owned by
 *  the solver (NULL when state_size is 0). Every callback but iterate may
 *  be NULL. */
struct bl_inner_type {
    const char *name;   /**< e.g. "gd"; bl_inner_type_from_name knows the library's only */
    size_t state_size;  /**< bytes of per-solver state */
    /** Once, in bl_inner_new, after the common parts are allocated. */
    bl_status (*alloc)(bl_inner *s, void *state);
    /** In bl_inner_set, after θ0, the objective at θ0 and the given α, β are set. */
    bl_status (*set)(bl_inner *s, void *state);
    /** One iteration; must leave θ, the gradient and its norm current. */
    bl_status (*iterate)(bl_inner *s, void *state);
    /** Frees what alloc allocated inside state (not state itself). */
    void (*free)(void *state);
    /** Forgets momentum / secant pairs; keeps θ (bl_inner_restart). */
    void (*restart)(bl_inner *s, void *state);
    /** 1: iterate reads the objective's value (a line search), so
     *  bl_inner_eval computes it; 0: bl_inner_eval computes the gradient
     *  alone (the value costs extra work, e.g. softplus's log1p) and
     *  bl_inner_value() evaluates it on demand. */
    int uses_value;
};

/** Mutable current iterate θ (p) for a type's set/iterate. A caller who
 *  rewrites θ between iterations must call bl_inner_eval() afterwards (and
 *  usually bl_inner_restart()); bl_inner_set() is the simpler way. */
double *bl_inner_theta_mut(bl_inner *s);
/** Evaluates the solver's objective (G, or F + νG: bl_inner_opts) at the
 *  current θ: the gradient and its norm become current, and the value too
 *  when the type uses it (bl_inner_type.uses_value). */
bl_status bl_inner_eval(bl_inner *s);
/** The solver's objective at another point θ (p): value and gradient
 *  (grad p entries); either output may be NULL. Does not change the
 *  solver's state. */
bl_status bl_inner_objective(bl_inner *s, const double *theta, double *value, double *grad);
/** The objective's value at the current iterate. For a type that does not
 *  use values (gd, hb, nesterov) it is evaluated here on first call after
 *  each iterate (one more value evaluation in the oracle's counts); NaN if
 *  that evaluation fails (the oracle's message says why). */
double bl_inner_value(bl_inner *s);
/** The oracle the solver evaluates with. */
bl_oracle *bl_inner_oracle(const bl_inner *s);
/** λ of the solve (m), as given to bl_inner_set. */
const double *bl_inner_lambda(const bl_inner *s);
/** The options the solver was created with. */
const bl_inner_opts *bl_inner_options(const bl_inner *s);
/** Records the step α and momentum β the type uses (bl_inner_step and
 *  bl_inner_momentum report them; unrolling reads them). */
void bl_inner_set_steps(bl_inner *s, double step, double momentum);
/** μ and L of the solver's objective at (θ, λ), for deriving a missing
 *  step or momentum (`missing` names it in the error message, e.g.
 *  "step"): from the problem's constants callback at λ, or, when the
 *  problem has none or the callback fails, estimated at the current θ
 *  (bl_inner_set: θ0) by Lanczos on H·v with the safety margin documented
 *  at bl_inner_opts; bl_inner_steps_estimated() is then 1. For F + νG:
 *  L = L_f + νL_G and μ = νμ_G − L_f (∇²F ≽ −L_f I), BL_EINVAL when that
 *  μ is not positive. The oracle's point is dropped when it estimates. */
bl_status bl_inner_constants(bl_inner *s, const char *missing, bl_constants *k);

/* ===================================================== linear solve types */

/** A linear method on H q = b (H = ∇²_θθG at the oracle's point). `state`
 *  points to state_size zeroed bytes owned by the solver. Every callback
 *  but iterate may be NULL. */
struct bl_linsolve_type {
    const char *name;   /**< e.g. "cg" */
    size_t state_size;  /**< bytes of per-solver state */
    /** Once, in bl_linsolve_new, after the common parts are allocated. */
    bl_status (*alloc)(bl_linsolve *s, void *state);
    /** In bl_linsolve_set, after b, q0 and r = Hq0 − b (with its norm) are set
     *  and the given step and momentum are read from the options. */
    bl_status (*set)(bl_linsolve *s, void *state);
    /** One iteration; must leave q and the residual norm current. */
    bl_status (*iterate)(bl_linsolve *s, void *state);
    /** Frees what alloc allocated inside state (not state itself). */
    void (*free)(void *state);
    /** Forgets the method's memory, keeps q (bl_linsolve_restart). */
    bl_status (*restart)(bl_linsolve *s, void *state);
};

/** Mutable current iterate q (p) for a type's set/iterate/restart. */
double *bl_linsolve_q_mut(bl_linsolve *s);
/** The right-hand side b (p), copied by bl_linsolve_set. */
const double *bl_linsolve_b(const bl_linsolve *s);
/** The residual vector r = Hq − b (p) as last computed by bl_linsolve_set
 *  or bl_linsolve_update_residual (types with their own recursion may let
 *  it go stale). */
const double *bl_linsolve_resvec(const bl_linsolve *s);
/** r = Hq − b at the current q with one H·v product; sets the residual norm. */
bl_status bl_linsolve_update_residual(bl_linsolve *s);
/** Sets the residual norm reported by bl_linsolve_residual (types that
 *  update the residual by a recursion). */
void bl_linsolve_set_residual_norm(bl_linsolve *s, double rn);
/** Marks the solve as exact (e.g. CG's residual recursion reached 0): no
 *  further iteration is possible and bl_linsolve_solve stops ("tolerance").
 *  Cleared by bl_linsolve_set. */
void bl_linsolve_set_exact(bl_linsolve *s);
/** The oracle the solver multiplies with. */
bl_oracle *bl_linsolve_oracle(const bl_linsolve *s);
/** The options the solver was created with. */
const bl_linear_opts *bl_linsolve_options(const bl_linsolve *s);
/** Records the step α and momentum β the type uses (reported by
 *  bl_linsolve_step / bl_linsolve_momentum and bl_linear_result). */
void bl_linsolve_set_steps(bl_linsolve *s, double step, double momentum);
/** μ and L of H at the oracle's point, for deriving a missing step or
 *  momentum (`missing` names it in the error message): from the problem's
 *  constants callback at the point's λ, or, when the problem has none or
 *  the callback fails, estimated by Lanczos on H·v at the point with the
 *  safety margin documented at bl_linear_opts; bl_linsolve_steps_estimated()
 *  is then 1. The point is kept. */
bl_status bl_linsolve_constants(bl_linsolve *s, const char *missing, bl_constants *k);

#ifdef __cplusplus
}
#endif
#endif /* HYPERTAPE_BILEVEL_SOLVERS_H */
