/*
 * examples/cli_problem.c — the problems the CLI runs on, built from flags:
 * logistic regression (LIBSVM or CSV/TSV files, or a Fashion-MNIST pair), the
 * least-squares test problem, ridge and data hypercleaning.
 */
#include "cli.h"

#include <hypertape/models/cleaning.h>
#include <hypertape/models/logreg.h>
#include <hypertape/models/lstsq.h>
#include <hypertape/models/multiclass.h>
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
/* --synthetic ijcnn1: the IJCNN1-shaped generator (ds_synth_ijcnn1) in
 * place of --train/--val, at the real sizes unless --n-train/--n-val ask
 * for fewer or more, and SYNTH_NTEST more samples of the same model as a
 * test set (tune's test accuracy). Its seed is fixed (1), so that every
 * --seed of an algorithm sees the same data. */
enum { SYNTH_NTEST = 10000 };
static void synth_pair(const cli_common *c, const cli_opt *opts, int nopts, const char *name,
                       cli_problem *cp)
{
    char msg[512];
    if (strcmp(name, "ijcnn1"))
        cli_fail(c->cmd, "--synthetic must be 'ijcnn1', got '%s'", name);
    if (cli_get(opts, nopts, "train") || cli_get(opts, nopts, "val") || cli_get(opts, nopts, "label-col"))
        cli_fail(c->cmd, "--synthetic replaces --train/--val (and --label-col); give one or the other");
    const char *v;
    int ntr = (v = cli_get(opts, nopts, "n-train")) ? cli_int(c->cmd, "n-train", v, 1, 10000000)
                                                   : DS_IJCNN1_NTRAIN;
    int nva = (v = cli_get(opts, nopts, "n-val")) ? cli_int(c->cmd, "n-val", v, 1, 10000000)
                                                 : DS_IJCNN1_NVAL;
    check(c->cmd, ds_synth_ijcnn1(1, ntr, nva + SYNTH_NTEST, &cp->train, &cp->val, msg, sizeof msg),
          "synthetic ijcnn1", msg);
    /* The last SYNTH_NTEST validation rows are the test set (same w*). */
    ds_set *t = &cp->test, *va = &cp->val;
    int d = va->d;
    t->X = malloc((size_t)SYNTH_NTEST * d * sizeof(double));
    t->y = malloc((size_t)SYNTH_NTEST * sizeof(double));
    if (!t->X || !t->y)
        cli_fail(c->cmd, "out of memory for the synthetic test set");
    memcpy(t->X, va->X + (size_t)nva * d, (size_t)SYNTH_NTEST * d * sizeof(double));
    memcpy(t->y, va->y + nva, (size_t)SYNTH_NTEST * sizeof(double));
    t->n = SYNTH_NTEST, t->d = d, t->nclass = 2;
    va->n = nva;
}

/* A CSR set with at least half of its n·d entries stored is held dense
 * (README, CLI reference, "Data files"): the dense kernels (BLAS, the
 * per-sample loops over contiguous rows) beat gathers through colind there,
 * at most 4/3 of the CSR memory. Values are unchanged; sums may round
 * differently. A set too large for dense (n·d > 2^31 − 1) stays CSR. */
static void dense_if_dense(ds_set *s)
{
    if (s->X || !s->rowptr || 2 * ds_nnz(s) < (int64_t)s->n * s->d)
        return;
    char msg[256];
    (void)ds_densify(s, msg, sizeof msg); /* on failure s is unchanged (CSR) */
}

static void read_pair(const cli_common *c, const cli_opt *opts, int nopts, cli_problem *cp)
{
    const char *tr = cli_get(opts, nopts, "train"), *va = cli_get(opts, nopts, "val");
    const char *syn = cli_get(opts, nopts, "synthetic");
    char msg[512];
    if (syn) {
        synth_pair(c, opts, nopts, syn, cp);
        return;
    }
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
    dense_if_dense(&cp->train);
    dense_if_dense(&cp->val);
    ds_seal(&cp->train); /* a set still CSR: d may have changed, a new token for the header */
    ds_seal(&cp->val);
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
    snprintf(cp->label, sizeof cp->label, "logreg (%s lambda%s), %s%d train x %d features",
             lo.reg == LR_PER_FEATURE ? "per-feature" : "scalar", ib,
             cli_get(opts, nopts, "synthetic") ? "IJCNN1-shaped synthetic, " : "", cp->train.n,
             cp->train.d);
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

/* ------------------------------------------------------ hypercleaning */

void cli_cleaning_corruption(const cli_common *c, const cli_opt *opts, int nopts, double *prob,
                             int *mode, int *exact)
{
    const char *pc = cli_get(opts, nopts, "corrupt"), *cm = cli_get(opts, nopts, "corrupt-mode");
    *prob = pc ? cli_number(c->cmd, "corrupt", pc) : 0.1;
    if (!(*prob >= 0 && *prob <= 0.9))
        cli_fail(c->cmd, "--corrupt must be in [0, 0.9], got '%s'", pc);
    *mode = cm ? hc_corrupt_mode_from_name(cm) : HC_CORRUPT_OTHER;
    if (*mode < 0)
        cli_fail(c->cmd, "--corrupt-mode must be 'uniform' or 'other', got '%s'", cm);
    *exact = cm != NULL;
}

/* One user data file of cleaning: FILE (LIBSVM multiclass) or IMAGES,LABELS
 * (an IDX pair), read through the class map *cl (learnt when cl->n == 0). */
static int read_user_set(const cli_common *c, const char *flag, const char *spec,
                         const ds_libsvm_opts *ro, ds_classes *cl, ds_set *out)
{
    char msg[512];
    const char *comma = strchr(spec, ',');
    if (!comma) {
        check(c->cmd, ds_read_libsvm_multiclass(spec, ro, cl, out, msg, sizeof msg), spec, msg);
        return 0;
    }
    size_t k = (size_t)(comma - spec);
    if (k == 0 || !comma[1] || strchr(comma + 1, ','))
        cli_fail(c->cmd, "--%s must be FILE (LIBSVM multiclass) or IMAGES,LABELS (an IDX pair), "
                 "got '%s'", flag, spec);
    char *img = malloc(k + 1);
    if (!img)
        cli_fail_run(c->cmd, "out of memory");
    memcpy(img, spec, k);
    img[k] = '\0';
    check(c->cmd, ds_read_idx_multiclass(img, comma + 1, cl, out, msg, sizeof msg), img, msg);
    free(img);
    return 1;
}

/* A seeded subset of k samples of *s (k < s->n; k == s->n keeps it). */
static void take_subset(const cli_common *c, const char *flag, const char *file, int k, ds_set *s)
{
    char msg[512];
    if (k > s->n)
        cli_fail(c->cmd, "--%s %d exceeds the %d samples of %s", flag, k, s->n, file);
    if (k == s->n)
        return;
    ds_set a = {0}, rest = {0};
    check(c->cmd, ds_split(s, (double)k / s->n, (double)(s->n - k) / s->n, c->seed, &a, &rest, NULL,
                           msg, sizeof msg), "subset", msg);
    ds_set_free(&rest);
    ds_set_free(s);
    *s = a;
}

/* --train/--val[/--test] given: the user's files (README, "Hypercleaning on
 * your own data"). */
static void user_data(const cli_common *c, const cli_opt *opts, int nopts, cli_problem *cp)
{
    const char *tr = cli_get(opts, nopts, "train"), *va = cli_get(opts, nopts, "val"),
               *te = cli_get(opts, nopts, "test"), *v;
    if (!tr || !va)
        cli_fail(c->cmd, "--problem cleaning on your own data needs both --train and --val");
    if (cli_get(opts, nopts, "fashion-dir"))
        cli_fail(c->cmd, "--fashion-dir and --train/--val are two data sources: give one");
    ds_libsvm_opts ro = ds_libsvm_defaults();
    const char *mlb = cli_get(opts, nopts, "max-line-bytes");
    if (mlb)
        ro.max_line_bytes = (size_t)cli_int(c->cmd, "max-line-bytes", mlb, 1, 2147483647);
    ds_classes *cl = calloc(1, sizeof *cl);
    if (!cl)
        cli_fail_run(c->cmd, "out of memory");
    int idx = read_user_set(c, "train", tr, &ro, cl, &cp->train);
    if (cl->n < 2)
        cli_fail(c->cmd, "%s: the training labels hold one class only; cleaning needs 2 or more", tr);
    if (read_user_set(c, "val", va, &ro, cl, &cp->val) != idx)
        cli_fail(c->cmd, "--train and --val must be of one format (both LIBSVM or both IDX pairs)");
    if (te && read_user_set(c, "test", te, &ro, cl, &cp->test) != idx)
        cli_fail(c->cmd, "--train and --test must be of one format (both LIBSVM or both IDX pairs)");
    free(cl);
    ds_set *sets[3] = {&cp->train, &cp->val, &cp->test};
    const char *names[3] = {tr, va, te};
    int d = cp->train.d;
    for (int k = 1; k < 3; k++) {
        if (sets[k]->n == 0)
            continue;
        if (idx && sets[k]->d != cp->train.d)
            cli_fail(c->cmd, "%s: images of %d pixels, but the training images have %d", names[k],
                     sets[k]->d, cp->train.d);
        d = sets[k]->d > d ? sets[k]->d : d;
    }
    for (int k = 0; k < 3; k++) /* CSR: a wider matrix just has empty columns */
        sets[k]->d = sets[k]->n ? d : 0;
    if ((v = cli_get(opts, nopts, "n-train")))
        take_subset(c, "n-train", tr, cli_int(c->cmd, "n-train", v, 1, 2147483647), &cp->train);
    if ((v = cli_get(opts, nopts, "n-val")))
        take_subset(c, "n-val", va, cli_int(c->cmd, "n-val", v, 1, 2147483647), &cp->val);
}

void cli_cleaning_data(const cli_common *c, const cli_opt *opts, int nopts, int def_train,
                       int def_val, int fashion_test, cli_problem *cp)
{
    char msg[512];
    memset(cp, 0, sizeof *cp);
    snprintf(cp->kind, sizeof cp->kind, "cleaning");
    if (cli_get(opts, nopts, "train") || cli_get(opts, nopts, "val") || cli_get(opts, nopts, "test")) {
        if (cli_get(opts, nopts, "test") && !cli_get(opts, nopts, "train"))
            cli_fail(c->cmd, "--test needs --train and --val (the classes come from --train)");
        user_data(c, opts, nopts, cp);
        snprintf(cp->data, sizeof cp->data, "your data (%d classes x %d features),", cp->train.nclass, cp->train.d);
        return;
    }
    const char *v, *dir = (v = cli_get(opts, nopts, "fashion-dir")) ? v : DEFAULT_FASHION;
    int ntr = (v = cli_get(opts, nopts, "n-train")) ? cli_int(c->cmd, "n-train", v, 10, 50000) : def_train;
    int nva = (v = cli_get(opts, nopts, "n-val")) ? cli_int(c->cmd, "n-val", v, 10, 10000) : def_val;
    if (ntr + nva > 60000)
        cli_fail(c->cmd, "--n-train + --n-val must be at most 60000 (the Fashion-MNIST training set)");
    ds_set full = {0};
    check(c->cmd, ds_fashion_mnist(dir, 1, &full, msg, sizeof msg), dir, msg);
    check(c->cmd, ds_split(&full, (double)ntr / full.n, (double)nva / full.n, c->seed, &cp->train,
                           &cp->val, NULL, msg, sizeof msg), "split", msg);
    ds_set_free(&full);
    if (fashion_test)
        check(c->cmd, ds_fashion_mnist(dir, 0, &cp->test, msg, sizeof msg), dir, msg);
    snprintf(cp->data, sizeof cp->data, "Fashion-MNIST");
}

void cli_cleaning_build(const cli_common *c, cli_problem *cp, double corrupt, int mode, int exact,
                        double r)
{
    char msg[512];
    int *orig = malloc((size_t)cp->train.n * sizeof(int));
    cp->corrupted = malloc((size_t)cp->train.n);
    if (!orig || !cp->corrupted)
        cli_fail_run(c->cmd, "out of memory (%d training labels)", cp->train.n);
    memcpy(orig, cp->train.cls, (size_t)cp->train.n * sizeof(int));
    check(c->cmd, hc_corrupt_labels_mode(cp->train.cls, cp->train.n, cp->train.nclass, corrupt, mode,
                                         exact, c->seed, NULL, NULL, msg, sizeof msg),
          "corrupt", msg);
    for (int i = 0; i < cp->train.n; i++) { /* wrong labels: the truth of tune's detector */
        cp->corrupted[i] = cp->train.cls[i] != orig[i];
        cp->train.y[i] = cp->train.cls[i];
    }
    free(orig);
    hc_model *m;
    check(c->cmd, hc_model_new(&cp->train, &cp->val, r, &m, msg, sizeof msg), "cleaning", msg);
    cp->model = m;
    cp->pb = hc_problem(m);
    snprintf(cp->label, sizeof cp->label, "hypercleaning, %s %d train (%.0f%% corrupted%s%s) / %d val",
             cp->data, cp->train.n, 100 * corrupt, exact ? ", exactly, " : "",
             exact ? hc_corrupt_mode_name(mode) : "", cp->val.n);
    cp->lambda = calloc((size_t)cp->pb.m, sizeof(double));
    if (!cp->lambda)
        cli_fail_run(c->cmd, "out of memory");
}

static void setup_cleaning(const cli_common *c, const cli_opt *opts, int nopts, cli_problem *cp)
{
    const char *rr = cli_get(opts, nopts, "ridge");
    double prob, r = rr ? cli_number(c->cmd, "ridge", rr) : 0.002;
    int mode, exact;
    cli_cleaning_corruption(c, opts, nopts, &prob, &mode, &exact);
    cli_cleaning_data(c, opts, nopts, 2000, 1000, 0, cp);
    cli_cleaning_build(c, cp, prob, mode, exact, r);
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
    if (cli_get(opts, nopts, "synthetic") && strcmp(kind, "logreg") && strcmp(kind, "ridge"))
        cli_fail(c->cmd, "--synthetic is only for --problem logreg or ridge");
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
