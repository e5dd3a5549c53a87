"""``wscli listen`` agrees only to the subprotocols it was given with ``-s``.

A server that says yes to a subprotocol it does not speak tells the client a promise it
cannot keep (RFC 6455 §4.2.2: the server selects one it is ready to use, or none).
"""

from __future__ import annotations

from typing import Any

from .test_listen import connect_when_ready, listen


def offered_and_chosen(*args: str) -> tuple[str | None, str | None, str]:
    def scenario(url: str) -> Any:
        ws = connect_when_ready(url, protocols=["chat.v2", "chat.v1"])
        answer = ws.response.headers.get("Sec-WebSocket-Protocol")
        chosen = ws.subprotocol
        ws.close()
        return answer, chosen

    run, (answer, chosen) = listen(scenario, *args)
    return answer, chosen, run.stderr


def test_without_s_no_subprotocol_is_chosen_and_listen_says_what_was_offered() -> None:
    answer, chosen, stderr = offered_and_chosen()
    assert (answer, chosen) == (None, None)
    # A client that insists on one (node's ws does) fails: the hint says how to accept it.
    [hint] = [line for line in stderr.splitlines() if "chat.v2, chat.v1" in line]
    assert "none chosen" in hint and "-s" in hint


def test_with_s_the_first_of_ours_that_the_client_offers_is_chosen() -> None:
    answer, chosen, stderr = offered_and_chosen("-s", "chat.v1", "-s", "chat.v2")
    assert (answer, chosen) == ("chat.v1", "chat.v1")
    assert "none chosen" not in stderr
