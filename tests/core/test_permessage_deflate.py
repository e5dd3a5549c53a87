"""Tests for wscli.core.extensions.permessage_deflate: negotiation tables, the frame
transformation both ways, the RFC 7692 §7.2.3 examples, and compression bombs."""

from __future__ import annotations

import random
import tracemalloc
import zlib
from collections.abc import Sequence

import pytest
from helpers import build_frame
from hypothesis import given, settings
from hypothesis import strategies as st

from wscli.core.exceptions import InvalidState, NegotiationError, PayloadTooBig, ProtocolError
from wscli.core.extensions.base import Extension, ExtensionParameter
from wscli.core.extensions.permessage_deflate import (
    DEFAULT_THRESHOLD,
    ClientPerMessageDeflateFactory,
    PerMessageDeflate,
    ServerPerMessageDeflateFactory,
    client_factory_from_options,
    server_factory_from_options,
)
from wscli.core.frames import Frame, Opcode
from wscli.core.protocol import Protocol, Side

SNCT = ("server_no_context_takeover", None)
CNCT = ("client_no_context_takeover", None)
CMWB = ("client_max_window_bits", None)
TRAILER = b"\x00\x00\xff\xff"
MiB = 1 << 20


def smwb(value: str | None) -> ExtensionParameter:
    return ("server_max_window_bits", value)


def cmwb(value: str | None) -> ExtensionParameter:
    return ("client_max_window_bits", value)


def settings_of(extension: PerMessageDeflate) -> tuple[bool, bool, int, int]:
    """(remote_no_context_takeover, local_no_context_takeover, remote bits, local bits)."""
    return (
        extension.remote_no_context_takeover,
        extension.local_no_context_takeover,
        extension.remote_max_window_bits,
        extension.local_max_window_bits,
    )


def pair(
    *, no_context_takeover: bool = False, max_window_bits: int = 15, threshold: int = 0
) -> tuple[PerMessageDeflate, PerMessageDeflate]:
    """A sender and a receiver that agree on one direction of a connection."""
    sender = PerMessageDeflate(
        local_no_context_takeover=no_context_takeover,
        local_max_window_bits=max_window_bits,
        threshold=threshold,
    )
    receiver = PerMessageDeflate(
        remote_no_context_takeover=no_context_takeover,
        remote_max_window_bits=max_window_bits,
    )
    return sender, receiver


def send(
    extension: PerMessageDeflate,
    data: bytes,
    cuts: Sequence[int] = (),
    *,
    opcode: Opcode = Opcode.BINARY,
    compress: bool | None = None,
) -> list[Frame]:
    """Encode ``data`` as one message, fragmented at the offsets in ``cuts``."""
    bounds = [0, *sorted(cuts), len(data)]
    pieces = [data[start:end] for start, end in zip(bounds, bounds[1:], strict=False)]
    frames = []
    for index, piece in enumerate(pieces):
        frame = Frame(opcode if index == 0 else Opcode.CONT, piece, index == len(pieces) - 1)
        frames.append(extension.encode(frame, compress=compress))
    return frames


def receive(
    extension: PerMessageDeflate, frames: Sequence[Frame], max_size: int | None = None
) -> bytes:
    """Decode one message the way the protocol does, with a shrinking size budget."""
    data = b""
    for frame in frames:
        remaining = None if max_size is None else max_size - len(data)
        decoded = extension.decode(frame, max_size=remaining)
        assert not decoded.rsv1
        assert (decoded.opcode, decoded.fin) == (frame.opcode, frame.fin)
        data += decoded.data
    return data


def compressed(frame: Frame) -> Frame:
    return Frame(frame.opcode, frame.data, frame.fin, rsv1=True)


class RSV1Extension(Extension):
    name = "x-rsv1"
    rsv1 = True


class RSV2Extension(Extension):
    name = "x-rsv2"
    rsv2 = True


# -- server negotiation ----------------------------------------------------------------

SERVER_ACCEPTS = [
    # (factory arguments, offer, response, (remote nct, local nct, remote bits, local bits))
    ({}, [], [], (False, False, 15, 15)),
    ({}, [SNCT], [SNCT], (False, True, 15, 15)),
    ({}, [CNCT], [CNCT], (True, False, 15, 15)),
    ({}, [smwb("10")], [smwb("10")], (False, False, 15, 10)),
    ({}, [smwb("8")], [smwb("8")], (False, False, 15, 8)),
    ({}, [CMWB], [], (False, False, 15, 15)),
    ({}, [cmwb("10")], [cmwb("10")], (False, False, 10, 15)),
    ({}, [cmwb("8")], [cmwb("8")], (False, False, 8, 15)),
    ({"server_no_context_takeover": True}, [], [SNCT], (False, True, 15, 15)),
    ({"client_no_context_takeover": True}, [], [CNCT], (True, False, 15, 15)),
    ({"server_max_window_bits": 12}, [], [smwb("12")], (False, False, 15, 12)),
    ({"server_max_window_bits": 12}, [smwb("10")], [smwb("10")], (False, False, 15, 10)),
    ({"server_max_window_bits": 10}, [smwb("12")], [smwb("10")], (False, False, 15, 10)),
    # RFC 7692 §7.1.2.2: not offered, so not in the response, whatever the server wants.
    ({"client_max_window_bits": 12}, [], [], (False, False, 15, 15)),
    ({"client_max_window_bits": 12}, [CMWB], [cmwb("12")], (False, False, 12, 15)),
    ({"client_max_window_bits": 12}, [cmwb("10")], [cmwb("10")], (False, False, 10, 15)),
    ({"client_max_window_bits": 10}, [cmwb("12")], [cmwb("10")], (False, False, 10, 15)),
    (
        {},
        [CMWB, smwb("9"), CNCT, SNCT],
        [SNCT, CNCT, smwb("9")],
        (True, True, 15, 9),
    ),
    (
        {
            "server_no_context_takeover": True,
            "client_no_context_takeover": True,
            "server_max_window_bits": 11,
            "client_max_window_bits": 13,
        },
        [CMWB],
        [SNCT, CNCT, smwb("11"), cmwb("13")],
        (True, True, 13, 11),
    ),
]


@pytest.mark.parametrize(("kwargs", "offer", "response", "expected"), SERVER_ACCEPTS)
def test_server_accepts_offer(
    kwargs: dict[str, object],
    offer: list[ExtensionParameter],
    response: list[ExtensionParameter],
    expected: tuple[bool, bool, int, int],
) -> None:
    factory = ServerPerMessageDeflateFactory(**kwargs)  # type: ignore[arg-type]
    params, extension = factory.process_request_params(offer, [])
    assert params == response
    assert settings_of(extension) == expected
    assert extension.params == response


BAD_PARAMS = [
    pytest.param([("foo", None)], id="unknown parameter"),
    pytest.param([("foo", "1")], id="unknown parameter with value"),
    pytest.param([("server_no_context_takeover", "1")], id="snct with value"),
    pytest.param([("client_no_context_takeover", "")], id="cnct with empty value"),
    pytest.param([smwb(None)], id="smwb without value"),
    pytest.param([smwb("7")], id="smwb 7"),
    pytest.param([smwb("16")], id="smwb 16"),
    pytest.param([smwb("08")], id="smwb leading zero"),
    pytest.param([smwb("+9")], id="smwb sign"),
    pytest.param([smwb(" 9")], id="smwb space"),
    pytest.param([smwb("9.0")], id="smwb decimal"),
    pytest.param([smwb("0x9")], id="smwb hex"),
    pytest.param([smwb("")], id="smwb empty"),
    pytest.param([smwb("٩")], id="smwb non-ascii digit"),
    pytest.param([cmwb("7")], id="cmwb 7"),
    pytest.param([cmwb("16")], id="cmwb 16"),
    pytest.param([cmwb("010")], id="cmwb leading zero"),
    pytest.param([SNCT, SNCT], id="duplicate snct"),
    pytest.param([CNCT, CNCT], id="duplicate cnct"),
    pytest.param([smwb("9"), smwb("9")], id="duplicate smwb"),
    pytest.param([smwb("9"), smwb("10")], id="duplicate smwb different values"),
    pytest.param([CMWB, cmwb("10")], id="duplicate cmwb"),
    pytest.param([("Server_No_Context_Takeover", None)], id="case differs"),
]


@pytest.mark.parametrize("offer", BAD_PARAMS)
def test_server_declines_bad_offer(offer: list[ExtensionParameter]) -> None:
    factory = ServerPerMessageDeflateFactory()
    with pytest.raises(NegotiationError):
        factory.process_request_params(offer, [])


def test_server_declines_second_permessage_deflate() -> None:
    factory = ServerPerMessageDeflateFactory()
    _, first = factory.process_request_params([], [])
    with pytest.raises(NegotiationError, match="already negotiated"):
        factory.process_request_params([], [first])


def test_server_declines_offer_when_rsv1_is_taken() -> None:
    # RFC 7692 §5: no two extensions on RSV1.
    with pytest.raises(NegotiationError, match="x-rsv1"):
        ServerPerMessageDeflateFactory().process_request_params([], [RSV1Extension()])


def test_server_accepts_offer_next_to_other_extension() -> None:
    _, extension = ServerPerMessageDeflateFactory().process_request_params([], [RSV2Extension()])
    assert extension.rsv1


def test_server_takes_first_acceptable_of_several_offers() -> None:
    # The caller calls the factory once per offer and moves on when one is declined.
    factory = ServerPerMessageDeflateFactory()
    offers: list[list[ExtensionParameter]] = [[smwb("16")], [SNCT, SNCT], [CNCT, smwb("10")], []]
    accepted: list[Extension] = []
    answers = []
    for offer in offers:
        try:
            params, extension = factory.process_request_params(offer, accepted)
        except NegotiationError:
            continue
        accepted.append(extension)
        answers.append(params)
        break
    assert answers == [[CNCT, smwb("10")]]


# -- client negotiation ----------------------------------------------------------------

CLIENT_OFFERS = [
    ({}, []),
    ({"server_no_context_takeover": True}, [SNCT]),
    ({"client_no_context_takeover": True}, [CNCT]),
    ({"server_max_window_bits": 10}, [smwb("10")]),
    ({"client_max_window_bits": True}, [CMWB]),
    ({"client_max_window_bits": False}, []),
    ({"client_max_window_bits": 9}, [cmwb("9")]),
    (
        {
            "server_no_context_takeover": True,
            "client_no_context_takeover": True,
            "server_max_window_bits": 8,
            "client_max_window_bits": 15,
        },
        [SNCT, CNCT, smwb("8"), cmwb("15")],
    ),
]


@pytest.mark.parametrize(("kwargs", "offer"), CLIENT_OFFERS)
def test_client_offer(kwargs: dict[str, object], offer: list[ExtensionParameter]) -> None:
    factory = ClientPerMessageDeflateFactory(**kwargs)  # type: ignore[arg-type]
    assert factory.get_request_params() == offer


CLIENT_ACCEPTS = [
    # (factory arguments, response, (remote nct, local nct, remote bits, local bits))
    ({}, [], (False, False, 15, 15)),
    ({}, [SNCT], (True, False, 15, 15)),
    ({}, [CNCT], (False, True, 15, 15)),
    ({}, [smwb("10")], (False, False, 10, 15)),
    ({"server_no_context_takeover": True}, [SNCT], (True, False, 15, 15)),
    ({"client_no_context_takeover": True}, [], (False, True, 15, 15)),
    ({"client_no_context_takeover": True}, [CNCT], (False, True, 15, 15)),
    ({"server_max_window_bits": 12}, [smwb("12")], (False, False, 12, 15)),
    ({"server_max_window_bits": 12}, [smwb("8")], (False, False, 8, 15)),
    ({"client_max_window_bits": True}, [], (False, False, 15, 15)),
    ({"client_max_window_bits": True}, [cmwb("8")], (False, False, 15, 8)),
    ({"client_max_window_bits": True}, [cmwb("15")], (False, False, 15, 15)),
    ({"client_max_window_bits": 12}, [], (False, False, 15, 12)),
    ({"client_max_window_bits": 12}, [cmwb("10")], (False, False, 15, 10)),
    ({"client_max_window_bits": 12}, [cmwb("12")], (False, False, 15, 12)),
    (
        {"server_no_context_takeover": True, "server_max_window_bits": 9},
        [smwb("9"), SNCT, CNCT],
        (True, True, 9, 15),
    ),
]


@pytest.mark.parametrize(("kwargs", "response", "expected"), CLIENT_ACCEPTS)
def test_client_accepts_response(
    kwargs: dict[str, object],
    response: list[ExtensionParameter],
    expected: tuple[bool, bool, int, int],
) -> None:
    factory = ClientPerMessageDeflateFactory(**kwargs)  # type: ignore[arg-type]
    extension = factory.process_response_params(response, [])
    assert settings_of(extension) == expected
    assert extension.params == response


CLIENT_REJECTS = [
    # (factory arguments, response)
    *[pytest.param({"client_max_window_bits": True}, p.values[0], id=p.id) for p in BAD_PARAMS],
    pytest.param({"client_max_window_bits": True}, [CMWB], id="cmwb without value"),
    pytest.param({"server_no_context_takeover": True}, [], id="snct ignored"),
    pytest.param({"server_max_window_bits": 10}, [], id="smwb ignored"),
    pytest.param({"server_max_window_bits": 10}, [smwb("11")], id="smwb larger"),
    pytest.param({}, [cmwb("10")], id="cmwb not offered"),
    pytest.param({"client_max_window_bits": 10}, [cmwb("11")], id="cmwb larger"),
]


@pytest.mark.parametrize(("kwargs", "response"), CLIENT_REJECTS)
def test_client_rejects_response(
    kwargs: dict[str, object], response: list[ExtensionParameter]
) -> None:
    factory = ClientPerMessageDeflateFactory(**kwargs)  # type: ignore[arg-type]
    with pytest.raises(NegotiationError):
        factory.process_response_params(response, [])


def test_client_rejects_second_permessage_deflate() -> None:
    factory = ClientPerMessageDeflateFactory()
    first = factory.process_response_params([], [])
    with pytest.raises(NegotiationError, match="already negotiated"):
        factory.process_response_params([], [first])


def test_client_rejects_response_when_rsv1_is_taken() -> None:
    with pytest.raises(NegotiationError, match="x-rsv1"):
        ClientPerMessageDeflateFactory().process_response_params([], [RSV1Extension()])


@pytest.mark.parametrize(
    ("client", "server"),
    [
        ({}, {}),
        ({"client_max_window_bits": True}, {"client_max_window_bits": 8}),
        ({"server_max_window_bits": 8}, {"server_no_context_takeover": True}),
        ({"client_no_context_takeover": True, "client_max_window_bits": 11}, {}),
    ],
)
def test_negotiated_pair_talks_both_ways(
    client: dict[str, object], server: dict[str, object]
) -> None:
    client_factory = ClientPerMessageDeflateFactory(threshold=0, **client)  # type: ignore[arg-type]
    server_factory = ServerPerMessageDeflateFactory(threshold=0, **server)  # type: ignore[arg-type]
    response, server_side = server_factory.process_request_params(
        client_factory.get_request_params(), []
    )
    client_side = client_factory.process_response_params(response, [])
    assert server_side.describe() == client_side.describe()
    message = bytes(random.Random(7).choices(b"abcdefgh", k=5000))
    for _ in range(3):
        assert receive(server_side, send(client_side, message, [1000])) == message
        assert receive(client_side, send(server_side, message, [3000])) == message


# -- arguments and options -------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"remote_max_window_bits": 7},
        {"remote_max_window_bits": 16},
        {"local_max_window_bits": True},
        {"local_max_window_bits": "10"},
        {"threshold": -1},
        {"compress_settings": {"wbits": 9}},
        {"compress_settings": {"level": 10}},
        {"compress_settings": {"memLevel": 0}},
    ],
)
def test_extension_refuses_bad_arguments(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        PerMessageDeflate(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("factory", "kwargs"),
    [
        (ClientPerMessageDeflateFactory, {"server_max_window_bits": 16}),
        (ClientPerMessageDeflateFactory, {"client_max_window_bits": 7}),
        (ClientPerMessageDeflateFactory, {"threshold": -5}),
        (ServerPerMessageDeflateFactory, {"server_max_window_bits": 7}),
        (ServerPerMessageDeflateFactory, {"client_max_window_bits": True}),
        (ServerPerMessageDeflateFactory, {"compress_settings": {"method": 8}}),
    ],
)
def test_factories_refuse_bad_arguments(factory: type, kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        factory(**kwargs)


def test_options_false_means_no_factory() -> None:
    assert client_factory_from_options(False) is None
    assert server_factory_from_options(False) is None


def test_options_true_means_defaults() -> None:
    client = client_factory_from_options(True)
    server = server_factory_from_options(True)
    assert client is not None and server is not None
    # Like ws and browsers, the client lets the server pick its window.
    assert client.get_request_params() == [CMWB]
    assert client.threshold == server.threshold == DEFAULT_THRESHOLD
    _, extension = server.process_request_params(client.get_request_params(), [])
    assert extension.describe() == "permessage-deflate"


def test_options_dict() -> None:
    options = {
        "server_no_context_takeover": True,
        "client_no_context_takeover": True,
        "server_max_window_bits": 10,
        "client_max_window_bits": 11,
        "threshold": 10,
        "level": 9,
        "mem_level": 4,
    }
    client = client_factory_from_options(options)  # type: ignore[arg-type]
    server = server_factory_from_options(options)  # type: ignore[arg-type]
    assert client is not None and server is not None
    assert client.get_request_params() == [SNCT, CNCT, smwb("10"), cmwb("11")]
    for factory in (client, server):
        assert factory.compress_settings == {"level": 9, "memLevel": 4}
        assert factory.threshold == 10
    response, extension = server.process_request_params(client.get_request_params(), [])
    assert response == [SNCT, CNCT, smwb("10"), cmwb("11")]
    assert extension.compress_settings == {"level": 9, "memLevel": 4}


def test_options_refuse_unknown_keys_and_types() -> None:
    with pytest.raises(ValueError, match="zlib_deflate_options"):
        client_factory_from_options({"zlib_deflate_options": 1})  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        server_factory_from_options("yes")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        server_factory_from_options({"client_max_window_bits": True})
    with pytest.raises(ValueError):
        client_factory_from_options({"level": 12})


# -- describe --------------------------------------------------------------------------


def test_describe_repeats_the_response() -> None:
    factory = ServerPerMessageDeflateFactory(client_max_window_bits=12)
    _, extension = factory.process_request_params([SNCT, CMWB], [])
    text = "permessage-deflate; server_no_context_takeover; client_max_window_bits=12"
    assert extension.describe() == text
    client = ClientPerMessageDeflateFactory(client_max_window_bits=True)
    assert client.process_response_params(extension.params, []).describe() == text
    assert text in repr(extension)


def test_describe_without_params_speaks_as_a_server() -> None:
    assert PerMessageDeflate().describe() == "permessage-deflate"
    extension = PerMessageDeflate(
        remote_no_context_takeover=True,
        local_no_context_takeover=True,
        remote_max_window_bits=9,
        local_max_window_bits=10,
    )
    assert extension.describe() == (
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
        "server_max_window_bits=10; client_max_window_bits=9"
    )


# -- RFC 7692 §7.2.3 examples ----------------------------------------------------------

HELLO = bytes.fromhex("f2 48 cd c9 c9 07 00")


def test_rfc_example_single_message() -> None:
    # RFC 7692 §7.2.3.1.
    extension = PerMessageDeflate(threshold=0)
    frame = extension.encode(Frame(Opcode.TEXT, b"Hello"))
    assert frame == Frame(Opcode.TEXT, HELLO, rsv1=True)
    assert PerMessageDeflate().decode(frame) == Frame(Opcode.TEXT, b"Hello")


def test_rfc_example_fragmented_message() -> None:
    # RFC 7692 §7.2.3.1: the compressed bytes of "Hello" split over two frames.
    frames = [
        Frame(Opcode.TEXT, HELLO[:3], fin=False, rsv1=True),
        Frame(Opcode.CONT, HELLO[3:]),
    ]
    assert receive(PerMessageDeflate(), frames) == b"Hello"


def test_rfc_example_sharing_the_window() -> None:
    # RFC 7692 §7.2.3.2: the second "Hello" refers to the first.
    sender, receiver = pair()
    first = send(sender, b"Hello")
    second = send(sender, b"Hello")
    assert [f.data for f in first + second] == [HELLO, bytes.fromhex("f2 00 11 00 00")]
    assert receive(receiver, first) == receive(receiver, second) == b"Hello"


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param("00 05 00 fa ff 48 65 6c 6c 6f 00", id="7.2.3.3 stored block"),
        pytest.param("f3 48 cd c9 c9 07 00 00", id="7.2.3.4 bfinal"),
        pytest.param("f2 48 05 00 00 00 ff ff ca c9 c9 07 00", id="7.2.3.5 two blocks"),
    ],
)
def test_rfc_example_payloads(payload: str) -> None:
    extension = PerMessageDeflate()
    frame = Frame(Opcode.TEXT, bytes.fromhex(payload), rsv1=True)
    for _ in range(2):  # and the inflater is still usable afterwards
        assert extension.decode(frame).data == b"Hello"
        assert extension.decode(Frame(Opcode.TEXT, HELLO, rsv1=True)).data == b"Hello"


def test_rfc_example_empty_fragment() -> None:
    # RFC 7692 §7.2.3.6: a final fragment without data is the single byte 0x00.
    extension = PerMessageDeflate()
    frames = send(extension, b"Hello", [5], opcode=Opcode.TEXT)
    assert frames == [
        Frame(Opcode.TEXT, HELLO + TRAILER, fin=False, rsv1=True),
        Frame(Opcode.CONT, b"\x00"),
    ]
    assert receive(PerMessageDeflate(), frames) == b"Hello"


# -- encoding and decoding -------------------------------------------------------------


@pytest.mark.parametrize("opcode", [Opcode.TEXT, Opcode.BINARY])
def test_round_trip_single_frame(opcode: Opcode) -> None:
    sender, receiver = pair()
    data = "hé, ça compresse ".encode() * 200
    [frame] = send(sender, data, opcode=opcode)
    assert frame.opcode == opcode and frame.rsv1 and frame.fin
    assert len(frame.data) < len(data) // 10
    assert receive(receiver, [frame]) == data


def test_round_trip_fragmented_sets_rsv1_on_first_frame_only() -> None:
    sender, receiver = pair()
    data = bytes(range(256)) * 40
    frames = send(sender, data, [1, 2, 500, 500, 8000])
    assert [f.rsv1 for f in frames] == [True, False, False, False, False, False]
    assert [f.fin for f in frames] == [False] * 5 + [True]
    assert [f.opcode for f in frames] == [Opcode.BINARY] + [Opcode.CONT] * 5
    assert receive(receiver, frames) == data


@pytest.mark.parametrize("kind", ["zeros", "text", "random"])
def test_round_trip_large_message(kind: str) -> None:
    # Large enough to take several of the decoder's input and output steps.
    rng = random.Random(5)
    if kind == "zeros":
        data = bytes(10 * MiB)
    elif kind == "text":
        data = bytes(rng.choices(b"lorem ipsum dolor ", k=MiB))
    else:
        data = rng.randbytes(300_000)
    sender, receiver = pair()
    assert receive(receiver, send(sender, data), max_size=len(data)) == data
    assert receive(receiver, send(sender, data, [len(data) // 3])) == data
    with pytest.raises(PayloadTooBig):
        receive(receiver, send(sender, data), max_size=len(data) - 1)


def test_decode_frame_by_frame_yields_data_as_it_arrives() -> None:
    sender, receiver = pair()
    frames = send(sender, b"abc" * 100 + b"xyz" * 100, [300])
    assert receiver.decode(frames[0]).data == b"abc" * 100
    assert receiver.decode(frames[1]).data == b"xyz" * 100


def test_context_takeover_compresses_repeats_better() -> None:
    message = bytes(random.Random(1).randbytes(2000))
    sizes = {}
    for no_context_takeover in (False, True):
        sender, receiver = pair(no_context_takeover=no_context_takeover)
        frames = [send(sender, message) for _ in range(3)]
        sizes[no_context_takeover] = [len(f[0].data) for f in frames]
        assert [receive(receiver, f) for f in frames] == [message] * 3
    # Random bytes don't compress, but a repeat of an earlier message does.
    assert sizes[False][0] > 2000
    assert sizes[False][1] < 100 and sizes[False][2] < 100
    # Without context takeover every message starts afresh: identical output.
    assert sizes[True] == [sizes[False][0]] * 3


def test_no_context_takeover_frees_zlib_state_between_messages() -> None:
    sender, receiver = pair(no_context_takeover=True)
    assert sender._encoder is None and receiver._decoder is None
    first = sender.encode(Frame(Opcode.TEXT, b"x" * 1000, fin=False))
    assert sender._encoder is not None
    receiver.decode(first)
    assert receiver._decoder is not None
    receiver.decode(sender.encode(Frame(Opcode.CONT, b"x" * 1000)))
    assert sender._encoder is None and receiver._decoder is None


def test_context_takeover_keeps_zlib_state() -> None:
    sender, receiver = pair()
    receive(receiver, send(sender, b"x" * 3000))
    assert sender._encoder is not None and receiver._decoder is not None


def test_independent_streams_decode_without_context_takeover() -> None:
    # A peer with no_context_takeover starts each message from an empty window.
    receiver = PerMessageDeflate(remote_no_context_takeover=True)
    for message in (b"first message " * 50, b"second message " * 50):
        encoder = zlib.compressobj(wbits=-15)
        data = encoder.compress(message) + encoder.flush(zlib.Z_SYNC_FLUSH)
        assert receive(receiver, [Frame(Opcode.TEXT, data[:-4], rsv1=True)]) == message


@pytest.mark.parametrize("bits", range(8, 16))
def test_round_trip_every_window_size(bits: int) -> None:
    # Repeats at distances past 2**bits would make a careless sender overflow the window.
    rng = random.Random(bits)
    block = rng.randbytes(300) + bytes(rng.choices(b"ab", k=20000))
    message = block * 2
    sender, receiver = pair(max_window_bits=bits)
    for _ in range(2):
        assert receive(receiver, send(sender, message, [7000, 30000])) == message
    # The sender kept to the window: zlib on its own inflates with 2**bits bytes.
    again = send(PerMessageDeflate(local_max_window_bits=bits, threshold=0), message)
    decoder = zlib.decompressobj(wbits=-bits)
    assert decoder.decompress(again[0].data + TRAILER) == message


def test_zlib_refuses_8_window_bits_for_deflate() -> None:
    # Why PerMessageDeflate compresses with 9 bits when 8 are negotiated.
    with pytest.raises(ValueError):
        zlib.compressobj(wbits=-8)


def test_window_bits_9_deflate_fits_an_8_bit_inflater() -> None:
    # zlib's deflate keeps distances ≤ 2**wbits - 262, which is 250 for 9 bits.
    rng = random.Random(8)
    for _ in range(50):
        data = bytearray(rng.choices(b"abcd", k=rng.randrange(1, 5000)))
        for _ in range(20):  # copies at distances of 240 to 520 bytes
            start = rng.randrange(len(data))
            distance = rng.randrange(240, 520)
            for offset in range(rng.randrange(3, 258)):
                if start + distance + offset < len(data):
                    data[start + distance + offset] = data[start + offset]
        message = bytes(data)
        level = rng.choice([1, 6, 9])
        sender = PerMessageDeflate(
            local_max_window_bits=8, compress_settings={"level": level}, threshold=0
        )
        [frame] = send(sender, message)
        assert zlib.decompressobj(wbits=-8).decompress(frame.data + TRAILER) == message


def test_decoder_keeps_only_its_window() -> None:
    # A peer that compresses with a bigger window than agreed breaks the stream once it
    # refers to data the receiver's smaller window no longer holds. (Within one inflate
    # call zlib can still reach back into its output, so it doesn't fail every time.)
    block = random.Random(2).randbytes(1000)
    sender = PerMessageDeflate(threshold=0)
    receiver = PerMessageDeflate(remote_max_window_bits=9)
    assert receive(receiver, send(sender, block)) == block
    with pytest.raises(ProtocolError) as exc_info:
        receive(receiver, send(sender, block))
    assert exc_info.value.code == 1007


def test_threshold_decides_single_frame_messages() -> None:
    extension = PerMessageDeflate()
    assert extension.threshold == DEFAULT_THRESHOLD == 1024
    small = Frame(Opcode.TEXT, b"a" * 1023)
    large = Frame(Opcode.TEXT, b"a" * 1024)
    assert extension.encode(small) is small
    assert extension.encode(large).rsv1


def test_threshold_does_not_apply_to_fragmented_messages() -> None:
    # The size of a fragmented message isn't known from its first frame.
    extension = PerMessageDeflate()
    frames = send(extension, b"tiny", [2])
    assert frames[0].rsv1
    assert receive(PerMessageDeflate(), frames) == b"tiny"


def test_compress_argument_overrides_threshold() -> None:
    extension = PerMessageDeflate()
    assert extension.encode(Frame(Opcode.TEXT, b"small"), compress=True).rsv1
    large = Frame(Opcode.BINARY, b"a" * 5000)
    assert extension.encode(large, compress=False) is large
    frames = send(extension, b"a" * 5000, [100], compress=False)
    assert not any(f.rsv1 for f in frames)
    assert b"".join(f.data for f in frames) == b"a" * 5000


def test_compress_argument_is_ignored_on_continuation_frames() -> None:
    sender, receiver = pair()
    first = sender.encode(Frame(Opcode.TEXT, b"a" * 100, fin=False), compress=True)
    last = sender.encode(Frame(Opcode.CONT, b"b" * 100), compress=False)
    assert first.rsv1 and not last.rsv1
    assert receive(receiver, [first, last]) == b"a" * 100 + b"b" * 100

    first = sender.encode(Frame(Opcode.TEXT, b"a" * 100, fin=False), compress=False)
    last = sender.encode(Frame(Opcode.CONT, b"b" * 100), compress=True)
    assert (first.data, last.data) == (b"a" * 100, b"b" * 100)


def test_uncompressed_messages_pass_through() -> None:
    extension = PerMessageDeflate()
    frames = [
        Frame(Opcode.TEXT, b"plain", fin=False),
        Frame(Opcode.CONT, b" text", fin=False),
        Frame(Opcode.CONT, b""),
        Frame(Opcode.BINARY, b"\x00\x01"),
    ]
    for frame in frames:
        assert extension.decode(frame, max_size=0) is frame


def test_control_frames_pass_through() -> None:
    extension = PerMessageDeflate(threshold=0)
    extension.encode(Frame(Opcode.TEXT, b"x" * 10, fin=False))
    extension.decode(Frame(Opcode.TEXT, HELLO[:3], fin=False, rsv1=True))
    for opcode in (Opcode.PING, Opcode.PONG, Opcode.CLOSE):
        frame = Frame(opcode, b"\x03\xe8")
        assert extension.encode(frame) is frame
        assert extension.decode(frame) is frame


@pytest.mark.parametrize("compress", [True, None])
def test_empty_message(compress: bool | None) -> None:
    sender, receiver = pair(threshold=1024 if compress else 0)
    for _ in range(2):
        [frame] = send(sender, b"", compress=compress)
        assert frame.rsv1 and frame.data == b"\x00"
        assert receive(receiver, [frame]) == b""
    assert receive(receiver, send(sender, b"after")) == b"after"


def test_empty_fragments() -> None:
    sender, receiver = pair()
    frames = send(sender, b"abc" * 10, [0, 0, 30, 30])
    assert [len(f.data) > 0 for f in frames] == [True] * 5
    assert frames[-1].data == b"\x00"
    assert receive(receiver, frames) == b"abc" * 10


def test_decode_tolerates_compressed_message_without_bytes() -> None:
    # No valid payload is empty; treat it as an empty message, leaving the window be.
    sender, receiver = pair()
    assert receive(receiver, send(sender, b"Hello")) == b"Hello"
    assert receiver.decode(Frame(Opcode.TEXT, b"", rsv1=True)).data == b""
    frames = [Frame(Opcode.TEXT, b"", fin=False, rsv1=True), Frame(Opcode.CONT, b"")]
    assert receive(receiver, frames) == b""
    assert receive(receiver, send(sender, b"Hello")) == b"Hello"


def test_decode_tolerates_unstripped_trailer() -> None:
    # A peer that leaves 00 00 ff ff on its last frame, or sends an empty last frame
    # after a flushed one (against RFC 7692 §7.2.3.6), still decodes, and so do the
    # messages after it.
    encoder = zlib.compressobj(wbits=-15)
    receiver = PerMessageDeflate()
    for message in (b"one " * 30, b"two " * 30, b"one two " * 30):
        data = encoder.compress(message) + encoder.flush(zlib.Z_SYNC_FLUSH)
        assert data.endswith(TRAILER)
        assert receive(receiver, [Frame(Opcode.TEXT, data, rsv1=True)]) == message
    data = encoder.compress(b"three") + encoder.flush(zlib.Z_SYNC_FLUSH)
    frames = [Frame(Opcode.TEXT, data, fin=False, rsv1=True), Frame(Opcode.CONT, b"")]
    assert receive(receiver, frames) == b"three"
    data = encoder.compress(b"three") + encoder.flush(zlib.Z_SYNC_FLUSH)
    assert receive(receiver, [Frame(Opcode.TEXT, data[:-4], rsv1=True)]) == b"three"


def test_decode_streams_after_a_final_block() -> None:
    # RFC 7692 §7.2.1 lets blocks follow one with BFINAL set.
    def finished(data: bytes) -> bytes:
        encoder = zlib.compressobj(wbits=-15)
        return encoder.compress(data) + encoder.flush(zlib.Z_FINISH)

    payload = finished(b"first part, ") + finished(b"second part")
    frames = [
        Frame(Opcode.BINARY, payload[:10], fin=False, rsv1=True),
        Frame(Opcode.CONT, payload[10:]),
    ]
    extension = PerMessageDeflate()
    assert receive(extension, frames) == b"first part, second part"
    assert extension._decoder is None  # the sender's stream ended: start afresh
    assert receive(extension, [Frame(Opcode.TEXT, HELLO, rsv1=True)]) == b"Hello"


def test_decode_large_streams_after_a_final_block() -> None:
    # The first stream ends inside the decoder's second input step.
    rng = random.Random(6)
    first, second = rng.randbytes(100_000), rng.randbytes(100_000)
    payload = b""
    for data in (first, second):
        encoder = zlib.compressobj(wbits=-15)
        payload += encoder.compress(data) + encoder.flush(zlib.Z_FINISH)
    frame = Frame(Opcode.BINARY, payload, rsv1=True)
    assert PerMessageDeflate().decode(frame).data == first + second


# -- errors ----------------------------------------------------------------------------


@pytest.mark.parametrize("first_rsv1", [True, False], ids=["compressed", "plain"])
def test_rsv1_on_continuation_frame_is_a_protocol_error(first_rsv1: bool) -> None:
    # RFC 7692 §6: RSV1 only on the first frame of a message. The protocol checks the
    # order of frames before any reaches the extension.
    proto = Protocol(Side.CLIENT, extensions=[PerMessageDeflate()])
    first = PerMessageDeflate().encode(Frame(Opcode.BINARY, HELLO, fin=False))
    data = first.data if first_rsv1 else HELLO[:3]
    proto.receive_data(build_frame(Opcode.BINARY, data, fin=False, rsv1=first_rsv1))
    proto.receive_data(build_frame(Opcode.CONT, b"", rsv1=True))
    assert proto.error is not None and proto.error.code == 1002
    assert str(proto.error) == "rsv1 set on a continuation frame"


@pytest.mark.parametrize(
    ("frames", "reason"),
    [
        ([(Opcode.CONT, True)], "unexpected continuation frame"),
        ([(Opcode.TEXT, False), (Opcode.TEXT, True)], "expected a continuation frame"),
    ],
    ids=["continuation-first", "new-message-inside-one"],
)
def test_frames_out_of_order_are_protocol_errors(
    frames: list[tuple[Opcode, bool]], reason: str
) -> None:
    proto = Protocol(Side.CLIENT, extensions=[PerMessageDeflate()])
    compressed = PerMessageDeflate().encode(Frame(Opcode.TEXT, HELLO)).data
    for opcode, fin in frames:
        rsv1 = opcode != Opcode.CONT
        proto.receive_data(build_frame(opcode, compressed, fin=fin, rsv1=rsv1))
    assert proto.error is not None and proto.error.code == 1002
    assert str(proto.error) == reason


def test_decoding_out_of_a_messages_order_is_the_callers_mistake() -> None:
    extension = PerMessageDeflate()
    with pytest.raises(InvalidState):
        extension.decode(Frame(Opcode.CONT, b"x"))
    extension.decode(Frame(Opcode.TEXT, HELLO[:3], fin=False, rsv1=True))
    with pytest.raises(InvalidState):
        extension.decode(Frame(Opcode.TEXT, HELLO, rsv1=True))


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(b"\xff\xff\xff\xff", id="reserved block type"),
        pytest.param(b"\x00\x05\x00\x00\x00Hello", id="bad stored length"),
        pytest.param(bytes.fromhex("f2 00 11 00 00"), id="distance too far back"),
        pytest.param(b"\xf3\x48\xcd\xc9\xc9\x07\x00\xff", id="garbage after final block"),
    ],
)
def test_corrupt_stream_fails_with_1007(payload: bytes) -> None:
    frame = Frame(Opcode.BINARY, payload, rsv1=True)
    with pytest.raises(ProtocolError, match="invalid compressed data") as exc_info:
        PerMessageDeflate().decode(frame)
    assert exc_info.value.code == 1007


def test_encode_refuses_frames_out_of_order() -> None:
    extension = PerMessageDeflate()
    with pytest.raises(InvalidState):
        extension.encode(Frame(Opcode.CONT, b"x"))
    extension.encode(Frame(Opcode.TEXT, b"x", fin=False))
    with pytest.raises(InvalidState):
        extension.encode(Frame(Opcode.TEXT, b"x"))


# -- size limits and compression bombs -------------------------------------------------


def test_max_size_is_inclusive() -> None:
    sender, _ = pair()
    [frame] = send(sender, b"z" * 10_000)
    assert len(PerMessageDeflate().decode(frame, max_size=10_000).data) == 10_000
    with pytest.raises(PayloadTooBig) as exc_info:
        PerMessageDeflate().decode(frame, max_size=9_999)
    assert exc_info.value.code == 1009


def test_max_size_counts_the_message_across_frames() -> None:
    sender, _ = pair()
    frames = send(sender, b"z" * 10_000, [4_000, 8_000])
    assert receive(PerMessageDeflate(), frames, max_size=10_000) == b"z" * 10_000
    receiver = PerMessageDeflate()
    receiver.decode(frames[0], max_size=9_999)
    receiver.decode(frames[1], max_size=5_999)
    with pytest.raises(PayloadTooBig):
        receiver.decode(frames[2], max_size=1_999)


def test_max_size_zero_allows_empty_messages_only() -> None:
    sender, _ = pair()
    assert PerMessageDeflate().decode(send(sender, b"")[0], max_size=0).data == b""
    with pytest.raises(PayloadTooBig):
        PerMessageDeflate().decode(send(sender, b"a")[0], max_size=0)


def make_bomb(mebibytes: int) -> bytes:
    """Build a raw DEFLATE stream of ``mebibytes`` MiB of zeros, without the trailer.

    After the first MiB the window holds only zeros, so the compressed form of every
    further MiB is the same block: compressing two MiB is enough. DEFLATE expands at
    most about 1032:1, so 1 GiB needs about 1 MiB of input.
    """
    encoder = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunk = bytes(MiB)
    first = encoder.compress(chunk) + encoder.flush(zlib.Z_SYNC_FLUSH)
    next_ = encoder.compress(chunk) + encoder.flush(zlib.Z_SYNC_FLUSH)
    return (first + next_ * (mebibytes - 1))[:-4]


def test_bomb_builder_is_what_it_claims() -> None:
    bomb = make_bomb(4)
    assert zlib.decompressobj(wbits=-15).decompress(bomb + TRAILER) == bytes(4 * MiB)


@pytest.fixture(scope="module")
def bomb() -> bytes:
    data = make_bomb(1024)  # 1 GiB once inflated
    assert len(data) < 1100 * 1024
    return data


def peak_memory_of(function: object) -> int:
    assert callable(function)
    tracemalloc.start()
    try:
        function()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_bomb_in_one_frame_is_stopped_with_little_memory(bomb: bytes) -> None:
    extension = PerMessageDeflate()
    frame = Frame(Opcode.BINARY, bomb, rsv1=True)

    def decode() -> None:
        with pytest.raises(PayloadTooBig) as exc_info:
            extension.decode(frame, max_size=MiB)
        assert exc_info.value.code == 1009

    assert peak_memory_of(decode) < 8 * MiB


def test_bomb_across_continuation_frames_is_stopped_with_little_memory(bomb: bytes) -> None:
    size = 16 * 1024
    frames = [
        Frame(Opcode.CONT if start else Opcode.BINARY, bomb[start : start + size], fin=False)
        for start in range(0, len(bomb), size)
    ]
    frames[0] = compressed(frames[0])
    extension = PerMessageDeflate()
    received: list[int] = []

    def decode() -> None:
        total = 0
        with pytest.raises(PayloadTooBig):
            for frame in frames:
                total += len(extension.decode(frame, max_size=4 * MiB - total).data)
                received.append(total)

    assert peak_memory_of(decode) < 8 * MiB
    # Every frame inflates to about 16 MiB: the very first one trips the limit.
    assert received == []


def test_slow_bomb_across_frames_stops_at_the_limit(bomb: bytes) -> None:
    # Small frames under the limit each, adding up past it.
    frames = [compressed(Frame(Opcode.BINARY, bomb[:60], fin=False))]
    frames += [Frame(Opcode.CONT, bomb[i : i + 4], fin=False) for i in range(60, 4000, 4)]
    extension = PerMessageDeflate()
    total = 0
    with pytest.raises(PayloadTooBig):
        for frame in frames:
            total += len(extension.decode(frame, max_size=MiB - total).data)
    assert 0 < total <= MiB


# -- interoperability ------------------------------------------------------------------


@pytest.mark.parametrize("bits", [9, 12, 15])
@pytest.mark.parametrize("flush", [zlib.Z_SYNC_FLUSH, zlib.Z_FULL_FLUSH, zlib.Z_FINISH])
def test_decode_independent_zlib_output(bits: int, flush: int) -> None:
    rng = random.Random(bits)
    receiver = PerMessageDeflate(remote_max_window_bits=bits, remote_no_context_takeover=True)
    for _ in range(3):
        message = bytes(rng.choices(b"lorem ipsum dolor", k=rng.randrange(0, 20_000)))
        encoder = zlib.compressobj(rng.randrange(0, 10), zlib.DEFLATED, -bits)
        data = encoder.compress(message) + encoder.flush(flush)
        if data.endswith(TRAILER):
            data = data[:-4]
        cut = len(data) // 2
        frames = [
            Frame(Opcode.TEXT, data[:cut], fin=False, rsv1=True),
            Frame(Opcode.CONT, data[cut:]),
        ]
        assert receive(receiver, frames) == message


def test_independent_zlib_inflates_encoder_output() -> None:
    sender = PerMessageDeflate(threshold=0)
    decoder = zlib.decompressobj(wbits=-15)
    for message in (b"alpha " * 100, b"", b"alpha beta " * 100):
        frames = send(sender, message, [len(message) // 3])
        payload = b"".join(f.data for f in frames) + TRAILER
        assert decoder.decompress(payload) == message


def test_interop_with_websockets() -> None:
    pytest.importorskip("websockets")
    from websockets.extensions.permessage_deflate import PerMessageDeflate as Theirs
    from websockets.frames import Frame as TheirFrame
    from websockets.frames import Opcode as TheirOpcode

    ours = PerMessageDeflate(local_max_window_bits=10, remote_max_window_bits=11, threshold=0)
    theirs = Theirs(False, False, 10, 11)
    rng = random.Random(3)
    for _ in range(5):
        message = bytes(rng.choices(b"websocket", k=rng.randrange(1, 5000)))
        cut = len(message) // 2
        # Ours to theirs.
        frames = send(ours, message, [cut])
        decoded = b""
        for frame in frames:
            their_frame = TheirFrame(TheirOpcode(frame.opcode), frame.data, frame.fin, frame.rsv1)
            decoded += theirs.decode(their_frame).data
        assert decoded == message
        # Theirs to ours.
        pieces = [
            (TheirOpcode.BINARY, message[:cut], False),
            (TheirOpcode.CONT, message[cut:], True),
        ]
        their_frames = [theirs.encode(TheirFrame(op, data, fin)) for op, data, fin in pieces]
        frames = [Frame(Opcode(f.opcode), bytes(f.data), f.fin, f.rsv1) for f in their_frames]
        assert receive(ours, frames) == message


# -- properties ------------------------------------------------------------------------

messages = st.lists(
    st.tuples(
        st.one_of(st.binary(max_size=3000), st.binary(max_size=8).map(lambda b: b * 200)),
        st.lists(st.integers(min_value=0, max_value=3000), max_size=4),
        st.sampled_from([None, True, False]),
    ),
    min_size=1,
    max_size=6,
)


@settings(deadline=None, max_examples=150)
@given(
    messages=messages,
    no_context_takeover=st.booleans(),
    bits=st.integers(min_value=8, max_value=15),
    threshold=st.sampled_from([0, 100, 1024]),
    level=st.integers(min_value=0, max_value=9),
)
def test_decode_inverts_encode(
    messages: list[tuple[bytes, list[int], bool | None]],
    no_context_takeover: bool,
    bits: int,
    threshold: int,
    level: int,
) -> None:
    sender = PerMessageDeflate(
        local_no_context_takeover=no_context_takeover,
        local_max_window_bits=bits,
        compress_settings={"level": level},
        threshold=threshold,
    )
    receiver = PerMessageDeflate(
        remote_no_context_takeover=no_context_takeover, remote_max_window_bits=bits
    )
    for data, cuts, compress in messages:
        cuts = [min(cut, len(data)) for cut in cuts]
        frames = send(sender, data, cuts, compress=compress)
        assert not any(frame.rsv1 for frame in frames[1:])
        assert receive(receiver, frames, max_size=len(data)) == data
