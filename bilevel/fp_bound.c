/*
 * bilevel/fp_bound.c — the a-posteriori bound of a contraction: if
 * ‖∂_θf‖ ≤ ρ < 1 then ‖(I − ∂_θf)⁻ᵀ‖ ≤ Σ_k ρ^k = 1/(1 − ρ) (Neumann series),
 * so ‖u − u*‖ = ‖(I − ∂_θf)⁻ᵀ r‖ ≤ ‖r‖/(1 − ρ) for the residual r of u.
 * The same argument on g = θ − f (1 − ρ ≤ ‖g(a) − g(b)‖/‖a − b‖) gives
 * ‖θ − θ*‖ ≤ ‖g(θ)‖/(1 − ρ).
 */
#include <hypertape/fixedpoint.h>

#include <math.h>

double bl_fp_contraction_bound(double residual, double rho)
{
    if (!(rho > 0 && rho < 1) || !isfinite(residual) || residual < 0)
        return NAN;
    return residual / (1 - rho);
}
