/*
 * bilevel/hg_diag.c — what a hypergradient evaluation reports besides hg:
 * the diagnostics at the requested level (outer value, ‖∇_θG(θ_ε)‖, the
 * residual of q, the unroll gap, ‖B‖, the a-posteriori and a-priori bounds)
 * and the verdict: the status that says whether every requested tolerance
 * was met and no check found a problem (see bilevel.h, "the hypergradient
 * context").
 */
#include "bilevel/internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------ a-priori bound */

/* The inner scheme whose rate bounds ‖θ_N − θ*‖: gd, hb, nesterov with the
 * step and momentum derived from the problem's μ, L (the defaults, not
 * estimated ones: those carry a safety margin); 0 otherwise. */
static int inner_scheme(const bl_run *r, bl_scheme *s)
{
    if (r->o.step != 0 || r->o.momentum != 0 || (r->d->steps_estimated & 1))
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
 * steps from q = 0 (the method table's a-priori scheme): ift-gd and
 * ift-neumann (K Neumann terms = K GD steps) GD, ift-hb HB, ift-cg CG, all
 * with default steps; inexact-ad is K steps of the inner's own GD / HB map
 * on H(θ_K)q = ∇_θF (unroll.c), so its scheme is the inner's. 0 for every
 * other method, and when the solve was warm-started (q_0 ≠ 0). */
static int linear_scheme(const bl_run *r, bl_scheme inner, bl_scheme *s)
{
    int dflt = r->o.linear_step == 0, dflt_hb = dflt && r->o.linear_momentum == 0;
    int sch = r->M->apriori;
    if (r->d->linear_stop == BL_STOP_NONCONVEX || r->q_warm || sch == BL__SCHEME_NONE ||
        (r->d->steps_estimated & 2))
        return 0;
    if (sch == BL__SCHEME_INNER) {
        *s = inner;
        return inner == BL_SCHEME_GD || inner == BL_SCHEME_HB;
    }
    *s = (bl_scheme)sch;
    return sch == BL_SCHEME_CG ? 1 : sch == BL_SCHEME_HB ? dflt_hb : dflt;
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

/* The constants of the bound: the problem's, or, when it has none (or
 * cannot give them), estimated at θ_ε (bl_estimate_constants; never
 * certified). *have = 0 when there are none (estimate switched off). A
 * non-positive Ritz value is BL_ENONCONVEX: a check of the library found
 * non-positive curvature. When the estimate already met it (CG, Cholesky)
 * there is neither an estimate nor a bound. Problems with uncertified constants get the same
 * Lanczos probe (10 steps) for curvature, its constants unused. */
static bl_status bound_constants(bl_run *r, bl_constants *k, int *have)
{
    *have = 0;
    if (r->d->linear_stop == BL_STOP_NONCONVEX) /* already known: no estimate, no bound */
        return BL_OK;
    if (r->pb->constants && r->pb->constants(r->lambda, k, r->pb->ctx) == BL_OK) {
        *have = 1;
        if (k->certified)
            return BL_OK;
        bl_constants probe;
        return bl_estimate_constants(r->orc, r->theta, r->lambda, 10, &probe);
    }
    if (r->o.bound_lanczos_iters < 0)
        return BL_OK;
    int it = r->o.bound_lanczos_iters > 0 ? r->o.bound_lanczos_iters : 30;
    bl_status st = bl_estimate_constants(r->orc, r->theta, r->lambda, it, k);
    if (st != BL_OK)
        return st;
    *have = 1;
    r->d->constants_estimated = 1;
    return BL_OK;
}

/* The a-posteriori bound when the method has a q. For the unroll family
 * bl_bound bounds ‖h_q − ∇h‖ (its derivation holds for any q), and the
 * measured gap ‖h_u − h_q‖ is added. Then the a-priori bound with the same
 * constants and ‖B‖. */
static bl_status bound(bl_run *r)
{
    bl_constants k;
    int have = 0;
    r->d->B_norm = NAN;
    if (!r->has_q)
        return BL_OK;
    bl_status st = bound_constants(r, &k, &have);
    if (st != BL_OK || !have)
        return st;
    st = bl_oracle_point(r->orc, NULL, r->theta, r->lambda);
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
    double eh = r->d->inner_grad_norm / k.mu;
    r->d->value_error_bound = bl__nrm2(r->p, r->b) * eh + 0.5 * k.Lf * eh * eh;
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

/* The full level: ∇_θG(θ_ε) recomputed, the residual of q by one more Hvp
 * (and for the unroll family the gap to h_q from the same sweep), the
 * bounds. g holds p + m doubles of work. */
static bl_status finish_full(bl_run *r, double *g)
{
    double *cross = g + r->p;
    bl__oracle_drop_point(r->orc); /* ∇G on an empty tape, not on top of a stale point */
    bl_status st = bl_oracle_G(r->orc, NULL, r->theta, r->lambda, NULL, g, NULL);
    r->d->inner_grad_norm = st == BL_OK ? bl__nrm2(r->p, g) : NAN;
    r->d->linear_residual = NAN;
    if (st != BL_OK || !r->has_q)
        return st;
    st = bl_oracle_point(r->orc, NULL, r->theta, r->lambda);
    if (st == BL_OK)
        st = bl_oracle_hvp(r->orc, r->q, g, r->q_equiv ? cross : NULL);
    if (st != BL_OK)
        return st;
    bl__axpy(r->p, -1.0, r->b, g);
    r->d->linear_residual = bl__nrm2(r->p, g);
    if (r->q_equiv)
        r->d->unroll_gap = gap_to_hq(r, cross);
    return bound(r);
}

bl_status bl__hg_finish(bl_run *r, double *work)
{
    bl_counts c = bl_oracle_counts(r->orc); /* the estimate's; the diagnostics' are not charged */
    c.fval += r->extra.fval;
    c.grad += r->extra.grad;
    c.hvp += r->extra.hvp;
    c.cross += r->extra.cross;
    r->d->counts = c;
    bl_status st = BL_OK;
    if (r->level == BL_DIAG_FULL) {
        st = finish_full(r, work);
    } else {
        /* what the estimate already has: the inner solver's own gradient norm */
        r->d->inner_grad_norm = r->in ? bl_inner_grad_norm(r->in) : r->d->inner_grad_norm;
        /* BL_DIAG_NONE: the verdict still reads these norms, then blanks them */
    }
    return st;
}

/* ------------------------------------------------------------ verdict */

static const char *linear_name(int lin)
{
    static const char *const names[BL_LINEAR_COUNT] = {"cg", "gd", "hb", "neumann"};
    return (unsigned)lin < BL_LINEAR_COUNT ? names[lin] : "?";
}

/* Growth beyond which an iterate counts as diverging: 1e10·max(1, start). */
static int blew_up(double now, double start)
{
    return !(now <= 1e10 * fmax(1.0, isfinite(start) ? start : 0.0));
}

static bl_status not_converged(bl_run *r)
{
    const bl_diag *d = r->d;
    if (!(r->M->flags & BL__MF_UNROLL) && r->o.inner_tol > 0 && d->inner_stop != BL_STOP_TOL &&
        !(r->in && bl_inner_converged(r->in, r->o.inner_tol)))
        return bl__fail(r->orc, BL_ENOTCONVERGED,
                        "inner %s: tolerance %.3g not met: ||grad_theta G|| = %.3e after %d "
                        "iterations (%s)", bl_inner_type_name(r->o.inner), r->o.inner_tol,
                        r->in ? bl_inner_grad_norm(r->in) : d->inner_grad_norm, d->inner_iters,
                        bl_stop_name(d->inner_stop));
    if (r->M->linear != BL__LIN_NONE && r->o.linear_tol > 0 && d->linear_stop == BL_STOP_MAXITER)
        return bl__fail(r->orc, BL_ENOTCONVERGED,
                        "linear %s: tolerance %.3g not met: ||Hq - grad_theta F|| = %.3e after %d "
                        "iterations (iteration cap)", linear_name(r->M->linear),
                        r->o.linear_tol, d->linear_residual, d->linear_iters);
    return BL_OK;
}

/* A divergence explains whatever failed after it (CG's curvature on a blown-up
 * θ, a Lanczos estimate there): its message replaces theirs. */
static bl_status verdict(bl_run *r, bl_status st)
{
    int lin_blew = r->M->linear != BL__LIN_NONE && r->d->linear_stop != BL_STOP_NONE &&
                   r->d->linear_stop != BL_STOP_DIRECT &&
                   blew_up(r->d->linear_residual, bl__nrm2(r->p, r->b));
    if (r->diverged || lin_blew)
        bl_oracle_clear_error(r->orc);
    if (r->diverged)
        return bl__fail(r->orc, BL_ENONFINITE,
                        "inner %s: diverging at iteration %d: ||grad_theta G|| = %.3e, more than "
                        "1e10 x max(1, %.3e at the start)", bl_inner_type_name(r->o.inner),
                        r->diverged, r->in ? bl_inner_grad_norm(r->in) : NAN, r->grad0_norm);
    /* before hg's own check: a linear solve that blew up (bl__hg_linear stops
     * it there) is named with its iteration, even when its q is not finite */
    if (lin_blew)
        return bl__fail(r->orc, BL_ENONFINITE,
                        "linear %s: diverging at iteration %d: ||Hq - grad_theta F|| = %.3e, more "
                        "than 1e10 x max(1, ||grad_theta F||)",
                        linear_name(r->M->linear), r->d->linear_iters, r->d->linear_residual);
    for (int j = 0; j < r->m; j++)
        if (!isfinite(r->hg[j]))
            return bl__fail(r->orc, BL_ENONFINITE, "hg[%d] is %g", j, r->hg[j]);
    return st != BL_OK ? st : not_converged(r);
}

bl_status bl__hg_verdict(bl_run *r, bl_status st)
{
    st = verdict(r, st);
    if (r->level == BL_DIAG_NONE)
        r->d->inner_grad_norm = r->d->linear_residual = NAN;
    return st;
}
