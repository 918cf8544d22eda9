/*
 * hypertape/outer.h — outer algorithms: solving min_λ h(λ) with
 * hypergradients, in GSL multimin's shape. An algorithm is a constant type
 * table (bl_outer_type); bl_outer_new makes its state, the caller owns the
 * loop (bl_outer_iterate), and bl_outer_solve is that loop with a budget.
 *
 * Every algorithm keeps λ in a box [lo, hi] (projection after each step),
 * reports each iteration in a bl_outer_report, and counts the work of its
 * hypergradient evaluations (gradients, Hvps, cross products, samples).
 * An evaluation hook (bl_outer_evaluate) computes the true h(λ) and
 * ‖∇h(λ)‖ by a tight solve on its own context, not charged to the
 * algorithm's time or counts.
 */
#ifndef HYPERTAPE_BILEVEL_OUTER_H
#define HYPERTAPE_BILEVEL_OUTER_H

#include <hypertape/bilevel.h>

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Opaque outer-algorithm state. */
typedef struct bl_outer bl_outer;

/** What an iteration reports (bl_outer_last). Counts and seconds are
 *  cumulative since bl_outer_set, the algorithm's own work only. */
typedef struct bl_outer_report {
    int iter;            /**< iterations done (1 after the first bl_outer_iterate) */
    double value;        /**< F at the algorithm's θ: the h it believes (NaN if none) */
    double grad_norm;    /**< ‖hypergradient estimate‖ of this iteration (NaN if none) */
    double pgrad_norm;   /**< ‖λ − P(λ − ĥ)‖, the projected-gradient norm the stop rule
                              uses (= grad_norm inside the box; NaN if none) */
    bl_counts counts;    /**< cumulative work */
    double seconds;      /**< cumulative wall time of the algorithm */
    int accepted;        /**< 1: the step was taken; 0: rejected (λ unchanged) */
    double step;         /**< the step size used (NaN for the black-box searches) */
    double inner_tol, linear_tol; /**< tolerances of this iteration's evaluations */
    double bound;        /**< a-posteriori bound on ‖estimate − ∇h‖ (NaN if not computed) */
    int bound_certified; /**< 1 when bound rests on certified constants */
    bl_status status;    /**< status of this iteration's last hypergradient evaluation */
    double best_value;   /**< the smallest value seen so far */
    size_t memory_bytes; /**< peak bytes the algorithm held during the run: its own state
                              (iterates, directions, tables, batches, samplers) plus the peak
                              tape of the oracle it evaluates with; 0 when the algorithm does
                              not report it (README, "Stochastic algorithms") */
} bl_outer_report;

/** Options of every algorithm; zero-initialised = defaults. */
typedef struct bl_outer_opts {
    bl_hg_opts hg;      /**< the estimator and its options (method, tolerances, ...);
                             diag_level 0 here means BL_DIAG_CHEAP, except for the
                             bound-controlled method, which needs BL_DIAG_FULL */
    double box_lo, box_hi; /**< λ box; both 0 = [−12, 12] (benchopt's clipping) */
    double step;        /**< hgd, adam: the step (learning rate); 0 = 1 (hgd), 0.1 (adam) */
    double decay;       /**< hgd: step_t = step / (1 + decay·t); 0 = fixed */
    double beta1, beta2, adam_eps; /**< adam: 0 = 0.9, 0.999, 1e-8 */
    int schedule;       /**< hoag: BL_HOAG_QUADRATIC, _CUBIC or _EXPONENTIAL (0) */
    double eps0;        /**< hoag: ε_0 (relative tolerance); 0 = 0.01. bound: first ε, δ;
                             0 = 1e-3 */
    double eps_factor;  /**< hoag exponential: ε_{k+1} = factor·ε_k; 0 = 0.9 */
    double bound_c;     /**< bound: require bound ≤ c·‖estimate‖; 0 = 0.5 */
    double eps_min;     /**< hoag, bound: smallest tolerance; 0 = 1e-12 */
    int grid_points;    /**< grid: points over [box_lo, box_hi]; 0 = 21 */
    uint64_t seed;      /**< random search */
    double search_tol;  /**< grid, random: inner tolerance of each point; 0 = 1e-10 */
    /* stochastic and first-order methods (each documents its defaults) */
    int batch_inner, batch_outer; /**< minibatch sizes; 0 = the algorithm's default */
    double inner_step;  /**< ρ: step of θ (and v) */
    double outer_step;  /**< γ: step of λ */
    double sched_a, sched_b; /**< ρ_t = ρ·t^{−a}, γ_t = γ·t^{−b}; 0, 0 = constant steps */
    int inner_steps;    /**< T: inner steps per outer step (StocBiO, AmIGO, F2SA, BOME) */
    int neumann_terms;  /**< Q: terms of StocBiO's stochastic Neumann series */
    int refresh;        /**< SRBA: full-batch refresh period in iterations (0 = default) */
    int sample_mode;    /**< BL_SAMPLE_REPLACE or BL_SAMPLE_EPOCHS (hypertape/sampler.h) */
    double nu0, nu_delta, xi; /**< F2SA: ν_0, the increment δ of ν, the outer scale ξ */
    double bome_eta;    /**< BOME: η of the multiplier φ = η‖∇q‖² */
} bl_outer_opts;

/** HOAG's tolerance sequences ε_k (k ≥ 1 the iteration). */
enum {
    BL_HOAG_EXPONENTIAL = 0, /**< ε_{k+1} = eps_factor·ε_k */
    BL_HOAG_QUADRATIC,       /**< ε_k = ε_0 / k² */
    BL_HOAG_CUBIC,           /**< ε_k = ε_0 / k³ */
};

/** An outer algorithm: a constant table, as GSL's minimisers. The state is
 *  state_size bytes owned by the bl_outer. A user may write one outside the
 *  library with the accessors below. */
typedef struct bl_outer_type {
    const char *name;
    size_t state_size;
    /** Once, in bl_outer_new, after the common parts exist. */
    bl_status (*alloc)(bl_outer *o, void *state);
    /** In bl_outer_set, after λ_0 (projected) and θ_0 are in place. */
    bl_status (*set)(bl_outer *o, void *state);
    /** One iteration: moves λ (bl_outer_lambda_mut, then bl_outer_project)
     *  and fills the report (bl_outer_report_mut). */
    bl_status (*iterate)(bl_outer *o, void *state);
    void (*free)(void *state);
} bl_outer_type;

extern const bl_outer_type *const bl_outer_hgd;    /**< "hgd": λ ← P(λ − α_t ĥ) */
extern const bl_outer_type *const bl_outer_adam;   /**< "adam": Adam moments on ĥ */
extern const bl_outer_type *const bl_outer_hoag;   /**< "hoag": Pedregosa 2016 */
extern const bl_outer_type *const bl_outer_bound;  /**< "bound": bound-controlled inexact descent */
extern const bl_outer_type *const bl_outer_grid;   /**< "grid": h on a grid of a common λ value */
extern const bl_outer_type *const bl_outer_random; /**< "random": h at uniform points of the box */
extern const bl_outer_type *const bl_outer_soba;    /**< "soba": Dagréou et al. 2022, one loop on (θ, v, λ) */
extern const bl_outer_type *const bl_outer_saba;    /**< "saba": SOBA with SAGA memories on the five quantities */
extern const bl_outer_type *const bl_outer_srba;    /**< "srba": Dagréou et al. 2023, SARAH with full refreshes */
extern const bl_outer_type *const bl_outer_stocbio; /**< "stocbio": Ji et al. 2021, SGD + stochastic Neumann */
extern const bl_outer_type *const bl_outer_amigo;   /**< "amigo": Arbel & Mairal 2022, warm-started SGD solves */
/* Fully first-order methods (bilevel/outer_f2sa.c, bilevel/outer_bome.c): no Hessian-vector
 * product. They keep their own θ-like iterates (from θ_0 of bl_outer_set) and count gradients
 * and samples only; their Hvp-equivalents are counts.grad + counts.hvp + counts.cross
 * (= counts.grad, hvp = cross = 0), a gradient being one unit as the bilevel layer counts an
 * H·v ≈ one gradient (one tape sweep): the `work` of bl_outer_stop. Minibatches come from two
 * samplers (hypertape/sampler.h): the inner one seeded with opts->seed, the outer one with
 * opts->seed + 0x9E3779B97F4A7C15, both in opts->sample_mode, restarted by bl_outer_set (same
 * seed, same run bitwise); a batch equal to the sample count (or a problem without minibatch
 * support) is the full batch, not sampled.
 *
 * "f2sa" (Kwon et al. 2023): z tracks argmin_θ G, y tracks argmin_θ F + νG; each iteration k
 * (t = k + 1) runs T = inner_steps (0 = 10) steps of both,
 *   z ← z − γ_t ∇_θG(z; φ_z),   y ← y − α_t (∇_θF(y; ζ_y) + ν ∇_θG(y; φ_y)),
 * then d = ∇_λF(y; ζ_x) + ν(∇_λG(y; φ_xy) − ∇_λG(z; φ_xz)), λ ← P(λ − ξα_t d), ν ← ν + δ.
 * Every gradient has its own minibatch, drawn just before it (inner: φ_z, φ_y; outer: ζ_y,
 * per inner step; then ζ_x, φ_xy, φ_xz). α = inner_step (0 = 0.1), γ = outer_step (0 = α),
 * α_t = α t^{−sched_a}, γ_t = γ t^{−sched_b}, ξ = xi (0 = 1), ν_0 = nu0 (0 = 1), δ = nu_delta
 * (0: ν fixed), batches batch_inner, batch_outer (0 = 64, at most the sample count). The
 * report: value F(y, λ; ζ_x) (the estimate on the x-step's outer batch), grad_norm ‖d‖, step
 * ξα_t. "f2sa-adam": the same with Adam on the z, y and λ updates (Kingma & Ba: raw moments
 * m ← β₁m + (1−β₁)g, v ← β₂v + (1−β₂)g², step −a·m̂/(√v̂ + ε) with m̂ = m/(1−β₁ⁱ),
 * v̂ = v/(1−β₂ⁱ), i counted from 1); the z and y moments and their count restart at every
 * outer step, λ's persist; default α = 0.001; beta1, beta2, adam_eps as for "adam".
 *
 * "bome" (Liu, Ye, Wright, Stone & Liu 2022): from θ_k, T steps θ ← θ − α∇_θG(θ; φ_t) give
 * θ^T; q̂(θ, λ) = G(θ, λ) − G(θ^T, λ) with θ^T held fixed, ∇q̂ = (∇_θG(θ_k), ∇_λG(θ_k) −
 * ∇_λG(θ^T)) on one inner batch φ, ∇f = (∇_θF, ∇_λF)(θ_k; ζ); φ_k = η‖∇q̂‖², the multiplier
 * w = max(φ_k − ⟨∇f, ∇q̂⟩, 0)/‖∇q̂‖² (0 when ∇q̂ = 0), d = ∇f + w∇q̂, θ ← θ − α d_θ,
 * λ ← P(λ − β d_λ). α = inner_step (0 = 0.1), β = outer_step (0 = α; the paper's ξ is
 * α = β), T = inner_steps (0 = 10), η = bome_eta (0 = 0.5), batches 0 = full. The report:
 * value F(θ_k, λ_k; ζ), grad_norm ‖d_λ‖, step β. */
extern const bl_outer_type *const bl_outer_f2sa, *const bl_outer_f2sa_adam, *const bl_outer_bome;

/** Name of a type. */
const char *bl_outer_type_name(const bl_outer_type *T);
/** The library's type with that name, or NULL. */
const bl_outer_type *bl_outer_type_from_name(const char *name);
/** 1 for the black-box searches (grid, random): no hypergradient, the
 *  answer is bl_outer_best_lambda, and a budget ending them is not a
 *  failure to converge. */
int bl_outer_type_is_search(const bl_outer_type *T);
/** Writes the library's type names, separated by sep, into buf; returns
 *  the length needed (snprintf-style). */
int bl_outer_type_list(char *buf, size_t len, const char *sep);

/** Creates an algorithm of type T on pb (which must outlive it) with opts
 *  (copied). Validates the options (bl_hg_check on opts->hg, the box, the
 *  algorithm's own fields). On failure returns NULL and sets *st; msg (may
 *  be NULL) gets the one-line reason. */
bl_outer *bl_outer_new(const bl_outer_type *T, const bl_problem *pb, const bl_outer_opts *opts,
                       bl_status *st, char *msg, size_t msglen);
/** Frees it; bl_outer_free(NULL) is a no-op. */
void bl_outer_free(bl_outer *o);
/** Starts at λ_0 (m; projected onto the box) and θ_0 (p, or NULL for
 *  opts->hg.theta0 / zeros): resets counts, seconds and the report. */
bl_status bl_outer_set(bl_outer *o, const double *lambda0, const double *theta0);
/** One iteration. Returns the status of its hypergradient evaluation: a
 *  result that was produced but not trusted (BL_ENOTCONVERGED, ...) still
 *  moves λ; a failure leaves λ where it was. */
bl_status bl_outer_iterate(bl_outer *o);
/** The current λ (m). */
const double *bl_outer_lambda(const bl_outer *o);
/** The best λ seen (m) by its believed value (the searches' answer). */
const double *bl_outer_best_lambda(const bl_outer *o);
/** Cumulative counts since bl_outer_set. */
bl_counts bl_outer_counts(const bl_outer *o);
/** The report of the last iteration. */
const bl_outer_report *bl_outer_last(const bl_outer *o);
/** The one-line message of the last failure ("" when none). */
const char *bl_outer_message(const bl_outer *o);
/** The type. */
const bl_outer_type *bl_outer_type_of(const bl_outer *o);

/** A budget for bl_outer_solve; zero fields are not limits, except that
 *  with no limit at all max_iters is 200. */
typedef struct bl_outer_stop {
    int max_iters;    /**< outer iterations */
    double seconds;   /**< the algorithm's wall time */
    long work;        /**< counted gradients + Hvps + cross products */
    long samples;     /**< counted sample-level evaluations */
    double tol;       /**< stop when the projected estimate ‖λ − P(λ − ĥ)‖ ≤ tol; 0 =
                           1e-8·max(1, |value|), < 0 = never */
} bl_outer_stop;

/** Called after each iteration with its report; nonzero stops the loop.
 *  Its time is not charged to the algorithm. */
typedef int (*bl_outer_monitor)(const bl_outer *o, const bl_outer_report *r, void *ctx);

/** Runs bl_outer_iterate until the budget or the tolerance. Returns BL_OK
 *  when the tolerance was met (or tol < 0 and the budget ran out, or a
 *  search finished its points or its budget: searches have no gradient),
 *  BL_ENOTCONVERGED when the budget ran out with the tolerance unmet, or
 *  the first failure of an iteration. */
bl_status bl_outer_solve(bl_outer *o, const bl_outer_stop *stop, bl_outer_monitor monitor,
                         void *ctx);

/** The evaluation hook: the true h(λ) and ‖∇h(λ)‖ at λ (m) by a tight solve
 *  (exact for p ≤ 200, else ift-cg, inner and linear tolerances 1e-11), on
 *  a context of its own: nothing is charged to o. theta_out (p, may be
 *  NULL) receives θ*(λ) for metrics such as test accuracy. */
bl_status bl_outer_evaluate(bl_outer *o, const double *lambda, double *h, double *grad_norm,
                            double *theta_out);

/* ---- for writing an algorithm (the library's own use these) ---- */

/** The problem, the options (defaults resolved) and the hypergradient
 *  context the algorithm evaluates with. */
const bl_problem *bl_outer_problem(const bl_outer *o);
const bl_outer_opts *bl_outer_options(const bl_outer *o);
bl_hg *bl_outer_hg(bl_outer *o);
/** Mutable λ (m) and the report to fill. */
double *bl_outer_lambda_mut(bl_outer *o);
bl_outer_report *bl_outer_report_mut(bl_outer *o);
/** Projects x (m) onto the box. */
void bl_outer_project(const bl_outer *o, double *x);
/** One hypergradient at λ with the context, charged to the algorithm:
 *  hg (m) and diag (may be NULL); adds the counts and records the status
 *  in the report. */
bl_status bl_outer_hypergrad(bl_outer *o, const double *lambda, double *hg, bl_diag *diag);
/** θ_0 of the last bl_outer_set (p): its theta0, else opts->hg.theta0;
 *  NULL for zeros. For algorithms that keep their own θ. */
const double *bl_outer_theta0(const bl_outer *o);
/** Marks the algorithm finished (a search with no point left):
 *  bl_outer_iterate then does nothing and bl_outer_solve stops. */
void bl_outer_set_done(bl_outer *o);
/** 1 once bl_outer_set_done was called (since bl_outer_set). */
int bl_outer_done(const bl_outer *o);
/** ‖λ − P(λ − hg)‖ (the projected-gradient norm of the report). */
double bl_outer_projected_norm(const bl_outer *o, const double *lambda, const double *hg);
/** Adds work done outside bl_outer_hypergrad (e.g. on the context's
 *  oracle) to the algorithm's counts. */
void bl_outer_charge(bl_outer *o, const bl_counts *c);
/** Records a believed value at λ for bl_outer_best_lambda. */
void bl_outer_note_value(bl_outer *o, const double *lambda, double value);
/** Sets the failure message (printf-style) and returns st. */
bl_status bl_outer_fail(bl_outer *o, bl_status st, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/** The state object of o's type (state_size bytes; NULL when 0). */
void *bl_outer_state(const bl_outer *o);

/* ---- the stochastic algorithms (soba, saba, srba, stocbio, amigo) ----
 * They keep their own θ and v (v ≈ −H⁻¹∇_θF, SOBA's sign, so that
 * D_λ = cross(v) + ∇_λF estimates ∇h) and draw minibatches from two
 * samplers (hypertape/sampler.h): the inner one seeded with opts->seed, the
 * outer one with opts->seed + 0x9E3779B97F4A7C15, both in
 * opts->sample_mode, restarted by bl_outer_set, so that the same seed
 * gives the same run bitwise. README, "Stochastic algorithms", lists the
 * defaults, the updates and the memory of each. */

/** The iterates and the directions of the last iteration of a stochastic
 *  algorithm (views into its state, valid until the next call on o). */
typedef struct bl_outer_stoch_view {
    const double *theta, *v;   /**< the algorithm's θ and v (p each) */
    const double *d_theta;     /**< D_θ of the last iteration (p; StocBiO, AmIGO: the
                                    last inner SGD step's gradient) */
    const double *d_v;         /**< D_v of the last iteration (p; StocBiO: zeros) */
    const double *d_lambda;    /**< D_λ, the hypergradient estimate (m) */
    int refreshed;             /**< SRBA: 1 when the last iteration was a full-batch refresh */
    double v_radius;           /**< SRBA: radius of the ball v is projected on (+inf: none) */
} bl_outer_stoch_view;

/** Fills *view for o of one of the five stochastic types; BL_EINVAL for
 *  another type (message in bl_outer_message). */
bl_status bl_outer_stoch_get(bl_outer *o, bl_outer_stoch_view *view);

/** The model the algorithm holds (p), for metrics such as test accuracy at
 *  its own iterate: θ of soba, saba, srba, stocbio and amigo, z (the
 *  tracker of argmin_θ G) of f2sa and f2sa-adam, θ_k of bome; NULL for the
 *  other types (they keep no θ of their own: bl_outer_evaluate gives
 *  θ*(λ)). A view into the state, valid until the next call on o. */
const double *bl_outer_model(const bl_outer *o);

/** SABA's SAGA memory of one kind: rows (n_inner or n_outer rows of p or m
 *  doubles, the last stored per-sample quantity of each sample, layout as
 *  bl_oracle_persample) and their running mean (p or m); BL_EINVAL when o
 *  is not SABA. */
bl_status bl_outer_saba_table(bl_outer *o, bl_persample_kind kind, const double **rows,
                              const double **mean);

#ifdef __cplusplus
}
#endif
#endif /* HYPERTAPE_BILEVEL_OUTER_H */
