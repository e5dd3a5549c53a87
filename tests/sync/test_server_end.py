"""The server's end of a connection is a whole ``WebSocket``.

It is built from an accepted socket rather than an address, through the construction
path both ends share, so every attribute the client documents is there on it too, with
the value that fits an end that connects nowhere and follows no redirect.
"""

from __future__ import annotations

import queue

import wscli

from .conftest import TIMEOUT


def test_the_server_end_is_a_websocket_with_every_documented_attribute() -> None:
    server = wscli.Server("127.0.0.1", 0)
    ends: queue.Queue[wscli.WebSocket] = queue.Queue()
    server.on("connection", lambda ws: ends.put(ws))
    try:
        with wscli.connect(server.url) as first, wscli.connect(server.url) as second:
            one, two = ends.get(timeout=TIMEOUT), ends.get(timeout=TIMEOUT)
            assert isinstance(one, wscli.WebSocket)
            assert one.is_server and not first.is_server
            assert one.redirects == [] and two.redirects == []
            assert one.redirects is not two.redirects  # each end owns its list
            assert first.redirects == [first.url]
            assert (one.follow_redirects, one.max_redirects) == (False, 0)
            assert not one.allow_insecure_redirect and not one.location_trusted
            # It opened nothing itself: no phase to report, and no error reading them.
            assert all(value is None for value in one.timings.as_dict().values())
            assert first.timings.upgrade is not None
            one.send("hello")
            assert first.recv(TIMEOUT) == "hello"
            two.send("to the second")
            assert second.recv(TIMEOUT) == "to the second"
    finally:
        server.close(timeout=TIMEOUT)
