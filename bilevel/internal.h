/*
 * bilevel/internal.h — private structures of the bilevel layer: the inner
 * and linear solver objects, the estimator run, and small vector helpers.
 * Not installed.
 */
#ifndef HYPERTAPE_BILEVEL_INTERNAL_H
#define HYPERTAPE_BILEVEL_INTERNAL_H

#include <hypertape/bilevel.h>

#include <cblas.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>

/* The inner solver object shared by every inner algorithm (the algorithm
 * tables, struct bl_inner_type, are public: hypertape/solvers.h). */
struct bl_inner {
    const bl_inner_type *type;
    void *state;
    bl_oracle *o;
    int p, m;
    bl_inner_opts opts;
    double *theta, *grad, *lambda; /* current θ (p), ∇(objective)(θ) (p), λ (m) */
    double *gG;                    /* p: ∇_θG while evaluating F + νG */
    double value, gnorm;
    int value_ok;                  /* value is that of the current θ (see uses_value) */
    int iters;
    double alpha, beta;            /* step and momentum in use */
    int stalled;                   /* a line search found no decrease */
    int estimated;                 /* α or β derived from estimated constants */
    double *traj;                  /* θ_0..θ_iters when opts.keep_iterates */
    int traj_cap;
};

/* The resumable linear solver object (struct bl_linsolve_type is public). */
struct bl_linsolve {
    const bl_linsolve_type *type;
    void *state;
    bl_oracle *o;
    int p;
    bl_linear_opts opts;
    double *q, *b, *r;   /* iterate, right-hand side, r = Hq − b (p each) */
    double rn;           /* residual norm reported */
    int iters;
    double alpha, beta;  /* step and momentum in use */
    int estimated;       /* α or β derived from estimated constants */
    int exact;           /* the method reached the exact solution */
};

/* Records θ as iterate number s->iters (keep_iterates). */
bl_status bl__inner_keep(bl_inner *s);
/* Makes room for `need` rows of p doubles in *traj (bilevel/inner.c),
 * doubling the capacity *cap from `first`: 0, or the capacity (rows) that
 * could not be allocated (*traj, *cap unchanged). */
int bl__traj_grow(double **traj, int *cap, int need, int first, int p);
/* dst (n) = src, or zeros when src is NULL. */
static inline void bl__copy_or_zero(int n, const double *src, double *dst)
{
    if (src)
        memcpy(dst, src, (size_t)n * sizeof *dst);
    else
        memset(dst, 0, (size_t)n * sizeof *dst);
}
/* λ of the oracle's current point (bl_oracle_point), or NULL. */
const double *bl__oracle_lambda(const bl_oracle *o);
/* Forgets the current point: rewinds the tape to its base mark and clears
 * has_point, so that following first-order calls record on an empty tape
 * instead of on top of a second-order recording that is no longer needed
 * (which would double the peak tape). A no-op without a point. */
void bl__oracle_drop_point(bl_oracle *o);
/* Backtracking from θ0 along −d (slope = −∇Gᵀd < 0), first step t: sets
 * θ = θ0 − t·d with Armijo decrease, or, when the decrease is below rounding
 * of G, with a smaller gradient norm. After 50 halvings θ stays at θ0 and
 * s->stalled is set. s->value, s->grad, s->gnorm are those of θ0 on entry. */
bl_status bl__line_search(bl_inner *s, const double *d, double slope, double t, double *th0);
/* BL_EINVAL naming the index and its position when a batch index is
 * outside [0, n) of its side (outer: F's samples), or n <= 0 with idx set. */
bl_status bl__oracle_check_batch(bl_oracle *o, const char *what, int outer, const bl_batch *b);
/* BL_EINVAL when x is NULL, BL_ENONFINITE naming the first NaN/Inf entry. */
bl_status bl__check_finite(bl_oracle *o, const char *what, const char *name, const double *x, int n);
/* Overwrites the oracle's counts (persample.c charges its own way). */
void bl__oracle_set_counts(bl_oracle *o, const bl_counts *c);
/* The bl code that keeps an ad code's meaning (see bilevel.h, "Errors"). */
bl_status bl__from_ad(ad_status s);
/* Records st and its message (printf-style) as the oracle's failure unless
 * one is already recorded (the first failure is kept), and returns st. */
bl_status bl__fail(bl_oracle *o, bl_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Lanczos steps and safety factor on L_est (and on the L_f estimate) behind
 * estimated default steps (documented at bl_inner_opts). */
#define BL__STEP_LANCZOS_ITERS 30
#define BL__STEP_L_MARGIN 1.5
/* μ, L (and L_f when need_Lf) behind a missing default step (bilevel/steps.c):
 * the problem's constants at λ (validated: 0 < μ ≤ L < ∞), or, when it has
 * no callback or the callback fails, estimates with the margin above. For
 * the estimate theta non-NULL sets the oracle's point (θ, λ) first (and
 * leaves it there), theta NULL uses the current point (need_Lf needs
 * theta). *estimated says which. who ("inner gd", "linear hb") and missing
 * ("step", "momentum") name the failure in the message. */
bl_status bl__step_constants(bl_oracle *o, const char *who, const char *missing,
                             const double *theta, const double *lambda, int need_Lf,
                             bl_constants *k, int *estimated);
/* Extreme Ritz values lo ≤ hi of H at the oracle's current point after up
 * to `iters` Lanczos steps (bilevel/lanczos.c); BL_ENONCONVEX with a
 * message when lo is not positive. */
bl_status bl__estimate_spectrum(bl_oracle *o, int iters, double *lo, double *hi);

/* out = B⁻¹v by the L-BFGS two-loop recursion over `count` pairs (S, Y
 * count×p, oldest first) with B₀⁻¹ = γI, γ = sᵀy/yᵀy of the newest pair
 * (γ = 1 without pairs). work holds count doubles. */
void bl__lbfgs_apply(int p, int count, const double *S, const double *Y, const double *v,
                     double *out, double *work);

/* One hypergradient evaluation in progress (bilevel/hg.c): views into the
 * context's persistent buffers plus the per-call bookkeeping. */
typedef struct bl__method bl__method;
typedef struct bl_run {
    const bl_problem *pb;
    bl_hg_opts o;         /* options with defaults resolved */
    const bl__method *M;  /* the method's descriptor (bilevel/methods.c) */
    bl_oracle *orc;
    bl_inner *in;         /* the context's inner solver (NULL for unroll-generic) */
    bl_linsolve *ls;      /* the context's linear solver (NULL for methods without one) */
    int p, m;
    const double *lambda; /* m */
    const double *theta0; /* the inner start: the previous θ_ε (warm), opts.theta0 or NULL */
    double *theta;        /* θ_ε (p) */
    int theta_ok;         /* 1 once θ_ε has been computed into theta */
    double *b, *gl;       /* ∇_θF(θ_ε) (p), ∇_λF(θ_ε) (m) */
    double *q;            /* p; meaningful when has_q */
    int has_q;            /* 1 when q holds the method's q (residual, bound, bl_hg_q) */
    int q_warm;           /* 1 when q holds a warm start for the linear solve (else start from 0) */
    int q_equiv;          /* 1 when q is the unroll family's equivalent linear-system
                             iterate q_u: hg is the unrolled estimate, not ∇_λF − cross(q),
                             and the diagnostics measure the gap between the two */
    double grad0_norm;    /* ‖∇_θG(θ_0)‖ after bl_inner_set (NaN until known) */
    int diverged;         /* inner iteration at which ‖∇_θG‖ blew up (0: none) */
    double *hg;           /* m, the result (the context's buffer, copied out when produced) */
    double *work;         /* p + m doubles for the diagnostics */
    bl_diag *d;
    bl_diag_level level;
    size_t extra_peak;    /* peak bytes of tapes other than the oracle's */
    bl_counts extra;      /* evaluations done outside the oracle (unroll-generic) */
} bl_run;

/* An estimator's descriptor: one row of the table in bilevel/methods.c. */
enum {
    BL__MF_UNROLL = 1 << 0,   /* runs exactly K inner steps by design (unroll family, inexact-ad) */
    BL__MF_KEEP = 1 << 1,     /* the inner solver stores its iterates */
    BL__MF_HAS_Q = 1 << 2,    /* produces a linear-system iterate q */
    BL__MF_LBFGS = 1 << 3,    /* needs the lbfgs inner solver (its secant pairs) */
    BL__MF_GD_HB = 1 << 4,    /* needs the gd or hb inner solver (differentiates its steps) */
    BL__MF_OWN_LOOP = 1 << 5, /* runs the inner loop itself */
    BL__MF_WARM_Q = 1 << 6,   /* its linear solve can start from the previous q */
};
enum { BL__LIN_NONE = -1 };                            /* no iterative linear solve */
enum { BL__SCHEME_NONE = -1, BL__SCHEME_INNER = -2 };  /* a-priori: none, or the inner's scheme */
struct bl__method {
    const char *name;
    bl_status (*fn)(bl_run *r);        /* fills r->hg (and r->q when it has one) */
    unsigned flags;
    const bl_inner_type *const *inner; /* the default inner solver */
    int linear;                        /* bl_linear of its solve, or BL__LIN_NONE */
    int apriori;                       /* bl_scheme of the linear part, BL__SCHEME_INNER or _NONE */
};
/* The descriptor of m, or NULL when m is out of range. */
const bl__method *bl__method_of(bl_method m);

/* Estimators (their files): each fills r->hg (and r->q when it has one). */
bl_status bl__hg_ift(bl_run *r);           /* ift-cg, -gd, -hb, -neumann (hg_ift.c) */
bl_status bl__hg_identity(bl_run *r);      /* ift-identity */
bl_status bl__hg_exact(bl_run *r);         /* exact */
bl_status bl__hg_shine(bl_run *r);         /* shine, shine-opa, shine-refine */
/* The linear solve of r's method from q (in/out), recording iters and stop. */
bl_status bl__hg_linear(bl_run *r, bl_linear method, double *q);
/* Diagnostics after the estimate at r->level (hg_diag.c), with p + m
 * doubles of work; sets the counts (the diagnostics' own products are not
 * charged). Returns the first failure of the diagnostics' products, or a
 * status that a check found (non-positive curvature from Lanczos). */
bl_status bl__hg_finish(bl_run *r, double *work);
/* The status of a produced result: hg finite, every requested tolerance met,
 * no divergence; st is the estimator's status (BL_OK or BL_ENONCONVEX). */
bl_status bl__hg_verdict(bl_run *r, bl_status st);
bl_status bl__hg_unroll(bl_run *r);        /* unroll, unroll-truncated (lean) */
bl_status bl__hg_inexact(bl_run *r);       /* inexact-ad */
bl_status bl__hg_forward(bl_run *r);       /* unroll-forward (runs its own inner loop) */
bl_status bl__hg_checkpointed(bl_run *r);  /* unroll-checkpointed */
bl_status bl__hg_generic(bl_run *r);       /* unroll-generic (own tape, own inner loop) */
/* hg = ∇_λF − cross(q) at the oracle's point; sets has_q. */
bl_status bl__hg_from_q(bl_run *r, const double *q);
/* ‖∇²_θλG‖ at the oracle's point (bounds.c); *certified says whether it
 * is a proven upper bound. */
bl_status bl__cross_norm(bl_run *r, double *out, int *certified);
/* One step of the inner map Φ (GD or HB) from θ_k (and θ_{k−1} for HB)
 * into next: θ_{k+1} = θ_k − α∇G(θ_k) + β(θ_k − θ_{k−1}). */
bl_status bl__inner_step(bl_run *r, const double *th, const double *th_prev, double *next);

static inline double bl__dot(int n, const double *a, const double *b) { return cblas_ddot(n, a, 1, b, 1); }
static inline double bl__nrm2(int n, const double *a) { return cblas_dnrm2(n, a, 1); }
static inline void bl__axpy(int n, double a, const double *x, double *y) { cblas_daxpy(n, a, x, 1, y, 1); }


struct bl_outer; /* hypertape/outer.h */
struct bl_outer_opts;
/* One Adam step at count t ≥ 1 (bilevel/outer_first.c): moments mo, va (n)
 * updated with g, x −= a·m̂/(√v̂ + ε), β₁, β₂, ε from op (hypertape/outer.h). */
void bl__adam_step(int n, double a, const double *g, double *x, double *mo, double *va, int t,
                   const struct bl_outer_opts *op);
/* theta (p) = bl_outer_theta0(o), or zeros without one (bilevel/outer.c). */
void bl__outer_start(const struct bl_outer *o, int p, double *theta);
/* The model θ of f2sa / f2sa-adam (z) and of bome (θ_k), for bl_outer_model. */
const double *bl__f2sa_model(const struct bl_outer *o);
const double *bl__bome_model(const struct bl_outer *o);
/* ---- shared parts of the stochastic outer algorithms (bilevel/outer_stoch.c) ----
 * soba, saba, srba, stocbio and amigo put a bl__stoch first in their
 * state (so bl_outer_stoch_get reads any of them). */
struct bl_sampler;
/* ---- the batches of the sampling outer algorithms (bilevel/outer_batches.c) ----
 * f2sa, bome and the bl__stoch ones: index buffers and two samplers, the
 * inner one seeded opts->seed and the outer one opts->seed + the shift
 * below (outer.h), neither created for a full batch. */
#define BL__OUTER_SEED_SHIFT 0x9E3779B97F4A7C15ull
typedef struct bl__batches {
    int b_in, b_out;         /* batch sizes (n_in, n_out for a full batch) */
    int full_in, full_out;   /* the batch is every sample (no sampling) */
    int n_idx;               /* ints allocated: b_in + b_out + 1 */
    struct bl_sampler *si, *so;
    int *idx_in, *idx_out;   /* the current batches' indices (b_in, b_out) */
} bl__batches;
/* A batch of b of n samples: b ≤ 0 means dflt (n: the full batch); never
 * more than n. */
int bl__batch_size(int b, int n, int dflt);
/* Batch sizes b_in of n_in and b_out of n_out (from bl__batch_size);
 * allocates the indices (BL_ENOMEM), no samplers yet. */
bl_status bl__batches_init(bl__batches *b, int b_in, int n_in, int b_out, int n_out);
/* (Re)creates the samplers for the sides that sample, from o's options'
 * seed and sample_mode; a full side's indices are 0..n-1. A failure is
 * o's message. */
bl_status bl__batches_set(struct bl_outer *o, bl__batches *b, int n_in, int n_out);
/* Draws the next inner and/or outer batch (no-op for a full batch). */
void bl__batches_draw(bl__batches *b, int inner, int outer);
/* Draws the next inner (outer = 0) or outer batch into *out and returns
 * out; NULL (no draw) for a full batch. */
const bl_batch *bl__batches_next(bl__batches *b, int outer, bl_batch *out);
/* Raises o's report memory_bytes to own (the algorithm's buffers) plus b's
 * indices and samplers plus orc's peak tape bytes, when that is larger. */
void bl__batches_note_memory(struct bl_outer *o, const bl__batches *b, size_t own, bl_oracle *orc);
/* Frees the samplers and the indices (a zeroed struct is a no-op). */
void bl__batches_free(bl__batches *b);

typedef struct bl__stoch {
    bl_oracle *orc;          /* the context's oracle (bl_hg_oracle) */
    int p, m, n_in, n_out;
    bl__batches bt;          /* batches and samplers */
    double rho, gamma, sa, sb; /* steps and schedule exponents, defaults resolved */
    int T, Q, refresh;       /* inner steps, Neumann terms, SRBA's period (resolved) */
    int use_ps;              /* batch means from the model's per-sample hook */
    double *rows;            /* per-sample rows of one call: b_in(2p + m) + b_out(p + m) */
    double *theta, *v, *dth, *dv, *dla; /* iterates (p, p) and directions (p, p, m) */
    double *work;            /* 3p + 2m scratch: batch means */
    size_t bytes;            /* bytes of the buffers above and the type's own */
    double value;            /* last F on an outer batch at θ (report) */
    int refreshed;           /* SRBA: the last iteration was a refresh */
    double v_radius;         /* SRBA: the ball of v (+inf: none) */
} bl__stoch;
/* The five batch means of one evaluation (NULL: not wanted). */
typedef struct bl__means {
    double *gG, *hv, *cr, *fT, *fL; /* ∇_θG (p), H v (p), cross(v) (m), ∇_θF (p), ∇_λF (m) */
} bl__means;
/* Resolves the options (batch 64, steps rho0/gamma0, T, Q), checks them and
 * the problem, allocates (with extra_bytes counted as the type's own). */
bl_status bl__stoch_alloc(struct bl_outer *o, bl__stoch *s, double rho0, double gamma0);
void bl__stoch_free(bl__stoch *s);
/* θ = θ_0, v = 0, directions 0, samplers restarted, the oracle reset. */
bl_status bl__stoch_set(struct bl_outer *o, bl__stoch *s);
/* Batch means at (θ, λ, v) on the current batches, charged to o; with the
 * hook from per-sample rows, else from batched oracle calls; full == 1
 * uses every sample with batched calls whatever the batches. */
bl_status bl__stoch_means(struct bl_outer *o, bl__stoch *s, const double *theta,
                          const double *lambda, const double *v, const bl__means *d, int full);
/* Per-sample rows (bl_oracle_persample_all) into rows[kind] for the given
 * batches (NULL: all), charged to o. */
bl_status bl__stoch_rows(struct bl_outer *o, bl__stoch *s, const bl_batch *in, const bl_batch *out,
                         const double *theta, const double *lambda, const double *v,
                         double *const rows[BL_PS_COUNT]);
/* ρ_t = ρ t^{−a}, γ_t = γ t^{−b} for iteration t ≥ 1. */
void bl__stoch_steps(const bl__stoch *s, int t, double *rho, double *gamma);
/* F on the current outer batch at (θ, λ) into s->value, charged (every
 * BL__STOCH_VALUE_EVERY iterations t; the last value in between). */
bl_status bl__stoch_value(struct bl_outer *o, bl__stoch *s, int t, const double *lambda);
#define BL__STOCH_VALUE_EVERY 16
/* Iteration t's steps ρ_t, γ_t: fills the report, then θ −= ρ_t D_θ and
 * v −= ρ_t D_v when inner, and λ ← P(λ − γ_t D_λ). */
void bl__stoch_move(struct bl_outer *o, bl__stoch *s, int t, int inner);
/* SOBA's update from the batch estimates H v (hv), ∇_θF (fT), ∇_λF (fL)
 * with D_θ, cross(v) already in dth, dla: D_v = hv + fT, D_λ += fL, then
 * bl__stoch_move (bilevel/outer_soba.c; SABA uses it with its estimates). */
void bl__soba_update(struct bl_outer *o, bl__stoch *s, const double *hv, const double *fT,
                     const double *fL, int t);
/* The failure st of an oracle call as o's message; returns st. */
bl_status bl__stoch_fail(struct bl_outer *o, bl__stoch *s, bl_status st);

#endif
