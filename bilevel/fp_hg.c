/*
 * bilevel/fp_hg.c — the fixed-point hypergradient context (bl_fphg): the
 * forward root solve, the backward estimators, and the diagnostics.
 *   ∇h(λ) ≈ ∇_λL(θ_ε) + (∂_λf(θ_ε))ᵀu, with u by the method:
 *   ift            (I − ∂_θf)ᵀu = ∇_θL by GMRES, BiCGStab or fixed-point
 *   jacobian-free  u = ∇_θL
 *   shine          u = Hᵀ∇_θL, H Broyden's inverse estimate of ∂g
 *   shine-refine   shine's u as the start of the ift solve
 *   exact          ∂_θf by p JVPs, dense LU of (I − ∂_θf)ᵀ
 *   unroll         the reverse sweep through K fixed-point steps (no u)
 */
#include "bilevel/fp_internal.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct bl_fphg {
    const bl_fp_problem *pb;
    bl_fp_hg_opts o;      /* defaults resolved (theta0 points to our copy) */
    bl_fp_oracle *orc;
    bl_root *root;
    int p, m;
    double *theta0, *start; /* p each */
    double *theta, *u;    /* θ_ε, u (p each) */
    int theta_ok, u_ok;
    double *b, *gl, *w, *wl; /* ∇_θL (p), ∇_λL (m), Jᵀu (p), (∂_λf)ᵀu (m) */
    double *work;         /* 2p + m */
    double *J;            /* exact: p×p, allocated on first use */
    char msg[256];
};

static const char *const method_names[BL_FP_METHOD_COUNT] = {
    "ift", "unroll", "jacobian-free", "shine", "shine-refine", "exact"};

const char *bl_fp_method_name(bl_fp_method m)
{
    return (unsigned)m < BL_FP_METHOD_COUNT ? method_names[m] : "unknown";
}

bl_status bl_fp_method_from_name(const char *name, bl_fp_method *out)
{
    for (int i = 0; name && i < BL_FP_METHOD_COUNT; i++)
        if (!strcmp(name, method_names[i])) {
            *out = (bl_fp_method)i;
            return BL_OK;
        }
    return BL_EINVAL;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static bl_status say(char *msg, size_t len, bl_status st, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static bl_status say(char *msg, size_t len, bl_status st, const char *fmt, ...)
{
    if (msg && len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, len, fmt, ap);
        va_end(ap);
    }
    return st;
}

/* The root type a method uses when opts.root is NULL. */
static const bl_root_type *default_root(bl_fp_method m)
{
    return m == BL_FP_UNROLL ? bl_root_fixed : bl_root_broyden;
}

bl_status bl_fphg_check(const bl_fp_problem *pb, const bl_fp_hg_opts *opts, char *msg,
                        size_t msglen)
{
    bl_fp_hg_opts o = opts ? *opts : (bl_fp_hg_opts){0};
    if (msg && msglen)
        msg[0] = '\0';
    if (!pb || !pb->f || !pb->L || pb->p <= 0 || pb->m <= 0)
        return say(msg, msglen, BL_EINVAL, "fphg_check: the problem needs f, L and p, m > 0");
    if ((unsigned)o.method >= BL_FP_METHOD_COUNT)
        return say(msg, msglen, BL_EINVAL, "fphg_check: method = %d is not a bl_fp_method",
                   (int)o.method);
    const bl_root_type *T = o.root ? o.root : default_root(o.method);
    if (o.method == BL_FP_UNROLL && T != bl_root_fixed)
        return say(msg, msglen, BL_EINVAL,
                   "fphg_check: unroll differentiates fixed-point steps: root must be fixed, not %s",
                   T->name);
    if ((o.method == BL_FP_SHINE || o.method == BL_FP_SHINE_REFINE) && T != bl_root_broyden)
        return say(msg, msglen, BL_EINVAL,
                   "fphg_check: %s needs Broyden's inverse estimate: root must be broyden, not %s",
                   method_names[o.method], T->name);
    if (o.method == BL_FP_EXACT && pb->p > BL_FP_EXACT_MAX_P)
        return say(msg, msglen, BL_EINVAL, "fphg_check: exact needs p <= %d, p = %d",
                   BL_FP_EXACT_MAX_P, pb->p);
    if ((unsigned)o.linear >= BL_FP_LIN_COUNT)
        return say(msg, msglen, BL_EINVAL, "fphg_check: linear = %d is not a bl_fp_linear",
                   (int)o.linear);
    if (o.root_iters < 0 || o.linear_iters < 0 || o.restart < 0 || o.memory < 0)
        return say(msg, msglen, BL_EINVAL,
                   "fphg_check: root_iters = %d, linear_iters = %d, restart = %d, memory = %d "
                   "must be >= 0",
                   o.root_iters, o.linear_iters, o.restart, o.memory);
    if (!(o.damping >= 0 && o.damping <= 1))
        return say(msg, msglen, BL_EINVAL, "fphg_check: damping = %g must be in [0, 1]", o.damping);
    if (isnan(o.root_tol) || isnan(o.linear_tol) || !(o.linear_rtol >= 0))
        return say(msg, msglen, BL_EINVAL,
                   "fphg_check: root_tol = %g, linear_tol = %g, linear_rtol = %g (must be >= 0)",
                   o.root_tol, o.linear_tol, o.linear_rtol);
    if (o.theta0 && !bl__fp_finite(o.theta0, pb->p))
        return say(msg, msglen, BL_ENONFINITE, "fphg_check: theta0 is not finite");
    return BL_OK;
}

void bl_fphg_free(bl_fphg *h)
{
    if (!h)
        return;
    bl_root_free(h->root);
    bl_fp_oracle_free(h->orc);
    free(h->theta0);
    free(h->start);
    free(h->theta);
    free(h->u);
    free(h->b);
    free(h->gl);
    free(h->w);
    free(h->wl);
    free(h->work);
    free(h->J);
    free(h);
}

bl_fphg *bl_fphg_new(const bl_fp_problem *pb, const bl_fp_hg_opts *opts, bl_status *st)
{
    bl_status s = bl_fphg_check(pb, opts, NULL, 0);
    bl_fphg *h = NULL;
    if (s != BL_OK)
        goto out;
    h = calloc(1, sizeof *h);
    if (!h || !(h->orc = bl_fp_oracle_new(pb, opts ? opts->max_tape_bytes : 0))) {
        s = BL_ENOMEM;
        goto out;
    }
    h->pb = pb;
    h->o = opts ? *opts : (bl_fp_hg_opts){0};
    h->p = pb->p;
    h->m = pb->m;
    bl_fp_hg_opts *o = &h->o;
    if (!o->root)
        o->root = default_root(o->method);
    if (o->root_tol == 0)
        o->root_tol = o->method == BL_FP_UNROLL ? -1 : 1e-10;
    if (!o->root_iters)
        o->root_iters = 200;
    if (!o->linear_iters)
        o->linear_iters = 200;
    size_t p = (size_t)h->p, m = (size_t)h->m;
    if (!(h->theta0 = bl__fp_alloc(h->orc, "fphg_new theta0", p)) ||
        !(h->start = bl__fp_alloc(h->orc, "fphg_new start", p)) ||
        !(h->theta = bl__fp_alloc(h->orc, "fphg_new theta", p)) ||
        !(h->u = bl__fp_alloc(h->orc, "fphg_new u", p)) ||
        !(h->b = bl__fp_alloc(h->orc, "fphg_new grad", p)) ||
        !(h->gl = bl__fp_alloc(h->orc, "fphg_new grad", m)) ||
        !(h->w = bl__fp_alloc(h->orc, "fphg_new work", p)) ||
        !(h->wl = bl__fp_alloc(h->orc, "fphg_new work", m)) ||
        !(h->work = bl__fp_alloc(h->orc, "fphg_new work", 2 * p + m))) {
        s = BL_ENOMEM;
        goto out;
    }
    if (o->theta0)
        memcpy(h->theta0, o->theta0, p * sizeof *h->theta0);
    memcpy(h->start, h->theta0, p * sizeof *h->start);
    o->theta0 = h->theta0;
    bl_root_opts ro = {o->damping, o->memory, 0, o->method == BL_FP_UNROLL};
    h->root = bl_root_new(o->root, h->orc, &ro, &s);
out:
    if (s != BL_OK) {
        bl_fphg_free(h);
        h = NULL;
    }
    if (st)
        *st = s;
    return h;
}

const char *bl_fphg_message(const bl_fphg *h) { return h->msg; }
const double *bl_fphg_theta(const bl_fphg *h) { return h->theta_ok ? h->theta : NULL; }
const double *bl_fphg_u(const bl_fphg *h) { return h->u_ok ? h->u : NULL; }
bl_fp_oracle *bl_fphg_oracle(bl_fphg *h) { return h->orc; }
bl_root *bl_fphg_root(bl_fphg *h) { return h->root; }

bl_status bl_fphg_set_theta(bl_fphg *h, const double *theta)
{
    if (theta && !bl__fp_finite(theta, h->p))
        return bl__fp_fail(h->orc, BL_ENONFINITE, "fphg_set_theta: theta is not finite");
    memcpy(h->start, theta ? theta : h->theta0, (size_t)h->p * sizeof *h->start);
    return BL_OK;
}

/* u from J = ∂_θf formed by p JVPs: (I − J)ᵀu = b by dense LU. */
static bl_status exact_u(bl_fphg *h)
{
    int p = h->p;
    if (!h->J && !(h->J = bl__fp_alloc(h->orc, "fphg exact: dense matrix", (size_t)p * (size_t)p * 2)))
        return BL_ENOMEM;
    double *M = h->J + (size_t)p * p, *e = h->w;
    memset(e, 0, (size_t)p * sizeof *e);
    for (int j = 0; j < p; j++) { /* column j of J into row j of M's transpose */
        e[j] = 1;
        bl_status st = bl_fp_oracle_jvp(h->orc, e, h->J + (size_t)j * p); /* J e_j */
        e[j] = 0;
        if (st != BL_OK)
            return st;
    }
    /* (I − J)ᵀ[i][j] = δ_ij − J[j][i] = δ_ij − (J e_i)[j]: row i is −(J e_i) + e_i */
    for (int i = 0; i < p; i++)
        for (int j = 0; j < p; j++)
            M[(size_t)i * p + j] = (i == j) - h->J[(size_t)i * p + j];
    memcpy(h->u, h->b, (size_t)p * sizeof *h->u);
    if (bl__fp_lu_solve(p, M, h->u))
        return bl__fp_fail(h->orc, BL_ENONFINITE, "fphg exact: I - df/dtheta is singular (p = %d)", p);
    return BL_OK;
}

/* The backward pass of the non-unroll methods: u, then hg = ∇_λL + (∂_λf)ᵀu
 * and the backward residual from the same VJP. */
static bl_status backward_u(bl_fphg *h, double *hg, bl_fp_diag *d, bl_status *lin_st)
{
    bl_fp_hg_opts *o = &h->o;
    int p = h->p;
    bl_status st = BL_OK;
    *lin_st = BL_OK;
    if (o->method == BL_FP_SHINE || o->method == BL_FP_SHINE_REFINE)
        st = bl_root_broyden_apply(h->root, 1, h->b, h->u);
    else if (o->method == BL_FP_IFT)
        memset(h->u, 0, (size_t)p * sizeof *h->u);
    else if (o->method == BL_FP_JACOBIAN_FREE)
        memcpy(h->u, h->b, (size_t)p * sizeof *h->u);
    if (st == BL_OK)
        st = bl_fp_oracle_point(h->orc, h->theta, bl_root_lambda(h->root), NULL);
    if (st == BL_OK && o->method == BL_FP_EXACT)
        st = exact_u(h);
    if (st == BL_OK && (o->method == BL_FP_IFT || o->method == BL_FP_SHINE_REFINE)) {
        double bn = bl__nrm2(p, h->b);
        double tol = o->linear_tol == 0 ? 1e-10 * fmax(1, bn) : fmax(o->linear_tol, 0);
        if (o->linear_rtol > 0)
            tol = fmax(o->linear_tol > 0 ? o->linear_tol : 0, o->linear_rtol * bn);
        bl_fp_linear_opts lo = {tol, o->linear_iters, o->restart};
        bl_fp_linear_result res;
        st = bl_fp_linear_solve(h->orc, o->linear, h->b, h->u, &lo, &res);
        d->backward_iters = res.iters;
        d->backward_stop = res.stop;
        if (st == BL_ENOTCONVERGED) {
            *lin_st = st;
            st = BL_OK;
        }
    } else if (st == BL_OK) {
        d->backward_stop = BL_STOP_DIRECT;
    }
    if (st != BL_OK)
        return st;
    h->u_ok = 1;
    st = bl_fp_oracle_vjp(h->orc, h->u, h->w, h->wl);
    if (st != BL_OK)
        return st;
    double r2 = 0;
    for (int i = 0; i < p; i++) {
        double ri = h->u[i] - h->w[i] - h->b[i];
        r2 += ri * ri;
    }
    d->backward_residual = sqrt(r2);
    d->u_norm = bl__nrm2(p, h->u);
    for (int i = 0; i < h->m; i++)
        hg[i] = h->gl[i] + h->wl[i];
    return BL_OK;
}

static long products(bl_fp_counts c) { return c.jvp + c.vjp; }

static bl_fp_counts counts_since(bl_fp_counts a, bl_fp_counts b)
{
    return (bl_fp_counts){a.f - b.f, a.jvp - b.jvp, a.vjp - b.vjp, a.loss - b.loss};
}

/* The forward solve: θ_ε into h->theta. *root_st is BL_ENOTCONVERGED when
 * the requested tolerance was not met (the result is still usable). */
static bl_status forward(bl_fphg *h, const double *lambda, bl_fp_diag *d, bl_status *root_st)
{
    bl_fp_hg_opts *o = &h->o;
    double t0 = now();
    bl_status st = bl_root_set(h->root, o->cold_start ? h->theta0 : h->start, lambda);
    if (st == BL_OK)
        st = bl_root_solve(h->root, o->root_tol, o->root_iters);
    *root_st = BL_OK;
    if (st == BL_ENOTCONVERGED) {
        *root_st = st;
        st = BL_OK;
    }
    d->forward_iters = bl_root_iters(h->root);
    d->forward_residual = bl_root_residual(h->root);
    d->forward_stop = st != BL_OK ? BL_STOP_DIVERGED
                      : (o->root_tol >= 0 && bl_root_converged(h->root, o->root_tol))
                          ? BL_STOP_TOL
                          : BL_STOP_MAXITER;
    d->forward_seconds = now() - t0;
    if (st != BL_OK)
        return st;
    memcpy(h->theta, bl_root_theta(h->root), (size_t)h->p * sizeof *h->theta);
    h->theta_ok = 1;
    return BL_OK;
}

bl_status bl_fphg_eval(bl_fphg *h, const double *lambda, double *hg, bl_fp_diag *diag)
{
    bl_fp_diag dd, *d = diag ? diag : &dd;
    const bl_fp_problem *pb = h->pb;
    bl_fp_hg_opts *o = &h->o;
    *d = (bl_fp_diag){o->method, 0, NAN, NAN, 0, BL_STOP_NONE, NAN, 0, BL_STOP_NONE,
                      {0, 0, 0, 0}, 0, 0, 0, 0, NAN, NAN, NAN, NAN};
    d->rho = pb->rho > 0 && pb->rho < 1 ? pb->rho : NAN;
    h->msg[0] = '\0';
    h->theta_ok = h->u_ok = 0;
    bl_fp_oracle_clear_error(h->orc);
    if (!lambda || !hg)
        return say(h->msg, sizeof h->msg, BL_EINVAL, "fphg_eval: lambda or hg is NULL");
    bl_fp_counts c0 = bl_fp_oracle_counts(h->orc);
    bl_status root_st, lin_st = BL_OK;
    bl_status st = forward(h, lambda, d, &root_st);
    if (st == BL_OK)
        st = bl_fp_oracle_loss(h->orc, h->theta, lambda, &d->loss, h->b, h->gl);
    double t1 = now();
    bl_fp_counts c1 = bl_fp_oracle_counts(h->orc);
    if (st == BL_OK && o->method == BL_FP_UNROLL) {
        st = bl__fp_unroll(h->orc, h->root, h->b, h->gl, h->wl, h->work);
        if (st == BL_OK) {
            memcpy(hg, h->wl, (size_t)h->m * sizeof *hg);
            d->backward_iters = d->forward_iters;
            d->backward_stop = BL_STOP_DIRECT;
        }
    } else if (st == BL_OK) {
        st = backward_u(h, h->work, d, &lin_st);
        if (st == BL_OK)
            memcpy(hg, h->work, (size_t)h->m * sizeof *hg);
    }
    bl_fp_counts c2 = bl_fp_oracle_counts(h->orc);
    d->backward_seconds = now() - t1;
    d->counts = counts_since(c2, c0);
    d->backward_products = products(counts_since(c2, c1));
    d->peak_tape_bytes = bl_fp_oracle_peak_bytes(h->orc);
    d->theta_bound = bl_fp_contraction_bound(d->forward_residual, d->rho);
    d->u_bound = bl_fp_contraction_bound(d->backward_residual, d->rho);
    if (h->theta_ok)
        memcpy(h->start, h->theta, (size_t)h->p * sizeof *h->start);
    if (st != BL_OK)
        return say(h->msg, sizeof h->msg, st, "%s", bl_fp_oracle_message(h->orc));
    d->produced = 1;
    if (!bl__fp_finite(hg, h->m))
        return say(h->msg, sizeof h->msg, BL_ENONFINITE, "fphg %s: the hypergradient is not finite",
                   method_names[o->method]);
    if (root_st != BL_OK || lin_st != BL_OK)
        return say(h->msg, sizeof h->msg, BL_ENOTCONVERGED, "%s", bl_fp_oracle_message(h->orc));
    return BL_OK;
}
