/*
 * tests/examples/lib_hypergrad.c — the library call behind
 * `hypertape hypergrad --problem logreg`, made directly: reads the LIBSVM
 * pair (held dense when at least half stored, as the CLI does), builds the
 * logistic-regression problem and prints bl_hypergrad's
 * result one value a line as %.17g. Used by cli_agree.py.
 *   lib_hypergrad TRAIN VAL scalar|per-feature METHOD V[,V...] [ITERS]
 */
#include <hypertape/bilevel.h>
#include <hypertape/models/data.h>
#include <hypertape/models/logreg.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc < 6) {
        fprintf(stderr, "usage: lib_hypergrad TRAIN VAL REG METHOD LAMBDAS [ITERS]\n");
        return 2;
    }
    char msg[512];
    ds_set tr = {0}, va = {0};
    if (ds_read_libsvm(argv[1], 0, &tr, msg, sizeof msg) != BL_OK ||
        ds_read_libsvm(argv[2], 0, &va, msg, sizeof msg) != BL_OK) {
        fprintf(stderr, "%s\n", msg);
        return 1;
    }
    int d = tr.d > va.d ? tr.d : va.d;
    tr.d = va.d = d;
    /* The CLI's storage rule (README, "Data files"): a set with at least
     * half of its n·d entries stored is held dense. */
    ds_set *sets[2] = {&tr, &va};
    for (int k = 0; k < 2; k++) {
        if (2 * ds_nnz(sets[k]) >= (int64_t)sets[k]->n * sets[k]->d &&
            ds_densify(sets[k], msg, sizeof msg) != BL_OK) {
            fprintf(stderr, "%s\n", msg);
            return 1;
        }
        ds_seal(sets[k]); /* still CSR: a token for the widened header */
    }
    lr_opts lo = {strcmp(argv[3], "per-feature") ? LR_SCALAR : LR_PER_FEATURE, 0, 0};
    lr_model *model;
    if (lr_model_new(&tr, &va, &lo, &model, msg, sizeof msg) != BL_OK) {
        fprintf(stderr, "%s\n", msg);
        return 1;
    }
    bl_problem pb = lr_problem(model);
    bl_hg_opts o = {.inner_tol = 1e-11}; /* the CLI's default */
    if (bl_method_from_name(argv[4], &o.method) != BL_OK) {
        fprintf(stderr, "unknown method %s\n", argv[4]);
        return 2;
    }
    if (o.method <= BL_INEXACT_AD)
        o.inner_tol = 0; /* as the CLI: the unroll family runs exactly K steps */
    if (argc > 6)
        o.inner_iters = atoi(argv[6]);
    double *lambda = malloc((size_t)pb.m * sizeof(double)), *hg = calloc((size_t)pb.m, sizeof(double));
    int n = 0;
    for (char *s = argv[5], *end;; s = end + 1) {
        double v = strtod(s, &end);
        for (int j = (n == 0 ? 0 : n); j < pb.m; j++)
            lambda[j] = v; /* one value fills every entry */
        n++;
        if (*end != ',')
            break;
    }
    bl_diag diag;
    bl_status st = bl_hypergrad(&pb, lambda, &o, hg, &diag, msg, sizeof msg);
    if (st != BL_OK) {
        fprintf(stderr, "bl_hypergrad: %s\n", msg);
        return 1;
    }
    for (int j = 0; j < pb.m; j++)
        printf("%.17g\n", hg[j]);
    free(lambda);
    free(hg);
    lr_model_free(model);
    ds_set_free(&tr);
    ds_set_free(&va);
    return 0;
}
