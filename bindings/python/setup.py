"""The build step of the telepathine package: compiles the Go shared library
into the package (telepathine/_lib/libtelepathine.so) and the small C
extension module of set() (telepathine/_speedups, optional), and makes the
wheel platform-specific. Everything else is declared in pyproject.toml.

Where the library comes from, in order:

1. TELEPATHINE_LIB=/path/to/libtelepathine.so: that file, prebuilt, is
   copied in (no Go needed).
2. TELEPATHINE_SRC=/path/to/repository: built there with
   ``go build -buildmode=c-shared ./cgo``.
3. Otherwise the repository is found by walking up from this directory to
   the go.mod of github.com/telepathine/telepathine, which is what
   ``pip install ./bindings/python`` (an in-tree build) sees.
4. Otherwise gosrc/ beside this file: the Go sources an sdist carries
   (``make python-dist`` copies them in), so ``pip install
   telepathine-X.tar.gz`` builds anywhere Go is installed.

The Go toolchain is the ``go`` on PATH, or the one named by GO.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

from setuptools import Distribution, Extension, setup
from setuptools.command.bdist_wheel import bdist_wheel
from setuptools.command.build_ext import build_ext
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
MODULE = "github.com/telepathine/telepathine"
LIB_NAME = "libtelepathine.so"


def _repo_root() -> Path:
    env = os.environ.get("TELEPATHINE_SRC")
    if env:
        root = Path(env).resolve()
        if not (root / "cgo").is_dir():
            sys.exit(f"telepathine: TELEPATHINE_SRC={env} holds no cgo/ directory")
        return root
    for d in [HERE, *HERE.parents]:
        gomod = d / "go.mod"
        if gomod.is_file() and f"module {MODULE}" in gomod.read_text(encoding="utf-8", errors="replace"):
            return d
    if (HERE / "gosrc" / "go.mod").is_file():
        return HERE / "gosrc"
    sys.exit(
        "telepathine: cannot find the Go sources of the library (no go.mod of "
        f"{MODULE} above {HERE}). Build from the repository (pip install ./bindings/python), "
        "or set TELEPATHINE_SRC to the repository, or TELEPATHINE_LIB to a built libtelepathine.so."
    )


def build_library(target: Path) -> None:
    """Puts libtelepathine.so at target."""
    target.parent.mkdir(parents=True, exist_ok=True)
    prebuilt = os.environ.get("TELEPATHINE_LIB")
    if prebuilt:
        print(f"telepathine: copying the prebuilt library {prebuilt}", file=sys.stderr)
        shutil.copyfile(prebuilt, target)
        return
    root = _repo_root()
    go = os.environ.get("GO") or shutil.which("go")
    if not go:
        sys.exit("telepathine: building the library needs Go (https://go.dev/dl/) on PATH, or TELEPATHINE_LIB")
    cmd = [go, "build", "-trimpath", "-buildmode=c-shared", "-o", str(target), "./cgo"]
    print(f"telepathine: {' '.join(cmd)} (in {root})", file=sys.stderr)
    env = dict(os.environ, CGO_ENABLED="1")
    subprocess.run(cmd, cwd=root, env=env, check=True)
    # cgo writes its own header beside the library; the contract is the
    # hand-written cgo/telepathine.h, which the package does not need.
    target.with_suffix(".h").unlink(missing_ok=True)


class BuildPy(build_py):
    """build_py, then the shared library into the built package (into the
    source tree for editable installs)."""

    def run(self) -> None:
        super().run()
        if self.editable_mode:
            base = HERE / "src"
        else:
            base = Path(self.build_lib).resolve()
        build_library(base / "telepathine" / "_lib" / LIB_NAME)


# Peer.set() in C (src/telepathine/_speedups.c), limited API of CPython
# 3.10 (one abi3 wheel for every later CPython). Optional: where it cannot
# be built (no C compiler or Python headers, another implementation), the
# package works through ctypes alone.
SPEEDUPS = Extension(
    "telepathine._speedups",
    ["src/telepathine/_speedups.c"],
    py_limited_api=True,
    define_macros=[("Py_LIMITED_API", "0x030A0000")],
    extra_compile_args=["-O2", "-Wall", "-Werror"],
    # The module calls nothing of libc itself, so a linker that drops
    # unused libraries (--as-needed) would leave it without a libc
    # dependency, and auditwheel cannot then tell which libc it targets.
    extra_link_args=["-Wl,--no-as-needed", "-lc"],
    optional=True,
)


class BuildExt(build_ext):
    """build_ext without the run-time search paths some CPython builds put
    in their link command (pyenv's: -Wl,-rpath,<its prefix>/lib): the
    module needs no library there, and a wheel should not name directories
    of the machine that built it."""

    def build_extensions(self) -> None:
        linker = getattr(self.compiler, "linker_so", None)
        if isinstance(linker, list):
            self.compiler.linker_so = [a for a in linker if not a.startswith("-Wl,-rpath")]
        super().build_extensions()


class BinaryDistribution(Distribution):
    """The package holds a native library: the wheel is platform-specific
    and installs into platlib."""

    def has_ext_modules(self) -> bool:
        return True


class BdistWheel(bdist_wheel):
    """A wheel for this platform and CPython 3.10 or later (the stable ABI
    of the _speedups module); under another implementation, which builds
    no extension, any Python 3 (the library is loaded by ctypes)."""

    def get_tag(self) -> tuple[str, str, str]:
        _, _, plat = super().get_tag()
        if platform.python_implementation() == "CPython":
            return "cp310", "abi3", plat
        return "py3", "none", plat


setup(
    distclass=BinaryDistribution,
    cmdclass={"build_py": BuildPy, "build_ext": BuildExt, "bdist_wheel": BdistWheel},
    ext_modules=[SPEEDUPS] if platform.python_implementation() == "CPython" else [],
)
