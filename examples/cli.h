/*
 * examples/cli.h — shared parts of the `hypertape` command-line tool: flag
 * parsing with one-line errors (exit 2), progress on stderr, the problems
 * the subcommands run on, and JSON/CSV helpers. The CLI uses only public
 * headers of the library.
 */
#ifndef HYPERTAPE_CLI_H
#define HYPERTAPE_CLI_H

#include "bilevel/bilevel.h"
#include "models/data.h"

#include <stdint.h>
#include <stdio.h>

/* One flag of a subcommand: "--name" with or without a value. */
typedef struct cli_opt {
    const char *name;   /* without the leading "--" */
    int takes_value;
    const char *help;
    const char *value;  /* set by cli_parse (NULL when absent) */
    int seen;
} cli_opt;

/* Flags every subcommand has: --help, --quiet, --seed, --out. */
typedef struct cli_common {
    const char *cmd;    /* subcommand name, for messages */
    int quiet;
    uint64_t seed;
    const char *out;    /* output folder */
} cli_common;

/* Prints "hypertape CMD: message" on one line and exits with status 2. */
_Noreturn void cli_fail(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The same with exit status 1 (a failure while running, not a usage error). */
_Noreturn void cli_fail_run(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Parses argv[first..] against opts (and the common flags). Prints help and
 * exits 0 on --help; exits 2 on an unknown flag or a missing value. */
void cli_parse(int argc, char **argv, int first, cli_opt *opts, int nopts, const char *usage,
               cli_common *common);

/* Value of flag `name` (NULL when absent). */
const char *cli_get(const cli_opt *opts, int nopts, const char *name);
/* Parses a number / integer / comma list of numbers, exiting 2 with a
 * message naming the flag when the text is not one. */
double cli_number(const char *cmd, const char *flag, const char *text);
int cli_int(const char *cmd, const char *flag, const char *text, int lo, int hi);
int cli_number_list(const char *cmd, const char *flag, const char *text, double *out, int max);

/* Progress line on stderr (iteration, objective, norm, elapsed), unless --quiet. */
void cli_progress(const cli_common *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Seconds since an arbitrary origin (monotonic). */
double cli_now(void);

/* Creates folder `dir` (and parents); exits 2 when it cannot. */
void cli_mkdir(const char *cmd, const char *dir);
/* Opens DIR/NAME.tmp for writing; cli_commit renames it to DIR/NAME, so no
 * partial output file is ever left under the final name. */
FILE *cli_open_tmp(const char *cmd, const char *dir, const char *name, char *tmp_path, size_t len);
void cli_commit(const char *cmd, FILE *f, const char *tmp_path);

/* Writes x as a JSON number (null when not finite). */
void cli_json_number(FILE *f, double x);
/* Euclidean norm of a (n entries). */
double cli_norm(const double *a, int n);
/* Parses --problems (NULL: both): a comma list of lstsq, logreg; exits 2
 * on anything else. */
void cli_problem_list(const char *cmd, const char *text, int *do_lstsq, int *do_logreg);
/* Commits the gnuplot script (opened with cli_open_tmp at script_tmp; it
 * must write its PNG to "<png>.tmp"), runs gnuplot on it and renames the
 * PNG into place. Removes the script and, when data is non-NULL, that data
 * file (both are scratch). Returns 1 when the PNG was written, else warns
 * on stderr and returns 0 (a missing plot does not fail the run). */
int cli_gnuplot(const cli_common *c, FILE *script, const char *script_tmp, const char *png,
                const char *data);

/* ------------------------------------------------------------ problems */

/* A problem the subcommands can run on, with its data, default λ and,
 * where one exists, a closed-form truth. */
typedef struct cli_problem {
    char kind[16];        /* "logreg", "lstsq", "ridge", "cleaning" */
    char label[96];       /* human-readable description */
    bl_problem pb;
    double *lambda;       /* m: the λ to evaluate at */
    void *model;
    ds_set train, val, test;
    /* closed-form hypergradient at λ (NULL: use the exact solve) */
    bl_status (*truth)(const struct cli_problem *cp, const double *lambda, double *hg,
                       char *msg, size_t len);
} cli_problem;

/* Flags understood by cli_problem_setup (add them to a subcommand's table). */
#define CLI_PROBLEM_OPTS                                                                  \
    {"problem", 1, "logreg | lstsq | ridge | cleaning (default logreg)", NULL, 0},        \
    {"train", 1, "LIBSVM file of training samples (logreg, ridge)", NULL, 0},             \
    {"val", 1, "LIBSVM file of validation samples (logreg, ridge)", NULL, 0},             \
    {"reg", 1, "scalar | per-feature (logreg; default scalar)", NULL, 0},                 \
    {"lambda", 1, "V[,V...]: the outer point (one value: every entry)", NULL, 0},         \
    {"intercept", 0, "logreg: add an intercept", NULL, 0},                                \
    {"rows", 1, "lstsq: rows of A, C, D (default 1000)", NULL, 0},                        \
    {"p", 1, "lstsq: size of x (default 10)", NULL, 0},                                   \
    {"m", 1, "lstsq: size of w (default 10)", NULL, 0},                                   \
    {"fashion-dir", 1, "Fashion-MNIST IDX folder (default /usr/share/datasets/fashion-mnist)", NULL, 0}, \
    {"n-train", 1, "Fashion-MNIST training samples (logreg pair / cleaning)", NULL, 0},   \
    {"n-val", 1, "Fashion-MNIST validation samples", NULL, 0},                            \
    {"corrupt", 1, "cleaning: fraction of corrupted labels (default 0.1)", NULL, 0},      \
    {"ridge", 1, "cleaning: r in (r/2)||W||^2 (default 0.002)", NULL, 0}

/* Builds the problem named by --problem from the flags. Exits 2 with a
 * one-line message on bad flags or unreadable/malformed files. */
void cli_problem_setup(const cli_common *c, const cli_opt *opts, int nopts, cli_problem *cp);
/* The default Fashion-MNIST binary pair ("T-shirt/top" vs "Shirt") for
 * per-feature logistic regression, n_train + n_val samples. */
void cli_problem_fashion_logreg(const cli_common *c, const char *dir, int n_train, int n_val,
                                double lambda0, cli_problem *cp);
/* The same pair with a scalar (per_feature 0) or per-feature λ; with_test
 * also loads the pair of the Fashion-MNIST test file into cp->test. */
void cli_problem_fashion_pair(const cli_common *c, const char *dir, int n_train, int n_val,
                              int per_feature, int with_test, double lambda0, cli_problem *cp);
/* Data hypercleaning on Fashion-MNIST: n_train training samples (a
 * fraction `corrupt` of their labels replaced by another class) and n_val
 * validation samples drawn from the training file with c->seed, ridge r
 * (= μ); λ = 0. Exits with a one-line message on bad data or arguments. */
void cli_problem_cleaning(const cli_common *c, const char *dir, int n_train, int n_val,
                          double corrupt, double r, cli_problem *cp);
/* The least-squares test problem (closed-form truth). */
void cli_problem_lstsq(const cli_common *c, int rows, int p, int m, cli_problem *cp);
/* Frees what cli_problem_setup allocated. */
void cli_problem_free(cli_problem *cp);
/* The reference hypergradient: closed form if any, else `exact` with
 * tight tolerances. Returns its status; msg says why on failure. */
bl_status cli_problem_truth(const cli_problem *cp, double *hg, char *msg, size_t len);

/* Subcommands. */
int cmd_hypergrad(int argc, char **argv);
int cmd_compare(int argc, char **argv);
int cmd_bounds(int argc, char **argv);
int cmd_tune(int argc, char **argv);
/* `hypertape bounds --cleaning` (cmd_cleaning.c): the hypercleaning grid,
 * with the flags cmd_bounds parsed. */
int cmd_bounds_cleaning(const cli_common *c, const cli_opt *opts, int nopts);

#endif
