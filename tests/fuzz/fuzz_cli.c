/*
 * tests/fuzz/fuzz_cli.c — libFuzzer target for the CLI's flag parsing and
 * problem setup (examples/cli.c, examples/cli_problem.c).
 *
 * Input: flags separated by '\n', then '\0', the text of a LIBSVM file, '\0',
 * the text of a second one. The tokens "@train" and "@val" stand for the
 * paths of those two files (written to a private temporary folder). The
 * flags are parsed with cli_parse against the problem flags
 * (CLI_PROBLEM_OPTS) and, unless the run would only measure known
 * slowness (see below), the problem is built with cli_problem_setup and
 * freed again.
 *
 * The CLI reports errors by exit(), so each input runs in a forked child;
 * exit() is wrapped (-Wl,--wrap=exit) so that the child copies its coverage
 * counters into shared memory before it leaves, and the parent copies them
 * back: libFuzzer still sees the coverage of the child's run. The parent aborts (a crash for libFuzzer) when the child dies
 * of a signal, reports a sanitizer error, leaks after a successful setup
 * (LSan check in the child), or exits with a code other than the CLI's
 * 0, 1 or 2.
 *
 * Skipped (flags parsed, problem not built): problems that read
 * Fashion-MNIST (fixed files: no fuzzed input reaches them), least squares
 * with rows·(p+m)² above 2·10⁷ or p + m above 200 (known super-cubic setup,
 * issue 19 finding 4) and LIBSVM files wider than 4096 features (dense
 * models sized by the largest index, finding 3).
 */
#define _GNU_SOURCE 1 /* MAP_ANONYMOUS, strsep, dl_iterate_phdr */
#include "examples/cli.h"

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <unistd.h>

int __lsan_do_recoverable_leak_check(void) __attribute__((weak));
void __real_exit(int code) __attribute__((noreturn));

enum { MAXARGS = 32, CHILD_BASE = 100 };

static uint8_t *shared_cntrs; /* MAP_SHARED copy of the counters */
static uint8_t *cntrs;        /* libFuzzer's inline 8-bit counters (section __sancov_cntrs) */
static size_t ncntrs;
static int in_child;
static char dir[64], train_path[96], val_path[96], log_path[96];

static void cleanup(void)
{
    if (in_child)
        return;
    unlink(train_path);
    unlink(val_path);
    unlink(log_path);
    rmdir(dir);
}

static void copy_counters_out(void)
{
    if (shared_cntrs && ncntrs)
        memcpy(shared_cntrs, cntrs, ncntrs);
}

/* exit() in the child: hand the coverage back and leave with a tagged code. */
void __wrap_exit(int code)
{
    if (!in_child)
        __real_exit(code);
    copy_counters_out();
    _exit(CHILD_BASE + (code & 0x1f));
}

static int main_bias(struct dl_phdr_info *info, size_t size, void *out)
{
    *(uintptr_t *)out = (uintptr_t)info->dlpi_addr; /* the first object is the program */
    return 1;
}

/* Finds the counters' section in our own ELF file (the linker's
 * __start___sancov_cntrs cannot be referenced here: a second reference
 * breaks the one libFuzzer's module constructor uses). */
static void find_counters(void)
{
    FILE *f = fopen("/proc/self/exe", "rb");
    Elf64_Ehdr eh;
    if (!f || fread(&eh, sizeof eh, 1, f) != 1 || eh.e_shentsize != sizeof(Elf64_Shdr)) {
        if (f)
            fclose(f);
        return;
    }
    Elf64_Shdr *sh = calloc(eh.e_shnum, sizeof *sh);
    char *names = NULL;
    if (sh && !fseek(f, (long)eh.e_shoff, SEEK_SET) && fread(sh, sizeof *sh, eh.e_shnum, f) == eh.e_shnum &&
        eh.e_shstrndx < eh.e_shnum && (names = calloc(1, sh[eh.e_shstrndx].sh_size + 1)) &&
        !fseek(f, (long)sh[eh.e_shstrndx].sh_offset, SEEK_SET) &&
        fread(names, 1, sh[eh.e_shstrndx].sh_size, f) == sh[eh.e_shstrndx].sh_size) {
        uintptr_t bias = 0;
        dl_iterate_phdr(main_bias, &bias);
        for (int k = 0; k < eh.e_shnum; k++)
            if (sh[k].sh_name < sh[eh.e_shstrndx].sh_size && !strcmp(names + sh[k].sh_name, "__sancov_cntrs")) {
                cntrs = (uint8_t *)(bias + sh[k].sh_addr);
                ncntrs = sh[k].sh_size;
            }
    }
    free(names);
    free(sh);
    fclose(f);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    snprintf(dir, sizeof dir, "%s/fuzz_cli.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(dir))
        abort();
    snprintf(train_path, sizeof train_path, "%s/train.svm", dir);
    snprintf(val_path, sizeof val_path, "%s/val.svm", dir);
    snprintf(log_path, sizeof log_path, "%s/stderr.txt", dir);
    atexit(cleanup);
    find_counters();
    if (ncntrs) {
        shared_cntrs = mmap(NULL, ncntrs, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (shared_cntrs == MAP_FAILED)
            shared_cntrs = NULL;
    }
    return 0;
}

static void write_file(const char *path, const uint8_t *d, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        abort();
    if (n && fwrite(d, 1, n, f) != n)
        abort();
    fclose(f);
}

static long num(const cli_opt *opts, int nopts, const char *name, long dflt)
{
    const char *v = cli_get(opts, nopts, name);
    return v ? strtol(v, NULL, 10) : dflt;
}

static int width(const char *path)
{
    ds_set s;
    char msg[256];
    if (ds_read_libsvm(path, 0, &s, msg, sizeof msg) != BL_OK)
        return 0;
    int d = s.d;
    ds_set_free(&s);
    return d;
}

/* 1 when building this problem would only measure the known slow paths. */
static int skip_setup(const cli_opt *opts, int nopts)
{
    const char *kind = cli_get(opts, nopts, "problem");
    kind = kind ? kind : "logreg";
    if (!strcmp(kind, "cleaning") || (!strcmp(kind, "logreg") && !cli_get(opts, nopts, "train")))
        return 1;
    if (!strcmp(kind, "lstsq")) {
        double rows = (double)num(opts, nopts, "rows", 1000), pm =
            (double)num(opts, nopts, "p", 10) + (double)num(opts, nopts, "m", 10);
        return pm > 200 || rows * pm * pm > 2e7;
    }
    return width(train_path) > 4096 || width(val_path) > 4096;
}

static void child(char **argv, int argc)
{
    int null = open("/dev/null", O_WRONLY), log = open(log_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (null >= 0)
        dup2(null, 1);
    if (log >= 0)
        dup2(log, 2); /* the parent shows it when the child crashed */
    cli_opt opts[] = {CLI_PROBLEM_OPTS};
    int nopts = (int)(sizeof opts / sizeof opts[0]);
    cli_common c = {.cmd = "fuzz"};
    cli_parse(argc, argv, 0, opts, nopts, "usage: fuzz", &c);
    if (!skip_setup(opts, nopts)) {
        cli_problem cp;
        cli_problem_setup(&c, opts, nopts, &cp);
        cli_problem_free(&cp);
        if (__lsan_do_recoverable_leak_check && __lsan_do_recoverable_leak_check())
            _exit(99);
    }
    copy_counters_out();
    _exit(CHILD_BASE);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *end = data + size, *z1 = memchr(data, 0, size);
    const uint8_t *t0 = z1 ? z1 + 1 : end, *z2 = memchr(t0, 0, (size_t)(end - t0));
    const uint8_t *v0 = z2 ? z2 + 1 : end;
    write_file(train_path, t0, (size_t)((z2 ? z2 : end) - t0));
    write_file(val_path, v0, (size_t)(end - v0));
    char *flags = strndup((const char *)data, (size_t)((z1 ? z1 : end) - data));
    if (!flags)
        return 0;
    char *argv[MAXARGS + 1];
    int argc = 0;
    for (char *s = flags, *tok; argc < MAXARGS && (tok = strsep(&s, "\n"));)
        argv[argc++] = !strcmp(tok, "@train") ? train_path : !strcmp(tok, "@val") ? val_path : tok;
    argv[argc] = NULL;
    if (shared_cntrs)
        memcpy(shared_cntrs, cntrs, ncntrs);
    pid_t pid = fork();
    if (pid < 0)
        abort();
    if (pid == 0) {
        in_child = 1;
        child(argv, argc);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0)
        ;
    free(flags);
    if (shared_cntrs)
        memcpy(cntrs, shared_cntrs, ncntrs);
    int code = WIFEXITED(status) ? WEXITSTATUS(status) - CHILD_BASE : -1;
    if (code < 0 || code > 2) {
        FILE *f = fopen(log_path, "r");
        for (int ch; f && (ch = fgetc(f)) != EOF;)
            fputc(ch, stderr);
        if (f)
            fclose(f);
        fprintf(stderr, "fuzz_cli: child %s %d\n", WIFSIGNALED(status) ? "killed by signal" : "exit",
                WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
        abort();
    }
    return 0;
}
