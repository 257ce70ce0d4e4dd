#!/usr/bin/env python3
"""Run the package's pytest suite (bindings/python/tests) for CTest.

    run_tests.py --build BUILD_DIR [--installed] [--library PATH] [-- pytest args]

Uses the venv scripts/deps.sh makes (BUILD_DIR/python-venv: pytest,
setuptools, wheel). Without it: exit 77 (CTest SKIP), or 1 under CI=true.

Default: the package in this tree against --library (default
BUILD_DIR/libgowt.so). --installed: `pip install` a copy of this folder
into a temporary directory (bundling --library into the wheel), then run
the tests against that installed package, with GOWT_LIBRARY and GOWT_LIB
unset so that it must find its bundled library.
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--installed", action="store_true")
    ap.add_argument("--library")
    ap.add_argument("pytest_args", nargs="*")
    a = ap.parse_args()
    build = os.path.abspath(a.build)
    lib = os.path.abspath(a.library or os.path.join(build, "libgowt.so"))
    py = os.path.join(build, "python-venv", "bin", "python3")
    ok = os.access(py, os.X_OK) and subprocess.call(
        [py, "-c", "import pytest, setuptools, wheel"], stderr=subprocess.DEVNULL) == 0
    if not ok:
        msg = "%s with pytest, setuptools, wheel is missing: run scripts/deps.sh" % py
        if os.environ.get("CI") == "true":
            print("FAIL: " + msg, flush=True)
            return 1
        print("SKIP: " + msg, flush=True)
        return 77
    if not os.path.exists(lib):
        print("FAIL: %s not built" % lib, flush=True)
        return 1
    env = dict(os.environ)
    env.pop("GOWT_LIB", None)
    cmd = [py, "-m", "pytest", "-q", "-p", "no:cacheprovider", os.path.join(HERE, "tests")]
    cmd += a.pytest_args
    if not a.installed:
        env["GOWT_LIBRARY"] = lib
        return subprocess.call(cmd, env=env, cwd=HERE)
    with tempfile.TemporaryDirectory(prefix="gowt-py-") as tmp:
        src = os.path.join(tmp, "src")
        target = os.path.join(tmp, "site")
        shutil.copytree(HERE, src, ignore=shutil.ignore_patterns(
            "build", "*.egg-info", "__pycache__", ".pytest_cache"))
        rc = subprocess.call([py, "-m", "pip", "install", "-q", "--disable-pip-version-check",
                              "--no-build-isolation", "--no-deps", "--target", target, src],
                             env=dict(env, GOWT_LIBRARY=lib))
        if rc != 0:
            print("FAIL: pip install of bindings/python failed (%d)" % rc, flush=True)
            return 1
        env.pop("GOWT_LIBRARY", None)
        env["GOWT_TEST_INSTALLED"] = "1"
        env["PYTHONPATH"] = target
        cmd[-1 - len(a.pytest_args)] = os.path.join(src, "tests")
        return subprocess.call(cmd, env=env, cwd=tmp)


if __name__ == "__main__":
    sys.exit(main())
