/*
 * tests/alloc/test_bl_alloc.c — allocation-failure injection for bilevel/,
 * SQLite-style: for N = 0, 1, 2, … the N-th allocation (malloc, calloc or
 * realloc) made by the library and the ad engine inside one scenario
 * returns NULL (alone, then with every later one too), until a run
 * completes without reaching N. Each failed run
 * must return BL_ENOMEM with a one-line message naming the allocation (what:
 * "cannot allocate / store / create ...", "malloc", "out of memory"; and a
 * size), leave every object
 * freeable (the scenario frees all it made) and leak nothing: the test
 * counts live blocks itself (allocations minus frees, must return to 0) and,
 * in the ASan build (./dev asan runs this suite), LSan checks at exit. The
 * constructors that return NULL with no message (bl_hg_new, bl_oracle_new,
 * bl_sampler_new) are checked for the status only; bl_hypergrad names the
 * context it could not create.
 *
 * Scenarios, on small inline problems (tests/bilevel/problems.h: ridge,
 * logistic regression): bl_hypergrad with each estimator; bl_hg_new +
 * two bl_hg_eval (warm path) + bl_hg_free with each estimator; the oracle
 * calls (new, G, F, point, hvp, grad_jvp); bl_oracle_persample of each
 * kind (model hook absent: the batch-of-one fallback); the sampler; each
 * linear solver (bl_linear_solve and the resumable bl_linsolve_*); each
 * inner solver.
 *
 * The allocator is interposed with the linker (-Wl,--wrap=malloc,...), so
 * it works under ASan too: the wrapped calls are those of the library
 * objects linked into this program (libhypertape.a) and of this file;
 * OpenBLAS and libc's internal allocations are not failed.
 */
#include "tests/bilevel/problems.h"

#include <hypertape/sampler.h>

#include <stdlib.h>
#include <string.h>

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);
void __real_free(void *p);

static _Thread_local int counting; /* only this thread, only inside a run */
static long n_alloc, fail_at = -1, n_failed, live;
/* Set by a scenario when a constructor that has no message channel
 * (bl_hg_new, bl_oracle_new, bl_sampler_new: NULL + status) failed: only
 * the status is checked then. */
static int no_channel;
static int persistent; /* 1: every allocation from the N-th on fails, too */

static int should_fail(void)
{
    if (!counting)
        return 0;
    long k = n_alloc++;
    if (k == fail_at || (persistent && fail_at >= 0 && k > fail_at)) {
        n_failed++;
        return 1;
    }
    return 0;
}

void *__wrap_malloc(size_t n)
{
    if (should_fail())
        return NULL;
    void *p = __real_malloc(n);
    live += counting && p;
    return p;
}

void *__wrap_calloc(size_t n, size_t m)
{
    if (should_fail())
        return NULL;
    void *p = __real_calloc(n, m);
    live += counting && p;
    return p;
}

void *__wrap_realloc(void *q, size_t n)
{
    if (should_fail())
        return NULL;
    void *p = __real_realloc(q, n);
    if (counting && !q && p)
        live++;
    return p;
}

void __wrap_free(void *p)
{
    live -= counting && p;
    __real_free(p);
}

/* One scenario: makes its objects, runs, frees everything; returns the
 * first failure status with its message in msg, or BL_OK. */
typedef bl_status (*scenario)(void *ctx, char *msg, size_t len);

static int names_allocation(const char *m)
{
    int digit = 0;
    for (const char *s = m; *s; s++)
        digit |= *s >= '0' && *s <= '9';
    return digit && (strstr(m, "alloc") || strstr(m, "memory") || strstr(m, "cannot"));
}

/* Runs f with the N-th allocation failing for N = 0, 1, … until a run
 * reaches no failure: once with only the N-th failing, once with every
 * allocation from the N-th on failing (SQLite's two modes). */
static void sweep_mode(const char *name, scenario f, void *ctx)
{
    char msg[512];
    counting = 1, fail_at = -1, n_alloc = 0, live = 0;
    bl_status clean = f(ctx, msg, sizeof msg); /* warm-up and the clean run */
    counting = 0;
    long total = n_alloc;
    EXPECT(clean == BL_OK || clean == BL_ENOTCONVERGED, "%s: clean run: %s (%s)", name,
           bl_strerror(clean), msg);
    EXPECT(live == 0, "%s: clean run leaves %ld blocks", name, live);
    EXPECT(total > 0, "%s: no allocation seen (interposition broken?)", name);
    long runs = 0, bad = 0;
    for (long N = 0;; N++) {
        msg[0] = 0;
        counting = 1, fail_at = N, n_alloc = 0, n_failed = 0, live = 0;
        bl_status st = f(ctx, msg, sizeof msg);
        counting = 0;
        if (!n_failed)
            break;
        runs++;
        int ok = st == BL_ENOMEM && (no_channel || (names_allocation(msg) && !strchr(msg, '\n'))) &&
                 live == 0;
        no_channel = 0;
        if (!ok && bad++ < 5) /* the first few, in full */
            EXPECT(ok, "%s: allocation %ld of %ld failed: %s, live %ld, message '%s'", name, N,
                   total, bl_strerror(st), live, msg);
        if (N > 100000)
            break;
    }
    EXPECT(bad == 0, "%s: %ld of %ld failure runs wrong", name, bad, runs);
    EXPECT(runs >= (persistent ? 1 : total), "%s: %ld failure runs for %ld allocations", name,
           runs, total);
}

static void sweep(const char *name, scenario f, void *ctx)
{
    char full[160];
    for (persistent = 0; persistent < 2; persistent++) {
        snprintf(full, sizeof full, "%s%s", name, persistent ? " (persistent)" : "");
        sweep_mode(full, f, ctx);
    }
    persistent = 0;
}

/* ------------------------------------------------------------ scenarios */

typedef struct fixture {
    bl_problem pb;
    bl_method method;
    int kind;         /* linear / inner / persample selector */
    const double *lambda;
} fixture;

static void copy_msg(char *msg, size_t len, const char *m)
{
    snprintf(msg, len, "%s", m ? m : "");
}

static bl_hg_opts hg_opts(bl_method m)
{
    bl_hg_opts o = {.method = m, .inner_iters = 30, .linear_iters = 30, .snapshots = 4,
                    .truncate = 5, .bound_lanczos_iters = 5};
    return o;
}

static bl_status run_hypergrad(void *ctx, char *msg, size_t len)
{
    fixture *fx = ctx;
    bl_hg_opts o = hg_opts(fx->method);
    double hg[8];
    bl_diag d;
    return bl_hypergrad(&fx->pb, fx->lambda, &o, hg, &d, msg, len);
}

static bl_status run_context(void *ctx, char *msg, size_t len)
{
    fixture *fx = ctx;
    bl_hg_opts o = hg_opts(fx->method);
    bl_status st;
    bl_hg *h = bl_hg_new(&fx->pb, &o, &st);
    if (!h) {
        no_channel = 1; /* bl_hg_new: NULL and *st only */
        return st;
    }
    double hg[8];
    bl_diag d;
    st = bl_hg_eval(h, fx->lambda, hg, &d);
    if (st == BL_OK || st == BL_ENOTCONVERGED) {
        bl_status s2 = bl_hg_eval(h, fx->lambda, hg, &d); /* the warm path */
        st = s2 == BL_OK ? st : s2;
    }
    copy_msg(msg, len, bl_hg_message(h));
    bl_hg_free(h);
    return st;
}

static bl_oracle *oracle(const fixture *fx)
{
    bl_oracle *o = bl_oracle_new(&fx->pb, 0);
    no_channel = !o; /* bl_oracle_new: NULL only ("only when out of memory") */
    return o;
}

static bl_status run_oracle(void *ctx, char *msg, size_t len)
{
    fixture *fx = ctx;
    bl_oracle *o = oracle(fx);
    if (!o)
        return BL_ENOMEM;
    int p = fx->pb.p, m = fx->pb.m;
    double th[8], v[8], gt[8], gl[8], hv[8], cr[8], val;
    for (int k = 0; k < p; k++)
        th[k] = 0.1 * k, v[k] = 1.0 - 0.2 * k;
    int idx[3] = {0, 2, 1};
    bl_batch b = {idx, 3};
    bl_status st = bl_oracle_G(o, NULL, th, fx->lambda, &val, gt, gl);
    if (st == BL_OK)
        st = bl_oracle_F(o, &b, th, fx->lambda, &val, gt, m ? gl : NULL);
    if (st == BL_OK)
        st = bl_oracle_point(o, &b, th, fx->lambda);
    if (st == BL_OK)
        st = bl_oracle_hvp(o, v, hv, cr);
    if (st == BL_OK)
        st = bl_oracle_grad_jvp(o, v, fx->lambda, hv);
    copy_msg(msg, len, bl_oracle_message(o));
    bl_oracle_free(o);
    return st;
}

static bl_status run_persample(void *ctx, char *msg, size_t len)
{
    fixture *fx = ctx;
    bl_oracle *o = oracle(fx);
    if (!o)
        return BL_ENOMEM;
    double th[8] = {0.3, -0.2, 0.1}, v[8] = {1, 2, 3, 4}, rows[64 * 8];
    int idx[4] = {1, 0, 3, 1};
    bl_batch b = {idx, 4};
    bl_status st = bl_oracle_persample(o, (bl_persample_kind)fx->kind, fx->kind % 2 ? NULL : &b, th,
                                       fx->lambda, v, rows);
    copy_msg(msg, len, bl_oracle_message(o));
    bl_oracle_free(o);
    return st;
}

static bl_status run_sampler(void *ctx, char *msg, size_t len)
{
    fixture *fx = ctx;
    bl_status st;
    bl_sampler *s = bl_sampler_new(50, 7, fx->kind, &st);
    if (!s) {
        no_channel = 1; /* bl_sampler_new: NULL and *st only */
        return st;
    }
    int idx[64];
    st = bl_sampler_draw(s, 64, idx);
    copy_msg(msg, len, bl_sampler_message(s));
    bl_sampler_free(s);
    return st;
}

static const bl_linsolve_type *linsolve_type(int k)
{
    const bl_linsolve_type *T[] = {bl_linsolve_cg, bl_linsolve_gd, bl_linsolve_hb,
                                   bl_linsolve_neumann};
    return T[k];
}

static bl_status run_linear(void *ctx, char *msg, size_t len)
{
    fixture *fx = ctx;
    bl_oracle *o = oracle(fx);
    if (!o)
        return BL_ENOMEM;
    int p = fx->pb.p;
    double th[8] = {0}, b[8], q[8] = {0};
    for (int k = 0; k < p; k++)
        b[k] = 1.0 + k;
    bl_linear_opts lo = {.tol = 1e-10, .max_iters = 50};
    bl_linear_result res;
    bl_status st = bl_oracle_point(o, NULL, th, fx->lambda);
    if (st == BL_OK)
        st = bl_linear_solve(o, (bl_linear)fx->kind, b, q, &lo, &res);
    if (st == BL_OK || st == BL_ENOTCONVERGED) { /* the resumable form */
        bl_status s2;
        bl_linsolve *s = bl_linsolve_new(linsolve_type(fx->kind), o, &lo, &s2);
        if (s && (s2 = bl_linsolve_set(s, b, q)) == BL_OK)
            s2 = bl_linsolve_solve(s, &res);
        else if (!s && s2 == BL_OK)
            s2 = BL_ENOMEM;
        bl_linsolve_free(s);
        st = s2 == BL_OK || s2 == BL_ENOTCONVERGED ? st : s2;
    }
    copy_msg(msg, len, bl_oracle_message(o));
    bl_oracle_free(o);
    return st;
}

static bl_status run_inner(void *ctx, char *msg, size_t len)
{
    fixture *fx = ctx;
    const bl_inner_type *T[] = {bl_inner_gd, bl_inner_hb, bl_inner_nesterov, bl_inner_lbfgs,
                                bl_inner_newton_cg};
    bl_oracle *o = oracle(fx);
    if (!o)
        return BL_ENOMEM;
    bl_inner_opts io = {.keep_iterates = 1};
    bl_status st;
    bl_inner *s = bl_inner_new(T[fx->kind], o, &io, &st);
    if (s && (st = bl_inner_set(s, NULL, fx->lambda)) == BL_OK)
        st = bl_inner_solve(s, 1e-8, 40);
    else if (!s && st == BL_OK)
        st = BL_ENOMEM;
    copy_msg(msg, len, bl_oracle_message(o));
    bl_inner_free(s);
    bl_oracle_free(o);
    return st;
}

int main(void)
{
    ridge r;
    ridge_init(&r, 12, 10, 3, 5);
    logreg L;
    logreg_init(&L, 10, 8, 3, 1.0, 9);
    double lam_r[1] = {-1.0}, lam_l[3] = {-1.0, -0.5, -2.0};
    fixture fr = {ridge_problem(&r), 0, 0, lam_r}, fl = {logreg_problem(&L), 0, 0, lam_l};
    fr.pb.n_inner = r.n, fr.pb.n_outer = r.nv;
    fl.pb.n_inner = L.n, fl.pb.n_outer = L.nv;
    char name[96];
    for (int m = 0; m < BL_METHOD_COUNT; m++) {
        fixture *fx = m % 2 ? &fl : &fr; /* both problems, every method */
        fx->method = (bl_method)m;
        snprintf(name, sizeof name, "bl_hypergrad %s on %s", bl_method_name(m), fx->pb.name);
        sweep(name, run_hypergrad, fx);
        snprintf(name, sizeof name, "bl_hg_new/eval %s on %s", bl_method_name(m), fx->pb.name);
        sweep(name, run_context, fx);
    }
    sweep("oracle calls on ridge", run_oracle, &fr);
    sweep("oracle calls on logreg", run_oracle, &fl);
    for (int k = 0; k < BL_PS_COUNT; k++) {
        fl.kind = k;
        snprintf(name, sizeof name, "bl_oracle_persample kind %d", k);
        sweep(name, run_persample, &fl);
    }
    for (int k = 0; k < BL_SAMPLE_MODE_COUNT; k++) {
        fr.kind = k;
        snprintf(name, sizeof name, "sampler mode %d", k);
        sweep(name, run_sampler, &fr);
    }
    for (int k = 0; k < BL_LINEAR_COUNT; k++) {
        fl.kind = k;
        snprintf(name, sizeof name, "linear solver %s", bl_linsolve_type_name(linsolve_type(k)));
        sweep(name, run_linear, &fl);
    }
    for (int k = 0; k < 5; k++) {
        fl.kind = k;
        snprintf(name, sizeof name, "inner solver %d", k);
        sweep(name, run_inner, &fl);
    }
    ridge_free(&r);
    logreg_free(&L);
    return t_done();
}
