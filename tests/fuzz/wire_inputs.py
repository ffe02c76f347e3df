# Hypothesis strategies for fuzzing the broker over its socket.
#
# A session is a login (or a broken one), then inputs each on its own channel, then at most one
# terminal input. "Safe" inputs are well-formed commands that may fail on their channel (soft
# errors) but never end the connection; "wild" ones are safe inputs with bytes flipped, inserted
# or cut. Terminal inputs are the attacks the issue names, each with the reply RabbitMQ gives.
from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass

from hypothesis import strategies as st
from pamqp import body, commands, header
from wire_session import CLIENT_CLOSE, PROTOCOL_HEADER, build, handshake, method, raw_frame

Render = Callable[[int], bytes]  # channel number -> bytes of one input

# Expected outcome of a terminal input: a hard reply code, or one of these.
SURVIVES = "survives"  # the connection stays open (our Connection.Close gets Close-Ok)
SILENT = "silent"  # the socket closes with no Close frame
ANY = "any"  # only the universal invariants apply


@dataclass(frozen=True)
class Input:
    kind: str
    render: Render
    expect: int | str = ANY  # for terminal inputs
    channel_code: int | None = None  # a soft code the input's own channel must close with


@dataclass(frozen=True)
class Session:
    logged_in: bool
    data: bytes
    inputs: int
    terminal: Input | None


names = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30).filter(
    lambda name: len(name.encode()) <= 255
)
keys = st.text(st.characters(codec="ascii"), max_size=20)
small_tables = st.dictionaries(
    st.text(
        st.characters(codec="ascii", min_codepoint=97, max_codepoint=122), min_size=1, max_size=8
    ),
    st.one_of(st.integers(-(2**31), 2**31 - 1), st.text(max_size=10), st.booleans()),
    max_size=3,
)
bodies = st.binary(max_size=300)
u64_overflow = st.integers(2**63, 2**64 - 1)


def _publish(exchange: str, routing_key: str, payload: bytes) -> Render:
    def render(channel: int) -> bytes:
        properties = commands.Basic.Properties(content_type="application/octet-stream")
        return (
            method(
                channel, build(commands.Basic.Publish, exchange=exchange, routing_key=routing_key)
            )
            + raw_frame(2, channel, header.ContentHeader(0, len(payload), properties).marshal())
            + (raw_frame(3, channel, body.ContentBody(payload).marshal()) if payload else b"")
        )

    return render


def _methods(*values: commands.Frame) -> Render:
    return lambda channel: b"".join(method(channel, value) for value in values)


def _ack_overflow(tag: int) -> Render:
    # pamqp cannot encode a long-long above 2**63-1, so the frame is built by hand.
    return lambda channel: raw_frame(1, channel, struct.pack(">HHQB", 60, 80, tag, 0))


def _huge_body_size(size: int) -> Render:
    def render(channel: int) -> bytes:
        return method(channel, build(commands.Basic.Publish, routing_key="q")) + raw_frame(
            2, channel, struct.pack(">HHQH", 60, 0, size, 0)
        )

    return render


safe_inputs = st.one_of(
    st.builds(
        lambda name, exclusive, args: Input(
            "queue.declare",
            _methods(
                build(
                    commands.Queue.Declare,
                    queue=name,
                    exclusive=exclusive,
                    auto_delete=not exclusive,
                    arguments=args,
                )
            ),
        ),
        names,
        st.booleans(),
        small_tables,
    ),
    st.builds(
        lambda exchange, key, payload: Input("basic.publish", _publish(exchange, key, payload)),
        st.sampled_from(["", "amq.direct", "amq.topic", "amq.fanout", "missing"]),
        keys,
        bodies,
    ),
    st.builds(
        lambda name: Input("basic.get", _methods(build(commands.Basic.Get, queue=name))), names
    ),
    st.builds(
        lambda name, key: Input(
            "queue.bind",
            _methods(build(commands.Queue.Bind, queue=name, exchange="amq.topic", routing_key=key)),
        ),
        names,
        keys,
    ),
    st.builds(
        lambda name, kind: Input(
            "exchange.declare",
            _methods(
                build(
                    commands.Exchange.Declare, exchange=name, exchange_type=kind, auto_delete=True
                )
            ),
        ),
        names,
        st.sampled_from(["direct", "fanout", "topic", "headers"]),
    ),
    st.builds(
        lambda count: Input("basic.qos", _methods(commands.Basic.Qos(prefetch_count=count))),
        st.integers(0, 65535),
    ),
    st.builds(
        lambda name: Input(
            "basic.consume",
            _methods(
                build(commands.Basic.Consume, queue=name, consumer_tag="fuzz"),
                commands.Basic.Cancel(consumer_tag="fuzz"),
            ),
        ),
        names,
    ),
    st.builds(
        lambda tag: Input("basic.ack overflow", _ack_overflow(tag), SURVIVES, 406), u64_overflow
    ),
    st.builds(
        lambda size: Input("body size overflow", _huge_body_size(size), SURVIVES, 406),
        u64_overflow,
    ),
)


@st.composite
def wild_inputs(draw: st.DrawFn) -> Input:
    """A safe input with bytes flipped, inserted or cut: anything may happen but a crash."""
    base = draw(safe_inputs)
    edits = draw(
        st.lists(
            st.tuples(
                st.sampled_from(["flip", "insert", "cut"]),
                st.floats(0, 1),
                st.binary(min_size=1, max_size=4),
            ),
            min_size=1,
            max_size=3,
        )
    )

    def render(channel: int) -> bytes:
        data = bytearray(base.render(channel))
        for edit, where, extra in edits:
            at = int(where * (len(data) - 1))
            if edit == "flip":
                data[at] ^= extra[0] or 1
            elif edit == "insert":
                data[at:at] = extra
            else:
                del data[at : at + len(extra)]
        return bytes(data)

    return Input("wild " + base.kind, render)


def _deep_table(depth: int) -> bytes:
    """A field table nested `depth` levels deep: {"a": {"a": ... {}}}."""
    table = struct.pack(">I", 0)
    for _ in range(depth - 1):
        entry = b"\x01aF" + table
        table = struct.pack(">I", len(entry)) + entry
    return table


def _queue_declare_payload(name: bytes, arguments: bytes = b"\x00\x00\x00\x00") -> bytes:
    return struct.pack(">HHH", 50, 10, 0) + bytes((len(name),)) + name + b"\x00" + arguments


_KNOWN = set(commands.INDEX_MAPPING) | {0x001E000A}  # access.request is answered, not refused

terminal_inputs = st.one_of(
    st.builds(
        lambda end: Input(
            "wrong end byte",
            lambda c: raw_frame(1, c, bytes(method(c, commands.Basic.Qos()))[7:-1], end),
            501,
        ),
        st.integers(0, 255).filter(lambda end: end != 0xCE),
    ),
    st.builds(
        lambda size: Input("huge declared size", lambda c: struct.pack(">BHI", 1, c, size), 501),
        st.integers(131073, 2**32 - 1),
    ),
    st.builds(
        lambda kind: Input("unknown frame type", lambda c: raw_frame(kind, c, b"abc"), 501),
        st.integers(0, 255).filter(lambda kind: kind not in (1, 2, 3, 8)),
    ),
    st.builds(
        lambda cut: Input(
            "truncated frame",
            lambda c: method(c, build(commands.Queue.Declare, queue="truncated"))[:cut],
            SILENT,
        ),
        st.integers(1, 20),
    ),
    st.builds(
        lambda index: Input(
            "unknown method",
            lambda c: raw_frame(1, c, struct.pack(">I", index)),
            540,
        ),
        st.integers(0, 2**32 - 1).filter(lambda index: index not in _KNOWN),
    ),
    st.just(
        Input(
            "content header first",
            lambda c: raw_frame(2, c, struct.pack(">HHQH", 60, 0, 1, 0)),
            505,
        )
    ),
    st.just(Input("body first", lambda c: raw_frame(3, c, b"body"), 505)),
    st.just(
        Input(
            "method inside content",
            lambda c: method(c, build(commands.Basic.Publish)) + method(c, commands.Basic.Qos()),
            505,
        )
    ),
    st.just(
        Input(
            "body before header",
            lambda c: method(c, build(commands.Basic.Publish)) + raw_frame(3, c, b"x"),
            505,
        )
    ),
    st.builds(
        lambda depth: Input(
            "deep table",
            lambda c: raw_frame(1, c, _queue_declare_payload(b"deep", _deep_table(depth))),
            501,
        ),
        st.integers(65, 400),
    ),
    st.builds(
        lambda name: Input(
            "invalid UTF-8 name",
            lambda c: raw_frame(1, c, _queue_declare_payload(name)),
            501,
        ),
        st.binary(min_size=1, max_size=255).filter(lambda raw: not _is_utf8(raw)),
    ),
    st.builds(
        lambda payload: Input("random method payload", lambda c: raw_frame(1, c, payload)),
        st.binary(max_size=64),
    ),
    safe_inputs,
)


def _is_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


@st.composite
def logged_in_sessions(draw: st.DrawFn, vhost: str) -> Session:
    """Many safe inputs, each on its own channel, then an attack, a mutated input or nothing."""
    prefix = draw(st.lists(safe_inputs, min_size=16, max_size=40))
    wild = wild_inputs()
    terminal = draw(st.one_of(st.none(), terminal_inputs, wild, wild, wild))
    channels = len(prefix) + 1
    data = handshake(vhost, channels) + b"".join(
        item.render(number) for number, item in enumerate(prefix, start=1)
    )
    if terminal is not None:
        data += terminal.render(channels)
    if terminal is None or terminal.expect != SILENT:
        data += CLIENT_CLOSE  # a connection still open answers Close-Ok
    return Session(
        logged_in=True,
        data=data,
        inputs=len(prefix) + (terminal is not None),
        terminal=terminal,
    )


@st.composite
def before_login_sessions(draw: st.DrawFn, vhost: str) -> Session:
    """Garbage for a protocol header, a mutated handshake, or a wrong password."""
    choice = draw(st.sampled_from(["garbage", "mutated", "password"]))
    if choice == "garbage":
        data = draw(
            st.binary(min_size=1, max_size=40).filter(
                lambda raw: not PROTOCOL_HEADER.startswith(raw[:8])
            )
        )
    elif choice == "password":
        data = handshake(
            vhost, 1, password=draw(st.text(max_size=10).filter(lambda p: p != "guest"))
        )
    else:
        data = bytearray(handshake(vhost, 2))
        for where, value in draw(
            st.lists(
                st.tuples(st.integers(0, len(data) - 1), st.integers(0, 255)),
                min_size=1,
                max_size=4,
            )
        ):
            data[where] = value
        data = bytes(data)
    return Session(
        logged_in=False,
        data=data,
        inputs=1,
        terminal=Input(choice, lambda c: b""),
    )


def sessions(vhost: str) -> st.SearchStrategy[Session]:
    return st.one_of(
        logged_in_sessions(vhost),
        logged_in_sessions(vhost),
        logged_in_sessions(vhost),
        before_login_sessions(vhost),
    )
