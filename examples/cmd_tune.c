/*
 * examples/cmd_tune.c — `hypertape tune`: solves min_λ h(λ) with the outer
 * algorithms of hypertape/outer.h on a problem of `hypergrad` (README,
 * "hypertape tune"). Every (algorithm, estimator, seed) is one run under
 * the same budget; after each iteration the evaluation hook computes the
 * true h(λ_t) and ‖∇h(λ_t)‖ (and the test accuracy where the problem has a
 * test set) outside the algorithm's timing and counts. For grid and random
 * search λ_t is the best point so far (their answer). The stochastic and
 * first-order algorithms take no estimator, run once per seed and stop on
 * the budget only unless --tol is given; the CSVs give samples and epochs
 * (samples / (n_inner + n_outer)). --eval iterate replaces the hook by the
 * test accuracy of the model the algorithm holds (bl_outer_model: no inner
 * solve, no true h; h* is not computed unless given). On --problem
 * cleaning each run also scores σ(λ_i) < 0.5 (λ_i < 0) at its final λ as
 * a detector of the wrong training labels (cli_problem.corrupted).
 *
 * Writes DIR/tune.csv (one row per run and iteration), DIR/tune_summary.csv,
 * DIR/tune.png (h − h* against seconds and work, ‖∇h‖ against seconds) and
 * the median / 20–80% bands over seeds DIR/tune_bands.csv and .png
 * (tune_plot.h), and prints a table, or with --json exactly one JSON object:
 *   {"problem", "h_star", "runs": [{"algo", "seed", "lambda", "h", "best_h",
 *    "grad_norm", "iters", "seconds", "counts": {"grad", "hvp", "cross",
 *    "samples"}, "test_accuracy", "seconds_to_target", "epochs_to_target",
 *    "memory_bytes", "steps": {"inner", "outer", "tuned"}, "status"}],
 *    "tune_steps" (with --tune-steps): [{"algo", "seed", "criterion", "selected",
 *    "points": [{"inner", "outer", "h", "status"}]}]}; cleaning runs also
 *   carry "detector": {"precision", "recall", "flagged", "wrong", "chance"}.
 * --tune-steps first grid-searches each algorithm's steps (tune_steps.h).
 * Exit status: 0 every run met its tolerance (searches: finished), 2 bad
 * input, 3 a run spent its budget with the tolerance unmet or an
 * evaluation was not trusted (one warning line each on stderr, also with
 * --quiet), 1 a failure with no result.
 */
#include "cli.h"
#include "tune_plot.h"
#include "tune_steps.h"
#include <hypertape/outer.h>
#include <hypertape/models/cleaning.h>

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_FASHION "/usr/share/datasets/fashion-mnist"
enum { MAX_ALGOS = 8, MAX_EST = 16, MAX_SEEDS = 64, MAX_RUNS = 512, LAM_COLS = 16 };

static const char usage_head[] =
    "usage: hypertape tune [--problem logreg|ridge|lstsq|cleaning] [problem options]\n"
    "           [--algo A[,A...]] [--estimator E[,E...]] [--budget-seconds S] [--budget-work W]\n"
    "           [--budget-iters K] [--tol T] [--lambda0 V[,V...]] [--box LO,HI] [--seeds N|S,S[,S...]]\n"
    "           [--h-star H] [--target-rel R] [--eval-every K] [--eval solution|iterate]\n"
    "           [--tune-steps] [--out DIR] [--quiet] [--json]\n"
    "           stochastic/first-order: [--batch-size B] [--inner-step RHO] [--outer-step GAMMA]\n"
    "           [--step-schedule constant|decay:A,B] [--inner-steps T] [--xi X] [--nu0 V]\n"
    "           [--nu-delta D] [--beta1 B1] [--beta2 B2]\n"
    "           cleaning: [--corrupt P] [--corrupt-mode uniform|other] [--train F --val F [--test F]]\n"
    "--problem logreg without --train/--val: the Fashion-MNIST pair T-shirt/top vs Shirt.\n"
    "Writes DIR/tune.csv, DIR/tune_summary.csv, DIR/tune.png, DIR/tune_bands.csv,\n"
    "DIR/tune_bands.png and a table (or --json). --seeds N: the seeds 1..N.\n"
    "ALGO: ";

/* One row of tune.csv: an iteration's report and the hook's values. */
typedef struct trow {
    int run;
    bl_outer_report r;
    double lam_mean, lam_min, lam_max;
    double lam[LAM_COLS];      /* λ itself when m ≤ LAM_COLS */
    double true_h, true_g, acc; /* NaN when not evaluated / no test set */
    int evaluated;              /* the hook ran at this row */
} trow;

/* One run: an algorithm with an estimator and a seed. */
typedef struct trun {
    const bl_outer_type *T;
    bl_method est;
    int uses_est;        /* 0 for the searches */
    uint64_t seed;
    char label[64];
    bl_status st;
    char msg[512];
    double *lambda;      /* m: the final λ (searches: the best point) */
    double h, g, best_h, acc, seconds;
    int iters;
    bl_counts counts;
    double t_target;     /* seconds to h ≤ target (NaN: never) */
    long work_target, hvp_target, cross_target;
    double epochs_target; /* epochs to h ≤ target (NaN: never) */
    size_t memory_bytes;  /* bl_outer_report.memory_bytes at the end (0: not reported) */
    int tuned;            /* --tune-steps chose sel for this run */
    ts_point sel;         /* the steps in effect (ts_grid's centre, or the selected point) */
    int has_steps;        /* the algorithm has steps (ts_grid gives points) */
    int det;             /* cleaning: the detector below was computed */
    double det_p, det_r; /* its precision and recall (NaN: nothing flagged / no wrong label) */
    int det_flagged, det_wrong; /* samples with λ_i < 0; samples with a wrong label */
} trun;

/* --tune-steps: the grid of one algorithm (× estimator) and its choice. */
typedef struct tgrid {
    char group[64];
    uint64_t seed;
    int n, best;
    ts_point pts[TS_MAX_POINTS];
} tgrid;

typedef struct tune {
    cli_common c;
    cli_problem cp;
    bl_outer_stop stop;
    bl_outer_opts base;
    double *lambda0, *theta;   /* m, p */
    double h_star, target_rel;
    int h_star_given, eval_every, nrun, nrow, caprow, has_test, unconverged, tol_given;
    int eval_iterate;          /* --eval iterate: test accuracy at bl_outer_model only */
    int tune_steps, ngrid;     /* --tune-steps; grids searched */
    tgrid grids[MAX_ALGOS * MAX_EST];
    trun runs[MAX_RUNS];
    trow *rows;
    double t0;
} tune;



/* The stochastic and fully first-order algorithms (README, "Stochastic
 * algorithms"): minibatch steps, no estimator, one run per seed, and no
 * stop on the tolerance of their stochastic direction unless --tol. */
static int is_stochastic(const bl_outer_type *T)
{
    return T == bl_outer_soba || T == bl_outer_saba || T == bl_outer_srba || T == bl_outer_stocbio ||
           T == bl_outer_amigo || T == bl_outer_f2sa || T == bl_outer_f2sa_adam || T == bl_outer_bome;
}
static int uses_inner_steps(const bl_outer_type *T)
{
    return T == bl_outer_stocbio || T == bl_outer_amigo || T == bl_outer_f2sa ||
           T == bl_outer_f2sa_adam || T == bl_outer_bome;
}
static int uses_schedule(const bl_outer_type *T) { return is_stochastic(T) && T != bl_outer_bome; }
static int is_f2sa(const bl_outer_type *T) { return T == bl_outer_f2sa || T == bl_outer_f2sa_adam; }
static int uses_betas(const bl_outer_type *T) { return T == bl_outer_adam || T == bl_outer_f2sa_adam; }
static int tunable(const bl_outer_type *T)
{
    ts_point pts[TS_MAX_POINTS];
    return ts_grid(T, &(bl_outer_opts){0}, pts) > 0;
}

static const char *usage_text(char *buf, size_t len)
{
    size_t h = strlen(usage_head);
    snprintf(buf, len, "%s", usage_head);
    if (h < len)
        h += (size_t)bl_outer_type_list(buf + h, len - h, ", ");
    if (h < len)
        h += (size_t)snprintf(buf + h, len - h, "\nESTIMATOR: ");
    if (h < len)
        bl_method_list(buf + h, len - h, ", ");
    return buf;
}

/* ------------------------------------------------------------ flags */

/* Splits a comma list into at most max items of at most 31 characters. */
static int split_list(const char *cmd, const char *flag, const char *text, char items[][32], int max)
{
    int n = 0;
    for (const char *s = text;;) {
        size_t len = strcspn(s, ",");
        if (len == 0 || len > 31 || n == max)
            cli_fail(cmd, "--%s needs a comma list of at most %d names, got '%s'", flag, max, text);
        memcpy(items[n], s, len);
        items[n++][len] = '\0';
        if (!s[len])
            return n;
        s += len + 1;
    }
}

static uint64_t parse_u64(const char *cmd, const char *flag, const char *text)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno || end == text || *end || text[0] == '-')
        cli_fail(cmd, "--%s needs non-negative integers separated by commas, got '%s'", flag, text);
    return v;
}

/* --seeds: a single integer N means the seeds 1..N (N in [1, MAX_SEEDS]);
 * a comma list (at least one comma) is the list of seeds itself; absent:
 * the one seed of --seed (README, CLI reference). */
static int parse_seeds(const tune *t, const char *text, uint64_t *seeds)
{
    if (!text) {
        seeds[0] = t->c.seed;
        return 1;
    }
    if (!strchr(text, ',')) {
        int n = cli_int(t->c.cmd, "seeds", text, 1, MAX_SEEDS);
        for (int k = 0; k < n; k++)
            seeds[k] = (uint64_t)k + 1;
        return n;
    }
    char items[MAX_SEEDS][32];
    int n = split_list(t->c.cmd, "seeds", text, items, MAX_SEEDS);
    for (int k = 0; k < n; k++)
        seeds[k] = parse_u64(t->c.cmd, "seeds", items[k]);
    return n;
}

static void parse_budget(tune *t, const cli_opt *opts, int n)
{
    const char *v, *cmd = t->c.cmd;
    if ((v = cli_get(opts, n, "budget-seconds")) && !((t->stop.seconds = cli_number(cmd, "budget-seconds", v)) > 0))
        cli_fail(cmd, "--budget-seconds must be positive, got '%s'", v);
    if ((v = cli_get(opts, n, "budget-work")))
        t->stop.work = cli_int(cmd, "budget-work", v, 1, 2000000000);
    if ((v = cli_get(opts, n, "budget-iters")))
        t->stop.max_iters = cli_int(cmd, "budget-iters", v, 1, 100000000);
    if ((v = cli_get(opts, n, "tol")) && !((t->stop.tol = cli_number(cmd, "tol", v)) > 0))
        cli_fail(cmd, "--tol must be positive, got '%s'", v);
    t->tol_given = v != NULL;
    if ((v = cli_get(opts, n, "box"))) {
        double b[2];
        if (cli_number_list(cmd, "box", v, b, 2) != 2 || !(b[0] < b[1]))
            cli_fail(cmd, "--box needs LO,HI with LO < HI, got '%s'", v);
        t->base.box_lo = b[0];
        t->base.box_hi = b[1];
    }
    t->h_star_given = (v = cli_get(opts, n, "h-star")) != NULL;
    t->h_star = v ? cli_number(cmd, "h-star", v) : NAN;
    t->target_rel = (v = cli_get(opts, n, "target-rel")) ? cli_number(cmd, "target-rel", v) : 1e-3;
    if (!(t->target_rel >= 0))
        cli_fail(cmd, "--target-rel must be >= 0, got '%s'", v);
    t->eval_every = (v = cli_get(opts, n, "eval-every")) ? cli_int(cmd, "eval-every", v, 1, 1000000) : 1;
    if ((v = cli_get(opts, n, "eval")) && strcmp(v, "solution") && strcmp(v, "iterate"))
        cli_fail(cmd, "--eval must be 'solution' or 'iterate', got '%s'", v);
    t->eval_iterate = v && !strcmp(v, "iterate");
}

/* The runs: every algorithm × estimator (searches: once) × seed (random:
 * every seed; the others: the first). Validates each with bl_outer_new. */
static void plan_runs(tune *t, const cli_opt *opts, int n)
{
    const char *cmd = t->c.cmd, *v;
    char algos[MAX_ALGOS][32], ests[MAX_EST][32];
    int na = split_list(cmd, "algo", (v = cli_get(opts, n, "algo")) ? v : "hoag", algos, MAX_ALGOS);
    int ne = split_list(cmd, "estimator", (v = cli_get(opts, n, "estimator")) ? v : "ift-cg", ests, MAX_EST);
    uint64_t seeds[MAX_SEEDS];
    int ns = parse_seeds(t, cli_get(opts, n, "seeds"), seeds);
    bl_method em[MAX_EST];
    for (int e = 0; e < ne; e++)
        if (bl_method_from_name(ests[e], &em[e]) != BL_OK)
            cli_fail(cmd, "unknown --estimator '%s' (see --help)", ests[e]);
    for (int a = 0; a < na; a++) {
        const bl_outer_type *T = bl_outer_type_from_name(algos[a]);
        if (!T)
            cli_fail(cmd, "unknown --algo '%s' (see --help)", algos[a]);
        int search = bl_outer_type_is_search(T);
        int stoch = is_stochastic(T), no_est = search || stoch;
        for (int e = 0; e < (no_est ? 1 : ne); e++)
            for (int s = 0; s < (T == bl_outer_random || stoch ? ns : 1); s++) {
                if (t->nrun == MAX_RUNS)
                    cli_fail(cmd, "more than %d runs", MAX_RUNS);
                trun *r = &t->runs[t->nrun++];
                r->T = T;
                r->est = em[e];
                r->uses_est = !no_est;
                r->seed = seeds[s];
                if (no_est)
                    snprintf(r->label, sizeof r->label, "%s", T->name);
                else
                    snprintf(r->label, sizeof r->label, "%s/%s", T->name, bl_method_name(em[e]));
                if ((T == bl_outer_random || stoch) && ns > 1)
                    snprintf(r->label + strlen(r->label), sizeof r->label - strlen(r->label),
                             "#%llu", (unsigned long long)seeds[s]);
            }
    }
}

/* 1 when some planned run's algorithm satisfies pred. */
static int any_run(const tune *t, int (*pred)(const bl_outer_type *))
{
    for (int k = 0; k < t->nrun; k++)
        if (pred(t->runs[k].T))
            return 1;
    return 0;
}

/* A positive number for --flag (exits 2 naming it otherwise). */
static double positive(const char *cmd, const char *flag, const char *text)
{
    double x = cli_number(cmd, flag, text);
    if (!(x > 0))
        cli_fail(cmd, "--%s must be positive, got '%s'", flag, text);
    return x;
}

/* A number in [0, 1) for --flag. */
static double unit(const char *cmd, const char *flag, const char *text)
{
    double x = cli_number(cmd, flag, text);
    if (!(x >= 0 && x < 1))
        cli_fail(cmd, "--%s must be in [0, 1), got '%s'", flag, text);
    return x;
}

/* --step-schedule constant | decay:A,B (A, B >= 0). */
static void parse_schedule(tune *t, const char *text)
{
    const char *cmd = t->c.cmd;
    if (!strcmp(text, "constant")) {
        t->base.sched_a = t->base.sched_b = 0;
        return;
    }
    double ab[2];
    if (strncmp(text, "decay:", 6) || cli_number_list(cmd, "step-schedule", text + 6, ab, 2) != 2 ||
        !(ab[0] >= 0) || !(ab[1] >= 0))
        cli_fail(cmd, "--step-schedule must be 'constant' or 'decay:A,B' with A, B >= 0, got '%s'", text);
    t->base.sched_a = ab[0];
    t->base.sched_b = ab[1];
}

/* The stochastic and first-order algorithms' flags (after plan_runs): each
 * must apply to some planned algorithm; bad values exit 2 naming the flag. */
static void parse_algo_opts(tune *t, const cli_opt *opts, int n)
{
    const char *cmd = t->c.cmd, *v;
    static const char *const stoch_flags[] = {"batch-size", "inner-step", "outer-step"};
    static const char *const f2sa_flags[] = {"xi", "nu0", "nu-delta"};
    const char *stoch_where = "the stochastic and first-order algorithms (soba, saba, srba, stocbio, "
                              "amigo, f2sa, f2sa-adam, bome)";
    for (size_t k = 0; k < sizeof stoch_flags / sizeof *stoch_flags; k++)
        cli_only(cmd, opts, n, stoch_flags[k], any_run(t, is_stochastic), stoch_where);
    cli_only(cmd, opts, n, "step-schedule", any_run(t, uses_schedule),
             "--algo soba, saba, srba, stocbio, amigo, f2sa or f2sa-adam");
    cli_only(cmd, opts, n, "inner-steps", any_run(t, uses_inner_steps),
             "--algo stocbio, amigo, f2sa, f2sa-adam or bome");
    for (size_t k = 0; k < sizeof f2sa_flags / sizeof *f2sa_flags; k++)
        cli_only(cmd, opts, n, f2sa_flags[k], any_run(t, is_f2sa), "--algo f2sa or f2sa-adam");
    cli_only(cmd, opts, n, "beta1", any_run(t, uses_betas), "--algo adam or f2sa-adam");
    cli_only(cmd, opts, n, "beta2", any_run(t, uses_betas), "--algo adam or f2sa-adam");
    cli_only(cmd, opts, n, "tune-steps", any_run(t, tunable),
             "algorithms with step sizes (soba, saba, srba, stocbio, amigo, f2sa, f2sa-adam, bome, hgd, adam)");
    const char *kind = cli_get(opts, n, "problem");
    cli_only(cmd, opts, n, "corrupt-mode", kind && !strcmp(kind, "cleaning"), "--problem cleaning");
    cli_only(cmd, opts, n, "test", kind && !strcmp(kind, "cleaning"), "--problem cleaning");
    cli_only(cmd, opts, n, "intercept", !kind || !strcmp(kind, "logreg"), "--problem logreg");
    bl_outer_opts *o = &t->base;
    if ((v = cli_get(opts, n, "batch-size")))
        o->batch_inner = o->batch_outer = cli_int(cmd, "batch-size", v, 1, 100000000);
    if ((v = cli_get(opts, n, "inner-step")))
        o->inner_step = positive(cmd, "inner-step", v);
    if ((v = cli_get(opts, n, "outer-step")))
        o->outer_step = positive(cmd, "outer-step", v);
    if ((v = cli_get(opts, n, "step-schedule")))
        parse_schedule(t, v);
    if ((v = cli_get(opts, n, "inner-steps")))
        o->inner_steps = cli_int(cmd, "inner-steps", v, 1, 1000000);
    if ((v = cli_get(opts, n, "xi")))
        o->xi = positive(cmd, "xi", v);
    if ((v = cli_get(opts, n, "nu0")))
        o->nu0 = positive(cmd, "nu0", v);
    if ((v = cli_get(opts, n, "nu-delta")))
        o->nu_delta = cli_nonneg(cmd, "nu-delta", v);
    if ((v = cli_get(opts, n, "beta1")))
        o->beta1 = unit(cmd, "beta1", v);
    if ((v = cli_get(opts, n, "beta2")))
        o->beta2 = unit(cmd, "beta2", v);
}

/* The run's group in the band figures and the step grids: the algorithm (and estimator),
 * without the seed. */
static void run_group(const trun *r, char *buf, size_t len)
{
    snprintf(buf, len, "%s%s%s", r->T->name, r->uses_est ? "/" : "", r->uses_est ? bl_method_name(r->est) : "");
}

/* The options of run r (its steps not applied). */
static bl_outer_opts run_opts(const tune *t, const trun *r)
{
    bl_outer_opts o = t->base;
    o.hg.method = r->uses_est ? r->est : BL_IFT_CG;
    o.hg.diag_level = BL_DIAG_CHEAP;
    o.seed = r->seed;
    return o;
}

static bl_outer *make_outer(const tune *t, const trun *r, bl_status *st, char *msg, size_t len)
{
    bl_outer_opts o = run_opts(t, r);
    if (r->tuned)
        ts_apply(r->T, &r->sel, &o);
    return bl_outer_new(r->T, &t->cp.pb, &o, st, msg, len);
}

/* The steps in effect of every run (ts_grid's centre: the flags or the
 * algorithm's defaults), before any --tune-steps choice. */
static void steps_in_effect(tune *t)
{
    for (int k = 0; k < t->nrun; k++) {
        trun *r = &t->runs[k];
        ts_point pts[TS_MAX_POINTS];
        int n = ts_grid(r->T, &t->base, pts);
        r->has_steps = n > 0;
        if (n)
            r->sel = pts[n / 2];
    }
}

/* Bad options of a run (EINVAL from bl_outer_new) are bad input: exit 2
 * before any run starts. */
static void check_runs(const tune *t)
{
    for (int k = 0; k < t->nrun; k++) {
        bl_status st;
        char msg[512];
        bl_outer *o = make_outer(t, &t->runs[k], &st, msg, sizeof msg);
        if (!o && st == BL_EINVAL)
            cli_fail(t->c.cmd, "%s: %s", t->runs[k].label, msg);
        if (!o)
            cli_fail_run(t->c.cmd, "%s: %s", t->runs[k].label, msg);
        int model = bl_outer_model(o) != NULL;
        bl_outer_free(o);
        if (t->eval_iterate && !model)
            cli_fail(t->c.cmd, "--eval iterate: %s keeps no model of its own (the stochastic and "
                     "first-order algorithms do)", t->runs[k].label);
    }
}

/* λ_0 from --lambda0 (1 or m values), else the problem's λ (--lambda or
 * its default). */
static void set_lambda0(tune *t, const char *text)
{
    int m = t->cp.pb.m;
    t->lambda0 = malloc((size_t)(m + 1) * sizeof(double));
    t->theta = malloc((size_t)t->cp.pb.p * sizeof(double));
    if (!t->lambda0 || !t->theta)
        cli_fail_run(t->c.cmd, "out of memory (m = %d, p = %d)", m, t->cp.pb.p);
    if (!text) {
        memcpy(t->lambda0, t->cp.lambda, (size_t)m * sizeof(double));
        return;
    }
    int k = cli_number_list(t->c.cmd, "lambda0", text, t->lambda0, m + 1);
    if (k != 1 && k != m)
        cli_fail(t->c.cmd, "--lambda0 has %d values; the problem needs 1 or %d", k, m);
    for (int j = k; j < m; j++)
        t->lambda0[j] = t->lambda0[0];
}

/* --problem logreg without --train/--val: the Fashion-MNIST pair (with
 * its test pair); cleaning: also the Fashion-MNIST test set. */
static void setup_problem(tune *t, const cli_opt *opts, int n)
{
    const char *kind = cli_get(opts, n, "problem"), *v;
    const char *dir = (v = cli_get(opts, n, "fashion-dir")) ? v : DEFAULT_FASHION;
    char msg[512];
    if ((!kind || !strcmp(kind, "logreg")) && !cli_get(opts, n, "train") && !cli_get(opts, n, "val") &&
        !cli_get(opts, n, "synthetic")) {
        const char *reg = cli_get(opts, n, "reg");
        if (reg && strcmp(reg, "scalar") && strcmp(reg, "per-feature"))
            cli_fail(t->c.cmd, "--reg must be 'scalar' or 'per-feature', got '%s'", reg);
        if ((v = cli_get(opts, n, "intercept"))) { /* a bad value is named first */
            int icpt, free_b;
            double rb;
            cli_intercept(t->c.cmd, v, &icpt, &free_b, &rb);
            cli_fail(t->c.cmd, "--intercept needs --train FILE and --val FILE");
        }
        if (cli_get(opts, n, "label-col"))
            cli_fail(t->c.cmd, "--label-col needs --train FILE and --val FILE");
        int ntr = (v = cli_get(opts, n, "n-train")) ? cli_int(t->c.cmd, "n-train", v, 10, 10000) : 2000;
        int nva = (v = cli_get(opts, n, "n-val")) ? cli_int(t->c.cmd, "n-val", v, 10, 10000) : 2000;
        cli_problem_fashion_pair(&t->c, dir, ntr, nva, reg && !strcmp(reg, "per-feature"), 1, 0.0,
                                 &t->cp);
        if ((v = cli_get(opts, n, "lambda"))) {
            double x[1];
            if (cli_number_list(t->c.cmd, "lambda", v, x, 1) == 1)
                for (int j = 0; j < t->cp.pb.m; j++)
                    t->cp.lambda[j] = x[0];
        }
    } else {
        cli_problem_setup(&t->c, opts, n, &t->cp);
        if (!strcmp(t->cp.kind, "cleaning") && !cli_get(opts, n, "train") &&
            ds_fashion_mnist(dir, 0, &t->cp.test, msg, sizeof msg) != BL_OK)
            cli_fail(t->c.cmd, "%s: %s", dir, msg);
    }
    t->has_test = t->cp.test.n > 0;
}

/* ------------------------------------------------------------ metrics */

/* Fraction of test samples classified right at θ (logreg: sign of the
 * logit; cleaning: hc_evaluate); NaN without a test set. */
static double test_accuracy(const tune *t, const double *theta)
{
    const ds_set *s = &t->cp.test;
    if (!t->has_test)
        return NAN;
    if (!strcmp(t->cp.kind, "cleaning")) {
        double acc;
        char msg[256];
        return hc_evaluate(t->cp.model, s, theta, NULL, &acc, msg, sizeof msg) == BL_OK ? acc : NAN;
    }
    int d = s->d, right = 0;
    double b = t->cp.pb.p > d ? theta[d] : 0.0;
    for (int i = 0; i < s->n; i++) {
        double z = b;
        if (s->X)
            for (int j = 0; j < d; j++)
                z += s->X[(size_t)i * d + j] * theta[j];
        else
            for (int64_t k = s->rowptr[i]; k < s->rowptr[i + 1]; k++)
                z += s->val[k] * theta[s->colind[k]];
        right += (z >= 0 ? 1.0 : -1.0) == s->y[i];
    }
    return (double)right / s->n;
}

static trow *add_row(tune *t)
{
    if (t->nrow == t->caprow) {
        t->caprow = t->caprow ? 2 * t->caprow : 256;
        trow *p = realloc(t->rows, (size_t)t->caprow * sizeof *p);
        if (!p)
            cli_fail_run(t->c.cmd, "out of memory (%d rows)", t->caprow);
        t->rows = p;
    }
    return &t->rows[t->nrow++];
}

static void lambda_stats(const double *lam, int m, trow *w)
{
    w->lam_min = INFINITY, w->lam_max = -INFINITY, w->lam_mean = 0;
    for (int j = 0; j < m; j++) {
        w->lam_min = fmin(w->lam_min, lam[j]);
        w->lam_max = fmax(w->lam_max, lam[j]);
        w->lam_mean += lam[j] / m;
        if (j < LAM_COLS)
            w->lam[j] = lam[j];
    }
}

/* λ_t of the curves: the iterate, or the searches' best point. */
static const double *curve_lambda(const bl_outer *o)
{
    return bl_outer_type_is_search(bl_outer_type_of(o)) ? bl_outer_best_lambda(o) : bl_outer_lambda(o);
}

/* The hook at λ: true h, ‖∇h‖ and test accuracy (not charged). */
static void evaluate(tune *t, bl_outer *o, const double *lam, double *h, double *g, double *acc)
{
    *h = *g = *acc = NAN;
    if (t->eval_iterate) { /* the algorithm's own model: one pass over the test set */
        *acc = test_accuracy(t, bl_outer_model(o));
        return;
    }
    bl_status st = bl_outer_evaluate(o, lam, h, g, t->theta);
    if (st != BL_OK && !isfinite(*h)) {
        fprintf(stderr, "hypertape tune: warning: evaluation hook: %s\n", bl_outer_message(o));
        t->unconverged = 1;
        return;
    }
    if (st != BL_OK) {
        fprintf(stderr, "hypertape tune: warning: evaluation hook not converged: %s\n",
                bl_outer_message(o));
        t->unconverged = 1;
    }
    *acc = test_accuracy(t, t->theta);
}

typedef struct mon_ctx {
    tune *t;
    int run;
} mon_ctx;

static int monitor(const bl_outer *oc, const bl_outer_report *r, void *ctx)
{
    mon_ctx *mc = ctx;
    tune *t = mc->t;
    bl_outer *o = (bl_outer *)oc; /* the hook needs the object; it charges nothing */
    /* Only evaluated rows are kept, and the run's latest row (finish_run
     * evaluates it): memory and tune.csv stay bounded by iterations / K. */
    trow *prev = t->nrow ? &t->rows[t->nrow - 1] : NULL;
    trow *w = prev && prev->run == mc->run && !prev->evaluated ? prev : add_row(t);
    w->run = mc->run;
    w->r = *r;
    const double *lam = curve_lambda(o);
    lambda_stats(lam, t->cp.pb.m, w);
    w->true_h = w->true_g = w->acc = NAN;
    w->evaluated = r->iter % t->eval_every == 0 || r->iter == 1;
    if (!w->evaluated)
        return 0;
    evaluate(t, o, lam, &w->true_h, &w->true_g, &w->acc);
    if (t->eval_iterate)
        cli_progress(&t->c, "%-22s it %4d  h %.10g  |g| %.3e  test acc %.4f  %.3f s",
                     t->runs[mc->run].label, r->iter, r->value, r->grad_norm, w->acc, r->seconds);
    else
        cli_progress(&t->c, "%-22s it %4d  h %.10g  true h %.10g  |g| %.3e  true |grad h| %.3e  %.3f s",
                     t->runs[mc->run].label, r->iter, r->value, w->true_h, r->grad_norm, w->true_g,
                     r->seconds);
    return 0;
}

/* ------------------------------------------------------------ runs */

/* Cleaning: σ(λ_i) < 0.5 (λ_i < 0) at the run's final λ as a detector of
 * the wrong training labels (hc_detect). */
static void detector(const tune *t, trun *r)
{
    hc_detection d;
    r->det = t->cp.corrupted &&
             hc_detect(r->lambda, t->cp.corrupted, t->cp.pb.m, &d, NULL, 0) == BL_OK;
    if (!r->det)
        return;
    r->det_p = d.precision, r->det_r = d.recall;
    r->det_flagged = d.flagged, r->det_wrong = d.corrupted;
}

/* Closes run k: the hook at its final λ (a row's value when the last
 * iteration was evaluated), best h over its rows. */
static void finish_run(tune *t, int k, bl_outer *o, int first_row)
{
    trun *r = &t->runs[k];
    int m = t->cp.pb.m;
    const bl_outer_report *rep = bl_outer_last(o);
    r->lambda = malloc((size_t)m * sizeof(double));
    if (!r->lambda)
        cli_fail_run(t->c.cmd, "out of memory");
    memcpy(r->lambda, curve_lambda(o), (size_t)m * sizeof(double));
    trow *last = t->nrow > first_row ? &t->rows[t->nrow - 1] : NULL;
    if (last && last->evaluated && (t->eval_iterate || isfinite(last->true_h)))
        r->h = last->true_h, r->g = last->true_g, r->acc = last->acc;
    else if (last) {
        evaluate(t, o, r->lambda, &last->true_h, &last->true_g, &last->acc);
        last->evaluated = 1;
        r->h = last->true_h, r->g = last->true_g, r->acc = last->acc;
    } else {
        evaluate(t, o, r->lambda, &r->h, &r->g, &r->acc);
    }
    r->best_h = r->h;
    for (int i = first_row; i < t->nrow; i++)
        if (t->rows[i].true_h < r->best_h)
            r->best_h = t->rows[i].true_h;
    r->iters = rep->iter;
    r->seconds = rep->seconds;
    r->counts = bl_outer_counts(o);
    r->memory_bytes = rep->memory_bytes;
    detector(t, r);
}

/* The stop rule of a run of T: the budget flags; the stochastic and
 * first-order algorithms stop on the budget only unless --tol. */
static bl_outer_stop run_stop(const tune *t, const bl_outer_type *T)
{
    bl_outer_stop stop = t->stop;
    if (is_stochastic(T) && !t->tol_given)
        stop.tol = -1; /* their direction is a stochastic estimate */
    return stop;
}

/* The grid of group (NULL when not searched yet). */
static tgrid *find_grid(tune *t, const char *group)
{
    for (int g = 0; g < t->ngrid; g++)
        if (!strcmp(t->grids[g].group, group))
            return &t->grids[g];
    return NULL;
}

/* "inner R  outer G" (hgd, adam: "step S"). */
static void step_text(const ts_point *p, char *buf, size_t len)
{
    if (isfinite(p->outer))
        snprintf(buf, len, "inner %.6g  outer %.6g", p->inner, p->outer);
    else
        snprintf(buf, len, "step %.6g", p->inner);
}

/* The grid's criterion: true h, or with --eval iterate F at the model. */
static ts_criterion ts_crit(const tune *t)
{
    return t->eval_iterate ? TS_AT_MODEL : TS_TRUE_H;
}

/* Runs the grid of run r's algorithm (tune_steps.h) on r's seed. */
static void search_grid(tune *t, const trun *r, tgrid *gr)
{
    bl_outer_opts o = run_opts(t, r);
    bl_outer_stop full = run_stop(t, r->T), stop = ts_short_stop(&full);
    gr->seed = r->seed;
    gr->n = ts_grid(r->T, &t->base, gr->pts);
    for (int i = 0; i < gr->n; i++) {
        char msg[512];
        ts_point *p = &gr->pts[i];
        bl_status st = ts_run(r->T, &t->cp.pb, &o, t->lambda0, &stop, ts_crit(t), p, msg, sizeof msg);
        if (st == BL_EINVAL || st == BL_ENOMEM)
            cli_fail_run(t->c.cmd, "--tune-steps %s: %s", gr->group, msg);
        char steps[80];
        step_text(p, steps, sizeof steps);
        cli_progress(&t->c, "tune-steps %-12s seed %llu  point %d/%d  %s  final %s %.12g  %s", gr->group,
                     (unsigned long long)gr->seed, i + 1, gr->n, steps, ts_criterion_name(ts_crit(t)),
                     p->h, cli_status_name(p->st));
    }
    gr->best = ts_select(gr->pts, gr->n);
    if (gr->best < 0)
        fprintf(stderr, "hypertape tune: warning: --tune-steps %s: no grid point gave a finite %s; "
                        "keeping its steps\n", gr->group, ts_criterion_name(ts_crit(t)));
    else {
        char steps[80];
        step_text(&gr->pts[gr->best], steps, sizeof steps);
        cli_progress(&t->c, "tune-steps %-12s selected %s  (final %s %.12g)", gr->group, steps,
                     ts_criterion_name(ts_crit(t)), gr->pts[gr->best].h);
    }
}

/* --tune-steps: per algorithm (× estimator) with steps, its grid on the
 * seed of its first run, each point on a tenth of the budget; every run of
 * the algorithm then uses the selected point. */
static void search_steps(tune *t)
{
    for (int k = 0; k < t->nrun; k++) {
        trun *r = &t->runs[k];
        char group[64];
        if (!r->has_steps)
            continue;
        run_group(r, group, sizeof group);
        tgrid *gr = find_grid(t, group);
        if (!gr) {
            gr = &t->grids[t->ngrid++];
            snprintf(gr->group, sizeof gr->group, "%s", group);
            search_grid(t, r, gr);
        }
        r->tuned = gr->best >= 0;
        if (r->tuned)
            r->sel = gr->pts[gr->best];
    }
}

static void do_run(tune *t, int k)
{
    trun *r = &t->runs[k];
    char msg[512];
    bl_status st;
    bl_outer *o = make_outer(t, r, &st, msg, sizeof msg);
    if (!o)
        cli_fail_run(t->c.cmd, "%s: %s", r->label, msg);
    cli_progress(&t->c, "%s on %s", r->label, t->cp.label);
    if ((st = bl_outer_set(o, t->lambda0, NULL)) != BL_OK)
        cli_fail_run(t->c.cmd, "%s: %s", r->label, bl_outer_message(o));
    int first = t->nrow;
    mon_ctx mc = {t, k};
    bl_outer_stop stop = run_stop(t, r->T);
    r->st = bl_outer_solve(o, &stop, monitor, &mc);
    snprintf(r->msg, sizeof r->msg, "%s", bl_outer_message(o));
    if (r->st != BL_OK && r->st != BL_ENOTCONVERGED && t->nrow == first)
        cli_fail_run(t->c.cmd, "%s: %s", r->label, r->msg);
    finish_run(t, k, o, first);
    if (r->st != BL_OK) {
        fprintf(stderr, "hypertape tune: warning: %s: %s: %s\n", r->label, cli_status_name(r->st), r->msg);
        t->unconverged = 1;
    }
    bl_outer_free(o);
}

/* h* when not given: HOAG with ift-cg to a tight tolerance (its time is
 * no run's; at most 1000 iterations and max(10 s, 3× the longest run)),
 * then the smallest true h any run reached if that is lower. */
static void compute_h_star(tune *t)
{
    double best = INFINITY;
    for (int i = 0; i < t->nrow; i++)
        best = fmin(best, t->rows[i].true_h);
    for (int k = 0; k < t->nrun; k++)
        best = fmin(best, t->runs[k].h);
    if (t->h_star_given)
        return;
    if (t->eval_iterate) { /* no true h to compare with */
        t->h_star = NAN;
        return;
    }
    bl_outer_opts o = t->base;
    o.hg.method = BL_IFT_CG;
    o.hg.diag_level = BL_DIAG_CHEAP;
    bl_status st;
    char msg[512];
    bl_outer *ob = bl_outer_new(bl_outer_hoag, &t->cp.pb, &o, &st, msg, sizeof msg);
    if (!ob || bl_outer_set(ob, t->lambda0, NULL) != BL_OK)
        cli_fail_run(t->c.cmd, "h*: %s", ob ? bl_outer_message(ob) : msg);
    double longest = 0;
    for (int k = 0; k < t->nrun; k++)
        longest = fmax(longest, t->runs[k].seconds);
    bl_outer_stop s = {.max_iters = 1000, .seconds = fmax(10.0, 3 * longest), .tol = 1e-10};
    cli_progress(&t->c, "h*: hoag/ift-cg to a tight tolerance (up to 1000 iterations, %.0f s)",
                 s.seconds);
    st = bl_outer_solve(ob, &s, NULL, NULL);
    double h = NAN, g = NAN;
    bl_outer_evaluate(ob, bl_outer_lambda(ob), &h, &g, NULL);
    cli_progress(&t->c, "h*: %s after %d iterations: h %.12g, |grad h| %.3e", cli_status_name(st),
                 bl_outer_last(ob)->iter, h, g);
    bl_outer_free(ob);
    t->h_star = fmin(h, best);
    if (!isfinite(t->h_star))
        cli_fail_run(t->c.cmd, "h*: no finite value (pass --h-star)");
}

/* Passes over the data: samples / N with N = n_inner + n_outer (training +
 * validation samples); NaN for a problem without minibatch support. */
static double epochs(const tune *t, long samples)
{
    long N = (long)t->cp.pb.n_inner + t->cp.pb.n_outer;
    return N > 0 ? (double)samples / N : NAN;
}

/* Seconds, epochs and work at the first row with true h ≤ h* + target_rel·|h*|. */
static void time_to_target(tune *t)
{
    double target = t->h_star + t->target_rel * fabs(t->h_star);
    for (int k = 0; k < t->nrun; k++) {
        trun *r = &t->runs[k];
        r->t_target = r->epochs_target = NAN;
        r->work_target = r->hvp_target = r->cross_target = -1;
        for (int i = 0; i < t->nrow; i++) {
            const trow *w = &t->rows[i];
            if (w->run != k || !(w->true_h <= target))
                continue;
            r->t_target = w->r.seconds;
            r->epochs_target = epochs(t, w->r.counts.samples);
            r->work_target = w->r.counts.grad + w->r.counts.hvp + w->r.counts.cross;
            r->hvp_target = w->r.counts.hvp;
            r->cross_target = w->r.counts.cross;
            break;
        }
    }
}

/* ------------------------------------------------------------ outputs */

static void csv_number(FILE *f, double x)
{
    if (isfinite(x))
        fprintf(f, ",%.12g", x);
    else
        fputs(",", f);
}

static void write_csv(const tune *t)
{
    char tmp[1100];
    int m = t->cp.pb.m;
    FILE *f = cli_open_tmp(t->c.cmd, t->c.out, "tune.csv", tmp, sizeof tmp);
    fprintf(f, "algo,estimator,seed,iter,value,grad_norm,pgrad_norm,grad,hvp,cross,samples,epochs,"
               "work,seconds,accepted,step,inner_tol,linear_tol,bound,bound_certified,status,best_value,"
               "lambda_mean,lambda_min,lambda_max,lambda,true_h,true_grad_norm,test_accuracy\n");
    for (int i = 0; i < t->nrow; i++) {
        const trow *w = &t->rows[i];
        const trun *r = &t->runs[w->run];
        const bl_outer_report *p = &w->r;
        fprintf(f, "%s,%s,%llu,%d", r->T->name, r->uses_est ? bl_method_name(r->est) : "",
                (unsigned long long)r->seed, p->iter);
        csv_number(f, p->value);
        csv_number(f, p->grad_norm);
        csv_number(f, p->pgrad_norm);
        fprintf(f, ",%ld,%ld,%ld,%ld", p->counts.grad, p->counts.hvp, p->counts.cross,
                p->counts.samples);
        csv_number(f, epochs(t, p->counts.samples));
        fprintf(f, ",%ld", p->counts.grad + p->counts.hvp + p->counts.cross);
        csv_number(f, p->seconds);
        fprintf(f, ",%d", p->accepted);
        csv_number(f, p->step);
        csv_number(f, p->inner_tol);
        csv_number(f, p->linear_tol);
        csv_number(f, p->bound);
        fprintf(f, ",%d,%s", p->bound_certified, cli_status_name(p->status));
        csv_number(f, p->best_value);
        csv_number(f, w->lam_mean);
        csv_number(f, w->lam_min);
        csv_number(f, w->lam_max);
        fputs(",\"", f); /* λ itself (';'-separated) when m ≤ LAM_COLS, else empty */
        for (int j = 0; m <= LAM_COLS && j < m; j++)
            fprintf(f, "%s%.12g", j ? ";" : "", w->lam[j]);
        fputc('"', f);
        csv_number(f, w->true_h);
        csv_number(f, w->true_g);
        csv_number(f, w->acc);
        fputc('\n', f);
    }
    cli_commit(t->c.cmd, f, tmp);
}

static void write_summary(const tune *t)
{
    char tmp[1100];
    FILE *f = cli_open_tmp(t->c.cmd, t->c.out, "tune_summary.csv", tmp, sizeof tmp);
    fprintf(f, "algo,estimator,seed,iters,final_h,best_h,grad_norm,h_star,target,seconds_to_target,"
               "work_to_target,hvp_to_target,cross_to_target,seconds,grad,hvp,cross,samples,epochs,work,"
               "test_accuracy,detector_precision,detector_recall,status,epochs_to_target,memory_bytes,"
               "inner_step,outer_step,steps_tuned\n");
    double target = t->h_star + t->target_rel * fabs(t->h_star);
    for (int k = 0; k < t->nrun; k++) {
        const trun *r = &t->runs[k];
        fprintf(f, "%s,%s,%llu,%d", r->T->name, r->uses_est ? bl_method_name(r->est) : "",
                (unsigned long long)r->seed, r->iters);
        csv_number(f, r->h);
        csv_number(f, r->best_h);
        csv_number(f, r->g);
        csv_number(f, t->h_star);
        csv_number(f, target);
        csv_number(f, r->t_target);
        if (r->work_target >= 0)
            fprintf(f, ",%ld,%ld,%ld", r->work_target, r->hvp_target, r->cross_target);
        else
            fputs(",,,", f);
        csv_number(f, r->seconds);
        fprintf(f, ",%ld,%ld,%ld,%ld", r->counts.grad, r->counts.hvp, r->counts.cross,
                r->counts.samples);
        csv_number(f, epochs(t, r->counts.samples));
        fprintf(f, ",%ld", r->counts.grad + r->counts.hvp + r->counts.cross);
        csv_number(f, r->acc);
        csv_number(f, r->det ? r->det_p : NAN);
        csv_number(f, r->det ? r->det_r : NAN);
        fprintf(f, ",%s", cli_status_name(r->st));
        csv_number(f, r->epochs_target);
        if (r->memory_bytes)
            fprintf(f, ",%zu", r->memory_bytes);
        else
            fputs(",", f);
        csv_number(f, r->has_steps ? r->sel.inner : NAN);
        csv_number(f, r->has_steps ? r->sel.outer : NAN);
        fprintf(f, ",%d\n", r->tuned);
    }
    cli_commit(t->c.cmd, f, tmp);
}

static void print_table(const tune *t)
{
    if (!isfinite(t->h_star))
        printf("%s\nh* not computed (--eval iterate: test accuracy at each algorithm's model)\n",
               t->cp.label);
    else
        printf("%s\nh* = %.12g%s; target h* + %g|h*| = %.12g\n", t->cp.label, t->h_star,
               t->h_star_given ? " (given)" : " (hoag/ift-cg to a tight tolerance, or a lower h reached)",
               t->target_rel, t->h_star + t->target_rel * fabs(t->h_star));
    int det = t->cp.corrupted != NULL;
    printf("%-24s %5s %16s %16s %10s %10s %9s %9s %8s %8s %8s %8s %10s %8s %s%s\n", "run", "iters",
           "final h", "best h", "|grad h|", "t→target", "ep→target", "seconds", "grad", "hvp", "cross",
           "epochs", "memory", "test acc", det ? "det prec det rec  " : "", "status");
    for (int k = 0; k < t->nrun; k++) {
        const trun *r = &t->runs[k];
        char tt[24] = "-", acc[16] = "-", ep[24] = "-", et[24] = "-", mem[24] = "-";
        double e = epochs(t, r->counts.samples);
        if (isfinite(r->epochs_target))
            snprintf(et, sizeof et, "%.2f", r->epochs_target);
        if (r->memory_bytes)
            snprintf(mem, sizeof mem, "%zu", r->memory_bytes);
        if (isfinite(e))
            snprintf(ep, sizeof ep, "%.2f", e);
        if (isfinite(r->t_target))
            snprintf(tt, sizeof tt, "%.4f", r->t_target);
        if (isfinite(r->acc))
            snprintf(acc, sizeof acc, "%.2f%%", 100 * r->acc);
        char dt[48] = "";
        if (det)
            snprintf(dt, sizeof dt, "%8.4f %8.4f  ", r->det_p, r->det_r);
        printf("%-24s %5d %16.10g %16.10g %10.3e %10s %9s %9.4f %8ld %8ld %8ld %8s %10s %8s %s%s\n",
               r->label, r->iters, r->h, r->best_h, r->g, tt, et, r->seconds, r->counts.grad,
               r->counts.hvp, r->counts.cross, ep, mem, acc, dt, cli_status_name(r->st));
    }
}

static void json_lambda(FILE *f, const double *lam, int m)
{
    fputc('[', f);
    for (int j = 0; j < m; j++) {
        if (j)
            fputs(", ", f);
        cli_json_number(f, lam[j]);
    }
    fputc(']', f);
}

/* "tune_steps": [{"algo", "seed", "criterion", "selected", "points":
 * [{"inner", "outer", "h", "status"}]}]: every grid searched and the index
 * of its choice; "h" holds the criterion's value ("true_h", or
 * "val_loss_at_model" with --eval iterate). */
static void json_grids(const tune *t, FILE *f)
{
    fputs(", \"tune_steps\": [", f);
    for (int g = 0; g < t->ngrid; g++) {
        const tgrid *gr = &t->grids[g];
        fprintf(f, "%s{\"algo\": \"%s\", \"seed\": %llu, \"criterion\": \"%s\", \"selected\": ",
                g ? ", " : "", gr->group, (unsigned long long)gr->seed, ts_criterion_name(ts_crit(t)));
        if (gr->best >= 0)
            fprintf(f, "%d", gr->best);
        else
            fputs("null", f);
        fputs(", \"points\": [", f);
        for (int i = 0; i < gr->n; i++) {
            fprintf(f, "%s{\"inner\": ", i ? ", " : "");
            cli_json_number(f, gr->pts[i].inner);
            fputs(", \"outer\": ", f);
            cli_json_number(f, gr->pts[i].outer);
            fputs(", \"h\": ", f);
            cli_json_number(f, gr->pts[i].h);
            fprintf(f, ", \"status\": \"%s\"}", cli_status_name(gr->pts[i].st));
        }
        fputs("]}", f);
    }
    fputc(']', f);
}

static void print_json(const tune *t)
{
    FILE *f = stdout;
    fprintf(f, "{\"problem\": \"%s\", \"h_star\": ", t->cp.kind);
    cli_json_number(f, t->h_star);
    fputs(", \"runs\": [", f);
    for (int k = 0; k < t->nrun; k++) {
        const trun *r = &t->runs[k];
        fprintf(f, "%s{\"algo\": \"%s%s%s\", \"seed\": %llu, \"lambda\": ", k ? ", " : "",
                r->T->name, r->uses_est ? "/" : "", r->uses_est ? bl_method_name(r->est) : "",
                (unsigned long long)r->seed);
        json_lambda(f, r->lambda, t->cp.pb.m);
        fputs(", \"h\": ", f);
        cli_json_number(f, r->h);
        fputs(", \"best_h\": ", f);
        cli_json_number(f, r->best_h);
        fputs(", \"grad_norm\": ", f);
        cli_json_number(f, r->g);
        fprintf(f, ", \"iters\": %d, \"seconds\": ", r->iters);
        cli_json_number(f, r->seconds);
        fprintf(f, ", \"counts\": {\"grad\": %ld, \"hvp\": %ld, \"cross\": %ld, \"samples\": %ld}, "
                   "\"test_accuracy\": ", r->counts.grad, r->counts.hvp, r->counts.cross,
                r->counts.samples);
        cli_json_number(f, r->acc);
        if (r->det) {
            fputs(", \"detector\": {\"precision\": ", f);
            cli_json_number(f, r->det_p);
            fputs(", \"recall\": ", f);
            cli_json_number(f, r->det_r);
            fprintf(f, ", \"flagged\": %d, \"wrong\": %d, \"chance\": ", r->det_flagged, r->det_wrong);
            cli_json_number(f, (double)r->det_wrong / t->cp.pb.m);
            fputc('}', f);
        }
        fputs(", \"seconds_to_target\": ", f);
        cli_json_number(f, r->t_target);
        fputs(", \"epochs_to_target\": ", f);
        cli_json_number(f, r->epochs_target);
        fputs(", \"memory_bytes\": ", f);
        if (r->memory_bytes)
            fprintf(f, "%zu", r->memory_bytes);
        else
            fputs("null", f);
        fputs(", \"steps\": {\"inner\": ", f);
        cli_json_number(f, r->has_steps ? r->sel.inner : NAN);
        fputs(", \"outer\": ", f);
        cli_json_number(f, r->has_steps ? r->sel.outer : NAN);
        fprintf(f, ", \"tuned\": %s}", r->tuned ? "true" : "false");
        fprintf(f, ", \"status\": \"%s\"}", cli_status_name(r->st));
    }
    fputs("]", f);
    if (t->tune_steps)
        json_grids(t, f);
    fputs("}\n", f);
}

/* DIR/tune.png: h − h* against seconds and against work (log y), ‖∇h‖
 * against seconds (log y); one curve per run (block k of the data). Points
 * with h − h* ≤ 0 have no place on a log axis and are left out. With
 * --eval iterate: test accuracy against seconds and against iterations. */
static int plot(const tune *t)
{
    char dat[1100], gp[1200];
    FILE *f = cli_open_scratch(t->c.cmd, "tune_plot.dat", dat, sizeof dat);
    for (int k = 0; k < t->nrun; k++) {
        fprintf(f, "# %s\n", t->runs[k].label);
        int any = 0;
        for (int i = 0; i < t->nrow; i++) {
            const trow *w = &t->rows[i];
            if (w->run != k || !w->evaluated || !(isfinite(w->true_h) || t->eval_iterate))
                continue;
            double gap = w->true_h - t->h_star;
            fprintf(f, "%.6e %ld %.6e %.6e %d %.6e\n", w->r.seconds,
                    w->r.counts.grad + w->r.counts.hvp + w->r.counts.cross, gap > 0 ? gap : NAN,
                    w->true_g > 0 ? w->true_g : NAN, w->r.iter, w->acc);
            any = 1;
        }
        if (!any)
            fprintf(f, "NaN NaN NaN NaN NaN NaN\n");
        fprintf(f, "\n\n");
    }
    if (fclose(f) != 0)
        cli_fail_run(t->c.cmd, "cannot write '%s'", dat);
    int it = t->eval_iterate, np = it ? 2 : 3;
    FILE *g = cli_plot_open(&t->c, "tune.png", it ? 1300 : 1800, 560, gp, sizeof gp);
    if (it)
        fprintf(g, "set multiplot layout 1,2 title 'hypertape tune: %s (test accuracy at the "
                   "algorithm''s model)'\nset key bottom right font ',9'\nset grid\n", t->cp.label);
    else
        fprintf(g, "set multiplot layout 1,3 title 'hypertape tune: %s (h* = %.10g)'\n"
                   "set logscale y\nset format y '%%.0e'\nset key top right font ',9'\nset grid\n",
                t->cp.label, t->h_star);
    const char *xl[3] = {"seconds (algorithm only)", "work (grad + hvp + cross)", "seconds (algorithm only)"};
    const char *yl[3] = {"h(lambda_t) - h*", "h(lambda_t) - h*", "||grad h(lambda_t)||"};
    int xc[3] = {1, 2, 1}, yc[3] = {3, 3, 4};
    if (it) { /* test accuracy (column 6) against seconds and iterations (column 5) */
        xl[1] = "outer iterations";
        yl[0] = yl[1] = "test accuracy";
        xc[1] = 5, yc[0] = yc[1] = 6;
    }
    for (int panel = 0; panel < np; panel++) {
        fprintf(g, "%sset xlabel '%s'\nset ylabel '%s'\nplot ", panel ? "unset key\n" : "",
                xl[panel], yl[panel]);
        for (int k = 0; k < t->nrun; k++)
            fprintf(g, "%s'%s' index %d using %d:%d with linespoints pt 7 ps 0.5 lw 2 title '%s'",
                    k ? ", " : "", dat, k, xc[panel], yc[panel], t->runs[k].label);
        fprintf(g, "\n");
    }
    fprintf(g, "unset multiplot\n");
    return cli_gnuplot(&t->c, g, gp, "tune.png", dat); /* removes the scratch data and script */
}

/* Column c of run k's evaluated rows (TB_* below) into out; returns the count. */
enum { TB_SECONDS, TB_EPOCHS, TB_ITERS, TB_GAP, TB_GRAD2, TB_ACC, TB_NCOL };
static int run_column(const tune *t, int k, int c, double *out)
{
    int n = 0;
    for (int i = 0; i < t->nrow; i++) {
        const trow *w = &t->rows[i];
        if (w->run != k || !w->evaluated)
            continue;
        double v[TB_NCOL] = {w->r.seconds, epochs(t, w->r.counts.samples), w->r.iter,
                             w->true_h - t->h_star, w->true_g * w->true_g, w->acc};
        out[n++] = v[c];
    }
    return n;
}

/* DIR/tune_bands.csv and DIR/tune_bands.png (tune_plot.h): per algorithm
 * the median over seeds and the 20–80% band of h − h* and ‖∇h‖² (log y)
 * against seconds and epochs; with --eval iterate, of the test accuracy
 * against seconds and outer iterations. Epoch panels leave out runs with
 * no counted samples. */
static int plot_bands(const tune *t)
{
    int it = t->eval_iterate, nr = t->nrun;
    static const int sol_y[4] = {TB_GAP, TB_GAP, TB_GRAD2, TB_GRAD2}, sol_x[4] = {TB_SECONDS, TB_EPOCHS,
                                                                                 TB_SECONDS, TB_EPOCHS};
    static const int it_y[2] = {TB_ACC, TB_ACC}, it_x[2] = {TB_SECONDS, TB_ITERS};
    const int *py = it ? it_y : sol_y, *px = it ? it_x : sol_x, np = it ? 2 : 4;
    double *col = malloc((size_t)TB_NCOL * (t->nrow + 1) * sizeof(double));
    tb_trace *tr = malloc((size_t)np * (nr + 1) * sizeof *tr);
    char(*group)[64] = malloc((size_t)(nr + 1) * sizeof *group);
    if (!col || !tr || !group)
        cli_fail_run(t->c.cmd, "out of memory (band figure)");
    int *start = malloc((size_t)(nr + 1) * sizeof(int)), *cnt = malloc((size_t)(nr + 1) * sizeof(int));
    if (!start || !cnt)
        cli_fail_run(t->c.cmd, "out of memory (band figure)");
    for (int k = 0, off = 0; k < nr; k++) { /* run k's columns at col[c*(nrow+1) + start[k] ...] */
        start[k] = off;
        for (int c = 0; c < TB_NCOL; c++)
            cnt[k] = run_column(t, k, c, col + (size_t)c * (t->nrow + 1) + off);
        off += cnt[k];
        run_group(&t->runs[k], group[k], sizeof group[k]);
    }
    tp_panel pan[4];
    static const char *const name[TB_NCOL] = {"seconds", "epochs", "iterations", "h_gap", "grad_norm2",
                                              "test_accuracy"};
    static const char *const label[TB_NCOL] = {"seconds (algorithm only)", "epochs (samples / (n_train + n_val))",
                                               "outer iterations", "h(lambda_t) - h*", "||grad h(lambda_t)||^2",
                                               "test accuracy"};
    for (int q = 0; q < np; q++) {
        int n = 0;
        for (int k = 0; k < nr; k++) {
            const double *x = col + (size_t)px[q] * (t->nrow + 1) + start[k];
            if (px[q] == TB_EPOCHS && !(cnt[k] > 0 && x[cnt[k] - 1] > 0))
                continue;
            tr[q * (nr + 1) + n++] = (tb_trace){group[k], cnt[k], x, col + (size_t)py[q] * (t->nrow + 1) + start[k]};
        }
        pan[q] = (tp_panel){name[py[q]], label[py[q]], py[q] != TB_ACC, name[px[q]], label[px[q]],
                            tr + q * (nr + 1), n};
    }
    char title[200];
    snprintf(title, sizeof title, "hypertape tune: %s", t->cp.label);
    int ok = tp_write(&t->c, title, pan, np, 2, "tune_bands.csv", "tune_bands.png");
    free(col), free(tr), free(group), free(start), free(cnt);
    return ok;
}

/* ------------------------------------------------------------ main */

int cmd_tune(int argc, char **argv)
{
    cli_opt opts[] = {
        CLI_PROBLEM_OPTS,
        {"algo", 1, "comma list of outer algorithms (see above; default hoag)", NULL, 0},
        {"estimator", 1, "comma list of hypergradient estimators (default ift-cg)", NULL, 0},
        {"budget-seconds", 1, "each run: the algorithm's wall time", NULL, 0},
        {"budget-work", 1, "each run: counted gradients + Hvps + cross products", NULL, 0},
        {"budget-iters", 1, "each run: outer iterations (default 200 when no budget)", NULL, 0},
        {"tol", 1, "stop at projected ||hypergradient|| <= T (default 1e-8*max(1,|h|))", NULL, 0},
        {"lambda0", 1, "V[,V...]: the starting point (default --lambda, else the problem's)", NULL, 0},
        {"box", 1, "LO,HI: keep lambda in [LO, HI] (default -12,12)", NULL, 0},
        {"seeds", 1, "N: the seeds 1..N, or a comma list S,S[,...]: random search and each stochastic "
                     "run (default: the one --seed)", NULL, 0},
        {"h-star", 1, "the optimal h (default: hoag/ift-cg to a tight tolerance)", NULL, 0},
        {"target-rel", 1, "time and epochs to target: first h <= h* + R|h*| (default 1e-3)", NULL, 0},
        {"eval-every", 1, "evaluation hook every K iterations (default 1; last always)", NULL, 0},
        {"eval", 1, "solution (true h, |grad h|, test accuracy at theta*(lambda); default) | iterate "
                    "(test accuracy at the algorithm's model only)", NULL, 0},
        {"batch-size", 1, "stochastic/first-order: inner and outer minibatch B (default per algorithm)", NULL, 0},
        {"inner-step", 1, "stochastic/first-order: rho, the step of theta and v (F2SA: alpha)", NULL, 0},
        {"outer-step", 1, "stochastic/first-order: gamma, the step of lambda (F2SA: gamma of z)", NULL, 0},
        {"step-schedule", 1, "constant | decay:A,B: rho_t = rho t^-A, gamma_t = gamma t^-B", NULL, 0},
        {"inner-steps", 1, "stocbio, amigo, f2sa, f2sa-adam, bome: inner steps T per outer step", NULL, 0},
        {"xi", 1, "f2sa, f2sa-adam: the outer scale xi (default 1)", NULL, 0},
        {"nu0", 1, "f2sa, f2sa-adam: the first multiplier nu_0 (default 1)", NULL, 0},
        {"nu-delta", 1, "f2sa, f2sa-adam: nu's increment per step (default 0: fixed)", NULL, 0},
        {"beta1", 1, "adam, f2sa-adam: first-moment decay in [0, 1) (default 0.9)", NULL, 0},
        {"beta2", 1, "adam, f2sa-adam: second-moment decay in [0, 1) (default 0.999)", NULL, 0},
        {"test", 1, "cleaning: test samples, the format of --train (default: the Fashion-MNIST "
                    "test file when the data are Fashion-MNIST's)", NULL, 0},
        {"tune-steps", 0, "grid-search each algorithm's step sizes first (a tenth of the budget per "
                          "point, first seed; README)", NULL, 0},
        {"json", 0, "print one JSON object on stdout", NULL, 0},
    };
    int n = sizeof opts / sizeof opts[0];
    tune *t = calloc(1, sizeof *t);
    if (!t)
        cli_fail_run("tune", "out of memory");
    t->c = (cli_common){"tune", 0, 1, NULL, 0};
    char usage[4096];
    cli_parse(argc, argv, 2, opts, n, usage_text(usage, sizeof usage), &t->c);
    parse_budget(t, opts, n);
    t->tune_steps = cli_get(opts, n, "tune-steps") != NULL;
    plan_runs(t, opts, n);
    parse_algo_opts(t, opts, n);
    setup_problem(t, opts, n);
    set_lambda0(t, cli_get(opts, n, "lambda0"));
    check_runs(t);
    steps_in_effect(t);
    cli_mkdir(t->c.cmd, t->c.out); /* after the checks: bad input leaves no folder behind */
    t->t0 = cli_now();
    if (t->tune_steps)
        search_steps(t);
    for (int k = 0; k < t->nrun; k++)
        do_run(t, k);
    compute_h_star(t);
    time_to_target(t);
    write_csv(t);
    write_summary(t);
    int plotted = plot(t);
    int banded = plot_bands(t);
    if (cli_get(opts, n, "json")) {
        print_json(t);
    } else {
        print_table(t);
        printf("wrote %s/tune.csv, %s/tune_summary.csv", t->c.out, t->c.out);
        if (plotted)
            printf(", %s/tune.png", t->c.out);
        printf(", %s/tune_bands.csv", t->c.out);
        if (banded)
            printf(", %s/tune_bands.png", t->c.out);
        printf("  (%.1f s)\n", cli_now() - t->t0);
    }
    int rc = t->unconverged ? 3 : 0;
    for (int k = 0; k < t->nrun; k++)
        free(t->runs[k].lambda);
    free(t->rows);
    free(t->lambda0);
    free(t->theta);
    cli_problem_free(&t->cp);
    free(t);
    return rc;
}
