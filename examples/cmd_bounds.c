/*
 * examples/cmd_bounds.c — `hypertape bounds`, the error-bound study of
 * Ehrhardt & Roberts (2023); the bound is in README, Notation. For each
 * problem: inner solves of N iterations from θ0 = 0 with the default
 * (certified-constant) steps (heavy ball on least squares; gradient
 * descent, or --logreg-inner, on logistic regression), then at each θ_N
 * linear solves of H q = ∇_θF(θ_N) from q = 0 with GD, HB and CG. Every
 * linear iteration k = 1..K gives one row of bounds.csv:
 *   true_error          ‖∇_λF − cross(q_k) − ∇h‖ against the closed-form
 *                       (least squares) or exact-solve (logreg) truth;
 *   bound_a_priori      bl_bound_a_priori(N, k) with ‖∇_θF(θ*)‖ bounded by
 *                       ‖∇_θF(θ_N)‖ + L_f ε̂ and ‖B‖ the model's bound at θ_N;
 *   bound_a_posteriori  bl_bound with ε̂ = ‖∇_θG(θ_N)‖/μ and the residual
 *                       ‖Hq_k − ∇_θF(θ_N)‖ recomputed from q_k (CG's own
 *                       residual is the recursive one);
 *   certified           1 when both bounds rest on certified constants, a
 *                       certified ‖B‖ and certified rates;
 *   work                N + k (inner gradients plus Hessian-vector products).
 * Plots: DIR/bounds_<problem>_<gd|hb|cg>.png, one panel per N.
 * --cleaning runs the hypercleaning grid instead (cmd_cleaning.c).
 */
#include "cli.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: hypertape bounds [--problems lstsq,logreg] [--linear-iters K] [--rows R] [--p P]\n"
    "           [--m M] [--fashion-dir DIR] [--n-train N] [--n-val N] [--lambda V]\n"
    "           [--logreg-inner gd|nesterov|hb] [--out DIR] [--quiet] [--seed S]\n"
    "       hypertape bounds --cleaning [--budget B] [--inner-solvers gd,hb,fista]\n"
    "           [--inner-tols 0.1,0.01] [--linear-solvers gd,hb,cg] [--linear-tols 0.1,0.01]\n"
    "           [--upper-step 10] [--n-train 20000] [--n-val 5000] [--corrupt 0.1] [--mu 0.002]\n"
    "           [--corrupt-mode uniform|other] [--train F --val F [--test F]]\n"
    "The error-bound study of Ehrhardt & Roberts: true hypergradient error, a-priori\n"
    "and a-posteriori bounds for every linear iteration after N inner iterations.\n"
    "Writes DIR/bounds.csv and DIR/bounds_<problem>_<gd|hb|cg>.png.\n"
    "--cleaning: data hypercleaning on Fashion-MNIST (or --train/--val/--test: F a LIBSVM\n"
    "multiclass file or IMAGES,LABELS an IDX pair) over a grid of lower-level and\n"
    "linear solvers and tolerances; writes DIR/cleaning.csv, DIR/cleaning_summary.csv\n"
    "and DIR/cleaning.png.";

enum { NLIN = 3, NN = 5 };

static const struct {
    const char *name;
    bl_linear method;
    bl_scheme scheme;
} LINEAR[NLIN] = {{"gd", BL_LINEAR_GD, BL_SCHEME_GD},
                  {"hb", BL_LINEAR_HB, BL_SCHEME_HB},
                  {"cg", BL_LINEAR_CG, BL_SCHEME_CG}};

/* The iterates q_1..q_K of one linear solve, stored by the monitor. */
typedef struct store {
    double *q; /* K×p */
    int p, n;
} store;

static int monitor(int k, const double *q, double residual, void *ctx)
{
    (void)residual;
    store *s = ctx;
    memcpy(s->q + (size_t)(k - 1) * (size_t)s->p, q, (size_t)s->p * sizeof(double));
    s->n = k;
    return 0;
}

static double *xcalloc(const char *cmd, size_t n)
{
    double *p = calloc(n ? n : 1, sizeof(double));
    if (!p)
        cli_fail_run(cmd, "out of memory");
    return p;
}

/* Tightness statistics of one (problem, linear solver): medians of
 * bound / true error over the rows where the error is above rounding. */
typedef struct tight {
    double *post, *prio;
    int n;
} tight;

static int cmp_dbl(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    if (n == 0)
        return NAN;
    qsort(v, (size_t)n, sizeof *v, cmp_dbl);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

typedef struct study {
    const cli_common *c;
    FILE *csv;
    long rows, certified_rows;
    double worst_post, worst_prio; /* max true_error / (bound + floor) over certified rows */
    long violations;               /* certified rows with true_error > bound + floor */
} study;

/* Everything one inner solve of N iterations gives the rows. */
typedef struct at_theta {
    int N;
    double grad0, eps_hat, gF_star, Bn, theta_norm;
    int B_cert;
    const double *gF, *gFl; /* ∇_θF (p), ∇_λF (m) at θ_N */
} at_theta;

/* The rows of one linear solver at θ_N (the oracle's point). */
static void rows_for_solver(study *S, const cli_problem *cp, bl_oracle *o, const bl_constants *k,
                            const at_theta *a, const char *inner, bl_scheme inner_scheme, int l,
                            int K, const double *truth, store *sto, FILE *dat, tight *T)
{
    const cli_common *c = S->c;
    int p = cp->pb.p, m = cp->pb.m;
    double *q = xcalloc(c->cmd, (size_t)p), *hv = xcalloc(c->cmd, (size_t)p);
    double *cr = xcalloc(c->cmd, (size_t)m);
    sto->n = 0;
    bl_linear_opts lo = {.tol = 0, .max_iters = K, .monitor = monitor, .monitor_ctx = sto};
    bl_linear_result res;
    bl_status st = bl_linear_solve(o, LINEAR[l].method, a->gF, q, &lo, &res);
    if (st != BL_OK && st != BL_ENONCONVEX)
        cli_fail_run(c->cmd, "%s: %s linear solve: %s", cp->kind, LINEAR[l].name, bl_oracle_message(o));
    if (sto->n == 0) { /* stopped before its first iteration: q = 0 */
        memset(sto->q, 0, (size_t)p * sizeof(double));
        sto->n = 1;
    }
    double err = NAN, post = NAN, prio = NAN;
    for (int it = 1; it <= K; it++) {
        /* a method that terminated early (CG at rounding level) keeps its last iterate */
        const double *qk = sto->q + (size_t)((it <= sto->n ? it : sto->n) - 1) * (size_t)p;
        if (bl_oracle_hvp(o, qk, hv, cr) != BL_OK)
            cli_fail_run(c->cmd, "%s: Hvp: %s", cp->kind, bl_oracle_message(o));
        double r2 = 0, e2 = 0;
        for (int j = 0; j < p; j++)
            r2 += (hv[j] - a->gF[j]) * (hv[j] - a->gF[j]);
        for (int j = 0; j < m; j++) {
            double d = a->gFl[j] - cr[j] - truth[j];
            e2 += d * d;
        }
        err = sqrt(e2);
        post = bl_bound(k, a->eps_hat, sqrt(r2), cli_norm(qk, p), a->Bn);
        int cert_prio = 0;
        prio = bl_bound_a_priori(k, inner_scheme, a->N, a->grad0, LINEAR[l].scheme, it, a->gF_star,
                                 a->Bn, &cert_prio);
        int cert = k->certified && a->B_cert && cert_prio;
        cli_floor_in fi = {a->theta_norm, a->grad0, cli_norm(a->gF, p), cli_norm(a->gFl, m),
                           cli_norm(qk, p), a->Bn, cli_norm(truth, m)};
        double floor = cli_rounding_floor(k, &fi);
        fprintf(S->csv, "%s,%s,%d,%s,%d,%d,%.9e,%.9e,%.9e,%d\n", cp->kind, inner, a->N,
                LINEAR[l].name, it, a->N + it, err, prio, post, cert);
        fprintf(dat, "%d %.6e %.6e %.6e\n", it, err, prio, post);
        S->rows++;
        if (cert) {
            S->certified_rows++;
            S->worst_post = fmax(S->worst_post, err / (post + floor));
            S->worst_prio = fmax(S->worst_prio, err / (prio + floor));
            S->violations += !cli_bound_holds(err, post, floor) + !cli_bound_holds(err, prio, floor);
        }
        if (err > 1e-12 * cli_norm(truth, m)) { /* above rounding: a meaningful ratio */
            T->post[T->n] = post / err;
            T->prio[T->n++] = prio / err;
        }
    }
    fprintf(dat, "\n\n");
    cli_progress(c, "%-6s N = %4d  %s x %d: error %.2e  a-posteriori %.2e  a-priori %.2e",
                 cp->kind, a->N, LINEAR[l].name, K, err, post, prio);
    free(q), free(hv), free(cr);
}

/* The inner solve of N iterations from 0 and what the rows need at θ_N;
 * leaves the oracle's point at θ_N. */
static void solve_inner(const cli_common *c, const cli_problem *cp, bl_oracle *o, bl_inner *s,
                        const bl_constants *k, int N, double *theta, double *gF, double *gFl,
                        at_theta *a)
{
    const bl_problem *pb = &cp->pb;
    int p = pb->p;
    if (bl_inner_set(s, NULL, cp->lambda) != BL_OK)
        cli_fail_run(c->cmd, "%s: inner solve: %s", cp->kind, bl_oracle_message(o));
    a->N = N;
    a->grad0 = bl_inner_grad_norm(s);
    if (bl_inner_solve(s, -1.0, N) != BL_OK)
        cli_fail_run(c->cmd, "%s: inner solve (N = %d): %s", cp->kind, N, bl_oracle_message(o));
    memcpy(theta, bl_inner_theta(s), (size_t)p * sizeof(double));
    a->theta_norm = cli_norm(theta, p);
    a->eps_hat = bl_inner_grad_norm(s) / k->mu; /* ≥ ‖θ_N − θ*‖ */
    double fval;
    if (bl_oracle_F(o, NULL, theta, cp->lambda, &fval, gF, gFl) != BL_OK ||
        bl_oracle_point(o, NULL, theta, cp->lambda) != BL_OK)
        cli_fail_run(c->cmd, "%s: oracle: %s", cp->kind, bl_oracle_message(o));
    a->gF = gF;
    a->gFl = gFl;
    a->gF_star = cli_norm(gF, p) + k->Lf * a->eps_hat; /* ≥ ‖∇_θF(θ*)‖ */
    a->Bn = pb->cross_norm ? pb->cross_norm(theta, cp->lambda, pb->ctx) : -1.0;
    a->B_cert = a->Bn >= 0;
    if (!a->B_cert)
        cli_fail_run(c->cmd, "%s: the model gives no bound on |B|", cp->kind);
}

/* One problem: the inner solves, the linear solves, the rows and the
 * plot data DIR/bounds_<problem>_<solver>.dat (one block per N). */
static void run_problem(study *S, const cli_problem *cp, const bl_inner_type *inner,
                        bl_scheme inner_scheme, const int *Ns, int K, char datp[NLIN][1100])
{
    const cli_common *c = S->c;
    const bl_problem *pb = &cp->pb;
    int p = pb->p, m = pb->m;
    char msg[512];
    double *truth = xcalloc(c->cmd, (size_t)m);
    cli_progress(c, "%s: computing the reference hypergradient", cp->label);
    if (cli_problem_truth(cp, truth, msg, sizeof msg) != BL_OK)
        cli_fail_run(c->cmd, "reference for %s: %s", cp->kind, msg);
    bl_constants k;
    if (!pb->constants || pb->constants(cp->lambda, &k, pb->ctx) != BL_OK)
        cli_fail_run(c->cmd, "%s: the model gives no constants", cp->kind);
    cli_progress(c, "%s: mu = %.4g, L = %.4g (kappa = %.1f), L_f = %.4g, L_B = %.3g, L_H = %.3g, %s",
                 cp->kind, k.mu, k.L, k.L / k.mu, k.Lf, k.LB, k.LH,
                 k.certified ? "certified" : "estimated");
    bl_oracle *o = bl_oracle_new(pb, 0);
    bl_status st;
    bl_inner *s = o ? bl_inner_new(inner, o, NULL, &st) : NULL;
    if (!s)
        cli_fail_run(c->cmd, "%s: inner solver: %s", cp->kind, o ? bl_oracle_message(o) : "out of memory");
    double *theta = xcalloc(c->cmd, (size_t)p), *gF = xcalloc(c->cmd, (size_t)p);
    double *gFl = xcalloc(c->cmd, (size_t)m);
    store sto = {xcalloc(c->cmd, (size_t)K * (size_t)p), p, 0};
    FILE *dat[NLIN];
    tight T[NLIN];
    for (int l = 0; l < NLIN; l++) {
        char name[128];
        snprintf(name, sizeof name, "bounds_%.15s_%s.dat", cp->kind, LINEAR[l].name);
        dat[l] = cli_open_scratch(c->cmd, name, datp[l], 1100);
        T[l] = (tight){xcalloc(c->cmd, (size_t)NN * K), xcalloc(c->cmd, (size_t)NN * K), 0};
    }
    for (int in = 0; in < NN; in++) {
        at_theta a;
        solve_inner(c, cp, o, s, &k, Ns[in], theta, gF, gFl, &a);
        for (int l = 0; l < NLIN; l++)
            rows_for_solver(S, cp, o, &k, &a, bl_inner_type_name(inner), inner_scheme, l, K, truth,
                            &sto, dat[l], &T[l]);
    }
    for (int l = 0; l < NLIN; l++) {
        if (fclose(dat[l]) != 0)
            cli_fail_run(c->cmd, "cannot write '%s'", datp[l]);
        printf("%-6s linear %s: median bound / true error: a-posteriori %.3g, a-priori %.3g "
               "(%d rows above rounding; kappa = %.1f)\n", cp->kind, LINEAR[l].name,
               median(T[l].post, T[l].n), median(T[l].prio, T[l].n), T[l].n, k.L / k.mu);
        free(T[l].post), free(T[l].prio);
    }
    bl_inner_free(s);
    bl_oracle_free(o);
    free(sto.q), free(theta), free(gF), free(gFl), free(truth);
}

/* DIR/bounds_<problem>_<solver>.png from the .dat of run_problem, one panel
 * per N. Returns 1 when the PNG was written; removes the scratch files. */
static int plot(const cli_common *c, const cli_problem *cp, int l, const char *inner,
                const int *Ns, const char *dat)
{
    char gp[1200], png[128];
    snprintf(png, sizeof png, "bounds_%.15s_%s.png", cp->kind, LINEAR[l].name);
    FILE *g = cli_plot_open(c, png, 1350, 800, gp, sizeof gp);
    fprintf(g, "set multiplot layout 2,3 title 'hypertape bounds: %s, inner %s, linear %s'\n"
               "set logscale y\nset format y '%%.0e'\nset xlabel 'linear iterations k'\n"
               "set ylabel 'hypergradient error'\nset key top right font ',8'\n",
            cp->kind, inner, LINEAR[l].name);
    for (int b = 0; b < NN; b++) {
        fprintf(g, "set title 'N = %d inner iterations'\n", Ns[b]);
        fprintf(g, "plot '%s' index %d using 1:2 with lines lw 2 title 'true error', "
                   "'' index %d using 1:4 with lines dt 2 title 'a-posteriori bound', "
                   "'' index %d using 1:3 with lines dt 3 title 'a-priori bound'\n",
                dat, b, b, b);
    }
    fprintf(g, "unset multiplot\n");
    return cli_gnuplot(c, g, gp, png, dat);
}

int cmd_bounds(int argc, char **argv)
{
    cli_opt opts[] = {
        {"problems", 1, "comma list of lstsq, logreg (default both)", NULL, 0},
        {"linear-iters", 1, "linear iterations per solve (default 200)", NULL, 0},
        {"rows", 1, "lstsq: rows of A, C, D (default 1000)", NULL, 0},
        {"p", 1, "lstsq: size of x (default 10)", NULL, 0},
        {"m", 1, "lstsq: size of w (default 10)", NULL, 0},
        {"fashion-dir", 1, "Fashion-MNIST IDX folder (default /usr/share/datasets/fashion-mnist)", NULL, 0},
        {"n-train", 1, "training samples (logreg pair: default 1000; --cleaning: 20000)", NULL, 0},
        {"n-val", 1, "validation samples (logreg pair: default 1000; --cleaning: 5000)", NULL, 0},
        {"lambda", 1, "logreg: the value of every lambda_k (default -1)", NULL, 0},
        {"logreg-inner", 1, "logreg: inner solver gd | nesterov | hb (default gd)", NULL, 0},
        {"cleaning", 0, "run the data-hypercleaning grid instead", NULL, 0},
        {"budget", 1, "--cleaning: lower-level plus linear iterations per configuration (default 100000)", NULL, 0},
        {"inner-solvers", 1, "--cleaning: comma list of gd, hb, fista (default all)", NULL, 0},
        {"inner-tols", 1, "--cleaning: lower-level tolerances eps, ||theta - theta*|| <= eps (default 0.1,0.01)", NULL, 0},
        {"linear-solvers", 1, "--cleaning: comma list of gd, hb, cg (default all)", NULL, 0},
        {"linear-tols", 1, "--cleaning: linear tolerances delta, ||Hq - grad F|| <= delta (default 0.1,0.01)", NULL, 0},
        {"upper-step", 1, "--cleaning: upper-level gradient step (default 10)", NULL, 0},
        {"corrupt", 1, "--cleaning: fraction of corrupted training labels in [0, 0.9] (default 0.1)", NULL, 0},
        {"corrupt-mode", 1, "--cleaning: uniform | other, with an exact fraction --corrupt (default: "
                            "other, each label with probability --corrupt)", NULL, 0},
        {"train", 1, "--cleaning: training samples, LIBSVM multiclass FILE or IMAGES,LABELS (IDX)", NULL, 0},
        {"val", 1, "--cleaning: validation samples, the format of --train", NULL, 0},
        {"test", 1, "--cleaning: test samples, the format of --train (optional with --train)", NULL, 0},
        {"mu", 1, "--cleaning: strong convexity mu = r of (r/2)||W||^2 (default 0.002)", NULL, 0},
    };
    int n = sizeof opts / sizeof opts[0];
    cli_common c = {"bounds", 0, 1, NULL, 0};
    cli_parse(argc, argv, 2, opts, n, usage, &c);
    int cleaning = cli_get(opts, n, "cleaning") != NULL;
    static const char *const grid_only[] = {"budget", "inner-solvers", "inner-tols",
                                            "linear-solvers", "linear-tols", "upper-step",
                                            "corrupt", "mu", "corrupt-mode", "train", "val",
                                            "test"};
    for (int k = 0; k < 12; k++)
        cli_only(c.cmd, opts, n, grid_only[k], cleaning, "--cleaning");
    static const char *const study_only[] = {"problems", "linear-iters", "rows", "p", "m",
                                             "lambda", "logreg-inner"};
    for (int k = 0; k < 7; k++)
        cli_only(c.cmd, opts, n, study_only[k], !cleaning, "the bound study (not --cleaning)");
    if (cleaning)
        return cmd_bounds_cleaning(&c, opts, n);
    int do_lsq, do_lr;
    cli_problem_list(c.cmd, cli_get(opts, n, "problems"), &do_lsq, &do_lr);
    static const char *const lsq_only[] = {"rows", "p", "m"};
    for (int k = 0; k < 3; k++)
        cli_only(c.cmd, opts, n, lsq_only[k], do_lsq, "--problems lstsq");
    static const char *const lr_only[] = {"fashion-dir", "n-train", "n-val", "lambda", "logreg-inner"};
    for (int k = 0; k < 5; k++)
        cli_only(c.cmd, opts, n, lr_only[k], do_lr, "--problems logreg (or --cleaning)");
    const char *v;
    int K = (v = cli_get(opts, n, "linear-iters")) ? cli_int(c.cmd, "linear-iters", v, 1, 100000) : 200;
    int rows = (v = cli_get(opts, n, "rows")) ? cli_int(c.cmd, "rows", v, 1, 1000000) : 1000;
    int pp = (v = cli_get(opts, n, "p")) ? cli_int(c.cmd, "p", v, 1, 10000) : 10;
    int mm = (v = cli_get(opts, n, "m")) ? cli_int(c.cmd, "m", v, 1, 10000) : 10;
    if (rows < pp)
        cli_fail(c.cmd, "--rows (%d) must be at least --p (%d): D needs full column rank", rows, pp);
    v = cli_get(opts, n, "fashion-dir");
    const char *dir = v ? v : "/usr/share/datasets/fashion-mnist";
    int ntr = (v = cli_get(opts, n, "n-train")) ? cli_int(c.cmd, "n-train", v, 10, 10000) : 1000;
    int nva = (v = cli_get(opts, n, "n-val")) ? cli_int(c.cmd, "n-val", v, 10, 10000) : 1000;
    double lam = (v = cli_get(opts, n, "lambda")) ? cli_number(c.cmd, "lambda", v) : -1.0;
    v = cli_get(opts, n, "logreg-inner");
    const bl_inner_type *lr_inner = v ? bl_inner_type_from_name(v) : bl_inner_gd;
    if (lr_inner != bl_inner_gd && lr_inner != bl_inner_nesterov && lr_inner != bl_inner_hb)
        cli_fail(c.cmd, "--logreg-inner must be gd, nesterov or hb, got '%s'", v);
    bl_scheme lr_scheme = lr_inner == bl_inner_gd ? BL_SCHEME_GD
                          : lr_inner == bl_inner_hb ? BL_SCHEME_HB : BL_SCHEME_NESTEROV;
    cli_problem cps[2];
    int np = 0;
    if (do_lsq)
        cli_problem_lstsq(&c, rows, pp, mm, &cps[np++]);
    if (do_lr) {
        cli_problem_fashion_logreg(&c, dir, ntr, nva, lam, &cps[np]);
        cli_check_lambda(&c, &cps[np++], cli_get(opts, n, "lambda"));
    }
    cli_mkdir(c.cmd, c.out); /* after the data: bad input leaves no folder behind */

    static const int N_lsq[NN] = {20, 40, 60, 80, 100};
    static const int N_lr[NN] = {50, 100, 150, 200, 250};
    double t0 = cli_now();
    study S = {&c, NULL, 0, 0, 0.0, 0.0, 0};
    char csvp[1100], datp[2][NLIN][1100];
    S.csv = cli_open_tmp(c.cmd, c.out, "bounds.csv", csvp, sizeof csvp);
    fprintf(S.csv, "problem,inner_solver,inner_iters,linear_solver,linear_iters,work,true_error,"
                   "bound_a_priori,bound_a_posteriori,certified\n");
    for (int k = 0; k < np; k++) {
        int lsq = !strcmp(cps[k].kind, "lstsq");
        run_problem(&S, &cps[k], lsq ? bl_inner_hb : lr_inner, lsq ? BL_SCHEME_HB : lr_scheme,
                    lsq ? N_lsq : N_lr, K, datp[k]);
    }
    cli_commit(c.cmd, S.csv, csvp);
    int plotted[2][NLIN] = {{0}};
    for (int k = 0; k < np; k++) {
        int lsq = !strcmp(cps[k].kind, "lstsq");
        for (int l = 0; l < NLIN; l++)
            plotted[k][l] = plot(&c, &cps[k], l, bl_inner_type_name(lsq ? bl_inner_hb : lr_inner),
                                 lsq ? N_lsq : N_lr, datp[k][l]);
    }
    printf("%ld rows, %ld certified; largest true error / (bound + rounding floor) over certified "
           "rows: a-posteriori %.3g, a-priori %.3g (%s)\n", S.rows, S.certified_rows, S.worst_post,
           S.worst_prio, S.violations == 0 ? "every bound holds" : "A BOUND IS VIOLATED");
    printf("wrote %s/bounds.csv", c.out);
    for (int k = 0; k < np; k++)
        for (int l = 0; l < NLIN; l++)
            if (plotted[k][l])
                printf(", %s/bounds_%s_%s.png", c.out, cps[k].kind, LINEAR[l].name);
    printf("  (%.1f s)\n", cli_now() - t0);
    for (int k = 0; k < np; k++)
        cli_problem_free(&cps[k]);
    if (S.violations) /* a failure: say so on stderr, also with --quiet */
        fprintf(stderr, "hypertape bounds: %ld certified bound(s) violated beyond the rounding floor "
                "(largest true error / (bound + floor): a-posteriori %.3g, a-priori %.3g); see "
                "%s/bounds.csv\n", S.violations, S.worst_post, S.worst_prio, c.out);
    return S.violations ? 1 : 0;
}
