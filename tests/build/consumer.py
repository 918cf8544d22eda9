#!/usr/bin/env python3
"""Consumer tests (suite 'build'): hypertape used by a tiny outside project.

usage: consumer.py SOURCE_ROOT {pkg-config|subproject}

pkg-config: configure a library+CLI build of SOURCE_ROOT with a temporary
  non-system prefix, `meson install` it, compile consumer/consumer_main.c
  with the README's one line
      cc prog.c $(pkg-config --cflags --libs hypertape) \
         -Wl,-rpath,$(pkg-config --variable=libdir hypertape)
  and run it, and the installed CLI, with LD_LIBRARY_PATH unset (rpath).
  Checks that the headers install only as <hypertape.h> and <hypertape/...>.
subproject: a project whose subprojects/hypertape is SOURCE_ROOT, using
  dependency('hypertape', fallback : ...); checks that only the library is
  built (no tests, benchmarks or CLI) and that the program runs.
"""
import glob
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def run(cmd, env=None, cwd=None):
    p = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit('FAIL: %s (exit %d)\n%s%s' % (' '.join(cmd), p.returncode, p.stdout, p.stderr))
    return p.stdout


def clean_env():
    env = dict(os.environ)
    env.pop('LD_LIBRARY_PATH', None)
    return env


def check_consumer(exe, env):
    out = run([exe], env=env)
    if not out.startswith('consumer ok'):
        sys.exit('FAIL: consumer printed %r' % out)
    print(out.strip())


def via_pkgconfig(src, tmp):
    prefix = os.path.join(tmp, 'prefix')
    build = os.path.join(tmp, 'build')
    run(['meson', 'setup', build, src, '--prefix', prefix, '-Dtests=disabled',
         '-Dbenchmarks=disabled', '-Dcli=enabled'])
    run(['ninja', '-C', build])
    run(['meson', 'install', '-C', build, '--no-rebuild', '--quiet'])
    inc = os.path.join(prefix, 'include')
    found = sorted(os.path.relpath(p, inc) for p in glob.glob(os.path.join(inc, '**', '*.h'),
                                                               recursive=True))
    stray = [h for h in found if not (h == 'hypertape.h' or h.startswith('hypertape/'))]
    if stray or 'hypertape/ad.h' not in found or 'hypertape/models/data.h' not in found:
        sys.exit('FAIL: installed headers %s (stray: %s)' % (found, stray))
    pcs = glob.glob(os.path.join(prefix, '**', 'pkgconfig', 'hypertape.pc'), recursive=True)
    if len(pcs) != 1:
        sys.exit('FAIL: hypertape.pc not installed once: %s' % pcs)
    env = clean_env()
    env['PKG_CONFIG_PATH'] = os.path.dirname(pcs[0])
    flags = run(['pkg-config', '--cflags', '--libs', 'hypertape'], env=env).split()
    libdir = run(['pkg-config', '--variable=libdir', 'hypertape'], env=env).strip()
    exe = os.path.join(tmp, 'consumer')
    run(['cc', '-std=c11', '-Wall', '-Werror', os.path.join(HERE, 'consumer', 'consumer_main.c'),
         '-o', exe] + flags + ['-Wl,-rpath,' + libdir, '-lm'], env=env)
    check_consumer(exe, env)
    cli = os.path.join(prefix, 'bin', 'hypertape')
    run([cli, '--help'], env=env)
    print('installed CLI runs from %s without LD_LIBRARY_PATH' % prefix)


def via_subproject(src, tmp):
    proj = os.path.join(tmp, 'proj')
    shutil.copytree(os.path.join(HERE, 'consumer'), proj)
    os.makedirs(os.path.join(proj, 'subprojects'))
    os.symlink(os.path.abspath(src), os.path.join(proj, 'subprojects', 'hypertape'))
    build = os.path.join(proj, 'build')
    run(['meson', 'setup', build, proj, '--wrap-mode=forcefallback'])
    intro = run(['meson', 'introspect', '--targets', build])
    import json
    names = sorted(t['name'] for t in json.loads(intro))
    if names != ['consumer', 'hypertape', 'hypertape-objs']:
        sys.exit('FAIL: the subproject build has targets %s (want the library only)' % names)
    run(['ninja', '-C', build, 'consumer'])
    check_consumer(os.path.join(build, 'consumer'), clean_env())
    print('subproject targets: %s' % ', '.join(names))


def main():
    if len(sys.argv) != 3 or sys.argv[2] not in ('pkg-config', 'subproject'):
        sys.exit(__doc__)
    src, mode = sys.argv[1], sys.argv[2]
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix='hypertape-consumer-') as tmp:
        (via_pkgconfig if mode == 'pkg-config' else via_subproject)(src, tmp)
    print('%s consumer: ok in %.1f s' % (mode, time.monotonic() - t0))


if __name__ == '__main__':
    main()
