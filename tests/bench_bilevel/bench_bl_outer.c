/*
 * tests/bench_bilevel/bench_bl_outer.c — the cost of the hypergradient
 * context in an outer loop: 200 steps of hypergradient descent on λ with
 * ift-cg, warm starts of θ and q and diagnostics at "cheap", against the
 * time of the work the loop counted, on the per-feature logistic
 * regression of bbl_problem.h (49,990 × 22 by default). (HOAG's row prints
 * no inner-iteration total: the outer layer does not report one.)
 *
 * Usage: bench_bl_outer [N [NV [STEPS [REPS]]]]   (49990 20000 200 3)
 *
 * Counted work is priced with unit costs measured in the same run on a bare
 * oracle (medians of interleaved calls): a gradient of G, a gradient of F
 * (the validation set has its own size), an H·v alone and a cross product
 * alone. Each step evaluates F's gradient exactly once (ift-cg's θ_ε), so
 * the step's grad count splits into 1 F and grad − 1 G gradients. The
 * ratio wall / counted is the overhead of everything else: recording the
 * point, the solvers' vector work, copies, the context. It is printed for
 * the context loop and, for comparison, for the same loop through
 * bl_hypergrad (a fresh context per step, cold starts, full diagnostics,
 * as a user of the one-shot call would write it), and for HOAG run through
 * bl_outer_solve (hypertape/outer.h: ift-cg, its tolerance schedule and warm
 * starts, STEPS iterations with tol < 0; its set adds one gradient of G and
 * one of F, and each iteration one F gradient). Loops are interleaved
 * over REPS repetitions and the medians printed. Nothing is asserted.
 */
#include "bbl_problem.h"
#include <hypertape/outer.h>

typedef struct units {
    double gG, gF, hv, cr; /* seconds per gradient of G, of F, per H·v, per cross */
} units;

static void die(const char *what, const char *msg)
{
    fprintf(stderr, "bench: %s: %s\n", what, msg);
    exit(1);
}

/* Medians of `reps` interleaved calls of each product (bbl_unit_costs). */
static units unit_costs(const bl_problem *pb, const double *lambda, int reps)
{
    bbl_units b = bbl_unit_costs(pb, lambda, reps);
    units u = {b.grad, b.gradF, b.hv_only, b.cross_only};
    return u;
}

typedef struct loop_result {
    double wall, counted;
    long grad, hvp, cross, inner_iters;
    double final_value;
} loop_result;

/* One hypergradient step: λ ← clip(λ − γ hg, [−12, 12]). */
static void step(double *lambda, const double *hg, int m, double gamma)
{
    for (int j = 0; j < m; j++)
        lambda[j] = fmin(12.0, fmax(-12.0, lambda[j] - gamma * hg[j]));
}

static void account(loop_result *R, const bl_diag *d, const units *u)
{
    R->grad += d->counts.grad;
    R->hvp += d->counts.hvp;
    R->cross += d->counts.cross;
    R->inner_iters += d->inner_iters;
    R->counted += (double)(d->counts.grad - 1) * u->gG + u->gF + (double)d->counts.hvp * u->hv +
                  (double)d->counts.cross * u->cr;
    R->final_value = d->outer_value;
}

static int ok_or_warned(bl_status st)
{
    return st == BL_OK || st == BL_ENOTCONVERGED; /* a step may stall at rounding: still counted */
}

static loop_result loop_context(const bl_problem *pb, const double *lambda0, int steps,
                                double gamma, const units *u)
{
    int m = pb->m;
    double *lam = bbl_alloc((size_t)2 * m * sizeof(double)), *hg = lam + m;
    memcpy(lam, lambda0, (size_t)m * sizeof(double));
    bl_hg_opts o = {.method = BL_IFT_CG, .diag_level = BL_DIAG_CHEAP};
    loop_result R = {0};
    bl_status st;
    double t0 = bbl_now();
    bl_hg *h = bl_hg_new(pb, &o, &st);
    if (!h)
        die("bl_hg_new", bl_strerror(st));
    for (int s = 0; s < steps; s++) {
        bl_diag d;
        st = bl_hg_eval(h, lam, hg, &d);
        if (!ok_or_warned(st))
            die("bl_hg_eval", bl_hg_message(h));
        account(&R, &d, u);
        step(lam, hg, m, gamma);
    }
    bl_hg_free(h);
    R.wall = bbl_now() - t0;
    free(lam);
    return R;
}

static loop_result loop_oneshot(const bl_problem *pb, const double *lambda0, int steps,
                                double gamma, const units *u)
{
    int m = pb->m;
    double *lam = bbl_alloc((size_t)2 * m * sizeof(double)), *hg = lam + m;
    memcpy(lam, lambda0, (size_t)m * sizeof(double));
    bl_hg_opts o = {.method = BL_IFT_CG};
    loop_result R = {0};
    char msg[512];
    double t0 = bbl_now();
    for (int s = 0; s < steps; s++) {
        bl_diag d;
        bl_status st = bl_hypergrad(pb, lam, &o, hg, &d, msg, sizeof msg);
        if (!ok_or_warned(st))
            die("bl_hypergrad", msg);
        account(&R, &d, u);
        step(lam, hg, m, gamma);
    }
    R.wall = bbl_now() - t0;
    free(lam);
    return R;
}

/* HOAG through the outer layer: bl_outer_new, set, solve, free timed. */
static loop_result loop_hoag(const bl_problem *pb, const double *lambda0, int steps, const units *u)
{
    bl_outer_opts op = {.hg = {.method = BL_IFT_CG}};
    bl_outer_stop stop = {.max_iters = steps, .tol = -1};
    loop_result R = {0};
    char msg[512];
    bl_status st;
    double t0 = bbl_now();
    bl_outer *o = bl_outer_new(bl_outer_hoag, pb, &op, &st, msg, sizeof msg);
    if (!o)
        die("bl_outer_new", msg);
    if (bl_outer_set(o, lambda0, NULL) != BL_OK)
        die("bl_outer_set", bl_outer_message(o));
    st = bl_outer_solve(o, &stop, NULL, NULL);
    if (!ok_or_warned(st))
        die("bl_outer_solve", bl_outer_message(o));
    bl_counts c = bl_outer_counts(o);
    int iters = bl_outer_last(o)->iter;
    R.final_value = bl_outer_last(o)->value;
    bl_outer_free(o);
    R.wall = bbl_now() - t0;
    R.grad = c.grad, R.hvp = c.hvp, R.cross = c.cross;
    R.counted = (double)(c.grad - iters - 1) * u->gG + (double)(iters + 1) * u->gF +
                (double)c.hvp * u->hv + (double)c.cross * u->cr;
    return R;
}

static void report(const char *what, double *ratio, double *wall, const loop_result *R, int reps)
{
    double rw = bbl_median(wall, reps), rr = bbl_median(ratio, reps);
    printf("  %-34s wall %7.3f s (median of %d)  counted grad %6ld hvp %6ld cross %4ld  "
           "inner iterations %6ld  wall / counted work %.3f\n",
           what, rw, reps, R->grad, R->hvp, R->cross, R->inner_iters, rr);
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 49990, nv = argc > 2 ? atoi(argv[2]) : 20000;
    int steps = argc > 3 ? atoi(argv[3]) : 200, reps = argc > 4 ? atoi(argv[4]) : 3;
    if (n < 10 || nv < 10 || steps < 1 || reps < 1 || reps > 50) {
        fprintf(stderr, "usage: bench_bl_outer [N [NV [STEPS [REPS]]]]\n");
        return 2;
    }
    bbl_threads();
    bbl_data D;
    bbl_data_init(&D, n, nv, 22, BBL_SEED);
    bl_problem pb = bbl_problem_of(&D);
    double lambda[22];
    bbl_lambda(22, lambda);
    bbl_header("bl_outer", &D, &pb, lambda);
    double gamma = 20.0;
    printf("outer loop: %d steps of lambda <- clip(lambda - %g hg, [-12, 12]), ift-cg (inner lbfgs "
           "to 1e-10, CG to 1e-12 relative)\n", steps, gamma);
    double *w = bbl_alloc((size_t)6 * reps * sizeof(double));
    double *wc = w, *rc = w + reps, *wo = w + 2 * reps, *ro = w + 3 * reps;
    double *wh = w + 4 * reps, *rh = w + 5 * reps;
    loop_result C = {0}, O = {0}, H = {0};
    units u = {0};
    for (int r = 0; r < reps; r++) { /* interleaved: units, context loop, one-shot loop */
        u = unit_costs(&pb, lambda, 15);
        C = loop_context(&pb, lambda, steps, gamma, &u);
        O = loop_oneshot(&pb, lambda, steps, gamma, &u);
        wc[r] = C.wall;
        rc[r] = C.wall / C.counted;
        wo[r] = O.wall;
        ro[r] = O.wall / O.counted;
        H = loop_hoag(&pb, lambda, steps, &u);
        wh[r] = H.wall;
        rh[r] = H.wall / H.counted;
    }
    printf("unit costs (last repetition): grad G %.3f ms, grad F %.3f ms, H.v %.3f ms, cross %.3f ms\n",
           1e3 * u.gG, 1e3 * u.gF, 1e3 * u.hv, 1e3 * u.cr);
    report("context (warm, diagnostics cheap)", rc, wc, &C, reps);
    report("bl_hypergrad per step (cold, full)", ro, wo, &O, reps);
    report("hoag via bl_outer_solve", rh, wh, &H, reps);
    printf("final validation loss: context %.10f, one-shot %.10f, hoag %.10f\n", C.final_value,
           O.final_value, H.final_value);
    printf("RESULT bl_outer_200: wall / counted work = %.3f with the context (target <= 1.15), "
           "%.3f with one bl_hypergrad per step\n", bbl_median(rc, reps), bbl_median(ro, reps));
    printf("RESULT bl_outer_hoag_200: wall / counted work = %.3f for HOAG through bl_outer_solve "
           "(target <= 1.15)\n", bbl_median(rh, reps));
    free(w);
    bbl_data_free(&D);
    return 0;
}
