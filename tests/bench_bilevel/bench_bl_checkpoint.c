/*
 * tests/bench_bilevel/bench_bl_checkpoint.c — the cost of checkpointing:
 * `unroll-checkpointed` (s snapshots, binomial schedule) against the lean
 * `unroll` (all K iterates stored) at the same K, on the problem of
 * bbl_problem.h.
 *
 * Usage: bench_bl_checkpoint [N [NV [K [S [REPS]]]]]   (49990 20000 1000 10 3)
 *
 * Printed:
 *   time ratio checkpointed / unroll (medians of REPS alternating runs;
 *     target <= 2.5) and the ratio the oracle unit costs predict from the
 *     counts;
 *   memory: stored_doubles against (s+2)·p, peak tape bytes against one
 *     step's tape (one point + one H·v);
 *   forward steps against bl_checkpoint_forward_steps(K, s) (3636 for
 *     K = 1000, s = 10);
 *   the schedule's bookkeeping beyond its own steps (split points by
 *     bisection on the closed form), timed on a tiny problem at K = 20000.
 * Nothing is asserted.
 */
#include "bbl_problem.h"

typedef struct meas {
    double seconds;
    bl_diag d;
} meas;

static meas run(const bl_problem *pb, const double *lambda, bl_method m, int K, int s, double *hg)
{
    bl_hg_opts o = {.method = m, .inner_iters = K, .snapshots = s};
    meas r;
    bbl_run(pb, lambda, &o, hg, &r.d, 0);
    r.seconds = r.d.seconds;
    return r;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    bbl_threads();
    int n = argc > 1 ? atoi(argv[1]) : 49990, nv = argc > 2 ? atoi(argv[2]) : 20000;
    int K = argc > 3 ? atoi(argv[3]) : 1000, s = argc > 4 ? atoi(argv[4]) : 10;
    int reps = argc > 5 ? atoi(argv[5]) : 3;
    if (n < 10 || nv < 10 || K < 2 || s < 2 || reps < 1 || reps > 99) {
        fprintf(stderr, "usage: bench_bl_checkpoint [N [NV [K [S [REPS]]]]]\n");
        return 1;
    }
    double t_start = bbl_now();
    bbl_data data;
    bbl_data_init(&data, n, nv, 22, BBL_SEED);
    bl_problem pb = bbl_problem_of(&data);
    int p = pb.p;
    double lambda[22], hu[22], hc[22];
    bbl_lambda(p, lambda);
    bbl_header("bl_checkpoint_cost", &data, &pb, lambda);
    bbl_units u = bbl_unit_costs(&pb, lambda, 15);
    bbl_print_units(&u);
    printf("K = %d GD steps from theta_0 = 0, s = %d snapshots (theta_0's slot included), %d alternating repetitions\n",
           K, s, reps);

    /* alternating runs: unroll, checkpointed, unroll, ... */
    double tu[99], tc[99];
    meas mu = {0}, mc = {0};
    for (int r = 0; r < reps; r++) {
        mu = run(&pb, lambda, BL_UNROLL, K, 0, hu);
        mc = run(&pb, lambda, BL_UNROLL_CHECKPOINTED, K, s, hc);
        tu[r] = mu.seconds;
        tc[r] = mc.seconds;
        printf("  rep %d: unroll %.3f s, unroll-checkpointed %.3f s\n", r + 1, tu[r], tc[r]);
    }
    double su = bbl_median(tu, reps), sc = bbl_median(tc, reps), ratio = sc / su;
    printf("unroll:              %.3f s (median)  grad %ld  hvp %ld  cross %ld  stored_doubles %zu  peak tape %zu B\n",
           su, mu.d.counts.grad, mu.d.counts.hvp, mu.d.counts.cross, mu.d.stored_doubles, mu.d.peak_tape_bytes);
    printf("unroll-checkpointed: %.3f s (median)  grad %ld  hvp %ld  cross %ld  stored_doubles %zu  peak tape %zu B\n",
           sc, mc.d.counts.grad, mc.d.counts.hvp, mc.d.counts.cross, mc.d.stored_doubles, mc.d.peak_tape_bytes);
    printf("hypergradients differ by %.1e (relative)\n", bbl_relerr(hc, hu, p));

    /* time */
    double step_rev = u.point + u.hvp; /* one reverse step: point + H·v and cross */
    double pred_u = mu.d.counts.grad * u.grad + K * step_rev;
    double pred_c = mc.d.counts.grad * u.grad + K * step_rev;
    printf("\ntime ratio checkpointed / unroll = %.3f (target <= 2.5: %s); predicted from counts x unit costs %.3f "
           "(%.3f s / %.3f s)\n",
           ratio, ratio <= 2.5 ? "MET" : "NOT MET", pred_c / pred_u, pred_c, pred_u);
    long fwd = mc.d.forward_steps, formula = bl_checkpoint_forward_steps(K, s);
    printf("forward steps: %ld recomputed by the schedule, bl_checkpoint_forward_steps(%d, %d) = %ld (%s); "
           "the schedule's first sweep (K-1 steps) is the inner solve itself, which stores the snapshots as it "
           "goes (grad count %ld = %d inner + %ld - %d replayed + 2)\n",
           fwd, K, s, formula, fwd == formula ? "equal" : "DIFFERENT", mc.d.counts.grad, K, fwd, K - 1);

    /* memory */
    size_t target_doubles = (size_t)(s + 2) * p;
    printf("\nmemory: stored_doubles %zu vs target (s+2)*p = %zu (%s); lean unroll stores %zu (ratio %.1f)\n",
           mc.d.stored_doubles, target_doubles, mc.d.stored_doubles <= target_doubles ? "MET" : "NOT MET",
           mu.d.stored_doubles, (double)mu.d.stored_doubles / (double)mc.d.stored_doubles);
    size_t one_step = u.point_peak > u.grad_peak ? u.point_peak : u.grad_peak;
    printf("memory: peak tape %zu B vs one step's tape (max of one gradient, one point + Hv) %zu B (%s, ratio %.2f); "
           "lean unroll %zu B\n",
           mc.d.peak_tape_bytes, one_step, mc.d.peak_tape_bytes <= one_step ? "MET" : "NOT MET",
           (double)mc.d.peak_tape_bytes / (double)one_step, mu.d.peak_tape_bytes);
    if (mc.d.peak_tape_bytes > one_step && mc.d.peak_tape_bytes <= u.stack_peak)
        printf("  the peak matches a gradient recorded on top of a held point (%zu B): the oracle keeps the last "
               "adjoint step's point while the next forward recomputation (and the diagnostics) record nabla G\n",
               u.stack_peak);
    /* schedule overhead at the limit K, on a tiny problem where a step is cheap */
    {
        int Kbig = 20000;
        bbl_data tiny;
        bbl_data_init(&tiny, 20, 20, 22, BBL_SEED);
        bl_problem pbt = bbl_problem_of(&tiny);
        bbl_units ut = bbl_unit_costs(&pbt, lambda, 31);
        meas a = run(&pbt, lambda, BL_UNROLL, Kbig, 0, hu);
        meas c = run(&pbt, lambda, BL_UNROLL_CHECKPOINTED, Kbig, s, hc);
        double steps = c.d.counts.grad * ut.grad + Kbig * (ut.point + ut.hvp);
        printf("\nschedule overhead (tiny problem 20 x 22, K = %d, s = %d): unroll %.3f s, checkpointed %.3f s "
               "(forward steps %ld); its oracle work predicts %.3f s, so ~%.3f s goes to the schedule's "
               "bookkeeping (split points by bisection on the closed form); ratio %.1f\n",
               Kbig, s, a.seconds, c.seconds, c.d.forward_steps, steps, c.seconds - steps,
               c.seconds / a.seconds);
        bbl_data_free(&tiny);
    }
    printf("total wall time %.1f s\n", bbl_now() - t_start);
    bbl_data_free(&data);
    return 0;
}
