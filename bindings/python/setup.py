"""Build hook: put libgowt into the wheel (gowt/_lib/libgowt.so.0).

The library bundled is, in this order: the file $GOWT_LIBRARY (or $GOWT_LIB)
names; the source tree's build/libgowt.so; none when the system has one
(ctypes.util.find_library("gowt"), e.g. after `cmake --install`); else it is
built in the source tree with CMake (cmake -S ../.. -B ../../build; needs
Go, CMake and a C compiler). Set GOWT_BUNDLE=0 to never bundle (the package
then uses GOWT_LIBRARY / the system's library at run time).
"""

import ctypes.util
import os
import shutil
import subprocess

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.dist import Distribution

HERE = os.path.dirname(os.path.abspath(__file__))
TREE = os.path.normpath(os.path.join(HERE, "..", ".."))


def find_or_build_library():
    for var in ("GOWT_LIBRARY", "GOWT_LIB"):
        if os.environ.get(var):
            path = os.environ[var]
            if not os.path.exists(path):
                raise SystemExit("gowt: %s=%s does not exist" % (var, path))
            return path
    tree_lib = os.path.join(TREE, "build", "libgowt.so")
    if os.path.exists(tree_lib):
        return tree_lib
    if ctypes.util.find_library("gowt"):
        return None  # the system's, found at run time
    if not os.path.exists(os.path.join(TREE, "CMakeLists.txt")):
        raise SystemExit("gowt: no libgowt found: set GOWT_LIBRARY to libgowt.so, "
                         "install it, or build from the gowt source tree")
    build = os.path.join(TREE, "build")
    gen = ["-G", "Ninja"] if shutil.which("ninja") else []
    subprocess.check_call(["cmake", "-S", TREE, "-B", build, "-DCMAKE_BUILD_TYPE=Release"] + gen)
    subprocess.check_call(["cmake", "--build", build, "--target", "gowt_go"])
    return tree_lib


class BuildPy(build_py):
    def run(self):
        super().run()
        if os.environ.get("GOWT_BUNDLE", "1") == "0":
            return
        lib = find_or_build_library()
        if lib is None:
            return
        dest = os.path.join(self.build_lib, "gowt", "_lib")
        os.makedirs(dest, exist_ok=True)
        shutil.copyfile(os.path.realpath(lib), os.path.join(dest, "libgowt.so.0"))


class BinaryDistribution(Distribution):
    """The wheel carries a native library: a platform wheel, not py3-none-any."""

    def has_ext_modules(self):
        return os.environ.get("GOWT_BUNDLE", "1") != "0"


setup(cmdclass={"build_py": BuildPy}, distclass=BinaryDistribution)
