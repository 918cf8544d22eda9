/*
 * tests/bench_peers/peer_main.c — the C contenders of the peer benchmark:
 * `peer_c ht` (hypertape) and `peer_c hand` (hand-written C over
 * OpenBLAS). Speaks the protocol of peer_proto.h; OPENBLAS_NUM_THREADS
 * (set by the coordinator) fixes the thread count.
 */
#define _GNU_SOURCE
#include "peer_proto.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PEER_MAX_WORK 16
#define PEER_MAX_ARGS 16

typedef struct slot {
    char id[64];
    peer_work w;
    int used;
} slot;

void *peer_alloc(size_t bytes)
{
    void *p = calloc(1, bytes ? bytes : 1);
    if (!p) {
        fprintf(stderr, "peer: cannot allocate %zu bytes\n", bytes);
        exit(1);
    }
    return p;
}

void *peer_load(const char *prefix, const char *name, size_t n, size_t size, char *msg,
                size_t msglen)
{
    char path[1024];
    snprintf(path, sizeof path, "%s.%s", prefix, name);
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(msg, msglen, "cannot open %s", path);
        return NULL;
    }
    void *p = peer_alloc(n * size);
    size_t got = fread(p, size, n, f);
    fclose(f);
    if (got != n) {
        snprintf(msg, msglen, "%s: read %zu of %zu elements", path, got, n);
        free(p);
        return NULL;
    }
    return p;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* VmHWM or VmRSS of this process in bytes (0 if unreadable). */
static size_t status_kb(const char *key)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    size_t kb = 0, k = strlen(key);
    if (!f)
        return 0;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, key, k)) {
            kb = (size_t)strtoull(line + k + 1, NULL, 10);
            break;
        }
    fclose(f);
    return kb * 1024;
}

/* Resets the high-water mark to the current resident set (Linux ≥ 4.0). */
static void reset_hwm(void)
{
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (f) {
        fputs("5", f);
        fclose(f);
    }
}

static slot *find(slot *s, const char *id)
{
    for (int k = 0; k < PEER_MAX_WORK; k++)
        if (s[k].used && !strcmp(s[k].id, id))
            return &s[k];
    return NULL;
}

static peer_setup_fn family(const char *name)
{
    if (!strcmp(name, "logreg"))
        return peer_logreg_setup;
    if (!strcmp(name, "softmax"))
        return peer_softmax_setup;
    if (!strcmp(name, "sparse"))
        return peer_sparse_setup;
    if (!strcmp(name, "unroll") || !strcmp(name, "ift"))
        return peer_bilevel_setup;
    if (!strcmp(name, "scalar"))
        return peer_scalar_setup;
    return NULL;
}

static void do_setup(FILE *out, const char *role, slot *slots, char **tok, int ntok)
{
    if (ntok < 5) {
        fprintf(out, "err setup needs ID FAMILY OP PREFIX\n");
        return;
    }
    slot *s = NULL;
    for (int k = 0; k < PEER_MAX_WORK && !s; k++)
        if (!slots[k].used)
            s = &slots[k];
    peer_setup_fn fn = family(tok[2]);
    char msg[512] = "";
    if (!s || !fn) {
        fprintf(out, "err %s\n", s ? "unknown family" : "too many workloads");
        return;
    }
    memset(s, 0, sizeof *s);
    /* the family name goes first so that one setup function can serve two */
    char *args[PEER_MAX_ARGS];
    int na = 0;
    args[na++] = tok[2];
    for (int k = 5; k < ntok && na < PEER_MAX_ARGS; k++)
        args[na++] = tok[k];
    int rc = fn(role, tok[3], tok[4], na, args, &s->w, msg, sizeof msg);
    if (rc == 0) {
        snprintf(s->id, sizeof s->id, "%s", tok[1]);
        s->used = 1;
        fprintf(out, "ok\n");
    } else {
        fprintf(out, rc > 0 ? "na\n" : "err %s\n", msg);
    }
}

static void do_run(FILE *out, slot *s, int n, int send)
{
    size_t rss0 = status_kb("VmRSS:");
    reset_hwm();
    double t0 = now();
    for (int k = 0; k < n; k++)
        s->w.call(s->w.ctx);
    double t = (now() - t0) / n;
    size_t hwm = status_kb("VmHWM:");
    int nres = 0;
    const double *r = s->w.result(s->w.ctx, &nres);
    fprintf(out, "ok %.9e %zu %d", t, hwm > rss0 ? hwm - rss0 : 0, send ? nres : 0);
    if (send)
        for (int k = 0; k < nres; k++)
            fprintf(out, " %.17g", r[k]);
    fputc('\n', out);
}

int main(int argc, char **argv)
{
    if (argc < 2 || (strcmp(argv[1], "ht") && strcmp(argv[1], "hand"))) {
        fprintf(stderr, "usage: peer_c ht|hand  (commands on stdin: see peer_proto.h)\n");
        return 2;
    }
    const char *role = argv[1];
    FILE *out = fdopen(dup(1), "w");
    dup2(2, 1);
    if (!out)
        return 1;
    slot slots[PEER_MAX_WORK];
    memset(slots, 0, sizeof slots);
    static char line[1 << 16];
    while (fgets(line, sizeof line, stdin)) {
        char *tok[32];
        int ntok = 0;
        for (char *p = strtok(line, " \t\r\n"); p && ntok < 32; p = strtok(NULL, " \t\r\n"))
            tok[ntok++] = p;
        if (!ntok)
            continue;
        if (!strcmp(tok[0], "quit"))
            break;
        if (!strcmp(tok[0], "setup")) {
            do_setup(out, role, slots, tok, ntok);
        } else if (!strcmp(tok[0], "run") && ntok >= 4) {
            slot *s = find(slots, tok[1]);
            if (s)
                do_run(out, s, atoi(tok[2]) > 0 ? atoi(tok[2]) : 1, atoi(tok[3]));
            else
                fprintf(out, "err no workload %s\n", tok[1]);
        } else if (!strcmp(tok[0], "free") && ntok >= 2) {
            slot *s = find(slots, tok[1]);
            if (s) {
                s->w.done(s->w.ctx);
                s->used = 0;
            }
            fprintf(out, "ok\n");
        } else {
            fprintf(out, "err unknown command %s\n", tok[0]);
        }
        fflush(out);
    }
    for (int k = 0; k < PEER_MAX_WORK; k++)
        if (slots[k].used)
            slots[k].w.done(slots[k].w.ctx);
    fclose(out);
    return 0;
}
