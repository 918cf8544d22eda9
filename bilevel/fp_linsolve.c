/*
 * bilevel/fp_linsolve.c — the backward equation (I − J)ᵀu = b, J = ∂_θf at
 * the oracle's point, with VJP products uᵀJ only (Jᵀu). The matrix is not
 * symmetric, so CG does not apply: restarted GMRES (Saad & Schultz 1986;
 * Arnoldi with modified Gram–Schmidt, Givens rotations on the Hessenberg
 * matrix), BiCGStab (van der Vorst 1992), or the fixed-point iteration
 * u ← Jᵀu + b (a Neumann series; converges when ‖J‖ < 1).
 */
#include "bilevel/fp_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const lin_names[BL_FP_LIN_COUNT] = {"gmres", "bicgstab", "fixed"};

const char *bl_fp_linear_name(bl_fp_linear m)
{
    return (unsigned)m < BL_FP_LIN_COUNT ? lin_names[m] : "unknown";
}

bl_status bl_fp_linear_from_name(const char *name, bl_fp_linear *out)
{
    for (int i = 0; name && i < BL_FP_LIN_COUNT; i++)
        if (!strcmp(name, lin_names[i])) {
            *out = (bl_fp_linear)i;
            return BL_OK;
        }
    return BL_EINVAL;
}

/* A solve in progress. */
typedef struct lin {
    bl_fp_oracle *o;
    int p, max;
    double tol, r0;   /* tolerance (0: none), initial residual norm */
    const double *b;
    double *u;
    int iters;
    double rn;
    bl_stop stop;
} lin;

/* out = (I − Jᵀ)x. */
static bl_status op(lin *L, const double *x, double *out)
{
    bl_status st = bl_fp_oracle_vjp(L->o, x, out, NULL);
    if (st != BL_OK)
        return st;
    for (int i = 0; i < L->p; i++)
        out[i] = x[i] - out[i];
    return BL_OK;
}

/* r = b − (I − Jᵀ)u; returns its norm in L->rn. */
static bl_status residual(lin *L, double *r)
{
    bl_status st = op(L, L->u, r);
    if (st != BL_OK)
        return st;
    for (int i = 0; i < L->p; i++)
        r[i] = L->b[i] - r[i];
    L->rn = bl__nrm2(L->p, r);
    return BL_OK;
}

static int met(const lin *L) { return L->tol > 0 && L->rn <= L->tol; }

/* The iterates diverged: residual 1e10-fold beyond max(1, its start). */
static int diverged(lin *L)
{
    if (isfinite(L->rn) && L->rn <= 1e10 * fmax(1, L->r0))
        return 0;
    L->stop = BL_STOP_DIVERGED;
    return 1;
}

static bl_status gmres(lin *L, int restart)
{
    int p = L->p, r = restart;
    double *V = bl__fp_alloc(L->o, "fp_linear gmres: Krylov basis", (size_t)(r + 1) * (size_t)p);
    double *H = bl__fp_alloc(L->o, "fp_linear gmres: Hessenberg", (size_t)(r + 1) * (size_t)r);
    double *cs = bl__fp_alloc(L->o, "fp_linear gmres: rotations", (size_t)3 * (size_t)(r + 1));
    double *y = bl__fp_alloc(L->o, "fp_linear gmres: coefficients", (size_t)(r + 1));
    bl_status st = V && H && cs && y ? BL_OK : BL_ENOMEM;
    double *sn = cs + (r + 1), *g = sn + (r + 1);
    if (st == BL_OK)
        st = residual(L, V);
    L->r0 = L->rn;
    while (st == BL_OK && !met(L) && L->iters < L->max && L->rn > 0) {
        double beta = L->rn;
        cblas_dscal(p, 1 / beta, V, 1);
        memset(g, 0, (size_t)(r + 1) * sizeof *g);
        g[0] = beta;
        int k = 0;
        for (int j = 0; j < r && L->iters < L->max; j++) {
            double *w = V + (size_t)(j + 1) * p;
            if ((st = op(L, V + (size_t)j * p, w)) != BL_OK)
                break;
            L->iters++;
            for (int i = 0; i <= j; i++) {
                H[i * r + j] = bl__dot(p, w, V + (size_t)i * p);
                bl__axpy(p, -H[i * r + j], V + (size_t)i * p, w);
            }
            double hn = bl__nrm2(p, w);
            H[(j + 1) * r + j] = hn;
            for (int i = 0; i < j; i++) {
                double a = H[i * r + j], c = H[(i + 1) * r + j];
                H[i * r + j] = cs[i] * a + sn[i] * c;
                H[(i + 1) * r + j] = -sn[i] * a + cs[i] * c;
            }
            double a = H[j * r + j], den = hypot(a, hn);
            cs[j] = den > 0 ? a / den : 1;
            sn[j] = den > 0 ? hn / den : 0;
            H[j * r + j] = den;
            H[(j + 1) * r + j] = 0;
            g[j + 1] = -sn[j] * g[j];
            g[j] = cs[j] * g[j];
            L->rn = fabs(g[j + 1]);
            k = j + 1;
            if (hn > 0)
                cblas_dscal(p, 1 / hn, w, 1);
            if (met(L) || !(hn > 1e-300 * beta) || diverged(L))
                break;
        }
        for (int i = k - 1; i >= 0; i--) {
            double s = g[i];
            for (int l = i + 1; l < k; l++)
                s -= H[i * r + l] * y[l];
            y[i] = H[i * r + i] != 0 ? s / H[i * r + i] : 0;
        }
        for (int i = 0; i < k && st == BL_OK; i++)
            bl__axpy(p, y[i], V + (size_t)i * p, L->u);
        if (st != BL_OK || L->stop == BL_STOP_DIVERGED || met(L) || L->iters >= L->max)
            break;
        st = residual(L, V); /* restart (or happy breakdown): the true residual */
        if (k == 0)
            break;
    }
    free(V);
    free(H);
    free(cs);
    free(y);
    return st;
}

static bl_status bicgstab(lin *L)
{
    int p = L->p;
    double *w = bl__fp_alloc(L->o, "fp_linear bicgstab: work", (size_t)6 * (size_t)p);
    if (!w)
        return BL_ENOMEM;
    double *r = w, *rh = w + p, *pp = w + 2 * p, *v = w + 3 * p, *s = w + 4 * p, *t = w + 5 * p;
    bl_status st = residual(L, r);
    L->r0 = L->rn;
    memcpy(rh, r, (size_t)p * sizeof *r);
    double rho = 1, alpha = 1, omega = 1;
    while (st == BL_OK && !met(L) && L->iters < L->max && L->rn > 0) {
        double rho1 = bl__dot(p, rh, r);
        if (rho1 == 0 || omega == 0)
            break; /* breakdown: stop with the current iterate */
        double beta = (rho1 / rho) * (alpha / omega);
        for (int i = 0; i < p; i++)
            pp[i] = r[i] + beta * (pp[i] - omega * v[i]);
        if ((st = op(L, pp, v)) != BL_OK)
            break;
        double rv = bl__dot(p, rh, v);
        if (rv == 0)
            break;
        alpha = rho1 / rv;
        for (int i = 0; i < p; i++)
            s[i] = r[i] - alpha * v[i];
        L->iters++;
        if (L->tol > 0 && bl__nrm2(p, s) <= L->tol) {
            bl__axpy(p, alpha, pp, L->u);
            L->rn = bl__nrm2(p, s);
            break;
        }
        if ((st = op(L, s, t)) != BL_OK)
            break;
        double tt = bl__dot(p, t, t);
        omega = tt > 0 ? bl__dot(p, t, s) / tt : 0;
        for (int i = 0; i < p; i++) {
            L->u[i] += alpha * pp[i] + omega * s[i];
            r[i] = s[i] - omega * t[i];
        }
        L->rn = bl__nrm2(p, r);
        rho = rho1;
        if (diverged(L))
            break;
    }
    free(w);
    return st;
}

static bl_status fixed(lin *L)
{
    int p = L->p;
    double *w = bl__fp_alloc(L->o, "fp_linear fixed: work", (size_t)p);
    if (!w)
        return BL_ENOMEM;
    bl_status st = BL_OK;
    for (;;) {
        if ((st = bl_fp_oracle_vjp(L->o, L->u, w, NULL)) != BL_OK)
            break;
        double s = 0;
        for (int i = 0; i < p; i++) {
            double ri = L->u[i] - w[i] - L->b[i];
            s += ri * ri;
        }
        L->rn = sqrt(s);
        if (L->iters == 0)
            L->r0 = L->rn;
        if (met(L) || L->iters >= L->max || diverged(L))
            break;
        for (int i = 0; i < p; i++)
            L->u[i] = w[i] + L->b[i];
        L->iters++;
    }
    free(w);
    return st;
}

bl_status bl_fp_linear_solve(bl_fp_oracle *o, bl_fp_linear method, const double *b, double *u,
                             const bl_fp_linear_opts *opts, bl_fp_linear_result *res)
{
    bl_fp_linear_opts op0 = opts ? *opts : (bl_fp_linear_opts){0};
    if (!o)
        return BL_EINVAL;
    if (!b || !u)
        return bl__fp_fail(o, BL_EINVAL, "fp_linear_solve: b or u is NULL");
    if ((unsigned)method >= BL_FP_LIN_COUNT)
        return bl__fp_fail(o, BL_EINVAL, "fp_linear_solve: method = %d is not a bl_fp_linear",
                           (int)method);
    if (op0.max_iters < 0 || op0.restart < 0 || !(op0.tol >= 0))
        return bl__fp_fail(o, BL_EINVAL,
                           "fp_linear_solve: max_iters = %d, restart = %d, tol = %g must be >= 0",
                           op0.max_iters, op0.restart, op0.tol);
    lin L = {o, bl_fp_oracle_problem(o)->p, op0.max_iters ? op0.max_iters : 200, op0.tol, NAN,
             b, u, 0, NAN, BL_STOP_NONE};
    if (!bl__fp_finite(b, L.p) || !bl__fp_finite(u, L.p))
        return bl__fp_fail(o, BL_ENONFINITE, "fp_linear_solve: b or the start u is not finite");
    bl_status st = method == BL_FP_LIN_GMRES      ? gmres(&L, op0.restart ? op0.restart : 30)
                   : method == BL_FP_LIN_BICGSTAB ? bicgstab(&L)
                                                  : fixed(&L);
    if (st == BL_OK && L.stop != BL_STOP_DIVERGED && !bl__fp_finite(u, L.p))
        L.stop = BL_STOP_DIVERGED;
    if (L.stop == BL_STOP_NONE)
        L.stop = (met(&L) || L.rn == 0) ? BL_STOP_TOL : BL_STOP_MAXITER;
    if (res)
        *res = (bl_fp_linear_result){L.iters, L.rn, L.stop};
    if (st != BL_OK)
        return st;
    if (L.stop == BL_STOP_DIVERGED)
        return bl__fp_fail(o, BL_ENONFINITE,
                           "fp_linear %s: diverged at iteration %d (residual %.3g from %.3g)",
                           lin_names[method], L.iters, L.rn, L.r0);
    if (L.tol > 0 && !met(&L))
        return bl__fp_fail(o, BL_ENOTCONVERGED,
                           "fp_linear %s: residual %.3g > tol %.3g after %d iterations",
                           lin_names[method], L.rn, L.tol, L.iters);
    return BL_OK;
}
