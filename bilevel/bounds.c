/*
 * bilevel/bounds.c — error bounds for hypergradient estimates (DESIGN.md §3,
 * Ehrhardt & Roberts 2023) and the ‖B‖ = ‖∇²_θλG‖ they need.
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
        return bl__fail(r->orc, BL_ENOMEM, "bound: out of memory");
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
