/*
 * bilevel/fp_fixed.c — the fixed-point iteration with damping β:
 * θ ← (1 − β)θ + βf(θ) = θ − βg(θ). For a contraction of constant ρ and
 * β = 1 the error shrinks by ρ per step (Banach).
 */
#include "bilevel/fp_internal.h"

static bl_status fixed_iterate(bl_root *s, void *state)
{
    (void)state;
    bl__axpy(s->p, -s->opts.damping, s->g, s->theta);
    return bl_root_eval(s);
}

static const bl_root_type fixed_type = {"fixed", 0, NULL, NULL, fixed_iterate, NULL};
const bl_root_type *const bl_root_fixed = &fixed_type;
