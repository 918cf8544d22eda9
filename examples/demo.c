/*
 * examples/demo.c — `./dev demo` until the bilevel CLI lands: L2-regularised
 * logistic regression G(θ, λ) = mean softplus(−y⊙Xθ) + ½ Σ e^{λ_k} θ_k² on an
 * embedded, seeded data set. Prints the value, ∇_θG, ∇_λG, H·v and cross(v)
 * and checks each against central finite differences.
 *
 * Usage: hypertape-demo [--n N] [--p P] [--seed S] [--quiet]
 */
#include <hypertape/ad.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct demo {
    int n, p;
    double *X, *y; /* X n×p row-major, y n labels ±1 */
} demo;

static uint64_t next_u64(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static double uniform(uint64_t *s) { return (next_u64(s) >> 11) * (1.0 / 9007199254740992.0); }

/* Gaussian features, labels from a noisy linear rule. */
static void make_data(demo *d, uint64_t seed)
{
    double *w = malloc((size_t)d->p * sizeof *w);
    for (int j = 0; j < d->p; j++)
        w[j] = 2 * uniform(&seed) - 1;
    for (int i = 0; i < d->n; i++) {
        double s = 0;
        for (int j = 0; j < d->p; j++) {
            double u = uniform(&seed) + 1e-300, v = uniform(&seed);
            d->X[(size_t)i * d->p + j] = sqrt(-2 * log(u)) * cos(6.283185307179586 * v);
            s += w[j] * d->X[(size_t)i * d->p + j];
        }
        d->y[i] = (s + 0.5 * (2 * uniform(&seed) - 1)) > 0 ? 1.0 : -1.0;
    }
    free(w);
}

/* G(θ, λ) recorded on t. */
static ad_var record_G(ad_tape *t, const demo *d, ad_var theta, ad_var lambda)
{
    ad_var X = ad_const_ref(t, d->n, d->p, d->X), y = ad_const_ref(t, d->n, 1, d->y);
    ad_var margin = ad_mul(t, y, ad_matvec(t, X, theta, 0));
    ad_var loss = ad_mean(t, ad_softplus(t, ad_neg(t, margin)));
    ad_var reg = ad_dot(t, ad_exp(t, lambda), ad_square(t, theta));
    return ad_add(t, loss, ad_scale(t, reg, 0.5));
}

/* G at (θ, λ) and its gradients, on a scratch tape (for finite differences). */
static double eval_G(const demo *d, const double *th, const double *la, double *gth, double *gla)
{
    ad_tape *t = ad_tape_new(NULL);
    ad_var theta = ad_leaf(t, d->p, 1, th), lambda = ad_leaf(t, d->p, 1, la);
    ad_var G = record_G(t, d, theta, lambda);
    double v = ad_scalar_value(t, G);
    if (gth) {
        ad_var wrt[2] = {theta, lambda};
        double *out[2] = {gth, gla};
        ad_grad_values(t, G, 2, wrt, out);
    }
    ad_tape_free(t);
    return v;
}

/* Central differences of G along each coordinate of `vary` (θ or λ). */
static void fd_coords(const demo *d, double *th, double *la, double *vary, double h, double *fd)
{
    for (int j = 0; j < d->p; j++) {
        double keep = vary[j];
        vary[j] = keep + h;
        double fp = eval_G(d, th, la, NULL, NULL);
        vary[j] = keep - h;
        double fm = eval_G(d, th, la, NULL, NULL);
        vary[j] = keep;
        fd[j] = (fp - fm) / (2 * h);
    }
}

static double relerr(const double *a, const double *b, int n)
{
    double e = 0, m = 0;
    for (int k = 0; k < n; k++) {
        e += (a[k] - b[k]) * (a[k] - b[k]);
        m = fmax(m, fmax(fabs(a[k]), fabs(b[k])));
    }
    return sqrt(e) / fmax(m * sqrt(n), 1e-300);
}

static void print_vec(const char *name, const double *x, int n)
{
    printf("  %-10s", name);
    for (int k = 0; k < n && k < 6; k++)
        printf(" % .6e", x[k]);
    printf(n > 6 ? " ... (%d entries)\n" : "\n", n);
}

int main(int argc, char **argv)
{
    demo d = {2000, 8, NULL, NULL};
    uint64_t seed = 1;
    int quiet = 0;
    for (int a = 1; a < argc; a++) {
        if (!strcmp(argv[a], "--n") && a + 1 < argc)
            d.n = atoi(argv[++a]);
        else if (!strcmp(argv[a], "--p") && a + 1 < argc)
            d.p = atoi(argv[++a]);
        else if (!strcmp(argv[a], "--seed") && a + 1 < argc)
            seed = strtoull(argv[++a], NULL, 10);
        else if (!strcmp(argv[a], "--quiet"))
            quiet = 1;
        else {
            fprintf(stderr, "hypertape-demo: unknown or incomplete option '%s' (try --n N --p P --seed S --quiet)\n", argv[a]);
            return 2;
        }
    }
    if (d.n <= 0 || d.p <= 0 || d.n > 1000000 || d.p > 10000) {
        fprintf(stderr, "hypertape-demo: --n must be in [1, 1e6] and --p in [1, 1e4]\n");
        return 2;
    }
    int p = d.p;
    d.X = malloc((size_t)d.n * p * sizeof(double));
    d.y = malloc((size_t)d.n * sizeof(double));
    double *buf = calloc(12 * (size_t)p, sizeof(double));
    if (!d.X || !d.y || !buf) {
        fprintf(stderr, "hypertape-demo: out of memory\n");
        return 1;
    }
    double *th = buf, *la = th + p, *v = la + p, *gth = v + p, *gla = gth + p, *hv = gla + p;
    double *cr = hv + p, *fd = cr + p, *gp = fd + p, *gm = gp + p, *lp = gm + p, *lm = lp + p;
    make_data(&d, seed);
    uint64_t s = seed * 7 + 3;
    for (int j = 0; j < p; j++) {
        th[j] = 2 * uniform(&s) - 1;
        la[j] = -2 + uniform(&s);
        v[j] = 2 * uniform(&s) - 1;
    }

    ad_tape *t = ad_tape_new(NULL);
    ad_var theta = ad_leaf(t, p, 1, th), lambda = ad_leaf(t, p, 1, la);
    ad_var G = record_G(t, &d, theta, lambda);
    ad_var wrt[2] = {theta, lambda};
    double *outs[2] = {gth, gla};
    ad_status st = ad_grad_values(t, G, 2, wrt, outs);
    if (st == AD_OK)
        st = ad_hvp_cross(t, G, theta, lambda, v, hv, cr, AD_HVP_FOR);
    if (st != AD_OK) {
        fprintf(stderr, "hypertape-demo: %s\n", ad_tape_message(t));
        return 1;
    }
    double value = ad_scalar_value(t, G);
    ad_stats stats = ad_tape_stats(t);

    /* Central differences: of G for the gradients, of ∇G for H·v and cross. */
    const double h = 1e-5;
    double e_gth, e_gla, e_hv, e_cr;
    fd_coords(&d, th, la, th, h, fd);
    e_gth = relerr(gth, fd, p);
    fd_coords(&d, th, la, la, h, fd);
    e_gla = relerr(gla, fd, p);
    /* ∇G at θ ± h·v: θ-part differences give H·v, λ-part differences cross(v). */
    double *tp = lp, *tm = lm, *cp = calloc(2 * (size_t)p, sizeof(double)), *cm = cp + p;
    if (!cp)
        return 1;
    for (int j = 0; j < p; j++) {
        tp[j] = th[j] + h * v[j];
        tm[j] = th[j] - h * v[j];
    }
    eval_G(&d, tp, la, gp, cp);
    eval_G(&d, tm, la, gm, cm);
    double *clp = cp;
    for (int j = 0; j < p; j++) {
        fd[j] = (gp[j] - gm[j]) / (2 * h);
        clp[j] = (cp[j] - cm[j]) / (2 * h);
    }
    e_hv = relerr(hv, fd, p);
    e_cr = relerr(cr, clp, p);

    printf("hypertape demo: L2-regularised logistic regression, n = %d samples, p = %d features\n",
           d.n, p);
    printf("  G(theta, lambda) = %.12f\n", value);
    print_vec("grad_theta", gth, p);
    print_vec("grad_lambda", gla, p);
    print_vec("H v", hv, p);
    print_vec("cross(v)", cr, p);
    printf("  tape: %zu nodes, %zu bytes now, %zu peak bytes\n", stats.nodes, stats.bytes,
           stats.peak_bytes);
    printf("check against central differences (h = %g), relative error:\n", h);
    printf("  grad_theta %.2e   grad_lambda %.2e   H v %.2e   cross(v) %.2e\n", e_gth, e_gla,
           e_hv, e_cr);
    int ok = e_gth < 1e-6 && e_gla < 1e-6 && e_hv < 1e-6 && e_cr < 1e-6;
    printf("%s\n", ok ? "all derivatives agree with finite differences (< 1e-6)"
                      : "MISMATCH: a derivative disagrees with finite differences");
    if (!quiet)
        fprintf(stderr, "hypertape-demo: done\n");
    free(clp);
    ad_tape_free(t);
    free(buf);
    free(d.X);
    free(d.y);
    return ok ? 0 : 1;
}
