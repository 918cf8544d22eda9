/*
 * tests/unit/test_csr.c — ad_csr_check and the `checked` token of ad_csr:
 * a valid matrix gets a token and ad_spmm on it gives the dense product
 * written out by hand; every malformed structure is refused with a message;
 * a token carried over to another header (other arrays, sizes or entry
 * count) does not match, so ad_spmm scans that header and reports its
 * problem; the readers' sets carry a token that ds_csr passes on.
 */
#include <hypertape/ad.h>
#include <hypertape/models/data.h>
#include "testutil.h"

#include <string.h>

/* S = [1 0 2; 0 0 3] (2×3), by hand. */
static const int64_t RP[3] = {0, 2, 3};
static const int CI[3] = {0, 2, 2};
static const double VA[3] = {1, 2, 3};

static void test_valid(void)
{
    ad_csr s = {2, 3, RP, CI, VA, 0};
    char msg[160] = "x";
    EXPECT(ad_csr_check(&s, msg, sizeof msg) == AD_OK && s.checked != 0 && msg[0] == '\0',
           "valid matrix refused: %s", msg);
    ad_tape *t = ad_tape_new(NULL);
    const double b[3] = {1, 10, 100};
    ad_var y = ad_spmm(t, &s, ad_const(t, 3, 1, b), 0);
    const double *v = ad_value(t, y);
    EXPECT(v && v[0] == 201 && v[1] == 300, "S·b = (%g, %g), want (201, 300)", v ? v[0] : 0,
           v ? v[1] : 0);
    ad_tape_free(t);
}

/* Each malformed structure: refused, the token cleared, msg naming it. */
static void test_bad(void)
{
    const int64_t rp_dec[3] = {0, 2, 1}, rp_off[3] = {1, 2, 3};
    const int ci_out[3] = {0, 3, 2}, ci_neg[3] = {0, -1, 2};
    struct {
        ad_csr s;
        const char *needle;
    } cases[] = {
        {{2, 3, rp_dec, CI, VA, 7}, "decreases at row 1"},
        {{2, 3, rp_off, CI, VA, 7}, "rowptr[0] is 1"},
        {{2, 3, RP, ci_out, VA, 7}, "column 3 in row 0"},
        {{2, 3, RP, ci_neg, VA, 7}, "column -1 in row 0"},
        {{0, 3, RP, CI, VA, 7}, "empty"},
        {{2, 3, RP, NULL, VA, 7}, "NULL arrays"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        char msg[160] = "";
        ad_status st = ad_csr_check(&cases[k].s, msg, sizeof msg);
        EXPECT(st == AD_EINVAL && cases[k].s.checked == 0 && strstr(msg, cases[k].needle),
               "case %zu: status %d, token %llu, msg '%s' (want '%s')", k, (int)st,
               (unsigned long long)cases[k].s.checked, msg, cases[k].needle);
    }
    EXPECT(ad_csr_check(NULL, NULL, 0) == AD_EINVAL, "NULL matrix accepted");
}

/* A token moved to another header does not vouch for it: ad_spmm scans. */
static void test_foreign_token(void)
{
    ad_csr good = {2, 3, RP, CI, VA, 0};
    EXPECT(ad_csr_check(&good, NULL, 0) == AD_OK, "valid matrix refused");
    const int ci_out[3] = {0, 5, 2};
    const int64_t rp_short[3] = {0, 2, 2};
    ad_csr forged[3] = {{2, 3, RP, ci_out, VA, good.checked},   /* other colind array */
                        {2, 2, RP, CI, VA, good.checked},       /* other cols: 2 out of range */
                        {2, 3, rp_short, CI, VA, good.checked}}; /* other rowptr */
    const double b[3] = {1, 1, 1};
    for (int k = 0; k < 3; k++) {
        ad_tape *t = ad_tape_new(NULL);
        int rows_b = forged[k].cols;
        ad_var y = ad_spmm(t, &forged[k], ad_const(t, rows_b, 1, b), 0);
        if (k < 2)
            EXPECT(!ad_ok(y) && ad_tape_status(t) == AD_EINVAL &&
                       strstr(ad_tape_message(t), "outside"),
                   "forged token %d: spmm status %d '%s'", k, (int)ad_tape_status(t),
                   ad_tape_message(t));
        else /* valid structure: the scan passes and the product is right */
            EXPECT(ad_ok(y) && ad_value(t, y)[0] == 3 && ad_value(t, y)[1] == 0,
                   "rescanned valid header: %s", ad_tape_message(t));
        ad_tape_free(t);
    }
}

/* A generated sparse set is sealed, and ds_csr carries its token. */
static void test_sets(void)
{
    ds_set s;
    char msg[256];
    EXPECT(ds_synth_sparse(3, 40, 30, 0.2, &s, msg, sizeof msg) == BL_OK, "synth: %s", msg);
    ad_csr c = ds_csr(&s);
    EXPECT(s.csr_token != 0 && c.checked == s.csr_token, "set token %llu, view %llu",
           (unsigned long long)s.csr_token, (unsigned long long)c.checked);
    ad_csr again = c;
    again.checked = 0;
    EXPECT(ad_csr_check(&again, NULL, 0) == AD_OK && again.checked == c.checked,
           "token differs from a fresh check");
    int idx[3] = {5, 0, 7};
    ds_set sub;
    EXPECT(ds_subset(&s, idx, 3, &sub, msg, sizeof msg) == BL_OK && sub.csr_token != 0 &&
               sub.csr_token != s.csr_token,
           "subset token %llu (set %llu)", (unsigned long long)sub.csr_token,
           (unsigned long long)s.csr_token);
    ds_set_free(&sub);
    EXPECT(ds_densify(&s, msg, sizeof msg) == BL_OK && s.csr_token == 0, "densified token kept");
    ds_set_free(&s);
}

int main(void)
{
    test_valid();
    test_bad();
    test_foreign_token();
    test_sets();
    return t_done();
}
