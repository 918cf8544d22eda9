/*
 * bilevel/linsolve.c — iterative solves of H q = b with Hessian-vector
 * products at the oracle's point: CG, GD, heavy ball, Neumann series.
 */
#include "bilevel/internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const stop_names[BL_STOP_COUNT] = {
    [BL_STOP_NONE] = "not run",
    [BL_STOP_TOL] = "tolerance",
    [BL_STOP_MAXITER] = "iteration cap",
    [BL_STOP_NONCONVEX] = "non-positive curvature",
    [BL_STOP_DIRECT] = "direct solve",
    [BL_STOP_STALLED] = "stalled at rounding level",
};

const char *bl_stop_name(bl_stop s)
{
    return ((unsigned)s < BL_STOP_COUNT) ? stop_names[s] : "unknown";
}

typedef struct lin {
    bl_oracle *o;
    int p, kmax;
    double tol;
    const bl_linear_opts *opts;
    bl_linear_result *res;
    double *w; /* 3p doubles of work */
} lin;

/* r = Hq − b; returns its norm through *rn. */
static bl_status residual(lin *L, const double *b, const double *q, double *r, double *rn)
{
    bl_status st = bl_oracle_hvp(L->o, q, r, NULL);
    if (st != BL_OK)
        return st;
    bl__axpy(L->p, -1.0, b, r);
    *rn = bl__nrm2(L->p, r);
    return BL_OK;
}

/* Bookkeeping after iteration k: returns 1 when the loop must stop. */
static int after_iter(lin *L, int k, const double *q, double rn)
{
    L->res->iters = k;
    L->res->residual = rn;
    if (L->opts->monitor && L->opts->monitor(k, q, rn, L->opts->monitor_ctx)) {
        L->res->stop = BL_STOP_TOL;
        return 1;
    }
    if (L->tol > 0 && rn <= L->tol) {
        L->res->stop = BL_STOP_TOL;
        return 1;
    }
    if (k >= L->kmax) {
        L->res->stop = BL_STOP_MAXITER;
        return 1;
    }
    return 0;
}

static bl_status solve_cg(lin *L, const double *b, double *q)
{
    int p = L->p;
    double *r = L->w, *d = r + p, *hd = d + p, rn;
    bl_status st = residual(L, b, q, r, &rn); /* r = Hq − b */
    if (st != BL_OK)
        return st;
    bl__axpy(p, -2.0, r, r); /* r = b − Hq */
    L->res->residual = rn;
    if (L->tol > 0 && rn <= L->tol) {
        L->res->stop = BL_STOP_TOL;
        return BL_OK;
    }
    memcpy(d, r, (size_t)p * sizeof(double));
    double rr = rn * rn;
    for (int k = 1;; k++) {
        if ((st = bl_oracle_hvp(L->o, d, hd, NULL)) != BL_OK)
            return st;
        double curv = bl__dot(p, d, hd);
        if (!(curv > 0)) {
            L->res->stop = BL_STOP_NONCONVEX;
            L->res->iters = k - 1;
            return bl__fail(L->o, BL_ENONCONVEX,
                            "cg: non-positive curvature d'Hd = %g at iteration %d (G is not strongly convex here); returning the last iterate",
                            curv, k);
        }
        double a = rr / curv;
        bl__axpy(p, a, d, q);
        bl__axpy(p, -a, hd, r);
        double rr1 = bl__dot(p, r, r);
        if (after_iter(L, k, q, sqrt(rr1)))
            return BL_OK;
        if (rr1 == 0.0) { /* exact solution: nothing left to do */
            L->res->stop = BL_STOP_TOL;
            return BL_OK;
        }
        double beta = rr1 / rr;
        rr = rr1;
        for (int j = 0; j < p; j++)
            d[j] = r[j] + beta * d[j];
    }
}

/* GD (beta = 0) and heavy ball: q ← q − α(Hq − b) + β(q − q_prev). */
static bl_status solve_momentum(lin *L, const double *b, double *q, double a, double beta)
{
    int p = L->p;
    double *r = L->w, *prev = r + p, rn;
    memcpy(prev, q, (size_t)p * sizeof(double));
    bl_status st = residual(L, b, q, r, &rn);
    L->res->residual = rn;
    for (int k = 1; st == BL_OK; k++) {
        if (k == 1 && L->tol > 0 && rn <= L->tol) {
            L->res->stop = BL_STOP_TOL;
            return BL_OK;
        }
        for (int j = 0; j < p; j++) {
            double qj = q[j];
            q[j] = qj - a * r[j] + beta * (qj - prev[j]);
            prev[j] = qj;
        }
        if ((st = residual(L, b, q, r, &rn)) == BL_OK && after_iter(L, k, q, rn))
            return BL_OK;
    }
    return st;
}

/* q = α Σ_{j<K} t_j, t_0 = b, t_{j+1} = t_j − αH t_j; the residual of the
 * partial sum is −t_K, so it costs nothing. q's initial value is ignored. */
static bl_status solve_neumann(lin *L, const double *b, double *q, double a)
{
    int p = L->p;
    double *tj = L->w, *ht = tj + p;
    memcpy(tj, b, (size_t)p * sizeof(double));
    memset(q, 0, (size_t)p * sizeof(double));
    L->res->residual = bl__nrm2(p, b);
    for (int k = 1;; k++) {
        bl__axpy(p, a, tj, q);
        bl_status st = bl_oracle_hvp(L->o, tj, ht, NULL);
        if (st != BL_OK)
            return st;
        bl__axpy(p, -a, ht, tj);
        if (after_iter(L, k, q, bl__nrm2(p, tj)))
            return BL_OK;
    }
}

/* α and β from the options, else from the problem's constants at the
 * oracle's point. */
static bl_status resolve_steps(bl_oracle *o, bl_linear method, const bl_linear_opts *opts,
                               double *a, double *beta)
{
    *a = opts->step;
    *beta = opts->momentum;
    if (method == BL_LINEAR_CG || (*a > 0 && (method != BL_LINEAR_HB || *beta > 0)))
        return BL_OK;
    bl_constants k;
    bl_status st = bl__constants(o, bl__oracle_lambda(o), &k, "linear solve");
    if (st != BL_OK)
        return st;
    double sl = sqrt(k.L), sm = sqrt(k.mu);
    if (!(*a > 0))
        *a = method == BL_LINEAR_HB ? 4.0 / ((sl + sm) * (sl + sm)) : 2.0 / (k.L + k.mu);
    if (!(*beta > 0) && method == BL_LINEAR_HB)
        *beta = ((sl - sm) / (sl + sm)) * ((sl - sm) / (sl + sm));
    return BL_OK;
}

bl_status bl_linear_solve(bl_oracle *o, bl_linear method, const double *b, double *q,
                          const bl_linear_opts *opts, bl_linear_result *res)
{
    bl_linear_opts dflt = {0};
    bl_linear_result dummy;
    opts = opts ? opts : &dflt;
    res = res ? res : &dummy;
    memset(res, 0, sizeof *res);
    const bl_problem *pb = bl_oracle_problem(o);
    if (!b || !q || (unsigned)method >= BL_LINEAR_COUNT)
        return bl__fail(o, BL_EINVAL, "linear solve: bad arguments (method %d)", (int)method);
    lin L = {o, pb->p, opts->max_iters > 0 ? opts->max_iters : 1000, opts->tol, opts, res, NULL};
    double a, beta;
    bl_status st0 = resolve_steps(o, method, opts, &a, &beta);
    if (st0 != BL_OK)
        return st0;
    res->step = method == BL_LINEAR_CG ? 0 : a;
    res->momentum = method == BL_LINEAR_HB ? beta : 0;
    L.w = malloc(3 * (size_t)L.p * sizeof(double));
    if (!L.w)
        return bl__fail(o, BL_ENOMEM, "linear solve: out of memory (p = %d)", L.p);
    bl_status st;
    switch (method) {
    case BL_LINEAR_CG: st = solve_cg(&L, b, q); break;
    case BL_LINEAR_GD: st = solve_momentum(&L, b, q, a, 0.0); break;
    case BL_LINEAR_HB: st = solve_momentum(&L, b, q, a, beta); break;
    default: st = solve_neumann(&L, b, q, a); break;
    }
    free(L.w);
    return st;
}
