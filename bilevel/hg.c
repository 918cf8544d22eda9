/*
 * bilevel/hg.c — the hypergradient context (bl_hg_new / bl_hg_eval /
 * bl_hg_free): it owns the oracle, the inner solver and the buffers, warm-
 * starts θ and q from one evaluation to the next, runs the inner solve and
 * the method of the estimator table, then the diagnostics and the verdict
 * (hg_diag.c). bl_hypergrad is new + eval + free.
 */
#include "bilevel/internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct bl_hg {
    const bl_problem *pb;
    bl_hg_opts o;          /* options with the λ-independent defaults resolved */
    const bl__method *M;
    bl_oracle *orc;
    bl_inner *in;          /* NULL for unroll-generic (it records its own steps) */
    bl_linsolve *ls;       /* the method's linear solver (NULL without one) */
    double *buf;           /* everything below lives in buf */
    double *theta, *b, *q, *gl, *hg, *work, *theta0, *start;
    int has_theta0;        /* opts.theta0 was given (copied into theta0) */
    int start_set;         /* start holds the θ the next evaluation starts from */
    int q_start;           /* q holds the start of the next linear solve */
    int theta_ok, q_ok;    /* the last evaluation produced θ_ε / q */
    char msg[512];
};

/* ------------------------------------------------------------ options */

static bl_status bad(char *msg, size_t len, bl_status st, const char *fmt, const char *a,
                     const char *b)
{
    if (msg && len) {
        char tail[256];
        snprintf(tail, sizeof tail, fmt, a, b);
        snprintf(msg, len, "hg_check: %s", tail); /* the CLI prefixes "hypergrad: " */
    }
    return st;
}

static bl_status check_numbers(const bl_hg_opts *o, char *msg, size_t len)
{
    const struct { const char *name; double v; } nums[] = {
        {"step", o->step}, {"momentum", o->momentum}, {"linear_step", o->linear_step},
        {"linear_momentum", o->linear_momentum}, {"inner_iters", o->inner_iters},
        {"memory", o->memory}, {"truncate", o->truncate}, {"snapshots", o->snapshots},
        {"linear_iters", o->linear_iters},
    };
    for (size_t k = 0; k < sizeof nums / sizeof nums[0]; k++)
        if (!(nums[k].v >= 0) || !isfinite(nums[k].v))
            return bad(msg, len, BL_EINVAL, "option %s must be finite and >= 0%s", nums[k].name, "");
    if (isnan(o->inner_tol) || isnan(o->linear_tol))
        return bad(msg, len, BL_EINVAL, "option %s is NaN%s", isnan(o->inner_tol) ? "inner_tol"
                                                                               : "linear_tol", "");
    return BL_OK;
}

bl_status bl_hg_check(const bl_problem *pb, const bl_hg_opts *o, char *msg, size_t len)
{
    if (msg && len)
        msg[0] = '\0';
    if (!pb || !pb->G || !pb->F || pb->p <= 0 || pb->m <= 0)
        return bad(msg, len, BL_EINVAL, "the problem is incomplete (G, F, p > 0 and m > 0 are %s)%s",
                   "required", "");
    if (!o)
        return bad(msg, len, BL_EINVAL, "opts must not be NULL%s%s", "", "");
    const bl__method *M = bl__method_of(o->method);
    if (!M)
        return bad(msg, len, BL_EINVAL, "unknown method%s%s", "", "");
    const bl_inner_type *T = o->inner ? o->inner : *M->inner;
    if ((M->flags & BL__MF_LBFGS) && T != bl_inner_lbfgs)
        return bad(msg, len, BL_EINVAL, "%s needs the lbfgs inner solver, not %s", M->name,
                   bl_inner_type_name(T));
    if ((M->flags & BL__MF_GD_HB) && T != bl_inner_gd && T != bl_inner_hb)
        return bad(msg, len, BL_EINVAL, "%s needs the gd or hb inner solver, not %s", M->name,
                   bl_inner_type_name(T));
    bl_status st = check_numbers(o, msg, len);
    for (int j = 0; st == BL_OK && o->theta0 && j < pb->p; j++)
        if (!isfinite(o->theta0[j])) {
            char at[64];
            snprintf(at, sizeof at, "%d] is %g", j, o->theta0[j]);
            st = bad(msg, len, BL_ENONFINITE, "%s: theta0[%s", M->name, at);
        }
    return st;
}

/* The λ-independent defaults (bl_hg_opts' field comments). */
static void resolve_defaults(bl_hg_opts *o, const bl__method *M, int p)
{
    int unr = (M->flags & BL__MF_UNROLL) != 0;
    if (!o->inner)
        o->inner = *M->inner;
    if (o->inner_iters <= 0)
        o->inner_iters = 1000;
    if (o->inner_tol == 0)
        o->inner_tol = unr ? -1.0 : 1e-10; /* −1: run exactly K steps */
    else if (o->inner_tol < 0)
        o->inner_tol = -1.0;
    if (o->truncate <= 0 || o->truncate > o->inner_iters)
        o->truncate = o->inner_iters;
    if (o->snapshots <= 0)
        o->snapshots = 10;
    if (o->linear_iters <= 0)
        o->linear_iters = M->linear == BL_LINEAR_CG ? (2 * p > 1000 ? 2 * p : 1000) : 1000;
}

/* ------------------------------------------------------------ the context */

void bl_hg_free(bl_hg *h)
{
    if (!h)
        return;
    bl_inner_free(h->in);
    bl_linsolve_free(h->ls);
    bl_oracle_free(h->orc);
    free(h->buf);
    free(h);
}

bl_hg *bl_hg_new(const bl_problem *pb, const bl_hg_opts *opts, bl_status *st)
{
    bl_status dummy;
    st = st ? st : &dummy;
    if ((*st = bl_hg_check(pb, opts, NULL, 0)) != BL_OK)
        return NULL;
    *st = BL_ENOMEM;
    bl_hg *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    int p = pb->p, m = pb->m;
    h->pb = pb;
    h->o = *opts;
    h->M = bl__method_of(opts->method);
    resolve_defaults(&h->o, h->M, p);
    h->orc = bl_oracle_new(pb, h->o.max_tape_bytes);
    h->buf = calloc((size_t)7 * p + 3 * (size_t)m, sizeof(double));
    if (!h->orc || !h->buf) {
        bl_hg_free(h);
        return NULL;
    }
    h->theta = h->buf;
    h->b = h->theta + p;
    h->q = h->b + p;
    h->work = h->q + p;          /* p + m */
    h->theta0 = h->work + p + m;
    h->start = h->theta0 + p;
    h->gl = h->start + p;        /* m */
    h->hg = h->gl + m;           /* m */
    h->has_theta0 = opts->theta0 != NULL;
    if (opts->theta0)
        memcpy(h->theta0, opts->theta0, (size_t)p * sizeof(double));
    h->o.theta0 = NULL; /* the copy is used */
    if (h->o.method != BL_UNROLL_GENERIC) {
        bl_inner_opts io = {.step = h->o.step, .momentum = h->o.momentum, .memory = h->o.memory,
                            .keep_iterates = (h->M->flags & BL__MF_KEEP) != 0};
        if (!(h->in = bl_inner_new(h->o.inner, h->orc, &io, st))) {
            bl_hg_free(h);
            return NULL;
        }
    }
    if (h->M->linear != BL__LIN_NONE) {
        bl_linear_opts lo = {0, h->o.linear_iters, h->o.linear_step, h->o.linear_momentum, NULL, NULL};
        if (!(h->ls = bl_linsolve_new(bl_linear_type((bl_linear)h->M->linear), h->orc, &lo, st))) {
            bl_hg_free(h);
            return NULL;
        }
    }
    *st = BL_OK;
    return h;
}

const char *bl_hg_message(const bl_hg *h) { return h->msg; }
const double *bl_hg_theta(const bl_hg *h) { return h->theta_ok ? h->theta : NULL; }
const double *bl_hg_q(const bl_hg *h) { return h->q_ok ? h->q : NULL; }
bl_oracle *bl_hg_oracle(bl_hg *h) { return h->orc; }

/* Copies a start (θ or q, p entries) into dst after checking it is finite;
 * *flag says whether a start is set (NULL resets it). */
static bl_status set_start(bl_hg *h, const char *name, const double *x, double *dst, int *flag)
{
    for (int j = 0; x && j < h->pb->p; j++)
        if (!isfinite(x[j])) {
            snprintf(h->msg, sizeof h->msg, "hg_set_%s: %s[%d] is %g", name, name, j, x[j]);
            return BL_ENONFINITE;
        }
    *flag = x != NULL;
    if (x)
        memcpy(dst, x, (size_t)h->pb->p * sizeof(double));
    return BL_OK;
}

bl_status bl_hg_set_theta(bl_hg *h, const double *theta)
{
    return set_start(h, "theta", theta, h->start, &h->start_set);
}

bl_status bl_hg_set_q(bl_hg *h, const double *q)
{
    return set_start(h, "q", q, h->q, &h->q_start);
}

bl_status bl_hg_set_tolerances(bl_hg *h, double inner_tol, double linear_tol)
{
    if (isnan(inner_tol) || isnan(linear_tol)) {
        snprintf(h->msg, sizeof h->msg, "hg_set_tolerances: a tolerance is NaN");
        return BL_EINVAL;
    }
    int unr = (h->M->flags & BL__MF_UNROLL) != 0;
    h->o.inner_tol = inner_tol > 0 ? inner_tol : inner_tol < 0 || unr ? -1.0 : 1e-10;
    h->o.linear_tol = linear_tol; /* 0: 1e-12·max(1, ‖∇_θF‖) at each evaluation */
    return BL_OK;
}

const bl_hg_opts *bl_hg_options(const bl_hg *h) { return &h->o; }

/* ------------------------------------------------------------ evaluation */

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static void init_diag(bl_diag *d, bl_method m)
{
    memset(d, 0, sizeof *d);
    d->method = m;
    d->outer_value = d->inner_grad_norm = d->outer_grad_norm = d->value_error_bound = NAN;
    d->bound_a_posteriori = d->linear_residual = d->B_norm = NAN;
    d->bound_mu = d->bound_L = d->unroll_gap = d->bound_a_priori = NAN;
}

/* The inner loop of the methods that do not run their own: iterate until
 * the tolerance, the cap or a stalled line search; a gradient norm that
 * grows 1e10-fold beyond max(1, its start) stops it as diverging. */
static bl_status inner_loop(bl_run *r)
{
    bl_inner *in = r->in;
    double g0 = bl_inner_grad_norm(in);
    bl_status st = BL_OK;
    while (st == BL_OK && bl_inner_iters(in) < r->o.inner_iters && !bl_inner_stalled(in) &&
           !bl_inner_converged(in, r->o.inner_tol)) {
        st = bl_inner_iterate(in);
        if (st == BL_OK && !(bl_inner_grad_norm(in) <= 1e10 * fmax(1.0, g0)))
            r->diverged = bl_inner_iters(in);
        if (r->diverged)
            break;
    }
    return st;
}

/* Inner solve (unless the method owns its loop), then F and ∇F at θ_ε. */
static bl_status prepare(bl_run *r)
{
    if (r->M->flags & BL__MF_OWN_LOOP)
        return BL_OK;
    bl_status st = bl_inner_set(r->in, r->theta0, r->lambda);
    if (st == BL_OK) {
        r->grad0_norm = bl_inner_grad_norm(r->in); /* for the a-priori bound */
        st = inner_loop(r);
    }
    if (st != BL_OK)
        return st;
    memcpy(r->theta, bl_inner_theta(r->in), (size_t)r->p * sizeof(double));
    r->theta_ok = 1;
    r->d->inner_iters = bl_inner_iters(r->in);
    r->d->steps_estimated |= bl_inner_steps_estimated(r->in) ? 1 : 0;
    r->d->inner_stop = r->diverged                                ? BL_STOP_DIVERGED
                       : bl_inner_converged(r->in, r->o.inner_tol) ? BL_STOP_TOL
                       : bl_inner_stalled(r->in)                 ? BL_STOP_STALLED
                                                                 : BL_STOP_MAXITER;
    bl__oracle_drop_point(r->orc); /* e.g. Newton-CG's last point */
    return bl_oracle_F(r->orc, NULL, r->theta, r->lambda, &r->d->outer_value, r->b, r->gl);
}

/* The estimate itself: inner solve, the method, diagnostics, verdict.
 * *produced = 1 when hg holds a result to hand out. */
static bl_status estimate(bl_run *r, int *produced)
{
    bl_status st = prepare(r);
    if (st == BL_OK && r->o.linear_tol == 0) {
        double bn = bl__nrm2(r->p, r->b);
        r->o.linear_tol = 1e-12 * (bn > 1.0 ? bn : 1.0);
    }
    if (st == BL_OK)
        st = r->M->fn(r);
    *produced = st == BL_OK || st == BL_ENONCONVEX;
    if (*produced) /* every method leaves ∇_θF(θ_ε) in r->b */
        r->d->outer_grad_norm = bl__nrm2(r->p, r->b);
    if (!*produced)
        return st;
    bl_status fst = bl__hg_finish(r, r->work);
    if (fst != BL_OK && fst != BL_ENONCONVEX) {
        *produced = 0;
        return fst;
    }
    st = bl__hg_verdict(r, st != BL_OK ? st : fst);
    for (int j = 0; j < r->m; j++) /* a non-finite hg is not handed out */
        if (!isfinite(r->hg[j]))
            *produced = 0;
    return st;
}

/* Hands out what the evaluation produced and keeps the warm starts. */
static void hand_out(bl_hg *h, const bl_run *r, int produced, double *hg)
{
    h->theta_ok = r->theta_ok;
    h->q_ok = produced && r->has_q;
    if (produced)
        memcpy(hg, h->hg, (size_t)r->m * sizeof(double));
    r->d->produced = produced;
    int warm = !h->o.cold_start;
    h->start_set = warm && r->theta_ok && !r->diverged;
    if (h->start_set)
        memcpy(h->start, h->theta, (size_t)r->p * sizeof(double));
    h->q_start = warm && h->q_ok && (h->M->flags & BL__MF_WARM_Q) && !r->diverged;
    for (int j = 0; h->q_start && j < r->p; j++)
        h->q_start = isfinite(h->q[j]);
}

bl_status bl_hg_eval(bl_hg *h, const double *lambda, double *hg, bl_diag *diag)
{
    const char *name = h->M->name;
    bl_diag dd;
    bl_diag *d = diag ? diag : &dd;
    init_diag(d, h->o.method);
    h->msg[0] = '\0';
    h->theta_ok = h->q_ok = 0; /* a refused evaluation produces no θ_ε or q either */
    if (!lambda || !hg) {
        snprintf(h->msg, sizeof h->msg, "%s: lambda and hg must not be NULL", name);
        return BL_EINVAL;
    }
    for (int j = 0; j < h->pb->m; j++)
        if (!isfinite(lambda[j])) {
            snprintf(h->msg, sizeof h->msg, "%s: lambda[%d] is %g", name, j, lambda[j]);
            return BL_ENONFINITE;
        }
    double t0 = now();
    bl_oracle_reset(h->orc); /* counts and peak of this evaluation */
    bl_oracle_clear_error(h->orc); /* the message is this evaluation's first failure */
    bl_run r = {.pb = h->pb, .o = h->o, .M = h->M, .orc = h->orc, .in = h->in, .ls = h->ls,
                .p = h->pb->p,
                .m = h->pb->m, .lambda = lambda, .theta = h->theta, .b = h->b, .q = h->q,
                .gl = h->gl, .hg = h->hg, .work = h->work, .d = d, .grad0_norm = NAN,
                .level = h->o.diag_level};
    r.theta0 = h->start_set ? h->start : h->has_theta0 ? h->theta0 : NULL;
    r.q_warm = h->q_start && (h->M->flags & BL__MF_WARM_Q);
    int produced = 0;
    bl_status st = estimate(&r, &produced);
    if (h->in && bl_inner_steps_estimated(h->in))
        d->steps_estimated |= 1;
    if (st != BL_OK)
        snprintf(h->msg, sizeof h->msg, "%s: %s", name, bl_oracle_message(h->orc));
    hand_out(h, &r, produced, hg);
    size_t pk = bl_oracle_peak_bytes(h->orc);
    d->peak_tape_bytes = pk > r.extra_peak ? pk : r.extra_peak;
    d->seconds = now() - t0;
    return st;
}

bl_status bl_hypergrad(const bl_problem *pb, const double *lambda, const bl_hg_opts *opts,
                       double *hg, bl_diag *diag, char *msg, size_t msglen)
{
    if (diag)
        init_diag(diag, opts ? opts->method : BL_METHOD_COUNT);
    bl_status st = bl_hg_check(pb, opts, msg, msglen);
    if (st != BL_OK)
        return st;
    bl_hg *h = bl_hg_new(pb, opts, &st);
    if (!h) {
        if (msg && msglen)
            snprintf(msg, msglen, "%s: out of memory creating the context (p = %d, m = %d)",
                     bl_method_name(opts->method), pb->p, pb->m);
        return st;
    }
    st = bl_hg_eval(h, lambda, hg, diag);
    if (msg && msglen)
        snprintf(msg, msglen, "%s", bl_hg_message(h));
    bl_hg_free(h);
    return st;
}
