/*
 * bilevel/sampler.c — seeded minibatch samplers (hypertape/sampler.h).
 *
 * PRNG: xoshiro256** 1.0 (Blackman & Vigna 2018), its 256-bit state filled
 * by splitmix64 from the seed, as its authors recommend. Bounded integers:
 * Lemire's multiply-shift with rejection (2019), exactly uniform on
 * [0, n). Epochs: Fisher–Yates shuffles of the previous epoch's
 * permutation.
 */
#include <hypertape/sampler.h>

#include <stdio.h>
#include <stdlib.h>

struct bl_sampler {
    int n, mode;
    uint64_t s[4]; /* xoshiro256** state */
    long drawn;
    int *perm;     /* epochs: the current epoch's permutation */
    int pos;       /* epochs: next position in perm (n: shuffle first) */
    char msg[128];
};

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t next(uint64_t *s)
{
    uint64_t r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return r;
}

/* Uniform on [0, m), 1 <= m < 2^32: Lemire's method with rejection. */
static uint32_t below(uint64_t *s, uint32_t m)
{
    uint64_t x = (next(s) >> 32) * m;
    uint32_t lo = (uint32_t)x;
    if (lo < m) {
        uint32_t t = (uint32_t)(-m) % m;
        while (lo < t) {
            x = (next(s) >> 32) * m;
            lo = (uint32_t)x;
        }
    }
    return (uint32_t)(x >> 32);
}

static void shuffle(bl_sampler *s)
{
    for (int i = s->n - 1; i > 0; i--) {
        int j = (int)below(s->s, (uint32_t)i + 1), t = s->perm[i];
        s->perm[i] = s->perm[j];
        s->perm[j] = t;
    }
    s->pos = 0;
}

bl_sampler *bl_sampler_new(int n, uint64_t seed, int mode, bl_status *st)
{
    bl_status dummy;
    st = st ? st : &dummy;
    if (n <= 0 || mode < 0 || mode >= BL_SAMPLE_MODE_COUNT) {
        *st = BL_EINVAL;
        return NULL;
    }
    bl_sampler *s = calloc(1, sizeof *s);
    if (s && mode == BL_SAMPLE_EPOCHS && !(s->perm = malloc((size_t)n * sizeof *s->perm))) {
        free(s);
        s = NULL;
    }
    if (!s) {
        *st = BL_ENOMEM;
        return NULL;
    }
    s->n = n;
    s->mode = mode;
    uint64_t x = seed;
    for (int k = 0; k < 4; k++)
        s->s[k] = splitmix64(&x);
    if (s->perm) {
        for (int i = 0; i < n; i++)
            s->perm[i] = i;
        s->pos = n;
    }
    *st = BL_OK;
    return s;
}

void bl_sampler_free(bl_sampler *s)
{
    if (!s)
        return;
    free(s->perm);
    free(s);
}

bl_status bl_sampler_draw(bl_sampler *s, int k, int *idx)
{
    if (k < 0 || (k > 0 && !idx)) {
        snprintf(s->msg, sizeof s->msg, "bl_sampler_draw: %s (k = %d)",
                 k < 0 ? "negative count" : "idx is NULL", k);
        return BL_EINVAL;
    }
    for (int j = 0; j < k; j++) {
        if (s->mode == BL_SAMPLE_REPLACE) {
            idx[j] = (int)below(s->s, (uint32_t)s->n);
            continue;
        }
        if (s->pos == s->n)
            shuffle(s);
        idx[j] = s->perm[s->pos++];
    }
    s->drawn += k;
    s->msg[0] = '\0';
    return BL_OK;
}

long bl_sampler_drawn(const bl_sampler *s) { return s->drawn; }
long bl_sampler_epoch(const bl_sampler *s) { return s->drawn / s->n; }
int bl_sampler_size(const bl_sampler *s) { return s->n; }
const char *bl_sampler_message(const bl_sampler *s) { return s->msg; }
