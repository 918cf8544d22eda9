/*
 * hypertape/ad.h — hypertape's tape-based automatic differentiation engine.
 *
 * Size glossary used in every shape comment:
 *   r, c      rows and columns of a value (all values are dense row-major
 *             double arrays of shape r×c; a scalar is 1×1)
 *   n         number of indices passed to a gather/scatter
 *   m×k, k×n  the inner and outer sizes of a matrix product
 *
 * Model of use.  Create a tape, put leaves (differentiable inputs) and
 * constants on it, call ops: each op computes its value at once (eager) and
 * appends a node.  Values are named by small handles (ad_var), never by
 * pointers, so the tape may grow.  ad_grad() runs reverse mode from a scalar;
 * its result is itself recorded (AD_CREATE_GRAPH), so derivatives of any
 * order work.  ad_jvp() runs forward mode over what was recorded.
 * ad_hvp_prepare()/ad_hvp_apply() give H·v and cross(v) = ∇²_λθ G·v from one
 * sweep: the second-order primitive that the bilevel layer shares.
 *
 * Errors.  Every op that fails (bad handle, shape mismatch, out of memory,
 * anomaly) records the FIRST error on the tape and returns AD_NONE; later ops
 * on a failed tape return AD_NONE without work.  Check ad_tape_status() once
 * at the end of an expression.  The library never prints, exits or aborts.
 *
 * Threads.  There is no global mutable state: one tape per thread is safe.
 */
#ifndef HYPERTAPE_AD_H
#define HYPERTAPE_AD_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Status codes returned by every fallible call. */
typedef enum ad_status {
    AD_OK = 0,       /**< success */
    AD_EINVAL,       /**< bad argument (NULL pointer, negative size, bad index, non-finite input) */
    AD_ESHAPE,       /**< operand shapes do not fit the op */
    AD_ENOMEM,       /**< allocation failed or the tape's byte cap would be exceeded */
    AD_EHANDLE,      /**< a handle does not name a value on this tape (stale after rewind?) */
    AD_EANOMALY,     /**< anomaly mode: an op produced NaN or Inf */
    AD_ECHECK,       /**< a derivative check found an error above tolerance */
    AD_STATUS_COUNT
} ad_status;

/** Returns a static English description of a status code (never NULL). */
const char *ad_strerror(ad_status s);

/** Opaque tape: nodes, values and scratch memory, all owned by the tape. */
typedef struct ad_tape ad_tape;

/** Handle of a value on a tape; id < 0 means "no value" (see AD_NONE).
 *  A handle is an index: after ad_tape_rewind() it is stale, and once
 *  recording resumes it names whatever node now sits at that index. */
typedef struct ad_var {
    int32_t id;
} ad_var;

/** The invalid handle returned by failed ops. */
#define AD_NONE ((ad_var){-1})

/** Returns 1 if v is not AD_NONE. It does not check that v is on a tape. */
static inline int ad_ok(ad_var v) { return v.id >= 0; }

/** Tape options. Zero-initialised options are the defaults. */
typedef struct ad_tape_opts {
    size_t max_bytes;   /**< cap on all memory the tape reserves (header, node table, arenas,
                             sweep buffers); 0 = no cap. Any cap above a few hundred bytes
                             works: blocks shrink to fit under it. Past it, ops fail with
                             AD_ENOMEM and a message naming the cap and the bytes requested. */
    size_t block_bytes; /**< size of one arena block; 0 = 1 MiB. A block that would not fit
                             under max_bytes takes half of what the cap leaves instead. */
    int anomaly;        /**< nonzero: fail with AD_EANOMALY at the first op whose value is not finite */
} ad_tape_opts;

/** Creates an empty tape. opts may be NULL (defaults). Returns NULL only if
 *  the tape header itself cannot be allocated. */
ad_tape *ad_tape_new(const ad_tape_opts *opts);

/** Frees a tape and everything on it. ad_tape_free(NULL) is a no-op. */
void ad_tape_free(ad_tape *t);

/** Returns the first error recorded on the tape, or AD_OK. */
ad_status ad_tape_status(const ad_tape *t);

/** Returns the message of the first error ("" when none); it names the op
 *  and the shapes involved. Valid until the error is cleared. */
const char *ad_tape_message(const ad_tape *t);

/** Clears the sticky error so the tape can be used again. */
void ad_tape_clear_error(ad_tape *t);

/** Turns anomaly mode on (1) or off (0). */
void ad_tape_set_anomaly(ad_tape *t, int on);
/** Lazy values on (1) or off (0). While on, elementwise ops, sums,
 *  broadcasts and matmul record their nodes without computing their values;
 *  a value is computed when something reads it: ad_value(), an op that
 *  does not defer, or a sweep kernel that needs it (ad_grad's numeric
 *  sweep, for instance, never needs softplus's value, only its derivative).
 *  Use it to record a function whose value is not wanted, only derivatives.
 *  Results are the same bits as without it; anomaly mode turns it off. */
void ad_tape_set_lazy(ad_tape *t, int on);

/** A position on the tape, for ad_tape_rewind() and ad_tape_fingerprint().
 *  Treat the fields as opaque. */
typedef struct ad_mark {
    int32_t nodes;   /**< node count at the mark */
    int32_t block;   /**< arena block index at the mark */
    size_t used;     /**< bytes used in that block */
    size_t bytes;    /**< total arena bytes in use at the mark */
} ad_mark;

/** Returns the current end of the tape. */
ad_mark ad_tape_mark(const ad_tape *t);

/** Drops every node recorded after m; handles to them become invalid.
 *  Memory is kept for reuse: a loop that records, differentiates and
 *  rewinds to the same mark does no allocation after its first iteration. */
void ad_tape_rewind(ad_tape *t, ad_mark m);

/** Tape statistics. */
typedef struct ad_stats {
    size_t nodes;          /**< nodes on the tape now */
    size_t bytes;          /**< bytes in use now (nodes + values) */
    size_t peak_bytes;     /**< largest `bytes` since creation or ad_tape_reset_peak() */
    size_t reserved_bytes; /**< bytes allocated from the system (what max_bytes caps) */
} ad_stats;

/** Returns the tape's statistics. */
ad_stats ad_tape_stats(const ad_tape *t);

/** Sets peak_bytes to the current bytes. */
void ad_tape_reset_peak(ad_tape *t);

/** Structural fingerprint (XXH3-64) of the nodes recorded since `from`: op
 *  codes, shapes, integer parameters and parent links. Links inside the
 *  range hash as positions relative to `from`; links to older nodes hash as
 *  that node's op and shape. Two recordings of the same code on inputs of
 *  the same shapes match wherever on the tape they sit; values do not count. */
uint64_t ad_tape_fingerprint(const ad_tape *t, ad_mark from);

/* ------------------------------------------------------------------ values */

/** Differentiable input, r×c, copied from data (NULL = zeros). Fails with
 *  AD_EINVAL if data holds NaN or Inf. */
ad_var ad_leaf(ad_tape *t, int r, int c, const double *data);

/** Constant, r×c, copied from data (NULL = zeros); NaN/Inf rejected. */
ad_var ad_const(ad_tape *t, int r, int c, const double *data);

/** Constant r×c that refers to the caller's data without copying. The data
 *  must stay alive and unchanged while the node is on the tape. Checked for
 *  NaN/Inf only in anomaly mode. */
ad_var ad_const_ref(ad_tape *t, int r, int c, const double *data);

/** Constant 1×1 with value x. */
ad_var ad_scalar(ad_tape *t, double x);

/** Rows of v (0 for an invalid handle). */
int ad_rows(const ad_tape *t, ad_var v);
/** Columns of v (0 for an invalid handle). */
int ad_cols(const ad_tape *t, ad_var v);
/** Read-only pointer to v's r*c values, row-major; NULL for an invalid
 *  handle. Valid until v is rewound away. A value that ad_hvp_prepare()
 *  deferred is computed here, on first read, so two threads must not read
 *  values of one tape at the same time. */
const double *ad_value(const ad_tape *t, ad_var v);
/** Value of element 0 of v (NaN for an invalid handle); computes a
 *  deferred value as ad_value() does. */
double ad_scalar_value(const ad_tape *t, ad_var v);

/* ------------------------------------------------- elementwise, broadcast */
/* Binary ops broadcast numpy-style in 2-D: each of a's and b's dimensions
 * must equal the other's or be 1; the result takes the larger. So scalar
 * (1×1), row (1×c) and column (r×1) broadcasting all work. */

/** a + b, broadcast. */
ad_var ad_add(ad_tape *t, ad_var a, ad_var b);
/** a − b, broadcast. */
ad_var ad_sub(ad_tape *t, ad_var a, ad_var b);
/** a ⊙ b, broadcast. */
ad_var ad_mul(ad_tape *t, ad_var a, ad_var b);
/** a / b, broadcast. */
ad_var ad_div(ad_tape *t, ad_var a, ad_var b);
/** Elementwise 0/1 mask of a > b, broadcast; not differentiable (its
 *  derivative is zero almost everywhere). */
ad_var ad_greater(ad_tape *t, ad_var a, ad_var b);

/* --------------------------------------------------- elementwise, unary */
/* All r×c → r×c. */

/** α·x + β (the one linear unary op; neg, scale and shift use it). */
ad_var ad_affine(ad_tape *t, ad_var x, double alpha, double beta);
/** −x. */
ad_var ad_neg(ad_tape *t, ad_var x);
/** α·x. */
ad_var ad_scale(ad_tape *t, ad_var x, double alpha);
/** x + β. */
ad_var ad_shift(ad_tape *t, ad_var x, double beta);
/** e^x. */
ad_var ad_exp(ad_tape *t, ad_var x);
/** log x (non-positive x gives −Inf/NaN, which anomaly mode reports). */
ad_var ad_log(ad_tape *t, ad_var x);
/** log(1 + x), accurate for small x. */
ad_var ad_log1p(ad_tape *t, ad_var x);
/** √x. */
ad_var ad_sqrt(ad_tape *t, ad_var x);
/** x². */
ad_var ad_square(ad_tape *t, ad_var x);
/** x^p for a constant exponent p. */
ad_var ad_pow(ad_tape *t, ad_var x, double p);
/** |x| (derivative sign(x), taken as −1 at 0). */
ad_var ad_abs(ad_tape *t, ad_var x);
/** 1 / (1 + e^−x), stable for large |x|. */
ad_var ad_sigmoid(ad_tape *t, ad_var x);
/** log(1 + e^x), stable: max(x,0) + log1p(e^−|x|). */
ad_var ad_softplus(ad_tape *t, ad_var x);
/** log σ(x) = −softplus(−x), stable. */
ad_var ad_logsigmoid(ad_tape *t, ad_var x);
/** tanh x. */
ad_var ad_tanh(ad_tape *t, ad_var x);
/** max(x, 0) (derivative 0 at 0). */
ad_var ad_relu(ad_tape *t, ad_var x);

/* ---------------------------------------------------------- reductions */

/** Σ of all elements: r×c → 1×1. */
ad_var ad_sum(ad_tape *t, ad_var x);
/** Mean of all elements: r×c → 1×1. */
ad_var ad_mean(ad_tape *t, ad_var x);
/** Sum over the row index (column sums): r×c → 1×c. */
ad_var ad_sum_rows(ad_tape *t, ad_var x);
/** Sum over the column index (row sums): r×c → r×1. */
ad_var ad_sum_cols(ad_tape *t, ad_var x);
/** Repeat x to r×c: x must be 1×1, 1×c, r×1 or r×c. */
ad_var ad_broadcast(ad_tape *t, ad_var x, int r, int c);

/* ------------------------------------------------------ linear algebra */

/** ⟨a, b⟩ over all elements: a, b r×c → 1×1 (BLAS ddot). */
ad_var ad_dot(ad_tape *t, ad_var a, ad_var b);
/** op(A)·op(B) with op = transpose when ta/tb is nonzero: op(A) m×k,
 *  op(B) k×n → m×n. Computed by ad_gemm. */
ad_var ad_matmul(ad_tape *t, ad_var a, ad_var b, int ta, int tb);
/** The dense kernel behind ad_matmul, for reference code and hand kernels
 *  that want the same products; records nothing. Row-major, packed storage:
 *  C (m×n) = beta·C + op(A)·op(B), A stored m×k (k×m when ta), B stored k×n
 *  (n×k when tb), with lda, ldb their stored column counts; beta = 0
 *  overwrites C. Vectors go to dgemv; products with 2–16 columns, at least 256
 *  rows and a long inner dimension are computed in row blocks with OpenBLAS
 *  in column-major order (1.6–2.5× faster than a row-major dgemm there);
 *  the rest to dgemm. */
void ad_gemm(int ta, int tb, int m, int n, int k, const double *A, int lda, const double *B,
             int ldb, double beta, double *C);
/** op(A)·x: A r×c, x (c×1, or r×1 with trans) → r×1 (c×1 with trans). */
ad_var ad_matvec(ad_tape *t, ad_var a, ad_var x, int trans);
/** xᵀ: r×c → c×r. */
ad_var ad_transpose(ad_tape *t, ad_var x);

/* ------------------------------------------------------ softmax family */

/** Row-wise log Σ_j e^{x_ij}, stable: r×c → r×1. */
ad_var ad_logsumexp_rows(ad_tape *t, ad_var x);
/** Per-row softmax cross-entropy with integer labels in [0, c):
 *  logits r×c, labels[r] → r×1 with loss_i = logsumexp_i − x_{i,label_i}. */
ad_var ad_softmax_xent(ad_tape *t, ad_var logits, const int *labels);

/* -------------------------------------------------------------- indexing */

/** Flat gather: y_k = x_flat[idx[k]] for k < n = r·c, shaped r×c. */
ad_var ad_gather(ad_tape *t, ad_var x, const int *idx, int r, int c);
/** Rows idx[0..n) of x: x R×c → n×c (minibatches). */
ad_var ad_gather_rows(ad_tape *t, ad_var x, const int *idx, int n);
/** Flat scatter-add into zeros: y (r×c) with y_flat[idx[k]] += x_flat[k],
 *  k < x's size (the adjoint of ad_gather). */
ad_var ad_scatter_add(ad_tape *t, ad_var x, const int *idx, int r, int c);
/** Block x[r0:r0+nr, c0:c0+nc]: r×c → nr×nc. */
ad_var ad_slice(ad_tape *t, ad_var x, int r0, int nr, int c0, int nc);
/** x placed at (r0, c0) inside zeros of r×c (the adjoint of ad_slice). */
ad_var ad_embed(ad_tape *t, ad_var x, int r, int c, int r0, int c0);
/** Concatenation: axis 0 stacks rows (ra×c, rb×c → (ra+rb)×c), axis 1
 *  joins columns (r×ca, r×cb → r×(ca+cb)). */
ad_var ad_concat(ad_tape *t, ad_var a, ad_var b, int axis);
/** Same values, shape r×c (r·c must equal x's size); no copy. */
ad_var ad_reshape(ad_tape *t, ad_var x, int r, int c);

/* ------------------------------------------------------ parameter blocks */

/** One block of a flat parameter vector: a name (for error messages; NULL
 *  allowed) and the block's shape rows×cols. */
typedef struct ad_block {
    const char *name;
    int rows, cols;
} ad_block;

/** The size p = Σ rows·cols of the n blocks in spec, in their order; −1
 *  when n ≤ 0, spec is NULL, a shape is not positive or p exceeds INT_MAX.
 *  Use it to size θ before ad_leaf(t, p, 1, ...). */
int ad_blocks_size(int n, const ad_block *spec);

/** Views a flat θ as named blocks: θ p×1 → out[k] spec[k].rows×spec[k].cols,
 *  k < n, laid out one after another in spec's order, each block row-major
 *  (block k starts at Σ_{j<k} rows_j·cols_j). Each block is an ad_slice of
 *  θ followed by an ad_reshape, so derivatives flow back into θ. Fails
 *  (AD_EINVAL: n ≤ 0, NULL spec or out; AD_ESHAPE: a non-positive shape,
 *  θ not a column, Σ rows·cols ≠ p) with a message naming "blocks", the
 *  block and the sizes; errors are sticky on the tape like any op's. On
 *  failure every out[k] is AD_NONE. Returns the tape's status. */
ad_status ad_blocks(ad_tape *t, ad_var theta, int n, const ad_block *spec, ad_var *out);

/* ---------------------------------------------------------------- sparse */

/** Constant CSR matrix, rows×cols. The arrays are the caller's: they must
 *  stay alive and unchanged while a node that uses them is on the tape.
 *  ad_spmm validates the structure (O(nnz)) on every call unless `checked`
 *  holds the token ad_csr_check gave this header: then the caller promises
 *  the arrays have not changed since, and the per-call check is skipped. */
typedef struct ad_csr {
    int rows, cols;
    const int64_t *rowptr; /**< rows+1 offsets, rowptr[0] = 0 */
    const int *colind;     /**< column of each stored entry, in [0, cols) */
    const double *val;     /**< value of each stored entry */
    uint64_t checked;      /**< 0, or ad_csr_check's token for exactly this header */
} ad_csr;

/** Validates s once (the checks ad_spmm makes: non-empty, non-NULL arrays,
 *  rowptr[0] = 0 and non-decreasing, columns in [0, cols)) and on success
 *  sets s->checked to a token of its sizes, array addresses and entry count,
 *  so that later ad_spmm calls on a copy of *s skip the O(nnz) scan. Change
 *  any array after this and the token is void: zero s->checked or call
 *  again. A token from another header (other addresses or sizes) does not
 *  match and the scan runs. On failure s->checked is 0 and msg (when not
 *  NULL and msglen > 0) names the problem as ad_spmm would; returns AD_OK
 *  or AD_EINVAL. */
ad_status ad_csr_check(ad_csr *s, char *msg, size_t msglen);

/** op(S)·B with S constant CSR: S m×k (trans: k×m read as m×k), B k×n →
 *  m×n. Differentiable in B. The ad_csr struct is copied; its arrays are not. */
ad_var ad_spmm(ad_tape *t, const ad_csr *s, ad_var b, int trans);

/* ------------------------------------------------------ gradient control */

/** Same value, no gradient flows through it (stop-gradient). */
ad_var ad_detach(ad_tape *t, ad_var x);
/** mask ? a : b elementwise (mask nonzero picks a), all r×c. NaN or Inf in
 *  the branch not taken never reaches the value or either gradient. */
ad_var ad_select(ad_tape *t, ad_var mask, ad_var a, ad_var b);

/* ----------------------------------------------------------- derivatives */

/** Flags for ad_grad(). */
enum {
    AD_CREATE_GRAPH = 1 /**< record the backward pass differentiably */
};

/** Reverse mode: grads[k] = ∂y/∂wrt[k] for a 1×1 y, each with wrt[k]'s
 *  shape (zeros when y does not depend on it). With AD_CREATE_GRAPH the
 *  backward pass is recorded as ordinary ops, so grads can be
 *  differentiated again (any order). Without it, the grads are constants
 *  and the sweep is numeric: it records no other node, and its adjoints
 *  (one array per node reached) take scratch memory that counts against
 *  max_bytes (AD_ENOMEM past it) and is released before it returns.
 *  Either way the grads live on the tape: rewind to free them. */
ad_status ad_grad(ad_tape *t, ad_var y, int n, const ad_var *wrt, ad_var *grads,
                  unsigned flags);

/** Forward mode: directional derivatives. tan_in[k] (size of in[k]) is the
 *  tangent of input in[k]; tan_out[k] (size of out[k]) receives the tangent
 *  of out[k]. Inputs not listed have zero tangent. Records nothing. */
ad_status ad_jvp(ad_tape *t, int n_in, const ad_var *in, const double *const *tan_in,
                 int n_out, const ad_var *out, double *const *tan_out);

/** How the second-order primitive is computed. */
typedef enum ad_hvp_mode {
    AD_HVP_FOR = 0, /**< forward-over-reverse: one tangent sweep over the recorded gradient */
    AD_HVP_ROR      /**< reverse-over-reverse: a second reverse sweep from ⟨∇_θG, v⟩ */
} ad_hvp_mode;

/** A prepared second-order primitive for a scalar G(θ, λ) (see ad_hvp_prepare). */
typedef struct ad_hvp_plan {
    ad_var G, theta, lambda; /**< lambda may be AD_NONE */
    ad_var g_theta, g_lambda;/**< ∇_θG and ∇_λG, recorded with AD_CREATE_GRAPH */
    ad_hvp_mode mode;
} ad_hvp_plan;

/** Records ∇_θG and ∇_λG once so that ad_hvp_apply() can be called many
 *  times at the same (θ, λ). lambda may be AD_NONE. θ and λ must be
 *  independent on the tape (e.g. two leaves): if θ was computed from λ, the
 *  cross product is the total derivative d/dλ⟨∇_θG, v⟩, not ∂/∂λ.
 *  In AD_HVP_FOR mode (outside anomaly mode) the values of the recorded
 *  gradient are deferred: elementwise ops and matmul record their nodes
 *  without computing them, and a value is computed only when something
 *  reads it (ad_value(), a later op, a reverse sweep, or a tangent kernel
 *  that needs it). H·v then skips, e.g., the Xᵀs product of a linear
 *  model's gradient, which no tangent reads. Results are the same bits. */
ad_status ad_hvp_prepare(ad_tape *t, ad_var G, ad_var theta, ad_var lambda,
                         ad_hvp_mode mode, ad_hvp_plan *plan);

/** The shared second-order primitive: hv = ∇²_θθG·v (size of θ) and
 *  cross = ∇²_λθG·v = ∂/∂λ⟨∇_θG, v⟩ (size of λ), from one sweep. Either
 *  output may be NULL; the sweep then covers only what the other needs
 *  (e.g. a cross through a regulariser alone skips the data term), with
 *  the same bits. Leaves the tape as it found it. */
ad_status ad_hvp_apply(ad_tape *t, const ad_hvp_plan *plan, const double *v,
                       double *hv, double *cross);

/** One-shot form: prepare, apply, and rewind to where the tape was. */
ad_status ad_hvp_cross(ad_tape *t, ad_var G, ad_var theta, ad_var lambda,
                       const double *v, double *hv, double *cross, ad_hvp_mode mode);

/** Convenience: values of ∂y/∂wrt[k] copied into out[k] (each of wrt[k]'s
 *  size; NULL skips one), from the numeric sweep of ad_grad without
 *  AD_CREATE_GRAPH: no node is recorded. */
ad_status ad_grad_values(ad_tape *t, ad_var y, int n, const ad_var *wrt, double *const *out);

/* ---------------------------------------------------------------- replay */

/** A scalar recording compiled for re-evaluation at new leaf values. */
typedef struct ad_replay ad_replay;

/** Compiles what the 1×1 value y depends on, as recorded, into a compact
 *  program over the n 1×1 leaves leaves[0..n−1] (distinct ad_leaf nodes),
 *  so that ad_replay_gradient() and friends re-evaluate it at new leaf
 *  values without recording again (the counterpart of ADOL-C's gradient()
 *  on an existing tape). Every value y reaches must be 1×1 (scalar code:
 *  add, sub, mul, div, greater, the unary ops, and 1×1 sum, reshape,
 *  transpose, broadcast and detach). Constants, leaves not in the list and
 *  values recorded before the first listed leaf are taken as recorded.
 *  The tape may be rewound or freed afterwards: the program is a copy.
 *  Returns NULL and records the error on the tape (naming the node and op)
 *  for a bad argument, an unsupported op or shape, or select, whose branch
 *  was chosen by values at recording time; the recording is untouched.
 *  Replay is only valid while the caller's own C code takes the same path
 *  at the new values: C branches on values are not on the tape. To check,
 *  record again now and then and call ad_replay_matches(). */
ad_replay *ad_replay_new(ad_tape *t, ad_var y, int n, const ad_var *leaves);

/** Frees a replay. ad_replay_free(NULL) is a no-op. */
void ad_replay_free(ad_replay *r);

/** Number of leaves the program takes (0 for NULL). */
int ad_replay_inputs(const ad_replay *r);

/** Number of compiled instructions (ops; leaves and constants excluded). */
size_t ad_replay_size(const ad_replay *r);

/** y at the leaf values x[0..n−1] (n = ad_replay_inputs). AD_EINVAL names
 *  a non-finite x[k]; with the tape's anomaly mode on at compile time, a
 *  non-finite value gives AD_EANOMALY naming the node and op. The message
 *  is in ad_replay_message(). */
ad_status ad_replay_forward(ad_replay *r, const double *x, double *y);

/** y (may be NULL) and g = ∇y (n values) at x: one forward and one reverse
 *  sweep over the program. The same bits as recording at x and calling
 *  ad_grad_values(). */
ad_status ad_replay_gradient(ad_replay *r, const double *x, double *y, double *g);

/** y and g (each may be NULL) and hv = ∇²y·v at x (forward-over-reverse:
 *  one tangent-carrying forward and one reverse sweep). */
ad_status ad_replay_hvp(ad_replay *r, const double *x, const double *v, double *y, double *g,
                        double *hv);

/** AD_OK when the nodes recorded on t from `from` on begin with a recording
 *  of the same structure as the compiled one (ad_tape_fingerprint over as
 *  many nodes); AD_ECHECK otherwise, with both fingerprints in the message. */
ad_status ad_replay_matches(ad_replay *r, const ad_tape *t, ad_mark from);

/** The message of the last failed replay call ("" after success). */
const char *ad_replay_message(const ad_replay *r);

/* ------------------------------------------------- checks for user code */

/** A user function: records a 1×1 value of the leaf x on tape t. */
typedef ad_var (*ad_scalar_fn)(ad_tape *t, ad_var x, void *ctx);

/** Options of the finite-difference checkers (zero = defaults). */
typedef struct ad_check_opts {
    double h;       /**< step, relative to max(1, |x|); 0 = 1e-5 */
    double tol;     /**< relative tolerance; 0 = 1e-6 */
    int ndirs;      /**< random directions checked; 0 = 8 (all coordinates too when size ≤ 64) */
    uint64_t seed;  /**< seed of the random directions */
    ad_hvp_mode mode; /**< second-order mode for ad_check_hvp */
} ad_check_opts;

/** What a checker found. */
typedef struct ad_check_report {
    double max_rel_err; /**< largest error over the checks: ‖AD − FD‖ / max(‖AD‖, ‖FD‖)
                             for whole vectors (all coordinates, H·v), and
                             |⟨∇f, d⟩ − FD| / ‖∇f‖ for a unit direction d */
    int nchecks;        /**< directional checks done */
    char message[200];  /**< on failure: which check and by how much */
} ad_check_report;

/** Compares the gradient of f at x0 (r×c) against central differences
 *  along coordinates and random directions. Returns AD_ECHECK when the
 *  error exceeds tol, or the status of a failing recording. */
ad_status ad_check_grad(ad_scalar_fn f, void *ctx, int r, int c, const double *x0,
                        const ad_check_opts *opts, ad_check_report *rep);

/** Compares H·v of f at x0 against central differences of the gradient,
 *  for random v. Same conventions as ad_check_grad(). */
ad_status ad_check_hvp(ad_scalar_fn f, void *ctx, int r, int c, const double *x0,
                       const ad_check_opts *opts, ad_check_report *rep);

#ifdef __cplusplus
}
#endif
#endif /* HYPERTAPE_AD_H */
