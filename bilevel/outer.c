/*
 * bilevel/outer.c — the outer-algorithm object shared by every algorithm
 * (hypertape/outer.h): options, the box, the hypergradient context, counts,
 * the per-iteration report, the solve loop with its budget, and the
 * evaluation hook. The algorithms are constant types in outer_*.c.
 */
#include "bilevel/internal.h"
#include <hypertape/outer.h>

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct bl_outer {
    const bl_outer_type *type;
    void *state;
    const bl_problem *pb;
    bl_outer_opts opts;   /* defaults resolved */
    bl_hg *hg;            /* the algorithm's hypergradient context */
    bl_hg *eval;          /* the evaluation hook's own context (made on first use) */
    double *lambda, *best; /* m each */
    double *theta0;       /* p: θ_0 of the last bl_outer_set */
    double *opt_theta0;   /* p: a copy of opts.hg.theta0 (when has_opt_theta0) */
    int has_theta0, has_opt_theta0;
    double best_value;
    bl_counts counts;
    double seconds;
    int done;             /* a search has no point left */
    bl_outer_report rep;
    char msg[512];
};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

bl_status bl_outer_fail(bl_outer *o, bl_status st, const char *fmt, ...)
{
    char tail[448];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tail, sizeof tail, fmt, ap);
    va_end(ap);
    snprintf(o->msg, sizeof o->msg, "%s: %s", o->type->name, tail);
    return st;
}

/* ------------------------------------------------------------ the types */

/* The library's types, through the addresses of their constant pointers. */
static const bl_outer_type *const *const all_types[] = {
    &bl_outer_hgd, &bl_outer_adam, &bl_outer_hoag, &bl_outer_bound, &bl_outer_grid, &bl_outer_random,
    &bl_outer_soba, &bl_outer_saba, &bl_outer_srba, &bl_outer_stocbio, &bl_outer_amigo,
    &bl_outer_f2sa, &bl_outer_f2sa_adam, &bl_outer_bome,
};
enum { N_TYPES = sizeof all_types / sizeof all_types[0] };

const char *bl_outer_type_name(const bl_outer_type *T) { return T ? T->name : "(none)"; }

const bl_outer_type *bl_outer_type_from_name(const char *name)
{
    for (int k = 0; name && k < N_TYPES; k++)
        if (!strcmp((*all_types[k])->name, name))
            return *all_types[k];
    return NULL;
}

int bl_outer_type_is_search(const bl_outer_type *T)
{
    return T == bl_outer_grid || T == bl_outer_random;
}

int bl_outer_type_list(char *buf, size_t len, const char *sep)
{
    size_t used = 0;
    for (int k = 0; k < N_TYPES; k++) {
        int w = snprintf(buf && used < len ? buf + used : NULL, buf && used < len ? len - used : 0,
                         "%s%s", k ? sep : "", (*all_types[k])->name);
        if (w < 0)
            return w;
        used += (size_t)w;
    }
    return (int)used;
}

/* ------------------------------------------------------------ options */

static void resolve(bl_outer_opts *o, const bl_outer_type *T)
{
    if (o->box_lo == 0 && o->box_hi == 0) {
        o->box_lo = -12.0;
        o->box_hi = 12.0;
    }
    if (o->hg.diag_level == BL_DIAG_FULL && T != bl_outer_bound)
        o->hg.diag_level = BL_DIAG_CHEAP; /* an outer loop pays only for what it uses */
    if (T == bl_outer_bound)
        o->hg.diag_level = BL_DIAG_FULL;
    if (o->step == 0)
        o->step = T == bl_outer_adam ? 0.1 : 1.0;
    if (o->beta1 == 0)
        o->beta1 = 0.9;
    if (o->beta2 == 0)
        o->beta2 = 0.999;
    if (o->adam_eps == 0)
        o->adam_eps = 1e-8;
    if (o->eps0 == 0)
        o->eps0 = T == bl_outer_bound ? 1e-3 : 0.01;
    if (o->eps_factor == 0)
        o->eps_factor = 0.9;
    if (o->bound_c == 0)
        o->bound_c = 0.5;
    if (o->eps_min == 0)
        o->eps_min = 1e-12;
    if (o->grid_points == 0)
        o->grid_points = 21;
    if (o->search_tol == 0)
        o->search_tol = 1e-10;
}

static const char *check_opts(const bl_outer_opts *o)
{
    if (!(o->box_lo < o->box_hi) || !isfinite(o->box_lo) || !isfinite(o->box_hi))
        return "the box needs finite box_lo < box_hi";
    if (!(o->step > 0) || !isfinite(o->step) || !(o->decay >= 0))
        return "step must be finite and > 0, decay >= 0";
    if (!(o->beta1 >= 0 && o->beta1 < 1) || !(o->beta2 >= 0 && o->beta2 < 1) || !(o->adam_eps > 0))
        return "adam needs 0 <= beta1, beta2 < 1 and adam_eps > 0";
    if (o->schedule < BL_HOAG_EXPONENTIAL || o->schedule > BL_HOAG_CUBIC)
        return "unknown hoag schedule";
    if (!(o->eps0 > 0) || !(o->eps_factor > 0 && o->eps_factor < 1) || !(o->eps_min > 0))
        return "eps0 and eps_min must be > 0 and 0 < eps_factor < 1";
    if (!(o->bound_c > 0 && o->bound_c < 1))
        return "bound_c must be in (0, 1)";
    if (o->grid_points < 2 || !(o->search_tol > 0))
        return "grid_points must be >= 2 and search_tol > 0";
    return NULL;
}

/* ------------------------------------------------------------ the object */

void bl_outer_free(bl_outer *o)
{
    if (!o)
        return;
    if (o->type && o->type->free && o->state)
        o->type->free(o->state);
    free(o->state);
    bl_hg_free(o->hg);
    bl_hg_free(o->eval);
    free(o->lambda);
    free(o->theta0);
    free(o);
}

static bl_status bad(char *msg, size_t len, bl_status st, const char *name, const char *why)
{
    if (msg && len)
        snprintf(msg, len, "%s: %s", name, why);
    return st;
}

bl_outer *bl_outer_new(const bl_outer_type *T, const bl_problem *pb, const bl_outer_opts *opts,
                       bl_status *st, char *msg, size_t msglen)
{
    bl_status dummy;
    st = st ? st : &dummy;
    if (msg && msglen)
        msg[0] = '\0';
    if (!T || !opts) {
        *st = bad(msg, msglen, BL_EINVAL, "outer", "type and opts must not be NULL");
        return NULL;
    }
    bl_outer_opts o = *opts;
    resolve(&o, T);
    const char *why = check_opts(&o);
    if (why) {
        *st = bad(msg, msglen, BL_EINVAL, T->name, why);
        return NULL;
    }
    if ((*st = bl_hg_check(pb, &o.hg, msg, msglen)) != BL_OK)
        return NULL;
    bl_outer *out = calloc(1, sizeof *out);
    int m = pb->m;
    if (!out || !(out->lambda = calloc(2 * (size_t)m, sizeof(double))) ||
        !(out->theta0 = calloc(2 * (size_t)pb->p, sizeof(double))) ||
        (T->state_size && !(out->state = calloc(1, T->state_size)))) {
        bl_outer_free(out);
        *st = bad(msg, msglen, BL_ENOMEM, T->name, "cannot allocate the state");
        return NULL;
    }
    out->type = T;
    out->pb = pb;
    out->opts = o;
    out->best = out->lambda + m;
    out->opt_theta0 = out->theta0 + pb->p;
    out->has_opt_theta0 = o.hg.theta0 != NULL;
    if (o.hg.theta0)
        memcpy(out->opt_theta0, o.hg.theta0, (size_t)pb->p * sizeof(double));
    if (!(out->hg = bl_hg_new(pb, &o.hg, st))) {
        bl_outer_free(out);
        bad(msg, msglen, *st, T->name, "cannot create the hypergradient context");
        return NULL;
    }
    *st = T->alloc ? T->alloc(out, out->state) : BL_OK;
    if (*st != BL_OK) {
        if (msg && msglen)
            snprintf(msg, msglen, "%s", out->msg);
        bl_outer_free(out);
        return NULL;
    }
    return out;
}

void bl_outer_project(const bl_outer *o, double *x)
{
    for (int j = 0; j < o->pb->m; j++)
        x[j] = fmin(o->opts.box_hi, fmax(o->opts.box_lo, x[j]));
}

bl_status bl_outer_set(bl_outer *o, const double *lambda0, const double *theta0)
{
    o->msg[0] = '\0';
    for (int j = 0; lambda0 && j < o->pb->m; j++)
        if (!isfinite(lambda0[j]))
            return bl_outer_fail(o, BL_ENONFINITE, "lambda0[%d] is %g", j, lambda0[j]);
    if (!lambda0)
        return bl_outer_fail(o, BL_EINVAL, "lambda0 is NULL");
    memcpy(o->lambda, lambda0, (size_t)o->pb->m * sizeof(double));
    bl_outer_project(o, o->lambda);
    memcpy(o->best, o->lambda, (size_t)o->pb->m * sizeof(double));
    bl_status st = bl_hg_set_theta(o->hg, theta0);
    const double *t0 = theta0 ? theta0 : o->has_opt_theta0 ? o->opt_theta0 : NULL;
    o->has_theta0 = st == BL_OK && t0;
    if (o->has_theta0)
        memcpy(o->theta0, t0, (size_t)o->pb->p * sizeof(double));
    if (st == BL_OK)
        st = bl_hg_set_q(o->hg, NULL);
    if (st != BL_OK)
        return bl_outer_fail(o, st, "%s", bl_hg_message(o->hg));
    memset(&o->counts, 0, sizeof o->counts);
    o->seconds = 0;
    o->done = 0;
    o->best_value = INFINITY;
    memset(&o->rep, 0, sizeof o->rep);
    o->rep.value = o->rep.grad_norm = o->rep.pgrad_norm = o->rep.step = o->rep.bound = NAN;
    o->rep.inner_tol = o->rep.linear_tol = NAN;
    o->rep.best_value = INFINITY;
    o->rep.accepted = 1;
    return o->type->set ? o->type->set(o, o->state) : BL_OK;
}

bl_status bl_outer_iterate(bl_outer *o)
{
    double t0 = now();
    o->msg[0] = '\0';
    o->rep.bound = NAN;
    o->rep.bound_certified = 0;
    bl_status st = o->done ? BL_OK : o->type->iterate(o, o->state);
    o->seconds += now() - t0;
    o->rep.iter++;
    o->rep.counts = o->counts;
    o->rep.seconds = o->seconds;
    o->rep.best_value = o->best_value;
    return st;
}

static void add_counts(bl_counts *a, const bl_counts *b)
{
    a->fval += b->fval;
    a->grad += b->grad;
    a->hvp += b->hvp;
    a->cross += b->cross;
    a->samples += b->samples;
}

bl_status bl_outer_hypergrad(bl_outer *o, const double *lambda, double *hg, bl_diag *diag)
{
    bl_diag dd;
    diag = diag ? diag : &dd;
    bl_status st = bl_hg_eval(o->hg, lambda, hg, diag);
    add_counts(&o->counts, &diag->counts);
    o->rep.status = st;
    if (st != BL_OK)
        bl_outer_fail(o, st, "%s", bl_hg_message(o->hg));
    if (diag->produced) {
        const bl_hg_opts *ho = bl_hg_options(o->hg);
        o->rep.inner_tol = ho->inner_tol;
        o->rep.linear_tol = ho->linear_tol;
        if (isfinite(diag->outer_value))
            bl_outer_note_value(o, lambda, diag->outer_value);
    }
    return st;
}

double bl_outer_projected_norm(const bl_outer *o, const double *lambda, const double *hg)
{
    double s2 = 0;
    for (int j = 0; j < o->pb->m; j++) {
        double x = fmin(o->opts.box_hi, fmax(o->opts.box_lo, lambda[j] - hg[j]));
        s2 += (lambda[j] - x) * (lambda[j] - x);
    }
    return sqrt(s2);
}

void bl_outer_charge(bl_outer *o, const bl_counts *c) { add_counts(&o->counts, c); }

void bl_outer_note_value(bl_outer *o, const double *lambda, double value)
{
    if (value < o->best_value) {
        o->best_value = value;
        memcpy(o->best, lambda, (size_t)o->pb->m * sizeof(double));
    }
}

/* ------------------------------------------------------------ accessors */

const double *bl_outer_lambda(const bl_outer *o) { return o->lambda; }
const double *bl_outer_best_lambda(const bl_outer *o) { return o->best; }
bl_counts bl_outer_counts(const bl_outer *o) { return o->counts; }
const bl_outer_report *bl_outer_last(const bl_outer *o) { return &o->rep; }
const char *bl_outer_message(const bl_outer *o) { return o->msg; }
const bl_outer_type *bl_outer_type_of(const bl_outer *o) { return o->type; }
const bl_problem *bl_outer_problem(const bl_outer *o) { return o->pb; }
const bl_outer_opts *bl_outer_options(const bl_outer *o) { return &o->opts; }
bl_hg *bl_outer_hg(bl_outer *o) { return o->hg; }
double *bl_outer_lambda_mut(bl_outer *o) { return o->lambda; }
bl_outer_report *bl_outer_report_mut(bl_outer *o) { return &o->rep; }
void bl_outer_set_done(bl_outer *o) { o->done = 1; }
const double *bl_outer_theta0(const bl_outer *o) { return o->has_theta0 ? o->theta0 : NULL; }
void bl__outer_start(const bl_outer *o, int p, double *theta)
{
    bl__copy_or_zero(p, bl_outer_theta0(o), theta);
}
void *bl_outer_state(const bl_outer *o) { return o->state; }
int bl_outer_done(const bl_outer *o) { return o->done; }

/* ------------------------------------------------------------ the loop */

static int out_of_budget(const bl_outer *o, const bl_outer_stop *s)
{
    long work = o->counts.grad + o->counts.hvp + o->counts.cross;
    return (s->max_iters > 0 && o->rep.iter >= s->max_iters) ||
           (s->seconds > 0 && o->seconds >= s->seconds) || (s->work > 0 && work >= s->work) ||
           (s->samples > 0 && o->counts.samples >= s->samples);
}

static int at_tolerance(const bl_outer *o, const bl_outer_stop *s)
{
    if (s->tol < 0 || !o->rep.accepted || !isfinite(o->rep.pgrad_norm))
        return 0;
    double tol = s->tol > 0 ? s->tol : 1e-8 * fmax(1.0, fabs(o->rep.value));
    return o->rep.pgrad_norm <= tol;
}

bl_status bl_outer_solve(bl_outer *o, const bl_outer_stop *stop, bl_outer_monitor monitor,
                         void *ctx)
{
    bl_outer_stop s = stop ? *stop : (bl_outer_stop){0};
    if (s.max_iters <= 0 && !(s.seconds > 0) && s.work <= 0 && s.samples <= 0)
        s.max_iters = 200;
    for (;;) {
        bl_status st = bl_outer_iterate(o);
        if (st != BL_OK && !(st == BL_ENOTCONVERGED || st == BL_ENONCONVEX))
            return st;
        if (monitor && monitor(o, &o->rep, ctx))
            return BL_OK;
        if (at_tolerance(o, &s))
            return BL_OK;
        if (o->done) /* a search's last point, or a method that stalled: its status */
            return st;
        int search = bl_outer_type_is_search(o->type);
        if (out_of_budget(o, &s))
            return s.tol < 0 || search ? BL_OK
                             : bl_outer_fail(o, BL_ENOTCONVERGED,
                                             "budget spent after %d iterations with "
                                             "projected ||hypergradient|| = %.3e above the "
                                             "tolerance", o->rep.iter, o->rep.pgrad_norm);
    }
}

/* ------------------------------------------------------------ evaluation hook */

static bl_status eval_once(bl_outer *o, const bl_inner_type *inner, const double *lambda,
                           double *hg, bl_diag *d)
{
    bl_hg_opts e = {.method = o->pb->p <= 200 ? BL_EXACT : BL_IFT_CG, .inner = inner,
                    .inner_tol = 1e-11, .inner_iters = 100000, .linear_tol = 1e-11,
                    .memory = 20, .diag_level = BL_DIAG_NONE, .max_tape_bytes = o->opts.hg.max_tape_bytes};
    bl_status st = BL_OK;
    if (o->eval && bl_hg_options(o->eval)->inner != inner) {
        bl_hg_free(o->eval);
        o->eval = NULL;
    }
    if (!o->eval && !(o->eval = bl_hg_new(o->pb, &e, &st)))
        return bl_outer_fail(o, st, "evaluate: cannot create the context");
    return bl_hg_eval(o->eval, lambda, hg, d);
}

bl_status bl_outer_evaluate(bl_outer *o, const double *lambda, double *h, double *grad_norm,
                            double *theta_out)
{
    int m = o->pb->m;
    double *hg = malloc((size_t)m * sizeof(double));
    if (!hg)
        return bl_outer_fail(o, BL_ENOMEM, "evaluate: cannot allocate %d doubles", m);
    bl_diag d;
    bl_status st = eval_once(o, bl_inner_lbfgs, lambda, hg, &d);
    if (d.produced && d.inner_stop != BL_STOP_TOL) /* L-BFGS stalled: Newton-CG finishes */
        st = eval_once(o, bl_inner_newton_cg, lambda, hg, &d);
    if (d.produced) {
        *h = d.outer_value;
        *grad_norm = bl__nrm2(m, hg);
        if (theta_out && bl_hg_theta(o->eval))
            memcpy(theta_out, bl_hg_theta(o->eval), (size_t)o->pb->p * sizeof(double));
    }
    if (st != BL_OK)
        bl_outer_fail(o, st, "evaluate: %s", bl_hg_message(o->eval));
    free(hg);
    return st;
}
