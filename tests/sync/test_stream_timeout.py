"""``ws.stream(timeout=...)``: a fragmented message never waits forever for a stalled peer."""

from __future__ import annotations

import pytest

import wscli

from .conftest import TIMEOUT


def test_stream_write_times_out_and_fails_the_message_with_1011() -> None:
    server = wscli.Server("127.0.0.1", 0, close_timeout=0.5)  # it never reads the close
    server.on("connection", lambda ws, request: ws.pause())
    ws = wscli.connect(server.url, write_limit=2**16, open_timeout=TIMEOUT, close_timeout=0.5)
    try:
        chunk = b"x" * 2**16
        with pytest.raises(TimeoutError), ws.stream(binary=True, timeout=0.2) as stream:
            for _ in range(2048):  # at most 128 MiB; the socket buffers fill long before
                stream.write(chunk)
        assert ws.ready_state != ws.OPEN  # failed: the peer never gets part of it as all
        assert ws.wait_closed(TIMEOUT)
        assert ws.close_code in (1006, 1011)
    finally:
        ws.terminate()
        server.close(timeout=TIMEOUT)
