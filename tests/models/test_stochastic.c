/*
 * tests/models/test_stochastic.c — the stochastic side of the oracles
 * (bilevel.h: batches, counts.samples, bl_oracle_persample) on the standard
 * models, against their hand-written references (the xx_reference of each model header):
 *   1. bl_oracle_G/F, and bl_oracle_point + bl_oracle_hvp on a batch equal
 *      the reference on that batch (value, ∇_θ, ∇_λ, H·v, cross);
 *   2. the union of disjoint batches weighted by their sizes equals the
 *      full objective: Σ_k (b_k/n) Q(B_k) = Q(all) for every quantity Q.
 *      This holds because every model normalises a batch by its size (the
 *      data term is the batch mean and the regulariser is whole, so its
 *      weights b_k/n sum to 1; lstsq scales its sum by n/b, the same thing);
 *   3. a batch index out of range is BL_EINVAL naming the index and its
 *      position, a batch with n <= 0 and idx set is BL_EINVAL;
 *   4. counts.samples: b per product on a batch of b, n_inner / n_outer
 *      for full calls, nothing for values;
 *   5. per-sample rows (the logreg hook, and the batch-of-one fallback on
 *      logreg with the hook removed and on ridge and cleaning, which have
 *      none): the mean of the rows over a batch equals the batch oracle to
 *      1e-12 relative, and hook rows equal fallback rows; counts and errors;
 *   6. fused calls (bl_oracle_persample_all, several kinds at once, hook
 *      and fallback) equal the per-kind rows to 1e-15 and leave the kinds
 *      not asked for alone; with NULL batches the means are the full
 *      gradients; a non-finite entry anywhere in a hook's output is
 *      BL_ENONFINITE naming kind, row, sample and entry, while huge finite
 *      entries pass.
 * The batches are drawn with bl_sampler (hypertape/sampler.h).
 * Usage: test_models_stochastic [DATA_DIR] (unused)
 */
#include "mcheck.h"

#include <hypertape/sampler.h>
#include <hypertape/models/cleaning.h>
#include <hypertape/models/logreg.h>
#include <hypertape/models/ridge.h>

#define TOL 1e-10

typedef struct tcase {
    bl_problem pb;
    md_reference ref;
    const char *label;
} tcase;

static double relv(double a, double b) { return fabs(a - b) / fmax(fabs(b), 1e-14); }

static void axpy(int n, double a, const double *x, double *y)
{
    for (int k = 0; k < n; k++)
        y[k] += a * x[k];
}

/* Oracle on a batch vs the reference on that batch. */
static void check_batch_vs_ref(const tcase *c, const double *th, const double *la, const int *bi,
                               int nbi, const int *bo, int nbo, t_rng *r)
{
    const bl_problem *pb = &c->pb;
    int p = pb->p, m = pb->m;
    bl_oracle *o = bl_oracle_new(pb, 0);
    double *g = mc_vec((size_t)p), *gr = mc_vec((size_t)p), *l = mc_vec((size_t)m),
           *lr = mc_vec((size_t)m), *v = mc_vec((size_t)p);
    char msg[256];
    for (int outer = 0; outer < 2; outer++) {
        bl_batch b = {outer ? bo : bi, outer ? nbo : nbi};
        double f, fr;
        bl_status st = (outer ? bl_oracle_F : bl_oracle_G)(o, &b, th, la, &f, g, l);
        bl_status sr = (outer ? c->ref.F : c->ref.G)(c->ref.model, th, la, b.idx, b.n, &fr, gr, lr, msg,
                                                     sizeof msg);
        const char *w = outer ? "F" : "G";
        EXPECT(st == BL_OK && sr == BL_OK, "%s %s batch: %s / %s", c->label, w, bl_oracle_message(o), msg);
        EXPECT(relv(f, fr) <= TOL, "%s %s batch value %.17g vs reference %.17g", c->label, w, f, fr);
        EXPECT(mc_rel(g, gr, p) <= TOL, "%s %s batch grad_theta: rel %.3g", c->label, w, mc_rel(g, gr, p));
        EXPECT(mc_rel(l, lr, m) <= TOL, "%s %s batch grad_lambda: rel %.3g", c->label, w, mc_rel(l, lr, m));
    }
    bl_batch b = {bi, nbi};
    mc_fill_normal(r, v, p, 1.0);
    bl_status st = bl_oracle_point(o, &b, th, la);
    st = st ? st : bl_oracle_hvp(o, v, g, l);
    bl_status sr = c->ref.hvp(c->ref.model, th, la, bi, nbi, v, gr, lr, msg, sizeof msg);
    EXPECT(st == BL_OK && sr == BL_OK, "%s batch hvp: %s / %s", c->label, bl_oracle_message(o), msg);
    EXPECT(mc_rel(g, gr, p) <= TOL, "%s batch Hv: rel %.3g", c->label, mc_rel(g, gr, p));
    EXPECT(mc_rel(l, lr, m) <= TOL, "%s batch cross: rel %.3g", c->label, mc_rel(l, lr, m));
    bl_oracle_free(o);
    free(g), free(gr), free(l), free(lr), free(v);
}

/* All five quantities of one side at (θ, λ, v) on batch b: value, ∇_θ (p),
 * ∇_λ (m), and for G also H·v (p) and cross (m), into out (2 + 2p + 2m). */
static bl_status quantities(bl_oracle *o, int outer, const bl_batch *b, const double *th,
                            const double *la, const double *v, double *out)
{
    const bl_problem *pb = bl_oracle_problem(o);
    int p = pb->p, m = pb->m;
    double *gt = out + 1, *gl = gt + p, *hv = gl + m, *cr = hv + p;
    bl_status st = (outer ? bl_oracle_F : bl_oracle_G)(o, b, th, la, out, gt, gl);
    memset(hv, 0, (size_t)(p + m) * sizeof *hv);
    if (st == BL_OK && !outer)
        st = bl_oracle_point(o, b, th, la);
    if (st == BL_OK && !outer)
        st = bl_oracle_hvp(o, v, hv, cr);
    return st;
}

/* Disjoint batches of uneven sizes covering [0, n), weighted by b_k/n. */
static void check_union(const tcase *c, const double *th, const double *la, t_rng *r, uint64_t seed)
{
    const bl_problem *pb = &c->pb;
    int p = pb->p, m = pb->m, w = 1 + 2 * p + 2 * m;
    bl_oracle *o = bl_oracle_new(pb, 0);
    double *full = mc_vec((size_t)w), *sum = mc_vec((size_t)w), *part = mc_vec((size_t)w),
           *v = mc_vec((size_t)p);
    mc_fill_normal(r, v, p, 1.0);
    for (int outer = 0; outer < 2; outer++) {
        int n = outer ? pb->n_outer : pb->n_inner;
        bl_status st;
        bl_sampler *s = bl_sampler_new(n, seed + (uint64_t)outer, BL_SAMPLE_EPOCHS, &st);
        int *perm = calloc((size_t)n, sizeof *perm);
        EXPECT(s && perm && bl_sampler_draw(s, n, perm) == BL_OK, "%s: sampler", c->label);
        bl_sampler_free(s);
        EXPECT(quantities(o, outer, NULL, th, la, v, full) == BL_OK, "%s full: %s", c->label,
               bl_oracle_message(o));
        memset(sum, 0, (size_t)w * sizeof *sum);
        int parts = 0;
        for (int start = 0, b = 1; start < n; start += b, b = b * 2 + 1) {
            bl_batch bb = {perm + start, start + b > n ? n - start : b};
            EXPECT(quantities(o, outer, &bb, th, la, v, part) == BL_OK, "%s part: %s", c->label,
                   bl_oracle_message(o));
            axpy(w, (double)bb.n / n, part, sum);
            parts++;
        }
        EXPECT(parts >= 3, "%s: only %d parts", c->label, parts);
        const char *side = outer ? "F" : "G";
        EXPECT(relv(sum[0], full[0]) <= 1e-12, "%s %s: weighted union value %.17g vs full %.17g",
               c->label, side, sum[0], full[0]);
        EXPECT(t_relerr(sum + 1, full + 1, (size_t)(w - 1), 1e-14) <= 1e-12,
               "%s %s: weighted union of gradients/Hv/cross vs full: rel %.3g", c->label, side,
               t_relerr(sum + 1, full + 1, (size_t)(w - 1), 1e-14));
        free(perm);
    }
    bl_oracle_free(o);
    free(full), free(sum), free(part), free(v);
}

/* Bad batches: the index and its position are named; n <= 0 with idx set. */
static void check_bad_batches(const tcase *c, const double *th, const double *la)
{
    const bl_problem *pb = &c->pb;
    bl_oracle *o = bl_oracle_new(pb, 0);
    double f;
    int bad_in[3] = {0, 1, pb->n_inner}, bad_out[4] = {0, 2, 1, -1}, good[2] = {0, 1};
    bl_batch bi = {bad_in, 3}, bo = {bad_out, 4}, empty = {good, 0}, neg = {good, -2};
    char want[64];
    bl_status st = bl_oracle_G(o, &bi, th, la, &f, NULL, NULL);
    snprintf(want, sizeof want, "index %d at position 2", pb->n_inner);
    EXPECT(st == BL_EINVAL && strstr(bl_oracle_message(o), want), "%s G: %s '%s'", c->label,
           bl_strerror(st), bl_oracle_message(o));
    bl_oracle_clear_error(o); /* the oracle keeps the first failure */
    st = bl_oracle_F(o, &bo, th, la, &f, NULL, NULL);
    EXPECT(st == BL_EINVAL && strstr(bl_oracle_message(o), "index -1 at position 3") &&
               strstr(bl_oracle_message(o), "outer"),
           "%s F: %s '%s'", c->label, bl_strerror(st), bl_oracle_message(o));
    bl_oracle_clear_error(o);
    st = bl_oracle_point(o, &bi, th, la);
    EXPECT(st == BL_EINVAL && strstr(bl_oracle_message(o), want), "%s point: %s '%s'", c->label,
           bl_strerror(st), bl_oracle_message(o));
    bl_oracle_clear_error(o);
    st = bl_oracle_persample(o, BL_PS_GRAD_F_THETA, &bo, th, la, NULL, &f);
    EXPECT(st == BL_EINVAL && strstr(bl_oracle_message(o), "index -1 at position 3"), "%s persample: %s '%s'",
           c->label, bl_strerror(st), bl_oracle_message(o));
    for (int k = 0; k < 2; k++) {
        const bl_batch *b = k ? &neg : &empty;
        bl_oracle_clear_error(o);
        st = bl_oracle_G(o, b, th, la, &f, NULL, NULL);
        EXPECT(st == BL_EINVAL && strstr(bl_oracle_message(o), k ? "-2" : "0 samples"), "%s G n = %d: %s '%s'",
               c->label, b->n, bl_strerror(st), bl_oracle_message(o));
        st = bl_oracle_F(o, b, th, la, &f, NULL, NULL);
        EXPECT(st == BL_EINVAL, "%s F n = %d: %s", c->label, b->n, bl_strerror(st));
        st = bl_oracle_point(o, b, th, la);
        EXPECT(st == BL_EINVAL, "%s point n = %d: %s", c->label, b->n, bl_strerror(st));
    }
    bl_counts k = bl_oracle_counts(o);
    EXPECT(k.grad == 0 && k.fval == 0 && k.samples == 0, "%s: bad batches were counted", c->label);
    bl_oracle_free(o);
}

/* counts.samples against the rule of bilevel.h. */
static void check_sample_counts(const tcase *c, const double *th, const double *la, const int *bi,
                                int nbi, const int *bo, int nbo)
{
    const bl_problem *pb = &c->pb;
    int p = pb->p, m = pb->m;
    bl_oracle *o = bl_oracle_new(pb, 0);
    double f, *g = mc_vec((size_t)p), *l = mc_vec((size_t)m), *v = mc_vec((size_t)p);
    v[0] = 1.0;
    bl_batch b_in = {bi, nbi}, b_out = {bo, nbo};
    long want = 0;
    int ok = bl_oracle_G(o, NULL, th, la, &f, g, NULL) == BL_OK;
    want += pb->n_inner;
    ok &= bl_oracle_F(o, NULL, th, la, &f, g, l) == BL_OK;
    want += pb->n_outer;
    ok &= bl_oracle_G(o, &b_in, th, la, &f, NULL, l) == BL_OK;
    want += nbi;
    ok &= bl_oracle_F(o, &b_out, th, la, &f, NULL, NULL) == BL_OK; /* value only: 0 */
    ok &= bl_oracle_point(o, &b_in, th, la) == BL_OK;               /* recording: 0 */
    ok &= bl_oracle_hvp(o, v, g, l) == BL_OK;
    want += 2L * nbi;
    ok &= bl_oracle_hvp(o, v, NULL, l) == BL_OK;
    want += nbi;
    ok &= bl_oracle_grad_jvp(o, v, NULL, g) == BL_OK;
    want += nbi;
    ok &= bl_oracle_point(o, NULL, th, la) == BL_OK && bl_oracle_hvp(o, v, g, NULL) == BL_OK;
    want += pb->n_inner;
    ok &= bl_oracle_grad_jvp(o, v, l, g) == BL_OK;
    want += 2L * pb->n_inner;
    EXPECT(ok, "%s counts: %s", c->label, bl_oracle_message(o));
    bl_counts k = bl_oracle_counts(o);
    EXPECT(k.samples == want, "%s: samples %ld, want %ld", c->label, k.samples, want);
    EXPECT(k.grad == 3 && k.fval == 1 && k.hvp == 4 && k.cross == 3, "%s: counts %ld %ld %ld %ld",
           c->label, k.fval, k.grad, k.hvp, k.cross);
    bl_oracle_reset(o);
    EXPECT(bl_oracle_counts(o).samples == 0, "%s: reset keeps samples", c->label);
    bl_oracle_free(o);
    free(g), free(l), free(v);
}

static const bl_persample_kind kinds[BL_PS_COUNT] = {BL_PS_GRAD_G_THETA, BL_PS_GRAD_F_THETA,
                                                     BL_PS_GRAD_F_LAMBDA, BL_PS_HVP, BL_PS_CROSS};
static const char *const kind_label[BL_PS_COUNT] = {"dG/dtheta", "dF/dtheta", "dF/dlambda", "Hv", "cross"};

/* The batch oracle's quantity of kind (width p or m) into out. */
static bl_status batch_quantity(bl_oracle *o, bl_persample_kind kind, const bl_batch *b,
                                const double *th, const double *la, const double *v, double *out)
{
    switch (kind) {
    case BL_PS_GRAD_G_THETA: return bl_oracle_G(o, b, th, la, NULL, out, NULL);
    case BL_PS_GRAD_F_THETA: return bl_oracle_F(o, b, th, la, NULL, out, NULL);
    case BL_PS_GRAD_F_LAMBDA: return bl_oracle_F(o, b, th, la, NULL, NULL, out);
    default: {
        bl_status st = bl_oracle_point(o, b, th, la);
        return st ? st : bl_oracle_hvp(o, v, kind == BL_PS_HVP ? out : NULL, kind == BL_PS_CROSS ? out : NULL);
    }
    }
}

/* Mean of the per-sample rows = the batch oracle, for every kind; returns
 * the rows of each kind concatenated in *rows_out (caller frees) so hook
 * and fallback can be compared row by row. */
static double *check_persample(const tcase *c, const char *path, const double *th, const double *la,
                               const double *v, const int *bi, int nbi, const int *bo, int nbo)
{
    const bl_problem *pb = &c->pb;
    int p = pb->p, m = pb->m, nmax = nbi > nbo ? nbi : nbo;
    bl_oracle *o = bl_oracle_new(pb, 0);
    double *all = mc_vec((size_t)BL_PS_COUNT * nmax * (p > m ? p : m));
    double *want = mc_vec((size_t)(p > m ? p : m)), *mean = mc_vec((size_t)(p > m ? p : m));
    size_t off = 0;
    for (int q = 0; q < BL_PS_COUNT; q++) {
        bl_persample_kind kind = kinds[q];
        int outer = kind == BL_PS_GRAD_F_THETA || kind == BL_PS_GRAD_F_LAMBDA;
        int w = kind == BL_PS_GRAD_F_LAMBDA || kind == BL_PS_CROSS ? m : p;
        bl_batch b = {outer ? bo : bi, outer ? nbo : nbi};
        double *rows = all + off;
        EXPECT(bl_oracle_point(o, NULL, th, la) == BL_OK, "%s: point", c->label);
        bl_counts before = bl_oracle_counts(o);
        bl_status st = bl_oracle_persample(o, kind, &b, th, la, v, rows);
        bl_counts after = bl_oracle_counts(o);
        EXPECT(st == BL_OK, "%s %s persample %s: %s", c->label, path, kind_label[q], bl_oracle_message(o));
        EXPECT(after.samples - before.samples == b.n && after.fval == before.fval &&
                   after.grad - before.grad == (kind != BL_PS_HVP && kind != BL_PS_CROSS) &&
                   after.hvp - before.hvp == (kind == BL_PS_HVP) &&
                   after.cross - before.cross == (kind == BL_PS_CROSS),
               "%s %s persample %s counts: samples +%ld grad +%ld hvp +%ld cross +%ld", c->label, path,
               kind_label[q], after.samples - before.samples, after.grad - before.grad,
               after.hvp - before.hvp, after.cross - before.cross);
        double dummy[1];
        EXPECT(bl_oracle_hvp(o, v, dummy, NULL) == BL_EINVAL, "%s %s: the point survived persample", c->label,
               path);
        memset(mean, 0, (size_t)w * sizeof *mean);
        for (int k = 0; k < b.n; k++)
            axpy(w, 1.0 / b.n, rows + (size_t)k * w, mean);
        EXPECT(batch_quantity(o, kind, &b, th, la, v, want) == BL_OK, "%s: batch %s", c->label, kind_label[q]);
        EXPECT(t_relerr(mean, want, (size_t)w, 1e-14) <= 1e-12,
               "%s %s persample %s: mean of %d rows vs batch oracle: rel %.3g", c->label, path, kind_label[q],
               b.n, t_relerr(mean, want, (size_t)w, 1e-14));
        off += (size_t)b.n * w;
    }
    bl_oracle_free(o);
    free(want), free(mean);
    return all;
}

/* The kinds of mask (bit q: kinds[q]) in one bl_oracle_persample_all
 * call equal the per-kind rows want (laid out as check_persample returns
 * them) to 1e-15 relative, with the counts of one call per kind. */
static void check_fused_mask(bl_oracle *o, const tcase *c, const char *path, unsigned mask, const double *th,
                             const double *la, const double *v, const bl_batch *in, const bl_batch *out,
                             const double *want)
{
    const bl_problem *pb = &c->pb;
    size_t off[BL_PS_COUNT], len[BL_PS_COUNT], total = 0;
    for (int q = 0; q < BL_PS_COUNT; q++) {
        int outer = kinds[q] == BL_PS_GRAD_F_THETA || kinds[q] == BL_PS_GRAD_F_LAMBDA;
        int w = kinds[q] == BL_PS_GRAD_F_LAMBDA || kinds[q] == BL_PS_CROSS ? pb->m : pb->p;
        off[q] = total;
        len[q] = (size_t)(outer ? out->n : in->n) * w;
        total += len[q];
    }
    double *got = mc_vec(total);
    for (size_t k = 0; k < total; k++)
        got[k] = -12345.0; /* kinds not asked for must stay untouched */
    bl_persample_req rq = {in, out, v, {0}};
    long grad = 0, hvp = 0, cross = 0, samples = 0;
    for (int q = 0; q < BL_PS_COUNT; q++)
        if (mask >> q & 1) {
            rq.rows[kinds[q]] = got + off[q];
            grad += kinds[q] != BL_PS_HVP && kinds[q] != BL_PS_CROSS;
            hvp += kinds[q] == BL_PS_HVP;
            cross += kinds[q] == BL_PS_CROSS;
            samples += kinds[q] == BL_PS_GRAD_F_THETA || kinds[q] == BL_PS_GRAD_F_LAMBDA ? out->n : in->n;
        }
    EXPECT(bl_oracle_point(o, NULL, th, la) == BL_OK, "%s: point", c->label);
    bl_counts before = bl_oracle_counts(o);
    bl_status st = bl_oracle_persample_all(o, &rq, th, la);
    bl_counts after = bl_oracle_counts(o);
    EXPECT(st == BL_OK, "%s %s fused mask %#x: %s", c->label, path, mask, bl_oracle_message(o));
    EXPECT(after.grad - before.grad == grad && after.hvp - before.hvp == hvp &&
               after.cross - before.cross == cross && after.samples - before.samples == samples &&
               after.fval == before.fval,
           "%s %s fused mask %#x counts: grad +%ld hvp +%ld cross +%ld samples +%ld", c->label, path, mask,
           after.grad - before.grad, after.hvp - before.hvp, after.cross - before.cross,
           after.samples - before.samples);
    double dummy[1];
    EXPECT(bl_oracle_hvp(o, v, dummy, NULL) == BL_EINVAL, "%s %s: the point survived persample_all", c->label,
           path);
    for (int q = 0; q < BL_PS_COUNT; q++) {
        if (mask >> q & 1) {
            EXPECT(t_relerr(got + off[q], want + off[q], len[q], 1e-14) <= 1e-15,
                   "%s %s fused mask %#x %s vs per-kind rows: rel %.3g", c->label, path, mask, kind_label[q],
                   t_relerr(got + off[q], want + off[q], len[q], 1e-14));
            continue;
        }
        size_t bad = 0;
        for (size_t k = 0; k < len[q]; k++)
            bad += got[off[q] + k] != -12345.0;
        EXPECT(bad == 0, "%s %s fused mask %#x wrote %zu entries of %s, not asked for", c->label, path, mask,
               bad, kind_label[q]);
    }
    free(got);
}

/* Fused calls (all five kinds, G's three, F's two, H·v and cross, one
 * kind) equal the per-kind rows. */
static void check_fused(const tcase *c, const char *path, const double *th, const double *la, const double *v,
                        const int *bi, int nbi, const int *bo, int nbo, const double *want)
{
    static const unsigned masks[] = {0x1f, 0x19, 0x06, 0x18, 0x01, 0x04, 0x10};
    bl_oracle *o = bl_oracle_new(&c->pb, 0);
    bl_batch in = {bi, nbi}, out = {bo, nbo};
    for (size_t k = 0; k < sizeof masks / sizeof *masks; k++)
        check_fused_mask(o, c, path, masks[k], th, la, v, &in, &out, want);
    bl_oracle_free(o);
}

static void check_persample_paths(const tcase *c, const double *th, const double *la, const int *bi,
                                  int nbi, const int *bo, int nbo, t_rng *r)
{
    const bl_problem *pb = &c->pb;
    double *v = mc_vec((size_t)pb->p);
    mc_fill_normal(r, v, pb->p, 1.0);
    tcase fb = *c;
    fb.pb.persample = NULL;
    double *rh = pb->persample ? check_persample(c, "hook", th, la, v, bi, nbi, bo, nbo) : NULL;
    double *rf = check_persample(&fb, "fallback", th, la, v, bi, nbi, bo, nbo);
    if (rh)
        check_fused(c, "hook", th, la, v, bi, nbi, bo, nbo, rh);
    check_fused(&fb, "fallback", th, la, v, bi, nbi, bo, nbo, rf);
    if (rh) {
        size_t len = (size_t)(nbi * (2 * pb->p + pb->m) + nbo * (pb->p + pb->m));
        EXPECT(t_relerr(rh, rf, len, 1e-14) <= 1e-12, "%s: hook rows vs fallback rows: rel %.3g", c->label,
               t_relerr(rh, rf, len, 1e-14));
    }
    free(rh), free(rf), free(v);
}

/* Per-sample errors: bad kind, NULL v, no samples declared, non-finite v. */
static void check_persample_errors(const tcase *c, const double *th, const double *la)
{
    bl_oracle *o = bl_oracle_new(&c->pb, 0);
    double *rows = mc_vec((size_t)c->pb.p * 4), *v = mc_vec((size_t)c->pb.p);
    int idx[2] = {0, 1};
    bl_batch b = {idx, 2};
    bl_status st = bl_oracle_persample(o, BL_PS_COUNT, &b, th, la, v, rows);
    EXPECT(st == BL_EINVAL && strstr(bl_oracle_message(o), "kind"), "%s bad kind: %s", c->label,
           bl_oracle_message(o));
    bl_oracle_clear_error(o);
    st = bl_oracle_persample(o, BL_PS_HVP, &b, th, la, NULL, rows);
    EXPECT(st == BL_EINVAL && strstr(bl_oracle_message(o), "v is NULL"), "%s NULL v: %s", c->label,
           bl_oracle_message(o));
    v[0] = NAN;
    bl_oracle_clear_error(o);
    st = bl_oracle_persample(o, BL_PS_CROSS, &b, th, la, v, rows);
    EXPECT(st == BL_ENONFINITE && strstr(bl_oracle_message(o), "v[0]"), "%s NaN v: %s", c->label,
           bl_oracle_message(o));
    bl_persample_req rq = {&b, &b, v, {0}};
    v[0] = 0.5;
    bl_oracle_clear_error(o); /* the oracle keeps the first failure: one case at a time */
    st = bl_oracle_persample_all(o, NULL, th, la);
    EXPECT(st == BL_EINVAL && strstr(bl_oracle_message(o), "req is NULL"), "%s NULL req: %s", c->label,
           bl_oracle_message(o));
    bl_oracle_clear_error(o);
    st = bl_oracle_persample_all(o, &rq, th, la);
    EXPECT(st == BL_EINVAL && strstr(bl_oracle_message(o), "no kind"), "%s no kind: %s", c->label,
           bl_oracle_message(o));
    rq.rows[BL_PS_CROSS] = rows;
    rq.v = NULL;
    bl_oracle_clear_error(o);
    st = bl_oracle_persample_all(o, &rq, th, la);
    EXPECT(st == BL_EINVAL && strstr(bl_oracle_message(o), "v is NULL"), "%s fused NULL v: %s", c->label,
           bl_oracle_message(o));
    bl_oracle_free(o);
    bl_problem none = c->pb;
    none.n_inner = 0;
    o = bl_oracle_new(&none, 0);
    st = bl_oracle_persample(o, BL_PS_GRAD_G_THETA, NULL, th, la, NULL, rows);
    EXPECT(st == BL_EINVAL && strstr(bl_oracle_message(o), "n_inner = 0"), "%s no samples: %s", c->label,
           bl_oracle_message(o));
    bl_oracle_free(o);
    free(rows), free(v);
}

/* A hook around a model's that then spoils one entry of one kind: the
 * entry (row, col) of kind gets value. */
typedef struct spoil {
    bl_problem pb;
    bl_persample_kind kind;
    int row, col;
    double value;
    int all; /* 1: every entry of kind gets value */
} spoil;

static bl_status spoiled_hook(const bl_persample_req *r, const double *th, const double *la, void *ctx)
{
    const spoil *sp = ctx;
    bl_status st = sp->pb.persample(r, th, la, sp->pb.ctx);
    int outer = sp->kind == BL_PS_GRAD_F_THETA || sp->kind == BL_PS_GRAD_F_LAMBDA;
    int w = sp->kind == BL_PS_GRAD_F_LAMBDA || sp->kind == BL_PS_CROSS ? sp->pb.m : sp->pb.p;
    double *rows = r->rows[sp->kind];
    int n = (outer ? r->outer : r->inner)->n;
    for (int k = 0; rows && k < n * w; k++)
        if (sp->all || k == sp->row * w + sp->col)
            rows[k] = sp->value;
    return st;
}

/* A non-finite output entry is BL_ENONFINITE naming the kind, the row, its
 * sample and the entry, wherever it is; huge finite entries (whose sums
 * overflow) are not an error. */
static void check_nonfinite_rows(const tcase *c, const double *th, const double *la, const int *bi,
                                 const int *bo, t_rng *r)
{
    const bl_problem *pb = &c->pb;
    int p = pb->p, m = pb->m, nb = 6;
    double *v = mc_vec((size_t)p), *buf = mc_vec((size_t)BL_PS_COUNT * nb * (p > m ? p : m));
    mc_fill_normal(r, v, p, 1.0);
    bl_batch in = {bi, nb}, out = {bo, nb};
    for (int q = 0; q < BL_PS_COUNT; q++) {
        int outer = kinds[q] == BL_PS_GRAD_F_THETA || kinds[q] == BL_PS_GRAD_F_LAMBDA;
        int w = kinds[q] == BL_PS_GRAD_F_LAMBDA || kinds[q] == BL_PS_CROSS ? m : p;
        spoil sp = {*pb, kinds[q], q % nb, (3 * q + 1) % w, q % 2 ? INFINITY : NAN, 0};
        bl_problem bad = *pb;
        bad.persample = spoiled_hook;
        bad.ctx = &sp;
        bl_oracle *o = bl_oracle_new(&bad, 0);
        bl_persample_req rq = {&in, &out, v, {0}};
        for (int k = 0; k < BL_PS_COUNT; k++)
            rq.rows[kinds[k]] = buf + (size_t)k * nb * (p > m ? p : m);
        char want[96];
        snprintf(want, sizeof want, "%s: row %d (sample %d) entry %d is", q == 0 ? "grad-G-theta"
                 : q == 1 ? "grad-F-theta" : q == 2 ? "grad-F-lambda" : q == 3 ? "hvp" : "cross",
                 sp.row, (outer ? bo : bi)[sp.row], sp.col);
        bl_status st = bl_oracle_persample_all(o, &rq, th, la);
        EXPECT(st == BL_ENONFINITE && strstr(bl_oracle_message(o), want), "%s spoiled %s: %s (want '%s')",
               c->label, kind_label[q], bl_oracle_message(o), want);
        st = bl_oracle_persample(o, kinds[q], outer ? &out : &in, th, la, v, rq.rows[kinds[q]]);
        EXPECT(st == BL_ENONFINITE && strstr(bl_oracle_message(o), want), "%s spoiled %s, one kind: %s",
               c->label, kind_label[q], bl_oracle_message(o));
        sp.all = 1, sp.value = 1e308;
        st = bl_oracle_persample_all(o, &rq, th, la);
        int kept = 1;
        for (int k = 0; k < nb * w; k++)
            kept &= rq.rows[kinds[q]][k] == 1e308;
        EXPECT(st == BL_OK && kept, "%s huge finite %s: %s (kept %d)", c->label, kind_label[q],
               bl_oracle_message(o), kept);
        bl_oracle_free(o);
    }
    free(v), free(buf);
}

/* Everything above on one problem at a random point. */
static void run_case(const tcase *c, t_rng *r, uint64_t seed)
{
    const bl_problem *pb = &c->pb;
    double *th = mc_vec((size_t)pb->p), *la = mc_vec((size_t)pb->m);
    mc_fill_normal(r, th, pb->p, 0.7);
    for (int k = 0; k < pb->m; k++)
        la[k] = t_uniform(r, -3, 0);
    int bi[9], bo[6];
    bl_status st;
    bl_sampler *si = bl_sampler_new(pb->n_inner, seed, BL_SAMPLE_REPLACE, &st);
    bl_sampler *so = bl_sampler_new(pb->n_outer, seed + 1, BL_SAMPLE_REPLACE, &st);
    EXPECT(si && so && bl_sampler_draw(si, 9, bi) == BL_OK && bl_sampler_draw(so, 6, bo) == BL_OK,
           "%s: samplers", c->label);
    bi[8] = bi[0]; /* a repeated index */
    check_batch_vs_ref(c, th, la, bi, 9, bo, 6, r);
    check_union(c, th, la, r, seed);
    check_bad_batches(c, th, la);
    check_sample_counts(c, th, la, bi, 9, bo, 6);
    check_persample_paths(c, th, la, bi, 9, bo, 6, r);
    check_persample_errors(c, th, la);
    if (pb->persample)
        check_nonfinite_rows(c, th, la, bi, bo, r);
    /* a full-data per-sample table: every training sample */
    double *rows = mc_vec((size_t)pb->n_inner * pb->p), *g = mc_vec((size_t)pb->p), *mean = mc_vec((size_t)pb->p);
    bl_oracle *o = bl_oracle_new(pb, 0);
    EXPECT(bl_oracle_persample(o, BL_PS_GRAD_G_THETA, NULL, th, la, NULL, rows) == BL_OK &&
               bl_oracle_G(o, NULL, th, la, NULL, g, NULL) == BL_OK,
           "%s full table: %s", c->label, bl_oracle_message(o));
    for (int i = 0; i < pb->n_inner; i++)
        axpy(pb->p, 1.0 / pb->n_inner, rows + (size_t)i * pb->p, mean);
    EXPECT(t_relerr(mean, g, (size_t)pb->p, 1e-14) <= 1e-12, "%s: mean of the full table vs full gradient: rel %.3g",
           c->label, t_relerr(mean, g, (size_t)pb->p, 1e-14));
    /* the same table with ∇_θF over all validation samples, fused, NULL batches */
    double *rf = mc_vec((size_t)pb->n_outer * pb->p), *gf = mc_vec((size_t)pb->p);
    memset(rows, 0, (size_t)pb->n_inner * pb->p * sizeof *rows);
    bl_persample_req rq = {NULL, NULL, NULL, {[BL_PS_GRAD_G_THETA] = rows, [BL_PS_GRAD_F_THETA] = rf}};
    EXPECT(bl_oracle_persample_all(o, &rq, th, la) == BL_OK && bl_oracle_F(o, NULL, th, la, NULL, gf, NULL) == BL_OK,
           "%s fused full table: %s", c->label, bl_oracle_message(o));
    memset(mean, 0, (size_t)pb->p * sizeof *mean);
    for (int i = 0; i < pb->n_inner; i++)
        axpy(pb->p, 1.0 / pb->n_inner, rows + (size_t)i * pb->p, mean);
    EXPECT(t_relerr(mean, g, (size_t)pb->p, 1e-14) <= 1e-12, "%s: fused full table vs full gradient of G: rel %.3g",
           c->label, t_relerr(mean, g, (size_t)pb->p, 1e-14));
    memset(mean, 0, (size_t)pb->p * sizeof *mean);
    for (int j = 0; j < pb->n_outer; j++)
        axpy(pb->p, 1.0 / pb->n_outer, rf + (size_t)j * pb->p, mean);
    EXPECT(t_relerr(mean, gf, (size_t)pb->p, 1e-14) <= 1e-12, "%s: fused full table vs full gradient of F: rel %.3g",
           c->label, t_relerr(mean, gf, (size_t)pb->p, 1e-14));
    free(rf), free(gf);
    bl_oracle_free(o);
    bl_sampler_free(si), bl_sampler_free(so);
    free(th), free(la), free(rows), free(g), free(mean);
}

int main(int argc, char **argv)
{
    (void)argc, (void)argv;
    t_rng r = {0x5eed5eedULL};
    int n = 50, nv = 37, d = 6;
    ds_set trD, trS, vaD, vaS, ctD, ctS, cvD, cvS;
    mc_random_set(&r, n, d, 0.5, 2, 1, &trD, &trS);
    mc_random_set(&r, nv, d, 0.5, 2, 1, &vaD, &vaS);
    mc_random_set(&r, 30, 5, 0.5, 3, 1, &ctD, &ctS);
    mc_random_set(&r, 21, 5, 0.5, 3, 1, &cvD, &cvS);
    char msg[256], label[96];
    uint64_t seed = 100;
    for (int per = 0; per < 2; per++)
        for (int icpt = 0; icpt < 3; icpt++) /* none, ridge, free */
            for (int sp = 0; sp < 2; sp++) {
                lr_opts o = {per ? LR_PER_FEATURE : LR_SCALAR, icpt, icpt == 1 ? 0.05 : 0.0};
                lr_model *M;
                EXPECT(lr_model_new(sp ? &trS : &trD, sp ? &vaS : &vaD, &o, &M, msg, sizeof msg) == BL_OK,
                       "%s", msg);
                snprintf(label, sizeof label, "logreg %s %s icpt %d", sp ? "csr" : "dense",
                         per ? "per-feature" : "scalar", icpt);
                tcase c = {lr_problem(M), lr_reference(M), label};
                EXPECT(c.pb.persample != NULL, "%s: no per-sample hook", label);
                run_case(&c, &r, seed++);
                lr_model_free(M);
            }
    for (int sp = 0; sp < 2; sp++) {
        rdg_model *R;
        EXPECT(rdg_model_new(sp ? &trS : &trD, sp ? &vaS : &vaD, &R, msg, sizeof msg) == BL_OK, "%s", msg);
        snprintf(label, sizeof label, "ridge %s", sp ? "csr" : "dense");
        tcase c = {rdg_problem(R), rdg_reference(R), label};
        run_case(&c, &r, seed++);
        rdg_model_free(R);
        hc_model *H;
        EXPECT(hc_model_new(sp ? &ctS : &ctD, sp ? &cvS : &cvD, 0.05, &H, msg, sizeof msg) == BL_OK, "%s", msg);
        snprintf(label, sizeof label, "cleaning %s", sp ? "csr" : "dense");
        tcase h = {hc_problem(H), hc_reference(H), label};
        run_case(&h, &r, seed++);
        hc_model_free(H);
    }
    ds_set_free(&trD), ds_set_free(&trS), ds_set_free(&vaD), ds_set_free(&vaS);
    ds_set_free(&ctD), ds_set_free(&ctS), ds_set_free(&cvD), ds_set_free(&cvS);
    return t_done();
}
