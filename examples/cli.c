/*
 * examples/cli.c — flag parsing, one-line errors, progress, output files.
 */
#include "cli.h"

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
        printf("  --%-14s %s %s\n", opts[k].name, opts[k].takes_value ? "V" : " ", opts[k].help);
    printf("  --%-14s   %s\n  --%-14s   %s\n  --%-14s V %s\n  --%-14s V %s\n", "help",
           "this text", "quiet", "no progress on stderr", "seed", "random seed (default 1)", "out",
           "output folder (default out/<command>)");
}

static cli_opt *find(cli_opt *opts, int nopts, const char *name, size_t len)
{
    for (int k = 0; k < nopts; k++)
        if (strlen(opts[k].name) == len && !strncmp(opts[k].name, name, len))
            return &opts[k];
    return NULL;
}

void cli_parse(int argc, char **argv, int first, cli_opt *opts, int nopts, const char *usage,
               cli_common *c)
{
    static char outbuf[256];
    c->quiet = 0;
    c->seed = 1;
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
        if (len == 5 && !strncmp(name, "quiet", 5)) {
            c->quiet = 1;
            continue;
        }
        int common_val = (len == 4 && !strncmp(name, "seed", 4)) || (len == 3 && !strncmp(name, "out", 3));
        cli_opt *o = common_val ? NULL : find(opts, nopts, name, len);
        if (!common_val && !o)
            cli_fail(c->cmd, "unknown option '--%.*s' (see --help)", (int)len, name);
        if (common_val || o->takes_value) {
            if (!val && a + 1 < argc)
                val = argv[++a];
            if (!val || !*val)
                cli_fail(c->cmd, "option '--%.*s' needs a value", (int)len, name);
        } else if (val) {
            cli_fail(c->cmd, "option '--%.*s' takes no value", (int)len, name);
        }
        if (common_val && name[0] == 's') {
            char *end;
            errno = 0;
            unsigned long long s = strtoull(val, &end, 10);
            if (errno || *end || val[0] == '-')
                cli_fail(c->cmd, "--seed needs a non-negative integer, got '%s'", val);
            c->seed = s;
        } else if (common_val) {
            c->out = val;
        } else {
            o->value = val ? val : "1";
            o->seen = 1;
        }
    }
}

const char *cli_get(const cli_opt *opts, int nopts, const char *name)
{
    for (int k = 0; k < nopts; k++)
        if (!strcmp(opts[k].name, name))
            return opts[k].value;
    return NULL;
}

double cli_number(const char *cmd, const char *flag, const char *text)
{
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (errno || end == text || *end || !isfinite(v))
        cli_fail(cmd, "--%s needs a finite number, got '%s'", flag, text);
    return v;
}

int cli_int(const char *cmd, const char *flag, const char *text, int lo, int hi)
{
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno || end == text || *end || v < lo || v > hi)
        cli_fail(cmd, "--%s needs an integer in [%d, %d], got '%s'", flag, lo, hi, text);
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
        if (errno || end == s || !isfinite(v) || (*end && *end != ','))
            cli_fail(cmd, "--%s needs numbers separated by commas, got '%s'", flag, text);
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
