"""Measure the frame codec alone: parse + unmask, and serialize + mask, in MB/s.

Run from the repository root::

    python benchmarks/bench_codec.py [--sizes 32 1024 65536 1048576]

Both directions go through each library's sans-I/O protocol object, so they include what
a real connection pays per message (header parsing, validation, the event objects), not
only the XOR loop:

* **parse + unmask**: a server-side protocol fed a buffer of masked binary frames,
  then asked for its events;
* **serialize + mask**: a client-side protocol asked to send binary messages, then for
  the bytes to write.

A plain copy of the same payload bytes (``bytes(memoryview)``) is the yardstick: any codec
must at least read and write every byte, so "x copy" says how close it gets to memory
bandwidth. ``websockets`` runs in the same process, on the same buffers, in the same run.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import timeit
from collections.abc import Callable

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from wscli.core.frames import encode_frame  # noqa: E402
from wscli.core.masking import HAVE_SPEEDUPS  # noqa: E402
from wscli.core.protocol import Protocol, Side  # noqa: E402

__all__ = ["main", "measure", "codec_table"]

DEFAULT_SIZES = [32, 1024, 65536, 1 << 20]
MASK = b"\x37\xfa\x21\x3d"
BATCH_BYTES = 256 * 1024  # small frames are parsed in batches, as a socket read delivers them


def measure(function: Callable[[], object], repeat: int = 5) -> float:
    """Return the best time in seconds for one call, over ``repeat`` timing runs."""
    timer = timeit.Timer(function)
    number, _ = timer.autorange()
    return min(timer.repeat(repeat=repeat, number=number)) / number


def _wscli_parse(frames: bytes, count: int) -> Callable[[], object]:
    proto = Protocol(Side.SERVER, max_size=None)

    def run() -> object:
        proto.receive_data(frames)
        events = proto.events_received()
        assert len(events) == count
        return events

    return run


def _wscli_serialize(payload: bytes, count: int) -> Callable[[], object]:
    proto = Protocol(Side.CLIENT, max_size=None)

    def run() -> object:
        for _ in range(count):
            proto.send_binary(payload)
        return proto.data_to_send()

    return run


def _websockets_parse(frames: bytes, count: int) -> Callable[[], object] | None:
    try:
        from websockets.protocol import Protocol as WSProtocol
        from websockets.protocol import Side as WSSide
    except ImportError:
        return None
    proto = WSProtocol(WSSide.SERVER, max_size=None)

    def run() -> object:
        proto.receive_data(frames)
        events = proto.events_received()
        assert len(events) == count
        return events

    return run


def _websockets_serialize(payload: bytes, count: int) -> Callable[[], object] | None:
    try:
        from websockets.protocol import Protocol as WSProtocol
        from websockets.protocol import Side as WSSide
    except ImportError:
        return None
    proto = WSProtocol(WSSide.CLIENT, max_size=None)

    def run() -> object:
        for _ in range(count):
            proto.send_binary(payload)
        return proto.data_to_send()

    return run


def codec_table(sizes: list[int], repeat: int = 5) -> list[dict[str, object]]:
    """Return one row per payload size: MB/s of every implementation and of a copy."""
    rows = []
    for size in sizes:
        payload = os.urandom(size)
        count = max(1, BATCH_BYTES // (size + 14))
        frames = encode_frame(2, payload, mask=MASK) * count
        total = size * count
        view = memoryview(payload * count)
        copy = measure(lambda view=view: bytes(view), repeat)  # type: ignore[misc]
        row: dict[str, object] = {"size": size, "copy": total / copy / 1e6}
        for name, factory in (
            ("wscli parse", _wscli_parse(frames, count)),
            ("websockets parse", _websockets_parse(frames, count)),
            ("wscli serialize", _wscli_serialize(payload, count)),
            ("websockets serialize", _websockets_serialize(payload, count)),
        ):
            if factory is not None:
                row[name] = total / measure(factory, repeat) / 1e6
        rows.append(row)
    return rows


def format_size(size: int) -> str:
    """``32 B``, ``1 KiB``, ``1 MiB``."""
    for unit, scale in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= scale and size % scale == 0:
            return f"{size // scale} {unit}"
    return f"{size} B"


def markdown(rows: list[dict[str, object]]) -> str:
    """Render :func:`codec_table` rows as a Markdown table."""
    lines = [
        "| payload | wscli parse+unmask | websockets parse+unmask | wscli serialize+mask "
        "| websockets serialize+mask | memory copy |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        copy = float(row["copy"])  # type: ignore[arg-type]

        def cell(name: str, copy: float = copy, row: dict[str, object] = row) -> str:
            value = row.get(name)
            if value is None:
                return "n/a"
            mbps = float(value)  # type: ignore[arg-type]
            return f"{mbps:,.0f} MB/s ({mbps / copy:.2f}x copy)"

        lines.append(
            f"| {format_size(int(row['size']))} | {cell('wscli parse')} "  # type: ignore[call-overload]
            f"| {cell('websockets parse')} | {cell('wscli serialize')} "
            f"| {cell('websockets serialize')} | {copy:,.0f} MB/s |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Print the codec table for the given payload sizes."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=DEFAULT_SIZES)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    print(
        f"# frame codec, Python {platform.python_version()}, "
        f"wscli C masking: {'yes' if HAVE_SPEEDUPS else 'no'}"
    )
    print(markdown(codec_table(args.sizes, args.repeat)))


if __name__ == "__main__":
    main()
