/*
 * bilevel/unroll_generic.c — unroll-generic: the inner GD / heavy-ball steps
 * are recorded as ad ops (each step's ∇_θG with AD_CREATE_GRAPH), and one
 * reverse sweep from F(θ_K, λ) gives the total derivative in λ. Any
 * optimizer written with ad ops unrolls the same way; this is the
 * reference the lean form is tested against. Memory grows like K tapes of G.
 *
 * The equivalent linear-system iterate of unroll.c, q_u = α Σ_k c_k with c_k
 * the adjoint of θ_{k+1}, is read off the same sweep: ∇G(θ_k) enters only
 * θ_{k+1} = θ_k − α∇G(θ_k) + …, so its adjoint is −α c_k and
 * q_u = −Σ_k ∂F/∂(∇G(θ_k)). With q_u, hypergrad.c's finish() measures the
 * gap and the a-posteriori bound exactly as for lean unroll.
 */
#include "bilevel/internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* θ_{k+1} = θ_k − α g + β(θ_k − θ_{k−1}) as ad ops. */
static ad_var step(ad_tape *t, ad_var th, ad_var prev, ad_var g, double a, double b)
{
    ad_var next = ad_sub(t, th, ad_scale(t, g, a));
    return b != 0.0 ? ad_add(t, next, ad_scale(t, ad_sub(t, th, prev), b)) : next;
}

/* q_u = −Σ_k gq[k] (the adjoints of the recorded gradients) and the
 * partial ∇_λF(θ_K) (gl) that h_q needs: F again at θ_K as a constant, so
 * only its direct dependence on λ is differentiated. A diagnostic: not
 * charged to the counts. BL_ENOMEM when the tape runs out of memory; any
 * other failure just leaves q_u unset (has_q = 0). */
static bl_status equivalent_q(bl_run *r, ad_tape *t, ad_var lam, int k, const ad_var *gq)
{
    int p = r->p;
    memset(r->q, 0, (size_t)p * sizeof(double));
    for (int i = 0; i < k; i++)
        bl__axpy(p, -1.0, ad_value(t, gq[i]), r->q);
    ad_var th = ad_const(t, p, 1, r->theta);
    ad_var F = r->pb->F(t, th, lam, NULL, 0, r->pb->ctx);
    double *out = r->gl;
    r->has_q = r->q_equiv = ad_tape_status(t) == AD_OK && ad_grad_values(t, F, 1, &lam, &out) == AD_OK;
    if (!r->has_q && ad_tape_status(t) == AD_ENOMEM) /* out of memory is an error, not a missing diagnostic */
        return bl__fail(r->orc, BL_ENOMEM, "equivalent q: %s", ad_tape_message(t));
    return BL_OK;
}

/* Records K steps and F; fills r->theta, r->b, r->hg, the outer value and
 * q_u. wrt holds K + 2 handles: θ_K, λ and the K recorded gradients. */
static bl_status record_and_sweep(bl_run *r, ad_tape *t, double a, double b, ad_var *wrt)
{
    const bl_problem *pb = r->pb;
    int p = r->p, K = r->o.inner_iters, k;
    ad_var lam = ad_leaf(t, r->m, 1, r->lambda), *gs = wrt + 2;
    ad_var th = r->theta0 ? ad_const(t, p, 1, r->theta0) : ad_const(t, p, 1, NULL), prev = th;
    for (k = 0; k < K && ad_tape_status(t) == AD_OK; k++) {
        ad_var G = pb->G(t, th, lam, NULL, 0, pb->ctx);
        if (ad_grad(t, G, 1, &th, &gs[k], AD_CREATE_GRAPH) != AD_OK)
            break;
        r->extra.grad++;
        if (r->o.inner_tol > 0 && bl__nrm2(p, ad_value(t, gs[k])) <= r->o.inner_tol)
            break;
        ad_var next = step(t, th, prev, gs[k], a, b);
        prev = th;
        th = next;
    }
    ad_var F = ad_tape_status(t) == AD_OK ? pb->F(t, th, lam, NULL, 0, pb->ctx) : AD_NONE;
    wrt[0] = th;
    wrt[1] = lam;
    ad_var *grads = wrt + K + 2; /* K + 2 more handles */
    if (ad_tape_status(t) != AD_OK || ad_grad(t, F, k + 2, wrt, grads, 0) != AD_OK)
        return bl__fail(r->orc, bl__from_ad(ad_tape_status(t) != AD_OK ? ad_tape_status(t) : AD_EHANDLE),
                        "at step %d: %s", k, ad_tape_message(t));
    r->extra.grad++;
    r->extra.hvp += k; /* the sweep differentiates k recorded gradients */
    r->extra.cross += k;
    r->d->inner_iters = k;
    r->d->inner_stop = k < K ? BL_STOP_TOL : BL_STOP_MAXITER;
    r->d->outer_value = ad_scalar_value(t, F);
    memcpy(r->theta, ad_value(t, th), (size_t)p * sizeof(double));
    r->theta_ok = 1;
    memcpy(r->b, ad_value(t, grads[0]), (size_t)p * sizeof(double));
    memcpy(r->hg, ad_value(t, grads[1]), (size_t)r->m * sizeof(double));
    ad_stats s = ad_tape_stats(t);
    r->extra_peak = s.peak_bytes;
    r->d->stored_doubles = s.peak_bytes / sizeof(double);
    return equivalent_q(r, t, lam, k, grads + 2);
}

bl_status bl__hg_generic(bl_run *r)
{
    const bl_inner_type *T = r->o.inner;
    if (T != bl_inner_gd && T != bl_inner_hb)
        return bl__fail(r->orc, BL_EINVAL, "needs the gd or hb inner solver, not %s",
                        bl_inner_type_name(T));
    /* α and β exactly as the lean solver resolves them. */
    bl_inner_opts io = {.step = r->o.step, .momentum = r->o.momentum};
    bl_status st;
    bl_inner *in = bl_inner_new(T, r->orc, &io, &st);
    if (!in)
        return st;
    st = bl_inner_set(in, r->theta0, r->lambda);
    if (st == BL_OK)
        r->grad0_norm = bl_inner_grad_norm(in);
    double a = bl_inner_step(in), b = T == bl_inner_hb ? bl_inner_momentum(in) : 0.0;
    bl_inner_free(in);
    if (st != BL_OK)
        return st;
    ad_tape_opts to = {r->o.max_tape_bytes, 0, 0};
    ad_tape *t = ad_tape_new(&to);
    ad_var *wrt = malloc((size_t)(2 * r->o.inner_iters + 4) * sizeof(ad_var));
    if (!t || !wrt) {
        ad_tape_free(t);
        free(wrt);
        return bl__fail(r->orc, BL_ENOMEM, "cannot create a tape and %d variable slots (K = %d)",
                        2 * r->o.inner_iters + 4, r->o.inner_iters);
    }
    st = record_and_sweep(r, t, a, b, wrt);
    ad_tape_free(t);
    free(wrt);
    return st;
}
