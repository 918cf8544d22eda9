/*
 * hypertape/models/data.h — data sets for the models: the ds_set container, readers
 * (LIBSVM/SVMlight text, dense CSV/TSV, IDX; each raw or gzip), splits,
 * standardisation and seeded synthetic generators. Prefix ds_.
 *
 * Every reader reports malformed input with BL_EFORMAT and a message that
 * names the file and the line (text) or byte offset (binary). None reads
 * past a buffer, aborts or prints. The text readers (LIBSVM, CSV) also read
 * gzip files, detected by their magic bytes; a bzip2, xz or zstd file is
 * BL_EFORMAT with a message naming the command that decompresses it.
 */
#ifndef HYPERTAPE_MODELS_DATA_H
#define HYPERTAPE_MODELS_DATA_H

#include <hypertape/ad.h>
#include <hypertape/status.h>

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** A data set of n samples × d features, dense or sparse (CSR), owned.
 *  Shape comment: X n×d; y n; cls n. */
typedef struct ds_set {
    int n, d;
    double *X;       /**< n×d dense row-major, or NULL when the set is sparse */
    int64_t *rowptr; /**< CSR (when X == NULL): n+1 offsets */
    int *colind;     /**< CSR column indices, increasing within a row */
    double *val;     /**< CSR values */
    double *y;       /**< n targets: ±1 for binary sets, class index for multiclass */
    int *cls;        /**< n class labels in [0, nclass) for multiclass sets, else NULL */
    int nclass;      /**< number of classes (2 for binary) */
    uint64_t csr_token; /**< sparse sets: ad_csr_check's token of the CSR view (the readers and
                             generators set it; 0: unchecked). Zero it after changing rowptr or
                             colind; changing val is fine (the token attests the structure). */
} ds_set;

/** Frees the arrays of s and zeroes it; ds_set_free(NULL) is a no-op. */
void ds_set_free(ds_set *s);

/** The CSR view of a sparse set, for ad_spmm (arrays stay owned by s),
 *  carrying s->csr_token as its `checked` token. */
ad_csr ds_csr(const ds_set *s);

/** Sets s->csr_token for a CSR set (ad_csr_check on its view), so that
 *  ad_spmm skips its O(nnz) structure scan; the readers and generators do
 *  this already. Call it again after changing n, d, rowptr or colind; a
 *  set that fails the check gets 0 (ad_spmm then reports the problem). A
 *  dense set or NULL is left as it is. */
void ds_seal(ds_set *s);

/** Number of stored entries (n·d when dense). */
int64_t ds_nnz(const ds_set *s);

/*
 * Conventions of every ds_ function below that returns bl_status: on
 * success msg (when not NULL and msglen > 0) is emptied; on failure it holds
 * a NUL-terminated English message (truncated to msglen) and every output
 * set is left empty (all fields zero, nothing allocated), so the caller need
 * not free it; the in-place functions (ds_densify, ds_standardize_apply)
 * leave their set unchanged instead. Output sets must not alias input sets.
 * No function keeps state between calls; all are thread-safe on distinct
 * sets. Seeded functions use splitmix64 streams, never rand(). BL_EINVAL: bad
 * argument; BL_ENOMEM: allocation failed or the size is out of range;
 * BL_EIO: the file cannot be opened or read; BL_EFORMAT: malformed file;
 * BL_ENONFINITE: NaN or Inf in a file.
 */

/* ------------------------------------------------------------ containers */

/** Converts a CSR set to dense (X n×d, CSR arrays freed) in place; a dense
 *  set is left as it is. Fails with BL_ENOMEM, leaving s unchanged, when
 *  n·d exceeds 2^31 − 1 elements or the allocation fails. */
bl_status ds_densify(ds_set *s, char *msg, size_t msglen);

/** Copies the samples idx[0..n) of s (any order, repeats allowed, each in
 *  [0, s->n)) into *out, n ≥ 1: same d, storage kind, nclass and labels. */
bl_status ds_subset(const ds_set *s, const int *idx, int n, ds_set *out, char *msg, size_t msglen);

/** The first k samples of s (1 ≤ k ≤ s->n), for fixed-size subsets. */
bl_status ds_head(const ds_set *s, int k, ds_set *out, char *msg, size_t msglen);

/* --------------------------------------------------------------- readers */

/** Default cap on one line of a LIBSVM file: 64 MiB (newline excluded).
 *  Real data sets stay far below it (news20, url, kdd2010: lines well under
 *  a few MB); it stops a file without newlines (/dev/zero, a binary file)
 *  from growing one line without limit. */
#define DS_LIBSVM_MAX_LINE_BYTES ((size_t)64 << 20)

/** Default cap on a feature index, hence on d: 2^24 = 16,777,216 (url has
 *  3.2 million features, webspam 16.6 million). A dense model holds
 *  vectors of d doubles (128 MiB each at the cap), so the cap is checked
 *  while reading, before anything of size d exists. Sparse-only users may
 *  raise it up to 2^31 − 1. */
#define DS_LIBSVM_MAX_INDEX (1 << 24)

/** Options of ds_read_libsvm_opts. */
typedef struct ds_libsvm_opts {
    int d_min;             /**< d = max(d_min, highest index), 0 ≤ d_min ≤ max_index */
    size_t max_line_bytes; /**< longest line accepted (≥ 1), newline excluded */
    int max_index;         /**< largest feature index accepted, in [1, 2^31 − 1] */
} ds_libsvm_opts;

/** The default options: d_min 0, DS_LIBSVM_MAX_LINE_BYTES,
 *  DS_LIBSVM_MAX_INDEX. */
ds_libsvm_opts ds_libsvm_defaults(void);

/** Reads a LIBSVM/SVMlight text file into a binary CSR set (X = NULL,
 *  nclass 2, cls NULL), d = max(d_min, highest index), d_min ≥ 0, with the
 *  default limits (ds_libsvm_defaults). See ds_read_libsvm_opts. */
bl_status ds_read_libsvm(const char *path, int d_min, ds_set *out, char *msg, size_t msglen);

/** Reads a LIBSVM/SVMlight text file into a binary CSR set (X = NULL,
 *  nclass 2, cls NULL), d = max(opts->d_min, highest index); opts NULL
 *  means ds_libsvm_defaults(). The file may be gzip-compressed (detected
 *  by its magic bytes 1f 8b, whatever its name; the line numbers and byte
 *  offsets of messages are then those of the decompressed text).
 *
 *  Each line is `label [qid:Q] index:value ...` with 1-based indices,
 *  strictly increasing within a line, separated by spaces or tabs. Accepted:
 *  `#` comments (whole line or trailing), blank lines, CRLF line endings,
 *  explicit zero values (stored as entries), samples without features. A
 *  `qid:Q` token (Q a non-negative integer) is accepted only right after the
 *  label and skipped. Labels must be ±1 (e.g. "+1", "-1", "1.0") or 0/1
 *  (0 → −1, 1 → +1); any other label, or a file that uses both 0 and −1, is
 *  rejected. Rejected with BL_EFORMAT: non-numeric fields, a missing colon,
 *  index 0, an index above 2^31 − 1 or above opts->max_index, indices out
 *  of order or repeated, a NUL byte (as soon as it is read; the message
 *  gives its column and byte offset), a line longer than
 *  opts->max_line_bytes, a file without samples, d = 0; with BL_ENONFINITE:
 *  NaN or Inf values (also overflowing ones such as 1e999). A read error is
 *  BL_EIO and an allocation failure BL_ENOMEM, never a shorter set. The
 *  message names the file and the line. Numbers are parsed in the "C"
 *  locale whatever the caller's locale (thread-local switch, no global
 *  change). Memory: the set plus one line buffer (≤ max_line_bytes) and a
 *  64 KiB read block; nothing of size d. */
bl_status ds_read_libsvm_opts(const char *path, const ds_libsvm_opts *opts, ds_set *out, char *msg,
                              size_t msglen);

/** Default cap on the columns of a CSV file (label included): 2^24, as
 *  DS_LIBSVM_MAX_INDEX. */
#define DS_CSV_MAX_COLS (1 << 24)

/** Largest class count of a multiclass CSV file (labels 0..65535). */
#define DS_CSV_MAX_CLASSES 65536

/** ds_csv_opts.label_col: pick the label column by name or position (see
 *  ds_read_csv). */
#define DS_CSV_LABEL_AUTO INT32_MIN

/** Options of ds_read_csv. */
typedef struct ds_csv_opts {
    int delim;             /**< ',', '\t', ';', or 0: detected from the first line */
    int header;            /**< 1: the first line is a header, 0: it is data, -1: detected */
    const char *label_name; /**< label column by header name (exact match), or NULL */
    int label_col;         /**< when label_name is NULL: 0-based column index, negative counts
                                from the end (−1 = last), or DS_CSV_LABEL_AUTO */
    int multiclass;        /**< 0: binary labels (±1 or 0/1), 1: class indices 0, 1, 2, ... */
    size_t max_line_bytes; /**< longest line accepted (≥ 1), newline excluded */
    int max_cols;          /**< most columns accepted (label included), in [2, 2^31 − 1] */
} ds_csv_opts;

/** The default options: delimiter and header detected, label column
 *  DS_CSV_LABEL_AUTO, binary labels, DS_LIBSVM_MAX_LINE_BYTES,
 *  DS_CSV_MAX_COLS. */
ds_csv_opts ds_csv_defaults(void);

/** Reads a delimited text file of numbers (CSV, TSV), raw or
 *  gzip-compressed (detected by the magic bytes 1f 8b), into a dense set:
 *  one sample per line, one column the label, the other d columns the
 *  features in file order (X n×d row-major). opts NULL means
 *  ds_csv_defaults().
 *
 *  Delimiter: opts->delim, or (0) the most frequent of comma, tab and
 *  semicolon on the first line outside quotes (ties: comma, then tab).
 *  Header: opts->header, or (−1) the first line is a header when one of
 *  its fields is not a number (so a first data row with a typo would be
 *  taken for a header: pass header = 0 or 1 to be strict). Label column:
 *  the header field equal to opts->label_name (which needs a header), else
 *  column opts->label_col (0-based, −1 the last); DS_CSV_LABEL_AUTO takes
 *  the header field named "label", "y", "target" or "class" (ignoring
 *  case; more than one is an error), else the last column. Labels: binary
 *  (multiclass = 0) as ds_read_libsvm: ±1 or 0/1 (0 → −1), not both 0 and
 *  −1; y = ±1, nclass 2, cls NULL. Multiclass: integers 0 ≤ k <
 *  DS_CSV_MAX_CLASSES (e.g. "3", "3.0"); cls = y = k, nclass = the largest
 *  label + 1 (a file labelled 1..K has an empty class 0).
 *
 *  Fields: surrounding spaces are ignored (and tabs, unless tab is the
 *  delimiter); a field may be quoted RFC 4180 style ("1.5", "a ""b""",
 *  delimiters inside quotes), but a quoted field may not span lines. Blank
 *  lines are skipped, CRLF line ends and a UTF-8 byte order mark at the
 *  start are accepted. Numbers are parsed by strtod in the "C" locale
 *  (thread-local switch). Rejected with BL_EFORMAT: a row with another
 *  number of fields than the first line, an empty field (missing values
 *  are not supported), a field that is not a number (also "NA"), a stray
 *  or unterminated quote, a label that is not binary (or, multiclass, not
 *  an integer in range), an unknown or ambiguous label name, a label index
 *  out of range, fewer than 2 or more than opts->max_cols columns, a NUL
 *  byte, a line longer than opts->max_line_bytes, a corrupt or truncated
 *  gzip stream, a file without samples; with BL_ENONFINITE: NaN or Inf
 *  values (also overflowing ones such as 1e999). BL_ENOMEM when n·d would
 *  exceed 2^31 − 1 values or an allocation fails, BL_EIO when the file
 *  cannot be read. Messages name the file, the line and the column
 *  (0-based, as label_col, with its header name when there is one).
 *  Memory: the set (grown by doubling) plus one line buffer and a 64 KiB
 *  read block. */
bl_status ds_read_csv(const char *path, const ds_csv_opts *opts, ds_set *out, char *msg,
                      size_t msglen);

/** Reads a data file by the reader its name asks for: a name ending in
 *  ".csv" or ".tsv", optionally followed by ".gz" (any case), with
 *  ds_read_csv (csv NULL: ds_csv_defaults(); for ".tsv" a delimiter left
 *  at 0 becomes tab), any other with ds_read_libsvm_opts (svm NULL: its
 *  defaults). Both readers also take gzip files whatever their name. */
bl_status ds_read_auto(const char *path, const ds_libsvm_opts *svm, const ds_csv_opts *csv,
                       ds_set *out, char *msg, size_t msglen);

/** Reads an IDX image file (magic 0x00000803: n×rows×cols unsigned bytes,
 *  big-endian header), raw or gzip-compressed (detected by the magic 1f 8b).
 *  On success *pix is a malloc'ed array of n·rows·cols bytes (sample-major,
 *  row-major) that the caller frees; on failure *pix is NULL and the sizes
 *  are 0. Rejected with BL_EFORMAT: a bad magic, a zero dimension, a cut
 *  header or data, trailing bytes, a corrupt or truncated gzip stream; the
 *  message names the file and the byte offset (of the decompressed stream
 *  for gzip files). */
bl_status ds_read_idx_images(const char *path, int *n, int *rows, int *cols, unsigned char **pix,
                             char *msg, size_t msglen);

/** Reads an IDX label file (magic 0x00000801: n unsigned bytes), raw or
 *  gzip-compressed, as ds_read_idx_images; *labels is malloc'ed (n bytes). */
bl_status ds_read_idx_labels(const char *path, int *n, unsigned char **labels, char *msg,
                             size_t msglen);

/** Number of Fashion-MNIST classes. */
#define DS_FASHION_NCLASS 10

/** Name of Fashion-MNIST class k ("T-shirt/top", "Trouser", "Pullover",
 *  "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot" for
 *  k = 0..9), or NULL when k is out of range. */
const char *ds_fashion_class_name(int k);

/** Loads Fashion-MNIST from folder dir: the training part (train != 0:
 *  train-images-idx3-ubyte / train-labels-idx1-ubyte, 60000 samples) or the
 *  test part (t10k-*, 10000 samples), each file taken with a ".gz" suffix
 *  when present, else raw. *out is dense n×784 with pixels scaled to [0, 1]
 *  (byte/255), cls in 0..9, nclass 10, y = class index as a double.
 *  BL_EFORMAT when the label count differs from the image count or a label
 *  is above 9 (the message names both files, or the label's byte offset). */
bl_status ds_fashion_mnist(const char *dir, int train, ds_set *out, char *msg, size_t msglen);

/** The binary pair of classes class_a (y = +1) and class_b (y = −1) of a
 *  multiclass set (cls != NULL), e.g. "T-shirt/top" (0) vs "Shirt" (6), in
 *  the original order: same d and storage kind, nclass 2, cls NULL. */
bl_status ds_fashion_pair(const ds_set *full, int class_a, int class_b, ds_set *out, char *msg,
                          size_t msglen);

/* ------------------------------------------------- splits, standardisation */

/** Splits s by a permutation drawn from seed into a (round(frac_a·n)
 *  samples), b (round(frac_b·n), capped at what is left) and c (the rest),
 *  each in permutation order; frac_a, frac_b ≥ 0, frac_a + frac_b ≤ 1. c may
 *  be NULL to drop the rest. Every part returned must be non-empty
 *  (BL_EINVAL otherwise). The same (s, fractions, seed) give the same parts. */
bl_status ds_split(const ds_set *s, double frac_a, double frac_b, uint64_t seed, ds_set *a,
                   ds_set *b, ds_set *c, char *msg, size_t msglen);

/** Fits standardisation on train (dense or sparse; implicit zeros count):
 *  mean[j] and the population standard deviation sd[j] (divide by n) of
 *  feature j, arrays of train->d. A constant feature (all values equal) gets
 *  mean = that value exactly and sd 1, so applying it maps the feature to
 *  exact zeros. BL_ENONFINITE when a feature holds NaN or Inf. */
bl_status ds_standardize_fit(const ds_set *train, double *mean, double *sd, char *msg,
                             size_t msglen);

/** x[i][j] ← (x[i][j] − mean[j]) / sd[j] in place on a dense set of the
 *  fitted d (BL_EINVAL for a sparse set: centring would fill it; densify
 *  it first). sd[j] must be finite and > 0, mean[j] finite. */
bl_status ds_standardize_apply(ds_set *s, const double *mean, const double *sd, char *msg,
                               size_t msglen);

/* ---------------------------------------------------- synthetic generators */

/** Sizes of the real IJCNN1 training and validation parts, and its width. */
#define DS_IJCNN1_NTRAIN 49990
#define DS_IJCNN1_NVAL 91701
#define DS_IJCNN1_D 22

/** IJCNN1-shaped synthetic binary data: train n_train × 22 and val n_val ×
 *  22, dense, features in (−1, 1) (correlated, of unequal scales, 6 of 22
 *  irrelevant), labels ±1 drawn from a logistic model P(y = +1 | x) =
 *  σ(w*·x) with one hidden w* shared by both parts, so that logistic
 *  regression is well specified. Deterministic in seed; sample i of each
 *  part does not depend on the part sizes (a smaller call gives a prefix).
 *  Use DS_IJCNN1_NTRAIN / DS_IJCNN1_NVAL for the real sizes. */
bl_status ds_synth_ijcnn1(uint64_t seed, int n_train, int n_val, ds_set *train, ds_set *val,
                          char *msg, size_t msglen);

/** Sizes of the default large sparse set: 100,000 × 50,000 at 0.1%. */
#define DS_SPARSE_N 100000
#define DS_SPARSE_D 50000
#define DS_SPARSE_DENSITY 0.001

/** Sparse synthetic binary data: n × d CSR, each row with round-to-random
 *  density·d distinct columns (expected density exactly `density`, in
 *  (0, 1]), values N(0, 1), labels ±1 from a logistic model on a hidden
 *  dense w*. Deterministic in seed; row i does not depend on n. */
bl_status ds_synth_sparse(uint64_t seed, int n, int d, double density, ds_set *out, char *msg,
                          size_t msglen);

#ifdef __cplusplus
}
#endif
#endif
