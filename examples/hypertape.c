/*
 * examples/hypertape.c — the `hypertape` command-line tool.
 *   hypertape compare     unrolling vs implicit differentiation (the main job)
 *   hypertape hypergrad   one hypergradient, table or JSON
 *   hypertape bounds      the error-bound study and the hypercleaning grid
 *   hypertape deq         a DEQ classifier trained with each fixed-point backward pass
 *   hypertape tune        outer algorithms solving for lambda, with the evaluation hook
 */
#include "cli.h"

#include <stdio.h>
#include <string.h>

static const char usage[] =
    "usage: hypertape COMMAND [options]   (hypertape COMMAND --help for its options)\n"
    "commands:\n"
    "  compare     every estimator over a sweep of its budget: table, CSV and plots\n"
    "  hypergrad   one hypergradient with its diagnostics (--json for a stable contract)\n"
    "  bounds      true error vs a-priori and a-posteriori bounds; --cleaning: hypercleaning grid\n"
    "  deq         a DEQ classifier on Fashion-MNIST: IFT, SHINE, Jacobian-free and unroll backward\n"
    "  tune        solve for lambda with outer algorithms (HOAG, hgd, adam, bound, grid, random)\n";

int main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "compare"))
        return cmd_compare(argc, argv);
    if (!strcmp(argv[1], "hypergrad"))
        return cmd_hypergrad(argc, argv);
    if (!strcmp(argv[1], "bounds"))
        return cmd_bounds(argc, argv);
    if (!strcmp(argv[1], "deq"))
        return cmd_deq(argc, argv);
    if (!strcmp(argv[1], "tune"))
        return cmd_tune(argc, argv);
    cli_fail(NULL, "unknown command '%s' (compare, hypergrad, bounds, deq, tune; see --help)", argv[1]);
}
