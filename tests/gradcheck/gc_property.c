/*
 * tests/gradcheck/gc_property.c — property test: random compositions of
 * ad ops, checked like single ops (gc.h: gradient on every coordinate,
 * Hvp in both modes, jvp, joint and cross checks) against central
 * differences.
 *
 * For each seed a program of depth 6–11 is drawn on a leaf X (the
 * "theta") and a second leaf L (the "lambda"): every step applies one op
 * (unary, binary with broadcasting, reduction, broadcast, dot, matmul in
 * any transpose combination, transpose, slice, gather, gather_rows,
 * scatter_add, embed, concat, reshape, spmm, select, logsumexp,
 * softmax_xent) to the current value, with a partner taken from earlier
 * values (X, L or any intermediate: the program is a DAG) or a fresh
 * constant. Steps are drawn at the base point, where the values are known:
 * an op whose input is too close to a kink or pole (0.1 from abs/relu,
 * 0.3 from log/sqrt/pow/division), or whose output leaves [−20, 20] or
 * saturates (tanh, sigmoid beyond 4), is rejected and redrawn. The program
 * is then replayed unchanged at every perturbed point.
 */
#include "gc.h"

#ifndef NSEEDS
#define NSEEDS 200 /* -DNSEEDS=... for a longer run */
#endif
#define MAXSTEPS 12
#define MAXV (2 + MAXSTEPS)
#define MAXDIM 6
#define MAXSIZE 36

enum kind {
    K_UNARY, K_POW, K_AFFINE, K_BINARY, K_SUM, K_MEAN, K_SUM_ROWS, K_SUM_COLS, K_LSE,
    K_BROADCAST, K_DOT, K_MATMUL, K_TRANSPOSE, K_SLICE, K_GATHER, K_GATHER_ROWS, K_SCATTER,
    K_EMBED, K_CONCAT, K_RESHAPE, K_SPMM, K_SELECT, K_XENT
};

typedef struct step {
    int kind;
    int a, b;                        /* operands: value indices; b = -1: the constant below */
    int swap;                        /* binary/matmul: the partner is the left operand */
    int ip[4];                       /* integer parameters */
    double dp[2];                    /* real parameters */
    ad_var (*un)(ad_tape *, ad_var); /* K_UNARY */
    ad_var (*bin)(ad_tape *, ad_var, ad_var);
    int idx[MAXSIZE * 2];            /* gather/scatter indices, labels */
    int cr, cc;                      /* constant operand r×c */
    double cdata[MAXSIZE];           /* constant operand (or select mask) */
    double odata[MAXSIZE];           /* select: the constant other branch when b = -1 */
    int64_t rowptr[MAXDIM + 1];      /* spmm: CSR S */
    int colind[MAXDIM * MAXDIM];
    double val[MAXDIM * MAXDIM];
    ad_csr csr;
    const char *name;
} step;

typedef struct program {
    int n;
    step s[MAXSTEPS];
    char desc[400];
} program;

/* ------------------------------------------------------------- replay */

static ad_var apply(ad_tape *t, const step *s, const ad_var *v)
{
    ad_var a = v[s->a];
    ad_var b = s->b >= 0 ? v[s->b] : (s->cr ? ad_const(t, s->cr, s->cc, s->cdata) : AD_NONE);
    switch (s->kind) {
    case K_UNARY: return s->un(t, a);
    case K_POW: return ad_pow(t, a, s->dp[0]);
    case K_AFFINE: return ad_affine(t, a, s->dp[0], s->dp[1]);
    case K_BINARY: return s->swap ? s->bin(t, b, a) : s->bin(t, a, b);
    case K_SUM: return ad_sum(t, a);
    case K_MEAN: return ad_mean(t, a);
    case K_SUM_ROWS: return ad_sum_rows(t, a);
    case K_SUM_COLS: return ad_sum_cols(t, a);
    case K_LSE: return ad_logsumexp_rows(t, a);
    case K_BROADCAST: return ad_broadcast(t, a, s->ip[0], s->ip[1]);
    case K_DOT: return ad_dot(t, a, b);
    case K_MATMUL:
        return s->swap ? ad_matmul(t, b, a, s->ip[0], s->ip[1]) : ad_matmul(t, a, b, s->ip[0], s->ip[1]);
    case K_TRANSPOSE: return ad_transpose(t, a);
    case K_SLICE: return ad_slice(t, a, s->ip[0], s->ip[1], s->ip[2], s->ip[3]);
    case K_GATHER: return ad_gather(t, a, s->idx, s->ip[0], s->ip[1]);
    case K_GATHER_ROWS: return ad_gather_rows(t, a, s->idx, s->ip[0]);
    case K_SCATTER: return ad_scatter_add(t, a, s->idx, s->ip[0], s->ip[1]);
    case K_EMBED: return ad_embed(t, a, s->ip[0], s->ip[1], s->ip[2], s->ip[3]);
    case K_CONCAT: return s->swap ? ad_concat(t, b, a, s->ip[0]) : ad_concat(t, a, b, s->ip[0]);
    case K_RESHAPE: return ad_reshape(t, a, s->ip[0], s->ip[1]);
    case K_SPMM: return ad_spmm(t, &s->csr, a, s->ip[0]);
    case K_SELECT: {
        ad_var m = ad_const(t, ad_rows(t, a), ad_cols(t, a), s->cdata);
        ad_var other = s->b >= 0 ? v[s->b] : ad_const(t, ad_rows(t, a), ad_cols(t, a), s->odata);
        return s->swap ? ad_select(t, m, other, a) : ad_select(t, m, a, other);
    }
    default: return ad_softmax_xent(t, a, s->idx);
    }
}

/* The gc.h callback: x[0] = X, x[1] = L. */
static ad_var run_program(ad_tape *t, const ad_var *x, const void *ctx)
{
    const program *p = ctx;
    ad_var v[MAXV];
    v[0] = x[0];
    v[1] = x[1];
    for (int k = 0; k < p->n; k++)
        v[2 + k] = apply(t, &p->s[k], v);
    return v[1 + p->n];
}

/* --------------------------------------------------------- generation */

typedef struct gen {
    ad_tape *t;
    ad_var v[MAXV];
    int nv;
} gen;

static int rows_of(const gen *g, int k) { return ad_rows(g->t, g->v[k]); }
static int cols_of(const gen *g, int k) { return ad_cols(g->t, g->v[k]); }

static void minmax(const gen *g, int k, double *lo, double *hi, double *absmin)
{
    const double *x = ad_value(g->t, g->v[k]);
    size_t n = (size_t)rows_of(g, k) * cols_of(g, k);
    *lo = INFINITY;
    *hi = -INFINITY;
    *absmin = INFINITY;
    for (size_t q = 0; q < n; q++) {
        *lo = fmin(*lo, x[q]);
        *hi = fmax(*hi, x[q]);
        *absmin = fmin(*absmin, fabs(x[q]));
    }
}

/* An earlier value whose shape satisfies want(r, c, ...) — chosen at
 * random among the matches — or -1. */
static int pick_partner(const gen *g, int (*ok)(int r, int c, const int *p), const int *p)
{
    int cand[MAXV], n = 0;
    for (int k = 0; k < g->nv; k++)
        if (ok(rows_of(g, k), cols_of(g, k), p))
            cand[n++] = k;
    return n ? cand[gc_int(n)] : -1;
}

/* broadcast partner of an r×c value: r×c, 1×c, r×1 or 1×1 */
static int ok_bcast(int r, int c, const int *p)
{
    return (r == p[0] || r == 1) && (c == p[1] || c == 1);
}
static int ok_same(int r, int c, const int *p) { return r == p[0] && c == p[1]; }
static int ok_rows(int r, int c, const int *p) { return r == p[0] && r * (c + p[1]) <= MAXSIZE && c + p[1] <= MAXDIM; }
static int ok_cols(int r, int c, const int *p) { return c == p[1] && c * (r + p[0]) <= MAXSIZE && r + p[0] <= MAXDIM; }
/* matmul partner with k rows (tb = 0) or k columns (tb = 1) */
static int ok_k_rows(int r, int c, const int *p) { return r == p[2]; }
static int ok_k_cols(int r, int c, const int *p) { return c == p[2]; }

static void set_const(step *s, int r, int c, double lo, double hi, int sign)
{
    s->b = -1;
    s->cr = r;
    s->cc = c;
    for (int q = 0; q < r * c; q++) {
        double x = t_uniform(&gc_rng, lo, hi);
        s->cdata[q] = sign && (t_next(&gc_rng) & 1) ? -x : x;
    }
}

typedef struct unary_def {
    const char *name;
    ad_var (*f)(ad_tape *, ad_var);
    int dom; /* 0 any, 1 x ≥ 0.3, 2 x ≥ −0.7, 3 |x| ≥ 0.1, 4 x ≤ 3, 5 |x| ≤ 4, 6 |x| ≤ 5 */
} unary_def;

static const unary_def unaries[] = {
    {"neg", ad_neg, 0},         {"exp", ad_exp, 4},       {"log", ad_log, 1},
    {"log1p", ad_log1p, 2},     {"sqrt", ad_sqrt, 1},     {"square", ad_square, 6},
    {"abs", ad_abs, 3},         {"sigmoid", ad_sigmoid, 5}, {"softplus", ad_softplus, 0},
    {"logsigmoid", ad_logsigmoid, 0}, {"tanh", ad_tanh, 5}, {"relu", ad_relu, 3},
};

static int domain_ok(int dom, double lo, double hi, double absmin)
{
    switch (dom) {
    case 1: return lo >= 0.3;
    case 2: return lo >= -0.7;
    case 3: return absmin >= 0.1;
    case 4: return hi <= 3.0;
    case 5: return fmax(-lo, hi) <= 4.0;
    case 6: return fmax(-lo, hi) <= 5.0;
    default: return 1;
    }
}

/* Draws one step on the current value `cur` (an index into g->v); returns
 * 0 when the draw does not apply (wrong shapes or domain): draw again. */
static int draw(gen *g, int cur, step *s)
{
    memset(s, 0, sizeof *s);
    s->a = cur;
    s->b = -1;
    int r = rows_of(g, cur), c = cols_of(g, cur);
    int rc[3] = {r, c, 0};
    double lo, hi, amin;
    minmax(g, cur, &lo, &hi, &amin);
    int pick = gc_int(100);
    if (pick < 22) { /* unary */
        const unary_def *u = &unaries[gc_int((int)(sizeof unaries / sizeof unaries[0]))];
        if (!domain_ok(u->dom, lo, hi, amin))
            return 0;
        s->kind = K_UNARY;
        s->un = u->f;
        s->name = u->name;
    } else if (pick < 27) { /* pow */
        static const double ps[] = {2.5, -1.5, 0.5, 3.0, -1.0, 1.5};
        s->kind = K_POW;
        s->dp[0] = ps[gc_int(6)];
        s->name = "pow";
        if (!domain_ok(1, lo, hi, amin) || hi > 4.0)
            return 0;
    } else if (pick < 32) {
        s->kind = K_AFFINE;
        s->dp[0] = t_uniform(&gc_rng, 0.5, 1.5) * (gc_int(2) ? 1 : -1);
        s->dp[1] = t_uniform(&gc_rng, -1.0, 1.0);
        s->name = "affine";
    } else if (pick < 52) { /* binary with broadcasting, either side */
        static const struct {
            const char *name;
            ad_var (*f)(ad_tape *, ad_var, ad_var);
        } bins[] = {{"add", ad_add}, {"sub", ad_sub}, {"mul", ad_mul}, {"div", ad_div}};
        int which = gc_int(4);
        s->kind = K_BINARY;
        s->bin = bins[which].f;
        s->name = bins[which].name;
        s->swap = gc_int(2);
        int p = gc_int(3) ? pick_partner(g, ok_bcast, rc) : -1;
        if (p >= 0) {
            s->b = p;
        } else {
            static const int shp[4][2] = {{1, 1}, {1, 0}, {0, 1}, {0, 0}}; /* 0: full */
            int k = gc_int(4);
            set_const(s, shp[k][0] ? 1 : r, shp[k][1] ? 1 : c, 0.5, 1.5, 1);
        }
        if (which == 3) { /* the denominator stays 0.3 or more from 0 */
            double dlo, dhi, dmin;
            if (!s->swap) {
                if (s->b >= 0)
                    minmax(g, s->b, &dlo, &dhi, &dmin);
                else {
                    dmin = INFINITY;
                    for (int q = 0; q < s->cr * s->cc; q++)
                        dmin = fmin(dmin, fabs(s->cdata[q]));
                }
            } else {
                dmin = amin;
            }
            if (dmin < 0.3)
                return 0;
        }
    } else if (pick < 58) { /* reductions */
        static const int ks[5] = {K_SUM, K_MEAN, K_SUM_ROWS, K_SUM_COLS, K_LSE};
        static const char *const nm[5] = {"sum", "mean", "sum_rows", "sum_cols", "logsumexp_rows"};
        int k = gc_int(5);
        s->kind = ks[k];
        s->name = nm[k];
    } else if (pick < 62) { /* broadcast up */
        s->kind = K_BROADCAST;
        s->ip[0] = r == 1 ? 1 + gc_int(MAXDIM) : r;
        s->ip[1] = c == 1 ? 1 + gc_int(MAXDIM) : c;
        s->name = "broadcast";
        if (s->ip[0] * s->ip[1] > MAXSIZE || (s->ip[0] == r && s->ip[1] == c))
            return 0;
    } else if (pick < 65) {
        s->kind = K_DOT;
        s->name = "dot";
        int p = pick_partner(g, ok_same, rc);
        if (p >= 0 && gc_int(2))
            s->b = p;
        else
            set_const(s, r, c, -1.0, 1.0, 0);
    } else if (pick < 75) { /* matmul: op(cur)·op(P) or op(P)·op(cur) */
        s->kind = K_MATMUL;
        s->name = "matmul";
        s->swap = gc_int(2);
        int tc = gc_int(2), tp = gc_int(2); /* transposes of cur and of the partner */
        s->ip[0] = s->swap ? tp : tc;
        s->ip[1] = s->swap ? tc : tp;
        /* cur contributes op(cur): m×k (left) or k×n (right) */
        int oc_r = tc ? c : r, oc_c = tc ? r : c;
        int k = s->swap ? oc_r : oc_c;
        rc[2] = k;
        int self = gc_int(4) == 0;
        int p = self ? cur : pick_partner(g, tp ^ s->swap ? ok_k_cols : ok_k_rows, rc);
        if (self) { /* cur with itself: the partner must fit too */
            int pr = tp ? c : r, pc = tp ? r : c; /* op(cur) as the partner */
            if ((s->swap ? pc : pr) != k)
                return 0;
            s->b = cur;
        } else if (p >= 0 && gc_int(2)) {
            s->b = p;
        } else { /* constant partner: op(P) is k×n (right) or n×k (left) */
            int n = 1 + gc_int(4);
            int opr = s->swap ? n : k, opc = s->swap ? k : n;
            set_const(s, tp ? opc : opr, tp ? opr : opc, -1.0, 1.0, 0);
        }
    } else if (pick < 78) {
        s->kind = K_TRANSPOSE;
        s->name = "transpose";
    } else if (pick < 81) {
        s->kind = K_SLICE;
        s->name = "slice";
        s->ip[1] = 1 + gc_int(r);
        s->ip[3] = 1 + gc_int(c);
        s->ip[0] = gc_int(r - s->ip[1] + 1);
        s->ip[2] = gc_int(c - s->ip[3] + 1);
    } else if (pick < 84) {
        s->kind = K_GATHER;
        s->name = "gather";
        s->ip[0] = 1 + gc_int(MAXDIM);
        s->ip[1] = 1 + gc_int(MAXDIM);
        if (s->ip[0] * s->ip[1] > MAXSIZE)
            return 0;
        for (int q = 0; q < s->ip[0] * s->ip[1]; q++)
            s->idx[q] = gc_int(r * c);
    } else if (pick < 86) {
        s->kind = K_GATHER_ROWS;
        s->name = "gather_rows";
        s->ip[0] = 1 + gc_int(MAXDIM);
        for (int q = 0; q < s->ip[0]; q++)
            s->idx[q] = gc_int(r);
    } else if (pick < 89) {
        s->kind = K_SCATTER;
        s->name = "scatter_add";
        s->ip[0] = 1 + gc_int(MAXDIM);
        s->ip[1] = 1 + gc_int(MAXDIM);
        if (s->ip[0] * s->ip[1] > MAXSIZE)
            return 0;
        for (int q = 0; q < r * c; q++)
            s->idx[q] = gc_int(s->ip[0] * s->ip[1]);
    } else if (pick < 91) {
        s->kind = K_EMBED;
        s->name = "embed";
        s->ip[0] = r + gc_int(3);
        s->ip[1] = c + gc_int(3);
        s->ip[2] = gc_int(s->ip[0] - r + 1);
        s->ip[3] = gc_int(s->ip[1] - c + 1);
        if (s->ip[0] > MAXDIM || s->ip[1] > MAXDIM || s->ip[0] * s->ip[1] > MAXSIZE)
            return 0;
    } else if (pick < 93) {
        s->kind = K_CONCAT;
        s->name = "concat";
        s->ip[0] = gc_int(2);
        s->swap = gc_int(2);
        int p = pick_partner(g, s->ip[0] ? ok_rows : ok_cols, rc);
        if (p >= 0) {
            s->b = p;
        } else {
            int e = 1 + gc_int(2);
            if (s->ip[0] ? (c + e > MAXDIM || r * (c + e) > MAXSIZE)
                         : (r + e > MAXDIM || c * (r + e) > MAXSIZE))
                return 0;
            set_const(s, s->ip[0] ? r : e, s->ip[0] ? e : c, -1.0, 1.0, 0);
        }
    } else if (pick < 94) {
        s->kind = K_RESHAPE;
        s->name = "reshape";
        int n = r * c, d[8], nd = 0;
        for (int q = 1; q <= n; q++)
            if (n % q == 0 && q <= MAXDIM && n / q <= MAXDIM)
                d[nd++] = q;
        s->ip[0] = d[gc_int(nd)];
        s->ip[1] = n / s->ip[0];
    } else if (pick < 96) { /* spmm: S (m×r, or r×m with trans) · cur */
        s->kind = K_SPMM;
        s->name = "spmm";
        s->ip[0] = gc_int(2);
        int m = 1 + gc_int(MAXDIM), sr = s->ip[0] ? r : m, sc = s->ip[0] ? m : r;
        if (m * c > MAXSIZE)
            return 0;
        int64_t nnz = 0;
        s->rowptr[0] = 0;
        for (int i = 0; i < sr; i++) {
            for (int j = 0; j < sc; j++)
                if (t_uniform(&gc_rng, 0, 1) < 0.5) {
                    s->colind[nnz] = j;
                    s->val[nnz++] = t_uniform(&gc_rng, -1.0, 1.0);
                }
            s->rowptr[i + 1] = nnz;
        }
        s->csr = (ad_csr){sr, sc, s->rowptr, s->colind, s->val, 0};
    } else if (pick < 99) { /* select with a random mask, against an earlier value or a constant */
        s->kind = K_SELECT;
        s->name = "select";
        s->swap = gc_int(2);
        int p = pick_partner(g, ok_same, rc);
        s->b = p != cur && gc_int(3) ? p : -1;
        for (int q = 0; q < r * c; q++) {
            s->cdata[q] = gc_int(2);
            s->odata[q] = t_uniform(&gc_rng, -1.0, 1.0);
        }
    } else {
        s->kind = K_XENT;
        s->name = "softmax_xent";
        for (int q = 0; q < r; q++)
            s->idx[q] = gc_int(c);
    }
    return 1;
}

/* ⟨w, y⟩ for the program replayed at X, L (y's size is n). */
static double probe(const program *p, int xr, int xc, const double *X, int lr, int lc,
                    const double *L, const double *w, size_t n)
{
    ad_tape *t = ad_tape_new(NULL);
    ad_var x[2] = {ad_const(t, xr, xc, X), ad_const(t, lr, lc, L)};
    ad_var y = run_program(t, x, p);
    double s = 0;
    const double *yv = ad_value(t, y);
    for (size_t q = 0; yv && q < n; q++)
        s += w[q] * yv[q];
    ad_tape_free(t);
    return s;
}

/* Whether y is sensitive enough to X, and to L when the program uses L,
 * for differences to resolve its derivatives: ‖∇⟨w, y⟩‖ ≥ 1e-3 (1 + ‖y‖)
 * for a random w, the gradients taken by central differences (not AD, so
 * that an AD bug cannot get a program discarded). Programs that cancel an
 * input out, such as (c/x)·x, or that drop it (a slice of a constant part),
 * have derivatives at rounding level, where a relative comparison means
 * nothing; they are redrawn. */
static int sensitive(const program *p, int xr, int xc, const double *X, int lr, int lc,
                     const double *L, const double *y, int yr, int yc, int uses_l)
{
    size_t n = (size_t)yr * yc;
    double w[MAXSIZE], pt[MAXSIZE];
    t_fill(&gc_rng, w, n, -1.0, 1.0);
    double floor = 1e-3 * (1.0 + gc_norm(y, n));
    for (int which = 0; which < 1 + uses_l; which++) {
        const double *base = which ? L : X;
        size_t m = which ? (size_t)lr * lc : (size_t)xr * xc;
        double g2 = 0;
        for (size_t q = 0; q < m; q++) {
            memcpy(pt, base, m * sizeof(double));
            double h = GC_H * fmax(1.0, fabs(base[q])), f[2];
            for (int sg = 0; sg < 2; sg++) {
                pt[q] = base[q] + (sg ? -h : h);
                f[sg] = which ? probe(p, xr, xc, X, lr, lc, pt, w, n)
                              : probe(p, xr, xc, pt, lr, lc, L, w, n);
            }
            g2 += ((f[0] - f[1]) / (2 * h)) * ((f[0] - f[1]) / (2 * h));
        }
        if (sqrt(g2) < floor)
            return 0;
    }
    return 1;
}

/* Draws a program of `depth` steps at X, L (values known): each step is
 * redrawn until it records cleanly with a moderate, finite output. Returns
 * 0 when no program came out, or when it is not sensitive() enough. */
static int generate(program *p, int depth, int xr, int xc, const double *X, int lr, int lc,
                    const double *L)
{
    gen g = {ad_tape_new(NULL), {{0}}, 2};
    g.v[0] = ad_leaf(g.t, xr, xc, X);
    g.v[1] = ad_leaf(g.t, lr, lc, L);
    int len = snprintf(p->desc, sizeof p->desc, "X %dx%d", xr, xc);
    int cur = 0, uses_l[MAXV] = {0, 1};
    p->n = 0;
    for (int k = 0; k < depth; k++) {
        int tries = 0, done = 0;
        while (!done && tries++ < 200) {
            step *s = &p->s[k];
            if (!draw(&g, cur, s))
                continue;
            ad_mark m = ad_tape_mark(g.t);
            ad_var y = apply(g.t, s, g.v);
            int ok = ad_tape_status(g.t) == AD_OK && ad_ok(y);
            if (ok) {
                int yr = ad_rows(g.t, y), yc = ad_cols(g.t, y);
                const double *yv = ad_value(g.t, y);
                ok = yr <= MAXDIM && yc <= MAXDIM && yr * yc <= MAXSIZE;
                for (int q = 0; ok && q < yr * yc; q++)
                    ok = isfinite(yv[q]) && fabs(yv[q]) <= 20.0;
            }
            if (!ok) {
                ad_tape_clear_error(g.t);
                ad_tape_rewind(g.t, m);
                continue;
            }
            uses_l[g.nv] = uses_l[s->a] || (s->b >= 0 && uses_l[s->b]);
            g.v[g.nv++] = y;
            cur = g.nv - 1;
            p->n++;
            if (len < (int)sizeof p->desc)
                len += snprintf(p->desc + len, sizeof p->desc - (size_t)len, " > %s%s%dx%d",
                                s->name, s->b >= 0 && s->kind != K_SELECT ? "(v)" : "",
                                ad_rows(g.t, y), ad_cols(g.t, y));
            done = 1;
        }
        if (!done)
            break;
    }
    int ok = p->n == depth &&
             sensitive(p, xr, xc, X, lr, lc, L, ad_value(g.t, g.v[cur]), ad_rows(g.t, g.v[cur]),
                       ad_cols(g.t, g.v[cur]), uses_l[cur]);
    ad_tape_free(g.t);
    return ok;
}

int main(void)
{
    static program prog;
    int made = 0, maxdepth = 0, hist[32] = {0}, redrawn = 0;
    int only = getenv("GC_SEED") ? atoi(getenv("GC_SEED")) : -1; /* debugging one seed */
    for (int seed = 0; seed < NSEEDS; seed++) {
        if (only >= 0 && seed != only)
            continue;
        gc_rng.s = 0x9B05688C2B3E6C1FULL ^ ((uint64_t)(seed + 1) * 0x9E3779B97F4A7C15ULL);
        int xr = 1 + gc_int(5), xc = 1 + gc_int(5);
        int lsh = gc_int(3), lr = lsh == 2 ? xr : 1, lc = lsh == 0 ? 1 : xc;
        double X[MAXSIZE], L[MAXSIZE];
        t_fill(&gc_rng, X, (size_t)xr * xc, -1.0, 1.0);
        t_fill(&gc_rng, L, (size_t)lr * lc, -1.0, 1.0);
        int depth = 6 + gc_int(6), tries = 0;
        while (!generate(&prog, depth, xr, xc, X, lr, lc, L) && ++tries < 20)
            redrawn++;
        if (tries == 20) {
            EXPECT(0, "property seed %d: could not draw a program of depth %d (%s)", seed, depth,
                   prog.desc);
            continue;
        }
        made++;
        maxdepth = depth > maxdepth ? depth : maxdepth;
        for (int k = 0; only >= 0 && k < prog.n; k++) {
            const step *st = &prog.s[k];
            printf("  v%d = %s(v%d, %s%d) swap %d ip %d %d %d %d\n", k + 2, st->name, st->a,
                   st->b >= 0 ? "v" : "const ", st->b >= 0 ? st->b : st->cr * 100 + st->cc,
                   st->swap, st->ip[0], st->ip[1], st->ip[2], st->ip[3]);
        }
        for (int k = 0; k < prog.n; k++)
            hist[prog.s[k].kind]++;
        gc_input in[2] = {gc_at(xr, xc, X), gc_at(lr, lc, L)};
        char name[480];
        snprintf(name, sizeof name, "property seed %d: %s", seed, prog.desc);
        gc_run(name, run_program, &prog, 2, in);
    }
    static const char *const kn[] = {"unary", "pow", "affine", "binary", "sum", "mean", "sum_rows",
                                     "sum_cols", "lse", "broadcast", "dot", "matmul", "transpose",
                                     "slice", "gather", "gather_rows", "scatter", "embed",
                                     "concat", "reshape", "spmm", "select", "xent"};
    printf("gc_property: %d programs of depth 6..%d (%d insensitive ones redrawn); steps per kind:",
           made, maxdepth, redrawn);
    for (int k = 0; k <= K_XENT; k++)
        printf(" %s %d", kn[k], hist[k]);
    printf("\n");
    return gc_done("gc_property");
}
