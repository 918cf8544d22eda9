#!/usr/bin/env python3
"""Output files are never partial (issue 19 #6): a run that fails while
writing leaves nothing (not even its output folder); a run killed with
SIGTERM or SIGINT, while computing or while gnuplot draws, leaves no .tmp,
.dat or .gp file and no scratch folder, and its gnuplot is stopped too.
  cli_files.py HYPERTAPE"""
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from clitest import check, finish

cli = os.path.abspath(sys.argv[1])
SCRATCH = ('.tmp', '.dat', '.gp')


def leftovers(folder):
    """Scratch files and scratch folders anywhere under folder."""
    bad = []
    for d, dirs, files in os.walk(folder):
        bad += [os.path.join(d, n) for n in dirs if n.startswith('.hypertape-')]
        bad += [os.path.join(d, n) for n in files if n.endswith(SCRATCH)]
    return bad


def wait_for(folder, suffix, timeout=60):
    """Waits until a file ending in suffix exists under folder."""
    t0 = time.time()
    while time.time() - t0 < timeout:
        for d, _, files in os.walk(folder):
            if any(n.endswith(suffix) for n in files):
                return True
        time.sleep(0.05)
    return False


tmp = tempfile.mkdtemp(prefix='hypertape-files-')
try:
    # --- a write that fails (file size limit): exit 1, one line naming the file, nothing left.
    def small_files():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # write() fails with EFBIG instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (100000, 100000))

    out = os.path.join(tmp, 'fail', 'a', 'b')
    p = subprocess.run([cli, 'bounds', '--problems', 'lstsq', '--quiet', '--out', out],
                       preexec_fn=small_files, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=120)
    err = p.stderr.decode()
    check(p.returncode == 1, 'write failure: exit 1 (got %d, %r)' % (p.returncode, err))
    check(len(err.splitlines()) == 1 and 'bounds.csv' in err and 'too large' in err,
          'write failure: one line naming bounds.csv and the reason (%r)' % err)
    check(not os.path.exists(os.path.join(tmp, 'fail')),
          'write failure: no output folder or file left (%s)'
          % [os.path.join(d, n) for d, ds, fs in os.walk(os.path.join(tmp, 'fail')) for n in ds + fs])

    # --- killed while computing: a long run, signalled once its scratch files exist.
    LONG = [cli, 'bounds', '--problems', 'lstsq', '--linear-iters', '100000', '--quiet']
    for sig in (signal.SIGTERM, signal.SIGINT):
        name = signal.Signals(sig).name
        out = os.path.join(tmp, 'kill-' + name)
        p = subprocess.Popen(LONG + ['--out', out], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        started = wait_for(out, '.dat')
        check(started, '%s: the run wrote its scratch files' % name)
        p.send_signal(sig)
        rc = p.wait(timeout=60)
        check(rc == -sig, '%s: the run died of the signal (rc %d)' % (name, rc))
        check(leftovers(tmp) == [], '%s mid-run: no scratch left (%s)' % (name, leftovers(tmp)))
        check(not os.path.exists(os.path.join(out, 'bounds.csv')),
              '%s mid-run: no bounds.csv (it was not complete)' % name)

    # --- killed while gnuplot draws: a stand-in gnuplot that hangs.
    bin_dir = os.path.join(tmp, 'bin')
    os.mkdir(bin_dir)
    pidfile = os.path.join(tmp, 'gnuplot.pid')
    with open(os.path.join(bin_dir, 'gnuplot'), 'w') as f:
        f.write('#!/bin/sh\necho $$ > %s\nexec sleep 60\n' % pidfile)
    os.chmod(os.path.join(bin_dir, 'gnuplot'), 0o755)
    env = dict(os.environ, PATH=bin_dir + os.pathsep + os.environ.get('PATH', ''))
    for sig in (signal.SIGTERM, signal.SIGINT):
        name = signal.Signals(sig).name
        out = os.path.join(tmp, 'plot-' + name)
        if os.path.exists(pidfile):
            os.remove(pidfile)
        p = subprocess.Popen([cli, 'bounds', '--problems', 'lstsq', '--linear-iters', '20',
                              '--quiet', '--out', out], env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        t0 = time.time()
        while not os.path.exists(pidfile) and time.time() - t0 < 60:
            time.sleep(0.05)
        time.sleep(0.2)
        check(os.path.exists(pidfile) and wait_for(out, '.gp', 1),
              '%s: the run is drawing (gnuplot started, script in scratch)' % name)
        p.send_signal(sig)
        rc = p.wait(timeout=60)
        check(rc == -sig, '%s during gnuplot: the run died of the signal (rc %d)' % (name, rc))
        check(leftovers(tmp) == [], '%s during gnuplot: no scratch left (%s)' % (name, leftovers(tmp)))
        check(os.path.isfile(os.path.join(out, 'bounds.csv')),
              '%s during gnuplot: the complete bounds.csv stays' % name)
        gp = int(open(pidfile).read()) if os.path.exists(pidfile) else 0
        alive = True
        for _ in range(100):
            try:
                os.kill(gp, 0)
                time.sleep(0.05)
            except OSError:
                alive = False
                break
        check(gp and not alive, '%s during gnuplot: gnuplot (pid %d) was stopped' % (name, gp))
finally:
    shutil.rmtree(tmp, ignore_errors=True)

finish()
