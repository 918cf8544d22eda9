/*
 * ad/tape.c — the tape: node vector, arenas, byte cap, sticky errors,
 * mark/rewind and statistics.
 */
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS, MAP_NORESERVE */
#include "internal.h"

#include <sys/mman.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const status_text[AD_STATUS_COUNT] = {
    [AD_OK] = "success",
    [AD_EINVAL] = "invalid argument",
    [AD_ESHAPE] = "shape mismatch",
    [AD_ENOMEM] = "out of memory (allocation failed or tape byte cap reached)",
    [AD_EHANDLE] = "invalid handle",
    [AD_EANOMALY] = "anomaly: non-finite value",
    [AD_ECHECK] = "derivative check failed",
};

const char *ad_strerror(ad_status s)
{
    if ((unsigned)s >= AD_STATUS_COUNT)
        return "unknown status";
    return status_text[s];
}

static void set_error(ad_tape *t, ad_status s, const char *fmt, va_list ap)
{
    if (t->status != AD_OK)
        return; /* the first error sticks */
    t->status = s;
    vsnprintf(t->msg, sizeof t->msg, fmt, ap);
}

ad_var ad__fail(ad_tape *t, ad_status s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    set_error(t, s, fmt, ap);
    va_end(ap);
    return AD_NONE;
}

ad_status ad__failst(ad_tape *t, ad_status s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    set_error(t, s, fmt, ap);
    va_end(ap);
    return t->status;
}

ad_tape *ad_tape_new(const ad_tape_opts *opts)
{
    ad_tape *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->block_bytes = (opts && opts->block_bytes) ? opts->block_bytes : (size_t)1 << 20;
    t->max_bytes = opts ? opts->max_bytes : 0;
    t->anomaly = opts ? opts->anomaly : 0;
    t->reserved = sizeof *t;
    return t;
}

static void free_nodes(ad_tape *t);

static void arena_free(ad_arena *a)
{
    ad_arena_block *b = a->head;
    while (b) {
        ad_arena_block *next = b->next;
        free(b);
        b = next;
    }
    memset(a, 0, sizeof *a);
}

void ad_tape_free(ad_tape *t)
{
    if (!t)
        return;
    arena_free(&t->vals);
    arena_free(&t->scratch);
    free_nodes(t);
    free(t->work);
    free(t);
}

ad_status ad_tape_status(const ad_tape *t) { return t ? t->status : AD_EINVAL; }
const char *ad_tape_message(const ad_tape *t) { return t ? t->msg : "no tape"; }
void ad_tape_set_anomaly(ad_tape *t, int on)
{
    if (t)
        t->anomaly = on != 0;
}

void ad_tape_clear_error(ad_tape *t)
{
    if (!t)
        return;
    t->status = AD_OK;
    t->msg[0] = '\0';
}

/* Reserves n more bytes from the system, honouring the cap. */
static int reserve(ad_tape *t, size_t n)
{
    if (t->max_bytes && t->reserved + n > t->max_bytes)
        return 0;
    t->reserved += n;
    return 1;
}

/* Bytes still available under the cap (SIZE_MAX when there is none). */
static size_t budget_left(const ad_tape *t)
{
    if (!t->max_bytes)
        return SIZE_MAX;
    return t->max_bytes > t->reserved ? t->max_bytes - t->reserved : 0;
}

/* Records AD_ENOMEM for a failed request of `want` bytes (`what` names the
 * allocation): the message says whether the cap or the system refused it. */
static void fail_alloc(ad_tape *t, const char *what, size_t n, size_t want, int cap_hit)
{
    if (cap_hit)
        ad__fail(t, AD_ENOMEM,
                 "tape: byte cap reached (max_bytes %zu): %s of %zu bytes needs %zu more, "
                 "%zu already reserved",
                 t->max_bytes, what, n, want, t->reserved);
    else
        ad__fail(t, AD_ENOMEM, "tape: malloc of %zu bytes failed (%s of %zu bytes)", want, what,
                 n);
}

/* Bytes in use: nodes, values, and the scratch arena (jvp tangents,
 * reverse-sweep adjoints). */
static size_t bytes_now(const ad_tape *t)
{
    return (size_t)t->n * sizeof(ad_node) + t->vals.in_use + t->scratch.in_use;
}

static void note_peak(ad_tape *t)
{
    size_t b = bytes_now(t);
    if (b > t->peak)
        t->peak = b;
}

/* Bytes a block needs beyond its data: the header and the alignment slack. */
#define BLOCK_EXTRA (sizeof(ad_arena_block) + 64)

/* Data size of a new block for a request of n bytes: the default block size
 * (or n + 64 when larger) if that fits under the cap; otherwise half of what
 * the cap leaves, so that the node table, the other arena and the sweep
 * buffer can still grow, but never less than n. 0 when n does not fit. */
static size_t block_size(const ad_tape *t, size_t n)
{
    size_t size = n + 64 > t->block_bytes ? n + 64 : t->block_bytes;
    size_t left = budget_left(t);
    if (left < BLOCK_EXTRA || n > left - BLOCK_EXTRA)
        return 0;
    left -= BLOCK_EXTRA;
    if (size <= left)
        return size;
    size_t half = left / 2;
    return half > n ? half : n;
}

/* Finds room for n bytes (aligned to `al`) in the arena, reusing kept
 * blocks and appending a new one only when none fits. On failure returns
 * NULL and sets *cap_hit (the cap, not malloc, refused) and *want (the bytes
 * the new block needed). */
static void *arena_alloc(ad_tape *t, ad_arena *a, size_t n, size_t al, int *cap_hit, size_t *want)
{
    for (;;) {
        ad_arena_block *b = a->cur;
        if (b) {
            size_t off = (b->used + al - 1) & ~(al - 1);
            if (off + n <= b->size) {
                a->in_use += off + n - b->used;
                b->used = off + n;
                return b->data + off;
            }
            if (b->next) { /* move on to a kept block */
                a->cur = b->next;
                a->cur->used = 0;
                a->cur_index++;
                continue;
            }
        }
        size_t size = block_size(t, n);
        size_t total = sizeof(ad_arena_block) + size + 64;
        *want = size ? total : n + BLOCK_EXTRA;
        *cap_hit = 1;
        if (!size || !reserve(t, total))
            return NULL;
        ad_arena_block *nb = malloc(total);
        if (!nb) {
            t->reserved -= total;
            *cap_hit = 0;
            return NULL;
        }
        uintptr_t p = ((uintptr_t)(nb + 1) + 63) & ~(uintptr_t)63;
        nb->data = (unsigned char *)p;
        nb->size = size;
        nb->used = 0;
        nb->next = NULL;
        if (b) {
            b->next = nb;
            a->cur_index++;
        } else {
            a->head = nb;
            a->cur_index = 0;
        }
        a->cur = nb;
    }
}

void *ad__alloc(ad_tape *t, size_t n)
{
    int cap_hit = 0;
    size_t want = 0;
    void *p = arena_alloc(t, &t->vals, n ? n : 1, n >= 64 ? 64 : 8, &cap_hit, &want);
    if (!p)
        fail_alloc(t, "value allocation", n, want, cap_hit);
    else
        note_peak(t);
    return p;
}

void *ad__scratch(ad_tape *t, size_t n)
{
    int cap_hit = 0;
    size_t want = 0;
    void *p = arena_alloc(t, &t->scratch, n ? n : 1, 64, &cap_hit, &want);
    if (!p)
        fail_alloc(t, "scratch (tangent) allocation", n, want, cap_hit);
    else
        note_peak(t);
    return p;
}

void *ad__scratch_adj(ad_tape *t, size_t n)
{
    int cap_hit = 0;
    size_t want = 0;
    void *p = arena_alloc(t, &t->scratch, n ? n : 1, n >= 64 ? 64 : 8, &cap_hit, &want);
    if (!p)
        fail_alloc(t, "scratch (reverse-sweep adjoint) allocation", n, want, cap_hit);
    else
        note_peak(t);
    return p;
}

void ad__scratch_reset(ad_tape *t)
{
    ad_arena *a = &t->scratch;
    a->cur = a->head;
    a->cur_index = 0;
    a->in_use = 0;
    if (a->cur)
        a->cur->used = 0;
}

ad_scratch_mark ad__scratch_mark(const ad_tape *t)
{
    const ad_arena *a = &t->scratch;
    return (ad_scratch_mark){a->cur, a->cur_index, a->cur ? a->cur->used : 0, a->in_use};
}

void ad__scratch_rewind(ad_tape *t, ad_scratch_mark m)
{
    if (!m.cur) {
        ad__scratch_reset(t);
        return;
    }
    ad_arena *a = &t->scratch;
    a->cur = m.cur;
    a->cur_index = m.index;
    a->cur->used = m.used;
    a->in_use = m.in_use;
}

void *ad__work(ad_tape *t, size_t n)
{
    if (n <= t->work_cap)
        return t->work;
    size_t want = n > 2 * t->work_cap ? n : 2 * t->work_cap;
    if (want - t->work_cap > budget_left(t))
        want = n; /* under the cap: no room to spare, grow to what is asked */
    if (!reserve(t, want - t->work_cap)) {
        fail_alloc(t, "sweep buffer", want, want - t->work_cap, 1);
        return NULL;
    }
    void *p = realloc(t->work, want);
    if (!p) {
        t->reserved -= want - t->work_cap;
        fail_alloc(t, "sweep buffer", want, want, 0);
        return NULL;
    }
    t->work = p;
    t->work_cap = want;
    return p;
}

/* Grows the node table: doubling, or, when that does not fit under the cap,
 * by a quarter of what the cap leaves (at least one node). On failure
 * records AD_ENOMEM naming op and returns 0. */
/* The node table's limit: int32 indices, and at most this much reserved
 * address space per tape (2^30 nodes of 72 bytes: 72 GiB of addresses, only
 * the part in use backed by memory). */
#define MAX_NODES ((int64_t)1 << 30)

static size_t page_round(size_t n)
{
    size_t pg = 65536; /* a multiple of every page size Linux uses for this */
    return (n + pg - 1) / pg * pg;
}

/* First table of cap nodes: address space for the tape's whole node limit
 * (under max_bytes when set), committed up to cap; a plain malloc when the
 * reservation fails (then the table may move and nothing is inline). */
static ad_node *map_nodes(ad_tape *t, int32_t cap)
{
    size_t lim = (size_t)MAX_NODES * sizeof(ad_node);
    if (t->max_bytes && t->max_bytes < lim)
        lim = t->max_bytes;
    lim = page_round(lim);
    void *p = mmap(NULL, lim, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p != MAP_FAILED) {
        size_t use = page_round((size_t)cap * sizeof(ad_node));
        if (use <= lim && mprotect(p, use, PROT_READ | PROT_WRITE) == 0) {
            t->map_bytes = lim;
            return p;
        }
        munmap(p, lim);
    }
    return malloc((size_t)cap * sizeof(ad_node));
}

/* Grows a mapped table to cap nodes in place; NULL when that fails. */
static ad_node *commit_nodes(ad_tape *t, int32_t cap)
{
    size_t use = page_round((size_t)cap * sizeof(ad_node));
    if (use > t->map_bytes || mprotect(t->nodes, use, PROT_READ | PROT_WRITE) != 0)
        return NULL;
    return t->nodes;
}

/* Frees the node table, mapped or malloc'd. */
static void free_nodes(ad_tape *t)
{
    if (t->map_bytes)
        munmap(t->nodes, t->map_bytes);
    else
        free(t->nodes);
}

/* 1 when op may keep a 1×1 value inline: every op that never uses iprm
 * (the index, linear-algebra and sparse ops do). */
static int inline_ok(int op)
{
    switch (op) {
    case AD_OP_GATHER: case AD_OP_SCATTER: case AD_OP_SLICE: case AD_OP_EMBED:
    case AD_OP_CONCAT: case AD_OP_RESHAPE: case AD_OP_DOT: case AD_OP_MATMUL:
    case AD_OP_TRANSPOSE: case AD_OP_SPMM:
        return 0;
    default:
        return 1;
    }
}

static int grow_nodes(ad_tape *t, int op)
{
    int64_t want = t->cap ? (int64_t)t->cap * 2 : 256;
    if (want > MAX_NODES)
        want = MAX_NODES;
    size_t room = budget_left(t) / sizeof(ad_node);
    if (want > t->cap && (size_t)(want - t->cap) > room)
        want = t->cap + (room / 4 > 0 ? (int64_t)(room / 4) : 1);
    if (want <= t->cap || want > MAX_NODES) {
        ad__fail(t, AD_ENOMEM, "%s: node table is full at %d nodes (the limit is %d)",
                 ad__opname(op), (int)t->n, (int)MAX_NODES);
        return 0;
    }
    int32_t cap = (int32_t)want;
    size_t add = (size_t)(cap - t->cap) * sizeof(ad_node);
    char what[64];
    snprintf(what, sizeof what, "%s: node table of %d nodes", ad__opname(op), (int)cap);
    if (!reserve(t, add)) {
        fail_alloc(t, what, (size_t)cap * sizeof(ad_node), add, 1);
        return 0;
    }
    ad_node *p = t->cap == 0 ? map_nodes(t, cap) : t->map_bytes ? commit_nodes(t, cap)
                                                                 : realloc(t->nodes, (size_t)cap * sizeof(ad_node));
    if (!p) {
        t->reserved -= add;
        fail_alloc(t, what, (size_t)cap * sizeof(ad_node), (size_t)cap * sizeof(ad_node), 0);
        return 0;
    }
    t->nodes = p;
    t->cap = cap;
    return 1;
}

/* Appends a node; its value is `ext` when non-NULL, else fresh arena memory. */
static int32_t push_node(ad_tape *t, int op, int rows, int cols, int np, const int32_t *par,
                         double *ext)
{
    if (t->status != AD_OK)
        return -1;
    if (t->n == t->cap && !grow_nodes(t, op))
        return -1;
    ad_node *nd = &t->nodes[t->n];
    memset(nd, 0, sizeof *nd);
    nd->op = (uint16_t)op;
    nd->rows = rows;
    nd->cols = cols;
    nd->np = (uint8_t)np;
    int scalar = rows == 1 && cols == 1;
    for (int k = 0; k < np; k++) {
        nd->par[k] = par[k];
        scalar &= t->nodes[par[k]].rows == 1 && t->nodes[par[k]].cols == 1;
    }
    if (scalar)
        nd->flags |= AD_NF_SCALAR;
    if (t->nograd)
        nd->flags |= AD_NF_NOGRAD;
    t->n++;
    t->pushed++;
    if (ext) {
        nd->val = ext;
        nd->flags |= AD_NF_EXTERNAL;
        note_peak(t);
        return t->n - 1;
    }
    if (rows == 1 && cols == 1 && t->map_bytes && inline_ok(op)) {
        nd->val = &nd->inl[1];
        nd->flags |= AD_NF_INLINE;
        note_peak(t);
        return t->n - 1;
    }
    nd->val = ad__alloc(t, (size_t)rows * (size_t)cols * sizeof(double));
    if (!nd->val) {
        t->n--;
        return -1;
    }
    return t->n - 1;
}

int32_t ad__push(ad_tape *t, int op, int rows, int cols, int np, const int32_t *par)
{
    return push_node(t, op, rows, cols, np, par, NULL);
}

int32_t ad__push_alias(ad_tape *t, int op, int rows, int cols, int np, const int32_t *par,
                       const double *val)
{
    return push_node(t, op, rows, cols, np, par, (double *)val);
}

ad_var ad__done_check(ad_tape *t, int32_t i)
{
    const ad_node *nd = &t->nodes[i];
    size_t n = ad__size(nd);
    for (size_t k = 0; k < n; k++) {
        if (!isfinite(nd->val[k])) {
            ad__fail(t, AD_EANOMALY, "anomaly: op '%s' (node %d, %dx%d) produced %g at element %zu",
                     ad__opname(nd->op), (int)i, nd->rows, nd->cols, nd->val[k], k);
            return AD_NONE;
        }
    }
    return ad__var(i);
}

/* The handle check of ad__arg and its variants (inline in each). */
static inline const ad_node *arg_check(ad_tape *t, const char *name, ad_var v)
{
    if (!t || t->status != AD_OK)
        return NULL;
    if (v.id < 0 || v.id >= t->n) {
        ad__fail(t, AD_EHANDLE, "%s: invalid handle %d (tape has %d nodes)", name, (int)v.id,
                 (int)t->n);
        return NULL;
    }
    return &t->nodes[v.id];
}

const ad_node *ad__arg_raw(ad_tape *t, const char *name, ad_var v)
{
    return arg_check(t, name, v);
}

const ad_node *ad__arg(ad_tape *t, const char *name, ad_var v)
{
    const ad_node *nd = arg_check(t, name, v);
    if (nd)
        ad__force(t, v.id);
    return nd;
}

void ad_tape_set_lazy(ad_tape *t, int on)
{
    if (t)
        t->lazy_user = on != 0;
}

void ad__force_reads(const ad_tape *t, int32_t i, const int active[3])
{
    const ad_node *nd = &t->nodes[i];
    switch (nd->op) {
    case AD_OP_ADD:
    case AD_OP_SUB:
    case AD_OP_AFFINE:
    case AD_OP_SUM:
    case AD_OP_SUM_ROWS:
    case AD_OP_SUM_COLS:
    case AD_OP_BROADCAST: /* linear: no value is used (a 1×1 operand's is loaded, unused) */
        return;
    case AD_OP_MUL:
    case AD_OP_MATMUL: /* parent k only against the other parent's direction */
        for (int k = 0; k < 2; k++)
            if (active[1 - k])
                ad__force(t, nd->par[k]);
        return;
    case AD_OP_SOFTPLUS:
        if (nd->aux) { /* σ is kept: x, never the value */
            ad__force(t, nd->par[0]);
            return;
        }
        break;
    default:
        break;
    }
    ad__force(t, i); /* and with it every parent */
}

/* Marks node i and its lazy ancestors (AD_NF_MARK) by one scan down from
 * i that stops once no marked node is left unvisited; returns the lowest. */
static int32_t mark_lazy(ad_tape *t, int32_t i)
{
    t->nodes[i].flags |= AD_NF_MARK;
    int32_t pending = 1, lo = i;
    for (int32_t j = i; pending > 0 && j >= 0; j--) {
        const ad_node *nd = &t->nodes[j];
        if (!(nd->flags & AD_NF_MARK))
            continue;
        pending--;
        lo = j;
        for (int k = 0; k < nd->np; k++) {
            ad_node *p = &t->nodes[nd->par[k]];
            if ((p->flags & (AD_NF_LAZY | AD_NF_MARK)) == AD_NF_LAZY) {
                p->flags |= AD_NF_MARK;
                pending++;
            }
        }
    }
    return lo;
}

void ad__force_slow(const ad_tape *ct, int32_t i)
{
    ad_tape *t = (ad_tape *)ct; /* only deferred values change (internal.h) */
    int32_t lo = mark_lazy(t, i);
    for (int32_t j = lo; j <= i; j++) {
        ad_node *nd = &t->nodes[j];
        if (!(nd->flags & AD_NF_MARK))
            continue;
        nd->flags &= (uint8_t) ~(AD_NF_MARK | AD_NF_LAZY);
        ad__def(nd->op)->eval(t, nd);
        t->forced++;
    }
}

ad_mark ad_tape_mark(const ad_tape *t)
{
    if (!t)
        return (ad_mark){0, 0, 0, 0};
    ad_mark m = {t->n, t->vals.cur_index, t->vals.cur ? t->vals.cur->used : 0, t->vals.in_use};
    return m;
}

void ad_tape_rewind(ad_tape *t, ad_mark m)
{
    if (!t || m.nodes < 0 || m.nodes > t->n || m.block < 0)
        return;
    ad_arena *a = &t->vals;
    ad_arena_block *b = a->head;
    for (int32_t k = 0; b && k < m.block; k++)
        b = b->next;
    /* A mark that names no block of this arena (not from this tape) is
     * ignored: pointing cur past the list would orphan the kept blocks. */
    if ((!b && m.block > 0) || (b && m.used > b->size) || m.bytes > a->in_use)
        return;
    t->n = m.nodes;
    a->cur = b;
    a->cur_index = b ? m.block : 0;
    if (b)
        b->used = m.used;
    a->in_use = m.bytes;
}

ad_stats ad_tape_stats(const ad_tape *t)
{
    if (!t)
        return (ad_stats){0, 0, 0, 0};
    ad_stats s = {(size_t)t->n, bytes_now(t), t->peak, t->reserved};
    return s;
}

void ad_tape_reset_peak(ad_tape *t)
{
    if (t)
        t->peak = bytes_now(t);
}
