/*
 * examples/tune_plot.c — quantile-band CSV and figure (tune_plot.h).
 */
#include "tune_plot.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The bands of every panel (bands[k], nb[k]); exits 1 when out of memory. */
static void all_bands(const cli_common *c, const tp_panel *p, int np, tb_band **bands, int *nb)
{
    for (int k = 0; k < np; k++) {
        nb[k] = tb_bands(p[k].traces, p[k].ntraces, TP_GRID_POINTS, TP_Q_LO, TP_Q_HI, &bands[k]);
        if (nb[k] < 0)
            cli_fail_run(c->cmd, "out of memory (quantile bands of %s against %s)", p[k].metric,
                         p[k].axis);
    }
}

static void csv_num(FILE *f, double x)
{
    if (isfinite(x))
        fprintf(f, ",%.12g", x);
    else
        fputs(",", f);
}

static void write_csv(const cli_common *c, const tp_panel *p, int np, tb_band **bands,
                      const int *nb, const char *name)
{
    char tmp[1100];
    FILE *f = cli_open_tmp(c->cmd, c->out, name, tmp, sizeof tmp);
    fprintf(f, "metric,axis,algo,seeds,point,x,q20,median,q80\n");
    for (int k = 0; k < np; k++)
        for (int g = 0; g < nb[k]; g++) {
            const tb_band *b = &bands[k][g];
            for (int i = 0; i < b->npts; i++) {
                fprintf(f, "%s,%s,%s,%d,%d", p[k].metric, p[k].axis, b->group, b->ntraces, i);
                csv_num(f, b->x[i]);
                csv_num(f, b->lo[i]);
                csv_num(f, b->med[i]);
                csv_num(f, b->hi[i]);
                fputc('\n', f);
            }
        }
    cli_commit(c->cmd, f, tmp);
}

/* A value for the drawing: NaN (a gap) where a log axis cannot show it. */
static double shown(double y, int log_y)
{
    return isfinite(y) && (!log_y || y > 0) ? y : NAN;
}

/* The scratch data: one gnuplot block (index) per panel and group, with a
 * dummy point for an empty band so indices stay aligned. */
static void write_data(const cli_common *c, const tp_panel *p, int np, tb_band **bands,
                       const int *nb, char *dat, size_t len)
{
    FILE *f = cli_open_scratch(c->cmd, "tune_bands.dat", dat, len);
    for (int k = 0; k < np; k++)
        for (int g = 0; g < nb[k]; g++) {
            const tb_band *b = &bands[k][g];
            fprintf(f, "# %s vs %s: %s\n", p[k].metric, p[k].axis, b->group);
            for (int i = 0; i < b->npts; i++)
                fprintf(f, "%.9e %.9e %.9e %.9e\n", b->x[i], shown(b->lo[i], p[k].log_y),
                        shown(b->med[i], p[k].log_y), shown(b->hi[i], p[k].log_y));
            if (!b->npts)
                fprintf(f, "NaN NaN NaN NaN\n");
            fprintf(f, "\n\n");
        }
    if (fclose(f) != 0)
        cli_fail_run(c->cmd, "cannot write '%s'", dat);
}

/* 1 when the band has a point the panel's y axis can show. */
static int visible(const tb_band *b, int log_y)
{
    for (int i = 0; i < b->npts; i++)
        if (isfinite(shown(b->med[i], log_y)))
            return 1;
    return 0;
}

/* One panel's plot command: per group a band (q20..q80) and the median, in
 * the group's colour (its order in the panel). Groups with nothing to show
 * are left out; a panel with none says "no data". */
static void plot_panel(FILE *g, const tp_panel *p, const tb_band *b, int nb, int first_index,
                       int key, const char *dat)
{
    double xmax = 0;
    for (int k = 0; k < nb; k++)
        for (int i = 0; i < b[k].npts; i++)
            xmax = fmax(xmax, b[k].x[i]);
    int thousands = xmax >= 20000; /* six-digit tick labels would run together */
    fprintf(g, "%s\nset xlabel '%s%s'\nset ylabel '%s'\nunset label\nset autoscale\n",
            !key ? "unset key" : p->log_y ? "set key top right font ',9'" /* decreasing curves */
                                          : "set key bottom right font ',9'", p->axis_label,
            thousands ? " (thousands)" : "", p->metric_label);
    int any = 0;
    for (int k = 0; k < nb; k++)
        any |= visible(&b[k], p->log_y);
    if (!any) {
        fprintf(g, "unset logscale y\nset yrange [0:1]\nset xrange [0:1]\n"
                   "set label 'no data' at graph 0.5,0.5 center\nplot 2 notitle\n");
        return;
    }
    fprintf(g, p->log_y ? "set logscale y\nset format y '%%.0e'\n" : "unset logscale y\nset format y '%%g'\n");
    fprintf(g, "plot ");
    for (int k = 0, n = 0; k < nb; k++)
        if (visible(&b[k], p->log_y))
            fprintf(g, "%s'%s' index %d using ($1/%d):2:4 with filledcurves fs transparent solid 0.2 "
                       "noborder lc %d notitle, '%s' index %d using ($1/%d):3 with lines lw 2 lc %d "
                       "title '%s (%d)'",
                    n++ ? ", " : "", dat, first_index + k, thousands ? 1000 : 1, k + 1, dat,
                    first_index + k, thousands ? 1000 : 1, k + 1, b[k].group, b[k].ntraces);
    fprintf(g, "\n");
}

int tp_write(const cli_common *c, const char *title, const tp_panel *panels, int npanels, int cols,
             const char *csv_name, const char *png_name)
{
    tb_band **bands = calloc((size_t)npanels, sizeof *bands);
    int *nb = calloc((size_t)npanels, sizeof *nb);
    if (!bands || !nb)
        cli_fail_run(c->cmd, "out of memory (quantile bands)");
    all_bands(c, panels, npanels, bands, nb);
    write_csv(c, panels, npanels, bands, nb, csv_name);
    char dat[1100], gp[1200];
    write_data(c, panels, npanels, bands, nb, dat, sizeof dat);
    int rows = (npanels + cols - 1) / cols;
    FILE *g = cli_plot_open(c, png_name, 700 * cols, 520 * rows, gp, sizeof gp);
    fprintf(g, "set multiplot layout %d,%d title \"%s (median over seeds, 20-80%% band)\"\n"
               "set grid\nset style fill transparent solid 0.2 noborder\n",
            rows, cols, title);
    for (int k = 0, index = 0; k < npanels; index += nb[k], k++)
        plot_panel(g, &panels[k], bands[k], nb[k], index, k == 0, dat);
    fprintf(g, "unset multiplot\n");
    int ok = cli_gnuplot(c, g, gp, png_name, dat);
    for (int k = 0; k < npanels; k++)
        tb_bands_free(bands[k], nb[k]);
    free(bands);
    free(nb);
    return ok;
}
