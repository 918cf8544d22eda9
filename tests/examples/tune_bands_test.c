/*
 * tests/examples/tune_bands_test.c — the quantile bands of `hypertape tune`
 * (examples/tune_bands.c) against values computed by hand: type-7
 * quantiles of small sets, the step interpolant (last value reached), and
 * the bands of three seeds with different sampling times on their common
 * grid.
 */
#include "../../examples/tune_bands.h"
#include "testutil.h"

#include <math.h>
#include <string.h>

#define NEAR(a, b) (fabs((a) - (b)) <= 1e-12 * (1 + fabs(b)))

int main(void)
{
    /* n = 5: sorted 1..5; q = 0.2 at position 0.8 -> 1.8; 0.5 -> 3; 0.8 at 3.2 -> 4.2. */
    double v5[5] = {3, 1, 2, 4, 5}, q;
    EXPECT(NEAR(q = tb_quantile(v5, 5, 0.2), 1.8), "q20 of 1..5 = 1.8, got %.17g", q);
    EXPECT(NEAR(q = tb_quantile(v5, 5, 0.5), 3.0), "median of 1..5 = 3, got %.17g", q);
    EXPECT(NEAR(q = tb_quantile(v5, 5, 0.8), 4.2), "q80 of 1..5 = 4.2, got %.17g", q);
    EXPECT(tb_quantile(v5, 5, 0.0) == 1 && tb_quantile(v5, 5, 1.0) == 5, "q0 = min, q1 = max");
    /* n = 4: {10, 20, 30, 40}; 0.2 at 0.6 -> 16; 0.5 at 1.5 -> 25; 0.8 at 2.4 -> 34. */
    double v4[4] = {40, 10, 30, 20};
    EXPECT(NEAR(q = tb_quantile(v4, 4, 0.2), 16.0), "q20 of 10..40 = 16, got %.17g", q);
    EXPECT(NEAR(q = tb_quantile(v4, 4, 0.5), 25.0), "median of 10..40 = 25, got %.17g", q);
    EXPECT(NEAR(q = tb_quantile(v4, 4, 0.8), 34.0), "q80 of 10..40 = 34, got %.17g", q);
    double v1[1] = {7};
    EXPECT(tb_quantile(v1, 1, 0.2) == 7 && tb_quantile(v1, 1, 0.8) == 7, "one value: every quantile");
    EXPECT(isnan(tb_quantile(v1, 0, 0.5)), "no value: NaN");

    /* The step interpolant: the last value at or before x; NaN before the first point;
     * a NaN point is skipped. */
    double ax[4] = {0, 1, 1.5, 2}, ay[4] = {5, 3, NAN, 1};
    tb_trace A = {"a", 4, ax, ay};
    EXPECT(isnan(tb_step_at(&A, -0.5)), "before the first point: NaN");
    EXPECT(tb_step_at(&A, 0) == 5 && tb_step_at(&A, 0.99) == 5, "[0, 1): 5");
    EXPECT(tb_step_at(&A, 1) == 3 && tb_step_at(&A, 1.7) == 3, "[1, 2): 3 (the NaN at 1.5 skipped)");
    EXPECT(tb_step_at(&A, 2) == 1 && tb_step_at(&A, 9) == 1, "from 2 on: 1");

    double g[5];
    tb_grid_linear(1, 3, 5, g);
    EXPECT(g[0] == 1 && g[1] == 1.5 && g[2] == 2 && g[3] == 2.5 && g[4] == 3, "linear grid 1..3");

    /* Three seeds of "a" sampled at different times, one of "b" in between.
     * Common range of "a": [max first, min last] = [0.5, 1.5]; grid 0.5, 1, 1.5.
     *   x = 0.5: A 5, B 10, C 4 -> {4, 5, 10}: q20 4.4, median 5, q80 8
     *   x = 1.0: A 3, B 10, C 2 -> {2, 3, 10}: q20 2.4, median 3, q80 7.2
     *   x = 1.5: A 3, B 10, C 1 -> {1, 3, 10}: q20 1.8, median 3, q80 7.2 */
    double bx[2] = {0.5, 3}, by[2] = {10, 0}, cx[3] = {0, 0.75, 1.5}, cy[3] = {4, 2, 1};
    double dx[2] = {0, 2}, dy[2] = {8, 6};
    tb_trace tr[4] = {A, {"b", 2, dx, dy}, {"a", 2, bx, by}, {"a", 3, cx, cy}};
    tb_band *b = NULL;
    int nb = tb_bands(tr, 4, 3, 0.2, 0.8, &b);
    EXPECT(nb == 2 && !strcmp(b[0].group, "a") && !strcmp(b[1].group, "b"),
           "two groups in order of first appearance (%d)", nb);
    if (nb == 2) {
        double wx[3] = {0.5, 1, 1.5}, wl[3] = {4.4, 2.4, 1.8}, wm[3] = {5, 3, 3}, wh[3] = {8, 7.2, 7.2};
        EXPECT(b[0].ntraces == 3 && b[0].npts == 3, "a: 3 seeds, 3 grid points");
        for (int i = 0; i < 3 && b[0].npts == 3; i++)
            EXPECT(NEAR(b[0].x[i], wx[i]) && NEAR(b[0].lo[i], wl[i]) && NEAR(b[0].med[i], wm[i]) &&
                       NEAR(b[0].hi[i], wh[i]),
                   "a at x = %g: %.17g %.17g %.17g (by hand %g %g %g)", wx[i], b[0].lo[i], b[0].med[i],
                   b[0].hi[i], wl[i], wm[i], wh[i]);
        EXPECT(b[1].ntraces == 1 && b[1].npts == 3 && b[1].x[0] == 0 && b[1].x[2] == 2 &&
                   b[1].lo[1] == 8 && b[1].med[1] == 8 && b[1].hi[2] == 6,
               "b: one seed, the band is its step trace on [0, 2]");
    }
    tb_bands_free(b, nb);

    /* A seed with no finite point leaves its group without a common range. */
    double nx[1] = {NAN}, ny[1] = {1};
    tb_trace tn[2] = {A, {"a", 1, nx, ny}};
    nb = tb_bands(tn, 2, 4, 0.2, 0.8, &b);
    EXPECT(nb == 1 && b[0].npts == 0 && b[0].ntraces == 2, "a seed with no point: no band");
    tb_bands_free(b, nb);
    return t_done();
}
