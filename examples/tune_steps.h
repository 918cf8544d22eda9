/*
 * examples/tune_steps.h — `hypertape tune --tune-steps`: a small grid
 * search over an algorithm's step sizes before its full runs, as benchopt
 * does (README, CLI reference, `tune`). Each grid point is one short run
 * (a tenth of the run budget) on one seed; the point with the lowest
 * criterion is selected; ties go to the first point in grid order. The
 * criterion is the true h(λ) at the final λ (the evaluation hook's value,
 * so the lowest h − h* for any h*), or, with --eval iterate (TS_AT_MODEL),
 * the validation loss F(θ, λ) at the algorithm's own model θ and final λ:
 * no inner solve, and no look at the test set.
 *
 * The grids, around the values in effect (the step flags, else the
 * algorithm's defaults of hypertape/outer.h):
 *   soba, saba, srba, stocbio, amigo, f2sa, f2sa-adam, bome: inner step ρ ×
 *     outer step γ, each ∈ {0.1, 1, 10} × its value (9 points; defaults
 *     ρ = γ = 0.1, f2sa-adam 0.001);
 *   hgd, adam: the step ∈ {0.1, 1, 10} × its value (3 points; defaults 1
 *     and 0.1);
 *   hoag, bound, grid, random: no step to tune (no grid).
 */
#ifndef HYPERTAPE_TUNE_STEPS_H
#define HYPERTAPE_TUNE_STEPS_H

#include <hypertape/outer.h>

#include <stddef.h>

enum { TS_MAX_POINTS = 9 };

/* One grid point and its short run's result. */
typedef struct ts_point {
    double inner;  /* ρ (inner_step); hgd, adam: the step */
    double outer;  /* γ (outer_step); NaN for hgd, adam */
    double h;      /* the criterion at the short run's end (NaN: failed) */
    bl_status st;  /* the short run's status */
} ts_point;

/* The grid of T around the steps of base (table above) into pts
 * (TS_MAX_POINTS); returns the count, 0 for an algorithm without steps. */
int ts_grid(const bl_outer_type *T, const bl_outer_opts *base, ts_point *pts);

/* Sets the steps of point pt in o (inner_step and outer_step, or step). */
void ts_apply(const bl_outer_type *T, const ts_point *pt, bl_outer_opts *o);

/* The budget of a grid point: a tenth of every budget of full (seconds,
 * work, samples; iterations rounded up), the tolerance kept; with no
 * budget at all, 20 iterations (a tenth of bl_outer_solve's 200). */
bl_outer_stop ts_short_stop(const bl_outer_stop *full);

/* The selection criterion (above). */
typedef enum ts_criterion {
    TS_TRUE_H,   /* true h at the final λ (bl_outer_evaluate) */
    TS_AT_MODEL  /* F(θ, λ) on every outer sample at bl_outer_model and the final λ */
} ts_criterion;

/* Its name in JSON and progress lines: "true_h" or "val_loss_at_model". */
const char *ts_criterion_name(ts_criterion c);

/* Runs point pt: T with options o (pt applied, seed set by the caller)
 * from lambda0 under stop, then the criterion c at its end into pt->h
 * (TS_AT_MODEL: NaN for a type without a model). Returns pt->st; msg says
 * why when the run could not start. */
bl_status ts_run(const bl_outer_type *T, const bl_problem *pb, const bl_outer_opts *o,
                 const double *lambda0, const bl_outer_stop *stop, ts_criterion c, ts_point *pt,
                 char *msg, size_t len);

/* Index of the point with the lowest finite h (the first on ties); -1
 * when none is finite. */
int ts_select(const ts_point *pts, int n);

#endif
