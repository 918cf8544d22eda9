/*
 * ad/ops_binary.c — add, sub, mul, div and greater with 2-D broadcasting.
 *
 * Shapes: a ra×ca, b rb×cb → r×c with r = max(ra, rb), c = max(ca, cb);
 * each of ra, rb is r or 1 and each of ca, cb is c or 1.
 */
#include "internal.h"

/* Element strides of an operand broadcast to r×c. */
typedef struct bstride {
    size_t rs, cs;
} bstride;

static bstride stride_of(const ad_node *x) { return (bstride){x->rows == 1 ? 0 : (size_t)x->cols, x->cols == 1 ? 0u : 1u}; }

/* Evaluates the binary op `op` elementwise. */
static void binary_kernel(int op, int r, int c, const double *a, bstride sa, const double *b,
                          bstride sb, int same, double *out)
{
    if (same) { /* a, b and out all r×c (column vectors too): one flat loop per op */
        size_t n = (size_t)r * (size_t)c;
        switch (op) {
        case AD_OP_ADD: for (size_t k = 0; k < n; k++) out[k] = a[k] + b[k]; break;
        case AD_OP_SUB: for (size_t k = 0; k < n; k++) out[k] = a[k] - b[k]; break;
        case AD_OP_MUL: for (size_t k = 0; k < n; k++) out[k] = a[k] * b[k]; break;
        case AD_OP_DIV: for (size_t k = 0; k < n; k++) out[k] = a[k] / b[k]; break;
        default: for (size_t k = 0; k < n; k++) out[k] = a[k] > b[k] ? 1.0 : 0.0;
        }
        return;
    }
    for (int i = 0; i < r; i++) {
        const double *ar = a + (size_t)i * sa.rs, *br = b + (size_t)i * sb.rs;
        double *o = out + (size_t)i * c;
        switch (op) {
        case AD_OP_ADD: for (int j = 0; j < c; j++) o[j] = ar[j * sa.cs] + br[j * sb.cs]; break;
        case AD_OP_SUB: for (int j = 0; j < c; j++) o[j] = ar[j * sa.cs] - br[j * sb.cs]; break;
        case AD_OP_MUL: for (int j = 0; j < c; j++) o[j] = ar[j * sa.cs] * br[j * sb.cs]; break;
        case AD_OP_DIV: for (int j = 0; j < c; j++) o[j] = ar[j * sa.cs] / br[j * sb.cs]; break;
        default: for (int j = 0; j < c; j++) o[j] = ar[j * sa.cs] > br[j * sb.cs] ? 1.0 : 0.0;
        }
    }
}

/* Value of a binary node from its parents' values (also its eval kernel). */
static void eval_binary(const ad_tape *t, ad_node *y)
{
    const ad_node *a = ad__node(t, y->par[0]), *b = ad__node(t, y->par[1]);
    int r = y->rows, c = y->cols;
    int same = a->rows == r && a->cols == c && b->rows == r && b->cols == c;
    binary_kernel(y->op, r, c, a->val, stride_of(a), b->val, stride_of(b), same, y->val);
}

static ad_var binary(ad_tape *t, int op, ad_var av, ad_var bv)
{
    const char *name = ad__opname(op);
    const ad_node *a = ad__arg_lazy(t, name, av), *b = ad__arg_lazy(t, name, bv);
    if (!a || !b)
        return AD_NONE;
    int r = a->rows > b->rows ? a->rows : b->rows, c = a->cols > b->cols ? a->cols : b->cols;
    if ((a->rows != r && a->rows != 1) || (b->rows != r && b->rows != 1) ||
        (a->cols != c && a->cols != 1) || (b->cols != c && b->cols != 1))
        return ad__fail(t, AD_ESHAPE, "%s: shapes %dx%d and %dx%d do not broadcast", name,
                        a->rows, a->cols, b->rows, b->cols);
    bstride sa = stride_of(a), sb = stride_of(b);
    int same = a->rows == r && a->cols == c && b->rows == r && b->cols == c;
    const double *ax = a->val, *bx = b->val; /* before the push moves the node table */
    int32_t par[2] = {av.id, bv.id};
    int32_t i = ad__push(t, op, r, c, 2, par);
    if (i < 0)
        return AD_NONE;
    ad_node *y = ad__node(t, i);
    if (op == AD_OP_GREATER)
        y->flags |= AD_NF_NOGRAD;
    if (ad__defer(t, i))
        return ad__var(i);
    binary_kernel(op, r, c, ax, sa, bx, sb, same, y->val); /* = eval_binary, unrolled */
    return ad__done(t, i);
}

ad_var ad_add(ad_tape *t, ad_var a, ad_var b) { return binary(t, AD_OP_ADD, a, b); }
ad_var ad_sub(ad_tape *t, ad_var a, ad_var b) { return binary(t, AD_OP_SUB, a, b); }
ad_var ad_mul(ad_tape *t, ad_var a, ad_var b) { return binary(t, AD_OP_MUL, a, b); }
ad_var ad_div(ad_tape *t, ad_var a, ad_var b) { return binary(t, AD_OP_DIV, a, b); }
ad_var ad_greater(ad_tape *t, ad_var a, ad_var b) { return binary(t, AD_OP_GREATER, a, b); }

/* ---- tangents: NULL tangent = zero ---- */

/* Flat tangent of a same-shape binary op over n elements; ta or tb may be
 * NULL (zero). The switch is outside the loops; o is a fresh tangent buffer,
 * never one of the inputs (restrict: the loops vectorise at -O2). */
static void jvp_binary_flat(int op, size_t n, const double *restrict a,
                            const double *restrict b, const double *restrict y,
                            const double *restrict ta, const double *restrict tb,
                            double *restrict o)
{
    switch (op) {
    case AD_OP_ADD:
        if (ta && tb)
            for (size_t k = 0; k < n; k++) o[k] = ta[k] + tb[k];
        else if (ta)
            for (size_t k = 0; k < n; k++) o[k] = ta[k];
        else
            for (size_t k = 0; k < n; k++) o[k] = tb[k];
        break;
    case AD_OP_SUB:
        if (ta && tb)
            for (size_t k = 0; k < n; k++) o[k] = ta[k] - tb[k];
        else if (ta)
            for (size_t k = 0; k < n; k++) o[k] = ta[k];
        else
            for (size_t k = 0; k < n; k++) o[k] = -tb[k];
        break;
    case AD_OP_MUL:
        if (ta && tb)
            for (size_t k = 0; k < n; k++) o[k] = ad__mul0(ta[k], b[k]) + ad__mul0(a[k], tb[k]);
        else if (ta)
            for (size_t k = 0; k < n; k++) o[k] = ad__mul0(ta[k], b[k]) + 0.0;
        else
            for (size_t k = 0; k < n; k++) o[k] = 0.0 + ad__mul0(a[k], tb[k]);
        break;
    default: /* DIV: (da − y·db) / b */
        if (ta && tb)
            for (size_t k = 0; k < n; k++) o[k] = (ta[k] - ad__mul0(y[k], tb[k])) / b[k];
        else if (ta)
            for (size_t k = 0; k < n; k++) o[k] = (ta[k] - 0.0) / b[k];
        else
            for (size_t k = 0; k < n; k++) o[k] = (0.0 - ad__mul0(y[k], tb[k])) / b[k];
    }
}

/* Tangent of a broadcast binary op (r×c) with neither operand full nor 1×1
 * (a row or column against the other kind, or against a full one): the
 * switch outside the loops, a NULL tangent read as a zero of stride 0. */
static void jvp_binary_bcast(int op, int r, int c, const double *a, bstride sa, const double *b,
                             bstride sb, const double *y, const double *ta, const double *tb,
                             double *o)
{
    static const double zero = 0.0;
    bstride sta = ta ? sa : (bstride){0, 0}, stb = tb ? sb : (bstride){0, 0};
    ta = ta ? ta : &zero;
    tb = tb ? tb : &zero;
    for (int i = 0; i < r; i++) {
        const double *ai = a + i * sa.rs, *bi = b + i * sb.rs, *yi = y + (size_t)i * c;
        const double *tai = ta + i * sta.rs, *tbi = tb + i * stb.rs;
        double *oi = o + (size_t)i * c;
        switch (op) {
        case AD_OP_ADD:
            for (int j = 0; j < c; j++) oi[j] = tai[j * sta.cs] + tbi[j * stb.cs];
            break;
        case AD_OP_SUB:
            for (int j = 0; j < c; j++) oi[j] = tai[j * sta.cs] - tbi[j * stb.cs];
            break;
        case AD_OP_MUL:
            for (int j = 0; j < c; j++)
                oi[j] = ad__mul0(tai[j * sta.cs], bi[j * sb.cs]) + ad__mul0(ai[j * sa.cs], tbi[j * stb.cs]);
            break;
        default: /* DIV: (da − y·db) / b */
            for (int j = 0; j < c; j++)
                oi[j] = (tai[j * sta.cs] - ad__mul0(yi[j], tbi[j * stb.cs])) / bi[j * sb.cs];
        }
    }
}

/* Tangent of an op between a 1×1 operand (value s, tangent ts, 0 without
 * one) and a full one (values f, tangent tf, may be NULL) over n elements;
 * first: the scalar is a. The same expressions as jvp_binary_bcast (mul0 and
 * + commute), in loops that vectorise. */
#define SCALAR_LOOP(expr)                                                       \
    do {                                                                        \
        if (tf)                                                                 \
            for (size_t k = 0; k < n; k++) { double u = tf[k]; o[k] = (expr); } \
        else                                                                    \
            for (size_t k = 0; k < n; k++) { double u = 0.0; o[k] = (expr); }  \
    } while (0)

static void jvp_binary_scalar(int op, size_t n, int first, double s, double ts,
                              const double *restrict f, const double *restrict tf,
                              const double *restrict y, double *restrict o)
{
    switch (op) {
    case AD_OP_ADD: SCALAR_LOOP(u + ts); break;
    case AD_OP_SUB:
        if (first)
            SCALAR_LOOP(ts - u);
        else
            SCALAR_LOOP(u - ts);
        break;
    case AD_OP_MUL: SCALAR_LOOP(ad__mul0(ts, f[k]) + ad__mul0(s, u)); break;
    default: /* DIV: (da − y·db) / b */
        if (first)
            SCALAR_LOOP((ts - ad__mul0(y[k], u)) / f[k]);
        else
            SCALAR_LOOP((u - ad__mul0(y[k], ts)) / s);
    }
}
#undef SCALAR_LOOP

static void jvp_binary(const ad_tape *t, const ad_node *nd, const double *const tin[3],
                       double *tout)
{
    const ad_node *a = ad__node(t, nd->par[0]), *b = ad__node(t, nd->par[1]);
    int fa = a->rows == nd->rows && a->cols == nd->cols;
    int fb = b->rows == nd->rows && b->cols == nd->cols;
    if (fa && fb) {
        jvp_binary_flat(nd->op, ad__size(nd), a->val, b->val, nd->val, tin[0], tin[1], tout);
        return;
    }
    int sa = a->rows == 1 && a->cols == 1, sb = b->rows == 1 && b->cols == 1;
    if ((sa && fb) || (fa && sb)) {
        const ad_node *sc = sa ? a : b;
        const double *tsc = tin[sa ? 0 : 1];
        jvp_binary_scalar(nd->op, ad__size(nd), sa, sc->val[0], tsc ? tsc[0] : 0.0,
                          (sa ? b : a)->val, tin[sa ? 1 : 0], nd->val, tout);
        return;
    }
    jvp_binary_bcast(nd->op, nd->rows, nd->cols, a->val, stride_of(a), b->val, stride_of(b),
                     nd->val, tin[0], tin[1], tout);
}

/* ---- backward rules (ad ops, differentiable again) ---- */

static void bwd_add(ad_tape *t, const ad_node *nd, ad_var y, ad_var g, const int need[3],
                    ad_var out[3])
{
    const ad_node *a = ad__node(t, nd->par[0]), *b = ad__node(t, nd->par[1]);
    int ar = a->rows, ac = a->cols, br = b->rows, bc = b->cols;
    if (need[0])
        out[0] = ad__sum_to(t, g, ar, ac);
    if (need[1])
        out[1] = ad__sum_to(t, nd->op == AD_OP_SUB ? ad_neg(t, g) : g, br, bc);
}

static void bwd_mul(ad_tape *t, const ad_node *nd, ad_var y, ad_var g, const int need[3],
                    ad_var out[3])
{
    ad_var a = ad__var(nd->par[0]), b = ad__var(nd->par[1]);
    if (need[0])
        out[0] = ad__sum_to(t, ad__live(t, g, ad_mul(t, g, b)), ad_rows(t, a), ad_cols(t, a));
    if (need[1])
        out[1] = ad__sum_to(t, ad__live(t, g, ad_mul(t, g, a)), ad_rows(t, b), ad_cols(t, b));
}

static void bwd_div(ad_tape *t, const ad_node *nd, ad_var y, ad_var g, const int need[3],
                    ad_var out[3])
{
    ad_var a = ad__var(nd->par[0]), b = ad__var(nd->par[1]);
    if (need[0])
        out[0] = ad__sum_to(t, ad__live(t, g, ad_div(t, g, b)), ad_rows(t, a), ad_cols(t, a));
    if (need[1]) { /* ∂(a/b)/∂b = −y/b */
        ad_var gy = ad__live(t, g, ad_mul(t, g, y));
        out[1] = ad__sum_to(t, ad_neg(t, ad__live(t, gy, ad_div(t, gy, b))), ad_rows(t, b),
                            ad_cols(t, b));
    }
}

/* ---- numeric adjoints (see ad_vjp_fn) ---- */

/* ā += sum_to(ḡ), b̄ += ±sum_to(ḡ). */
static void vjp_add(ad_tape *t, const ad_node *nd, const double *g, double *const acc[3])
{
    const ad_node *a = ad__node(t, nd->par[0]), *b = ad__node(t, nd->par[1]);
    if (acc[0] && !ad__acc_sum_to(t, g, nd->rows, nd->cols, a->rows, a->cols, 1.0, acc[0]))
        return;
    if (acc[1])
        ad__acc_sum_to(t, g, nd->rows, nd->cols, b->rows, b->cols,
                       nd->op == AD_OP_SUB ? -1.0 : 1.0, acc[1]);
}

/* The guarded product of the adjoint rules (ad__live): ḡ·f, or 0 where ḡ
 * is exactly zero (then ḡ·f is ±0, or NaN for an f that is not finite,
 * which the recorded rule also drops). */
#define LIVE_MUL(G, F) ((G) == 0.0 ? 0.0 : (G) * (F))
#define LIVE_DIV(G, F) ((G) == 0.0 ? 0.0 : (G) / (F))

/* Contribution of mul/div to parent k into p (r×c, the node's shape): for
 * mul ḡ·other, for div ḡ/b (k = 0) or −(ḡ·y)/b (k = 1), other parent
 * broadcast with stride so. */
static void binary_adj(int op, int k, int r, int c, const double *g, const double *o,
                       bstride so, const double *y, double *p)
{
    for (int i = 0; i < r; i++) {
        const double *gi = g + (size_t)i * c, *oi = o + (size_t)i * so.rs;
        const double *yi = y + (size_t)i * c;
        double *pi = p + (size_t)i * c;
        if (op == AD_OP_MUL)
            for (int j = 0; j < c; j++)
                pi[j] = LIVE_MUL(gi[j], oi[j * so.cs]);
        else if (k == 0)
            for (int j = 0; j < c; j++)
                pi[j] = LIVE_DIV(gi[j], oi[j * so.cs]);
        else
            for (int j = 0; j < c; j++) {
                double gy = LIVE_MUL(gi[j], yi[j]);
                pi[j] = -LIVE_DIV(gy, oi[j * so.cs]);
            }
    }
}

/* Same-shape mul/div into acc: the flat loops of binary_adj, added. */
static void binary_adj_flat(int op, int k, size_t n, const double *g, const double *o,
                            const double *y, double *acc)
{
    if (op == AD_OP_MUL)
        for (size_t q = 0; q < n; q++)
            acc[q] += LIVE_MUL(g[q], o[q]);
    else if (k == 0)
        for (size_t q = 0; q < n; q++)
            acc[q] += LIVE_DIV(g[q], o[q]);
    else
        for (size_t q = 0; q < n; q++) {
            double gy = LIVE_MUL(g[q], y[q]);
            acc[q] -= LIVE_DIV(gy, o[q]);
        }
}

/* mul: ā += sum_to(ḡ⊙b), b̄ += sum_to(ḡ⊙a); div: ā += sum_to(ḡ/b),
 * b̄ += sum_to(−(ḡ⊙y)/b). A parent of the node's shape is updated in place;
 * a broadcast one takes the product in scratch, then its sum. */
static void vjp_muldiv(ad_tape *t, const ad_node *nd, const double *g, double *const acc[3])
{
    const ad_node *x[2] = {ad__node(t, nd->par[0]), ad__node(t, nd->par[1])};
    int r = nd->rows, c = nd->cols;
    for (int k = 0; k < 2; k++) {
        if (!acc[k])
            continue;
        const ad_node *o = nd->op == AD_OP_MUL ? x[1 - k] : x[1];
        int full = x[k]->rows == r && x[k]->cols == c;
        if (full && o->rows == r && o->cols == c) {
            binary_adj_flat(nd->op, k, (size_t)r * c, g, o->val, nd->val, acc[k]);
            continue;
        }
        double *p = ad__scratch_adj(t, (size_t)r * c * sizeof(double));
        if (!p)
            return;
        binary_adj(nd->op, k, r, c, g, o->val, stride_of(o), nd->val, p);
        if (!ad__acc_sum_to(t, p, r, c, x[k]->rows, x[k]->cols, 1.0, acc[k]))
            return;
    }
}
#undef LIVE_MUL
#undef LIVE_DIV

const ad_opdef ad_def_add = {jvp_binary, bwd_add, vjp_add, 0, eval_binary};
const ad_opdef ad_def_sub = {jvp_binary, bwd_add, vjp_add, 0, eval_binary};
const ad_opdef ad_def_mul = {jvp_binary, bwd_mul, vjp_muldiv, 0, eval_binary};
const ad_opdef ad_def_div = {jvp_binary, bwd_div, vjp_muldiv, 0, eval_binary};
const ad_opdef ad_def_greater = {NULL, NULL, NULL, 0, eval_binary};
