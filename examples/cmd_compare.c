/*
 * examples/cmd_compare.c — `hypertape compare`, the main job: every
 * estimator over a sweep of its budget on the least-squares problem
 * (closed-form truth) and on per-feature logistic regression on the
 * Fashion-MNIST pair T-shirt/top vs Shirt (truth from the exact solve).
 * Writes compare.csv (the whole sweep), one PNG per problem (error against
 * Hvp-equivalent work and against seconds) and prints the best setting of
 * each method.
 *
 * Hvp-equivalent work = gradients + max(Hvps, cross products): an H·v and
 * the cross product of the same vector come from one sweep.
 */
#include "cli.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: hypertape compare [--problems lstsq,logreg] [--fashion-dir DIR] [--n-train N]\n"
    "           [--n-val N] [--lambda V] [--max-iters K] [--out DIR] [--quiet] [--seed S]\n"
    "Runs every estimator over a sweep of its budget and writes DIR/compare.csv,\n"
    "DIR/compare_<problem>.png and a table of each method at its best setting.";

typedef struct row {
    const char *problem;
    bl_method method;
    char setting[48];
    double err, bound, seconds;
    int certified;
    bl_counts c;
    long work;
    size_t peak;
    bl_status st;
} row;

typedef struct rows {
    row *r;
    int n, cap;
} rows;

static row *add_row(rows *R)
{
    if (R->n == R->cap) {
        R->cap = R->cap ? 2 * R->cap : 64;
        row *p = realloc(R->r, (size_t)R->cap * sizeof *p);
        if (!p)
            cli_fail_run("compare", "out of memory");
        R->r = p;
    }
    memset(&R->r[R->n], 0, sizeof(row));
    return &R->r[R->n++];
}

static double rel_err(const double *a, const double *b, int m)
{
    double e = 0, n = 0;
    for (int j = 0; j < m; j++) {
        e += (a[j] - b[j]) * (a[j] - b[j]);
        n += b[j] * b[j];
    }
    return sqrt(e) / fmax(sqrt(n), 1e-300);
}

/* Runs one configuration and records its row. */
static void run(const cli_common *c, const cli_problem *cp, const double *truth, rows *R,
                const bl_hg_opts *o, const char *setting)
{
    int m = cp->pb.m;
    double *hg = calloc((size_t)m, sizeof(double));
    if (!hg)
        cli_fail_run(c->cmd, "out of memory");
    bl_diag d;
    char msg[512];
    bl_status st = bl_hypergrad(&cp->pb, cp->lambda, o, hg, &d, msg, sizeof msg);
    row *w = add_row(R);
    w->problem = cp->kind;
    w->method = o->method;
    snprintf(w->setting, sizeof w->setting, "%s", setting);
    w->st = st;
    w->err = d.produced ? rel_err(hg, truth, m) : NAN;
    w->bound = d.bound_a_posteriori / fmax(cli_norm(truth, m), 1e-300); /* relative, like err */
    w->certified = d.bound_certified;
    w->c = d.counts;
    w->work = d.counts.grad + (d.counts.hvp > d.counts.cross ? d.counts.hvp : d.counts.cross);
    w->seconds = d.seconds;
    w->peak = d.peak_tape_bytes;
    if (st != BL_OK)
        cli_progress(c, "%s %s %s: %s", cp->kind, bl_method_name(o->method), setting, msg);
    else
        cli_progress(c, "%-6s %-20s %-14s rel. error %.2e  work %6ld  %.3f s", cp->kind,
                     bl_method_name(o->method), setting, w->err, w->work, w->seconds);
    free(hg);
}

/* The sweep: each method over its budget. `big_m` skips unroll-forward,
 * whose cost grows with m. */
static void sweep(const cli_common *c, const cli_problem *cp, const double *truth, rows *R,
                  int kmax, int big_m)
{
    static const int Ks[] = {10, 30, 100, 300, 1000, 3000};
    static const int Ls[] = {1, 2, 5, 10, 20, 50, 100};
    static const double tols[] = {1e-2, 1e-4, 1e-6, 1e-8};
    char set[48];
    for (int k = 0; k < 6 && Ks[k] <= kmax; k++) {
        int K = Ks[k];
        snprintf(set, sizeof set, "K=%d", K);
        bl_method fam[] = {BL_UNROLL, BL_INEXACT_AD, BL_UNROLL_CHECKPOINTED, BL_UNROLL_FORWARD,
                           BL_UNROLL_GENERIC};
        for (int f = 0; f < 5; f++) {
            if ((fam[f] == BL_UNROLL_FORWARD && big_m) || (fam[f] == BL_UNROLL_GENERIC && K > 100))
                continue;
            bl_hg_opts o = {.method = fam[f], .inner_iters = K, .snapshots = 10};
            run(c, cp, truth, R, &o, set);
        }
        bl_hg_opts o = {.method = BL_UNROLL_TRUNCATED, .inner_iters = kmax, .truncate = K};
        snprintf(set, sizeof set, "K=%d,T=%d", kmax, K);
        if (K < kmax)
            run(c, cp, truth, R, &o, set);
    }
    for (int l = 0; l < 7; l++) {
        bl_method lin[] = {BL_IFT_CG, BL_IFT_GD, BL_IFT_HB, BL_IFT_NEUMANN, BL_SHINE_REFINE};
        for (int f = 0; f < 5; f++) {
            int L = Ls[l] * (f == BL_IFT_CG - BL_IFT_CG || lin[f] == BL_SHINE_REFINE ? 1 : 10);
            bl_hg_opts o = {.method = lin[f], .linear_iters = L, .linear_tol = -1}; /* L steps */
            snprintf(set, sizeof set, "iters=%d", L);
            run(c, cp, truth, R, &o, set);
        }
    }
    for (int t = 0; t < 4; t++) {
        bl_method sh[] = {BL_SHINE, BL_SHINE_OPA};
        for (int f = 0; f < 2; f++) {
            bl_hg_opts o = {.method = sh[f], .inner_tol = tols[t]};
            snprintf(set, sizeof set, "inner-tol=%g", tols[t]);
            run(c, cp, truth, R, &o, set);
        }
    }
    bl_hg_opts id = {.method = BL_IFT_IDENTITY}, ex = {.method = BL_EXACT};
    run(c, cp, truth, R, &id, "-");
    run(c, cp, truth, R, &ex, "-");
}

static void write_csv(const cli_common *c, const rows *R)
{
    char tmp[1100];
    FILE *f = cli_open_tmp(c->cmd, c->out, "compare.csv", tmp, sizeof tmp);
    fprintf(f, "problem,method,setting,rel_error,bound_a_posteriori_rel,bound_certified,grad,hvp,"
               "cross,work,seconds,peak_tape_bytes,status\n");
    for (int i = 0; i < R->n; i++) {
        const row *w = &R->r[i];
        /* quoted: a setting like "K=300,T=10" has a comma */
        fprintf(f, "%s,%s,\"%s\",%.6e,%.6e,%d,%ld,%ld,%ld,%ld,%.6f,%zu,%s\n", w->problem,
                bl_method_name(w->method), w->setting, w->err, w->bound, w->certified, w->c.grad,
                w->c.hvp, w->c.cross, w->work, w->seconds, w->peak, bl_strerror(w->st));
    }
    cli_commit(c->cmd, f, tmp);
}

/* The best row of (problem, method): smallest error, then least work. */
static const row *best(const rows *R, const char *problem, bl_method m)
{
    const row *b = NULL;
    for (int i = 0; i < R->n; i++) {
        const row *w = &R->r[i];
        if (strcmp(w->problem, problem) || w->method != m || !isfinite(w->err))
            continue;
        if (!b || w->err < 0.999 * b->err || (w->err <= 1.001 * b->err && w->work < b->work))
            b = w;
    }
    return b;
}

static void print_table(const rows *R, const cli_problem *cp)
{
    printf("\n%s\n", cp->label);
    printf("%-20s %-16s %10s %10s %7s %7s %7s %9s %12s\n", "method", "best setting", "rel.error",
           "bound", "grad", "hvp", "cross", "seconds", "peak bytes");
    for (int m = 0; m < BL_METHOD_COUNT; m++) {
        const row *w = best(R, cp->kind, (bl_method)m);
        if (!w)
            continue;
        char bound[24] = "-";
        if (isfinite(w->bound))
            snprintf(bound, sizeof bound, "%.2e%s", w->bound, w->certified ? "" : "*");
        printf("%-20s %-16s %10.2e %10s %7ld %7ld %7ld %9.4f %12zu\n", bl_method_name(w->method),
               w->setting, w->err, bound, w->c.grad, w->c.hvp, w->c.cross, w->seconds, w->peak);
    }
}

/* One PNG per problem: error against work and against seconds, log-log.
 * Returns 1 when the PNG was written. */
static int plot(const cli_common *c, const rows *R, const char *problem)
{
    char dat[1100], gp[1200], png[128];
    snprintf(png, sizeof png, "compare_%.30s.png", problem);
    FILE *f = cli_open_scratch(c->cmd, "plot.dat", dat, sizeof dat);
    int nblocks = 0;
    const char *titles[BL_METHOD_COUNT];
    for (int m = 0; m < BL_METHOD_COUNT; m++) {
        int any = 0;
        for (int i = 0; i < R->n; i++) {
            const row *w = &R->r[i];
            if (strcmp(w->problem, problem) || w->method != (bl_method)m || !(w->err > 0))
                continue;
            fprintf(f, "%ld %.6e %.6e\n", w->work > 0 ? w->work : 1, w->seconds, w->err);
            any = 1;
        }
        if (any) {
            fprintf(f, "\n\n");
            titles[nblocks++] = bl_method_name((bl_method)m);
        }
    }
    if (fclose(f) != 0)
        cli_fail_run(c->cmd, "cannot write '%s'", dat);
    FILE *g = cli_plot_open(c, png, 1400, 600, gp, sizeof gp);
    fprintf(g, "set multiplot layout 1,2 title 'hypertape compare: %s'\nset logscale xy\n"
               "set ylabel 'relative error'\nset key bottom left font ',9'\nset format y '%%.0e'\n", problem);
    const char *xs[2] = {"Hvp-equivalent work (grad + max(hvp, cross))", "seconds"};
    for (int panel = 0; panel < 2; panel++) {
        fprintf(g, "%sset xlabel '%s'\nplot ", panel ? "unset key\n" : "", xs[panel]);
        for (int b = 0; b < nblocks; b++)
            fprintf(g, "%s'%s' index %d using %d:3 with linespoints title '%s'", b ? ", " : "", dat,
                    b, panel ? 2 : 1, titles[b]);
        fprintf(g, "\n");
    }
    fprintf(g, "unset multiplot\n");
    return cli_gnuplot(c, g, gp, png, dat); /* removes the scratch plot.dat and script */
}

int cmd_compare(int argc, char **argv)
{
    cli_opt opts[] = {
        {"problems", 1, "comma list of lstsq, logreg (default both)", NULL, 0},
        {"fashion-dir", 1, "Fashion-MNIST IDX folder (default /usr/share/datasets/fashion-mnist)", NULL, 0},
        {"n-train", 1, "training samples of the Fashion-MNIST pair (default 2000)", NULL, 0},
        {"n-val", 1, "validation samples (default 2000)", NULL, 0},
        {"lambda", 1, "logreg: the value of every lambda_k (default -1)", NULL, 0},
        {"max-iters", 1, "largest K of the unroll sweeps (default 1000 lstsq, 300 logreg)", NULL, 0},
    };
    int n = sizeof opts / sizeof opts[0];
    cli_common c = {"compare", 0, 1, NULL, 0};
    cli_parse(argc, argv, 2, opts, n, usage, &c);
    int do_lsq, do_lr;
    cli_problem_list(c.cmd, cli_get(opts, n, "problems"), &do_lsq, &do_lr);
    static const char *const lr_only[] = {"fashion-dir", "n-train", "n-val", "lambda"};
    for (int k = 0; k < 4; k++)
        cli_only(c.cmd, opts, n, lr_only[k], do_lr, "--problems logreg");
    const char *v = cli_get(opts, n, "fashion-dir");
    const char *dir = v ? v : "/usr/share/datasets/fashion-mnist";
    int ntr = (v = cli_get(opts, n, "n-train")) ? cli_int(c.cmd, "n-train", v, 10, 10000) : 2000;
    int nva = (v = cli_get(opts, n, "n-val")) ? cli_int(c.cmd, "n-val", v, 10, 10000) : 2000;
    double lam = (v = cli_get(opts, n, "lambda")) ? cli_number(c.cmd, "lambda", v) : -1.0;
    int kmax = (v = cli_get(opts, n, "max-iters")) ? cli_int(c.cmd, "max-iters", v, 10, 3000) : 0;
    cli_problem cps[2];
    int np = 0;
    if (do_lsq)
        cli_problem_lstsq(&c, 1000, 10, 10, &cps[np++]);
    if (do_lr) {
        cli_problem_fashion_logreg(&c, dir, ntr, nva, lam, &cps[np]);
        cli_check_lambda(&c, &cps[np++], cli_get(opts, n, "lambda"));
    }
    cli_mkdir(c.cmd, c.out); /* after the data: bad input leaves no folder behind */
    rows R = {0};
    double t0 = cli_now();
    for (int k = 0; k < np; k++) {
        cli_problem *cp = &cps[k];
        double *truth = malloc((size_t)cp->pb.m * sizeof(double));
        char msg[512];
        if (!truth)
            cli_fail_run(c.cmd, "out of memory");
        cli_progress(&c, "%s: computing the reference hypergradient", cp->label);
        if (cli_problem_truth(cp, truth, msg, sizeof msg) != BL_OK)
            cli_fail_run(c.cmd, "reference for %s: %s", cp->kind, msg);
        int km = kmax ? kmax : (strcmp(cp->kind, "lstsq") ? 300 : 1000);
        sweep(&c, cp, truth, &R, km, cp->pb.m > 16);
        free(truth);
    }
    write_csv(&c, &R);
    int plotted[2] = {0, 0};
    for (int k = 0; k < np; k++) {
        print_table(&R, &cps[k]);
        plotted[k] = plot(&c, &R, cps[k].kind);
    }
    printf("\n(bound: a-posteriori error bound relative to |truth|; * = estimated, not certified: Lanczos constants or a power-iteration |B|)\n");
    printf("wrote %s/compare.csv", c.out);
    for (int k = 0; k < np; k++)
        if (plotted[k])
            printf(", %s/compare_%s.png", c.out, cps[k].kind);
    printf("  (%.1f s)\n", cli_now() - t0);
    for (int k = 0; k < np; k++)
        cli_problem_free(&cps[k]);
    free(R.r);
    return 0;
}
