"""Keep triton's private LLVM apart from the LLVM that Mesa's OpenGL brings in."""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import os
from pathlib import Path


def isolate_triton_llvm() -> None:
    """Load triton's `libtriton.so` now, resolving its symbols in itself first.

    Mesa's software OpenGL links the system `libLLVM-15.so.1` and puts it in the process's
    global symbol scope: with EGL when the first context opens (Mesa's DRI loader
    `dlopen`s `swrast_dri.so` with `RTLD_GLOBAL`), with OSMesa already at `import mujoco`
    (PyOpenGL `dlopen`s `libOSMesa.so.8` with `RTLD_GLOBAL`). triton's `libtriton.so`
    links its own, newer LLVM statically and exports it without `-Bsymbolic`, so when it
    is loaded later (torch imports triton when an optimizer first runs) its LLVM calls
    bind to Mesa's ABI-incompatible copy: its static initializers crash in
    `llvm::DebugCounter::instance()` (SIGSEGV). Loading it here with `RTLD_DEEPBIND`, in
    any order, makes it bind to its own LLVM; triton's later import reuses this copy.
    Costs about 25 ms; does nothing where triton is not installed.
    """
    deepbind = getattr(os, "RTLD_DEEPBIND", None)  # glibc only; triton needs Linux
    spec = importlib.util.find_spec("triton") if deepbind is not None else None
    if spec is None or spec.origin is None:
        return
    lib = Path(spec.origin).parent / "_C" / "libtriton.so"
    if lib.is_file():
        with contextlib.suppress(OSError):  # then triton's own import reports why
            ctypes.CDLL(str(lib), mode=os.RTLD_LOCAL | deepbind)
