/*
 * examples/tune_plot.h — the median / 20–80% quantile-band figures of
 * `hypertape tune` (README, "Walkthrough: hypertape tune"): for each panel
 * (a metric against an axis), the band of each algorithm over its seeds
 * (tune_bands.h), written to a CSV and drawn with gnuplot (the band as
 * filledcurves, the median as a line). The metric and the axis are
 * parameters, so any study with per-seed traces (h − h*, ‖∇h‖², test
 * accuracy; against seconds, epochs, iterations) can reuse it.
 */
#ifndef HYPERTAPE_TUNE_PLOT_H
#define HYPERTAPE_TUNE_PLOT_H

#include "cli.h"
#include "tune_bands.h"

/* Grid points of every band, and its quantiles (benchopt's convention). */
enum { TP_GRID_POINTS = 200 };
#define TP_Q_LO 0.2
#define TP_Q_HI 0.8

/* What a panel plots: the metric (its CSV name, axis label, log y), the
 * axis (CSV name, label) and the traces, one per run, grouped by algorithm. */
typedef struct tp_panel {
    const char *metric, *metric_label;
    int log_y;
    const char *axis, *axis_label;
    const tb_trace *traces;
    int ntraces;
} tp_panel;

/* Computes each panel's bands, writes OUT/csv_name (columns metric, axis,
 * algo, seeds, point, x, q20, median, q80; the raw quantiles) and draws
 * OUT/png_name, panels in a grid of `cols` columns under `title`. On a log
 * axis, quantiles ≤ 0 are left out of the drawing (not of the CSV). Exits
 * 1 when out of memory or the CSV cannot be written; returns 1 when the
 * PNG was written, 0 when gnuplot failed (warned on stderr, as cli_gnuplot). */
int tp_write(const cli_common *c, const char *title, const tp_panel *panels, int npanels, int cols,
             const char *csv_name, const char *png_name);

#endif
