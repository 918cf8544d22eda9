/*
 * examples/cmd_deq.c — `hypertape deq`: a small Deep Equilibrium classifier
 * on Fashion-MNIST (hypertape/fixedpoint.h; README, "Fixed-point (DEQ)
 * problems"), trained with each backward pass in turn.
 *
 * Model: one implicit layer z = tanh(W z + U x + b) (hidden size h) and a
 * linear readout logits = R z + c. For a minibatch of B images the inner
 * problem is one fixed point of size p = h·B (the columns of Z are the
 * samples' z), found by Broyden from z = 0; the outer loss is the batch's
 * mean cross-entropy. λ = (W, U, b, R, c), trained by Adam.
 * Contractivity: after each Adam step W is projected onto ‖W‖₂ ≤ ρ_max (a
 * power iteration of 50 steps estimates ‖W‖₂ and W is rescaled when it is
 * above), so f is a contraction in z with constant ρ_max (tanh is
 * 1-Lipschitz): the forward and backward equations are well posed and the
 * a-posteriori bound ‖residual‖/(1 − ρ) applies.
 * Backward passes: ift (GMRES to a relative residual 1e-6), shine (one
 * product: u = Hᵀ∇L with Broyden's H), shine-refine (GMRES from SHINE's u,
 * same tolerance), jacobian-free (u = ∇L), unroll (the forward is K
 * fixed-point steps, differentiated in reverse: K products).
 * Each run starts from the same initial λ and sees the same batches.
 * Images are standardised with the training set's mean and deviation; the
 * last partial batch of an epoch is dropped.
 * Outputs in --out: deq.csv (one row per run and epoch), deq_summary.csv,
 * deq.png (test accuracy against epochs and against seconds); a table on
 * stdout, or with --json one object
 *   {"runs": [{"backward", "test_accuracy", "seconds", "backward_seconds",
 *              "backward_products", "forward_iters"}]}.
 */
#include <hypertape/fixedpoint.h>
#include "cli.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_FASHION "/usr/share/datasets/fashion-mnist"
#define NCLASS 10
enum { NB = 5, EVAL_BATCH = 200 };

static const char *const BACKWARD[NB] = {"ift", "shine", "shine-refine", "jacobian-free", "unroll"};

/* The data of one minibatch, read by f and L at each recording. */
typedef struct deq_model {
    int h, d, B;
    const double *X; /* B×d rows of the batch */
    const int *cls;  /* B labels */
    int off_W, off_U, off_b, off_R, off_c, m;
} deq_model;

static ad_var part(ad_tape *t, ad_var la, int off, int r, int c)
{
    return ad_reshape(t, ad_slice(t, la, off, r * c, 0, 1), r, c);
}

static ad_var deq_f(ad_tape *t, ad_var th, ad_var la, void *ctx)
{
    const deq_model *M = ctx;
    ad_var W = part(t, la, M->off_W, M->h, M->h), U = part(t, la, M->off_U, M->h, M->d);
    ad_var b = part(t, la, M->off_b, M->h, 1), Z = ad_reshape(t, th, M->h, M->B);
    ad_var X = ad_const_ref(t, M->B, M->d, M->X);
    ad_var pre = ad_add(t, ad_add(t, ad_matmul(t, W, Z, 0, 0), ad_matmul(t, U, X, 0, 1)), b);
    return ad_reshape(t, ad_tanh(t, pre), M->h * M->B, 1);
}

static ad_var deq_L(ad_tape *t, ad_var th, ad_var la, void *ctx)
{
    const deq_model *M = ctx;
    ad_var R = part(t, la, M->off_R, NCLASS, M->h), c = part(t, la, M->off_c, 1, NCLASS);
    ad_var Z = ad_reshape(t, th, M->h, M->B);
    ad_var logits = ad_add(t, ad_matmul(t, Z, R, 1, 1), c); /* B×10 */
    return ad_mean(t, ad_softmax_xent(t, logits, M->cls));
}

/* splitmix64 → standard normal (Box–Muller). */
static double rnd_u(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    return ((z >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

static double rnd_n(uint64_t *s)
{
    double u = rnd_u(s), v = rnd_u(s);
    return sqrt(-2 * log(u)) * cos(6.283185307179586 * v);
}

/* ‖W‖₂ by 50 power iterations on WᵀW from v (h, kept between calls). */
static double spectral_norm(const double *W, int h, double *v, double *w)
{
    double s = 0;
    for (int it = 0; it < 50; it++) {
        for (int i = 0; i < h; i++) {
            w[i] = 0;
            for (int j = 0; j < h; j++)
                w[i] += W[i * h + j] * v[j];
        }
        double n2 = 0;
        for (int j = 0; j < h; j++) {
            double a = 0;
            for (int i = 0; i < h; i++)
                a += W[i * h + j] * w[i];
            v[j] = a;
            n2 += a * a;
        }
        s = sqrt(sqrt(n2));
        double n = sqrt(n2);
        if (!(n > 0))
            return 0;
        for (int j = 0; j < h; j++)
            v[j] /= n;
    }
    return s;
}

/* Settings of the experiment. */
typedef struct deq_cfg {
    const cli_common *c;
    ds_set train, test;
    int h, B, epochs, unroll_k, fwd_iters;
    double lr, rho_max, fwd_tol, lin_rtol;
} deq_cfg;

/* What one run (one backward method) produced. */
typedef struct deq_run {
    const char *name;
    double acc[64], secs[64], loss[64]; /* per epoch (index 0: at initialisation) */
    double seconds, backward_seconds, forward_iters, backward_products;
    double grad_cosine; /* cos(hg, tight IFT hg) at the final λ on the first batch */
    long passes, unconverged;
} deq_run;

static void init_lambda(const deq_model *M, uint64_t seed, double *la)
{
    uint64_t s = seed * 0x2545f4914f6cdd1dULL + 7;
    memset(la, 0, (size_t)M->m * sizeof *la);
    for (int i = 0; i < M->h * M->h; i++)
        la[M->off_W + i] = rnd_n(&s) * 0.5 / sqrt((double)M->h);
    for (int i = 0; i < M->h * M->d; i++)
        la[M->off_U + i] = rnd_n(&s) / sqrt((double)M->d);
    for (int i = 0; i < NCLASS * M->h; i++)
        la[M->off_R + i] = rnd_n(&s) / sqrt((double)M->h);
}

static void layout(deq_model *M, int h, int d, int B)
{
    M->h = h;
    M->d = d;
    M->B = B;
    M->off_W = 0;
    M->off_U = h * h;
    M->off_b = M->off_U + h * d;
    M->off_R = M->off_b + h;
    M->off_c = M->off_R + NCLASS * h;
    M->m = M->off_c + NCLASS;
}

/* Test accuracy at λ: Broyden to the forward tolerance on batches of
 * EVAL_BATCH images, then the argmax of the readout. */
static double test_accuracy(const deq_cfg *G, const double *la)
{
    int correct = 0, n = G->test.n;
    for (int s0 = 0; s0 < n; s0 += EVAL_BATCH) {
        int B = n - s0 < EVAL_BATCH ? n - s0 : EVAL_BATCH;
        deq_model M;
        layout(&M, G->h, G->test.d, B);
        M.X = G->test.X + (size_t)s0 * G->test.d;
        M.cls = G->test.cls + s0;
        bl_fp_problem pb = {"deq", G->h * B, M.m, deq_f, deq_L, G->rho_max, &M};
        bl_fp_oracle *o = bl_fp_oracle_new(&pb, 0);
        bl_root *r = o ? bl_root_new(bl_root_broyden, o, NULL, NULL) : NULL;
        if (!r || bl_root_set(r, NULL, la) != BL_OK)
            cli_fail_run(G->c->cmd, "test forward: %s", o ? bl_fp_oracle_message(o) : "out of memory");
        bl_status st = bl_root_solve(r, G->fwd_tol * sqrt((double)B / G->B), G->fwd_iters);
        if (st != BL_OK && st != BL_ENOTCONVERGED)
            cli_fail_run(G->c->cmd, "test forward: %s", bl_fp_oracle_message(o));
        const double *z = bl_root_theta(r);
        for (int k = 0; k < B; k++) {
            int best = 0;
            double bv = -INFINITY;
            for (int c = 0; c < NCLASS; c++) {
                double v = la[M.off_c + c];
                for (int i = 0; i < G->h; i++)
                    v += la[M.off_R + c * G->h + i] * z[i * B + k];
                if (v > bv) {
                    bv = v;
                    best = c;
                }
            }
            correct += best == M.cls[k];
        }
        bl_root_free(r);
        bl_fp_oracle_free(o);
    }
    return (double)correct / n;
}

/* One Adam step (β1 0.9, β2 0.999, ε 1e-8) then the projection of W. */
static void adam_step(const deq_cfg *G, const deq_model *M, double *la, const double *g,
                      double *m1, double *m2, int t, double *v, double *w)
{
    double b1 = 0.9, b2 = 0.999, c1 = 1 - pow(b1, t), c2 = 1 - pow(b2, t);
    for (int i = 0; i < M->m; i++) {
        m1[i] = b1 * m1[i] + (1 - b1) * g[i];
        m2[i] = b2 * m2[i] + (1 - b2) * g[i] * g[i];
        la[i] -= G->lr * (m1[i] / c1) / (sqrt(m2[i] / c2) + 1e-8);
    }
    double s = spectral_norm(la + M->off_W, M->h, v, w);
    if (s > G->rho_max)
        for (int i = 0; i < M->h * M->h; i++)
            la[M->off_W + i] *= G->rho_max / s;
}

/* The options of the context for backward method k. */
static bl_fp_hg_opts method_opts(const deq_cfg *G, int k)
{
    bl_fp_hg_opts o = {.cold_start = 1, .root_tol = G->fwd_tol, .root_iters = G->fwd_iters,
                       .linear = BL_FP_LIN_GMRES, .linear_rtol = G->lin_rtol,
                       .linear_iters = 100};
    bl_fp_method_from_name(BACKWARD[k], &o.method);
    if (o.method == BL_FP_UNROLL) {
        o.root_iters = G->unroll_k;
        o.root_tol = -1;
    }
    return o;
}

/* The cosine between the method's hypergradient (context h) and a tight
 * IFT one (GMRES to a relative residual 1e-10) at λ on the first training
 * images (a measure of the backward's accuracy, not of its cost). */
static double reference_cosine(const deq_cfg *G, deq_model *M, const bl_fp_problem *pb,
                               bl_fphg *h, const double *la, double *g, double *Xb, int *cb)
{
    for (int r = 0; r < G->B; r++) {
        memcpy(Xb + (size_t)r * G->train.d, G->train.X + (size_t)r * G->train.d,
               (size_t)G->train.d * sizeof *Xb);
        cb[r] = G->train.cls[r];
    }
    (void)M;
    bl_fp_hg_opts o = {.cold_start = 1, .root_tol = 1e-3 * G->fwd_tol, .root_iters = 500,
                       .linear_rtol = 1e-10, .linear_iters = 500};
    bl_status st;
    bl_fphg *ref = bl_fphg_new(pb, &o, &st);
    double *gr = malloc((size_t)pb->m * sizeof *gr);
    double cs = NAN;
    if (ref && gr && (st = bl_fphg_eval(ref, la, gr, NULL)) == BL_OK &&
        ((st = bl_fphg_eval(h, la, g, NULL)) == BL_OK || st == BL_ENOTCONVERGED)) {
        double ab = 0, aa = 0, bb = 0;
        for (int i = 0; i < pb->m; i++) {
            ab += g[i] * gr[i];
            aa += g[i] * g[i];
            bb += gr[i] * gr[i];
        }
        cs = ab / sqrt(aa * bb);
    }
    free(gr);
    bl_fphg_free(ref);
    return cs;
}

static void run_method(const deq_cfg *G, int k, FILE *csv, deq_run *R)
{
    const char *cmd = G->c->cmd;
    deq_model M;
    layout(&M, G->h, G->train.d, G->B);
    bl_fp_problem pb = {"deq", G->h * G->B, M.m, deq_f, deq_L, G->rho_max, &M};
    bl_fp_hg_opts o = method_opts(G, k);
    char msg[256];
    if (bl_fphg_check(&pb, &o, msg, sizeof msg) != BL_OK)
        cli_fail_run(cmd, "%s", msg);
    bl_status st;
    bl_fphg *h = bl_fphg_new(&pb, &o, &st);
    double *la = calloc((size_t)M.m, sizeof *la), *g = calloc((size_t)M.m, sizeof *g);
    double *m1 = calloc((size_t)M.m, sizeof *m1), *m2 = calloc((size_t)M.m, sizeof *m2);
    double *v = calloc((size_t)G->h, sizeof *v), *w = calloc((size_t)G->h, sizeof *w);
    int *perm = malloc((size_t)G->train.n * sizeof *perm);
    if (!h || !la || !g || !m1 || !m2 || !v || !w || !perm)
        cli_fail_run(cmd, "out of memory (%d parameters)", M.m);
    for (int i = 0; i < G->h; i++)
        v[i] = 1 / sqrt((double)G->h);
    init_lambda(&M, G->c->seed, la);
    adam_step(G, &M, la, g, m1, m2, 1, v, w); /* zero gradient: only the projection */
    memset(m1, 0, (size_t)M.m * sizeof *m1);
    memset(m2, 0, (size_t)M.m * sizeof *m2);
    double *Xb = malloc((size_t)G->B * G->train.d * sizeof *Xb);
    int *cb = malloc((size_t)G->B * sizeof *cb);
    if (!Xb || !cb)
        cli_fail_run(cmd, "out of memory (batch of %d)", G->B);
    M.X = Xb;
    M.cls = cb;
    R->name = BACKWARD[k];
    R->acc[0] = test_accuracy(G, la);
    R->secs[0] = 0;
    R->loss[0] = NAN;
    fprintf(csv, "%s,0,0,,%.6f,,,\n", BACKWARD[k], R->acc[0]);
    uint64_t s = G->c->seed * 0x9e3779b97f4a7c15ULL + 1;
    int t = 0, nb = G->train.n / G->B;
    double train_secs = 0;
    for (int e = 1; e <= G->epochs; e++) {
        for (int i = 0; i < G->train.n; i++)
            perm[i] = i;
        for (int i = G->train.n - 1; i > 0; i--) { /* Fisher–Yates, the same for every run */
            int j = (int)(rnd_u(&s) * (i + 1));
            int tmp = perm[i];
            perm[i] = perm[j];
            perm[j] = tmp;
        }
        double t0 = cli_now(), lsum = 0, fi = 0, bp = 0, bs = 0;
        for (int bi = 0; bi < nb; bi++) {
            for (int r = 0; r < G->B; r++) {
                int idx = perm[bi * G->B + r];
                memcpy(Xb + (size_t)r * G->train.d, G->train.X + (size_t)idx * G->train.d,
                       (size_t)G->train.d * sizeof *Xb);
                cb[r] = G->train.cls[idx];
            }
            bl_fp_diag d;
            st = bl_fphg_eval(h, la, g, &d);
            if (st == BL_ENOTCONVERGED)
                R->unconverged++;
            else if (st != BL_OK)
                cli_fail_run(cmd, "%s, epoch %d batch %d: %s", BACKWARD[k], e, bi, bl_fphg_message(h));
            adam_step(G, &M, la, g, m1, m2, ++t, v, w);
            lsum += d.loss;
            fi += d.forward_iters;
            bp += (double)d.backward_products;
            bs += d.backward_seconds;
        }
        train_secs += cli_now() - t0;
        R->passes += nb;
        R->forward_iters += fi;
        R->backward_products += bp;
        R->backward_seconds += bs;
        R->acc[e] = test_accuracy(G, la);
        R->secs[e] = train_secs;
        R->loss[e] = lsum / nb;
        fprintf(csv, "%s,%d,%.3f,%.6f,%.6f,%.3f,%.3f,%.6f\n", BACKWARD[k], e, train_secs,
                R->loss[e], R->acc[e], fi / nb, bp / nb, bs / nb);
        cli_progress(G->c, "%-13s epoch %d  loss %.4f  test accuracy %.2f%%  %.1f s  forward %.1f iters"
                     "  backward %.1f products", BACKWARD[k], e, R->loss[e], 100 * R->acc[e],
                     train_secs, fi / nb, bp / nb);
    }
    R->seconds = train_secs;
    R->grad_cosine = reference_cosine(G, &M, &pb, h, la, g, Xb, cb);
    if (R->passes) {
        R->forward_iters /= (double)R->passes;
        R->backward_products /= (double)R->passes;
        R->backward_seconds /= (double)R->passes;
    }
    bl_fphg_free(h);
    free(la);
    free(g);
    free(m1);
    free(m2);
    free(v);
    free(w);
    free(perm);
    free(Xb);
    free(cb);
}

/* deq.png: test accuracy against epochs (left) and training seconds (right). */
static int plot(const deq_cfg *G, const deq_run *R, int nr)
{
    char gp[1200], datp[1100];
    FILE *dat = cli_open_scratch(G->c->cmd, "deq_plot.dat", datp, sizeof datp);
    for (int r = 0; r < nr; r++) {
        for (int e = 0; e <= G->epochs; e++)
            fprintf(dat, "%d %.4f %.3f\n", e, 100 * R[r].acc[e], R[r].secs[e]);
        fprintf(dat, "\n\n");
    }
    if (fclose(dat) != 0)
        cli_fail_run(G->c->cmd, "cannot write '%s'", datp);
    FILE *g = cli_plot_open(G->c, "deq.png", 1200, 480, gp, sizeof gp);
    fprintf(g, "set multiplot layout 1,2 title 'DEQ on Fashion-MNIST (%d train, %d test, hidden %d, "
               "batch %d): test accuracy by backward pass'\n",
            G->train.n, G->test.n, G->h, G->B);
    fprintf(g, "set ylabel 'test accuracy (%%)'\nset key bottom right\nset grid\n");
    const char *xs[2] = {"epoch", "training seconds (log scale)"};
    for (int p = 0; p < 2; p++) {
        fprintf(g, "set xlabel '%s'\n%s\nplot ", xs[p],
                p ? "set logscale x\nset xtics auto" : "set xtics 1");
        for (int r = 0; r < nr; r++) /* the log-scale panel skips epoch 0 (0 seconds) */
            fprintf(g, "%s'%s' index %d using %s:2 with linespoints lw 2 dt %d pt %d title '%s'",
                    r ? ", " : "", datp, r, p ? "($3 > 0 ? $3 : 1/0)" : "1", r + 1, 5 + 2 * r,
                    R[r].name);
        fprintf(g, "\n");
    }
    fprintf(g, "unset multiplot\n");
    return cli_gnuplot(G->c, g, gp, "deq.png", datp); /* removes the scratch data and script */
}

static void summary(const deq_cfg *G, const deq_run *R, int nr, int json)
{
    char tmp[1100];
    FILE *f = cli_open_tmp(G->c->cmd, G->c->out, "deq_summary.csv", tmp, sizeof tmp);
    fprintf(f, "backward,test_accuracy,seconds,backward_seconds,backward_products,forward_iters,"
               "grad_cosine,unconverged_passes\n");
    for (int r = 0; r < nr; r++)
        fprintf(f, "%s,%.6f,%.3f,%.6f,%.3f,%.3f,%.6f,%ld\n", R[r].name, R[r].acc[G->epochs], R[r].seconds,
                R[r].backward_seconds, R[r].backward_products, R[r].forward_iters, R[r].grad_cosine,
                R[r].unconverged);
    cli_commit(G->c->cmd, f, tmp);
    if (json) {
        printf("{\"runs\": [");
        for (int r = 0; r < nr; r++) {
            printf("%s{\"backward\": \"%s\", \"test_accuracy\": ", r ? ", " : "", R[r].name);
            cli_json_number(stdout, R[r].acc[G->epochs]);
            printf(", \"seconds\": ");
            cli_json_number(stdout, R[r].seconds);
            printf(", \"backward_seconds\": ");
            cli_json_number(stdout, R[r].backward_seconds);
            printf(", \"backward_products\": %ld, \"forward_iters\": ", lround(R[r].backward_products));
            cli_json_number(stdout, R[r].forward_iters);
            printf("}");
        }
        printf("]}\n");
        return;
    }
    printf("%-13s %9s %9s %13s %9s %9s %9s\n", "backward", "test acc", "train s", "backward ms",
           "products", "fwd iters", "cos(ift)");
    for (int r = 0; r < nr; r++)
        printf("%-13s %8.2f%% %9.1f %13.2f %9.1f %9.1f %9.4f\n", R[r].name, 100 * R[r].acc[G->epochs],
               R[r].seconds, 1e3 * R[r].backward_seconds, R[r].backward_products,
               R[r].forward_iters, R[r].grad_cosine);
    printf("backward ms and products: mean per backward pass (JVP/VJP products, the final\n"
           "(df/dlambda)^T u included); fwd iters: mean root iterations (Broyden; unroll: its K\n"
           "fixed-point steps); cos(ift): cosine to a tight IFT hypergradient at the final lambda.\n");
}

/* Loads the first n_train training and n_test test images, standardised
 * with the training set's statistics. */
static void load(deq_cfg *G, const char *dir, int n_train, int n_test)
{
    char msg[512];
    ds_set full = {0};
    const char *cmd = G->c->cmd;
    if (ds_fashion_mnist(dir, 1, &full, msg, sizeof msg) != BL_OK ||
        ds_head(&full, n_train, &G->train, msg, sizeof msg) != BL_OK)
        cli_fail(cmd, "%s", msg);
    ds_set_free(&full);
    if (ds_fashion_mnist(dir, 0, &full, msg, sizeof msg) != BL_OK ||
        ds_head(&full, n_test, &G->test, msg, sizeof msg) != BL_OK)
        cli_fail(cmd, "%s", msg);
    ds_set_free(&full);
    double *mean = malloc((size_t)G->train.d * sizeof *mean), *sd = malloc((size_t)G->train.d * sizeof *sd);
    if (!mean || !sd || ds_standardize_fit(&G->train, mean, sd, msg, sizeof msg) != BL_OK ||
        ds_standardize_apply(&G->train, mean, sd, msg, sizeof msg) != BL_OK ||
        ds_standardize_apply(&G->test, mean, sd, msg, sizeof msg) != BL_OK)
        cli_fail_run(cmd, "standardise: %s", mean && sd ? msg : "out of memory");
    free(mean);
    free(sd);
}

static int backward_list(const char *cmd, const char *text, int *sel)
{
    if (!text) {
        for (int k = 0; k < NB; k++)
            sel[k] = k;
        return NB;
    }
    int n = 0;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", text);
    for (char *save, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        int k = 0;
        while (k < NB && strcmp(tok, BACKWARD[k]))
            k++;
        if (k == NB)
            cli_fail(cmd, "--backward: unknown '%s' (ift, shine, shine-refine, jacobian-free, unroll)", tok);
        for (int j = 0; j < n; j++)
            if (sel[j] == k)
                cli_fail(cmd, "--backward: '%s' given twice", tok);
        sel[n++] = k;
    }
    if (!n)
        cli_fail(cmd, "--backward: empty list");
    return n;
}

static const char usage[] =
    "usage: hypertape deq [--backward ift,shine,shine-refine,jacobian-free,unroll] [--n-train N]\n"
    "           [--n-test N] [--epochs E] [--hidden H] [--batch B] [--lr A] [--rho R]\n"
    "           [--unroll-k K] [--fashion-dir DIR] [--seed S] [--out DIR] [--quiet] [--json]\n"
    "A DEQ classifier z = tanh(Wz + Ux + b), logits = Rz + c, on Fashion-MNIST, trained by\n"
    "Adam with each backward pass; writes deq.csv, deq_summary.csv and deq.png.\n";

int cmd_deq(int argc, char **argv)
{
    cli_opt opts[] = {
        {"backward", 1, "comma list of ift, shine, shine-refine, jacobian-free, unroll (default all)", NULL, 0},
        {"n-train", 1, "training images (default 800)", NULL, 0},
        {"n-test", 1, "test images (default 2000)", NULL, 0},
        {"epochs", 1, "epochs (default 2)", NULL, 0},
        {"hidden", 1, "hidden size h (default 32)", NULL, 0},
        {"batch", 1, "batch size (default 32)", NULL, 0},
        {"lr", 1, "Adam step (default 0.01)", NULL, 0},
        {"rho", 1, "bound on ||W||_2, the contraction constant (default 0.9)", NULL, 0},
        {"unroll-k", 1, "fixed-point steps of the unroll run (default 30)", NULL, 0},
        {"fashion-dir", 1, "Fashion-MNIST IDX folder (default " DEFAULT_FASHION ")", NULL, 0},
        {"json", 0, "print one JSON object on stdout", NULL, 0},
    };
    int nopts = (int)(sizeof opts / sizeof *opts);
    cli_common c = {.cmd = "deq"};
    cli_parse(argc, argv, 2, opts, nopts, usage, &c);
    const char *v;
    deq_cfg G = {.c = &c};
    int n_train = (v = cli_get(opts, nopts, "n-train")) ? cli_int(c.cmd, "n-train", v, 1, 60000) : 800;
    int n_test = (v = cli_get(opts, nopts, "n-test")) ? cli_int(c.cmd, "n-test", v, 1, 10000) : 2000;
    G.epochs = (v = cli_get(opts, nopts, "epochs")) ? cli_int(c.cmd, "epochs", v, 1, 63) : 2;
    G.h = (v = cli_get(opts, nopts, "hidden")) ? cli_int(c.cmd, "hidden", v, 1, 1024) : 32;
    G.B = (v = cli_get(opts, nopts, "batch")) ? cli_int(c.cmd, "batch", v, 1, 10000) : 32;
    G.lr = (v = cli_get(opts, nopts, "lr")) ? cli_number(c.cmd, "lr", v) : 0.01;
    G.rho_max = (v = cli_get(opts, nopts, "rho")) ? cli_number(c.cmd, "rho", v) : 0.9;
    G.unroll_k = (v = cli_get(opts, nopts, "unroll-k")) ? cli_int(c.cmd, "unroll-k", v, 1, 10000) : 30;
    if (!(G.lr > 0))
        cli_fail(c.cmd, "--lr must be positive, got %g", G.lr);
    if (!(G.rho_max > 0 && G.rho_max < 1))
        cli_fail(c.cmd, "--rho must be in (0, 1), got %g", G.rho_max);
    if (G.B > n_train)
        cli_fail(c.cmd, "--batch %d is larger than --n-train %d", G.B, n_train);
    int sel[NB];
    int nr = backward_list(c.cmd, cli_get(opts, nopts, "backward"), sel);
    int json = opts[nopts - 1].seen;
    G.fwd_tol = 1e-5 * sqrt((double)G.h * G.B); /* ≈ 1e-5 per entry of z */
    G.fwd_iters = 50;
    G.lin_rtol = 1e-6;
    const char *dir = (v = cli_get(opts, nopts, "fashion-dir")) ? v : DEFAULT_FASHION;
    load(&G, dir, n_train, n_test);
    cli_mkdir(c.cmd, c.out);
    cli_progress(&c, "DEQ on Fashion-MNIST: %d train, %d test, hidden %d, batch %d, %d epochs, "
                 "lr %g, ||W|| <= %g", G.train.n, G.test.n, G.h, G.B, G.epochs, G.lr, G.rho_max);
    char csvp[1100];
    FILE *csv = cli_open_tmp(c.cmd, c.out, "deq.csv", csvp, sizeof csvp);
    fprintf(csv, "backward,epoch,seconds,train_loss,test_accuracy,forward_iters,backward_products,"
                 "backward_seconds\n");
    deq_run R[NB];
    memset(R, 0, sizeof R);
    double t0 = cli_now();
    for (int r = 0; r < nr; r++)
        run_method(&G, sel[r], csv, &R[r]);
    cli_commit(c.cmd, csv, csvp);
    summary(&G, R, nr, json);
    int ok = plot(&G, R, nr);
    if (!json)
        printf("wrote %s/deq.csv, %s/deq_summary.csv%s%s%s  (%.1f s)\n", c.out, c.out,
               ok ? ", " : "", ok ? c.out : "", ok ? "/deq.png" : "", cli_now() - t0);
    int unconv = 0;
    for (int r = 0; r < nr; r++)
        unconv += R[r].unconverged > 0;
    if (unconv)
        fprintf(stderr, "hypertape deq: note: %d run(s) had passes that stopped at an iteration cap "
                        "(unconverged_passes in deq_summary.csv)\n", unconv);
    ds_set_free(&G.train);
    ds_set_free(&G.test);
    return 0;
}
