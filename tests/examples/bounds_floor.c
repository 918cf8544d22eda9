/*
 * tests/examples/bounds_floor.c — the violation check of `hypertape bounds`
 * (examples/cli_floor.c): the rounding floor against its definition written
 * out by hand, rows at rounding level accepted, a deliberately wrong bound
 * caught, NaN caught.
 */
#include "../../examples/cli.h"
#include "testutil.h"

#include <float.h>
#include <math.h>

int main(void)
{
    /* LB = LH = LFlam = 0: bl_bound = ‖B‖δ/μ + ‖B‖L_f ε/μ (README, Notation). */
    bl_constants k = {.mu = 2.0, .L = 30.0, .Lf = 5.0, .certified = 1};
    cli_floor_in in = {.theta_norm = 3.0, .grad0_norm = 40.0, .gF_norm = 0.5, .gFl_norm = 0.25,
                       .q_norm = 1.5, .B_norm = 7.0, .truth_norm = 2.0};
    const double u = DBL_EPSILON;
    double delta = u * (30.0 * 1.5 + 0.5), eps = u * (30.0 * 3.0 + 40.0) / 2.0;
    double want = CLI_FLOOR_C * (7.0 * delta / 2.0 + 7.0 * 5.0 * eps / 2.0 +
                                 u * (0.25 + 7.0 * 1.5 + 15.0 * 2.0));
    double fl = cli_rounding_floor(&k, &in);
    EXPECT(fabs(fl - want) <= 1e-12 * want, "floor %.17g, by hand %.17g", fl, want);
    EXPECT(fl > 0 && fl < 1e-12, "floor of O(1) norms is at rounding level: %g", fl);

    /* The full constants: bl_bound's other terms are included. */
    bl_constants k2 = k;
    k2.LB = 3.0, k2.LH = 4.0, k2.LFlam = 1.0;
    EXPECT(cli_rounding_floor(&k2, &in) > fl, "L_B, L_H, L_Flam raise the floor");

    /* A row at the rounding floor: the bound (exact arithmetic) is below the
     * error, which is within bound + floor. */
    EXPECT(cli_bound_holds(0.5 * fl, 1e-3 * fl, fl), "an error at the floor holds");
    /* A real violation: a deliberately wrong bound, half the true error, far
     * above the floor. */
    double err = 1e-6;
    EXPECT(!cli_bound_holds(err, 0.5 * err, fl), "a bound of half the error is caught");
    EXPECT(!cli_bound_holds(err, 0.0, fl), "a bound of 0 is caught");
    EXPECT(cli_bound_holds(err, err, fl), "a bound equal to the error holds");
    EXPECT(!cli_bound_holds(fl * 3.0, 0.0, fl), "an error of 3x the floor with bound 0 is caught");
    EXPECT(!cli_bound_holds(NAN, 1.0, fl), "a NaN error is a violation");
    EXPECT(!cli_bound_holds(1e-20, NAN, fl), "a NaN bound is a violation");

    /* Bad constants give NaN (and so a violation). */
    bl_constants bad = {.mu = 0.0, .L = 1.0};
    EXPECT(isnan(cli_rounding_floor(&bad, &in)), "mu = 0: NaN floor");
    return t_done();
}
