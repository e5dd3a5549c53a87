"""``listen -H`` sets a response header: one that wscli writes anyway is replaced, not doubled.

Two ``Server`` or ``Date`` lines would leave a client to guess which one counts (RFC
7230 §3.2.2 allows a repeat only for list headers).
"""

from __future__ import annotations

from typing import Any

from .test_listen import connect_when_ready, listen


def test_a_default_header_given_with_h_is_replaced() -> None:
    def scenario(url: str) -> Any:
        ws = connect_when_ready(url)
        headers = ws.response.headers
        seen = (headers.get_all("Server"), headers.get_all("X-Extra"), headers.get_all("Date"))
        ws.close()
        return seen

    _, (server, extra, date) = listen(scenario, "-H", "server: mine", "-H", "X-Extra: 1")
    assert server == ["mine"]
    assert extra == ["1"]
    assert len(date) == 1  # untouched defaults stay
