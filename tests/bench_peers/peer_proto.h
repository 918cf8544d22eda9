/*
 * tests/bench_peers/peer_proto.h — the driver protocol every C contender
 * of the peer benchmark speaks (peers.py is the coordinator; README,
 * "Measured performance"). One command per line on stdin, one reply line
 * on the protocol stream (the process's original stdout; stdout itself is
 * sent to stderr so that a library's chatter cannot corrupt a reply):
 *
 *   setup ID FAMILY OP PREFIX ARGS...  → "ok" | "na" (does not apply) | "err MESSAGE"
 *   run ID N SEND                      → "ok SECONDS_PER_CALL PEAK_BYTES NRES [v_1 ... v_NRES]"
 *                                        (the N calls are timed together; the result vector
 *                                        is sent only when SEND is 1; PEAK_BYTES is the growth
 *                                        of the resident set's high-water mark over the calls)
 *   free ID                            → "ok"
 *   quit
 *
 * Data are raw little-endian files PREFIX.NAME.f64 / .i32 / .i64 written by
 * the coordinator, so every contender computes on the same numbers.
 */
#ifndef HYPERTAPE_PEER_PROTO_H
#define HYPERTAPE_PEER_PROTO_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* One prepared workload. */
typedef struct peer_work {
    void *ctx;
    void (*call)(void *ctx);          /* one timed call */
    const double *(*result)(void *ctx, int *n); /* the result of the last call */
    void (*done)(void *ctx);          /* frees ctx */
} peer_work;

/* Sets up a workload for a role ("ht" or "hand"): 0 ok, 1 does not apply,
 * -1 error (msg filled). */
typedef int (*peer_setup_fn)(const char *role, const char *op, const char *prefix, int argc,
                             char **argv, peer_work *w, char *msg, size_t msglen);

/* Reads PREFIX.NAME into a new buffer of n elements of size bytes each;
 * NULL (msg filled) on a missing or short file. */
void *peer_load(const char *prefix, const char *name, size_t n, size_t size, char *msg,
                size_t msglen);

/* Allocation that exits (the benchmark could not run) on failure. */
void *peer_alloc(size_t bytes);

/* Setup functions of the families (peer_*.c). */
int peer_logreg_setup(const char *role, const char *op, const char *prefix, int argc, char **argv,
                      peer_work *w, char *msg, size_t msglen);
int peer_softmax_setup(const char *role, const char *op, const char *prefix, int argc, char **argv,
                       peer_work *w, char *msg, size_t msglen);
int peer_sparse_setup(const char *role, const char *op, const char *prefix, int argc, char **argv,
                      peer_work *w, char *msg, size_t msglen);
int peer_bilevel_setup(const char *role, const char *op, const char *prefix, int argc, char **argv,
                       peer_work *w, char *msg, size_t msglen);
int peer_scalar_setup(const char *role, const char *op, const char *prefix, int argc, char **argv,
                      peer_work *w, char *msg, size_t msglen);

#endif
