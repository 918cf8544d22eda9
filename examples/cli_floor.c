/*
 * examples/cli_floor.c — the rounding floor of a row of `hypertape bounds`
 * and the check that a bound holds (README, CLI reference, "bounds").
 *
 * The bounds of hypertape/bilevel.h hold in exact arithmetic; they do not
 * include the rounding floor (bl_linear_residual_a_priori: "≈ 1e-16·L‖q‖").
 * In floating point no estimate, and no reference it is measured against,
 * is more accurate than the rounding of the quantities it is computed from.
 * With u = DBL_EPSILON, the floor of a row is
 *   δ_u = u·(L‖q‖ + ‖∇_θF(θ_N)‖)          the residual Hq − ∇_θF in rounding
 *   ε_u = u·(L‖θ_N‖ + ‖∇_θG(0)‖)/μ        ‖θ − θ*‖ once ∇_θG is at rounding
 *   floor = C·[bl_bound(k, ε_u, δ_u, ‖q‖, ‖B‖)
 *              + u·(‖∇_λF(θ_N)‖ + ‖B‖‖q‖ + κ‖truth‖)]
 * (the bound evaluated at the rounding-level ε and δ, plus the rounding of
 * ∇_λF − cross(q) and of the reference, whose linear solve loses a factor
 * κ = L/μ), with C = CLI_FLOOR_C. A certified bound holds when
 *   true_error ≤ bound + floor.
 */
#include "cli.h"

#include <float.h>
#include <math.h>

double cli_rounding_floor(const bl_constants *k, const cli_floor_in *in)
{
    const double u = DBL_EPSILON;
    if (!(k->mu > 0) || !(k->L >= k->mu))
        return NAN;
    double delta = u * (k->L * in->q_norm + in->gF_norm);
    double eps = u * (k->L * in->theta_norm + in->grad0_norm) / k->mu;
    double prop = bl_bound(k, eps, delta, in->q_norm, in->B_norm);
    double direct = u * (in->gFl_norm + in->B_norm * in->q_norm + k->L / k->mu * in->truth_norm);
    return CLI_FLOOR_C * (prop + direct);
}

int cli_bound_holds(double err, double bound, double floor)
{
    return err <= bound + floor; /* false for NaN: a NaN error or bound is a failure */
}
