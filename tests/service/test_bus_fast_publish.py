"""The bus client's short way for PUBLISH packets (`LoopClient.take_publishes`) against paho's own
parser: the same messages out of the same bytes, however the stream is cut, and everything it does
not take (other packets, QoS 2, malformed or incomplete packets) left to paho untouched."""

from __future__ import annotations

import random
import socket

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from patrol.bus_client import LoopClient


def publish(topic: str, payload: bytes, qos: int = 0, mid: int = 0, retain: bool = False) -> bytes:
    t = topic.encode()
    body = len(t).to_bytes(2, "big") + t + (mid.to_bytes(2, "big") if qos else b"") + payload
    length, rl = len(body), bytearray()
    while True:
        byte, length = length & 0x7F, length >> 7
        rl.append(byte | (0x80 if length else 0))
        if not length:
            break
    return bytes([0x30 | (qos << 1) | int(retain)]) + bytes(rl) + body


def client() -> LoopClient:
    return LoopClient(CallbackAPIVersion.VERSION2, client_id="test-fast", protocol=mqtt.MQTTv311)


def take_all(c: LoopClient, data: bytes) -> list[tuple[str, bytes]]:
    got: list[tuple[str, bytes]] = []
    c._rx, c._rx_pos = data, 0
    c.take_publishes(lambda topic, payload: got.append((topic, payload)) is None, 10_000)
    return got


def test_qos0_and_qos1_publishes_are_taken_whole_and_qos1_is_acknowledged() -> None:
    big = bytes(random.Random(1).randrange(256) for _ in range(70_000))  # a 3-byte remaining length
    stream = (publish("uagv/v2/a/r1/state", b'{"x": 1}') + publish("sensors/é", b"", qos=1, mid=513)
              + publish("cam/1", big, retain=True))
    c = client()
    assert take_all(c, stream) == [("uagv/v2/a/r1/state", b'{"x": 1}'), ("sensors/é", b""), ("cam/1", big)]
    assert c.rx_buffered == 0
    acks = [bytes(p["packet"]) for p in c._out_packet]
    assert acks == [b"\x40\x02\x02\x01"]  # PUBACK for packet id 513


def test_it_stops_at_what_paho_must_handle_and_leaves_those_bytes() -> None:
    first = publish("a/b", b"1")
    for rest in (b"\xd0\x00",  # PINGRESP
                 publish("a/b", b"2", qos=2, mid=7),  # QoS 2: paho's handshake
                 publish("a/b", b"3")[:-1],  # incomplete: more bytes to come
                 b"\x30\x05\x00\x09abc",  # topic longer than the packet: malformed
                 b"\x30\x02\x00\x00",  # empty topic
                 b"\x30\x06\x00\x02\xff\xfeab",  # topic not UTF-8
                 b"\x30\xff\xff\xff\xff\x01"):  # remaining length over 4 bytes
        c = client()
        assert take_all(c, first + rest) == [("a/b", b"1")]
        assert c.rx_buffered == len(rest)


def test_it_stops_when_the_taker_is_full() -> None:
    c = client()
    got: list[str] = []
    c._rx, c._rx_pos = publish("a/1", b"") + publish("a/2", b"") + publish("a/3", b""), 0
    assert c.take_publishes(lambda topic, payload: got.append(topic) is None and len(got) < 2, 10) == 2
    assert got == ["a/1", "a/2"] and c.rx_buffered == len(publish("a/3", b""))


def test_nothing_is_taken_while_paho_is_inside_a_packet() -> None:
    c = client()
    c._in_packet["command"] = 0x30
    assert take_all(c, publish("a/b", b"1")) == []


def test_any_cut_of_the_stream_gives_paho_and_the_short_way_the_same_messages() -> None:
    """A random mix of packets fed in random chunks: the short way plus paho's parser (reading the
    leftovers from the same buffer) deliver exactly the messages paho alone delivers."""
    rnd = random.Random(7)
    packets, want = [], []
    for k in range(400):
        topic = f"t/{k % 5}/{'x' * rnd.randrange(0, 40)}"
        payload = bytes(rnd.randrange(256) for _ in range(rnd.choice((0, 3, 200, 300))))
        qos = rnd.choice((0, 0, 1))
        packets.append(publish(topic, payload, qos=qos, mid=k + 1))
        want.append((topic, payload))
        if k % 37 == 0:
            packets.append(b"\xd0\x00")  # PINGRESP between messages
    stream = b"".join(packets)
    got: list[tuple[str, bytes]] = []
    c = client()
    c.on_message = lambda cl, ud, msg: got.append((msg.topic, bytes(msg.payload)))
    chunks, pos = [], 0
    while pos < len(stream):
        step = rnd.randrange(1, 3000)
        chunks.append(stream[pos:pos + step])
        pos += step

    def recv(bufsize: int) -> bytes:
        if not chunks:
            raise BlockingIOError
        return chunks.pop(0)

    ours, broker_side = socket.socketpair()  # paho needs a socket to queue its PUBACKs on
    c._sock = ours
    c._raw_recv = recv  # type: ignore[method-assign]
    deliver = got.append
    try:
        for _ in range(100_000):
            c.take_publishes(lambda topic, payload: deliver((topic, payload)) is None, 1000)
            c.rx_exhausted = False
            if c.loop_read() != mqtt.MQTT_ERR_SUCCESS or (c.rx_exhausted and not chunks and not c.rx_buffered):
                break
    finally:
        c._sock = None
        ours.close()
        broker_side.close()
    assert got == want
