/*
 * tests/bench_bilevel/bench_bl_memory.c — unrolling memory: the lean
 * `unroll` (stored iterates + one step's tape, reused) against
 * `unroll-generic` (every inner step recorded as ad ops, create-graph) at
 * K = 100 and K = 1000 GD steps, on the problem of bbl_problem.h.
 *
 * Usage: bench_bl_memory [N_SMALL [N_FULL]]   (2000 49990)
 *
 * Both methods at both K run on the small data set (N_SMALL × 22 training,
 * N_SMALL validation), because unroll-generic's tape grows like K tapes of
 * G and ∇G: at IJCNN1's size K = 1000 would need gigabytes. On the full
 * data set (N_FULL × 22, 20000 validation) both run at K = 100 and lean
 * unroll also at K = 1000; generic's K = 1000 need is extrapolated from its
 * K = 100 bytes per step. Printed: peak tape bytes and stored_doubles from
 * bl_diag, the ratios generic / lean, seconds, and the agreement of the two
 * hypergradients. Nothing is asserted.
 */
#include "bbl_problem.h"

typedef struct meas {
    double seconds;
    size_t peak, stored;
    double *hg;
} meas;

static meas run(const bl_problem *pb, const double *lambda, bl_method m, int K)
{
    meas r = {0, 0, 0, bbl_alloc((size_t)pb->m * sizeof(double))};
    bl_hg_opts o = {.method = m, .inner_iters = K};
    bl_diag d;
    bbl_run(pb, lambda, &o, r.hg, &d, 0);
    r.seconds = d.seconds;
    r.peak = d.peak_tape_bytes;
    r.stored = d.stored_doubles;
    return r;
}

static void line(const char *what, const meas *r)
{
    printf("  %-16s peak tape %12zu B (%9.2f MiB)  stored_doubles %10zu (%9.2f MiB)  %8.3f s\n", what,
           r->peak, bbl_mib(r->peak), r->stored, bbl_mib(r->stored * sizeof(double)), r->seconds);
}

static void compare(const char *label, const bl_problem *pb, const double *lambda, int K, int with_generic,
                    double *generic_bytes_per_step)
{
    printf("%s, K = %d:\n", label, K);
    meas lean = run(pb, lambda, BL_UNROLL, K);
    line("unroll (lean)", &lean);
    if (!with_generic) {
        free(lean.hg);
        return;
    }
    meas gen = run(pb, lambda, BL_UNROLL_GENERIC, K);
    line("unroll-generic", &gen);
    /* lean keeps its iterates outside the tape: count both */
    double lean_total = (double)lean.peak + (double)lean.stored * sizeof(double);
    printf("  ratio generic / lean: peak tape %.1f, stored_doubles %.1f, total bytes (lean: tape + iterates) %.1f, "
           "time %.2f; hypergradients differ by %.1e (relative)\n",
           (double)gen.peak / (double)lean.peak, (double)gen.stored / (double)lean.stored,
           (double)gen.peak / lean_total, gen.seconds / lean.seconds, bbl_relerr(gen.hg, lean.hg, pb->m));
    if (generic_bytes_per_step)
        *generic_bytes_per_step = (double)gen.peak / K;
    free(lean.hg);
    free(gen.hg);
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    bbl_threads();
    int ns = argc > 1 ? atoi(argv[1]) : 2000, nf = argc > 2 ? atoi(argv[2]) : 49990;
    if (ns < 10 || nf < 0) {
        fprintf(stderr, "usage: bench_bl_memory [N_SMALL [N_FULL]]\n");
        return 1;
    }
    double t0 = bbl_now();
    bbl_data small;
    bbl_data_init(&small, ns, ns, 22, BBL_SEED);
    bl_problem pbs = bbl_problem_of(&small);
    double lambda[22];
    bbl_lambda(22, lambda);
    bbl_header("bl_unroll_memory", &small, &pbs, lambda);
    bbl_units us = bbl_unit_costs(&pbs, lambda, 5);
    printf("small set: one gradient's tape %zu B, one point + Hv %zu B, a gradient on top of a held point %zu B "
           "(lean unroll's peak includes the diagnostics' gradient recorded on top of its last point)\n",
           us.grad_peak, us.point_peak, us.stack_peak);
    printf("small data set %d x 22 (validation %d x 22) for unroll-generic at K = 1000: its tape holds every step\n",
           ns, ns);
    char label[96];
    snprintf(label, sizeof label, "small (%d x 22)", ns);
    compare(label, &pbs, lambda, 100, 1, NULL);
    compare(label, &pbs, lambda, 1000, 1, NULL);
    bbl_data_free(&small);

    if (nf > 0) {
        bbl_data full;
        bbl_data_init(&full, nf, 20000, 22, BBL_SEED);
        bl_problem pbf = bbl_problem_of(&full);
        double per_step = 0;
        bbl_units uf = bbl_unit_costs(&pbf, lambda, 3);
        printf("full set: one gradient's tape %zu B, one point + Hv %zu B, a gradient on top of a held point %zu B\n",
               uf.grad_peak, uf.point_peak, uf.stack_peak);
        snprintf(label, sizeof label, "full (%d x 22, validation 20000)", nf);
        compare(label, &pbf, lambda, 100, 1, &per_step);
        compare(label, &pbf, lambda, 1000, 0, NULL);
        printf("  unroll-generic at K = 1000 not run on the full set: ~%.2f GiB of tape by its K = 100 bytes per step "
               "(%.2f MiB/step)\n",
               1000 * per_step / (1024.0 * 1024.0 * 1024.0), bbl_mib((size_t)per_step));
        bbl_data_free(&full);
    }
    printf("total wall time %.1f s\n", bbl_now() - t0);
    return 0;
}
