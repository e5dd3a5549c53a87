"""XOR frame payloads with their 4-byte masking key (RFC 6455 §5.3).

A client masks every frame it sends and a server unmasks every frame it receives, so this
is the one protocol step that touches every payload byte. Masking and unmasking are the
same operation: byte ``i`` of the payload is XORed with ``mask[i % 4]``.

:func:`apply_mask` is the C function from ``wscli.core._speedups`` when that optional
extension was built (``setup.py`` skips it without a compiler or with
``WSCLI_NO_EXTENSIONS=1``), and :func:`_apply_mask_python` otherwise. Both return the
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

__all__ = ["HAVE_SPEEDUPS", "apply_mask"]

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


HAVE_SPEEDUPS: bool
"""Whether :func:`apply_mask` is the C implementation from ``wscli.core._speedups``."""

try:
    from wscli.core._speedups import (  # type: ignore[import-not-found, unused-ignore]
        apply_mask as _apply_mask_c,
    )
except ImportError:  # not built: no compiler, WSCLI_NO_EXTENSIONS=1, or another interpreter
    HAVE_SPEEDUPS = False
    apply_mask = _apply_mask_python
else:
    HAVE_SPEEDUPS = True
    apply_mask = _apply_mask_c
