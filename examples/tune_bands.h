/*
 * examples/tune_bands.h — median and quantile bands over seeds (benchopt's
 * convention: the median with a 20–80% band), for the curves of `hypertape
 * tune` (README, "Walkthrough: hypertape tune"). Pure arithmetic, no I/O:
 * examples/tune_plot.c writes and draws the bands.
 *
 * Each seed's trace is a step function: at x it is the last value the run
 * had reached at or before x (no best-so-far, no smoothing), and it is
 * undefined before the trace's first point. The bands are taken on a common
 * grid of x, linear from the largest first x to the smallest last x over
 * the group's traces, so every seed is inside its own trace at every grid
 * point and the quantiles are always over all of the group's seeds.
 */
#ifndef HYPERTAPE_TUNE_BANDS_H
#define HYPERTAPE_TUNE_BANDS_H

/* One run's trace: n points (x increasing, not necessarily strictly), in a
 * group (the algorithm); non-finite x or y points are skipped. */
typedef struct tb_trace {
    const char *group;
    int n;
    const double *x, *y;
} tb_trace;

/* The band of one group on its grid (npts points, 0 when the group has no
 * common range, e.g. a trace with no finite point). */
typedef struct tb_band {
    char group[64];
    int ntraces;              /* traces (seeds) in the group */
    int npts;
    double *x, *lo, *med, *hi; /* npts each: grid, q_lo, median, q_hi */
} tb_band;

/* The q-quantile (q in [0, 1]) of v[0..n-1] by linear interpolation between
 * order statistics: position (n − 1)q of the sorted values (Hyndman & Fan's
 * type 7, the usual default of numerical libraries). Sorts v in place. NaN
 * when n < 1. */
double tb_quantile(double *v, int n, double q);

/* The step interpolant of a trace at x: y at the last point with x_i ≤ x
 * (finite points only); NaN when x is before the first finite point. */
double tb_step_at(const tb_trace *tr, double x);

/* npts points from lo to hi, evenly spaced (lo only when npts is 1). */
void tb_grid_linear(double lo, double hi, int npts, double *out);

/* The bands of the traces, one per group in order of first appearance,
 * each on an npts-point grid (npts ≥ 2), quantiles qlo and qhi and the
 * median. *bands is allocated (free with tb_bands_free); returns the number
 * of groups, or -1 when out of memory (nothing allocated). */
int tb_bands(const tb_trace *traces, int ntraces, int npts, double qlo, double qhi,
             tb_band **bands);
void tb_bands_free(tb_band *bands, int nbands);

#endif
