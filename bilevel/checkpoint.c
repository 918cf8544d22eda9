/*
 * bilevel/checkpoint.c — unroll-checkpointed: the lean reverse sweep with s
 * snapshots (θ_0's slot included), recomputing inner steps between them on
 * the optimal binomial schedule (Griewank & Walther's revolve). The split
 * points are those of the dynamic programme
 *   F(1, f) = 0,  F(l, 0) = l(l−1)/2,  F(l, f) = min_m m + F(l−m, f−1) + F(m, f)
 * over f free snapshots (the smallest minimising m), whose optimum is the
 * closed form checked by the tests: F(l, f) = r·l − C(s+r, s+1) with
 * s = f + 1 and r minimal such that C(s+r, s) ≥ l. F(·, f) is convex in l
 * (its increments are r, non-decreasing), so g(m) = m + F(l−m, f−1) + F(m, f)
 * is convex in m and its smallest minimiser is found by bisection on
 * g(m+1) − g(m) ≥ 0 with the closed form: O(log l) per split, computed only
 * for the (l, f) the recursion visits; no O(K²·s) table.
 *
 * The inner loop is run here: the first sweep of the schedule (θ_0 → θ_{K−1},
 * storing a snapshot at each split point) is exactly the inner solve, so the
 * snapshots of that sweep are stored as the solver passes them and θ_{K−1}
 * is kept for the first adjoint step. Those K−1 steps still count in
 * forward_steps (the schedule's count, = bl_checkpoint_forward_steps) but
 * are not evaluated twice. When the solver stops early (inner_tol reached
 * before the planned K steps) the schedule for the actual K is run in full
 * from θ_0.
 * Memory: s snapshots + current state + adjoint = (s+2)·p doubles for GD
 * (twice the snapshot width for heavy ball, whose state is (θ_k, θ_{k−1})).
 */
#include "bilevel/internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

long bl_checkpoint_forward_steps(long l, int s)
{
    if (l < 1 || s < 1)
        return -1;
    long r = 0;
    double beta = 1.0; /* C(s+r, s) */
    while (beta < (double)l) {
        r++;
        beta = beta * (s + r) / r;
    }
    double c = 1.0; /* C(s+r, s+1) = C(s+r, r−1) */
    for (long k = 1; k <= r - 1; k++)
        c = c * (s + 1 + k) / k;
    if (r == 0)
        c = 0.0;
    return r * l - (long)llround(c);
}

/* F(l, f): forward steps to reverse l steps with f free snapshots. */
static long fcost(long l, int f)
{
    return f == 0 ? l * (l - 1) / 2 : bl_checkpoint_forward_steps(l, f + 1);
}

/* The smallest m ∈ [1, l−1] minimising m + F(l−m, f−1) + F(m, f) (l ≥ 2, f ≥ 1). */
static int split_at(int l, int f)
{
    int lo = 1, hi = l - 1;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        long g0 = mid + fcost(l - mid, f - 1) + fcost(mid, f);
        long g1 = mid + 1 + fcost(l - mid - 1, f - 1) + fcost(mid + 1, f);
        if (g1 >= g0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

typedef struct ckpt {
    bl_run *r;
    int p, w;          /* state width: 1 (GD) or 2 (HB: θ_k, θ_{k−1}) */
    int K, S;          /* steps and snapshots */
    double *slots;     /* S states of w·p */
    double *cur, *nxt; /* current state and scratch (2·p each for the step) */
    double *c, *n, *hc, *cross;
    double *last;      /* θ_{K−1} from the inner loop (first sweep done there) */
    long fwd;
} ckpt;

/* Advances the state in ck->cur by n inner steps. */
static bl_status advance(ckpt *ck, int n)
{
    int p = ck->p;
    bl__oracle_drop_point(ck->r->orc); /* the steps need ∇G only: not on top of the last point */
    for (int i = 0; i < n; i++) {
        const double *prev = ck->w == 2 ? ck->cur + p : ck->cur;
        bl_status st = bl__inner_step(ck->r, ck->cur, prev, ck->nxt);
        if (st != BL_OK)
            return st;
        if (ck->w == 2)
            memcpy(ck->cur + p, ck->cur, (size_t)p * sizeof(double));
        memcpy(ck->cur, ck->nxt, (size_t)p * sizeof(double));
        ck->fwd++;
    }
    return BL_OK;
}

/* The adjoint of step k at θ_k (first p entries of state); accumulates
 * q_u += α c_k like unroll.c's reverse_sweep (the steps are reversed in the
 * same order K−1, ..., 0). */
static bl_status adjoint_step(ckpt *ck, const double *theta_k)
{
    bl_run *r = ck->r;
    int p = ck->p;
    double a = bl_inner_step(r->in), beta = bl_inner_momentum(r->in);
    bl_status st = bl_oracle_point(r->orc, NULL, theta_k, r->lambda);
    if (st == BL_OK)
        st = bl_oracle_hvp(r->orc, ck->c, ck->hc, ck->cross);
    if (st != BL_OK)
        return st;
    bl__axpy(r->m, -a, ck->cross, r->hg);
    bl__axpy(p, a, ck->c, r->q);
    for (int j = 0; j < p; j++) {
        double cj = ck->c[j];
        ck->c[j] = ck->n[j] + (1.0 + beta) * cj - a * ck->hc[j];
        ck->n[j] = -beta * cj;
    }
    return BL_OK;
}

static void load(ckpt *ck, int slot) { memcpy(ck->cur, ck->slots + (size_t)slot * ck->w * ck->p, (size_t)ck->w * ck->p * sizeof(double)); }
static void store_state(ckpt *ck, int slot, const double *theta, const double *prev)
{
    double *d = ck->slots + (size_t)slot * ck->w * ck->p;
    memcpy(d, theta, (size_t)ck->p * sizeof(double));
    if (ck->w == 2)
        memcpy(d + ck->p, prev, (size_t)ck->p * sizeof(double));
}
static void store(ckpt *ck, int slot) { store_state(ck, slot, ck->cur, ck->cur + ck->p); }

/* Reverses steps lo..hi−1; the state θ_lo is in `slot`; `f` free slots
 * follow it. first: the first sweep (θ_lo → θ_{hi−1}) was done by the inner
 * loop, which stored the snapshots of its split points and kept θ_{hi−1};
 * its steps are counted, not recomputed. */
static bl_status reverse(ckpt *ck, int lo, int hi, int slot, int f, int first)
{
    int l = hi - lo;
    bl_status st = BL_OK;
    if (l == 1 || f == 0) {
        int k = hi - 1;
        if (first) {
            ck->fwd += k - lo;
            st = adjoint_step(ck, ck->last);
            k--;
        }
        for (; k >= lo && st == BL_OK; k--) {
            load(ck, slot);
            st = advance(ck, k - lo);
            if (st == BL_OK)
                st = adjoint_step(ck, ck->cur);
        }
        return st;
    }
    int m = split_at(l, f);
    if (first) {
        ck->fwd += m;
    } else {
        load(ck, slot);
        st = advance(ck, m);
        if (st != BL_OK)
            return st;
        store(ck, slot + 1);
    }
    st = reverse(ck, lo + m, hi, slot + 1, f - 1, first);
    return st != BL_OK ? st : reverse(ck, lo, lo + m, slot, f, 0);
}

/* The split points of the schedule's first sweep for K steps and S
 * snapshots: at[i] is the step whose state goes to slot i (at[0] = 0);
 * returns the number of slots used. */
static int first_sweep(int K, int S, int *at)
{
    int lo = 0, l = K, f = S - 1, slot = 0;
    at[0] = 0;
    while (l > 1 && f > 0) {
        int m = split_at(l, f);
        lo += m;
        l -= m;
        f--;
        at[++slot] = lo;
    }
    return slot + 1;
}

static int snapshots_for(const bl_run *r, int K)
{
    return r->o.snapshots < K ? r->o.snapshots : (K > 0 ? K : 1);
}

bl_status bl__hg_checkpointed(bl_run *r)
{
    const bl_inner_type *T = r->o.inner;
    if (T != bl_inner_gd && T != bl_inner_hb)
        return bl__fail(r->orc, BL_EINVAL, "unroll-checkpointed: needs the gd or hb inner solver, not %s",
                        bl_inner_type_name(T));
    bl_status st = BL_OK;
    bl_inner_opts io = {.step = r->o.step, .momentum = r->o.momentum, .memory = r->o.memory};
    if (!(r->in = bl_inner_new(T, r->orc, &io, &st)))
        return st;
    int p = r->p, w = T == bl_inner_hb ? 2 : 1, Kplan = r->o.inner_iters;
    ckpt ck = {.r = r, .p = p, .w = w, .K = Kplan, .S = snapshots_for(r, Kplan)};
    int S = ck.S; /* the allocation: S only shrinks if the solver stops early */
    double *mem = malloc(((size_t)S * w * p + (size_t)w * p + 2 * (size_t)p + 3 * (size_t)p + r->m +
                          2 * (size_t)p) * sizeof(double));
    int *at = malloc((size_t)(S + 1) * sizeof(int));
    if (!mem || !at) {
        free(mem);
        free(at);
        return bl__fail(r->orc, BL_ENOMEM, "unroll-checkpointed: no memory for %d snapshots", S);
    }
    ck.slots = mem;
    ck.cur = ck.slots + (size_t)S * w * p;
    ck.nxt = ck.cur + (size_t)w * p;
    ck.c = ck.nxt + 2 * (size_t)p;
    ck.n = ck.c + p;
    ck.hc = ck.n + p;
    ck.cross = ck.hc + p;
    ck.last = ck.cross + r->m;
    double *prev = ck.last + p; /* θ_{k−1} during the inner loop */

    /* The inner loop = the schedule's first sweep for the planned K. */
    int nat = Kplan > 0 ? first_sweep(Kplan, S, at) : 1, next = 1;
    st = bl_inner_set(r->in, r->o.theta0, r->lambda);
    if (st == BL_OK) {
        r->grad0_norm = bl_inner_grad_norm(r->in);
        memcpy(prev, bl_inner_theta(r->in), (size_t)p * sizeof(double)); /* θ_{−1} = θ_0 */
        store_state(&ck, 0, bl_inner_theta(r->in), prev);
    }
    while (st == BL_OK && bl_inner_iters(r->in) < Kplan && !bl_inner_converged(r->in, r->o.inner_tol)) {
        memcpy(prev, bl_inner_theta(r->in), (size_t)p * sizeof(double));
        st = bl_inner_iterate(r->in);
        if (st == BL_OK && next < nat && bl_inner_iters(r->in) == at[next])
            store_state(&ck, next++, bl_inner_theta(r->in), prev);
    }
    /* now prev = θ_{K−1} */
    if (st == BL_OK) {
        ck.K = bl_inner_iters(r->in);
        memcpy(ck.last, prev, (size_t)p * sizeof(double));
        memcpy(r->theta, bl_inner_theta(r->in), (size_t)p * sizeof(double));
        r->theta_ok = 1;
        r->d->inner_iters = ck.K;
        r->d->inner_stop = bl_inner_converged(r->in, r->o.inner_tol) ? BL_STOP_TOL : BL_STOP_MAXITER;
        st = bl_oracle_F(r->orc, NULL, r->theta, r->lambda, &r->d->outer_value, r->b, r->gl);
    }
    if (st == BL_OK) {
        memcpy(r->hg, r->gl, (size_t)r->m * sizeof(double));
        memcpy(ck.c, r->b, (size_t)p * sizeof(double));
        memset(ck.n, 0, (size_t)p * sizeof(double));
        memset(r->q, 0, (size_t)p * sizeof(double));
        int planned = ck.K == Kplan; /* else: stopped early, the snapshots do not fit */
        ck.S = snapshots_for(r, ck.K);
        if (ck.K > 0)
            st = reverse(&ck, 0, ck.K, 0, ck.S - 1, planned);
        r->has_q = r->q_equiv = st == BL_OK; /* q_u; hg stays the unrolled estimate */
    }
    r->d->forward_steps = ck.fwd;
    r->d->stored_doubles = (size_t)(ck.S + 1) * w * p + (size_t)p; /* snapshots, state, adjoint */
    free(at);
    free(mem);
    return st;
}
