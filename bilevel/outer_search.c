/*
 * bilevel/outer_search.c — the black-box baselines: grid search and random
 * search on h. Each iteration evaluates h at one point: an L-BFGS inner
 * solve to ‖∇_θG‖ ≤ search_tol, at most hg.inner_iters iterations (0 =
 * 10000; a point that stops short is BL_ENOTCONVERGED), warm-started
 * from the previous point's θ, and F there, on an oracle of the search's own, whose work is charged to
 * the algorithm. No hypergradient is formed (grad_norm is NaN).
 *   grid    grid_points values of a common λ_j = x, x evenly spaced over
 *           [box_lo, box_hi] (for m = 1 a plain 1-D grid), then done;
 *   random  λ_j uniform in the box, independently, from a seeded
 *           splitmix64 stream, until the budget.
 * The answer is bl_outer_best_lambda.
 */
#include "bilevel/internal.h"
#include <hypertape/outer.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct search_state {
    bl_oracle *orc;
    bl_inner *in;
    double *theta;  /* warm start (p) */
    int next;       /* grid: the next point */
    uint64_t rng;   /* random: splitmix64 state */
} search_state;

static bl_status search_alloc(bl_outer *o, void *state)
{
    search_state *s = state;
    const bl_problem *pb = bl_outer_problem(o);
    bl_status st = BL_ENOMEM;
    bl_inner_opts io = {.memory = 20};
    if (!(s->orc = bl_oracle_new(pb, bl_outer_options(o)->hg.max_tape_bytes)) ||
        !(s->theta = calloc((size_t)pb->p, sizeof(double))))
        return bl_outer_fail(o, BL_ENOMEM, "cannot allocate an oracle and %d doubles", pb->p);
    if (!(s->in = bl_inner_new(bl_inner_lbfgs, s->orc, &io, &st)))
        return bl_outer_fail(o, st, "%s", bl_oracle_message(s->orc));
    return BL_OK;
}

static void search_free(void *state)
{
    search_state *s = state;
    bl_inner_free(s->in);
    bl_oracle_free(s->orc);
    free(s->theta);
}

static bl_status search_set(bl_outer *o, void *state)
{
    search_state *s = state;
    const bl_problem *pb = bl_outer_problem(o);
    bl__outer_start(o, pb->p, s->theta); /* bl_outer_set's θ_0, else opts->hg.theta0 */
    s->next = 0;
    s->rng = bl_outer_options(o)->seed;
    return BL_OK;
}

/* h at λ: inner solve (warm) and F; the work is charged. */
static bl_status value_at(bl_outer *o, search_state *s, const double *lam, double *h)
{
    const bl_outer_opts *op = bl_outer_options(o);
    bl_oracle_reset(s->orc);
    bl_oracle_clear_error(s->orc);
    bl_status st = bl_inner_set(s->in, s->theta, lam);
    if (st == BL_OK)
        st = bl_inner_solve(s->in, op->search_tol, op->hg.inner_iters > 0 ? op->hg.inner_iters : 10000);
    if (st == BL_OK)
        st = bl_oracle_F(s->orc, NULL, bl_inner_theta(s->in), lam, h, NULL, NULL);
    bl_counts c = bl_oracle_counts(s->orc);
    bl_outer_charge(o, &c);
    bl_outer_report *rep = bl_outer_report_mut(o);
    rep->status = st;
    rep->inner_tol = op->search_tol;
    if (st != BL_OK)
        return bl_outer_fail(o, st, "%s", bl_oracle_message(s->orc));
    memcpy(s->theta, bl_inner_theta(s->in), (size_t)bl_outer_problem(o)->p * sizeof(double));
    if (!bl_inner_converged(s->in, op->search_tol))
        rep->status = BL_ENOTCONVERGED;
    rep->value = *h;
    rep->grad_norm = NAN;
    rep->accepted = 1;
    bl_outer_note_value(o, lam, *h);
    return rep->status == BL_OK ? BL_OK
                                : bl_outer_fail(o, BL_ENOTCONVERGED,
                                                "inner lbfgs: tolerance %.3g not met at this point "
                                                "(||grad_theta G|| = %.3e)",
                                                op->search_tol, bl_inner_grad_norm(s->in));
}

static bl_status grid_iterate(bl_outer *o, void *state)
{
    search_state *s = state;
    const bl_outer_opts *op = bl_outer_options(o);
    int m = bl_outer_problem(o)->m, n = op->grid_points;
    double x = op->box_lo + (op->box_hi - op->box_lo) * s->next / (n - 1), h;
    double *lam = bl_outer_lambda_mut(o);
    for (int j = 0; j < m; j++)
        lam[j] = x;
    if (++s->next == n)
        bl_outer_set_done(o);
    return value_at(o, s, lam, &h);
}

static double uniform(uint64_t *st) /* splitmix64 → [0, 1) */
{
    uint64_t z = (*st += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return (double)((z ^ (z >> 31)) >> 11) * (1.0 / 9007199254740992.0);
}

static bl_status random_iterate(bl_outer *o, void *state)
{
    search_state *s = state;
    const bl_outer_opts *op = bl_outer_options(o);
    int m = bl_outer_problem(o)->m;
    double *lam = bl_outer_lambda_mut(o), h;
    for (int j = 0; j < m; j++)
        lam[j] = op->box_lo + (op->box_hi - op->box_lo) * uniform(&s->rng);
    return value_at(o, s, lam, &h);
}

static const bl_outer_type grid_type = {"grid", sizeof(search_state), search_alloc, search_set,
                                        grid_iterate, search_free};
static const bl_outer_type random_type = {"random", sizeof(search_state), search_alloc,
                                          search_set, random_iterate, search_free};
const bl_outer_type *const bl_outer_grid = &grid_type;
const bl_outer_type *const bl_outer_random = &random_type;
