/*
 * examples/cli_problem.c — the problems the CLI runs on, built from flags:
 * logistic regression (LIBSVM or CSV/TSV files, or a Fashion-MNIST pair), the
 * least-squares test problem, ridge and data hypercleaning.
 */
#include "cli.h"

#include <hypertape/models/cleaning.h>
#include <hypertape/models/logreg.h>
#include <hypertape/models/lstsq.h>
#include <hypertape/models/ridge.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_FASHION "/usr/share/datasets/fashion-mnist"

static void check(const char *cmd, bl_status st, const char *what, const char *msg)
{
    if (st == BL_OK)
        return;
    if (st == BL_ENOMEM) /* out of memory: exit 1 (README, CLI reference) */
        cli_fail_run(cmd, "%s: %s", what, msg[0] ? msg : bl_strerror(st));
    if (msg[0] && !strncmp(msg, what, strlen(what))) /* the message already names it */
        cli_fail(cmd, "%s", msg);
    cli_fail(cmd, "%s: %s", what, msg[0] ? msg : bl_strerror(st));
}

/* λ from --lambda (one value fills all m), else `dflt` everywhere. */
static void set_lambda(const cli_common *c, const cli_opt *opts, int nopts, cli_problem *cp,
                       double dflt)
{
    int m = cp->pb.m;
    cp->lambda = malloc((size_t)m * sizeof(double));
    if (!cp->lambda)
        cli_fail_run(c->cmd, "out of memory (m = %d)", m);
    const char *txt = cli_get(opts, nopts, "lambda");
    if (!txt) {
        for (int j = 0; j < m; j++)
            cp->lambda[j] = dflt;
        return;
    }
    double *tmp = malloc((size_t)(m + 1) * sizeof(double));
    if (!tmp)
        cli_fail_run(c->cmd, "out of memory");
    int n = cli_number_list(c->cmd, "lambda", txt, tmp, m + 1);
    if (n != 1 && n != m)
        cli_fail(c->cmd, "--lambda has %d values; the problem needs 1 or %d", n, m);
    for (int j = 0; j < m; j++)
        cp->lambda[j] = tmp[n == 1 ? 0 : j];
    free(tmp);
}

/* Reads the --train/--val pair, LIBSVM or CSV/TSV by name (ds_read_auto;
 * --label-col for the CSV ones). A CSR set is widened to the other's d
 * (empty columns); a dense (CSV) set must already have it. */
static void read_pair(const cli_common *c, const cli_opt *opts, int nopts, cli_problem *cp)
{
    const char *tr = cli_get(opts, nopts, "train"), *va = cli_get(opts, nopts, "val");
    char msg[512];
    if (!tr || !va)
        cli_fail(c->cmd, "--problem %s needs --train FILE and --val FILE", cp->kind);
    ds_libsvm_opts ro = ds_libsvm_defaults();
    const char *mlb = cli_get(opts, nopts, "max-line-bytes");
    if (mlb)
        ro.max_line_bytes = (size_t)cli_int(c->cmd, "max-line-bytes", mlb, 1, 2147483647);
    ds_csv_opts co = ds_csv_defaults();
    co.max_line_bytes = ro.max_line_bytes;
    const char *lc = cli_get(opts, nopts, "label-col");
    if (lc && lc[strspn(lc, "-0123456789")] == '\0')
        co.label_col = cli_int(c->cmd, "label-col", lc, -2147483647, 2147483647);
    else
        co.label_name = lc;
    check(c->cmd, ds_read_auto(tr, &ro, &co, &cp->train, msg, sizeof msg), tr, msg);
    check(c->cmd, ds_read_auto(va, &ro, &co, &cp->val, msg, sizeof msg), va, msg);
    if (lc && !cp->train.X && !cp->val.X)
        cli_fail(c->cmd, "--label-col is for CSV/TSV files (.csv, .tsv, optionally .gz)");
    int d = cp->train.d > cp->val.d ? cp->train.d : cp->val.d;
    if ((cp->train.X && cp->train.d < d) || (cp->val.X && cp->val.d < d))
        cli_fail(c->cmd, "%s has %d features, %s has %d", tr, cp->train.d, va, cp->val.d);
    cp->train.d = cp->val.d = d; /* CSR: a wider matrix just has empty columns */
}

static bl_status lsq_truth(const cli_problem *cp, const double *lambda, double *hg, char *msg,
                           size_t len)
{
    return lsq_hypergrad(cp->model, lambda, NULL, hg, NULL, msg, len);
}

static bl_status ridge_truth(const cli_problem *cp, const double *lambda, double *hg, char *msg,
                             size_t len)
{
    return rdg_hypergrad(cp->model, lambda, NULL, hg, NULL, msg, len);
}

void cli_intercept(const char *cmd, const char *text, int *intercept, int *free_b, double *ridge)
{
    *intercept = text != NULL, *free_b = 0, *ridge = 0.01;
    if (!text || !*text)
        return;
    if (!strcmp(text, "free")) {
        *free_b = 1, *ridge = 0.0;
        return;
    }
    if (strncmp(text, "ridge=", 6) != 0)
        cli_fail(cmd, "--intercept must be 'free' or 'ridge=V' (or bare, = ridge=0.01), got '%s'",
                 text);
    *ridge = cli_number(cmd, "intercept ridge=V", text + 6);
    if (!(*ridge > 0) || !isfinite(*ridge))
        cli_fail(cmd, "--intercept ridge=V needs V > 0 (use --intercept free for no penalty), "
                 "got '%s'", text);
}

static void setup_logreg_files(const cli_common *c, const cli_opt *opts, int nopts, cli_problem *cp)
{
    char msg[512];
    lr_opts lo = {LR_SCALAR, 0, 0};
    const char *icpt = cli_get(opts, nopts, "intercept");
    int free_b;
    cli_intercept(c->cmd, icpt, &lo.intercept, &free_b, &lo.intercept_reg);
    if (free_b)
        lo.intercept = LR_INTERCEPT_FREE, lo.intercept_reg = 0.0;
    read_pair(c, opts, nopts, cp);
    const char *reg = cli_get(opts, nopts, "reg");
    if (reg && !strcmp(reg, "per-feature"))
        lo.reg = LR_PER_FEATURE;
    else if (reg && strcmp(reg, "scalar"))
        cli_fail(c->cmd, "--reg must be 'scalar' or 'per-feature', got '%s'", reg);
    lr_model *m;
    check(c->cmd, lr_model_new(&cp->train, &cp->val, &lo, &m, msg, sizeof msg), "logreg", msg);
    cp->model = m;
    cp->pb = lr_problem(m);
    char ib[48] = "";
    if (lo.intercept == LR_INTERCEPT_FREE)
        snprintf(ib, sizeof ib, ", free intercept");
    else if (lo.intercept)
        snprintf(ib, sizeof ib, ", intercept ridge %g", lo.intercept_reg);
    snprintf(cp->label, sizeof cp->label, "logreg (%s lambda%s), %d train x %d features",
             lo.reg == LR_PER_FEATURE ? "per-feature" : "scalar", ib, cp->train.n, cp->train.d);
    set_lambda(c, opts, nopts, cp, 0.0);
}

void cli_problem_fashion_logreg(const cli_common *c, const char *dir, int n_train, int n_val,
                                double lambda0, cli_problem *cp)
{
    cli_problem_fashion_pair(c, dir, n_train, n_val, 1, 0, lambda0, cp);
}

void cli_problem_fashion_pair(const cli_common *c, const char *dir, int n_train, int n_val,
                              int per_feature, int with_test, double lambda0, cli_problem *cp)
{
    char msg[512];
    ds_set full = {0}, pair = {0};
    memset(cp, 0, sizeof *cp);
    snprintf(cp->kind, sizeof cp->kind, "logreg");
    check(c->cmd, ds_fashion_mnist(dir, 1, &full, msg, sizeof msg), dir, msg);
    check(c->cmd, ds_fashion_pair(&full, 0, 6, &pair, msg, sizeof msg), "fashion pair", msg);
    ds_set_free(&full);
    if (n_train + n_val > pair.n)
        cli_fail(c->cmd, "the T-shirt/Shirt pair has %d samples; asked for %d + %d", pair.n,
                 n_train, n_val);
    double fa = (double)n_train / pair.n, fb = (double)n_val / pair.n;
    check(c->cmd, ds_split(&pair, fa, fb, c->seed, &cp->train, &cp->val, NULL, msg, sizeof msg),
          "split", msg);
    ds_set_free(&pair);
    if (with_test) { /* the pair of the Fashion-MNIST test file, for test accuracy */
        check(c->cmd, ds_fashion_mnist(dir, 0, &full, msg, sizeof msg), dir, msg);
        check(c->cmd, ds_fashion_pair(&full, 0, 6, &cp->test, msg, sizeof msg), "fashion pair", msg);
        ds_set_free(&full);
    }
    lr_opts lo = {per_feature ? LR_PER_FEATURE : LR_SCALAR, 0, 0};
    lr_model *m;
    check(c->cmd, lr_model_new(&cp->train, &cp->val, &lo, &m, msg, sizeof msg), "logreg", msg);
    cp->model = m;
    cp->pb = lr_problem(m);
    snprintf(cp->label, sizeof cp->label,
             "logreg, Fashion-MNIST T-shirt/top vs Shirt, %d train / %d val, %d lambda%s",
             cp->train.n, cp->val.n, cp->pb.m, cp->pb.m == 1 ? "" : "s");
    cp->lambda = malloc((size_t)cp->pb.m * sizeof(double));
    if (!cp->lambda)
        cli_fail_run(c->cmd, "out of memory");
    for (int j = 0; j < cp->pb.m; j++)
        cp->lambda[j] = lambda0;
}

void cli_problem_lstsq(const cli_common *c, int rows, int p, int m, cli_problem *cp)
{
    char msg[512];
    lsq_model *lm;
    memset(cp, 0, sizeof *cp);
    snprintf(cp->kind, sizeof cp->kind, "lstsq");
    check(c->cmd, lsq_generate(c->seed, rows, p, m, &lm, msg, sizeof msg), "lstsq", msg);
    cp->model = lm;
    cp->pb = lsq_problem(lm);
    cp->truth = lsq_truth;
    snprintf(cp->label, sizeof cp->label, "least squares (Li, Gu & Huang), %dx%d, m = %d", rows, p, m);
    cp->lambda = malloc((size_t)m * sizeof(double));
    if (!cp->lambda)
        cli_fail_run(c->cmd, "out of memory");
    lsq_default_lambda(lm, cp->lambda);
}

void cli_problem_cleaning(const cli_common *c, const char *dir, int n_train, int n_val,
                          double corrupt, double r, cli_problem *cp)
{
    cli_problem_cleaning_mode(c, dir, n_train, n_val, corrupt, HC_CORRUPT_OTHER, 0, r, cp);
}

void cli_problem_cleaning_mode(const cli_common *c, const char *dir, int n_train, int n_val,
                               double corrupt, int mode, int exact, double r, cli_problem *cp)
{
    char msg[512];
    ds_set full = {0};
    memset(cp, 0, sizeof *cp);
    snprintf(cp->kind, sizeof cp->kind, "cleaning");
    check(c->cmd, ds_fashion_mnist(dir, 1, &full, msg, sizeof msg), dir, msg);
    check(c->cmd, ds_split(&full, (double)n_train / full.n, (double)n_val / full.n, c->seed,
                           &cp->train, &cp->val, NULL, msg, sizeof msg), "split", msg);
    ds_set_free(&full);
    int *orig = malloc((size_t)cp->train.n * sizeof(int));
    cp->corrupted = malloc((size_t)cp->train.n);
    if (!orig || !cp->corrupted)
        cli_fail_run(c->cmd, "out of memory (%d training labels)", cp->train.n);
    memcpy(orig, cp->train.cls, (size_t)cp->train.n * sizeof(int));
    check(c->cmd, hc_corrupt_labels_mode(cp->train.cls, cp->train.n, cp->train.nclass, corrupt, mode,
                                         exact, c->seed, NULL, NULL, msg, sizeof msg),
          "corrupt", msg);
    for (int i = 0; i < cp->train.n; i++) /* wrong labels: the truth of tune's detector */
        cp->corrupted[i] = cp->train.cls[i] != orig[i];
    free(orig);
    hc_model *m;
    check(c->cmd, hc_model_new(&cp->train, &cp->val, r, &m, msg, sizeof msg), "cleaning", msg);
    cp->model = m;
    cp->pb = hc_problem(m);
    snprintf(cp->label, sizeof cp->label,
             "hypercleaning, Fashion-MNIST %d train (%.0f%% corrupted%s%s) / %d val", cp->train.n,
             100 * corrupt, exact ? ", exactly, " : "", exact ? hc_corrupt_mode_name(mode) : "",
             cp->val.n);
    cp->lambda = calloc((size_t)cp->pb.m, sizeof(double));
    if (!cp->lambda)
        cli_fail_run(c->cmd, "out of memory");
}

static void setup_cleaning(const cli_common *c, const cli_opt *opts, int nopts, cli_problem *cp)
{
    const char *dir = cli_get(opts, nopts, "fashion-dir");
    const char *nt = cli_get(opts, nopts, "n-train"), *nv = cli_get(opts, nopts, "n-val");
    const char *pc = cli_get(opts, nopts, "corrupt"), *rr = cli_get(opts, nopts, "ridge");
    int n_train = nt ? cli_int(c->cmd, "n-train", nt, 10, 50000) : 2000;
    int n_val = nv ? cli_int(c->cmd, "n-val", nv, 10, 10000) : 1000;
    double prob = pc ? cli_number(c->cmd, "corrupt", pc) : 0.1;
    double r = rr ? cli_number(c->cmd, "ridge", rr) : 0.002;
    const char *cm = cli_get(opts, nopts, "corrupt-mode"); /* only in tables that list it */
    int mode = cm ? hc_corrupt_mode_from_name(cm) : HC_CORRUPT_OTHER;
    if (mode < 0)
        cli_fail(c->cmd, "--corrupt-mode must be 'uniform' or 'other', got '%s'", cm);
    cli_problem_cleaning_mode(c, dir ? dir : DEFAULT_FASHION, n_train, n_val, prob, mode, cm != NULL,
                              r, cp);
    free(cp->lambda);
    set_lambda(c, opts, nopts, cp, 0.0);
}

void cli_problem_setup(const cli_common *c, const cli_opt *opts, int nopts, cli_problem *cp)
{
    const char *kind = cli_get(opts, nopts, "problem");
    kind = kind ? kind : "logreg";
    memset(cp, 0, sizeof *cp);
    snprintf(cp->kind, sizeof cp->kind, "%s", kind);
    char msg[512];
    if (cli_get(opts, nopts, "label-col") && strcmp(kind, "logreg") && strcmp(kind, "ridge"))
        cli_fail(c->cmd, "--label-col is only for --problem logreg or ridge (CSV/TSV files)");
    if (!strcmp(kind, "logreg")) {
        setup_logreg_files(c, opts, nopts, cp);
    } else if (!strcmp(kind, "lstsq")) {
        const char *r = cli_get(opts, nopts, "rows"), *p = cli_get(opts, nopts, "p"),
                   *m = cli_get(opts, nopts, "m");
        cli_problem_lstsq(c, r ? cli_int(c->cmd, "rows", r, 1, 1000000) : 1000,
                          p ? cli_int(c->cmd, "p", p, 1, 10000) : 10,
                          m ? cli_int(c->cmd, "m", m, 1, 10000) : 10, cp);
        if (cli_get(opts, nopts, "lambda")) {
            free(cp->lambda);
            set_lambda(c, opts, nopts, cp, 1.0);
        }
    } else if (!strcmp(kind, "ridge")) {
        read_pair(c, opts, nopts, cp);
        rdg_model *m;
        check(c->cmd, rdg_model_new(&cp->train, &cp->val, &m, msg, sizeof msg), "ridge", msg);
        cp->model = m;
        cp->pb = rdg_problem(m);
        cp->truth = ridge_truth;
        snprintf(cp->label, sizeof cp->label, "ridge, %d train x %d features", cp->train.n, cp->train.d);
        set_lambda(c, opts, nopts, cp, 0.0);
    } else if (!strcmp(kind, "cleaning")) {
        setup_cleaning(c, opts, nopts, cp);
    } else {
        cli_fail(c->cmd, "--problem must be logreg, lstsq, ridge or cleaning, got '%s'", kind);
    }
}

void cli_problem_free(cli_problem *cp)
{
    if (!strcmp(cp->kind, "logreg"))
        lr_model_free(cp->model);
    else if (!strcmp(cp->kind, "lstsq"))
        lsq_model_free(cp->model);
    else if (!strcmp(cp->kind, "ridge"))
        rdg_model_free(cp->model);
    else if (!strcmp(cp->kind, "cleaning"))
        hc_model_free(cp->model);
    ds_set_free(&cp->train);
    ds_set_free(&cp->val);
    ds_set_free(&cp->test);
    free(cp->corrupted);
    free(cp->lambda);
    memset(cp, 0, sizeof *cp);
}

bl_status cli_problem_truth(const cli_problem *cp, double *hg, char *msg, size_t len)
{
    if (cp->truth)
        return cp->truth(cp, cp->lambda, hg, msg, len);
    bl_hg_opts o = {.method = BL_EXACT, .inner = bl_inner_lbfgs, .inner_tol = 1e-12,
                    .inner_iters = 100000, .memory = 20};
    bl_diag d;
    bl_status st = bl_hypergrad(&cp->pb, cp->lambda, &o, hg, &d, msg, len);
    if ((st == BL_OK || st == BL_ENOTCONVERGED) && d.inner_stop != BL_STOP_TOL) {
        /* L-BFGS stalled: Newton-CG finishes */
        o.inner = bl_inner_newton_cg;
        st = bl_hypergrad(&cp->pb, cp->lambda, &o, hg, &d, msg, len);
    }
    return st;
}
