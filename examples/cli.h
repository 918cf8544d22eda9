/*
 * examples/cli.h — shared parts of the `hypertape` command-line tool: flag
 * parsing with one-line errors (exit 2), progress on stderr, the problems
 * the subcommands run on, and JSON/CSV helpers. The CLI uses only public
 * headers of the library.
 */
#ifndef HYPERTAPE_CLI_H
#define HYPERTAPE_CLI_H

#include <hypertape/bilevel.h>
#include <hypertape/models/data.h>

#include <stdint.h>
#include <stdio.h>

/* One flag of a subcommand: "--name" with or without a value. */
typedef struct cli_opt {
    const char *name;   /* without the leading "--" */
    int takes_value;    /* 0: no value; 1: a value; 2: an optional value (--name alone
                           gives ""; the next argument is its value unless it starts with --) */
    const char *help;
    const char *value;  /* set by cli_parse (NULL when absent) */
    int seen;
} cli_opt;

/* Flags every subcommand has: --help, --quiet, --seed, --out, --threads. */
typedef struct cli_common {
    const char *cmd;    /* subcommand name, for messages */
    int quiet;          /* no progress lines; errors and warnings always print */
    uint64_t seed;
    const char *out;    /* output folder */
    int threads;        /* --threads N (openblas_set_num_threads); 0 = OpenBLAS's default */
} cli_common;

/* Prints "hypertape CMD: message" on one line and exits with status 2. */
_Noreturn void cli_fail(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The same with exit status 1 (a failure while running, not a usage error). */
_Noreturn void cli_fail_run(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Parses argv[first..] against opts (and the common flags). Prints help and
 * exits 0 on --help; exits 2 on an unknown, repeated or valueless flag.
 * --threads N sets the OpenBLAS thread count at once. */
void cli_parse(int argc, char **argv, int first, cli_opt *opts, int nopts, const char *usage,
               cli_common *common);

/* Exits 2 when flag `flag` was given but does not apply (applies == 0),
 * saying it is only for `where`. */
void cli_only(const char *cmd, const cli_opt *opts, int nopts, const char *flag, int applies,
              const char *where);
/* Value of flag `name` (NULL when absent). */
const char *cli_get(const cli_opt *opts, int nopts, const char *name);
/* Parses a number / non-negative number / integer / comma list of numbers,
 * exiting 2 with a message naming the flag when the text is not one.
 * Decimal only: hex ("0x1"), "inf", "nan" and the integer "-0" are refused. */
double cli_number(const char *cmd, const char *flag, const char *text);
double cli_nonneg(const char *cmd, const char *flag, const char *text);
int cli_int(const char *cmd, const char *flag, const char *text, int lo, int hi);
int cli_number_list(const char *cmd, const char *flag, const char *text, double *out, int max);

/* Progress line on stderr (iteration, objective, norm, elapsed), unless --quiet. */
void cli_progress(const cli_common *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Seconds since an arbitrary origin (monotonic). */
double cli_now(void);

/* Output files (cli_files.c): none is ever left partial. */
/* Creates folder `dir` (and parents) and the run's scratch folder in it,
 * removed at exit and on SIGINT/SIGTERM/SIGHUP; exits 2 when it cannot. */
void cli_mkdir(const char *cmd, const char *dir);
/* Opens the output file DIR/NAME, written as SCRATCH/NAME.tmp (path in
 * tmp_path); cli_commit closes it and renames it to DIR/NAME, so no partial
 * output file is ever left under the final name. Exits 1 when it cannot. */
FILE *cli_open_tmp(const char *cmd, const char *dir, const char *name, char *tmp_path, size_t len);
void cli_commit(const char *cmd, FILE *f, const char *tmp_path);
/* Opens the scratch file SCRATCH/NAME (path in path): removed at exit, or
 * earlier by cli_scratch_remove. */
FILE *cli_open_scratch(const char *cmd, const char *name, char *path, size_t len);
void cli_scratch_remove(const char *path);
/* Opens the gnuplot script of plot OUT/PNG_NAME in the scratch folder (path
 * in gp) with its terminal (pngcairo, width x height) and output lines. */
FILE *cli_plot_open(const cli_common *c, const char *png_name, int width, int height, char *gp,
                    size_t len);
/* Closes the script, runs gnuplot on it and renames the PNG into OUT;
 * removes the script and, when data is non-NULL, that scratch data file.
 * Returns 1 when the PNG was written, else warns on stderr and returns 0
 * (a missing plot does not fail the run). */
int cli_gnuplot(const cli_common *c, FILE *script, const char *gp, const char *png_name,
                const char *data);

/* Writes x as a JSON number (null when not finite). */
void cli_json_number(FILE *f, double x);
/* The name of a status in JSON, CSV and warnings: "ok", "not-converged",
 * "nonconvex", "nonfinite", else "failed". */
const char *cli_status_name(bl_status st);
/* Euclidean norm of a (n entries). */
double cli_norm(const double *a, int n);
/* Parses --problems (NULL: both): a comma list of lstsq, logreg; exits 2
 * on anything else. */
void cli_problem_list(const char *cmd, const char *text, int *do_lstsq, int *do_logreg);
/* ------------------------------------------------------ rounding floor */

/* Safety factor C of the rounding floor (cli_floor.c). With C = 1 the largest
 * true error / (bound + floor) of `bounds --problems lstsq` over seeds 1-5 and
 * sizes 50x3 (m 3), 200x5 (m 20), 30x10 (m 2) was 0.11; 2 leaves a margin. */
#define CLI_FLOOR_C 2.0

/* What the rounding floor of one `bounds` row depends on (norms). */
typedef struct cli_floor_in {
    double theta_norm;  /* ‖θ_N‖ */
    double grad0_norm;  /* ‖∇_θG(θ_0 = 0)‖ */
    double gF_norm;     /* ‖∇_θF(θ_N)‖ */
    double gFl_norm;    /* ‖∇_λF(θ_N)‖ */
    double q_norm;      /* ‖q_k‖ */
    double B_norm;      /* the bound on ‖B‖ at θ_N */
    double truth_norm;  /* ‖reference hypergradient‖ */
} cli_floor_in;

/* The rounding floor of a row (definition in cli_floor.c and README, CLI
 * reference): what no bound stated in exact arithmetic can resolve. NaN
 * for bad constants. */
double cli_rounding_floor(const bl_constants *k, const cli_floor_in *in);
/* 1 when true error err is within bound + floor (0 for NaN). */
int cli_bound_holds(double err, double bound, double floor);

/* ------------------------------------------------------------ problems */

/* A problem the subcommands can run on, with its data, default λ and,
 * where one exists, a closed-form truth. */
typedef struct cli_problem {
    char kind[16];        /* "logreg", "lstsq", "ridge", "cleaning" */
    char label[128];      /* human-readable description */
    char data[48];        /* cleaning: "Fashion-MNIST" or "your data (C classes x D features),", for labels */
    bl_problem pb;
    double *lambda;       /* m: the λ to evaluate at */
    void *model;
    ds_set train, val, test;
    unsigned char *corrupted; /* cleaning: train.n flags, 1 where the training label differs
                                 from the file's (a uniform redraw that kept its class is 0) */
    /* closed-form hypergradient at λ (NULL: use the exact solve) */
    bl_status (*truth)(const struct cli_problem *cp, const double *lambda, double *hg,
                       char *msg, size_t len);
} cli_problem;

/* Flags understood by cli_problem_setup (add them to a subcommand's table). */
#define CLI_PROBLEM_OPTS                                                                  \
    {"problem", 1, "logreg | lstsq | ridge | cleaning (default logreg)", NULL, 0},        \
    {"train", 1, "training samples: LIBSVM or .csv/.tsv file, .gz too (logreg, ridge); cleaning: " \
                 "a LIBSVM multiclass FILE or IMAGES,LABELS (an IDX pair)", NULL, 0},     \
    {"val", 1, "validation samples: the formats of --train", NULL, 0},                    \
    {"max-line-bytes", 1, "longest LIBSVM/CSV line accepted (default 67108864 = 64 MiB)", NULL, 0}, \
    {"label-col", 1, "CSV/TSV label column: header NAME or 0-based INDEX (-1 = last; default: "  \
                     "the column named label/y/target/class, else the last)", NULL, 0},   \
    {"synthetic", 1, "ijcnn1: the IJCNN1-shaped generator instead of --train/--val (logreg, " \
                     "ridge; 49,990 train / 91,701 val x 22 unless --n-train/--n-val)", NULL, 0}, \
    {"reg", 1, "scalar | per-feature (logreg; default scalar)", NULL, 0},                 \
    {"lambda", 1, "V[,V...]: the outer point (one value: every entry)", NULL, 0},         \
    {"intercept", 2, "logreg: free | ridge=V: an unpenalised b or +V/2 b^2 (bare: ridge=0.01)", NULL, 0}, \
    {"rows", 1, "lstsq: rows of A, C, D (default 1000)", NULL, 0},                        \
    {"p", 1, "lstsq: size of x (default 10)", NULL, 0},                                   \
    {"m", 1, "lstsq: size of w (default 10)", NULL, 0},                                   \
    {"fashion-dir", 1, "Fashion-MNIST IDX folder (default /usr/share/datasets/fashion-mnist)", NULL, 0}, \
    {"n-train", 1, "training samples (Fashion-MNIST logreg pair / cleaning; cleaning files: " \
                   "a seeded subset, default all)", NULL, 0},                             \
    {"n-val", 1, "validation samples (the same)", NULL, 0},                               \
    {"corrupt", 1, "cleaning: fraction of corrupted labels in [0, 0.9] (default 0.1)", NULL, 0}, \
    {"corrupt-mode", 1, "cleaning: uniform | other, with an exact fraction --corrupt "     \
                        "(default: other, each label with probability --corrupt)", NULL, 0}, \
    {"ridge", 1, "cleaning: r in (r/2)||W||^2 (default 0.002)", NULL, 0}

/* The value of --intercept (text: NULL = absent, "" = bare) for logreg:
 * *intercept = 0 (absent) or 1, *free_b = 1 for "free", *ridge = V of
 * "ridge=V" (V > 0, finite; bare: 0.01). Exits 2 naming --intercept on any
 * other value. */
void cli_intercept(const char *cmd, const char *text, int *intercept, int *free_b, double *ridge);
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
/* Hypercleaning's --corrupt (default 0.1; 0 ≤ p ≤ 0.9, else exit 2 naming
 * --corrupt) and --corrupt-mode (uniform | other; absent: other, with each
 * label selected with probability p; given: exactly round(p·n) labels,
 * hc_corrupt_labels_mode). */
void cli_cleaning_corruption(const cli_common *c, const cli_opt *opts, int nopts, double *prob,
                             int *mode, int *exact);
/* Hypercleaning's data from the flags into cp->train, val, test (cp is
 * reset): the user's files when --train/--val (and --test) are given, each
 * FILE (LIBSVM multiclass) or IMAGES,LABELS (an IDX pair, raw or gzip),
 * with one class map learnt from the training file (hypertape/models/multiclass.h),
 * all of the files' samples unless --n-train/--n-val ask fewer (a seeded
 * subset); else Fashion-MNIST from --fashion-dir: def_train + def_val
 * samples (--n-train/--n-val) of its training file and, fashion_test ≠ 0,
 * its test file. Exits 2 on bad or ambiguous flags and bad files. */
void cli_cleaning_data(const cli_common *c, const cli_opt *opts, int nopts, int def_train,
                       int def_val, int fashion_test, cli_problem *cp);
/* Corrupts cp->train's labels (cp->corrupted records the changed ones),
 * builds the hypercleaning model with ridge r (= μ) and sets λ = 0. */
void cli_cleaning_build(const cli_common *c, cli_problem *cp, double corrupt, int mode, int exact,
                        double r);
/* The least-squares test problem (closed-form truth). */
void cli_problem_lstsq(const cli_common *c, int rows, int p, int m, cli_problem *cp);
/* Exits 2 naming --lambda (its text: `text`) when G(0, λ), ∇_θG(0, λ) or
 * the problem's constants are not finite at cp->lambda but are at λ = 0
 * (cli.c); non-finite data are left to the run, which reports them. */
void cli_check_lambda(const cli_common *c, const cli_problem *cp, const char *text);
/* Frees what cli_problem_setup allocated. */
void cli_problem_free(cli_problem *cp);
/* The reference hypergradient: closed form if any, else `exact` with
 * tight tolerances. Returns its status; msg says why on failure. */
bl_status cli_problem_truth(const cli_problem *cp, double *hg, char *msg, size_t len);

/* Subcommands. */
int cmd_hypergrad(int argc, char **argv);
int cmd_compare(int argc, char **argv);
int cmd_bounds(int argc, char **argv);
/* `hypertape deq` (cmd_deq.c): the DEQ classifier and its backward passes. */
int cmd_deq(int argc, char **argv);
/* `hypertape tune` (cmd_tune.c): outer algorithms solving for lambda. */
int cmd_tune(int argc, char **argv);
/* `hypertape bounds --cleaning` (cmd_cleaning.c): the hypercleaning grid,
 * with the flags cmd_bounds parsed. */
int cmd_bounds_cleaning(const cli_common *c, const cli_opt *opts, int nopts);

#endif
