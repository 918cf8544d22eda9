#!/usr/bin/env python3
"""Hostile input and reproducibility (issue 19): finite but extreme feature
values give exit 3 with the stop reasons in the JSON; under a memory limit
(RLIMIT_AS, as `ulimit -v`) a file too big for it gives a clean error (exit
1 for out of memory, 2 or 3 otherwise; one line on stderr; nothing on
stdout), never a truncated success; the same command with the same
--threads gives the same JSON apart from "seconds".
  cli_limits.py HYPERTAPE"""
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile

from clitest import TRAIN, VAL, check, finish, run

cli = os.path.abspath(sys.argv[1])
ENV = dict(os.environ, OPENBLAS_NUM_THREADS='1')  # OpenBLAS's per-thread buffers need address space


def limited(mb):
    def pre():
        resource.setrlimit(resource.RLIMIT_AS, (mb << 20, mb << 20))
    return pre


def run_limited(args, mb):
    p = subprocess.run(args, preexec_fn=limited(mb), env=ENV, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=300)
    return p.returncode, p.stdout.decode('utf-8', 'replace'), p.stderr.decode('utf-8', 'replace')


tmp = tempfile.mkdtemp(prefix='hypertape-limits-')
try:
    rng = random.Random(1)
    # --- #9: finite values of 1e200: exit 3, the status and stop reasons in the JSON.
    big = os.path.join(tmp, 'big.svm')
    with open(big, 'w') as f:
        for i in range(40):
            f.write('%d %s\n' % (1 if i % 2 else -1, ' '.join(
                '%d:%.6g' % (j + 1, rng.uniform(-1, 1) * 1e200) for j in range(5))))
    for method in ('ift-cg', 'exact', 'shine'):
        tag = '1e200 features, %s' % method
        rc, out, err = run([cli, 'hypergrad', '--train', big, '--val', big, '--method', method,
                            '--json', '--quiet'])
        check(rc == 3, '%s: exit 3 (got %d, %r)' % (tag, rc, err[-300:]))
        check(len(err.splitlines()) == 1, '%s: one line on stderr (%r)' % (tag, err))
        try:
            obj = json.loads(out)
        except ValueError:
            obj = {}
        check(out.count('\n') == 1 and obj, '%s: one JSON object on stdout (%r)' % (tag, out[:200]))
        check(obj.get('status') in ('nonfinite', 'not-converged'),
              '%s: "status" says why (%r)' % (tag, obj.get('status')))
        check('inner_stop' in obj and 'linear_stop' in obj and obj.get('inner_stop') is not None,
              '%s: the stop reasons are there (%r, %r)' % (tag, obj.get('inner_stop'), obj.get('linear_stop')))
        h = obj.get('hypergradient')
        check(h is None or all(v is None or abs(v) < float('inf') for v in h),
              '%s: no non-finite number printed as one' % tag)

    # --- resource limits: files that need more memory than allowed.
    wide = os.path.join(tmp, 'wide.svm')  # 3e6 features: dense p-vectors of 24 MB each
    with open(wide, 'w') as f:
        for i in range(20):
            f.write('%d 1:0.5 %d:1\n' % (1 if i % 2 else -1, 3000000 + i))
    long_ = os.path.join(tmp, 'long.svm')  # 100,000 x 40 entries, 33 MB of text
    line = ' '.join('%d:%.3f' % (j + 1, rng.random()) for j in range(40))
    with open(long_, 'w') as f:
        for i in range(100000):
            f.write('%d %s\n' % (1 if i % 2 else -1, line))
    cases = [('wide file, scalar', [cli, 'hypergrad', '--train', wide, '--val', wide], 200),
             ('wide file, per-feature', [cli, 'hypergrad', '--train', wide, '--val', wide, '--reg',
                                         'per-feature'], 200),
             ('long file', [cli, 'hypergrad', '--train', long_, '--val', VAL,
                            '--method', 'ift-identity'], 60)]
    for tag, args, mb in cases:
        for extra in (['--json', '--quiet'], []):
            t = '%s under %d MB%s' % (tag, mb, ' --json' if extra else '')
            rc, out, err = run_limited(args + extra, mb)
            check(rc in (1, 2, 3), '%s: a clean error exit (got %d, %r)' % (t, rc, err[-300:]))
            errs = [l for l in err.splitlines() if not l.startswith('[hypergrad]')]  # progress
            check(len(errs) == 1 and errs[0].startswith('hypertape hypergrad:'),
                  '%s: one error line on stderr (%r)' % (t, err[-300:]))
            check(not extra or len(err.splitlines()) == 1, '%s: only it with --quiet' % t)
            check(rc != 1 or 'out of memory' in err, '%s: exit 1 says out of memory (%r)' % (t, err))
            check(out == '', '%s: no result on stdout (%r)' % (t, out[:200]))
    # The same runs without the limit succeed: the limit, not the file, failed them.
    rc, out, err = run([cli, 'hypergrad', '--train', long_, '--val', VAL, '--method',
                        'ift-identity', '--json', '--quiet'])
    check(rc in (0, 3) and json.loads(out or '{}').get('hypergradient'),
          'long file without a limit: a result (rc %d, %r)' % (rc, err[-200:]))

    # --- determinism: same command, same --threads: the same JSON but "seconds".
    def strip(out):
        obj = json.loads(out)
        obj.pop('seconds', None)
        return obj

    HG = [cli, 'hypergrad', '--train', TRAIN, '--val', VAL, '--json', '--quiet']
    runs = [(HG + ['--reg', 'per-feature', '--lambda', '-2'], 'logreg per-feature ift-cg'),
            (HG + ['--method', 'unroll', '--iters', '200'], 'logreg unroll'),
            ([cli, 'hypergrad', '--problem', 'lstsq', '--rows', '2000', '--p', '40', '--m', '30',
              '--method', 'ift-cg', '--json', '--quiet'], 'lstsq ift-cg')]
    for args, tag in runs:
        for threads in ('1', '2'):
            a = args + ['--threads', threads]
            outs = [run(a) for _ in range(3)]
            ok = all(o[0] == 0 for o in outs)
            check(ok, '%s --threads %s: exit 0 (%s)' % (tag, threads, [o[0] for o in outs]))
            if ok:
                objs = [strip(o[1]) for o in outs]
                check(objs[0] == objs[1] == objs[2],
                      '%s --threads %s: three runs give identical JSON apart from "seconds"'
                      % (tag, threads))
                check('seconds' in json.loads(outs[0][1]), '%s: "seconds" is there' % tag)
finally:
    shutil.rmtree(tmp, ignore_errors=True)

finish()
