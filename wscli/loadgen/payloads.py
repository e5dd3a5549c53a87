"""Message payloads that say which message they are, so a wrong echo is caught where it is."""

from __future__ import annotations

import random
import sys

from .config import LoadConfig

__all__ = ["Payloads", "LARGE_MESSAGE", "keep_freed_memory"]

#: Messages this large make the generator keep freed memory (see keep_freed_memory).
LARGE_MESSAGE = 128 * 1024


class Payloads:
    """Builds message ``k``'s payload: what is sent, and so what must come back.

    The payload starts with ``k`` (8 bytes little-endian, or 16 hex digits for text) and
    goes on with a slice of a seeded pattern starting at ``k % 251``: consecutive messages
    differ everywhere, which catches a server that echoes stale or shifted data.
    """

    def __init__(self, config: LoadConfig) -> None:
        rng = random.Random(config.seed)
        self.binary = config.binary
        self.size_min = config.size_min
        self.size_max = config.size_max
        self.fixed = config.size_min == config.size_max
        self.sizes = random.Random(config.seed + 7919)
        length = config.size_max + 256
        if config.binary:
            self.pattern = rng.randbytes(length)
        else:
            alphabet = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ,.:{}[]"
            self.pattern = bytes(rng.choices(alphabet, k=length))
        self.view = memoryview(self.pattern)

    def make(self, k: int) -> bytes:
        """Return message ``k``'s payload (UTF-8 text unless ``binary``)."""
        size = self.size_min if self.fixed else self.sizes.randint(self.size_min, self.size_max)
        prefix = k.to_bytes(8, "little") if self.binary else b"%016x" % k
        if size <= len(prefix):
            return prefix[:size]
        offset = k % 251
        # One copy: slicing the pattern and then concatenating would make two.
        return b"".join((prefix, self.view[offset : offset + size - len(prefix)]))


def keep_freed_memory() -> bool:
    """Ask glibc to keep freed memory instead of returning it to the OS; tell if it did.

    Every large message the generator builds (a payload, its masked copy) is a fresh
    allocation. By default glibc gives big blocks back to the kernel when they are
    freed (mmap/munmap, heap trimming), so the next message pays a page fault per 4 KiB,
    which on a virtual machine costs more than the copy itself: ~1 ms per MiB measured
    here. Raising the mmap and trim thresholds keeps that memory mapped and reused.
    This changes this process only, and only on glibc; elsewhere it does nothing.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3  # from <malloc.h>
    return bool(mallopt(m_mmap_threshold, 32 * 2**20) and mallopt(m_trim_threshold, 512 * 2**20))
