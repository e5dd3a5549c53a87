"""Measure RFC 6455 masking throughput: C extension, pure-Python fallback, plain copy.

Run it against the code you want to measure, e.g. from the repository root after
``python setup.py build_ext --inplace``::

    PYTHONPATH=. python benchmarks/bench_masking.py

Every implementation masks the same buffer with the same offset in the same run. A plain
``bytes(memoryview)`` copy of that buffer is the yardstick: masking must at least read and
write every byte, so "x copy" says how close each one gets to the memory bandwidth limit.

Large-buffer figures depend on the allocator as much as on the code: with glibc, the pure
Python fallback at 1 MiB runs about twice as fast once ``malloc`` has raised its mmap
threshold (after some larger buffer was freed) as in a fresh process, where each
temporary buffer is a new mmap with fresh page faults. Compare figures from one run.
"""

import argparse
import os
import platform
import sys
import timeit
from collections.abc import Callable

from wscli.core import masking

__all__ = ["main", "measure"]

DEFAULT_SIZES = [64, 1 << 20]
MASK = b"\x37\xfa\x21\x3d"


def measure(function: Callable[..., bytes], args: tuple[object, ...], repeat: int) -> float:
    """Return the best time in seconds for one call, over ``repeat`` timing runs.

    The best run is the least disturbed by the rest of the machine, so it is the
    fairest figure to compare implementations with.
    """
    timer = timeit.Timer("function(*args)", globals={"function": function, "args": args})
    number, _ = timer.autorange()
    return min(timer.repeat(repeat=repeat, number=number)) / number


def format_size(size: int) -> str:
    """Return ``size`` in bytes as a short label such as ``64 B`` or ``1 MiB``."""
    for unit, scale in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= scale and size % scale == 0:
            return f"{size // scale} {unit}"
    return f"{size} B"


def main(argv: list[str] | None = None) -> None:
    """Print one row per buffer size: MB/s of each implementation and its ratio to a copy."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes",
        type=int,
        nargs="+",
        default=DEFAULT_SIZES,
        help="buffer sizes in bytes (default: 64 and 1048576)",
    )
    parser.add_argument("--repeat", type=int, default=7, help="timing runs per figure")
    options = parser.parse_args(argv)

    implementations: dict[str, Callable[..., bytes] | None] = {"C": None}
    if masking.HAVE_SPEEDUPS:
        implementations["C"] = masking.apply_mask
    implementations["Python"] = masking._apply_mask_python

    print(f"{platform.python_implementation()} {platform.python_version()} on {platform.machine()}")
    print(f"wscli.core.masking from {masking.__file__}; C speedups: {masking.HAVE_SPEEDUPS}")
    print("MB/s = 10**6 bytes per second, best of", options.repeat, "runs; offset 1")
    print()
    columns = [f"{name + ' MB/s':>12} {'x copy':>7}" for name in implementations]
    print(f"{'size':>9}  {'  '.join(columns)}  {'copy MB/s':>12}")

    for size in options.sizes:
        data = os.urandom(size)
        copy_seconds = measure(bytes, (memoryview(data),), options.repeat)
        cells = []
        for function in implementations.values():
            if function is None:
                cells.append(f"{'n/a':>12} {'':>7}")
                continue
            seconds = measure(function, (data, MASK, 1), options.repeat)
            cells.append(f"{size / seconds / 1e6:>12.1f} {copy_seconds / seconds:>6.3f}x")
        print(f"{format_size(size):>9}  {'  '.join(cells)}  {size / copy_seconds / 1e6:>12.1f}")
    if not masking.HAVE_SPEEDUPS:
        print(
            "\nC column empty: build it with `python setup.py build_ext --inplace`", file=sys.stderr
        )


if __name__ == "__main__":
    main()
