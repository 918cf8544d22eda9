/*
 * ad/replay.c — a scalar recording compiled into a compact program and
 * re-evaluated at new leaf values (ad_replay_* in <hypertape/ad.h>).
 *
 * The program is a list of instructions, one per op node that y depends
 * on, in recording order; each reads one or two value slots and writes its
 * own. Slots 0..n−1 are the leaves, then constants (filled once, at
 * compile time) and op results. A sweep is a loop over this list with a
 * switch: no node table, no shape checks, no allocation. The forward and
 * numeric-adjoint expressions are those of the ops themselves (the unary
 * rows come from unary_ops.h; the binary ones are those of ops_binary.c's
 * numeric kernels), so a replay gives the values of a fresh recording.
 */
#include "internal.h"
#include "unary_ops.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { RP_COPY = AD_OP_COUNT, RP_DETACH }; /* 1×1 sum/reshape/transpose/broadcast; detach */

/* One instruction: slot o = op(slot a, slot b), with the op's parameters.
 * ng: no adjoint flows through it (greater, detach, a nograd node). */
typedef struct rp_ins {
    int32_t o, a, b;
    uint8_t op, ng;
    double p0, p1;
} rp_ins;

struct ad_replay {
    int n;              /* leaves: slots 0..n−1 */
    int32_t m;          /* slots */
    int32_t ni;         /* instructions */
    int32_t yslot;
    int32_t lo, len;    /* compiled node range on the tape, for ad_replay_matches */
    int anomaly;
    uint64_t fp;
    rp_ins *ins;
    double *v, *adj;    /* m each */
    double *tv, *tadj;  /* m each, allocated by the first ad_replay_hvp */
    int32_t *node_of;   /* ni: the tape node of each instruction (for messages) */
    char msg[200];
};

/* ------------------------------------------------------------ compile */

/* 1 when op (a 1×1 node with 1×1 parents) is replayable. */
static int rp_supported(int op)
{
    switch (op) {
#define RP_U(E, name, VALUE, DERIV, ADJ, AUX, NUM) case AD_OP_##E:
        UNARY_OPS(RP_U)
#undef RP_U
    case AD_OP_ADD: case AD_OP_SUB: case AD_OP_MUL: case AD_OP_DIV: case AD_OP_GREATER:
    case AD_OP_SUM: case AD_OP_SUM_ROWS: case AD_OP_SUM_COLS: case AD_OP_BROADCAST:
    case AD_OP_RESHAPE: case AD_OP_TRANSPOSE: case AD_OP_DETACH:
        return 1;
    default:
        return 0;
    }
}

/* The compile's working state: slot of each node lo..Y (−1 = none yet). */
typedef struct rp_build {
    ad_tape *t;
    ad_replay *r;
    int32_t lo, Y;
    int32_t *slot;
} rp_build;

/* A new constant slot holding node p's value (computed if deferred). */
static int32_t rp_const(rp_build *B, int32_t p)
{
    ad__force(B->t, p);
    int32_t s = B->r->m++;
    B->r->v[s] = B->t->nodes[p].val[0];
    return s;
}

/* Slot of parent p of a node being compiled; −1 after recording an error. */
static int32_t rp_parent(rp_build *B, int32_t i, int32_t p)
{
    const ad_node *q = &B->t->nodes[p];
    if (q->rows != 1 || q->cols != 1) {
        ad__fail(B->t, AD_ESHAPE,
                 "replay: node %d ('%s') reads node %d ('%s'), which is %dx%d: replay compiles "
                 "scalar code, every value 1x1",
                 (int)i, ad__opname(B->t->nodes[i].op), (int)p, ad__opname(q->op), q->rows,
                 q->cols);
        return -1;
    }
    if (p >= B->lo)
        return B->slot[p - B->lo];
    return rp_const(B, p);
}

/* Compiles node i (needed by y) into a slot and, for an op, an instruction. */
static int rp_node(rp_build *B, int32_t i)
{
    const ad_node *nd = &B->t->nodes[i];
    ad_replay *r = B->r;
    if (B->slot[i - B->lo] >= 0) /* a listed leaf */
        return 1;
    if (nd->op == AD_OP_LEAF || nd->op == AD_OP_CONST || nd->np == 0) {
        B->slot[i - B->lo] = rp_const(B, i);
        return 1;
    }
    if (nd->op == AD_OP_SELECT) {
        ad__fail(B->t, AD_EINVAL,
                 "replay: node %d is a select, whose branch was chosen by values at recording "
                 "time; record again at the new values instead",
                 (int)i);
        return 0;
    }
    if (nd->rows != 1 || nd->cols != 1 || !rp_supported(nd->op) || nd->np > 2) {
        ad__fail(B->t, nd->rows != 1 || nd->cols != 1 ? AD_ESHAPE : AD_EINVAL,
                 "replay: node %d ('%s', %dx%d) cannot be replayed: replay compiles scalar code "
                 "(1x1 values; elementwise ops, 1x1 sums, reshapes, transposes, broadcasts and "
                 "detach)",
                 (int)i, ad__opname(nd->op), nd->rows, nd->cols);
        return 0;
    }
    rp_ins in = {0, 0, 0, (uint8_t)nd->op, (uint8_t)((nd->flags & AD_NF_NOGRAD) != 0),
                 nd->prm[0], nd->prm[1]};
    if ((in.a = rp_parent(B, i, nd->par[0])) < 0)
        return 0;
    in.b = nd->np > 1 ? rp_parent(B, i, nd->par[1]) : in.a;
    if (in.b < 0)
        return 0;
    switch (nd->op) {
    case AD_OP_SUM: case AD_OP_SUM_ROWS: case AD_OP_SUM_COLS: case AD_OP_BROADCAST:
    case AD_OP_RESHAPE: case AD_OP_TRANSPOSE:
        in.op = RP_COPY;
        break;
    case AD_OP_DETACH:
        in.op = RP_DETACH;
        in.ng = 1;
        break;
    case AD_OP_GREATER:
        in.ng = 1;
        break;
    default:
        break;
    }
    in.o = r->m++;
    B->slot[i - B->lo] = in.o;
    r->node_of[r->ni] = i;
    r->ins[r->ni++] = in;
    return 1;
}

/* Checks the arguments of ad_replay_new; sets *lo to the first leaf. */
static int rp_check(ad_tape *t, ad_var y, int n, const ad_var *leaves, int32_t *lo)
{
    const ad_node *yn = ad__arg_raw(t, "replay", y);
    if (!yn)
        return 0;
    if (yn->rows != 1 || yn->cols != 1) {
        ad__fail(t, AD_ESHAPE, "replay: output must be 1x1, got %dx%d (op '%s')", yn->rows,
                 yn->cols, ad__opname(yn->op));
        return 0;
    }
    if (n <= 0 || !leaves) {
        ad__fail(t, AD_EINVAL, "replay: need n > 0 leaves (n = %d)", n);
        return 0;
    }
    *lo = y.id;
    for (int k = 0; k < n; k++) {
        const ad_node *w = ad__arg_raw(t, "replay", leaves[k]);
        if (!w)
            return 0;
        if (w->op != AD_OP_LEAF || w->rows != 1 || w->cols != 1) {
            ad__fail(t, AD_EINVAL, "replay: leaves[%d] (node %d) is '%s' %dx%d, not a 1x1 leaf",
                     k, (int)leaves[k].id, ad__opname(w->op), w->rows, w->cols);
            return 0;
        }
        if (leaves[k].id < *lo)
            *lo = leaves[k].id;
    }
    return 1;
}

/* need[i − lo] = 1 for every node lo..Y that Y depends on. */
static void rp_mark(const ad_tape *t, int32_t lo, int32_t Y, unsigned char *need)
{
    memset(need, 0, (size_t)(Y - lo + 1));
    need[Y - lo] = 1;
    for (int32_t i = Y; i >= lo; i--) {
        const ad_node *nd = &t->nodes[i];
        if (!need[i - lo] || nd->op == AD_OP_LEAF || nd->op == AD_OP_CONST)
            continue;
        for (int k = 0; k < nd->np; k++)
            if (nd->par[k] >= lo)
                need[nd->par[k] - lo] = 1;
    }
}

/* Allocates a replay for at most `nodes` instructions and 3·nodes + n slots. */
static ad_replay *rp_alloc(ad_tape *t, int n, size_t nodes)
{
    size_t m = (size_t)n + 3 * nodes;
    ad_replay *r = calloc(1, sizeof *r);
    if (r) {
        r->ins = malloc(nodes * sizeof *r->ins);
        r->node_of = malloc(nodes * sizeof *r->node_of);
        r->v = malloc(m * sizeof(double));
        r->adj = malloc(m * sizeof(double));
    }
    if (!r || !r->ins || !r->node_of || !r->v || !r->adj) {
        ad_replay_free(r);
        ad__fail(t, AD_ENOMEM, "replay: cannot allocate a program of %zu instructions", nodes);
        return NULL;
    }
    r->n = n;
    r->m = n;
    return r;
}

/* Slot of each listed leaf; a leaf listed twice is an error. */
static int rp_leaves(rp_build *B, int n, const ad_var *leaves)
{
    for (int k = 0; k < n; k++) {
        int32_t i = leaves[k].id;
        if (i > B->Y)
            continue; /* after y: y does not depend on it */
        if (B->slot[i - B->lo] >= 0) {
            ad__fail(B->t, AD_EINVAL, "replay: leaves[%d] and leaves[%d] are the same node %d",
                     (int)B->slot[i - B->lo], k, (int)i);
            return 0;
        }
        B->slot[i - B->lo] = k;
    }
    return 1;
}

ad_replay *ad_replay_new(ad_tape *t, ad_var y, int n, const ad_var *leaves)
{
    int32_t lo;
    if (!t || t->status != AD_OK || !rp_check(t, y, n, leaves, &lo))
        return NULL;
    int32_t Y = y.id;
    size_t cnt = (size_t)(Y - lo + 1);
    unsigned char *buf = ad__work(t, cnt * (sizeof(int32_t) + 1));
    if (!buf)
        return NULL;
    int32_t *slot = (int32_t *)buf;
    unsigned char *need = buf + cnt * sizeof(int32_t);
    rp_mark(t, lo, Y, need);
    size_t nodes = 0;
    for (size_t q = 0; q < cnt; q++)
        nodes += need[q];
    ad_replay *r = rp_alloc(t, n, nodes);
    if (!r)
        return NULL;
    for (size_t q = 0; q < cnt; q++)
        slot[q] = -1;
    rp_build B = {t, r, lo, Y, slot};
    int ok = rp_leaves(&B, n, leaves);
    for (int32_t i = lo; ok && i <= Y; i++)
        if (need[i - lo])
            ok = rp_node(&B, i);
    if (!ok) {
        ad_replay_free(r);
        return NULL;
    }
    r->yslot = slot[Y - lo];
    r->lo = lo;
    r->len = Y - lo + 1;
    r->anomaly = t->anomaly;
    r->fp = ad__fingerprint_range(t, lo, Y + 1);
    return r;
}

void ad_replay_free(ad_replay *r)
{
    if (!r)
        return;
    free(r->ins);
    free(r->node_of);
    free(r->v);
    free(r->adj);
    free(r->tv);
    free(r->tadj);
    free(r);
}

/* ------------------------------------------------------------- sweeps */

/* u·v with an exact zero absorbing NaN and Inf (ops_binary.c's rule for
 * tangents: a zero direction stays zero). */
/* The value of instruction in from the slots v. */
static inline double rp_value(const rp_ins *in, const double *v)
{
    const double x = v[in->a], p0 = in->p0, p1 = in->p1;
    double a[1];
    const size_t k = 0;
    (void)p0, (void)p1, (void)a, (void)k;
    switch (in->op) {
    case AD_OP_ADD: return x + v[in->b];
    case AD_OP_SUB: return x - v[in->b];
    case AD_OP_MUL: return x * v[in->b];
    case AD_OP_DIV: return x / v[in->b];
    case AD_OP_GREATER: return x > v[in->b] ? 1.0 : 0.0;
#define RP_U(E, name, VALUE, DERIV, ADJ, AUX, NUM) \
    case AD_OP_##E: return (VALUE);
        UNARY_OPS(RP_U)
#undef RP_U
    default: return x; /* RP_COPY, RP_DETACH */
    }
}

/* Adds instruction in's contributions ḡ·∂/∂parent (g = ḡ ≠ 0) into adj:
 * the expressions of the ops' numeric kernels, in their order. */
static inline void rp_adjoint(const rp_ins *in, const double *v, double *adj, double g)
{
    const double x = v[in->a], y = v[in->o], p0 = in->p0, p1 = in->p1;
    const double *a = NULL;
    const size_t k = 0;
    (void)y, (void)p0, (void)p1, (void)a, (void)k;
    switch (in->op) {
    case AD_OP_ADD: adj[in->a] += g; adj[in->b] += g; return;
    case AD_OP_SUB: adj[in->a] += g; adj[in->b] -= g; return;
    case AD_OP_MUL: adj[in->a] += g * v[in->b]; adj[in->b] += g * x; return;
    case AD_OP_DIV: {
        double gy = g * y;
        adj[in->a] += g / v[in->b];
        adj[in->b] -= gy == 0.0 ? 0.0 : gy / v[in->b];
        return;
    }
#define RP_U(E, name, VALUE, DERIV, ADJ, AUX, NUM) \
    case AD_OP_##E: adj[in->a] += (NUM); return;
        UNARY_OPS(RP_U)
#undef RP_U
    default: adj[in->a] += g; return; /* RP_COPY */
    }
}

/* Forward: leaves from x (checked finite), then every instruction. */
static ad_status rp_forward(ad_replay *r, const double *x)
{
    r->msg[0] = 0;
    if (!x) {
        snprintf(r->msg, sizeof r->msg, "replay: leaf values x are NULL");
        return AD_EINVAL;
    }
    for (int k = 0; k < r->n; k++) {
        if (!isfinite(x[k])) {
            snprintf(r->msg, sizeof r->msg, "replay: leaf value x[%d] = %g is not finite", k, x[k]);
            return AD_EINVAL;
        }
        r->v[k] = x[k];
    }
    double *v = r->v;
    const rp_ins *ins = r->ins;
    for (int32_t i = 0; i < r->ni; i++)
        v[ins[i].o] = rp_value(&ins[i], v);
    for (int32_t i = 0; r->anomaly && i < r->ni; i++)
        if (!isfinite(v[ins[i].o])) {
            snprintf(r->msg, sizeof r->msg, "anomaly: replay of node %d (op '%s') gave %g",
                     (int)r->node_of[i], ad__opname(ins[i].op < AD_OP_COUNT ? ins[i].op : AD_OP_DETACH),
                     v[ins[i].o]);
            return AD_EANOMALY;
        }
    return AD_OK;
}

/* Reverse: adj = ∂y/∂slot, from adj[y] = 1 down. */
static void rp_reverse(ad_replay *r)
{
    double *adj = r->adj;
    const double *v = r->v;
    const rp_ins *ins = r->ins;
    memset(adj, 0, (size_t)r->m * sizeof(double));
    adj[r->yslot] = 1.0;
    for (int32_t i = r->ni - 1; i >= 0; i--) {
        double g = adj[ins[i].o];
        if (g != 0.0 && !ins[i].ng)
            rp_adjoint(&ins[i], v, adj, g);
    }
}

ad_status ad_replay_forward(ad_replay *r, const double *x, double *y)
{
    if (!r)
        return AD_EINVAL;
    ad_status s = rp_forward(r, x);
    if (s == AD_OK && y)
        *y = r->v[r->yslot];
    return s;
}

ad_status ad_replay_gradient(ad_replay *r, const double *x, double *y, double *g)
{
    if (!r)
        return AD_EINVAL;
    ad_status s = rp_forward(r, x);
    if (s != AD_OK)
        return s;
    if (y)
        *y = r->v[r->yslot];
    if (g) {
        rp_reverse(r);
        memcpy(g, r->adj, (size_t)r->n * sizeof(double));
    }
    return AD_OK;
}

/* ------------------------------------------------ forward-over-reverse */

/* f''(x) of a unary op (x, its value y, the parameter p0, f' = d). */
static double rp_second(int op, double x, double y, double p0, double d)
{
    switch (op) {
    case AD_OP_EXP: return y;
    case AD_OP_LOG: return -1.0 / (x * x);
    case AD_OP_LOG1P: return -1.0 / ((1.0 + x) * (1.0 + x));
    case AD_OP_SQRT: return -0.25 / (y * y * y);
    case AD_OP_SQUARE: return 2.0;
    case AD_OP_POW: return p0 == 0 || p0 == 1 ? 0.0 : p0 * (p0 - 1.0) * pow(x, p0 - 2.0);
    case AD_OP_SIGMOID: return d * (1.0 - 2.0 * y);
    case AD_OP_SOFTPLUS: return d * (1.0 - d);
    case AD_OP_LOGSIGMOID: return -d * (1.0 - d);
    case AD_OP_TANH: return -2.0 * y * d;
    default: return 0.0; /* affine, abs, relu */
    }
}

/* f'(x) of a unary op: the DERIV column of UNARY_OPS. */
static double rp_first(const rp_ins *in, double x, double y)
{
    const double p0 = in->p0, p1 = in->p1;
    (void)p0, (void)p1, (void)x, (void)y;
    switch (in->op) {
#define RP_U(E, name, VALUE, DERIV, ADJ, AUX, NUM) \
    case AD_OP_##E: return (DERIV);
        UNARY_OPS(RP_U)
#undef RP_U
    default: return 1.0;
    }
}

/* Tangent of instruction in from the tangents tv (a zero direction stays
 * zero even where a derivative is not finite). */
static double rp_tangent(const rp_ins *in, const double *v, const double *tv)
{
    double ta = tv[in->a], tb = tv[in->b], x = v[in->a], y = v[in->o];
    switch (in->op) {
    case AD_OP_ADD: return ta + tb;
    case AD_OP_SUB: return ta - tb;
    case AD_OP_MUL: return ad__mul0(ta, v[in->b]) + ad__mul0(x, tb);
    case AD_OP_DIV: return (ta - ad__mul0(y, tb)) / v[in->b];
    case AD_OP_GREATER: case RP_DETACH: return 0.0;
    case RP_COPY: return ta;
    default: return ta == 0.0 ? 0.0 : rp_first(in, x, y) * ta;
    }
}

/* The adjoint (g = ḡ) and its tangent (gt) of instruction in, pushed to its
 * parents: adj += ḡ·∂, tadj += ġ·∂ + ḡ·(d∂). */
static void rp_adjoint2(const rp_ins *in, const double *v, const double *tv, double *adj,
                        double *tadj, double g, double gt)
{
    int a = in->a, b = in->b;
    double x = v[a], y = v[in->o], ta = tv[a], tb = tv[b];
    switch (in->op) {
    case AD_OP_ADD: case AD_OP_SUB: {
        double sg = in->op == AD_OP_SUB ? -1.0 : 1.0;
        adj[a] += g, tadj[a] += gt;
        adj[b] += sg * g, tadj[b] += sg * gt;
        return;
    }
    case AD_OP_MUL:
        adj[a] += ad__mul0(g, v[b]), tadj[a] += ad__mul0(gt, v[b]) + ad__mul0(g, tb);
        adj[b] += ad__mul0(g, x), tadj[b] += ad__mul0(gt, x) + ad__mul0(g, ta);
        return;
    case AD_OP_DIV: { /* ∂a = 1/b, ∂b = −y/b; ẏ = (ȧ − y ḃ)/b */
        double q = v[b], ty = (ta - ad__mul0(y, tb)) / q;
        adj[a] += g / q, tadj[a] += (gt - ad__mul0(g, tb / q)) / q;
        adj[b] -= ad__mul0(g, y) / q;
        tadj[b] -= (ad__mul0(gt, y) + ad__mul0(g, ty) - ad__mul0(ad__mul0(g, y), tb / q)) / q;
        return;
    }
    case RP_COPY:
        adj[a] += g, tadj[a] += gt;
        return;
    default: {
        double d = rp_first(in, x, y), dd = rp_second(in->op, x, y, in->p0, d);
        adj[a] += ad__mul0(g, d);
        tadj[a] += ad__mul0(gt, d) + ad__mul0(g, ad__mul0(dd, ta));
    }
    }
}

ad_status ad_replay_hvp(ad_replay *r, const double *x, const double *v, double *y, double *g,
                        double *hv)
{
    if (!r)
        return AD_EINVAL;
    if (!r->tv && !(r->tv = calloc((size_t)r->m, sizeof(double))))
        return AD_ENOMEM;
    if (!r->tadj && !(r->tadj = malloc((size_t)r->m * sizeof(double))))
        return AD_ENOMEM;
    ad_status s = rp_forward(r, x);
    if (s != AD_OK)
        return s;
    if (!v) {
        snprintf(r->msg, sizeof r->msg, "replay: direction v is NULL");
        return AD_EINVAL;
    }
    const rp_ins *ins = r->ins;
    double *tv = r->tv, *adj = r->adj, *tadj = r->tadj;
    memset(tv, 0, (size_t)r->m * sizeof(double)); /* constants have zero tangent */
    memcpy(tv, v, (size_t)r->n * sizeof(double));
    for (int32_t i = 0; i < r->ni; i++)
        tv[ins[i].o] = rp_tangent(&ins[i], r->v, tv);
    memset(adj, 0, (size_t)r->m * sizeof(double));
    memset(tadj, 0, (size_t)r->m * sizeof(double));
    adj[r->yslot] = 1.0;
    for (int32_t i = r->ni - 1; i >= 0; i--) {
        double gi = adj[ins[i].o], gt = tadj[ins[i].o];
        if ((gi != 0.0 || gt != 0.0) && !ins[i].ng)
            rp_adjoint2(&ins[i], r->v, tv, adj, tadj, gi, gt);
    }
    if (y)
        *y = r->v[r->yslot];
    if (g)
        memcpy(g, adj, (size_t)r->n * sizeof(double));
    if (hv)
        memcpy(hv, tadj, (size_t)r->n * sizeof(double));
    return AD_OK;
}

ad_status ad_replay_matches(ad_replay *r, const ad_tape *t, ad_mark from)
{
    if (!r || !t)
        return AD_EINVAL;
    r->msg[0] = 0;
    int32_t lo = from.nodes < 0 ? 0 : from.nodes;
    if (t->n - lo < r->len) {
        snprintf(r->msg, sizeof r->msg,
                 "replay: the tape holds %d nodes from node %d, the compiled recording %d",
                 (int)(t->n - lo), (int)lo, (int)r->len);
        return AD_ECHECK;
    }
    uint64_t fp = ad__fingerprint_range(t, lo, lo + r->len);
    if (fp != r->fp) {
        snprintf(r->msg, sizeof r->msg,
                 "replay: the recording from node %d differs in structure from the compiled one "
                 "(fingerprint %016llx, compiled %016llx): record again and compile a new replay",
                 (int)lo, (unsigned long long)fp, (unsigned long long)r->fp);
        return AD_ECHECK;
    }
    return AD_OK;
}

int ad_replay_inputs(const ad_replay *r) { return r ? r->n : 0; }

size_t ad_replay_size(const ad_replay *r) { return r ? (size_t)r->ni : 0; }

const char *ad_replay_message(const ad_replay *r) { return r ? r->msg : ""; }
