"""Hostile input on the service's MQTT handlers: every bad message is counted, nothing crashes,
well-behaved robots' state never changes because of someone else's garbage.

Short variant: a few hundred generated cases per handler (always on); `-m slow` runs thousands.
"""

from __future__ import annotations

import copy
import math
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from maps import Park, load_park, sample_park_path
from patrol.fleet.registry import RobotKind, RobotRegistry
from patrol.fleet.state import FleetState
from patrol.store.db import Store
from robots.vda5050.state import Visualization
from tests.reliability.helpers import dumps, state_dict

pytestmark = pytest.mark.reliability

SHORT_CASES = 300
LONG_CASES = 5000
MAX_PAYLOAD = 64 * 1024
FUZZ_SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                                          HealthCheck.function_scoped_fixture], database=None)


@dataclass
class Fleet:
    state: FleetState
    park: Park
    home: tuple[float, float]

    def total(self) -> int:
        return self.state.accepted_messages + sum(self.state.rejected.values())


@pytest.fixture
async def fleet(tmp_path: Path) -> AsyncIterator[Fleet]:
    store = Store(f"sqlite+aiosqlite:///{tmp_path / 'fuzz.db'}")
    await store.migrate()
    try:
        registry = RobotRegistry(store.sessions)
        await registry.load()
        for serial in ("good-1", "target-2"):
            await registry.add("acme", serial, RobotKind.PATROL_DOG)
        park = load_park(sample_park_path())
        fs = FleetState(registry, park, max_payload_bytes=MAX_PAYLOAD, clock=lambda: 1000.0)
        fs.seed_from_registry()
        wp = next(iter(park.waypoints.values()))
        fs.handle("uagv/v2/acme/good-1/state", dumps(state_dict("good-1", wp.x, wp.y)))
        assert fs.robots["good-1"].online and fs.accepted_messages == 1
        yield Fleet(fs, park, (wp.x, wp.y))
    finally:
        await store.close()


# -- strategies ------------------------------------------------------------------------------------
JSON_LEAVES = (st.none() | st.booleans() | st.integers(min_value=-2**70, max_value=2**70)
               | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=40))
JSON_VALUES = st.recursive(JSON_LEAVES, lambda children: st.lists(children, max_size=5)
                           | st.dictionaries(st.text(max_size=12), children, max_size=5), max_leaves=25)
FIELDS = list(state_dict("x", 0, 0))
SUBTOPICS = ("state", "connection", "factsheet", "visualization", "order", "instantActions", "bogus")


def _deep(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


@st.composite
def mutated_state(draw: st.DrawFn, serial: str, home: tuple[float, float]) -> bytes:
    """A valid state with one hostile change: wrong type, missing field, far position, odd clock, ..."""
    d = state_dict(serial, *home)
    kind = draw(st.sampled_from(["wrong_type", "drop", "position", "nan", "timestamp", "unicode", "extra"]))
    if kind == "wrong_type":
        d[draw(st.sampled_from(FIELDS))] = draw(JSON_VALUES)
    elif kind == "drop":
        d.pop(draw(st.sampled_from(FIELDS)))
    elif kind == "position":
        d["agvPosition"]["x"] = draw(st.floats(min_value=-1e12, max_value=1e12))
        d["agvPosition"]["y"] = draw(st.floats(min_value=-1e12, max_value=1e12))
    elif kind == "nan":
        key = draw(st.sampled_from(["x", "y", "theta"]))
        d["agvPosition"][key] = draw(st.sampled_from([math.nan, math.inf, -math.inf]))
    elif kind == "timestamp":
        d["timestamp"] = draw(st.sampled_from(["0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "1970-01-01T00:00:00Z",
                                               "2026-13-45T99:99:99Z", "yesterday", ""]))
    elif kind == "unicode":
        d[draw(st.sampled_from(["serialNumber", "manufacturer", "orderId", "lastNodeId"]))] = draw(st.text(max_size=60))
    else:
        d[draw(st.text(min_size=1, max_size=20))] = draw(JSON_VALUES)
    return dumps(d)


def hostile_payloads(serial: str, home: tuple[float, float]) -> st.SearchStrategy[bytes]:
    return st.one_of(
        st.binary(max_size=2048),
        JSON_VALUES.map(dumps),
        st.text(max_size=500).map(lambda s: s.encode("utf-8", "surrogatepass")),
        st.integers(min_value=MAX_PAYLOAD + 1, max_value=4 * MAX_PAYLOAD).map(lambda n: b'{"x":"' + b"A" * n + b'"}'),
        st.integers(min_value=200, max_value=50_000).map(_deep),
        mutated_state(serial, home),
    )


class Msg(tuple[str, bytes]):
    """(topic, payload) with a short repr, so a failing huge payload is reported readably."""

    def __repr__(self) -> str:
        return f"Msg({self[0]!r}, {len(self[1])} bytes: {self[1][:120]!r})"


@st.composite
def hostile_message(draw: st.DrawFn, home: tuple[float, float]) -> tuple[str, bytes]:
    """(topic, payload) aimed at the target robot, at a stranger, or at a malformed topic."""
    target = draw(st.sampled_from(["target-2", "target-2", "stranger-9"]))
    sub = draw(st.sampled_from(SUBTOPICS))
    topic = draw(st.sampled_from([f"uagv/v2/acme/{target}/{sub}", f"uagv/v1/acme/{target}/{sub}",
                                  f"uagv/v2/acme/{target}", f"uagv/v2/acme/{target}/{sub}/extra",
                                  f"uagv/v2/\u00e9vil/\u0000{target}/{sub}"]))
    return Msg((topic, draw(hostile_payloads(target, home))))


@st.composite
def spoof_on_good_robot(draw: st.DrawFn, home: tuple[float, float], park: Park) -> tuple[str, bytes]:
    """Messages on the good robot's own topics that must never be accepted."""
    kind = draw(st.sampled_from(["spoof", "outside", "nan", "garbage", "oversized"]))
    d = state_dict("good-1", *home)
    if kind == "spoof":
        d["serialNumber"] = draw(st.text(max_size=20).filter(lambda s: s != "good-1"))
    elif kind == "outside":
        x = draw(st.floats(min_value=-1e9, max_value=1e9))
        y = draw(st.floats(min_value=-1e9, max_value=1e9))
        if park.contains(x, y):
            x = 1e8
        d["agvPosition"].update(x=x, y=y)
    elif kind == "nan":
        d["agvPosition"]["x"] = draw(st.sampled_from([math.nan, math.inf, -math.inf]))
    elif kind == "garbage":
        return "uagv/v2/acme/good-1/state", draw(st.binary(max_size=512).filter(lambda b: not b.startswith(b"{")))
    else:
        return "uagv/v2/acme/good-1/state", b" " * (MAX_PAYLOAD + 1)
    return f"uagv/v2/acme/good-1/{draw(st.sampled_from(['state', 'visualization']))}", dumps(d)


def _run(fleet: Fleet, strategy: st.SearchStrategy[tuple[str, bytes]], cases: int,
         check: Callable[[Fleet, int, int, Any], None]) -> int:
    good_before = copy.deepcopy(fleet.state.robots["good-1"])
    seen = 0

    @settings(max_examples=cases, **FUZZ_SETTINGS)  # type: ignore[arg-type]
    @given(strategy)
    def one(msg: tuple[str, bytes]) -> None:
        nonlocal seen
        topic, payload = msg
        before_total, before_accepted = fleet.total(), fleet.state.accepted_messages
        fleet.state.handle(topic, payload)  # must never raise
        seen += 1
        if _ignored_by_design(topic, payload):
            assert fleet.total() in (before_total, before_total + 1)
        else:
            assert fleet.total() == before_total + 1, f"message on {topic!r} neither accepted nor counted as rejected"
        check(fleet, before_accepted, fleet.state.accepted_messages, msg)

    one()
    assert fleet.state.robots["good-1"] == good_before, "a well-behaved robot's state changed"
    assert set(fleet.state.robots) == {"good-1", "target-2"}, "an unregistered robot entered the fleet"
    return seen


def _ignored_by_design(topic: str, payload: bytes) -> bool:
    """Messages the service may deliberately ignore without counting: a cleared retained `connection`,
    a `visualization` that carries no position (if its header is wrong it is still counted)."""
    if topic == "uagv/v2/acme/target-2/connection":
        return payload == b""
    if topic == "uagv/v2/acme/target-2/visualization":
        try:
            return Visualization.from_json(payload).agv_position is None
        except (ValidationError, ValueError):
            return False
    return False


def _accepted_only_valid(fleet: Fleet, before: int, after: int, msg: Any) -> None:
    if after > before:  # accepted: the target robot must still be somewhere sane
        r = fleet.state.robots["target-2"]
        if r.x is not None and r.y is not None:
            assert math.isfinite(r.x) and math.isfinite(r.y) and fleet.park.contains(r.x, r.y)


def _never_accepted(fleet: Fleet, before: int, after: int, msg: Any) -> None:
    assert after == before, f"accepted a hostile message on the good robot's topic: {msg[0]} {msg[1][:200]!r}"


async def test_robot_topics_fuzz(fleet: Fleet) -> None:
    n = _run(fleet, hostile_message(fleet.home), SHORT_CASES, _accepted_only_valid)
    assert n == SHORT_CASES
    assert fleet.state.rejected["oversized"] >= 1 or fleet.state.rejected["bad_topic"] >= 1


async def test_spoofed_and_impossible_messages_on_a_good_robot_are_rejected(fleet: Fleet) -> None:
    _run(fleet, spoof_on_good_robot(fleet.home, fleet.park), SHORT_CASES, _never_accepted)


def test_fixed_hostile_corpus_each_counted_under_its_reason(tmp_path: Path) -> None:
    """The named cases from the issue, one by one, with the reason each is counted under."""
    import asyncio

    async def go() -> None:
        store = Store(f"sqlite+aiosqlite:///{tmp_path / 'corpus.db'}")
        await store.migrate()
        try:
            registry = RobotRegistry(store.sessions)
            await registry.add("acme", "dog-1", RobotKind.PATROL_DOG)
            park = load_park(sample_park_path())
            fs = FleetState(registry, park, max_payload_bytes=MAX_PAYLOAD)
            fs.seed_from_registry()
            wp = next(iter(park.waypoints.values()))
            t = "uagv/v2/acme/dog-1/state"
            corpus: list[tuple[str, bytes, str]] = [
                (t, b"{not json", "invalid_state"),
                (t, dumps({**state_dict("dog-1", wp.x, wp.y), "headerId": "one"}), "invalid_state"),
                (t, dumps({**state_dict("dog-1", wp.x, wp.y), "driving": "yes"}), "invalid_state"),
                (t, b'{"a":' * 5000 + b"1" + b"}" * 5000, "invalid_state"),
                (t, b"x" * (MAX_PAYLOAD + 1), "oversized"),
                (t, dumps(state_dict("dog-1", math.nan, wp.y)), "invalid_state"),
                (t, dumps(state_dict("dog-1", 1e9, 1e9)), "position_outside_map"),
                (t, dumps(state_dict("dog-2", wp.x, wp.y)), "identity_mismatch"),
                (t, dumps(state_dict("dog-1\u202e\U0001f436", wp.x, wp.y)), "identity_mismatch"),
                ("uagv/v2/acme/dog-1/order", dumps(state_dict("dog-1", wp.x, wp.y)), "robot_on_service_topic"),
                ("uagv/v2/acme/ghost/state", dumps(state_dict("ghost", wp.x, wp.y)), "unknown_robot"),
                ("uagv/v2/acme", b"{}", "bad_topic"),
            ]
            for topic, payload, reason in corpus:
                before = fs.rejected[reason]
                fs.handle(topic, payload)
                assert fs.rejected[reason] == before + 1, (reason, payload[:80])
            assert fs.accepted_messages == 0
            assert fs.robots["dog-1"].x is None
        finally:
            await store.close()

    asyncio.run(go())


@pytest.mark.slow
async def test_robot_topics_fuzz_long(fleet: Fleet) -> None:
    assert _run(fleet, hostile_message(fleet.home), LONG_CASES, _accepted_only_valid) == LONG_CASES
    _run(fleet, spoof_on_good_robot(fleet.home, fleet.park), LONG_CASES, _never_accepted)
