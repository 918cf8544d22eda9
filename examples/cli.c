/*
 * examples/cli.c — flag parsing, one-line errors, progress, output files.
 */
#include "cli.h"

#include <cblas.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static _Noreturn void vfail(int code, const char *cmd, const char *fmt, va_list ap)
{
    fprintf(stderr, "hypertape%s%s: ", cmd ? " " : "", cmd ? cmd : "");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    exit(code);
}

void cli_fail(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(2, cmd, fmt, ap);
}

void cli_fail_run(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(1, cmd, fmt, ap);
}

static void print_help(const char *usage, const cli_opt *opts, int nopts)
{
    printf("%s\n\noptions:\n", usage);
    for (int k = 0; k < nopts; k++)
        printf("  --%-14s %-3s %s\n", opts[k].name,
               opts[k].takes_value == 2 ? "[V]" : opts[k].takes_value ? "V" : " ", opts[k].help);
    printf("  --%-14s     %s\n  --%-14s     %s\n  --%-14s V   %s\n  --%-14s V   %s\n  --%-14s V   %s\n",
           "help", "this text", "quiet", "no progress on stderr (errors and warnings still print)",
           "seed", "random seed (default 1)", "out", "output folder (default out/<command>)",
           "threads", "OpenBLAS threads (default: OpenBLAS's own; pin it to reproduce a run exactly)");
}

static cli_opt *find(cli_opt *opts, int nopts, const char *name, size_t len)
{
    for (int k = 0; k < nopts; k++)
        if (strlen(opts[k].name) == len && !strncmp(opts[k].name, name, len))
            return &opts[k];
    return NULL;
}

/* The common flags: index into cli_parse's `seen` (-1: not one). */
static int common_flag(const char *name, size_t len)
{
    static const char *const names[] = {"quiet", "seed", "out", "threads"};
    for (int k = 0; k < 4; k++)
        if (strlen(names[k]) == len && !strncmp(names[k], name, len))
            return k;
    return -1;
}

void cli_parse(int argc, char **argv, int first, cli_opt *opts, int nopts, const char *usage,
               cli_common *c)
{
    static char outbuf[256];
    int seen[4] = {0};
    c->quiet = 0;
    c->seed = 1;
    c->threads = 0;
    snprintf(outbuf, sizeof outbuf, "out/%s", c->cmd);
    c->out = outbuf;
    for (int a = first; a < argc; a++) {
        const char *arg = argv[a];
        if (strncmp(arg, "--", 2) != 0)
            cli_fail(c->cmd, "unexpected argument '%s' (flags start with --; see --help)", arg);
        const char *name = arg + 2, *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        const char *val = eq ? eq + 1 : NULL;
        if (len == 4 && !strncmp(name, "help", 4)) {
            print_help(usage, opts, nopts);
            exit(0);
        }
        int com = common_flag(name, len);
        cli_opt *o = com >= 0 ? NULL : find(opts, nopts, name, len);
        if (com < 0 && !o)
            cli_fail(c->cmd, "unknown option '--%.*s' (see --help)", (int)len, name);
        if ((com >= 0 && seen[com]) || (o && o->seen))
            cli_fail(c->cmd, "option '--%.*s' is given more than once", (int)len, name);
        if (com >= 0)
            seen[com] = 1;
        if (o && o->takes_value == 2) { /* optional: --name, --name=V or --name V */
            if (!val && a + 1 < argc && strncmp(argv[a + 1], "--", 2) != 0)
                val = argv[++a];
            if (val && !*val)
                cli_fail(c->cmd, "option '--%.*s' has an empty value", (int)len, name);
        } else if (com > 0 || (o && o->takes_value)) {
            if (!val && a + 1 < argc)
                val = argv[++a];
            if (!val || !*val)
                cli_fail(c->cmd, "option '--%.*s' needs a value", (int)len, name);
        } else if (val) {
            cli_fail(c->cmd, "option '--%.*s' takes no value", (int)len, name);
        }
        if (com == 0) {
            c->quiet = 1;
        } else if (com == 1) {
            char *end;
            errno = 0;
            unsigned long long sd = strtoull(val, &end, 10);
            if (errno || *end || strspn(val, "0123456789") != strlen(val))
                cli_fail(c->cmd, "--seed needs a non-negative decimal integer, got '%s'", val);
            c->seed = sd;
        } else if (com == 2) {
            c->out = val;
        } else if (com == 3) {
            c->threads = cli_int(c->cmd, "threads", val, 1, 1024);
            openblas_set_num_threads(c->threads);
        } else {
            o->value = val ? val : o->takes_value == 2 ? "" : "1";
            o->seen = 1;
        }
    }
}

void cli_only(const char *cmd, const cli_opt *opts, int nopts, const char *flag, int applies,
              const char *where)
{
    for (int k = 0; k < nopts; k++)
        if (!strcmp(opts[k].name, flag) && opts[k].seen && !applies)
            cli_fail(cmd, "--%s does not apply here: it is only for %s", flag, where);
}

const char *cli_get(const cli_opt *opts, int nopts, const char *name)
{
    for (int k = 0; k < nopts; k++)
        if (!strcmp(opts[k].name, name))
            return opts[k].value;
    return NULL;
}

/* 1 when s..end is plain decimal: digits, one '.', an exponent; no hex,
 * no "inf"/"nan" words (strtod accepts those). */
static int decimal_syntax(const char *s, const char *end)
{
    for (const char *t = s; t < end; t++)
        if (!isdigit((unsigned char)*t) && !strchr(".eE+-", *t))
            return 0;
    return 1;
}

double cli_number(const char *cmd, const char *flag, const char *text)
{
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (errno || end == text || *end || !isfinite(v) || !decimal_syntax(text, end))
        cli_fail(cmd, "--%s needs a finite decimal number, got '%s'", flag, text);
    return v;
}

double cli_nonneg(const char *cmd, const char *flag, const char *text)
{
    double v = cli_number(cmd, flag, text);
    if (v < 0 || (v == 0 && signbit(v)))
        cli_fail(cmd, "--%s must be >= 0, got '%s'", flag, text);
    return v;
}

int cli_int(const char *cmd, const char *flag, const char *text, int lo, int hi)
{
    char *end;
    errno = 0;
    const char *digits = text[0] == '-' ? text + 1 : text;
    int plain = *digits != '\0' && strspn(digits, "0123456789") == strlen(digits) &&
                !(text[0] == '-' && strspn(digits, "0") == strlen(digits)); /* no "-0" */
    long v = plain ? strtol(text, &end, 10) : 0;
    if (!plain || errno || *end || v < lo || v > hi)
        cli_fail(cmd, "--%s needs a decimal integer in [%d, %d], got '%s'", flag, lo, hi, text);
    return (int)v;
}

int cli_number_list(const char *cmd, const char *flag, const char *text, double *out, int max)
{
    int n = 0;
    const char *s = text;
    for (;;) {
        char *end;
        errno = 0;
        double v = strtod(s, &end);
        if (errno || end == s || !isfinite(v) || (*end && *end != ',') || !decimal_syntax(s, end))
            cli_fail(cmd, "--%s needs decimal numbers separated by commas, got '%s'", flag, text);
        if (n == max)
            cli_fail(cmd, "--%s has more than %d values", flag, max);
        out[n++] = v;
        if (!*end)
            return n;
        s = end + 1;
    }
}

void cli_progress(const cli_common *c, const char *fmt, ...)
{
    if (c->quiet)
        return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "[%s] ", c->cmd);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

double cli_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

void cli_json_number(FILE *f, double x)
{
    if (isfinite(x))
        fprintf(f, "%.17g", x);
    else
        fputs("null", f);
}

double cli_norm(const double *a, int n)
{
    double s = 0;
    for (int j = 0; j < n; j++)
        s += a[j] * a[j];
    return sqrt(s);
}

void cli_problem_list(const char *cmd, const char *text, int *do_lstsq, int *do_logreg)
{
    const char *all = text ? text : "lstsq,logreg";
    *do_lstsq = *do_logreg = 0;
    for (const char *s = all;;) {
        size_t len = strcspn(s, ",");
        if (len == 5 && !strncmp(s, "lstsq", 5))
            *do_lstsq = 1;
        else if (len == 6 && !strncmp(s, "logreg", 6))
            *do_logreg = 1;
        else
            cli_fail(cmd, "--problems must be a comma list of lstsq, logreg; got '%s'", all);
        if (!s[len])
            return;
        s += len + 1;
    }
}

/* 1 when G(0, λ), ∇_θG(0, λ) and the problem's constants at λ are finite. */
static int finite_at(const cli_common *c, const cli_problem *cp, const double *lambda)
{
    const bl_problem *pb = &cp->pb;
    double *buf = calloc(2 * (size_t)pb->p, sizeof(double));
    bl_oracle *o = bl_oracle_new(pb, 0);
    if (!buf || !o)
        cli_fail_run(c->cmd, "out of memory: %zu bytes for G's gradient at lambda, or its oracle "
                     "(p = %d)", 2 * (size_t)pb->p * sizeof(double), pb->p);
    double g = NAN, *theta = buf, *grad = buf + pb->p; /* θ = 0 */
    bl_status st = bl_oracle_G(o, NULL, theta, lambda, &g, grad, NULL);
    int ok = st == BL_OK && isfinite(g) && isfinite(cli_norm(grad, pb->p));
    bl_constants k;
    if (ok && pb->constants && pb->constants(lambda, &k, pb->ctx) == BL_OK)
        ok = isfinite(k.mu) && isfinite(k.L) && k.L < 1e300;
    bl_oracle_free(o);
    free(buf);
    return ok;
}

void cli_check_lambda(const cli_common *c, const cli_problem *cp, const char *text)
{
    if (finite_at(c, cp, cp->lambda))
        return;
    double *zero = calloc((size_t)cp->pb.m, sizeof(double));
    if (!zero)
        cli_fail_run(c->cmd, "out of memory: %zu bytes for lambda = 0 (m = %d)",
                     (size_t)cp->pb.m * sizeof(double), cp->pb.m);
    int data_ok = finite_at(c, cp, zero);
    free(zero);
    if (data_ok) /* finite at λ = 0: λ is to blame (else the data are; the run reports it) */
        cli_fail(c->cmd, "--lambda %s: out of the %s problem's range (G or its constants are "
                 "not finite at lambda, finite at lambda = 0; e.g. logreg's exp(lambda) "
                 "overflows above 709)", text ? text : "(default)", cp->kind);
}

const char *cli_status_name(bl_status st)
{
    switch (st) {
    case BL_OK: return "ok";
    case BL_ENOTCONVERGED: return "not-converged";
    case BL_ENONCONVEX: return "nonconvex";
    case BL_ENONFINITE: return "nonfinite";
    default: return "failed";
    }
}
