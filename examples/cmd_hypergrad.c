/*
 * examples/cmd_hypergrad.c — `hypertape hypergrad`: one hypergradient with
 * its diagnostics, as a table or (--json) as exactly one JSON object:
 *   {"method", "hypergradient", "outer_value", "inner_grad_norm",
 *    "linear_residual", "bound_a_posteriori", "bound_certified",
 *    "counts": {"grad", "hvp", "cross"}, "seconds", "peak_tape_bytes"}
 */
#include "cli.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: hypertape hypergrad --problem logreg --train FILE --val FILE --reg scalar|per-feature\n"
    "           --lambda V[,V...] --method METHOD [--inner-tol E] [--linear-tol D] [--iters K]\n"
    "           [--truncate T] [--snapshots S] [--inner gd|hb|nesterov|lbfgs|newton-cg] [--json]\n"
    "       also --problem lstsq|ridge|cleaning with their own options.\n"
    "METHOD: unroll, unroll-generic, unroll-truncated, unroll-checkpointed, unroll-forward,\n"
    "        inexact-ad, ift-cg, ift-gd, ift-hb, ift-neumann, ift-identity, shine, shine-opa,\n"
    "        shine-refine, exact";

static void print_json(FILE *f, const bl_diag *d, const double *hg, int m)
{
    fprintf(f, "{\"method\": \"%s\", \"hypergradient\": [", bl_method_name(d->method));
    for (int j = 0; j < m; j++) {
        if (j)
            fputs(", ", f);
        cli_json_number(f, hg[j]);
    }
    fputs("], \"outer_value\": ", f);
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

static void print_table(const cli_problem *cp, const bl_diag *d, const double *hg)
{
    int m = cp->pb.m;
    printf("problem          %s\nmethod           %s\n", cp->label, bl_method_name(d->method));
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
    printf("counts           grad %ld  hvp %ld  cross %ld\n", d->counts.grad, d->counts.hvp,
           d->counts.cross);
    printf("seconds          %.4f\npeak tape bytes  %zu\n", d->seconds, d->peak_tape_bytes);
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
    cli_common c = {"hypergrad", 0, 1, NULL};
    cli_parse(argc, argv, 2, opts, n, usage, &c);
    bl_hg_opts o = {.method = BL_IFT_CG, .inner_tol = 1e-11};
    const char *v;
    if ((v = cli_get(opts, n, "method")) && bl_method_from_name(v, &o.method) != BL_OK)
        cli_fail(c.cmd, "unknown --method '%s' (see --help)", v);
    if ((v = cli_get(opts, n, "inner")) && !(o.inner = bl_inner_type_from_name(v)))
        cli_fail(c.cmd, "unknown --inner '%s' (gd, hb, nesterov, lbfgs, newton-cg)", v);
    if (o.method <= BL_INEXACT_AD)
        o.inner_tol = 0; /* the unroll family runs exactly K steps */
    if ((v = cli_get(opts, n, "inner-tol")))
        o.inner_tol = cli_number(c.cmd, "inner-tol", v);
    if ((v = cli_get(opts, n, "linear-tol")))
        o.linear_tol = cli_number(c.cmd, "linear-tol", v);
    if ((v = cli_get(opts, n, "iters")))
        o.inner_iters = cli_int(c.cmd, "iters", v, 1, 100000000);
    if ((v = cli_get(opts, n, "truncate")))
        o.truncate = cli_int(c.cmd, "truncate", v, 1, 100000000);
    if ((v = cli_get(opts, n, "snapshots")))
        o.snapshots = cli_int(c.cmd, "snapshots", v, 1, 100000);
    cli_problem cp;
    cli_problem_setup(&c, opts, n, &cp);
    double *hg = calloc((size_t)cp.pb.m, sizeof(double));
    if (!hg)
        cli_fail_run(c.cmd, "out of memory");
    bl_diag d;
    char msg[512];
    cli_progress(&c, "%s on %s", bl_method_name(o.method), cp.label);
    bl_status st = bl_hypergrad(&cp.pb, cp.lambda, &o, hg, &d, msg, sizeof msg);
    if (st != BL_OK && st != BL_ENONCONVEX)
        cli_fail_run(c.cmd, "%s", msg);
    if (st == BL_ENONCONVEX)
        fprintf(stderr, "hypertape hypergrad: warning: %s\n", msg);
    if (cli_get(opts, n, "json"))
        print_json(stdout, &d, hg, cp.pb.m);
    else
        print_table(&cp, &d, hg);
    free(hg);
    cli_problem_free(&cp);
    return st == BL_OK ? 0 : 1;
}
