/*
 * bilevel/unroll.c — differentiating the inner trajectory of GD or heavy
 * ball: lean reverse unrolling (full and truncated), inexact AD, and
 * forward-mode unrolling.
 *
 * Reverse recursion for θ_{k+1} = θ_k − α∇G(θ_k) + β(θ_k − θ_{k−1}):
 *   c_K = ∇_θF(θ_K), n = 0;  for k = K−1 .. K−T:
 *     λ̄ −= α·cross_{θ_k}(c);  (c, n) ← (n + (1+β)c − α·H(θ_k)c, −βc)
 * with result ∇_λF + λ̄. β = 0 gives GD. Inexact AD takes every H and
 * cross at θ_K, which makes q = α Σ c equal to K steps of GD / heavy ball on
 * H(θ_K) q = ∇_θF from q = 0 (Ehrhardt & Roberts 2023).
 *
 * The unroll family accumulates the same q_u = α Σ c_k (the equivalent
 * linear-system iterate). Its result is h_u = ∇_λF − α Σ_k B(θ_k) c_k,
 * while h_q = ∇_λF − B(θ_K) q_u = ∇_λF − α Σ_k B(θ_K) c_k; when B and H do
 * not depend on θ the two sums, and the c_k of both recursions, coincide,
 * so h_u = h_q. In general hypergrad.c's finish() measures ‖h_u − h_q‖ and
 * the a-posteriori bound adds it to the bound for h_q (triangle inequality).
 */
#include "bilevel/internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static bl_status need_gd_or_hb(bl_run *r, const bl_inner_type *T)
{
    if (T == bl_inner_gd || T == bl_inner_hb)
        return BL_OK;
    return bl__fail(r->orc, BL_EINVAL, "%s: needs the gd or hb inner solver, not %s",
                    bl_method_name(r->o.method), bl_inner_type_name(T));
}

bl_status bl__inner_step(bl_run *r, const double *th, const double *th_prev, double *next)
{
    int p = r->p;
    double a = bl_inner_step(r->in), b = bl_inner_momentum(r->in);
    double *g = next + p; /* caller provides 2p of room */
    bl_status st = bl_oracle_G(r->orc, NULL, th, r->lambda, NULL, g, NULL);
    if (st != BL_OK)
        return st;
    if (bl_inner_type_of(r->in) == bl_inner_gd) { /* the same arithmetic as the GD solver */
        memcpy(next, th, (size_t)p * sizeof(double));
        bl__axpy(p, -a, g, next);
    } else {
        for (int j = 0; j < p; j++)
            next[j] = th[j] - a * g[j] + b * (th[j] - th_prev[j]);
    }
    return BL_OK;
}

/* The reverse sweep. theta_at(k) gives θ_k (NULL: use the oracle's point
 * as it is, for inexact AD). Accumulates q = α Σ c over the T steps
 * reversed when q != NULL. */
typedef const double *(*theta_at_fn)(void *ctx, int k);

static bl_status reverse_sweep(bl_run *r, int K, int T, theta_at_fn at, void *ctx, double *q)
{
    int p = r->p, m = r->m;
    double a = bl_inner_step(r->in), beta = bl_inner_momentum(r->in);
    double *w = malloc((size_t)(3 * p + m) * sizeof(double));
    if (!w)
        return bl__fail(r->orc, BL_ENOMEM, "%s: out of memory (p = %d)", bl_method_name(r->o.method), p);
    double *c = w, *n = c + p, *hc = n + p, *cross = hc + p;
    memcpy(c, r->b, (size_t)p * sizeof(double));
    memset(n, 0, (size_t)p * sizeof(double));
    memcpy(r->hg, r->gl, (size_t)m * sizeof(double));
    if (q)
        memset(q, 0, (size_t)p * sizeof(double));
    bl_status st = BL_OK;
    for (int k = K - 1; k >= K - T && st == BL_OK; k--) {
        if (at)
            st = bl_oracle_point(r->orc, NULL, at(ctx, k), r->lambda);
        if (st == BL_OK)
            st = bl_oracle_hvp(r->orc, c, hc, cross);
        if (st != BL_OK)
            break;
        bl__axpy(m, -a, cross, r->hg);
        if (q)
            bl__axpy(p, a, c, q);
        for (int j = 0; j < p; j++) {
            double cj = c[j];
            c[j] = n[j] + (1.0 + beta) * cj - a * hc[j];
            n[j] = -beta * cj;
        }
    }
    free(w);
    return st;
}

static const double *stored_iterate(void *ctx, int k) { return bl_inner_iterate_at(ctx, k); }

bl_status bl__hg_unroll(bl_run *r)
{
    bl_status st = need_gd_or_hb(r, bl_inner_type_of(r->in));
    if (st != BL_OK)
        return st;
    int K = bl_inner_iters(r->in);
    int T = r->o.method == BL_UNROLL_TRUNCATED && r->o.truncate < K ? r->o.truncate : K;
    r->d->stored_doubles = (size_t)(K + 1) * r->p;
    st = reverse_sweep(r, K, T, stored_iterate, r->in, r->q);
    r->has_q = r->q_equiv = st == BL_OK; /* q_u; hg stays the unrolled estimate */
    return st;
}

bl_status bl__hg_inexact(bl_run *r)
{
    bl_status st = need_gd_or_hb(r, bl_inner_type_of(r->in));
    if (st == BL_OK)
        st = bl_oracle_point(r->orc, NULL, r->theta, r->lambda);
    if (st != BL_OK)
        return st;
    int K = bl_inner_iters(r->in);
    st = reverse_sweep(r, K, K, NULL, NULL, r->q);
    r->has_q = st == BL_OK;
    r->d->linear_iters = K;
    r->d->linear_stop = BL_STOP_MAXITER;
    return st;
}

/* ---------------------------------------------------------- forward mode */

/* Z_{k+1} = (1+β)Z_k − βZ_{k−1} − α(H(θ_k)Z_k + ∂_λ∇_θG(θ_k)), column by
 * column (one jvp of ∇_θG per column), Z_0 = Z_{−1} = 0. */
static bl_status forward_columns(bl_run *r, double *Z, double *Zp, double *e, double *out)
{
    int p = r->p, m = r->m;
    double a = bl_inner_step(r->in), beta = bl_inner_momentum(r->in);
    for (int j = 0; j < m; j++) {
        double *z = Z + (size_t)j * p, *zp = Zp + (size_t)j * p;
        e[j] = 1.0;
        bl_status st = bl_oracle_grad_jvp(r->orc, z, e, out);
        e[j] = 0.0;
        if (st != BL_OK)
            return st;
        for (int i = 0; i < p; i++) {
            double zi = z[i];
            z[i] = (1.0 + beta) * zi - beta * zp[i] - a * out[i];
            zp[i] = zi;
        }
    }
    return BL_OK;
}

bl_status bl__hg_forward(bl_run *r)
{
    int p = r->p, m = r->m;
    bl_inner_opts io = {.step = r->o.step, .momentum = r->o.momentum, .memory = r->o.memory};
    bl_status st = need_gd_or_hb(r, r->o.inner);
    if (st == BL_OK && !(r->in = bl_inner_new(r->o.inner, r->orc, &io, &st)))
        return st;
    if (st != BL_OK)
        return st;
    double *Z = calloc((size_t)2 * p * m + m + p, sizeof(double));
    if (!Z)
        return bl__fail(r->orc, BL_ENOMEM, "unroll-forward: cannot store Z (%d x %d)", p, m);
    double *Zp = Z + (size_t)p * m, *e = Zp + (size_t)p * m, *out = e + m;
    st = bl_inner_set(r->in, r->o.theta0, r->lambda);
    if (st == BL_OK)
        r->grad0_norm = bl_inner_grad_norm(r->in);
    while (st == BL_OK && bl_inner_iters(r->in) < r->o.inner_iters &&
           !bl_inner_converged(r->in, r->o.inner_tol)) {
        st = bl_oracle_point(r->orc, NULL, bl_inner_theta(r->in), r->lambda);
        if (st == BL_OK)
            st = forward_columns(r, Z, Zp, e, out);
        bl__oracle_drop_point(r->orc); /* the step needs ∇G only: do not record it on top */
        if (st == BL_OK)
            st = bl_inner_iterate(r->in);
    }
    if (st == BL_OK) {
        memcpy(r->theta, bl_inner_theta(r->in), (size_t)p * sizeof(double));
        r->theta_ok = 1;
        r->d->inner_iters = bl_inner_iters(r->in);
        r->d->inner_stop = bl_inner_converged(r->in, r->o.inner_tol) ? BL_STOP_TOL : BL_STOP_MAXITER;
        st = bl_oracle_F(r->orc, NULL, r->theta, r->lambda, &r->d->outer_value, r->b, r->gl);
    }
    for (int j = 0; j < m && st == BL_OK; j++) /* hg = ∇_λF + Z_Kᵀ ∇_θF */
        r->hg[j] = r->gl[j] + bl__dot(p, Z + (size_t)j * p, r->b);
    r->d->stored_doubles = (size_t)2 * p * m;
    free(Z);
    return st;
}
