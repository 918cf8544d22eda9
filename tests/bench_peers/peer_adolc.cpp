/*
 * tests/bench_peers/peer_adolc.cpp — the ADOL-C contender of the peer
 * benchmark (protocol: peer_proto.h). Only the scalar chain applies:
 *
 *   f(x) = Σ_{i<N} [100 (x_{i+1} − x_i²)² + (1 − x_i)²]
 *
 * ops: record_grad (trace_on, the chain on adoubles, trace_off, gradient())
 * and grad_tape (the trace recorded once at setup; each call is
 * gradient(): a zero-order forward and a first-order reverse sweep on
 * that tape at the same point). The coordinator starts this process in a
 * directory whose .adolcrc sizes ADOL-C's buffers so that the trace stays
 * in memory (no tape files). Every other family replies "na".
 */
#include <adolc/adolc.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>
#include <unistd.h>

namespace {

struct work {
    std::string id;
    int op = 0, N = 0;
    short tag = 0;
    std::vector<double> x0, g;
};

double now()
{
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

size_t status_bytes(const char *key)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    size_t kb = 0, k = strlen(key);
    if (!f)
        return 0;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, key, k)) {
            kb = strtoull(line + k + 1, nullptr, 10);
            break;
        }
    fclose(f);
    return kb * 1024;
}

void reset_hwm()
{
    if (FILE *f = fopen("/proc/self/clear_refs", "w")) {
        fputs("5", f);
        fclose(f);
    }
}

void record(work &w)
{
    int N = w.N;
    trace_on(w.tag);
    std::vector<adouble> x(N + 1);
    for (int i = 0; i <= N; i++)
        x[i] <<= w.x0[i];
    adouble acc = 0.0;
    for (int i = 0; i < N; i++) {
        adouble d = x[i + 1] - x[i] * x[i];
        adouble e = 1.0 - x[i];
        acc += 100.0 * d * d + e * e;
    }
    double f;
    acc >>= f;
    trace_off();
}

void call(work &w)
{
    if (w.op == 0)
        record(w);
    gradient(w.tag, w.N + 1, w.x0.data(), w.g.data());
}

bool load(work &w, const char *prefix)
{
    std::string path = std::string(prefix) + ".x0.f64";
    FILE *f = fopen(path.c_str(), "rb");
    if (!f)
        return false;
    w.x0.resize((size_t)w.N + 1);
    w.g.resize((size_t)w.N + 1);
    size_t got = fread(w.x0.data(), sizeof(double), w.x0.size(), f);
    fclose(f);
    return got == w.x0.size();
}

} // namespace

int main()
{
    FILE *out = fdopen(dup(1), "w");
    dup2(2, 1); /* ADOL-C's messages go to stderr, never into a reply */
    std::vector<work> ws;
    short next_tag = 1;
    static char line[1 << 16];
    while (fgets(line, sizeof line, stdin)) {
        std::vector<char *> tok;
        for (char *p = strtok(line, " \t\r\n"); p; p = strtok(nullptr, " \t\r\n"))
            tok.push_back(p);
        if (tok.empty())
            continue;
        std::string cmd = tok[0];
        if (cmd == "quit")
            break;
        if (cmd == "setup" && tok.size() >= 6) {
            std::string op = tok[3];
            if (strcmp(tok[2], "scalar") || (op != "record_grad" && op != "grad_tape")) {
                fprintf(out, "na\n");
            } else {
                work w;
                w.id = tok[1];
                w.op = op == "grad_tape";
                w.N = atoi(tok[5]);
                w.tag = next_tag++;
                if (w.N <= 0 || !load(w, tok[4])) {
                    fprintf(out, "err scalar: cannot read %s.x0.f64\n", tok[4]);
                } else {
                    if (w.op == 1)
                        record(w);
                    ws.push_back(w);
                    fprintf(out, "ok\n");
                }
            }
        } else if (cmd == "run" && tok.size() >= 4) {
            work *w = nullptr;
            for (auto &x : ws)
                if (x.id == tok[1])
                    w = &x;
            if (!w) {
                fprintf(out, "err no workload %s\n", tok[1]);
            } else {
                int n = atoi(tok[2]) > 0 ? atoi(tok[2]) : 1, send = atoi(tok[3]);
                size_t rss0 = status_bytes("VmRSS:");
                reset_hwm();
                double t0 = now();
                for (int k = 0; k < n; k++)
                    call(*w);
                double t = (now() - t0) / n;
                size_t hwm = status_bytes("VmHWM:");
                fprintf(out, "ok %.9e %zu %d", t, hwm > rss0 ? hwm - rss0 : 0,
                        send ? w->N + 1 : 0);
                if (send)
                    for (double v : w->g)
                        fprintf(out, " %.17g", v);
                fputc('\n', out);
            }
        } else if (cmd == "free" && tok.size() >= 2) {
            for (size_t k = 0; k < ws.size(); k++)
                if (ws[k].id == tok[1]) {
                    ws.erase(ws.begin() + (long)k);
                    break;
                }
            fprintf(out, "ok\n");
        } else {
            fprintf(out, "err unknown command %s\n", cmd.c_str());
        }
        fflush(out);
    }
    fclose(out);
    return 0;
}
