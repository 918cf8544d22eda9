/*
 * examples/cli_files.c — the CLI's output files, never partial (README,
 * CLI reference, "Errors and output files").
 *
 * cli_mkdir creates the output folder OUT and, inside it, the run's scratch
 * folder OUT/.hypertape-XXXXXX (mkdtemp; on OUT's file system, so a rename
 * from it is atomic). Every file the run writes is first written there:
 * outputs as NAME.tmp, renamed to OUT/NAME by cli_commit once complete;
 * scratch files (gnuplot data and scripts, the PNG being drawn) stay there
 * and are removed when used. The scratch folder and whatever is left in it
 * are removed at exit (atexit: every cli_fail/cli_fail_run path) and on
 * SIGINT, SIGTERM and SIGHUP, by a handler that only calls async-signal-safe
 * functions (kill/waitpid of a running gnuplot, unlink of each registered
 * file, rmdir) and then re-raises the signal. Only SIGKILL or a crash can
 * leave OUT/.hypertape-XXXXXX behind.
 *
 * The registry below is the CLI's one piece of global mutable state: a
 * signal handler can reach nothing else. Entries are written before their
 * count is published and are never moved, so the handler never sees a
 * half-written entry.
 */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

enum { MAXFILES = 64, DIRLEN = 1040, PATHLEN = 1100 }; /* OUT is < 1024 bytes (cli_mkdir) */

static struct {
    char dir[DIRLEN];                  /* the scratch folder ("" before cli_mkdir) */
    char out[DIRLEN];                  /* the output folder */
    char path[MAXFILES][PATHLEN];      /* scratch files, removed at exit */
    char final[MAXFILES][PATHLEN];     /* where cli_commit renames them ("" for scratch) */
    volatile sig_atomic_t n;           /* registered entries */
    char made[DIRLEN];                 /* OUT, for the folders cli_mkdir created */
    int made_end[64], nmade;           /* where each created folder's name ends in made */
    volatile pid_t child;              /* a running gnuplot, killed on a signal */
    pid_t owner;                       /* the process that created the folder */
} R;

/* Async-signal-safe: unlinks every registered file, the scratch folder and
 * the folders cli_mkdir created when they are empty (a run that wrote no
 * output leaves no folder). */
static void remove_all(void)
{
    if (!R.dir[0] || getpid() != R.owner)
        return;
    for (int k = 0; k < R.n; k++)
        unlink(R.path[k]);
    rmdir(R.dir);
    for (int k = R.nmade - 1; k >= 0; k--) {
        R.made[R.made_end[k]] = '\0';
        if (rmdir(R.made) != 0)
            break;
    }
    R.nmade = 0;
}

static void on_exit_remove(void)
{
    remove_all();
}

static void on_signal(int sig)
{
    if (getpid() == R.owner && R.child > 0) {
        kill(R.child, SIGTERM);
        waitpid(R.child, NULL, 0);
    }
    remove_all();
    signal(sig, SIG_DFL);
    raise(sig);
}

static void scratch_init(const char *cmd, const char *out)
{
    if (R.dir[0])
        return;
    char tmpl[DIRLEN];
    if (snprintf(tmpl, sizeof tmpl, "%s/.hypertape-XXXXXX", out) >= (int)sizeof tmpl)
        cli_fail(cmd, "output folder name is too long");
    if (!mkdtemp(tmpl))
        cli_fail(cmd, "cannot create a scratch folder in '%s': %s", out, strerror(errno));
    snprintf(R.out, sizeof R.out, "%s", out);
    R.owner = getpid();
    memcpy(R.dir, tmpl, sizeof tmpl);
    atexit(on_exit_remove);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaddset(&sa.sa_mask, SIGINT);
    sigaddset(&sa.sa_mask, SIGTERM);
    sigaddset(&sa.sa_mask, SIGHUP);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
}

void cli_mkdir(const char *cmd, const char *dir)
{
    char buf[1024];
    if (snprintf(buf, sizeof buf, "%s", dir) >= (int)sizeof buf)
        cli_fail(cmd, "output folder name is too long");
    for (char *p = buf + 1;; p++) {
        char ch = *p;
        if (ch == '/' || ch == '\0') {
            *p = '\0';
            if (mkdir(buf, 0777) == 0) {
                if (R.nmade < 64)
                    R.made_end[R.nmade++] = (int)(p - buf);
            } else if (errno != EEXIST)
                cli_fail(cmd, "cannot create folder '%s': %s", buf, strerror(errno));
            *p = ch;
        }
        if (ch == '\0')
            break;
    }
    /* Fail now, not after the run: the folder must be a writable directory. */
    struct stat sb;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
        cli_fail(cmd, "output folder '%s' is not a directory", dir);
    if (access(dir, W_OK | X_OK) != 0)
        cli_fail(cmd, "output folder '%s' is not writable: %s", dir, strerror(errno));
    memcpy(R.made, buf, sizeof buf);
    scratch_init(cmd, dir);
}

/* Registers SCRATCH/name (final: where cli_commit puts it, or NULL) and
 * returns its index. */
static int reg(const char *cmd, const char *name, const char *final)
{
    if (!R.dir[0])
        cli_fail_run(cmd, "internal: a file was opened before the output folder existed");
    char path[PATHLEN];
    if (snprintf(path, sizeof path, "%s/%s", R.dir, name) >= (int)sizeof path)
        cli_fail_run(cmd, "file name '%s' is too long", name);
    for (int k = 0; k < R.n; k++)
        if (!strcmp(R.path[k], path)) {
            snprintf(R.final[k], PATHLEN, "%s", final ? final : "");
            return k;
        }
    if (R.n == MAXFILES)
        cli_fail_run(cmd, "internal: more than %d scratch files", MAXFILES);
    int k = R.n;
    memcpy(R.path[k], path, sizeof path);
    snprintf(R.final[k], PATHLEN, "%s", final ? final : "");
    R.n = k + 1; /* published after the entry is complete */
    return k;
}

static int lookup(const char *path)
{
    for (int k = 0; k < R.n; k++)
        if (!strcmp(R.path[k], path))
            return k;
    return -1;
}

static FILE *open_entry(const char *cmd, int k, char *path, size_t len)
{
    snprintf(path, len, "%s", R.path[k]);
    FILE *f = fopen(R.path[k], "w");
    if (!f)
        cli_fail_run(cmd, "cannot write '%s': %s", R.path[k], strerror(errno));
    return f;
}

FILE *cli_open_tmp(const char *cmd, const char *dir, const char *name, char *tmp, size_t len)
{
    char final[PATHLEN], tname[PATHLEN];
    snprintf(final, sizeof final, "%s/%s", dir, name);
    snprintf(tname, sizeof tname, "%s.tmp", name);
    return open_entry(cmd, reg(cmd, tname, final), tmp, len);
}

FILE *cli_open_scratch(const char *cmd, const char *name, char *path, size_t len)
{
    return open_entry(cmd, reg(cmd, name, NULL), path, len);
}

void cli_scratch_remove(const char *path)
{
    if (lookup(path) >= 0)
        unlink(path); /* the entry stays: unlinking a missing file at exit is harmless */
}

void cli_commit(const char *cmd, FILE *f, const char *tmp)
{
    int k = lookup(tmp);
    int bad = ferror(f);
    bad |= fclose(f) != 0;
    if (k < 0 || !R.final[k][0])
        cli_fail_run(cmd, "internal: '%s' is not an output file", tmp);
    if (bad || rename(tmp, R.final[k]) != 0) {
        int e = errno;
        unlink(tmp);
        cli_fail_run(cmd, "cannot write '%s': %s", R.final[k], strerror(e));
    }
}

FILE *cli_plot_open(const cli_common *c, const char *png_name, int width, int height, char *gp,
                    size_t len)
{
    char name[128];
    if (strlen(png_name) > 50)
        cli_fail_run(c->cmd, "internal: plot name '%s' is too long", png_name);
    snprintf(name, sizeof name, "%s.gp", png_name);
    FILE *g = cli_open_scratch(c->cmd, name, gp, len);
    snprintf(name, sizeof name, "%s.tmp", png_name);
    char final[PATHLEN];
    snprintf(final, sizeof final, "%s/%.50s", R.out, png_name);
    int k = reg(c->cmd, name, final);
    fprintf(g, "set terminal pngcairo size %d,%d noenhanced\nset output '%s'\n", width, height,
            R.path[k]);
    return g;
}

/* Runs gnuplot on script gp (stderr to /dev/null); 1 when it exits 0. */
static int run_gnuplot(const char *gp)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return 0;
    if (pid == 0) {
        int nul = open("/dev/null", O_WRONLY);
        if (nul >= 0)
            dup2(nul, 2);
        execlp("gnuplot", "gnuplot", gp, (char *)NULL);
        _exit(127);
    }
    R.child = pid;
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    R.child = 0;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

int cli_gnuplot(const cli_common *c, FILE *script, const char *gp, const char *png_name,
                const char *data)
{
    char tmp[PATHLEN], final[PATHLEN];
    snprintf(tmp, sizeof tmp, "%s/%.50s.tmp", R.dir, png_name);
    snprintf(final, sizeof final, "%s/%.50s", R.out, png_name);
    int ok = fclose(script) == 0 && run_gnuplot(gp) && rename(tmp, final) == 0;
    if (!ok) {
        unlink(tmp);
        fprintf(stderr, "hypertape %s: warning: gnuplot failed; no plot %s\n", c->cmd, final);
    }
    cli_scratch_remove(gp);
    if (data)
        cli_scratch_remove(data);
    return ok;
}
