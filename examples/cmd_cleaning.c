/*
 * examples/cmd_cleaning.c — `hypertape bounds --cleaning`: data
 * hypercleaning on Fashion-MNIST (the study of Ehrhardt & Roberts 2023,
 * after Yang, Ji & Liang 2021), over a grid of lower-level solvers and
 * tolerances × linear solvers and tolerances.
 *
 * Problem (hypertape/models/cleaning.h): 20,000 training samples with 10% of the
 * labels replaced by another class, 5,000 clean validation samples, the
 * Fashion-MNIST test set for accuracy; G = (1/n) Σ σ(λ_i) CE_i + (r/2)‖W‖²
 * with r = μ = 0.002, F = validation cross-entropy.
 *
 * One configuration, from λ = 0 (σ = ½), θ = 0, q = 0, until the work (lower-
 * level iterations + linear iterations) reaches the budget:
 *   1. lower level: warm-started from the previous θ, iterate until
 *      ‖∇_θG‖ ≤ μ·ε, which certifies ‖θ − θ*‖ ≤ ε (strong convexity);
 *   2. record the upper objective F(θ) (validation cross-entropy) and work
 *      (one row per lower-level solve; when a linear solve spends the rest
 *      of the budget, one more row with the same F at the final work);
 *   3. linear solve H q = ∇_θF from the previous q until ‖Hq − ∇_θF‖ ≤ δ;
 *   4. hypergradient h = ∇_λF − cross(q) (∇_λF = 0 here); λ ← λ − step·h.
 * Solvers use the default steps from the model's certified constants at the
 * current λ. "fista" is bl_inner_nesterov: FISTA's constant momentum
 * (√L−√μ)/(√L+√μ) for strongly convex problems, step 1/L.
 */
#include "cli.h"
#include <hypertape/models/cleaning.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { MAXL = 4 };
/* Work counts solver iterations only, so an outer step whose warm-started
 * solves already meet their tolerances costs nothing (small data sets with
 * loose tolerances): after this many such steps in a row a configuration
 * stops short of its budget, with a warning (README, CLI reference). */
enum { CLEANING_MAX_IDLE = 1000 };

static const char *const INNER_NAMES[3] = {"gd", "hb", "fista"};
static const char *const LINEAR_NAMES[3] = {"gd", "hb", "cg"};
static const bl_linear LINEAR_METHODS[3] = {BL_LINEAR_GD, BL_LINEAR_HB, BL_LINEAR_CG};

/* One configuration of the grid. */
typedef struct cfg {
    int inner, linear;      /* indices into INNER_NAMES / LINEAR_NAMES */
    double eps, delta;      /* lower-level and linear tolerances */
} cfg;

/* What one configuration reached. */
typedef struct outcome {
    double start_ce, final_ce, best_ce, test_ce, test_acc, seconds;
    int outer;
    long work;
} outcome;

static const bl_inner_type *inner_type(int i)
{
    return i == 0 ? bl_inner_gd : i == 1 ? bl_inner_hb : bl_inner_nesterov;
}

/* Parses a comma list of names out of `names` (3 of them) into indices;
 * NULL text = all three. Returns the count. */
static int name_list(const char *cmd, const char *flag, const char *text,
                     const char *const names[3], int *out)
{
    int n = 0;
    if (!text) {
        for (int k = 0; k < 3; k++)
            out[n++] = k;
        return n;
    }
    for (const char *s = text;;) {
        size_t len = strcspn(s, ",");
        int k = 0;
        while (k < 3 && !(strlen(names[k]) == len && !strncmp(s, names[k], len)))
            k++;
        if (k == 3 || n == 3)
            cli_fail(cmd, "--%s must be a comma list of %s, %s, %s; got '%s'", flag, names[0],
                     names[1], names[2], text);
        out[n++] = k;
        if (!s[len])
            return n;
        s += len + 1;
    }
}

static int tol_list(const char *cmd, const char *flag, const char *text, double *out)
{
    if (!text) {
        out[0] = 0.1, out[1] = 0.01;
        return 2;
    }
    int n = cli_number_list(cmd, flag, text, out, MAXL);
    for (int k = 0; k < n; k++)
        if (!(out[k] > 0))
            cli_fail(cmd, "--%s must be positive numbers, got '%s'", flag, text);
    return n;
}

/* The loaded problem and run settings shared by every configuration. */
typedef struct grid {
    const cli_common *c;
    cli_problem cp;     /* kind "cleaning": train, val, model */
    ds_set test;
    long budget;
    double step;
    FILE *csv, *dat;
} grid;

static void load(grid *G, const cli_opt *opts, int nopts)
{
    const cli_common *c = G->c;
    const char *v;
    double prob, mu = (v = cli_get(opts, nopts, "mu")) ? cli_number(c->cmd, "mu", v) : 0.002;
    int mode, exact;
    cli_cleaning_corruption(c, opts, nopts, &prob, &mode, &exact);
    if (!(mu > 0))
        cli_fail(c->cmd, "--mu must be positive, got %g", mu);
    cli_cleaning_data(c, opts, nopts, 20000, 5000, 1, &G->cp);
    G->test = G->cp.test; /* the grid owns the test set (none: NaN test columns) */
    memset(&G->cp.test, 0, sizeof G->cp.test);
    cli_cleaning_build(c, &G->cp, prob, mode, exact, mu);
}

/* Writes one row of cleaning.csv and of the plot data. */
static void row(grid *G, const cfg *f, int outer, long work, double ce, double hnorm, double sec)
{
    fprintf(G->csv, "%s,%g,%s,%g,%d,%ld,%.9g,%.6e,%.3f\n", INNER_NAMES[f->inner], f->eps,
            LINEAR_NAMES[f->linear], f->delta, outer, work, ce, hnorm, sec);
    fprintf(G->dat, "%ld %.9g\n", work, ce);
}

/* Runs one configuration; buffers: θ, q, ∇_θF (p each), λ, ∇_λF, cross (m each). */
static void run_config(grid *G, const cfg *f, outcome *res)
{
    const cli_common *c = G->c;
    const bl_problem *pb = &G->cp.pb;
    int p = pb->p, m = pb->m;
    double *buf = calloc((size_t)3 * p + (size_t)3 * m, sizeof(double));
    bl_oracle *o = bl_oracle_new(pb, 0);
    bl_status st = BL_ENOMEM;
    bl_inner *s = o && buf ? bl_inner_new(inner_type(f->inner), o, NULL, &st) : NULL;
    if (!s)
        cli_fail_run(c->cmd, "cleaning: %s", o && buf ? bl_oracle_message(o) : "out of memory");
    double *theta = buf, *q = theta + p, *gF = q + p, *lam = gF + p, *gFl = lam + m, *cross = gFl + m;
    double t0 = cli_now(), last_print = -1e9, hnorm = NAN, ce = NAN;
    long work = 0;
    memset(res, 0, sizeof *res);
    res->best_ce = INFINITY;
    long work_before = 0;
    int idle = 0; /* outer steps in a row whose solves needed no iteration */
    for (int outer = 0;; outer++) {
        bl_constants k;
        if (pb->constants(lam, &k, pb->ctx) != BL_OK || bl_inner_set(s, theta, lam) != BL_OK)
            cli_fail_run(c->cmd, "cleaning: lower level: %s", bl_oracle_message(o));
        while (work < G->budget && !bl_inner_converged(s, k.mu * f->eps) && st == BL_OK)
            if ((st = bl_inner_iterate(s)) == BL_OK)
                work++;
        if (st != BL_OK)
            cli_fail_run(c->cmd, "cleaning: lower level: %s", bl_oracle_message(o));
        memcpy(theta, bl_inner_theta(s), (size_t)p * sizeof(double));
        if (bl_oracle_F(o, NULL, theta, lam, &ce, gF, gFl) != BL_OK)
            cli_fail_run(c->cmd, "cleaning: upper level: %s", bl_oracle_message(o));
        double sec = cli_now() - t0;
        row(G, f, outer, work, ce, hnorm, sec);
        res->start_ce = outer == 0 ? ce : res->start_ce;
        res->best_ce = fmin(res->best_ce, ce);
        res->outer = outer;
        if (sec - last_print > 5.0 || work >= G->budget) {
            cli_progress(c, "%s eps=%g / %s delta=%g: outer %d, work %ld/%ld, val CE %.4f, |h| %.2e, %.1f s",
                         INNER_NAMES[f->inner], f->eps, LINEAR_NAMES[f->linear], f->delta, outer,
                         work, G->budget, ce, hnorm, sec);
            last_print = sec;
        }
        if (work >= G->budget)
            break;
        bl_linear_opts lo = {.tol = f->delta, .max_iters = (int)(G->budget - work)};
        bl_linear_result lr;
        if (bl_oracle_point(o, NULL, theta, lam) != BL_OK ||
            bl_linear_solve(o, LINEAR_METHODS[f->linear], gF, q, &lo, &lr) != BL_OK)
            cli_fail_run(c->cmd, "cleaning: linear solve: %s", bl_oracle_message(o));
        work += lr.iters;
        if (work >= G->budget) { /* the step would not be seen by any later F: close the curve */
            row(G, f, outer, work, ce, hnorm, cli_now() - t0);
            break;
        }
        if (bl_oracle_hvp(o, q, NULL, cross) != BL_OK)
            cli_fail_run(c->cmd, "cleaning: cross product: %s", bl_oracle_message(o));
        for (int j = 0; j < m; j++)
            cross[j] = gFl[j] - cross[j]; /* h */
        hnorm = cli_norm(cross, m);
        for (int j = 0; j < m; j++)
            lam[j] -= G->step * cross[j];
        idle = work == work_before ? idle + 1 : 0;
        work_before = work;
        if (idle == CLEANING_MAX_IDLE) { /* the budget would never be spent */
            fprintf(stderr, "hypertape %s: warning: %s eps=%g / %s delta=%g: stopped at work %ld "
                    "after %d outer steps in a row that needed no solver iteration\n", c->cmd,
                    INNER_NAMES[f->inner], f->eps, LINEAR_NAMES[f->linear], f->delta, work,
                    CLEANING_MAX_IDLE);
            break;
        }
    }
    char msg[512];
    res->test_ce = res->test_acc = NAN;
    if (G->test.n > 0 &&
        hc_evaluate(G->cp.model, &G->test, theta, &res->test_ce, &res->test_acc, msg, sizeof msg) != BL_OK)
        cli_fail_run(c->cmd, "cleaning: test set: %s", msg);
    res->final_ce = ce;
    res->work = work;
    res->seconds = cli_now() - t0;
    fprintf(G->dat, "\n\n");
    bl_inner_free(s);
    bl_oracle_free(o);
    free(buf);
}

/* DIR/cleaning.png: validation cross-entropy against work, one panel per
 * (ε, δ), one line per (lower-level solver, linear solver): the colour
 * names the lower level, the dash pattern the linear solver; a dot marks
 * each curve's first point (the end of the first lower-level solve, or the
 * budget when that solve never finished). Configuration ci is block ci of
 * the data file. */
static int plot(const grid *G, const cfg *cf, int ncf, const double *eps, int ne,
                const double *del, int nd, const char *dat)
{
    char gp[1200];
    static const char *const colour[3] = {"#1f77b4", "#d62728", "#2ca02c"}; /* per lower level */
    FILE *g = cli_plot_open(G->c, "cleaning.png", nd > 1 ? 600 * nd : 760, 440 * ne + 40, gp,
                            sizeof gp);
    fprintf(g, "set multiplot layout %d,%d title 'hypercleaning, %s "
               "(%d train, %d val), budget %ld'\n"
               "set xlabel 'work (lower-level + linear iterations)'\n"
               "set ylabel 'validation cross-entropy'\nset key bottom left font ',8' opaque\n",
            ne, nd, strcmp(G->cp.data, "Fashion-MNIST") ? "your data" : "Fashion-MNIST",
            G->cp.train.n, G->cp.val.n, G->budget);
    if (G->budget >= 5) /* six labels fit a panel; gnuplot's default crowds 90000 and 100000 */
        fprintf(g, "set xrange [0:%ld]\nset xtics %ld\n", G->budget, G->budget / 5);
    for (int a = 0; a < ne; a++)
        for (int b = 0; b < nd; b++) {
            fprintf(g, "set title 'eps = %g, delta = %g'\nplot ", eps[a], del[b]);
            int first = 1;
            for (int ci = 0; ci < ncf; ci++)
                if (cf[ci].eps == eps[a] && cf[ci].delta == del[b]) {
                    fprintf(g, "%s'%s' index %d using 1:2 with linespoints lw 2 "
                               "pt 7 ps 0.8 pi 1000000000 lc rgb '%s' dt %d title '%s + %s'", first ? "" : ", ", dat, ci,
                            colour[cf[ci].inner], cf[ci].linear + 1, INNER_NAMES[cf[ci].inner],
                            LINEAR_NAMES[cf[ci].linear]);
                    first = 0;
                }
            fprintf(g, "\n");
        }
    fprintf(g, "unset multiplot\n");
    return cli_gnuplot(G->c, g, gp, "cleaning.png", dat);
}

static void summary(const grid *G, const cfg *cf, const outcome *R, int ncf)
{
    char tmp[1100];
    FILE *f = cli_open_tmp(G->c->cmd, G->c->out, "cleaning_summary.csv", tmp, sizeof tmp);
    fprintf(f, "inner_solver,inner_tol,linear_solver,linear_tol,outer_iters,work,start_val_ce,"
               "final_val_ce,best_val_ce,test_ce,test_accuracy,seconds\n");
    printf("%-6s %6s %-6s %6s %7s %8s %9s %9s %9s %9s %9s\n", "lower", "eps", "linear", "delta",
           "outer", "work", "start CE", "final CE", "best CE", "test acc", "seconds");
    int best = -1, stalled = 0;
    for (int i = 0; i < ncf; i++) {
        const cfg *c = &cf[i];
        const outcome *r = &R[i];
        fprintf(f, "%s,%g,%s,%g,%d,%ld,%.9g,%.9g,%.9g,%.9g,%.6f,%.3f\n", INNER_NAMES[c->inner],
                c->eps, LINEAR_NAMES[c->linear], c->delta, r->outer, r->work, r->start_ce,
                r->final_ce, r->best_ce, r->test_ce, r->test_acc, r->seconds);
        printf("%-6s %6g %-6s %6g %7d %8ld %9.4f %9.4f %9.4f %8.2f%% %9.1f\n", INNER_NAMES[c->inner],
               c->eps, LINEAR_NAMES[c->linear], c->delta, r->outer, r->work, r->start_ce,
               r->final_ce, r->best_ce, 100 * r->test_acc, r->seconds);
        /* A configuration that took no hypergradient step only shows the
         * lower-level solver stopped early; it does not compete for best. */
        if (r->outer > 0 && (best < 0 || r->final_ce < R[best].final_ce))
            best = i;
        stalled += r->outer == 0;
    }
    cli_commit(G->c->cmd, f, tmp);
    if (stalled)
        printf("%d configuration(s) took no hypergradient step (outer 0): the first lower-level "
               "or linear solve used the whole budget, so their CE is still that of "
               "lambda = 0\n", stalled);
    if (best < 0)
        printf("best final validation cross-entropy: none (no configuration took a step)\n");
    else
        printf("best final validation cross-entropy: %.4f (%s eps=%g + %s delta=%g; test "
               "accuracy %.2f%%)\n", R[best].final_ce, INNER_NAMES[cf[best].inner], cf[best].eps,
               LINEAR_NAMES[cf[best].linear], cf[best].delta, 100 * R[best].test_acc);
    printf("published (Ehrhardt & Roberts 2023, MNIST, heavy ball + CG, 100000 iterations): "
           "0.569 -> 0.441\n");
}

int cmd_bounds_cleaning(const cli_common *c, const cli_opt *opts, int nopts)
{
    const char *v;
    int in[3], li[3];
    double eps[MAXL], del[MAXL];
    int ni = name_list(c->cmd, "inner-solvers", cli_get(opts, nopts, "inner-solvers"), INNER_NAMES, in);
    int nl = name_list(c->cmd, "linear-solvers", cli_get(opts, nopts, "linear-solvers"), LINEAR_NAMES, li);
    int ne = tol_list(c->cmd, "inner-tols", cli_get(opts, nopts, "inner-tols"), eps);
    int nd = tol_list(c->cmd, "linear-tols", cli_get(opts, nopts, "linear-tols"), del);
    grid G = {.c = c};
    G.budget = (v = cli_get(opts, nopts, "budget")) ? cli_int(c->cmd, "budget", v, 1, 100000000) : 100000;
    G.step = (v = cli_get(opts, nopts, "upper-step")) ? cli_number(c->cmd, "upper-step", v) : 10.0;
    if (!(G.step > 0))
        cli_fail(c->cmd, "--upper-step must be positive, got %g", G.step);
    load(&G, opts, nopts);
    cli_mkdir(c->cmd, c->out); /* after the data: bad input leaves no folder behind */
    cfg cf[3 * 3 * MAXL * MAXL];
    int ncf = 0;
    for (int a = 0; a < ni; a++)
        for (int e = 0; e < ne; e++)
            for (int b = 0; b < nl; b++)
                for (int d = 0; d < nd; d++)
                    cf[ncf++] = (cfg){in[a], li[b], eps[e], del[d]};
    outcome *R = calloc((size_t)ncf, sizeof *R);
    if (!R)
        cli_fail_run(c->cmd, "out of memory");
    cli_progress(c, "%s, test set %d samples; %d configurations, budget %ld each, upper step %g",
                 G.cp.label, G.test.n, ncf, G.budget, G.step);
    char csvp[1100], datp[1100];
    G.csv = cli_open_tmp(c->cmd, c->out, "cleaning.csv", csvp, sizeof csvp);
    G.dat = cli_open_scratch(c->cmd, "cleaning_plot.dat", datp, sizeof datp);
    fprintf(G.csv, "inner_solver,inner_tol,linear_solver,linear_tol,outer_iter,work,val_ce,"
                   "hypergrad_norm,seconds\n");
    double t0 = cli_now();
    for (int i = 0; i < ncf; i++)
        run_config(&G, &cf[i], &R[i]);
    cli_commit(c->cmd, G.csv, csvp);
    if (fclose(G.dat) != 0)
        cli_fail_run(c->cmd, "cannot write '%s'", datp);
    summary(&G, cf, R, ncf);
    int ok = plot(&G, cf, ncf, eps, ne, del, nd, datp);
    printf("wrote %s/cleaning.csv, %s/cleaning_summary.csv", c->out, c->out);
    if (ok)
        printf(", %s/cleaning.png", c->out);
    printf("  (%.1f s)\n", cli_now() - t0);
    free(R);
    ds_set_free(&G.test);
    cli_problem_free(&G.cp);
    return 0;
}
