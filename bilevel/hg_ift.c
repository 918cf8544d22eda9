/*
 * bilevel/hg_ift.c — the estimators built on a linear-system iterate q:
 * the IFT family (q from a linear solve), ift-identity (q = ∇_θF), the
 * exact dense solve and SHINE (q from the inner L-BFGS's inverse Hessian).
 * Each sets hg = ∇_λF − cross(q) at θ_ε.
 */
#include "bilevel/internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

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

/* Stops a linear solve at the first iteration whose residual is not finite
 * or grew beyond 1e10·max(1, ‖∇_θF‖): the verdict reports it as diverging at
 * that iteration (with a finite q, so hg is still produced) instead of
 * running on to Inf and NaN. */
typedef struct lin_watch {
    double limit;
    int at; /* the iteration that blew up, 0 while none */
} lin_watch;

static int watch_divergence(int k, const double *q, double residual, void *ctx)
{
    lin_watch *w = ctx;
    (void)q;
    if (residual <= w->limit)
        return 0;
    w->at = k;
    return 1;
}

/* The context's resumable solver when it is of this method (its options
 * get this evaluation's tolerance), else a one-off bl_linear_solve. Both
 * run the same new/set/solve sequence, so the numbers agree. */
static bl_status solve(bl_run *r, bl_linear method, double *q, bl_linear_result *res,
                       lin_watch *w)
{
    bl_linsolve *ls = r->ls;
    if (!ls || bl_linsolve_type_of(ls) != bl_linear_type(method)) {
        bl_linear_opts lo = {r->o.linear_tol > 0 ? r->o.linear_tol : 0, r->o.linear_iters,
                             r->o.linear_step, r->o.linear_momentum, watch_divergence, w};
        return bl_linear_solve(r->orc, method, r->b, q, &lo, res);
    }
    memset(res, 0, sizeof *res);
    ls->opts.tol = r->o.linear_tol > 0 ? r->o.linear_tol : 0;
    ls->opts.monitor = watch_divergence;
    ls->opts.monitor_ctx = w;
    bl_status st = bl_linsolve_set(ls, r->b, method == BL_LINEAR_NEUMANN ? NULL : q);
    if (st != BL_OK) {
        res->steps_estimated = bl_linsolve_steps_estimated(ls);
        return st;
    }
    st = bl_linsolve_solve(ls, res);
    memcpy(q, bl_linsolve_q(ls), (size_t)r->p * sizeof(double));
    return st;
}

bl_status bl__hg_linear(bl_run *r, bl_linear method, double *q)
{
    lin_watch w = {1e10 * fmax(1.0, bl__nrm2(r->p, r->b)), 0};
    bl_linear_result res;
    bl_status st = solve(r, method, q, &res, &w);
    r->d->linear_iters = res.iters;
    r->d->linear_stop = w.at ? BL_STOP_DIVERGED : res.stop; /* the monitor's stop says "tolerance" */
    r->d->linear_residual = res.residual; /* the solver's own; the full level recomputes it */
    r->d->steps_estimated |= res.steps_estimated ? 2 : 0;
    return st;
}

/* BL_ENONCONVEX from a linear solve that ran (CG met non-positive
 * curvature): q is its best iterate and hg is computed from it. The same
 * status from before the first iteration (e.g. steps estimated from a
 * non-positive Ritz value) leaves no iterate: a failure. */
static int best_iterate(const bl_run *r, bl_status st)
{
    return st == BL_ENONCONVEX && r->d->linear_stop == BL_STOP_NONCONVEX;
}

/* ift-cg, -gd, -hb, -neumann: q from the method's linear solve, started
 * from the previous q when the context warm-starts it (r->q_warm), else 0. */
bl_status bl__hg_ift(bl_run *r)
{
    if (!r->q_warm)
        memset(r->q, 0, (size_t)r->p * sizeof(double));
    bl_status st = bl_oracle_point(r->orc, NULL, r->theta, r->lambda);
    if (st == BL_OK)
        st = bl__hg_linear(r, (bl_linear)r->M->linear, r->q);
    if (st == BL_OK || best_iterate(r, st)) { /* non-convex: the best iterate, and say so */
        bl_status st2 = bl__hg_from_q(r, r->q);
        return st2 != BL_OK ? st2 : st;
    }
    return st;
}

bl_status bl__hg_identity(bl_run *r)
{
    bl_status st = bl_oracle_point(r->orc, NULL, r->theta, r->lambda);
    r->d->linear_stop = BL_STOP_DIRECT;
    return st != BL_OK ? st : bl__hg_from_q(r, r->b);
}

/* LAPACK (OpenBLAS ships it): Cholesky factorisation and solve. */
extern void dpotrf_(const char *uplo, const int *n, double *a, const int *lda, int *info);
extern void dpotrs_(const char *uplo, const int *n, const int *nrhs, const double *a,
                    const int *lda, double *b, const int *ldb, int *info);

bl_status bl__hg_exact(bl_run *r)
{
    int p = r->p, info = 0, one = 1;
    if (p > 20000)
        return bl__fail(r->orc, BL_EINVAL, "p = %d is too large for a dense solve (limit 20000)", p);
    double *H = malloc((size_t)p * p * sizeof(double)), *e = calloc((size_t)p, sizeof(double));
    bl_status st = (H && e) ? bl_oracle_point(r->orc, NULL, r->theta, r->lambda)
                            : bl__fail(r->orc, BL_ENOMEM, "cannot allocate the dense H (%d x %d doubles)", p, p);
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
         * CG's best iterate from q = 0 and hg from it, with BL_ENONCONVEX.
         * The Cholesky failure is recorded first: it is the message. */
        bl__fail(r->orc, BL_ENONCONVEX,
                 "Cholesky of H failed at column %d (H is not positive definite); "
                 "hg is from CG's best iterate", info);
        memset(r->q, 0, (size_t)p * sizeof(double));
        st = bl__hg_linear(r, BL_LINEAR_CG, r->q);
        if (st == BL_OK || st == BL_ENONCONVEX) {
            bl_status st2 = bl__hg_from_q(r, r->q);
            st = st2 != BL_OK ? st2 : BL_ENONCONVEX;
        }
        r->d->linear_stop = BL_STOP_NONCONVEX;
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
bl_status bl__hg_shine(bl_run *r)
{
    const double *S0, *Y0;
    int p = r->p, cnt = bl_inner_lbfgs_pairs(r->in, &S0, &Y0);
    if (bl_inner_type_of(r->in) != bl_inner_lbfgs)
        return bl__fail(r->orc, BL_EINVAL, "needs the lbfgs inner solver, not %s",
                        bl_inner_type_name(bl_inner_type_of(r->in)));
    int cap = cnt + 1;
    double *S = malloc(((size_t)2 * cap * p + cap + 2 * (size_t)p) * sizeof(double));
    if (!S)
        return bl__fail(r->orc, BL_ENOMEM, "cannot allocate %d secant pairs of size %d", cap, p);
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
        st = bl__hg_linear(r, BL_LINEAR_CG, r->q);
    else if (st == BL_OK)
        r->d->linear_stop = BL_STOP_DIRECT;
    if (st == BL_OK || best_iterate(r, st)) {
        bl_status st2 = bl__hg_from_q(r, r->q);
        st = st2 != BL_OK ? st2 : st;
    }
    free(S);
    return st;
}

