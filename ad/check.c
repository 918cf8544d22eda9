/*
 * ad/check.c — finite-difference checkers for users' own model code:
 * gradients against central differences of f, Hessian-vector products
 * against central differences of the gradient.
 */
#include "internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* xorshift64* and Box–Muller: directions reproducible from the seed. */
static double next_normal(uint64_t *s)
{
    double u[2];
    for (int k = 0; k < 2; k++) {
        *s ^= *s >> 12;
        *s ^= *s << 25;
        *s ^= *s >> 27;
        u[k] = ((*s * 2685821657736338717ULL) >> 11) * (1.0 / 9007199254740992.0);
    }
    return sqrt(-2.0 * log(u[0] + 1e-300)) * cos(6.283185307179586 * u[1]);
}

static double norm2(const double *x, size_t n)
{
    double s = 0;
    for (size_t k = 0; k < n; k++)
        s += x[k] * x[k];
    return sqrt(s);
}

/* Records f at x on t; writes the value and (if grad) the gradient. */
static ad_status eval(ad_scalar_fn f, void *ctx, ad_tape *t, int r, int c, const double *x,
                      double *val, double *grad)
{
    ad_mark m = ad_tape_mark(t);
    ad_var xv = ad_leaf(t, r, c, x);
    ad_var y = ad_ok(xv) ? f(t, xv, ctx) : AD_NONE;
    ad_status s = ad_tape_status(t);
    if (s == AD_OK && (!ad_ok(y) || ad_rows(t, y) != 1 || ad_cols(t, y) != 1))
        s = ad__failst(t, AD_EINVAL, "check: the function must return a 1x1 value");
    if (s == AD_OK && val)
        *val = ad_scalar_value(t, y);
    if (s == AD_OK && grad)
        s = ad_grad_values(t, y, 1, &xv, &grad);
    ad_tape_rewind(t, m);
    return s;
}

typedef struct checker {
    ad_scalar_fn f;
    void *ctx;
    int r, c;
    size_t n;
    double h, tol;
    ad_tape *t;
    double *x, *g, *d, *a, *b; /* point, gradient, direction, two work vectors */
    ad_check_report *rep;
} checker;

static ad_status checker_init(checker *k, ad_scalar_fn f, void *ctx, int r, int c,
                              const double *x0, const ad_check_opts *o, ad_check_report *rep)
{
    memset(k, 0, sizeof *k);
    memset(rep, 0, sizeof *rep);
    if (!f || !x0 || r <= 0 || c <= 0) {
        snprintf(rep->message, sizeof rep->message, "check: need f, x0 and a shape (got %dx%d)", r, c);
        return AD_EINVAL;
    }
    *k = (checker){f, ctx, r, c, (size_t)r * c, (o && o->h > 0) ? o->h : 1e-5,
                   (o && o->tol > 0) ? o->tol : 1e-6, NULL, NULL, NULL, NULL, NULL, NULL, rep};
    k->t = ad_tape_new(NULL);
    k->x = malloc(5 * k->n * sizeof(double));
    if (!k->t || !k->x) {
        snprintf(rep->message, sizeof rep->message, "check: out of memory");
        return AD_ENOMEM;
    }
    k->g = k->x + k->n;
    k->d = k->g + k->n;
    k->a = k->d + k->n;
    k->b = k->a + k->n;
    memcpy(k->x, x0, k->n * sizeof(double));
    double mx = 1.0;
    for (size_t q = 0; q < k->n; q++)
        mx = fabs(x0[q]) > mx ? fabs(x0[q]) : mx;
    k->h *= mx;
    return AD_OK;
}

static void checker_free(checker *k)
{
    ad_tape_free(k->t);
    free(k->x);
}

/* Copies the tape's error into the report. */
static ad_status tape_error(checker *k, ad_status s)
{
    snprintf(k->rep->message, sizeof k->rep->message, "%s", ad_tape_message(k->t));
    return s;
}

/* (f(x + h·d) − f(x − h·d)) / 2h, or with grad != NULL the same for ∇f. */
static ad_status central(checker *k, const double *d, double *fd, double *gfd)
{
    double fp = 0, fm = 0;
    for (size_t q = 0; q < k->n; q++)
        k->a[q] = k->x[q] + k->h * d[q];
    ad_status s = eval(k->f, k->ctx, k->t, k->r, k->c, k->a, &fp, gfd ? k->b : NULL);
    if (s != AD_OK)
        return s;
    if (gfd)
        memcpy(gfd, k->b, k->n * sizeof(double));
    for (size_t q = 0; q < k->n; q++)
        k->a[q] = k->x[q] - k->h * d[q];
    s = eval(k->f, k->ctx, k->t, k->r, k->c, k->a, &fm, gfd ? k->b : NULL);
    if (s != AD_OK)
        return s;
    if (fd)
        *fd = (fp - fm) / (2 * k->h);
    if (gfd)
        for (size_t q = 0; q < k->n; q++)
            gfd[q] = (gfd[q] - k->b[q]) / (2 * k->h);
    return AD_OK;
}

static void record(checker *k, double err, const char *what, int index)
{
    k->rep->nchecks++;
    if (err > k->rep->max_rel_err || isnan(err)) {
        k->rep->max_rel_err = err;
        snprintf(k->rep->message, sizeof k->rep->message, "%s %d: relative error %.3g (tol %.3g)",
                 what, index, err, k->tol);
    }
}

static ad_status verdict(checker *k)
{
    ad_status s = (k->rep->max_rel_err <= k->tol) ? AD_OK : AD_ECHECK;
    if (s == AD_OK)
        k->rep->message[0] = '\0';
    return s;
}

static void random_unit(uint64_t *seed, double *d, size_t n)
{
    for (size_t q = 0; q < n; q++)
        d[q] = next_normal(seed);
    double nn = norm2(d, n);
    for (size_t q = 0; q < n; q++)
        d[q] /= nn;
}

ad_status ad_check_grad(ad_scalar_fn f, void *ctx, int r, int c, const double *x0,
                        const ad_check_opts *o, ad_check_report *rep)
{
    checker k;
    ad_status s = checker_init(&k, f, ctx, r, c, x0, o, rep);
    if (s == AD_OK)
        s = eval(f, ctx, k.t, r, c, k.x, NULL, k.g);
    double gn = s == AD_OK ? norm2(k.g, k.n) : 0.0; /* k.g may be NULL after a failed init */
    if (s == AD_OK && k.n <= 64) { /* all coordinates, compared normwise */
        double err2 = 0, fn2 = 0;
        for (size_t q = 0; q < k.n && s == AD_OK; q++) {
            memset(k.d, 0, k.n * sizeof(double));
            k.d[q] = 1.0;
            double fd = 0;
            s = central(&k, k.d, &fd, NULL);
            err2 += (fd - k.g[q]) * (fd - k.g[q]);
            fn2 += fd * fd;
        }
        double den = fmax(fmax(gn, sqrt(fn2)), 1e-12);
        if (s == AD_OK)
            record(&k, sqrt(err2) / den, "coordinates, all", (int)k.n);
    }
    uint64_t seed = (o && o->seed) ? o->seed : 0x9E3779B97F4A7C15ULL;
    int nd = (o && o->ndirs > 0) ? o->ndirs : 8;
    for (int j = 0; j < nd && s == AD_OK; j++) {
        random_unit(&seed, k.d, k.n);
        double fd = 0, ad = 0;
        s = central(&k, k.d, &fd, NULL);
        if (s != AD_OK)
            break;
        for (size_t q = 0; q < k.n; q++)
            ad += k.g[q] * k.d[q];
        record(&k, fabs(ad - fd) / fmax(gn, 1e-12), "random direction", j);
    }
    if (s != AD_OK && k.t && ad_tape_status(k.t) != AD_OK)
        s = tape_error(&k, s);
    else if (s == AD_OK)
        s = verdict(&k);
    checker_free(&k);
    return s;
}

ad_status ad_check_hvp(ad_scalar_fn f, void *ctx, int r, int c, const double *x0,
                       const ad_check_opts *o, ad_check_report *rep)
{
    checker k;
    ad_status s = checker_init(&k, f, ctx, r, c, x0, o, rep);
    uint64_t seed = (o && o->seed) ? o->seed : 0x9E3779B97F4A7C15ULL;
    int nd = (o && o->ndirs > 0) ? o->ndirs : 8;
    ad_hvp_mode mode = o ? o->mode : AD_HVP_FOR;
    double *hv = k.g, *fd = NULL;
    if (s == AD_OK && !(fd = malloc(k.n * sizeof(double))))
        s = AD_ENOMEM;
    for (int j = 0; j < nd && s == AD_OK; j++) {
        random_unit(&seed, k.d, k.n);
        ad_mark m = ad_tape_mark(k.t);
        ad_var xv = ad_leaf(k.t, r, c, k.x);
        ad_var y = ad_ok(xv) ? f(k.t, xv, ctx) : AD_NONE;
        s = ad_tape_status(k.t);
        if (s == AD_OK)
            s = ad_hvp_cross(k.t, y, xv, AD_NONE, k.d, hv, NULL, mode);
        ad_tape_rewind(k.t, m);
        if (s == AD_OK)
            s = central(&k, k.d, NULL, fd);
        if (s != AD_OK)
            break;
        double e2 = 0;
        for (size_t q = 0; q < k.n; q++)
            e2 += (hv[q] - fd[q]) * (hv[q] - fd[q]);
        double den = fmax(fmax(norm2(hv, k.n), norm2(fd, k.n)), 1e-12);
        record(&k, sqrt(e2) / den, "random direction", j);
    }
    if (s != AD_OK && k.t && ad_tape_status(k.t) != AD_OK)
        s = tape_error(&k, s);
    else if (s == AD_OK)
        s = verdict(&k);
    free(fd);
    checker_free(&k);
    return s;
}
