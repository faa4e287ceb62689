"""Rendezvous assignment and membership bookkeeping of vision workers (no broker needed)."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter

import pytest

from vision import topics
from vision.cluster import Membership, WorkerRecord, assign, owner
from vision.mqtt import CancelCheck

CAMERAS = [f"cam-{i:02d}" for i in range(60)]


def record(wid: str, state: str = "online", capacity: float = 1.0) -> bytes:
    return WorkerRecord(id=wid, state=state, capacity=capacity, started_at=1.0,  # type: ignore[arg-type]
                        heartbeat=2.0).model_dump_json().encode()


def test_every_camera_gets_exactly_one_live_worker_and_the_result_is_deterministic() -> None:
    members = {"a": 1.0, "b": 1.0, "c": 1.0}
    got = assign(CAMERAS, members)
    assert set(got) == set(CAMERAS) and set(got.values()) == set(members)
    assert assign(reversed(CAMERAS), dict(reversed(members.items()))) == got
    assert assign(CAMERAS, {}) == {}
    assert owner("cam-00", {}) is None


def test_removing_a_member_moves_only_its_cameras() -> None:
    before = assign(CAMERAS, {"a": 1.0, "b": 1.0, "c": 1.0, "d": 1.0})
    after = assign(CAMERAS, {"a": 1.0, "b": 1.0, "d": 1.0})
    moved = {c for c in CAMERAS if before[c] != after[c]}
    assert moved == {c for c in CAMERAS if before[c] == "c"} and moved
    assert all(after[c] != "c" for c in CAMERAS)


def test_adding_a_member_moves_only_the_cameras_it_wins() -> None:
    before = assign(CAMERAS, {"a": 1.0, "b": 1.0})
    after = assign(CAMERAS, {"a": 1.0, "b": 1.0, "n": 1.0})
    assert {c for c in CAMERAS if before[c] != after[c]} == {c for c in CAMERAS if after[c] == "n"}


def test_capacity_weights_the_share() -> None:
    cams = [f"c{i}" for i in range(3000)]
    counts = Counter(assign(cams, {"big": 3.0, "small": 1.0}).values())
    share = counts["big"] / len(cams)
    assert 0.70 < share < 0.80, counts  # 3/4 expected


def test_membership_follows_records_wills_and_expiry() -> None:
    m = Membership(ttl=15.0)
    assert m.receive(topics.worker("a"), record("a"), now=0.0)
    assert m.receive(topics.worker("b"), record("b", capacity=2.0), now=0.0)
    assert m.live() == {"a": 1.0, "b": 2.0}
    assert not m.receive(topics.worker("a"), record("a"), now=10.0)  # heartbeat: no change
    assert m.receive(topics.worker("b"), record("b", "offline"), now=11.0)  # b's will
    assert m.live() == {"a": 1.0}
    assert m.receive(topics.worker("b"), record("b"), now=12.0)
    assert m.receive(topics.worker("c"), b"", now=12.0) is False  # clearing an unknown record
    assert not m.expire(20.0)
    m.receive(topics.worker("a"), record("a"), now=25.0)  # a's own heartbeat comes back
    assert m.expire(27.5, keep="a") and m.live() == {"a": 1.0}  # b silent for 15.5 s
    assert m.stats.expired == 1
    assert m.expire(45.0) and m.live() == {}


def test_a_worker_that_hears_not_even_itself_drops_nobody() -> None:
    """Frozen or cut off: its own heartbeats stopped coming back, so its view is stale, not the others'."""
    m = Membership(ttl=3.0)
    m.receive(topics.worker("a"), record("a"), now=0.0)
    m.receive(topics.worker("b"), record("b"), now=0.0)
    assert not m.expire(10.0, keep="a") and m.live() == {"a": 1.0, "b": 1.0}
    m.receive(topics.worker("a"), record("a"), now=10.5)  # connected again: b is gone unless it speaks
    assert m.expire(10.5, keep="a") and m.live() == {"a": 1.0}


@pytest.mark.parametrize("topic, payload", [
    ("parkpatrol/vision/workers/a", b"not json"),
    ("parkpatrol/vision/workers/a", record("b")),  # id differs from the topic
    ("parkpatrol/vision/workers/a", b'{"id": "a", "state": "online", "capacity": -1, "started_at": 0, '
                                    b'"heartbeat": 0}'),
    ("parkpatrol/vision/workers/a", b'{"id": "a", "state": "online", "capacity": 1, "started_at": 0, '
                                    b'"heartbeat": 0, "extra": 1}'),
    ("parkpatrol/vision/workers/a", b"{" + b" " * 5000 + b"}"),
    ("parkpatrol/vision/workers/a/deeper", record("a")),
])
def test_bad_records_are_counted_and_ignored(topic: str, payload: bytes) -> None:
    m = Membership(ttl=15.0)
    assert not m.receive(topic, payload, now=0.0)
    assert m.live() == {} and m.stats.bad_records == 1


def test_topics_refuse_bad_ids() -> None:
    assert topics.worker("vision-a") == "parkpatrol/vision/workers/vision-a"
    assert topics.snapshot("1700000000.123-door-1") == "parkpatrol/vision/snapshots/1700000000.123-door-1"
    for build in (topics.worker, topics.assignment, topics.snapshot):
        with pytest.raises(ValueError):
            build("a/b")
        with pytest.raises(ValueError):
            build("")
    assert topics.last_level("parkpatrol/vision/workers/x", topics.WORKERS_FILTER) == "x"
    assert topics.last_level("parkpatrol/vision/workers/", topics.WORKERS_FILTER) is None


def test_the_vision_worker_account_may_use_every_cluster_topic() -> None:
    from paho.mqtt.client import topic_matches_sub

    from robots.security import BrokerAccount

    rules = BrokerAccount.vision_worker("parkpatrol-vision", password_hash="$7$1$a$b").acl_rules()
    writable = [r.split()[-1] for r in rules if r.split()[1] in ("write", "readwrite")]
    readable = [r.split()[-1] for r in rules if r.split()[1] in ("read", "readwrite")]
    for topic in (topics.worker("w1"), topics.assignment("w1"), topics.snapshot("1.0-gate-1"),
                  topics.camera_status("gate"), topics.EVENTS):
        assert any(topic_matches_sub(f, topic) for f in writable), topic
    assert any(topic_matches_sub(f, topics.worker("w2")) for f in readable)


async def test_cancel_check_raises_the_cancel_that_wait_for_lost() -> None:
    """aiomqtt waits with asyncio.wait_for; on Python 3.11 a cancel that lands just as the awaited future
    completes is lost (CPython gh-86296) and the task runs on. CancelCheck raises it again."""
    ready = asyncio.Event()
    rounds = 0

    async def looping() -> None:
        nonlocal rounds
        for _ in range(3):
            with CancelCheck(), contextlib.suppress(TimeoutError):
                await asyncio.wait_for(ready.wait(), 5)
            rounds += 1

    task = asyncio.create_task(looping())
    await asyncio.sleep(0.05)
    ready.set()  # the inner wait completes ...
    await asyncio.sleep(0)  # ... wait_for's waiter is released ...
    task.cancel()  # ... and the cancel lands before the task resumes
    with pytest.raises(asyncio.CancelledError):
        await task
    assert task.cancelled() and rounds == 0


async def test_cancel_check_leaves_a_finished_call_alone() -> None:
    with CancelCheck():
        await asyncio.wait_for(asyncio.sleep(0), 1)
    check = CancelCheck()
    check.check()  # no cancel requested: nothing raised
