"""``wscli listen`` agrees only to the subprotocols it was given with ``-s``.

A server that says yes to a subprotocol it does not speak tells the client a promise it
cannot keep (RFC 6455 §4.2.2: the server selects one it is ready to use, or none).
"""

from __future__ import annotations

from typing import Any

from .test_listen import connect_when_ready, listen


def offered_and_chosen(*args: str) -> tuple[str | None, str | None]:
    def scenario(url: str) -> Any:
        ws = connect_when_ready(url, protocols=["chat.v2", "chat.v1"])
        answer = ws.response.headers.get("Sec-WebSocket-Protocol")
        chosen = ws.subprotocol
        ws.close()
        return answer, chosen

    _, result = listen(scenario, *args)
    return result  # type: ignore[no-any-return]


def test_without_s_no_subprotocol_is_chosen() -> None:
    assert offered_and_chosen() == (None, None)


def test_with_s_the_first_of_ours_that_the_client_offers_is_chosen() -> None:
    assert offered_and_chosen("-s", "chat.v1", "-s", "chat.v2") == ("chat.v1", "chat.v1")
