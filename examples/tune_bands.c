/*
 * examples/tune_bands.c — quantile bands over seeds on a common grid
 * (definitions in tune_bands.h).
 */
#include "tune_bands.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double tb_quantile(double *v, int n, double q)
{
    if (n < 1)
        return NAN;
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    double pos = (n - 1) * q;
    int k = (int)floor(pos);
    if (k >= n - 1)
        return v[n - 1];
    if (k < 0)
        return v[0];
    double f = pos - k;
    return f == 0 ? v[k] : v[k] + f * (v[k + 1] - v[k]);
}

double tb_step_at(const tb_trace *tr, double x)
{
    double y = NAN;
    for (int i = 0; i < tr->n; i++) {
        if (!isfinite(tr->x[i]) || !isfinite(tr->y[i]))
            continue;
        if (tr->x[i] > x)
            break;
        y = tr->y[i];
    }
    return y;
}

void tb_grid_linear(double lo, double hi, int npts, double *out)
{
    for (int i = 0; i < npts; i++)
        out[i] = npts == 1 ? lo : i == npts - 1 ? hi : lo + (hi - lo) * i / (npts - 1);
}

/* First and last finite x of a trace (0 when it has none). */
static int trace_range(const tb_trace *tr, double *first, double *last)
{
    int any = 0;
    for (int i = 0; i < tr->n; i++)
        if (isfinite(tr->x[i]) && isfinite(tr->y[i])) {
            if (!any)
                *first = tr->x[i];
            *last = tr->x[i];
            any = 1;
        }
    return any;
}

/* The band of the traces of group g (members[0..nm-1] index traces). */
static int fill_band(const tb_trace *traces, const int *members, int nm, int npts, double qlo,
                     double qhi, tb_band *b, double *scratch)
{
    double lo = -INFINITY, hi = INFINITY;
    b->ntraces = nm;
    for (int k = 0; k < nm; k++) {
        double f = NAN, l = NAN;
        if (!trace_range(&traces[members[k]], &f, &l))
            return 0; /* a seed with no point: no common range */
        lo = fmax(lo, f);
        hi = fmin(hi, l);
    }
    if (!(lo <= hi))
        return 0;
    double *all = malloc((size_t)4 * npts * sizeof(double));
    if (!all)
        return -1;
    b->x = all, b->lo = all + npts, b->med = all + 2 * npts, b->hi = all + 3 * npts;
    b->npts = npts;
    tb_grid_linear(lo, hi, npts, b->x);
    for (int i = 0; i < npts; i++) {
        for (int k = 0; k < nm; k++)
            scratch[k] = tb_step_at(&traces[members[k]], b->x[i]);
        b->lo[i] = tb_quantile(scratch, nm, qlo);
        b->med[i] = tb_quantile(scratch, nm, 0.5);
        b->hi[i] = tb_quantile(scratch, nm, qhi);
    }
    return 0;
}

int tb_bands(const tb_trace *traces, int ntraces, int npts, double qlo, double qhi,
             tb_band **bands)
{
    tb_band *b = calloc((size_t)(ntraces > 0 ? ntraces : 1), sizeof *b);
    int *members = malloc((size_t)(ntraces > 0 ? ntraces : 1) * sizeof(int));
    double *scratch = malloc((size_t)(ntraces > 0 ? ntraces : 1) * sizeof(double));
    int nb = 0, rc = 0;
    if (!b || !members || !scratch)
        rc = -1;
    for (int i = 0; rc == 0 && i < ntraces; i++) {
        int seen = 0;
        for (int g = 0; g < nb && !seen; g++)
            seen = !strcmp(b[g].group, traces[i].group);
        if (seen)
            continue;
        snprintf(b[nb].group, sizeof b[nb].group, "%s", traces[i].group);
        int nm = 0;
        for (int j = i; j < ntraces; j++)
            if (!strcmp(traces[j].group, traces[i].group))
                members[nm++] = j;
        rc = fill_band(traces, members, nm, npts, qlo, qhi, &b[nb++], scratch);
    }
    free(members);
    free(scratch);
    if (rc < 0) {
        tb_bands_free(b, nb);
        return -1;
    }
    *bands = b;
    return nb;
}

void tb_bands_free(tb_band *bands, int nbands)
{
    if (!bands)
        return;
    for (int g = 0; g < nbands; g++)
        free(bands[g].x);
    free(bands);
}
