"""Keep freed tensor buffers in the process instead of handing them back to the OS every step.

glibc's malloc serves a large request (above a threshold that starts at 128 KiB and
moves with use) by ``mmap`` and returns it by ``munmap``, and it trims the heap's
free top back to the kernel once 128 KiB or more is free. A meta-training step
allocates and frees activations of 1 to 25 MB (75 images x 64 channels x 28 x 28
floats is 15 MB); with the defaults many of them go back to the kernel and come
again as fresh pages that the kernel must zero on first touch. Measured on the
2-core machine, one thread, one MAML task (5-way 1-shot, 15 queries): 136 ms with
the defaults, of which about an eighth was system time, and 115 ms with the
thresholds fixed below; a plain forward + backward of 80 images went from 116 to
98 ms (BENCHMARKS.md). Resident memory then stays at the run's working set
instead of rising and falling with each step, and :func:`release_freed_memory`
gives it back when a run ends.

Setting any of these thresholds explicitly also turns off glibc's moving
threshold, so behaviour no longer depends on the order of past allocations.
Elsewhere (macOS, Windows, musl) both functions do nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

# mallopt parameter numbers (glibc <malloc.h>)
M_TRIM_THRESHOLD = -1
M_TOP_PAD = -2
M_MMAP_THRESHOLD = -3

# glibc caps the mmap threshold at 32 MiB on 64-bit (HEAP_MAX_SIZE / 2): larger requests still map
MMAP_THRESHOLD = 32 << 20
# free memory at the heap's top that may stay resident between steps
TRIM_THRESHOLD = 512 << 20
# grow the heap in larger steps (fewer brk calls while a run warms up)
TOP_PAD = 16 << 20

# META_PLAYGROUND_ALLOCATOR=default leaves glibc's defaults (for measuring the difference)
OPT_OUT = "default"

_applied: bool | None = None


def _glibc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.gnu_get_libc_version  # noqa: B018 - raises AttributeError on a non-glibc libc
        libc.mallopt
    except (OSError, AttributeError):
        return None
    return libc


def keep_freed_memory() -> bool:
    """Fix glibc's mmap and trim thresholds for this process (once); return whether they are set.

    Call it at the start of anything that trains or adapts: the CLI, the app's engine
    loader, the trainer, a helper process. Idempotent and cheap after the first call.
    """
    global _applied
    if _applied is not None:
        return _applied
    libc = None if os.environ.get("META_PLAYGROUND_ALLOCATOR", "") == OPT_OUT else _glibc()
    ok = False
    if libc is not None:
        ok = all(
            libc.mallopt(param, value) == 1
            for param, value in (
                (M_MMAP_THRESHOLD, MMAP_THRESHOLD),
                (M_TRIM_THRESHOLD, TRIM_THRESHOLD),
                (M_TOP_PAD, TOP_PAD),
            )
        )
    _applied = ok
    return ok


def release_freed_memory() -> None:
    """Return the heap's free memory to the OS (``malloc_trim``): a run has ended and the app idles."""
    if not _applied:
        return
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)
