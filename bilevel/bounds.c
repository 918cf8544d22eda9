/*
 * bilevel/bounds.c — error bounds for hypergradient estimates (README,
 * Notation: the error bound; Ehrhardt & Roberts 2023) and the
 * ‖B‖ = ‖∇²_θλG‖ they need.
 *
 * With A = H, ε = ‖θ_ε − θ*‖ and δ = ‖A_ε q − ∇f_ε‖, the identity
 *   A*(q − q*) = (A* − A_ε)q + (A_ε q − ∇f_ε) + (∇f_ε − ∇f*)
 * gives ‖q − q*‖ ≤ (‖q‖L_H ε + δ + L_f ε)/μ, and then
 *   ‖B_ε q − B* q*‖ ≤ ‖B_ε‖‖q − q*‖ + L_B ε ‖q*‖,  ‖q*‖ ≤ ‖q‖ + ‖q − q*‖,
 * which expands to the expression below (plus L_Fλ ε for ∇_λF).
 */
#include "bilevel/internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

double bl_bound(const bl_constants *k, double eps, double delta, double q_norm, double B_norm)
{
    if (!k || !(k->mu > 0))
        return NAN;
    double mu = k->mu, a = k->Lf + q_norm * k->LH;
    return B_norm * delta / mu + (B_norm * a / mu + q_norm * k->LB) * eps +
           k->LB * eps * (delta / mu + eps * a / mu) + k->LFlam * eps;
}

/* ‖B‖ at the oracle's point, with J = ∂(∇_θG)/∂λ (p×m), cross(v) = Jᵀv:
 * the model's certified bound if it has one; else ‖J‖_F (an upper bound on
 * the operator norm) from min(m, p) exact products when that is at most
 * 64; else 30 steps of power iteration on JJᵀ, an estimate from below, so
 * not certified. Products spent here are diagnostics (see finish()). */
bl_status bl__cross_norm(bl_run *r, double *out, int *certified)
{
    const bl_problem *pb = r->pb;
    int p = r->p, m = r->m, n = m < p ? m : p;
    if (pb->cross_norm) {
        double v = pb->cross_norm(r->theta, r->lambda, pb->ctx);
        if (v >= 0) {
            *out = v;
            *certified = 1;
            return BL_OK;
        }
    }
    double *w = calloc((size_t)(3 * p + 2 * m), sizeof(double));
    if (!w)
        return bl__fail(r->orc, BL_ENOMEM, "bound: cannot allocate ||B||'s work (3 x %d + 2 x %d doubles)", p, m);
    double *zero = w, *u = zero + p, *ju = u + p, *e = ju + p, *jt = e + m, s2 = 0;
    bl_status st = BL_OK;
    *certified = n <= 64;
    for (int j = 0; *certified && j < n && st == BL_OK; j++) {
        if (m <= p) { /* column j of J */
            e[j] = 1.0;
            st = bl_oracle_grad_jvp(r->orc, zero, e, ju);
            e[j] = 0.0;
            s2 += bl__dot(p, ju, ju);
        } else {      /* row j of J */
            u[j] = 1.0;
            st = bl_oracle_hvp(r->orc, u, NULL, jt);
            u[j] = 0.0;
            s2 += bl__dot(m, jt, jt);
        }
    }
    if (!*certified) {
        for (int i = 0; i < p; i++)
            u[i] = 1.0 / sqrt((double)p);
        for (int it = 0; it < 30 && st == BL_OK; it++) {
            st = bl_oracle_hvp(r->orc, u, NULL, jt);              /* Jᵀu */
            if (st == BL_OK)
                st = bl_oracle_grad_jvp(r->orc, zero, jt, ju);    /* J Jᵀu */
            s2 = st == BL_OK ? bl__nrm2(p, ju) : 0.0;              /* → σ_max² */
            if (s2 > 0)
                for (int i = 0; i < p; i++)
                    u[i] = ju[i] / s2;
        }
    }
    *out = sqrt(s2);
    free(w);
    return st;
}

/* ------------------------------------------------------- a-priori bounds */
/* Derivations in bilevel.h (bl_inner_error_a_priori and
 * bl_linear_residual_a_priori). */

static int constants_ok(const bl_constants *k)
{
    return k && k->mu > 0 && isfinite(k->L) && k->L >= k->mu;
}

double bl_rate(bl_scheme s, const bl_constants *k)
{
    if (!constants_ok(k))
        return NAN;
    double L = k->L, mu = k->mu, sl = sqrt(L), sm = sqrt(mu);
    switch (s) {
    case BL_SCHEME_GD: return (L - mu) / (L + mu);
    case BL_SCHEME_HB:
    case BL_SCHEME_CG: return (sl - sm) / (sl + sm);
    case BL_SCHEME_NESTEROV: return sqrt(1.0 - sm / sl);
    default: return NAN;
    }
}

static void set_cert(int *c, int v)
{
    if (c)
        *c = v;
}

double bl_inner_error_a_priori(bl_scheme s, const bl_constants *k, int N, double grad0_norm,
                               int *certified)
{
    set_cert(certified, 0);
    double q = bl_rate(s, k);
    if (!isfinite(q) || N < 0 || !(grad0_norm >= 0) || s == BL_SCHEME_CG)
        return NAN;
    double e0 = grad0_norm / k->mu, pw = pow(q, N);
    switch (s) {
    case BL_SCHEME_GD:
        set_cert(certified, k->certified);
        return pw * e0;
    case BL_SCHEME_HB:
        set_cert(certified, k->certified && k->LH == 0);
        return (1.0 + (1.0 + q) * N) * pw * e0;
    default: /* Nesterov: q = √(1 − √(μ/L)) already */
        set_cert(certified, k->certified);
        return sqrt(1.0 + k->L / k->mu) * pw * e0;
    }
}

double bl_linear_residual_a_priori(bl_scheme s, const bl_constants *k, int K, double r0,
                                   int *certified)
{
    set_cert(certified, 0);
    double q = bl_rate(s, k);
    if (!isfinite(q) || K < 0 || !(r0 >= 0) || s == BL_SCHEME_NESTEROV)
        return NAN;
    double pw = pow(q, K);
    set_cert(certified, k->certified);
    switch (s) {
    case BL_SCHEME_GD: return pw * r0;
    case BL_SCHEME_HB: return (1.0 + (1.0 + q) * K) * pw * r0;
    default: return 2.0 * sqrt(k->L / k->mu) * pw * r0; /* CG */
    }
}

double bl_bound_a_priori(const bl_constants *k, bl_scheme inner, int N, double grad0_norm,
                         bl_scheme linear, int K, double gF_norm, double B_norm, int *certified)
{
    int c1 = 0, c2 = 0;
    set_cert(certified, 0);
    double eps = bl_inner_error_a_priori(inner, k, N, grad0_norm, &c1);
    if (!isfinite(eps) || !(gF_norm >= 0) || !(B_norm >= 0))
        return NAN;
    double r0 = gF_norm + k->Lf * eps;
    double delta = bl_linear_residual_a_priori(linear, k, K, r0, &c2);
    if (!isfinite(delta))
        return NAN;
    set_cert(certified, c1 && c2);
    return bl_bound(k, eps, delta, (r0 + delta) / k->mu, B_norm);
}

const char *bl_bound_label(const bl_diag *d)
{
    if (!d || !isfinite(d->bound_a_posteriori))
        return "none";
    return d->bound_certified ? "certified" : "estimated";
}
