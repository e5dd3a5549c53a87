"""XOR frame payloads with their 4-byte masking key (RFC 6455 §5.3).

A client masks every frame it sends and a server unmasks every frame it receives, so this
is the one protocol step that touches every payload byte. Masking and unmasking are the
same operation: byte ``i`` of the payload is XORed with ``mask[i % 4]``.

:func:`apply_mask` is the C function from ``wscli.core._speedups`` when that optional
extension was built (``setup.py`` skips it without a compiler or with
``WSCLI_NO_EXTENSIONS=1``) and the environment does not set ``WSCLI_NO_EXTENSIONS=1``
at import time, and :func:`_apply_mask_python` otherwise. Both return the
same bytes. The fallback avoids a per-byte Python loop, which would run at a few MB/s;
it picks one of two whole-buffer tricks by size, as measured with
``benchmarks/bench_masking.py`` on CPython 3.11:

- below ``_TRANSLATE_MIN_SIZE`` bytes, read data and repeated mask as two big integers and
  XOR them once: the fewest Python-level steps, so it wins where call overhead dominates;
- from there on, ``bytes.translate`` each of the four byte lanes (``data[i::4]``) through a
  precomputed XOR table: linear-time C loops without the big-integer conversions, 1.3 to
  2.5 times the throughput of the big-integer trick on 64 KiB to 1 MiB payloads.

The one difference between the two: the C version takes ``offset`` as a C ``ssize_t`` and
raises ``OverflowError`` past ``sys.maxsize``, far beyond any real payload.
"""

import contextlib
import importlib
import os
import sys
from collections.abc import Callable
from typing import Any

__all__ = [
    "HAVE_SPEEDUPS",
    "KEEP_LIMIT",
    "MaskBuffer",
    "PayloadBuffer",
    "PythonPayloadBuffer",
    "SPEEDUPS",
    "apply_mask",
    "new_payload",
    "random_mask",
    "unmask_into",
]

_MASK_SIZE = 4

# Measured crossover: the big-integer XOR is faster below, the translate lanes above.
_TRANSLATE_MIN_SIZE = 1024


def _build_xor_tables() -> tuple[bytes, ...]:
    """Return the 256 translation tables ``table[k][b] == b ^ k``."""
    identity = int.from_bytes(bytes(range(256)), "little")
    return tuple(
        (identity ^ int.from_bytes(bytes((key,)) * 256, "little")).to_bytes(256, "little")
        for key in range(256)
    )


_XOR_TABLES = _build_xor_tables()


def _apply_mask_python(
    data: bytes | bytearray | memoryview,
    mask: bytes | bytearray | memoryview,
    offset: int = 0,
) -> bytes:
    """XOR ``data`` with ``mask`` repeated, starting at mask byte ``offset % 4``.

    This is the pure-Python implementation behind :func:`apply_mask` when the C
    extension is missing; tests import it directly to compare both.

    Args:
        data: The payload, or a piece of it. Any contiguous bytes-like object.
        mask: The frame's 4-byte masking key.
        offset: How many bytes of this frame's payload came before ``data``, so a payload
            received in several pieces can be unmasked piece by piece. Only ``offset % 4``
            matters; negative values follow Python's modulo.

    Returns:
        The masked (or unmasked) bytes, as long as ``data``.

    Raises:
        ValueError: If ``mask`` is not exactly 4 bytes long.
        TypeError: If ``data`` or ``mask`` is not bytes-like, or ``offset`` not an integer.
    """
    if type(mask) is not bytes:
        mask = memoryview(mask).tobytes()
    if len(mask) != _MASK_SIZE:
        raise ValueError(f"mask must be 4 bytes, got {len(mask)}")
    if type(data) is not bytes and type(data) is not bytearray:
        # len() must count bytes, not items, for views with a wider format.
        data = memoryview(data).cast("B")
    size = len(data)
    if not size:
        return b""
    start = offset & 3  # same as offset % 4 for every int, negative ones included
    if start:
        mask = mask[start:] + mask[:start]

    if size < _TRANSLATE_MIN_SIZE:
        repeated = (mask * ((size + 3) >> 2))[:size]
        masked = int.from_bytes(data, "little") ^ int.from_bytes(repeated, "little")
        return masked.to_bytes(size, "little")

    # Lane i holds the payload bytes at positions i, i + 4, i + 8, … which all meet mask[i].
    result = bytearray(data)
    for lane in range(_MASK_SIZE):
        result[lane::_MASK_SIZE] = result[lane::_MASK_SIZE].translate(_XOR_TABLES[mask[lane]])
    return bytes(result)


def _unmask_into_python(
    dst: bytearray,
    offset: int,
    src: bytes | bytearray | memoryview,
    mask: bytes | None,
    mask_offset: int,
) -> None:
    """Write ``src`` unmasked (or copied, when ``mask`` is None) into ``dst[offset:]``.

    The fallback of the C ``unmask_into``: ``dst`` comes from :func:`new_payload`.

    Raises:
        ValueError: ``src`` does not fit in ``dst`` at ``offset``.
    """
    view = memoryview(src).cast("B") if type(src) is memoryview else src
    size = len(view)
    if offset < 0 or offset + size > len(dst):
        raise ValueError("src does not fit in dst at offset")
    dst[offset : offset + size] = view if mask is None else apply_mask(view, mask, mask_offset)


class _MaskPool:
    """Masks drawn from the OS's random source, 4 KiB at a time.

    RFC 6455 §5.3 asks for unpredictable masks; reading ``os.urandom`` once per frame
    would cost a system call per message, so masks are sliced from a larger read.
    """

    __slots__ = ("_pool", "_pos")

    def __init__(self) -> None:
        self._pool = b""
        self._pos = 0

    def __call__(self) -> bytes:
        pos = self._pos
        if pos + 4 > len(self._pool):
            self._pool = os.urandom(4096)
            pos = 0
        self._pos = pos + 4
        return self._pool[pos : pos + 4]


random_mask: Callable[[], bytes] = _MaskPool()


HAVE_SPEEDUPS: bool
"""Whether :func:`apply_mask` is the C implementation from ``wscli.core._speedups``."""

SPEEDUPS: Any
"""The C extension module ``wscli.core._speedups``, or None when it is not in use.

This is the one place that selects it: the other hot-path modules take their C
functions from here. ``WSCLI_NO_EXTENSIONS=1`` in the environment when wscli is first
imported makes every module use its pure-Python code, even where the extension was
built (the test suite runs once each way)."""

new_payload: Callable[[int], Any]
"""Return a writable buffer for a large payload of the given size (at least 2 bytes).

The C version returns a ``PayloadBytes``: a ``bytes`` object being filled, writable
through the buffer protocol (``sock.recv_into``, :func:`unmask_into`) until its
``take()`` hands the bytes out, without a copy, once no view of it is alive. The
fallback returns a ``bytearray`` (handed out as ``bytes``, one more copy)."""

unmask_into: Callable[[Any, int, Any, bytes | None, int], None]
"""``unmask_into(dst, offset, src, mask, mask_offset)``: write ``src`` unmasked into
``dst[offset:]``, ``dst`` being writable (from :func:`new_payload`); ``src`` may be
``dst``'s own bytes at that place, to unmask in place."""

if os.environ.get("WSCLI_NO_EXTENSIONS", "") not in ("", "0"):
    SPEEDUPS = None
else:
    try:
        SPEEDUPS = importlib.import_module("wscli.core._speedups")
    except ImportError:  # not built: no compiler, or another interpreter
        SPEEDUPS = None

if SPEEDUPS is None:
    HAVE_SPEEDUPS = False
    apply_mask = _apply_mask_python
    new_payload = bytearray
    unmask_into = _unmask_into_python
else:
    HAVE_SPEEDUPS = True
    apply_mask = SPEEDUPS.apply_mask
    if hasattr(SPEEDUPS, "PayloadBytes"):
        new_payload = SPEEDUPS.new_payload
        unmask_into = SPEEDUPS.unmask_into
    else:  # a build older than this module (the .so is built apart): fill a bytearray
        new_payload = bytearray
        unmask_into = _unmask_into_python


class PythonPayloadBuffer:
    """A large payload received, piece by piece, into the buffer the application gets.

    Two ways to fill it, in any mix: :meth:`fill` copies (and unmasks) bytes the I/O
    layer already read elsewhere, and :meth:`writable` + :meth:`received` let the I/O
    layer read from the socket straight into the payload (``sock.recv_into``), which
    is then unmasked in place. With the C extension, the buffer is the ``bytes``
    object :meth:`payload` returns: one copy from the kernel, none in user space. The
    fallback fills a ``bytearray`` and converts it at the end (one more copy).

    :data:`PayloadBuffer` is this class, or with the C extension its C version
    (``_speedups.PayloadBuffer``): the same steps without the Python around them,
    which ran on every wake-up of a large transfer.

    Args:
        size: the payload's length, from the frame header (at least 2 bytes).
        mask: the frame's masking key, or None for an unmasked frame.
    """

    __slots__ = ("_buffer", "_mask", "_window", "filled", "remaining")

    def __init__(self, size: int, mask: bytes | None) -> None:
        self._buffer = new_payload(size)
        self._mask = mask
        self._window: memoryview | None = None
        #: Bytes written so far, and bytes still expected.
        self.filled = 0
        self.remaining = size

    def fill(self, data: bytes | bytearray | memoryview, pos: int) -> int:
        """Take what belongs to the payload from ``data[pos:]``; return the position after it.

        Raises:
            ValueError: ``pos`` is outside ``data``.
        """
        self._close_window()
        with memoryview(data) as whole, whole.cast("B") as view:
            if not 0 <= pos <= len(view):
                raise ValueError("pos out of range")
            take = min(len(view) - pos, self.remaining)
            with view[pos : pos + take] as piece:
                unmask_into(self._buffer, self.filled, piece, self._mask, self.filled)
        self.filled += take
        self.remaining -= take
        return pos + take

    def writable(self) -> memoryview:
        """Return a writable view of the bytes still expected, to read into.

        Call :meth:`received` with how many bytes were written there before anything
        else; that (or :meth:`fill`, or :meth:`payload`) releases the view, so no
        writer can outlive the moment the payload is handed out.
        """
        window = self._window
        if window is None:
            window = self._window = memoryview(self._buffer)[self.filled :]
        return window

    def received(self, size: int) -> int:
        """Account for ``size`` bytes written at the start of :meth:`writable`'s view.

        They are unmasked in place. Returns how many bytes are still expected.

        Raises:
            ValueError: no view is out, or ``size`` is negative or more than it holds.
        """
        window = self._window
        if window is None or not 0 <= size <= len(window):
            raise ValueError(f"received {size} bytes into no view or past its end")
        if self._mask is not None and size:
            with window[:size] as piece:
                unmask_into(self._buffer, self.filled, piece, self._mask, self.filled)
        self._close_window()
        self.filled += size
        self.remaining -= size
        return self.remaining

    def _close_window(self) -> None:
        window = self._window
        if window is not None:
            self._window = None
            # It fails only while the view is being written to (held by a call in
            # progress): then payload() hands out a copy.
            with contextlib.suppress(BufferError):
                window.release()

    def payload(self) -> bytes:
        """Return the whole payload, once :attr:`remaining` is 0; only once.

        Raises:
            ValueError: the payload is not complete.
        """
        if self.remaining:
            raise ValueError(f"payload incomplete: {self.remaining} bytes missing")
        self._close_window()
        buffer = self._buffer
        if type(buffer) is bytearray:
            return bytes(buffer)
        try:
            payload: bytes = buffer.take()
        except BufferError:
            # A view someone made of the buffer is still alive: hand out a copy, so
            # nothing that writes through it can change the bytes the caller gets.
            with memoryview(buffer) as view:
                payload = view.tobytes()
        return payload


PayloadBuffer: type[PythonPayloadBuffer] = getattr(SPEEDUPS, "PayloadBuffer", PythonPayloadBuffer)
"""``PayloadBuffer(size, mask)``: :class:`PythonPayloadBuffer`, or its C version."""


#: The largest buffer a MaskBuffer keeps between messages (bytes).
KEEP_LIMIT = 4 * 1024 * 1024


class MaskBuffer:
    """The one buffer a client masks its large payloads into, reused once it is free.

    Masking a 1 MiB payload into a new object each time costs an allocation (and, for
    a fresh mapping, its page faults) per message. The masked payload goes to the I/O
    layer, which holds it until written; when it lets go, only this object refers to
    the buffer, and the next payload of the same size is masked into it. While it is
    still held, a new object is returned instead. Memory: one buffer, the size of
    the last large payload masked, for the connection's lifetime, and never more than
    :data:`KEEP_LIMIT`: a client that once sent 500 MiB must not hold 500 MiB while it
    idles. Past that size the allocation is small next to the copy anyway.
    """

    __slots__ = ("_buffer",)

    def __init__(self) -> None:
        self._buffer: bytearray | None = None

    def mask(self, data: bytes | bytearray | memoryview, mask: bytes) -> bytes | bytearray:
        """Return ``data`` XORed with ``mask``; read-only to the caller, which lets go
        of it once written."""
        buffer = self._buffer
        if buffer is not None and (_FREE_REFERENCES < 0 or self._references() > _FREE_REFERENCES):
            return apply_mask(data, mask)
        size = memoryview(data).nbytes
        if size > KEEP_LIMIT:
            self._buffer = None
            return apply_mask(data, mask)
        if buffer is None or len(buffer) != size:
            buffer = self._buffer = bytearray(size)
        unmask_into(buffer, 0, data, mask, 0)
        return buffer

    def kept_size(self) -> int:
        """How many bytes this object keeps between messages."""
        return 0 if self._buffer is None else len(self._buffer)

    def _references(self) -> int:
        """The buffer's reference count, counted exactly as mask() does."""
        buffer = self._buffer
        return sys.getrefcount(buffer)


def _count_free_references() -> int:
    """What MaskBuffer._references says while nothing but mask() holds the buffer."""
    probe = MaskBuffer()
    probe._buffer = bytearray(1)
    buffer = probe._buffer  # mask()'s own local, as there
    references = probe._references()
    del buffer
    return references


# Where sys.getrefcount does not exist (not CPython), the buffer is never reused.
_FREE_REFERENCES = _count_free_references() if hasattr(sys, "getrefcount") else -1
