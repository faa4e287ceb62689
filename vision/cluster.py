"""Vision workers sharing one camera file: membership through the broker, assignment by rendezvous hashing.

No coordinator and no home-made infrastructure: each worker keeps a retained record on
`parkpatrol/vision/workers/<id>` (`state: online`, id, capacity, started_at, heartbeat) and leaves a
last will that replaces it with `state: offline`. Every worker subscribes to all records, so all see
the same live members and compute the same assignment with weighted rendezvous (HRW) hashing: a
camera goes to the member with the highest `capacity / -ln(hash(worker, camera))`. Removing a member
moves only that member's cameras; adding one moves only the cameras it wins.

When a worker dies the broker publishes its will: at once when its socket closes (process killed),
after keepalive x 1.5 when the link just goes silent. A record that stops being refreshed counts as
gone after the same keepalive x 1.5, which also covers a lost will. Survivors start the cameras they
gained; each worker publishes the cameras it watches, retained, on `parkpatrol/vision/assignments/<id>`.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from vision import topics

log = logging.getLogger(__name__)
MAX_RECORD_BYTES = 4096


class WorkerRecord(BaseModel):
    """The retained membership record of one worker."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    state: Literal["online", "offline"]
    capacity: float = Field(gt=0, le=10_000)
    started_at: float
    heartbeat: float


class AssignmentRecord(BaseModel):
    """The retained list of cameras one worker watches (empty when it left)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    worker: str
    cameras: list[str]
    members: list[str]
    at: float


def _unit_hash(worker_id: str, camera_id: str) -> float:
    """A stable pseudo-random number in (0, 1) for the pair (same on every machine and Python run)."""
    digest = hashlib.blake2b(f"{worker_id}\x00{camera_id}".encode(), digest_size=8).digest()
    return (int.from_bytes(digest, "big") + 0.5) / 2.0**64


def owner(camera_id: str, members: Mapping[str, float]) -> str | None:
    """The member (id -> capacity) that rendezvous hashing gives `camera_id`; None without members."""
    best: tuple[float, str] | None = None
    for wid, capacity in members.items():
        score = capacity / -math.log(_unit_hash(wid, camera_id))
        if best is None or (score, wid) > best:
            best = (score, wid)
    return None if best is None else best[1]


def assign(cameras: Iterable[str], members: Mapping[str, float]) -> dict[str, str]:
    """camera id -> worker id for every camera (empty when there are no members)."""
    if not members:
        return {}
    out: dict[str, str] = {}
    for cid in cameras:
        w = owner(cid, members)
        assert w is not None
        out[cid] = w
    return out


@dataclass
class MembershipStats:
    records: int = 0
    bad_records: int = 0
    expired: int = 0


@dataclass
class Membership:
    """Live members as seen from the records received; a record not refreshed within `ttl` is gone.

    Times are this process's monotonic clock at receipt, so clocks of other machines do not matter.
    """

    ttl: float
    members: dict[str, WorkerRecord] = field(default_factory=dict)
    seen_at: dict[str, float] = field(default_factory=dict)
    stats: MembershipStats = field(default_factory=MembershipStats)

    def receive(self, topic: str, payload: bytes, now: float) -> bool:
        """Apply one message of `parkpatrol/vision/workers/+`; True when the live set changed."""
        wid = topics.last_level(topic, topics.WORKERS_FILTER)
        if wid is None:
            self.stats.bad_records += 1
            log.warning("%s: not a worker record topic", topic)
            return False
        self.stats.records += 1
        before = set(self.live())
        if not payload:  # a cleared record
            self.members.pop(wid, None)
            self.seen_at.pop(wid, None)
            return set(self.live()) != before
        try:
            if len(payload) > MAX_RECORD_BYTES:
                raise ValueError(f"{len(payload)} bytes, more than {MAX_RECORD_BYTES}")
            rec = WorkerRecord.model_validate_json(payload)
            if rec.id != wid:
                raise ValueError(f"record id {rec.id!r} differs from the topic's {wid!r}")
        except (ValidationError, ValueError) as e:
            self.stats.bad_records += 1
            log.warning("%s: ignoring a bad worker record: %s", topic, str(e).replace("\n", "; ")[:300])
            return False
        if rec.state == "offline":
            self.members.pop(wid, None)
            self.seen_at.pop(wid, None)
        else:
            self.members[wid] = rec
            self.seen_at[wid] = now
        return set(self.live()) != before

    def expire(self, now: float, keep: str | None = None) -> bool:
        """Drop members not heard from within `ttl` (never `keep`, this worker); True if any went.

        When `keep`'s own record has not come back within `ttl` either, it is this worker that is cut
        off (or was frozen): nobody is dropped, so it does not grab every camera on a stale view.
        """
        own = self.seen_at.get(keep) if keep is not None else None
        if own is not None and now - own > self.ttl:
            return False
        gone = [w for w, t in self.seen_at.items() if w != keep and now - t > self.ttl]
        for w in gone:
            log.warning("vision worker %s: no heartbeat for %.1f s, taking it as gone", w, now - self.seen_at[w])
            self.members.pop(w, None)
            self.seen_at.pop(w, None)
            self.stats.expired += 1
        return bool(gone)

    def touch_all(self, now: float) -> None:
        """Restart every member's timeout (after a reconnect, before their retained records arrive)."""
        for w in self.seen_at:
            self.seen_at[w] = now

    def live(self) -> dict[str, float]:
        """worker id -> capacity of the live members."""
        return {w: r.capacity for w, r in sorted(self.members.items())}
