/*
 * ad/internal.h — private structures of the ad engine: nodes, arenas, the op
 * table and the helpers every op file uses. Not installed.
 */
#ifndef HYPERTAPE_AD_INTERNAL_H
#define HYPERTAPE_AD_INTERNAL_H

#include <hypertape/ad.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* X-macro of every op: (ENUM, name). The enum, the name table and the
 * definition table are all generated from it, so they cannot fall out of
 * step. An op is implemented in the file named in the comment. */
#define AD_OP_LIST(X)                                                  \
    X(LEAF, leaf)             /* values.c */                           \
    X(CONST, const)           /* values.c */                           \
    X(ADD, add)               /* ops_binary.c */                       \
    X(SUB, sub)                                                        \
    X(MUL, mul)                                                        \
    X(DIV, div)                                                        \
    X(GREATER, greater)                                                \
    X(AFFINE, affine)         /* ops_unary.c */                        \
    X(EXP, exp)                                                        \
    X(LOG, log)                                                        \
    X(LOG1P, log1p)                                                    \
    X(SQRT, sqrt)                                                      \
    X(SQUARE, square)                                                  \
    X(POW, pow)                                                        \
    X(ABS, abs)                                                        \
    X(SIGMOID, sigmoid)                                                \
    X(SOFTPLUS, softplus)                                              \
    X(LOGSIGMOID, logsigmoid)                                          \
    X(TANH, tanh)                                                      \
    X(RELU, relu)                                                      \
    X(SUM, sum)               /* ops_reduce.c */                       \
    X(SUM_ROWS, sum_rows)                                              \
    X(SUM_COLS, sum_cols)                                              \
    X(BROADCAST, broadcast)                                            \
    X(DOT, dot)               /* ops_linalg.c */                       \
    X(MATMUL, matmul)                                                  \
    X(TRANSPOSE, transpose)                                            \
    X(LOGSUMEXP, logsumexp)   /* ops_softmax.c */                      \
    X(GATHER, gather)         /* ops_index.c */                        \
    X(SCATTER, scatter_add)                                            \
    X(SLICE, slice)                                                    \
    X(EMBED, embed)                                                    \
    X(CONCAT, concat)                                                  \
    X(RESHAPE, reshape)                                                \
    X(SPMM, spmm)             /* ops_sparse.c */                       \
    X(DETACH, detach)         /* ops_control.c */                      \
    X(SELECT, select)

enum ad_opcode {
#define AD_X_ENUM(E, n) AD_OP_##E,
    AD_OP_LIST(AD_X_ENUM)
#undef AD_X_ENUM
    AD_OP_COUNT
};

/* Node flags. */
enum {
    AD_NF_NOGRAD = 1,   /* no derivative flows through this node */
    AD_NF_EXTERNAL = 2, /* val points at memory the tape does not own */
    AD_NF_LAZY = 4,     /* val is allocated but not computed yet (see ad__force) */
    AD_NF_MARK = 8,     /* transient: selected by ad__force for evaluation */
    AD_NF_INLINE = 16,  /* val points at inl, inside the node (see "inline values") */
    AD_NF_SCALAR = 32   /* the node and every parent are 1×1 (set by push, for the sweeps) */
};

/* One recorded op. Shape comment: val holds rows×cols doubles.
 *
 * Inline values. The node table is a reserved range of address space that
 * grows in place (tape.c, grow_nodes), so a node never moves and a 1×1
 * value can live inside its node: val = &inl[1], flag AD_NF_INLINE, with
 * no arena allocation and the value on the node's own cache line. Only ops
 * that never use iprm get one (tape.c, inline_ok); the fingerprint skips
 * inl. If the reservation fails the table is malloc'd, may move, and no
 * value is inline: code may keep a val pointer across a push either way. */
typedef struct ad_node {
    uint16_t op;        /* enum ad_opcode */
    uint8_t flags;      /* AD_NF_* */
    uint8_t np;         /* number of parents (0..3) */
    int32_t rows, cols;
    int32_t par[3];     /* parent node indices */
    union {
        int32_t iprm[4]; /* integer parameters (transposes, offsets, counts) */
        double inl[2];   /* inl[1]: a 1x1 value kept in the node (AD_NF_INLINE) */
    };
    double prm[2];      /* real parameters (α, β, exponent) */
    double *val;        /* rows*cols values, row-major */
    void *aux;          /* op-specific data in the arena (indices, CSR header) */
} ad_node;

/* A bump allocator over a list of blocks that are kept across rewinds. */
typedef struct ad_arena_block {
    struct ad_arena_block *next;
    size_t size, used;
    unsigned char *data; /* 64-byte aligned */
} ad_arena_block;

typedef struct ad_arena {
    ad_arena_block *head, *cur;
    int32_t cur_index;  /* index of cur in the list */
    size_t in_use;      /* bytes handed out across all blocks */
} ad_arena;

struct ad_tape {
    ad_node *nodes;     /* never moves once mapped (map_bytes > 0): see "inline values" */
    int32_t n, cap;
    size_t map_bytes;   /* address space reserved for the node table; 0 = malloc'd table */
    ad_arena vals;      /* node values and aux data */
    ad_arena scratch;   /* jvp tangents, numeric adjoints; reset by each sweep */
    void *work;         /* per-sweep index arrays (grad, jvp) */
    size_t work_cap;
    size_t block_bytes, max_bytes, reserved, peak;
    int anomaly;
    int nograd;         /* >0 while recording a non-differentiable backward pass */
    int vjp_off;        /* tests only: 1 = the numeric sweep uses every op's recorded rule */
    int lazy;           /* >0: lazy-capable ops defer their values (ad_hvp_prepare) */
    int lazy_user;      /* ad_tape_set_lazy */
    int lazy_off;       /* tests only: 1 = never defer (the eager reference) */
    uint64_t deferred;  /* tests: values deferred, and of those later evaluated */
    uint64_t forced;
    uint64_t pushed;    /* nodes ever appended, rewinds notwithstanding (tests count them) */
    ad_status status;
    char msg[256];
};

/* Tangent kernel: tout = d(value)/dε given parent tangents tin[k] (NULL =
 * zero; at least one is non-NULL). Records nothing. */
typedef void (*ad_jvp_fn)(const ad_tape *t, const ad_node *nd, const double *const tin[3],
                          double *tout);
/* Backward rule, written with ad ops so that it can be differentiated
 * again: for each parent k with need[k], set out[k] to the adjoint
 * contribution ḡ·∂node/∂parent_k, shaped like that parent. nd is a copy of
 * the node (the node table may move while the rule records), y its handle. */
typedef void (*ad_bwd_fn)(ad_tape *t, const ad_node *nd, ad_var y, ad_var g,
                          const int need[3], ad_var out[3]);

/* Numeric adjoint kernel, for the sweep without AD_CREATE_GRAPH: adds
 * ḡ·∂node/∂parent_k into acc[k] (shaped like parent k) for each non-NULL
 * acc[k], given g = ḡ (shaped like the node). Records no node; may take
 * temporary memory with ad__scratch_adj (reset after the sweep). The values it
 * adds are those the recorded rule (bwd) computes, in the same order where
 * that is cheap (ad_grad in <hypertape/ad.h>). NULL = the sweep falls back to
 * the recorded rule for this op. */
typedef void (*ad_vjp_fn)(ad_tape *t, const ad_node *nd, const double *g, double *const acc[3]);

/* Value kernel of a lazy-capable op: computes nd->val (and nd->aux) from
 * its parents' values, which are computed. Records nothing. */
typedef void (*ad_eval_fn)(const ad_tape *t, ad_node *nd);

typedef struct ad_opdef {
    ad_jvp_fn jvp;
    ad_bwd_fn bwd;
    ad_vjp_fn vjp;
    uint8_t nodiff; /* bit k set: parent k never receives an adjoint (select's mask) */
    ad_eval_fn eval; /* non-NULL: the op may defer its value (lazy values) */
} ad_opdef;

#define AD_X_DECL(E, n) extern const ad_opdef ad_def_##n;
AD_OP_LIST(AD_X_DECL)
#undef AD_X_DECL

/* Structural fingerprint of nodes lo..hi−1 (ad_tape_fingerprint is the
 * range from a mark to the end; t NULL hashes nothing). fingerprint.c. */
uint64_t ad__fingerprint_range(const ad_tape *t, int32_t lo, int32_t hi);

/* Table lookup (the tables are in values.c; inline: every sweep step asks). */
extern const ad_opdef *const ad__op_defs[AD_OP_COUNT];
static inline const ad_opdef *ad__def(int op) { return ad__op_defs[op]; }
const char *ad__opname(int op);

/* ---- tape helpers (tape.c) ---- */

/* Records the first error (printf-style message) and returns AD_NONE. */
ad_var ad__fail(ad_tape *t, ad_status s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Like ad__fail but returns the status. */
ad_status ad__failst(ad_tape *t, ad_status s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Bump-allocates n bytes (64-byte aligned when n ≥ 64) from the value
 * arena; NULL after recording AD_ENOMEM. */
void *ad__alloc(ad_tape *t, size_t n);
/* The same from the scratch arena. */
void *ad__scratch(ad_tape *t, size_t n);
/* The same, for the numeric reverse sweep's adjoints and temporaries:
 * 8-byte aligned below 64 bytes, and the failure message says "adjoint". */
void *ad__scratch_adj(ad_tape *t, size_t n);
void ad__scratch_reset(ad_tape *t);
/* A position in the scratch arena, to drop a kernel's temporaries. */
typedef struct ad_scratch_mark {
    ad_arena_block *cur;
    int32_t index;
    size_t used, in_use;
} ad_scratch_mark;
ad_scratch_mark ad__scratch_mark(const ad_tape *t);
/* Frees everything taken from the scratch arena since m (blocks are kept). */
void ad__scratch_rewind(ad_tape *t, ad_scratch_mark m);
/* Per-sweep work buffer of at least n bytes (contents undefined). */
void *ad__work(ad_tape *t, size_t n);
/* Appends a node with np parents and, unless val_external, a fresh value
 * array of rows×cols. Returns the node index or −1 (error recorded). */
int32_t ad__push(ad_tape *t, int op, int rows, int cols, int np, const int32_t *par);
/* The same, but the node's value is `val` (not copied, never written):
 * for views (reshape, detach) and caller-owned constants. */
int32_t ad__push_alias(ad_tape *t, int op, int rows, int cols, int np, const int32_t *par,
                       const double *val);
/* Anomaly check of a finished node i ≥ 0 (the slow half of ad__done). */
ad_var ad__done_check(ad_tape *t, int32_t i);
/* Returns node i's handle, or AD_NONE for i < 0 or after an anomaly. */
static inline ad_var ad__done(ad_tape *t, int32_t i)
{
    if (i < 0)
        return (ad_var){-1};
    return t->anomaly ? ad__done_check(t, i) : (ad_var){i};
}
/* Validates a handle for op `name`: returns the node or NULL (error set).
 * Returns NULL quietly if the tape already holds an error. The node's value
 * is computed (forced, when it was deferred). */
const ad_node *ad__arg(ad_tape *t, const char *name, ad_var v);

/* u·v with an exact zero absorbing NaN and Inf: a term whose value or
 * tangent factor is 0 contributes 0. This is the tangent-side twin of
 * ad__live: when the backward pass is swept forward (Hvp, AD_HVP_FOR), an
 * adjoint that is exactly zero in a branch select did not take meets the
 * infinite tangent of, e.g., sqrt at 0, and must still give zero. */
static inline double ad__mul0(double u, double v)
{
    double p = u * v;
    return (u == 0.0) | (v == 0.0) ? 0.0 : p; /* no short circuit: the loops vectorise */
}

/* ---- lazy values (tape.c) ----
 * While the tape defers (ad__defers: ad_hvp_prepare in forward-over-reverse
 * mode, or ad_tape_set_lazy; never in anomaly mode), an op whose definition
 * has an `eval` kernel records its node with room for the value but does
 * not compute it: the node is AD_NF_LAZY. (Softplus computes its kept σ at
 * once and defers only its value.) A value is computed when something
 * reads it: an op that is not deferring (ad__arg), ad_value, or a sweep
 * kernel, each sweep forcing only what its kernel reads (ad__force_reads).
 * Invariant: every parent of a node that is not lazy is not lazy either, so
 * a computed value never rests on a missing one. Values and derivatives are
 * the same bits either way. */

/* 1 while lazy-capable ops defer their values (inline: every op asks). */
static inline int ad__defers(const ad_tape *t)
{
    return (t->lazy > 0 || t->lazy_user) && !t->lazy_off && !t->anomaly;
}
/* Computes the values that node i's tangent or adjoint kernel reads, given
 * active[k]: parent k has a tangent (forward sweep) or wants an adjoint
 * (reverse sweep). Linear ops read none, mul and matmul
 * parent k only against the other parent's direction, softplus with its σ
 * kept only x, and any other op its parents and itself. Only needed for a
 * lazy node i: by the invariant, a computed node's parents are computed. */
void ad__force_reads(const ad_tape *t, int32_t i, const int active[3]);

/* Handle check only, never forcing (the sweeps' argument checks, and the
 * error path of ad__arg_lazy). */
const ad_node *ad__arg_raw(ad_tape *t, const char *name, ad_var v);
/* After a lazy-capable op pushed node i: 1 (and the node marked lazy) when
 * the tape defers, so the op returns without computing; 0 otherwise. */
static inline int ad__defer(ad_tape *t, int32_t i)
{
    if (!ad__defers(t))
        return 0;
    t->nodes[i].flags |= AD_NF_LAZY;
    t->deferred++;
    return 1;
}
/* Computes node i's value and those of its lazy ancestors, oldest first;
 * the value storage already exists, so this cannot fail. Logically const:
 * the recording does not change, only deferred values appear. */
void ad__force_slow(const ad_tape *t, int32_t i);
static inline void ad__force(const ad_tape *t, int32_t i)
{
    if (t->nodes[i].flags & AD_NF_LAZY)
        ad__force_slow(t, i);
}
/* ad__arg without forcing while the tape defers: for lazy-capable ops
 * (inline: the scalar path calls it twice per op). */
static inline const ad_node *ad__arg_lazy(ad_tape *t, const char *name, ad_var v)
{
    if (!t || t->status != AD_OK || v.id < 0 || v.id >= t->n)
        return ad__arg_raw(t, name, v); /* records the error, or NULL quietly */
    if (!ad__defers(t))
        ad__force(t, v.id);
    return &t->nodes[v.id];
}

static inline ad_node *ad__node(const ad_tape *t, int32_t i) { return &t->nodes[i]; }
static inline size_t ad__size(const ad_node *nd) { return (size_t)nd->rows * (size_t)nd->cols; }
static inline ad_var ad__var(int32_t i) { return (ad_var){i}; }

/* Reduces g (shape of a broadcast result) to r×c by summing (ops_reduce.c). */
ad_var ad__sum_to(ad_tape *t, ad_var g, int r, int c);
/* acc (r×c) += sign·ḡ summed down to r×c, with g gr×gc: the values and the
 * order of additions of ad__sum_to (ops_reduce.c); sign is ±1. May take
 * scratch memory; returns 0 after recording AD_ENOMEM. */
int ad__acc_sum_to(ad_tape *t, const double *g, int gr, int gc, int r, int c, double sign,
                   double *acc);
/* Zeros r×c (a constant). */
ad_var ad__zeros(ad_tape *t, int r, int c);

/* Guard of adjoint products (ops_control.c), used by the backward rules of
 * the elementwise ops, dot and logsumexp: p (r×c) is a product ḡ ⊙ f with g
 * (1×1, 1×c, r×1 or r×c) broadcast to r×c. Where g is exactly zero and p is
 * not finite (f NaN/Inf in a branch ad_select did not take), the
 * contribution is taken as zero; elsewhere p is unchanged. Returns p itself,
 * recording nothing, when no element needs the guard. */
ad_var ad__live(ad_tape *t, ad_var g, ad_var p);

#endif
