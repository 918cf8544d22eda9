/*
 * bilevel/hypergrad.c — bl_hypergrad(): one interface over every estimator,
 * with the IFT family, SHINE, the exact solve, and the diagnostics.
 * The unroll family lives in unroll.c, checkpoint.c and unroll_generic.c.
 */
#include "bilevel/internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const method_names[BL_METHOD_COUNT] = {
    [BL_UNROLL] = "unroll",
    [BL_UNROLL_GENERIC] = "unroll-generic",
    [BL_UNROLL_TRUNCATED] = "unroll-truncated",
    [BL_UNROLL_CHECKPOINTED] = "unroll-checkpointed",
    [BL_UNROLL_FORWARD] = "unroll-forward",
    [BL_INEXACT_AD] = "inexact-ad",
    [BL_IFT_CG] = "ift-cg",
    [BL_IFT_GD] = "ift-gd",
    [BL_IFT_HB] = "ift-hb",
    [BL_IFT_NEUMANN] = "ift-neumann",
    [BL_IFT_IDENTITY] = "ift-identity",
    [BL_SHINE] = "shine",
    [BL_SHINE_OPA] = "shine-opa",
    [BL_SHINE_REFINE] = "shine-refine",
    [BL_EXACT] = "exact",
};

const char *bl_method_name(bl_method m)
{
    return ((unsigned)m < BL_METHOD_COUNT) ? method_names[m] : "unknown";
}

bl_status bl_method_from_name(const char *name, bl_method *out)
{
    for (int k = 0; name && k < BL_METHOD_COUNT; k++)
        if (!strcmp(name, method_names[k])) {
            *out = (bl_method)k;
            return BL_OK;
        }
    return BL_EINVAL;
}

static int unroll_family(bl_method m)
{
    return m <= BL_INEXACT_AD;
}

/* ------------------------------------------------------- q-based methods */

bl_status bl__hg_from_q(bl_run *r, const double *q)
{
    double *cross = r->hg;
    bl_status st = bl_oracle_hvp(r->orc, q, NULL, cross);
    if (st != BL_OK)
        return st;
    for (int j = 0; j < r->m; j++)
        r->hg[j] = r->gl[j] - cross[j];
    if (q != r->q)
        memcpy(r->q, q, (size_t)r->p * sizeof(double));
    r->has_q = 1;
    return BL_OK;
}

static bl_status linear(bl_run *r, bl_linear method, double *q)
{
    bl_linear_opts lo = {r->o.linear_tol, r->o.linear_iters, r->o.linear_step,
                         r->o.linear_momentum, NULL, NULL};
    bl_linear_result res;
    bl_status st = bl_linear_solve(r->orc, method, r->b, q, &lo, &res);
    r->d->linear_iters = res.iters;
    r->d->linear_stop = res.stop;
    return st;
}

static bl_status hg_ift(bl_run *r)
{
    static const bl_linear which[] = {[BL_IFT_CG] = BL_LINEAR_CG, [BL_IFT_GD] = BL_LINEAR_GD,
                                      [BL_IFT_HB] = BL_LINEAR_HB, [BL_IFT_NEUMANN] = BL_LINEAR_NEUMANN};
    memset(r->q, 0, (size_t)r->p * sizeof(double));
    bl_status st = bl_oracle_point(r->orc, NULL, r->theta, r->lambda);
    if (st == BL_OK)
        st = linear(r, which[r->o.method], r->q);
    if (st == BL_OK || st == BL_ENONCONVEX) { /* non-convex: the best iterate, and say so */
        bl_status st2 = bl__hg_from_q(r, r->q);
        return st2 != BL_OK ? st2 : st;
    }
    return st;
}

static bl_status hg_identity(bl_run *r)
{
    bl_status st = bl_oracle_point(r->orc, NULL, r->theta, r->lambda);
    r->d->linear_stop = BL_STOP_DIRECT;
    return st != BL_OK ? st : bl__hg_from_q(r, r->b);
}

/* LAPACK (OpenBLAS ships it): Cholesky factorisation and solve. */
extern void dpotrf_(const char *uplo, const int *n, double *a, const int *lda, int *info);
extern void dpotrs_(const char *uplo, const int *n, const int *nrhs, const double *a,
                    const int *lda, double *b, const int *ldb, int *info);

static bl_status hg_exact(bl_run *r)
{
    int p = r->p, info = 0, one = 1;
    if (p > 20000)
        return bl__fail(r->orc, BL_EINVAL, "exact: p = %d is too large for a dense solve", p);
    double *H = malloc((size_t)p * p * sizeof(double)), *e = calloc((size_t)p, sizeof(double));
    bl_status st = (H && e) ? bl_oracle_point(r->orc, NULL, r->theta, r->lambda)
                            : bl__fail(r->orc, BL_ENOMEM, "exact: cannot allocate %dx%d", p, p);
    for (int j = 0; j < p && st == BL_OK; j++) { /* column j = H e_j (H symmetric) */
        e[j] = 1.0;
        st = bl_oracle_hvp(r->orc, e, H + (size_t)j * p, NULL);
        e[j] = 0.0;
    }
    int chol_failed = 0;
    if (st == BL_OK) {
        dpotrf_("L", &p, H, &p, &info);
        chol_failed = info != 0;
    }
    if (st == BL_OK && chol_failed) {
        /* H is not positive definite: like the iterative methods, return
         * CG's best iterate from q = 0 (bl_linear_solve reports the
         * non-positive curvature) and hg from it, with BL_ENONCONVEX. */
        int col = info;
        memset(r->q, 0, (size_t)p * sizeof(double));
        st = linear(r, BL_LINEAR_CG, r->q);
        if (st == BL_OK || st == BL_ENONCONVEX) {
            bl_status st2 = bl__hg_from_q(r, r->q);
            if (st2 != BL_OK)
                st = st2;
        }
        r->d->linear_stop = BL_STOP_NONCONVEX;
        if (st == BL_OK || st == BL_ENONCONVEX)
            st = bl__fail(r->orc, BL_ENONCONVEX,
                          "exact: Cholesky of H failed at column %d (H is not positive definite); "
                          "hg is from CG's best iterate", col);
    } else if (st == BL_OK) {
        memcpy(r->q, r->b, (size_t)p * sizeof(double));
        dpotrs_("L", &p, &one, H, &p, r->q, &p, &info);
        r->d->linear_stop = BL_STOP_DIRECT;
        st = bl__hg_from_q(r, r->q);
    }
    free(H);
    free(e);
    return st;
}

/* SHINE: q = B⁻¹∇_θF with the inner L-BFGS pairs; OPA adds the pair along
 * e = −B⁻¹∇_θF rescaled to ‖s_last‖; refine starts CG from SHINE's q. */
static bl_status hg_shine(bl_run *r)
{
    const double *S0, *Y0;
    int p = r->p, cnt = bl_inner_lbfgs_pairs(r->in, &S0, &Y0);
    if (bl_inner_type_of(r->in) != bl_inner_lbfgs)
        return bl__fail(r->orc, BL_EINVAL, "%s: needs the lbfgs inner solver, not %s",
                        bl_method_name(r->o.method), bl_inner_type_name(bl_inner_type_of(r->in)));
    int cap = cnt + 1;
    double *S = malloc(((size_t)2 * cap * p + cap + 2 * (size_t)p) * sizeof(double));
    if (!S)
        return bl__fail(r->orc, BL_ENOMEM, "shine: out of memory (p = %d)", p);
    double *Y = S + (size_t)cap * p, *work = Y + (size_t)cap * p, *th = work + cap, *g = th + p;
    memcpy(S, S0, (size_t)cnt * p * sizeof(double));
    memcpy(Y, Y0, (size_t)cnt * p * sizeof(double));
    bl__lbfgs_apply(p, cnt, S, Y, r->b, r->q, work);
    bl_status st = BL_OK;
    if (r->o.method == BL_SHINE_OPA && cnt > 0) {
        double scale = bl__nrm2(p, S + (size_t)(cnt - 1) * p) / fmax(bl__nrm2(p, r->q), 1e-300);
        double *s_new = S + (size_t)cnt * p, *y_new = Y + (size_t)cnt * p;
        for (int j = 0; j < p; j++) {
            s_new[j] = -scale * r->q[j];
            th[j] = r->theta[j] + s_new[j];
        }
        st = bl_oracle_G(r->orc, NULL, th, r->lambda, NULL, g, NULL);
        for (int j = 0; j < p && st == BL_OK; j++)
            y_new[j] = g[j] - bl_inner_grad(r->in)[j];
        if (st == BL_OK && bl__dot(p, s_new, y_new) > 0)
            bl__lbfgs_apply(p, cnt + 1, S, Y, r->b, r->q, work);
    }
    if (st == BL_OK)
        st = bl_oracle_point(r->orc, NULL, r->theta, r->lambda);
    if (st == BL_OK && r->o.method == BL_SHINE_REFINE)
        st = linear(r, BL_LINEAR_CG, r->q);
    else if (st == BL_OK)
        r->d->linear_stop = BL_STOP_DIRECT;
    if (st == BL_OK || st == BL_ENONCONVEX) {
        bl_status st2 = bl__hg_from_q(r, r->q);
        st = st2 != BL_OK ? st2 : st;
    }
    free(S);
    return st;
}

/* ------------------------------------------------------------ the driver */

typedef bl_status (*hg_fn)(bl_run *r);

static const hg_fn method_fns[BL_METHOD_COUNT] = {
    [BL_UNROLL] = bl__hg_unroll,
    [BL_UNROLL_GENERIC] = bl__hg_generic,
    [BL_UNROLL_TRUNCATED] = bl__hg_unroll,
    [BL_UNROLL_CHECKPOINTED] = bl__hg_checkpointed,
    [BL_UNROLL_FORWARD] = bl__hg_forward,
    [BL_INEXACT_AD] = bl__hg_inexact,
    [BL_IFT_CG] = hg_ift,
    [BL_IFT_GD] = hg_ift,
    [BL_IFT_HB] = hg_ift,
    [BL_IFT_NEUMANN] = hg_ift,
    [BL_IFT_IDENTITY] = hg_identity,
    [BL_SHINE] = hg_shine,
    [BL_SHINE_OPA] = hg_shine,
    [BL_SHINE_REFINE] = hg_shine,
    [BL_EXACT] = hg_exact,
};

/* Methods that run the inner loop themselves. */
static int own_inner_loop(bl_method m)
{
    return m == BL_UNROLL_FORWARD || m == BL_UNROLL_GENERIC || m == BL_UNROLL_CHECKPOINTED;
}

static void resolve_defaults(bl_run *r, const bl_hg_opts *opts)
{
    bl_hg_opts *o = &r->o;
    *o = *opts;
    int unr = unroll_family(o->method);
    if (!o->inner)
        o->inner = unr ? bl_inner_gd : bl_inner_lbfgs;
    if (o->inner_iters <= 0)
        o->inner_iters = 1000;
    if (!(o->inner_tol > 0))
        o->inner_tol = unr ? -1.0 : 1e-10; /* −1: run exactly K steps */
    if (o->truncate <= 0 || o->truncate > o->inner_iters)
        o->truncate = o->inner_iters;
    if (o->snapshots <= 0)
        o->snapshots = 10;
    if (o->linear_iters <= 0)
        o->linear_iters = o->method == BL_IFT_CG || o->method == BL_SHINE_REFINE
                              ? (2 * r->p > 1000 ? 2 * r->p : 1000) : 1000;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static bl_status check_inputs(const bl_problem *pb, const double *lambda, const bl_hg_opts *o,
                              const double *hg, char *msg, size_t len)
{
    const char *why = NULL;
    if (!pb || !pb->G || !pb->F || pb->p <= 0 || pb->m <= 0)
        why = "the problem is incomplete (G, F, p > 0 and m > 0 are required)";
    else if (!lambda || !o || !hg)
        why = "lambda, opts and hg must not be NULL";
    else if ((unsigned)o->method >= BL_METHOD_COUNT)
        why = "unknown method";
    if (why) {
        if (msg && len)
            snprintf(msg, len, "hypergrad: %s", why);
        return BL_EINVAL;
    }
    for (int j = 0; j < pb->m; j++)
        if (!isfinite(lambda[j])) {
            if (msg && len)
                snprintf(msg, len, "hypergrad: lambda[%d] is %g", j, lambda[j]);
            return BL_ENONFINITE;
        }
    return BL_OK;
}

/* Inner solve (unless the method owns its loop), then ∇F at θ_ε. */
static bl_status prepare(bl_run *r)
{
    bl_status st = BL_OK;
    if (!own_inner_loop(r->o.method)) {
        bl_inner_opts io = {.step = r->o.step, .momentum = r->o.momentum, .memory = r->o.memory, .keep_iterates =
                            r->o.method == BL_UNROLL || r->o.method == BL_UNROLL_TRUNCATED};
        r->in = bl_inner_new(r->o.inner, r->orc, &io, &st);
        if (!r->in)
            return st;
        st = bl_inner_set(r->in, r->o.theta0, r->lambda);
        if (st == BL_OK) {
            r->grad0_norm = bl_inner_grad_norm(r->in); /* for the a-priori bound */
            st = bl_inner_solve(r->in, r->o.inner_tol, r->o.inner_iters);
        }
        if (st != BL_OK)
            return st;
        memcpy(r->theta, bl_inner_theta(r->in), (size_t)r->p * sizeof(double));
        r->theta_ok = 1;
        r->d->inner_iters = bl_inner_iters(r->in);
        r->d->inner_stop = bl_inner_converged(r->in, r->o.inner_tol) ? BL_STOP_TOL
                           : bl_inner_stalled(r->in)                 ? BL_STOP_STALLED
                                                                     : BL_STOP_MAXITER;
    }
    return st;
}

/* ------------------------------------------------------ a-priori bound */

/* The inner scheme whose rate bounds ‖θ_N − θ*‖: gd, hb, nesterov with the
 * step and momentum derived from μ, L (the defaults); 0 otherwise. */
static int inner_scheme(const bl_run *r, bl_scheme *s)
{
    if (r->o.step != 0 || r->o.momentum != 0)
        return 0;
    if (r->o.inner == bl_inner_gd)
        *s = BL_SCHEME_GD;
    else if (r->o.inner == bl_inner_hb)
        *s = BL_SCHEME_HB;
    else if (r->o.inner == bl_inner_nesterov)
        *s = BL_SCHEME_NESTEROV;
    else
        return 0;
    return 1;
}

/* The linear scheme whose rate bounds the residual after K = linear_iters
 * steps from q = 0: ift-gd and ift-neumann (K Neumann terms = K GD steps)
 * GD, ift-hb HB, ift-cg CG, all with default steps; inexact-ad is K steps
 * of the inner's own GD / HB map on H(θ_K)q = ∇_θF (unroll.c), so its
 * scheme is the inner's. 0 for every other method. */
static int linear_scheme(const bl_run *r, bl_scheme inner, bl_scheme *s)
{
    int dflt = r->o.linear_step == 0, dflt_hb = dflt && r->o.linear_momentum == 0;
    if (r->d->linear_stop == BL_STOP_NONCONVEX)
        return 0;
    switch (r->o.method) {
    case BL_IFT_GD:
    case BL_IFT_NEUMANN: *s = BL_SCHEME_GD; return dflt;
    case BL_IFT_HB: *s = BL_SCHEME_HB; return dflt_hb;
    case BL_IFT_CG: *s = BL_SCHEME_CG; return 1;
    case BL_INEXACT_AD: *s = inner; return inner == BL_SCHEME_GD || inner == BL_SCHEME_HB;
    default: return 0;
    }
}

/* bound_a_priori with the constants k of the a-posteriori bound and its
 * ‖B‖ (certified or not: B_cert). ‖∇_θF(θ*)‖ ≤ ‖∇_θF(θ_ε)‖ + L_f‖θ_ε − θ*‖
 * ≤ ‖∇_θF(θ_ε)‖ + L_f ε̂ with ε̂ = ‖∇_θG(θ_ε)‖/μ (strong convexity), so gF
 * below is a valid input; the N and K are the iterations done, for which
 * the rates hold whatever stopped the solvers. */
static void a_priori(bl_run *r, const bl_constants *k, int B_cert)
{
    bl_scheme si, sl;
    if (!inner_scheme(r, &si) || !linear_scheme(r, si, &sl) || !isfinite(r->grad0_norm))
        return;
    double eps_hat = r->d->inner_grad_norm / k->mu;
    double gF = bl__nrm2(r->p, r->b) + k->Lf * eps_hat;
    int cert = 0;
    r->d->bound_a_priori = bl_bound_a_priori(k, si, r->d->inner_iters, r->grad0_norm, sl,
                                             r->d->linear_iters, gF, r->d->B_norm, &cert);
    r->d->a_priori_certified = isfinite(r->d->bound_a_priori) && cert && B_cert && k->certified &&
                               !r->d->constants_estimated;
}

/* ------------------------------------------------- a-posteriori bound */

/* The a-posteriori bound when the method has a q: with the problem's
 * constants, or, when it has none (or cannot give them), with constants
 * estimated at θ_ε (bl_estimate_constants; never certified). An estimate
 * that fails (e.g. a non-positive Ritz value) leaves the bound NaN. For the
 * unroll family bl_bound bounds ‖h_q − ∇h‖ (its derivation holds for any
 * q), and the measured gap ‖h_u − h_q‖ is added. Then the a-priori bound
 * with the same constants and ‖B‖. */
static bl_status bound(bl_run *r)
{
    bl_constants k;
    r->d->B_norm = NAN;
    if (!r->has_q)
        return BL_OK;
    if (!r->pb->constants || r->pb->constants(r->lambda, &k, r->pb->ctx) != BL_OK) {
        if (r->o.bound_lanczos_iters < 0)
            return BL_OK;
        int it = r->o.bound_lanczos_iters > 0 ? r->o.bound_lanczos_iters : 30;
        char keep[512];
        snprintf(keep, sizeof keep, "%s", bl_oracle_message(r->orc));
        if (bl_estimate_constants(r->orc, r->theta, r->lambda, it, &k) != BL_OK) {
            bl__fail(r->orc, BL_OK, "%s", keep); /* the estimator's own failure is not news */
            return BL_OK;                        /* diagnostics only: no bound, not a failure */
        }
        r->d->constants_estimated = 1;
    }
    bl_status st = bl_oracle_point(r->orc, NULL, r->theta, r->lambda);
    int cert = 0;
    if (st == BL_OK)
        st = bl__cross_norm(r, &r->d->B_norm, &cert);
    if (st != BL_OK)
        return st;
    r->d->bound_a_posteriori = bl_bound(&k, r->d->inner_grad_norm / k.mu, r->d->linear_residual,
                                        bl__nrm2(r->p, r->q), r->d->B_norm);
    if (r->q_equiv) /* ‖h_u − ∇h‖ ≤ ‖h_u − h_q‖ + ‖h_q − ∇h‖ */
        r->d->bound_a_posteriori += r->d->unroll_gap;
    r->d->bound_certified = cert && k.certified && !r->d->constants_estimated;
    r->d->bound_mu = k.mu;
    r->d->bound_L = k.L;
    a_priori(r, &k, cert);
    return BL_OK;
}

/* The unroll family's gap ‖h_u − h_q‖ = ‖hg − (∇_λF − cross)‖ with
 * cross = ∇²_λθG(θ_K) q_u (m), from the residual's own sweep. */
static double gap_to_hq(const bl_run *r, double *cross)
{
    for (int j = 0; j < r->m; j++)
        cross[j] = r->hg[j] - (r->gl[j] - cross[j]);
    return bl__nrm2(r->m, cross);
}

/* After the estimate: outer value, inner gradient norm, residual of q (and
 * for the unroll family the gap to h_q, from the same sweep) and the
 * bounds. The products spent here are diagnostics, not charged. */
static bl_status finish(bl_run *r)
{
    bl_counts keep = bl_oracle_counts(r->orc);
    double *g = malloc((size_t)(r->p + r->m) * sizeof(double)), *cross = g + r->p;
    if (!g)
        return bl__fail(r->orc, BL_ENOMEM, "diagnostics: out of memory");
    bl__oracle_drop_point(r->orc); /* ∇G on an empty tape, not on top of a stale point */
    bl_status st = bl_oracle_G(r->orc, NULL, r->theta, r->lambda, NULL, g, NULL);
    r->d->inner_grad_norm = st == BL_OK ? bl__nrm2(r->p, g) : NAN;
    r->d->linear_residual = NAN;
    if (st == BL_OK && r->has_q) {
        st = bl_oracle_point(r->orc, NULL, r->theta, r->lambda);
        if (st == BL_OK)
            st = bl_oracle_hvp(r->orc, r->q, g, r->q_equiv ? cross : NULL);
        if (st == BL_OK) {
            bl__axpy(r->p, -1.0, r->b, g);
            r->d->linear_residual = bl__nrm2(r->p, g);
            if (r->q_equiv)
                r->d->unroll_gap = gap_to_hq(r, cross);
            st = bound(r);
        }
    }
    free(g);
    keep.fval += r->extra.fval;
    keep.grad += r->extra.grad;
    keep.hvp += r->extra.hvp;
    keep.cross += r->extra.cross;
    r->d->counts = keep;
    return st;
}

bl_status bl_hypergrad(const bl_problem *pb, const double *lambda, const bl_hg_opts *opts,
                       double *hg, bl_diag *diag, char *msg, size_t msglen)
{
    bl_status st = check_inputs(pb, lambda, opts, hg, msg, msglen);
    if (st != BL_OK)
        return st;
    bl_diag dd;
    diag = diag ? diag : &dd;
    memset(diag, 0, sizeof *diag);
    diag->method = opts->method;
    diag->bound_a_posteriori = NAN;
    diag->linear_residual = NAN;
    diag->B_norm = NAN;
    diag->bound_mu = diag->bound_L = NAN;
    diag->unroll_gap = NAN;
    diag->bound_a_priori = NAN;
    double t0 = now();
    bl_run r = {.pb = pb, .p = pb->p, .m = pb->m, .lambda = lambda, .hg = hg, .d = diag,
                .grad0_norm = NAN};
    resolve_defaults(&r, opts);
    r.orc = bl_oracle_new(pb, r.o.max_tape_bytes);
    r.theta = calloc((size_t)(3 * r.p + r.m), sizeof(double));
    if (!r.orc || !r.theta) {
        if (msg && msglen)
            snprintf(msg, msglen, "%s: out of memory (p = %d, m = %d)", bl_method_name(opts->method),
                     r.p, r.m);
        bl_oracle_free(r.orc);
        free(r.theta);
        return BL_ENOMEM;
    }
    r.b = r.theta + r.p;
    r.q = r.b + r.p;
    r.gl = r.q + r.p;
    st = prepare(&r);
    bl__oracle_drop_point(r.orc); /* e.g. Newton-CG's last point */
    if (st == BL_OK && !own_inner_loop(r.o.method))
        st = bl_oracle_F(r.orc, NULL, r.theta, lambda, &diag->outer_value, r.b, r.gl);
    if (st == BL_OK && !(r.o.linear_tol > 0)) {
        double bn = bl__nrm2(r.p, r.b);
        r.o.linear_tol = 1e-12 * (bn > 1.0 ? bn : 1.0);
    }
    if (st == BL_OK)
        st = method_fns[r.o.method](&r);
    bl_status fst = (st == BL_OK || st == BL_ENONCONVEX) ? finish(&r) : BL_OK;
    st = st != BL_OK ? st : fst;
    if (st != BL_OK && msg && msglen)
        snprintf(msg, msglen, "%s: %s", bl_method_name(opts->method), bl_oracle_message(r.orc));
    if (opts->theta_out && r.theta_ok)
        memcpy(opts->theta_out, r.theta, (size_t)r.p * sizeof(double));
    else if (opts->theta_out)
        for (int j = 0; j < r.p; j++)
            opts->theta_out[j] = NAN;
    if (opts->q_out && r.has_q)
        memcpy(opts->q_out, r.q, (size_t)r.p * sizeof(double));
    size_t pk = bl_oracle_peak_bytes(r.orc);
    diag->peak_tape_bytes = pk > r.extra_peak ? pk : r.extra_peak;
    diag->seconds = now() - t0;
    bl_inner_free(r.in);
    bl_oracle_free(r.orc);
    free(r.theta);
    return st;
}
