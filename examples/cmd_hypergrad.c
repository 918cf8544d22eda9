/*
 * examples/cmd_hypergrad.c — `hypertape hypergrad`: one hypergradient with
 * its diagnostics, as a table or (--json) as exactly one JSON object:
 *   {"method", "status", "inner_stop", "linear_stop", "hypergradient" (null: none),
 *    "outer_value", "inner_grad_norm", "linear_residual", "bound_a_posteriori",
 *    "bound_certified", "counts": {"grad", "hvp", "cross"}, "seconds",
 *    "peak_tape_bytes"}
 * Exit status (README, CLI reference): 0 BL_OK; 2 bad input; 3 a result was
 * produced but did not converge or a check failed (a one-line warning on
 * stderr, also with --quiet); 1 a failure with no result.
 */
#include "cli.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char usage_head[] =
    "usage: hypertape hypergrad --problem logreg --train FILE --val FILE --reg scalar|per-feature\n"
    "           [--intercept [free|ridge=V]] --lambda V[,V...] --method METHOD [--inner-tol E]\n"
    "           [--linear-tol D] [--iters K] [--truncate T] [--snapshots S]\n"
    "           [--inner gd|hb|nesterov|lbfgs|newton-cg] [--json]\n"
    "       also --problem lstsq|ridge|cleaning with their own options; cleaning on your data:\n"
    "           --problem cleaning --train F --val F (F: LIBSVM multiclass, or IMAGES,LABELS IDX)\n"
    "METHOD: ";

/* The usage text with the library's method list (one list: the table). */
static const char *usage_text(char *buf, size_t len)
{
    size_t h = strlen(usage_head);
    snprintf(buf, len, "%s", usage_head);
    if (h < len)
        bl_method_list(buf + h, len - h, ", ");
    return buf;
}


static void print_stop(FILE *f, const char *key, bl_stop s)
{
    if (s == BL_STOP_NONE)
        fprintf(f, ", \"%s\": null", key);
    else
        fprintf(f, ", \"%s\": \"%s\"", key, bl_stop_name(s));
}

static void print_json(FILE *f, bl_status st, const bl_diag *d, const double *hg, int m)
{
    fprintf(f, "{\"method\": \"%s\", \"status\": \"%s\"", bl_method_name(d->method),
            cli_status_name(st));
    print_stop(f, "inner_stop", d->inner_stop);
    print_stop(f, "linear_stop", d->linear_stop);
    if (!hg) { /* no result (a non-finite iterate) */
        fputs(", \"hypergradient\": null", f);
    } else {
        fputs(", \"hypergradient\": [", f);
        for (int j = 0; j < m; j++)
            fprintf(f, j ? ", " : ""), cli_json_number(f, hg[j]);
        fputs("]", f);
    }
    fputs(", \"outer_value\": ", f);
    cli_json_number(f, d->outer_value);
    fputs(", \"inner_grad_norm\": ", f);
    cli_json_number(f, d->inner_grad_norm);
    fputs(", \"linear_residual\": ", f);
    cli_json_number(f, d->linear_residual);
    fputs(", \"bound_a_posteriori\": ", f);
    cli_json_number(f, d->bound_a_posteriori);
    fprintf(f, ", \"bound_certified\": %s, \"counts\": {\"grad\": %ld, \"hvp\": %ld, \"cross\": %ld}, ",
            d->bound_certified && isfinite(d->bound_a_posteriori) ? "true" : "false",
            d->counts.grad, d->counts.hvp, d->counts.cross);
    fputs("\"seconds\": ", f);
    cli_json_number(f, d->seconds);
    fprintf(f, ", \"peak_tape_bytes\": %zu}\n", d->peak_tape_bytes);
}

static void print_table(const cli_problem *cp, bl_status st, const bl_diag *d, const double *hg)
{
    int m = cp->pb.m;
    printf("problem          %s\nmethod           %s\nstatus           %s\n", cp->label,
           bl_method_name(d->method), cli_status_name(st));
    printf("hypergradient   ");
    for (int j = 0; j < m && j < 8; j++)
        printf(" % .10e", hg[j]);
    printf(m > 8 ? " ... (%d entries)\n" : "\n", m);
    printf("outer value      %.12g\ninner grad norm  %.3e (%d iterations, %s)\n", d->outer_value,
           d->inner_grad_norm, d->inner_iters, bl_stop_name(d->inner_stop));
    if (isfinite(d->unroll_gap))
        printf("linear residual  %.3e (of the equivalent iterate q_u; unroll gap %.3e)\n",
               d->linear_residual, d->unroll_gap);
    else if (isfinite(d->linear_residual))
        printf("linear residual  %.3e (%d iterations, %s)\n", d->linear_residual, d->linear_iters,
               bl_stop_name(d->linear_stop));
    if (isfinite(d->bound_a_posteriori))
        printf("error bound      %.3e (a posteriori, %s)\n", d->bound_a_posteriori,
               d->bound_certified ? "certified" : "estimated");
    if (isfinite(d->bound_a_priori))
        printf("a-priori bound   %.3e (from the iteration counts, %s)\n", d->bound_a_priori,
               d->a_priori_certified ? "certified" : "not certified");
    printf("counts           grad %ld  hvp %ld  cross %ld  samples %ld\n", d->counts.grad,
           d->counts.hvp, d->counts.cross, d->counts.samples);
    if (d->steps_estimated)
        printf("steps            %s%s%s from estimated constants (the problem gives none)\n",
               d->steps_estimated & 1 ? "inner" : "", d->steps_estimated == 3 ? " and " : "",
               d->steps_estimated & 2 ? "linear" : "");
    printf("seconds          %.4f\npeak tape bytes  %zu\n", d->seconds, d->peak_tape_bytes);
}

/* 1 when the method runs a linear solve that --linear-tol stops. */
static int has_linear_solve(bl_method m)
{
    return m == BL_IFT_CG || m == BL_IFT_GD || m == BL_IFT_HB || m == BL_IFT_NEUMANN ||
           m == BL_SHINE_REFINE;
}

/* Exits 2 on a flag that neither the method nor the problem uses. */
static void check_applies(const cli_common *c, const cli_opt *opts, int n, bl_method m)
{
    const char *kind = cli_get(opts, n, "problem");
    kind = kind ? kind : "logreg";
    int files = !strcmp(kind, "logreg") || !strcmp(kind, "ridge") || !strcmp(kind, "cleaning");
    int lstsq = !strcmp(kind, "lstsq"), cleaning = !strcmp(kind, "cleaning");
    cli_only(c->cmd, opts, n, "truncate", m == BL_UNROLL_TRUNCATED, "--method unroll-truncated");
    cli_only(c->cmd, opts, n, "snapshots", m == BL_UNROLL_CHECKPOINTED, "--method unroll-checkpointed");
    cli_only(c->cmd, opts, n, "linear-tol", has_linear_solve(m),
             "methods with a linear solve: ift-cg, ift-gd, ift-hb, ift-neumann, shine-refine");
    cli_only(c->cmd, opts, n, "train", files, "--problem logreg, ridge or cleaning");
    cli_only(c->cmd, opts, n, "val", files, "--problem logreg, ridge or cleaning");
    cli_only(c->cmd, opts, n, "reg", !strcmp(kind, "logreg"), "--problem logreg");
    cli_only(c->cmd, opts, n, "intercept", !strcmp(kind, "logreg"), "--problem logreg");
    static const char *const lsq_flags[] = {"rows", "p", "m"};
    for (int k = 0; k < 3; k++)
        cli_only(c->cmd, opts, n, lsq_flags[k], lstsq, "--problem lstsq");
    static const char *const hc_flags[] = {"fashion-dir", "n-train", "n-val", "corrupt", "ridge",
                                           "corrupt-mode"};
    int synth = cli_get(opts, n, "synthetic") != NULL; /* --n-train/--n-val size it */
    for (int k = 0; k < 6; k++)
        cli_only(c->cmd, opts, n, hc_flags[k], cleaning || (synth && k >= 1 && k <= 2),
                 k >= 1 && k <= 2 ? "--problem cleaning or --synthetic" : "--problem cleaning");
}

int cmd_hypergrad(int argc, char **argv)
{
    cli_opt opts[] = {
        CLI_PROBLEM_OPTS,
        {"method", 1, "estimator (see above; default ift-cg)", NULL, 0},
        {"inner", 1, "inner solver (default gd for unroll*/inexact-ad, else lbfgs)", NULL, 0},
        {"inner-tol", 1, "stop the inner solve at ||grad_theta G|| <= E (default 1e-11)", NULL, 0},
        {"linear-tol", 1, "stop the linear solve at ||Hq - grad_theta F|| <= D", NULL, 0},
        {"iters", 1, "K: inner steps of the unroll family / inexact-ad, cap otherwise", NULL, 0},
        {"truncate", 1, "T of unroll-truncated", NULL, 0},
        {"snapshots", 1, "s of unroll-checkpointed (default 10)", NULL, 0},
        {"json", 0, "print one JSON object on stdout", NULL, 0},
    };
    int n = sizeof opts / sizeof opts[0];
    cli_common c = {"hypergrad", 0, 1, NULL, 0};
    char usage[2048];
    cli_parse(argc, argv, 2, opts, n, usage_text(usage, sizeof usage), &c);
    bl_hg_opts o = {.method = BL_IFT_CG, .inner_tol = 1e-11};
    const char *v;
    if ((v = cli_get(opts, n, "method")) && bl_method_from_name(v, &o.method) != BL_OK)
        cli_fail(c.cmd, "unknown --method '%s' (see --help)", v);
    if ((v = cli_get(opts, n, "inner")) && !(o.inner = bl_inner_type_from_name(v)))
        cli_fail(c.cmd, "unknown --inner '%s' (gd, hb, nesterov, lbfgs, newton-cg)", v);
    if (bl_method_is_unroll(o.method))
        o.inner_tol = 0; /* the unroll family runs exactly K steps */
    if ((v = cli_get(opts, n, "inner-tol")))
        o.inner_tol = cli_nonneg(c.cmd, "inner-tol", v);
    if ((v = cli_get(opts, n, "linear-tol")))
        o.linear_tol = cli_nonneg(c.cmd, "linear-tol", v);
    check_applies(&c, opts, n, o.method);
    if ((v = cli_get(opts, n, "iters")))
        o.inner_iters = cli_int(c.cmd, "iters", v, 1, 100000000);
    if ((v = cli_get(opts, n, "truncate")))
        o.truncate = cli_int(c.cmd, "truncate", v, 1, 100000000);
    if ((v = cli_get(opts, n, "snapshots")))
        o.snapshots = cli_int(c.cmd, "snapshots", v, 1, 100000);
    cli_problem cp;
    cli_problem_setup(&c, opts, n, &cp);
    cli_check_lambda(&c, &cp, cli_get(opts, n, "lambda"));
    double *hg = calloc((size_t)cp.pb.m, sizeof(double));
    if (!hg)
        cli_fail_run(c.cmd, "out of memory");
    bl_diag d;
    char msg[512];
    if (bl_hg_check(&cp.pb, &o, msg, sizeof msg) == BL_EINVAL)
        cli_fail(c.cmd, "%s", msg); /* options the method cannot take: before any progress line */
    cli_progress(&c, "%s on %s", bl_method_name(o.method), cp.label);
    bl_status st = bl_hypergrad(&cp.pb, cp.lambda, &o, hg, &d, msg, sizeof msg);
    if (!d.produced && st == BL_EINVAL)
        cli_fail(c.cmd, "%s", msg); /* options the method cannot take: bad input, exit 2 */
    if (!d.produced && st == BL_ENONFINITE) {
        fprintf(stderr, "hypertape hypergrad: %s\n", msg); /* a check failed, no result */
        if (cli_get(opts, n, "json")) /* the status and stop reasons, hypergradient null */
            print_json(stdout, st, &d, NULL, cp.pb.m);
        exit(3);
    }
    if (!d.produced)
        cli_fail_run(c.cmd, "%s", msg);
    if (st != BL_OK) /* produced, but not trustworthy: say so even with --quiet */
        fprintf(stderr, "hypertape hypergrad: warning: %s: %s\n", cli_status_name(st), msg);
    if (cli_get(opts, n, "json"))
        print_json(stdout, st, &d, hg, cp.pb.m);
    else
        print_table(&cp, st, &d, hg);
    free(hg);
    cli_problem_free(&cp);
    return st == BL_OK ? 0 : 3;
}
