"""Tests for wscli.core.masking: the C and pure-Python masks against a per-byte oracle."""

import array
import functools
import importlib.util
import itertools
import os
import random
import sys
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wscli.core import masking
from wscli.core.masking import HAVE_SPEEDUPS, _apply_mask_python, apply_mask

__all__: list[str] = []

try:
    from wscli.core._speedups import apply_mask as _apply_mask_c
except ImportError:
    _apply_mask_c = None

ApplyMask = Callable[..., bytes]

MASK = b"\x37\xfa\x21\x3d"  # RFC 6455 §5.7's example key: four distinct, high-bit bytes

NOT_BUILT = "wscli.core._speedups is not built (no compiler or WSCLI_NO_EXTENSIONS=1)"
needs_speedups = pytest.mark.skipif(_apply_mask_c is None, reason=NOT_BUILT)

IMPLEMENTATIONS = [
    pytest.param(_apply_mask_python, id="python"),
    pytest.param(_apply_mask_c, id="c", marks=needs_speedups),
]

# Each way a caller may hand over a payload; the memoryview slice mimics a parser's view.
INPUT_KINDS = [
    pytest.param(bytes, id="bytes"),
    pytest.param(bytearray, id="bytearray"),
    pytest.param(memoryview, id="memoryview"),
    pytest.param(lambda data: memoryview(b"xx" + data + b"yy")[2:-2], id="memoryview-slice"),
]


def reference_mask(data: bytes, mask: bytes, offset: int = 0) -> bytes:
    """Mask byte by byte, straight from RFC 6455 §5.3: the oracle for both implementations."""
    return bytes(byte ^ mask[(index + offset) % 4] for index, byte in enumerate(data))


@functools.cache
def payload(size: int) -> bytes:
    """Return reproducible random bytes, shared by tests of the same size."""
    return random.Random(size).randbytes(size)


@functools.cache
def expected(size: int, offset: int) -> bytes:
    """Cache the slow oracle so each implementation reuses it for large payloads."""
    return reference_mask(payload(size), MASK, offset)


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@pytest.mark.parametrize("kind", INPUT_KINDS)
@pytest.mark.parametrize("offset", range(8))
def test_small_payloads_match_reference(
    implementation: ApplyMask, kind: Callable[[bytes], object], offset: int
) -> None:
    for size in range(71):
        data = kind(payload(size))
        result = implementation(data, MASK, offset)
        assert type(result) is bytes
        assert result == expected(size, offset), f"size {size}"


# Both sides of the fallback's 1024-byte switch, odd tails for the C 8-byte loop, and 1 MiB.
@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@pytest.mark.parametrize("size", [1023, 1024, 1025, 4099, 65_537, 1 << 20, (1 << 20) + 7])
@pytest.mark.parametrize("offset", range(8))
def test_large_payloads_match_reference(implementation: ApplyMask, size: int, offset: int) -> None:
    data = payload(size)
    want = expected(size, offset)
    assert implementation(data, MASK, offset) == want
    assert implementation(bytearray(data), MASK, offset) == want
    assert implementation(memoryview(data), MASK, offset) == want


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@pytest.mark.parametrize("kind", INPUT_KINDS)
def test_empty_payload_gives_empty_bytes(
    implementation: ApplyMask, kind: Callable[[bytes], object]
) -> None:
    assert implementation(kind(b""), MASK, 3) == b""


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@pytest.mark.parametrize("offset", [-1, -4, -7, 1_000_003])
def test_offset_is_taken_modulo_4(implementation: ApplyMask, offset: int) -> None:
    data = payload(37)
    assert implementation(data, MASK, offset) == reference_mask(data, MASK, offset % 4)


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_accepts_keyword_arguments(implementation: ApplyMask) -> None:
    data = payload(9)
    assert implementation(data=data, mask=MASK, offset=2) == expected(9, 2)
    assert implementation(data, MASK) == expected(9, 0)


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@pytest.mark.parametrize("size", [5, 4099])
def test_masks_wide_items_as_raw_bytes(implementation: ApplyMask, size: int) -> None:
    items = array.array("I", payload(size * 4))
    assert implementation(memoryview(items), MASK, 1) == reference_mask(items.tobytes(), MASK, 1)


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@pytest.mark.parametrize("kind", [bytearray, memoryview])
def test_accepts_any_bytes_like_mask(
    implementation: ApplyMask, kind: Callable[[bytes], object]
) -> None:
    data = payload(2000)
    assert implementation(data, kind(MASK), 1) == expected(2000, 1)


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@pytest.mark.parametrize("size", [3, 2048])
def test_leaves_input_untouched(implementation: ApplyMask, size: int) -> None:
    data = bytearray(payload(size))
    implementation(data, MASK, 1)
    assert data == payload(size)


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@pytest.mark.parametrize("mask", [b"", b"\x01", b"\x01\x02\x03", b"\x01\x02\x03\x04\x05", bytes(8)])
def test_rejects_mask_not_4_bytes(implementation: ApplyMask, mask: bytes) -> None:
    with pytest.raises(ValueError, match=f"mask must be 4 bytes, got {len(mask)}"):
        implementation(b"payload", mask)


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@pytest.mark.parametrize("mask", [b"", b"\x01\x02\x03"])
def test_rejects_bad_mask_even_for_empty_payload(implementation: ApplyMask, mask: bytes) -> None:
    with pytest.raises(ValueError, match="mask must be 4 bytes"):
        implementation(b"", mask)


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@pytest.mark.parametrize(
    ("data", "mask", "offset"),
    [
        pytest.param("text", MASK, 0, id="str-data"),
        pytest.param(b"data", "mask", 0, id="str-mask"),
        pytest.param(b"data", 4, 0, id="int-mask"),
        pytest.param(b"data", MASK, 1.0, id="float-offset"),
    ],
)
def test_rejects_wrong_types(
    implementation: ApplyMask, data: object, mask: object, offset: object
) -> None:
    with pytest.raises(TypeError):
        implementation(data, mask, offset)


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@given(
    data=st.binary(max_size=3000),
    mask=st.binary(min_size=4, max_size=4),
    offset=st.integers(min_value=-(2**31), max_value=2**31),
)
def test_property_matches_reference_and_is_an_involution(
    implementation: ApplyMask, data: bytes, mask: bytes, offset: int
) -> None:
    masked = implementation(data, mask, offset)
    assert masked == reference_mask(data, mask, offset)
    assert implementation(masked, mask, offset) == data


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@given(
    data=st.binary(max_size=3000),
    mask=st.binary(min_size=4, max_size=4),
    cuts=st.lists(st.integers(min_value=0, max_value=3000), max_size=6),
)
def test_property_pieces_with_running_offset_equal_whole(
    implementation: ApplyMask, data: bytes, mask: bytes, cuts: list[int]
) -> None:
    # A payload split across reads, unmasked piece by piece as the protocol does it.
    bounds = [0, *sorted(min(cut, len(data)) for cut in cuts), len(data)]
    view = memoryview(data)
    pieces = [implementation(view[lo:hi], mask, lo) for lo, hi in itertools.pairwise(bounds)]
    assert b"".join(pieces) == implementation(data, mask)


def test_public_function_is_the_c_one_when_built_and_not_switched_off() -> None:
    switched_off = os.environ.get("WSCLI_NO_EXTENSIONS", "") not in ("", "0")
    assert HAVE_SPEEDUPS is (_apply_mask_c is not None and not switched_off)
    assert apply_mask is (_apply_mask_c if HAVE_SPEEDUPS else _apply_mask_python)


def test_falls_back_to_python_when_speedups_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    # Load a private copy of the module while the extension cannot be imported.
    monkeypatch.setitem(sys.modules, "wscli.core._speedups", None)
    monkeypatch.delenv("WSCLI_NO_EXTENSIONS", raising=False)
    spec = importlib.util.spec_from_file_location("_masking_without_speedups", masking.__file__)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.HAVE_SPEEDUPS is False
    assert module.apply_mask(payload(70), MASK, 5) == expected(70, 5)


@pytest.mark.skipif(
    os.environ.get("WSCLI_REQUIRE_SPEEDUPS") != "1",
    reason="set WSCLI_REQUIRE_SPEEDUPS=1 to require the C extension",
)
def test_speedups_built_when_required() -> None:
    assert HAVE_SPEEDUPS, "WSCLI_REQUIRE_SPEEDUPS=1 but " + NOT_BUILT


# -- the client's reused buffer ---------------------------------------------------------


def test_mask_buffer_reuses_its_buffer_once_the_caller_let_go() -> None:
    buffer = masking.MaskBuffer()
    data = bytes(range(256)) * 400
    first = buffer.mask(data, b"abcd")
    assert first == apply_mask(data, b"abcd")
    first_id = id(first)
    del first
    second = buffer.mask(data, b"wxyz")
    assert second == apply_mask(data, b"wxyz")
    if masking._FREE_REFERENCES > 0:  # CPython: reference counts say it is free
        assert id(second) == first_id


def test_mask_buffer_never_overwrites_what_the_caller_still_holds() -> None:
    buffer = masking.MaskBuffer()
    data = bytes(range(256)) * 400
    held = buffer.mask(data, b"abcd")
    view = memoryview(buffer.mask(data, b"efgh"))[100:]  # a view keeps it too
    third = buffer.mask(data, b"ijkl")
    assert held == apply_mask(data, b"abcd")
    assert view == apply_mask(data, b"efgh")[100:]
    assert third == apply_mask(data, b"ijkl")


def test_mask_buffer_follows_the_payload_size() -> None:
    buffer = masking.MaskBuffer()
    for size in (70000, 65536, 200000, 200000, 3):
        data = os.urandom(size)
        assert buffer.mask(data, b"\x01\x02\x03\x04") == apply_mask(data, b"\x01\x02\x03\x04")


def test_mask_buffer_keeps_nothing_past_its_limit() -> None:
    buffer = masking.MaskBuffer()
    small = os.urandom(100_000)
    buffer.mask(small, b"abcd")
    assert buffer.kept_size() == len(small)
    large = os.urandom(masking.KEEP_LIMIT + 1)
    assert buffer.mask(large, b"abcd") == apply_mask(large, b"abcd")
    assert buffer.kept_size() == 0
