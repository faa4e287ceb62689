"""Store writes that survive a brief database outage: retried in order, buffered, never silently lost.

Ingest (sensor trips, vision events, robot conditions, audit entries, history) hands each write to
`WriteBuffer.submit` as a coroutine factory that does one whole transaction. While the store
answers, the write runs at once in the caller's task. When it fails with a *transient* error (the
connection is gone or refused, PostgreSQL is shutting down or refuses connections, SQLite says
"database is locked"), the write is kept in a bounded, ordered in-memory buffer, and every later
write queues behind it so that order holds (a trip is stored before its clear). `run()` (owned by
the service's TaskGroup) retries the oldest write with capped exponential backoff until the store
answers, then writes the rest.

A write that fails for any other reason (integrity, schema, a bug) is not retried: `submit` raises
it to the caller as before, and one found while draining the buffer is logged and counted in
`failed`. When the buffer is full a new write is dropped, counted in `dropped` and logged as an
error: the bound is what keeps an outage from exhausting memory.

The buffer lives in the process: a write waiting here when the process dies is lost (the MQTT bus
has already acknowledged the message that caused it, see RELIABILITY.md).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.exc import DBAPIError, DisconnectionError, IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

log = logging.getLogger(__name__)

Write = Callable[[], Awaitable[Any]]

# PostgreSQL SQLSTATEs worth waiting out: connection exceptions (class 08), the server shutting down or
# starting (57P01-57P03), too many connections / out of resources (53xxx), serialization and deadlock
# failures (40001, 40P01).
_TRANSIENT_SQLSTATE_CLASSES = ("08", "53")
_TRANSIENT_SQLSTATES = frozenset({"57P01", "57P02", "57P03", "40001", "40P01"})
# SQLite reports these as OperationalError without a code SQLAlchemy exposes; the message is all there is.
_TRANSIENT_SQLITE_TEXT = ("database is locked", "database table is locked", "unable to open database file",
                          "disk i/o error", "attempt to write a readonly database", "database is busy")


def _sqlstate(exc: BaseException) -> str | None:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        for attr in ("sqlstate", "pgcode"):
            code = getattr(current, attr, None)
            if isinstance(code, str) and code:
                return code
        current = getattr(current, "orig", None) or current.__cause__
    return None


def is_transient(exc: BaseException) -> bool:
    """Whether waiting and trying the same write again can succeed."""
    if isinstance(exc, IntegrityError):
        return False
    if isinstance(exc, (DisconnectionError, PoolTimeoutError, ConnectionError, TimeoutError)):
        return True
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        code = _sqlstate(exc)
        if code is not None:
            return code[:2] in _TRANSIENT_SQLSTATE_CLASSES or code in _TRANSIENT_SQLSTATES
        orig = exc.orig
        if isinstance(orig, (ConnectionError, TimeoutError)):
            return True
        if isinstance(orig, sqlite3.OperationalError) or type(orig).__name__ == "OperationalError":
            text = str(orig).lower()
            return any(t in text for t in _TRANSIENT_SQLITE_TEXT)
        return False
    # a refused TCP connect can reach us unwrapped from the driver's connect()
    return isinstance(exc, OSError) and not isinstance(exc, (FileNotFoundError, PermissionError))


_DATABASE_MODULES = ("sqlalchemy.", "asyncpg.", "aiosqlite.", "sqlite3")


def raised_by_database(exc: BaseException) -> bool:
    """Whether `exc` is the database's: a DBAPI error, or a socket error raised inside the driver (asyncpg
    lets a refused or reset connect through unwrapped)."""
    if isinstance(exc, DBAPIError):
        return True
    tb = exc.__traceback__
    while tb is not None:
        if str(tb.tb_frame.f_globals.get("__name__", "")).startswith(_DATABASE_MODULES):
            return True
        tb = tb.tb_next
    return False


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Backoff between retries of the oldest buffered write, and how many writes may wait."""

    first_delay_s: float = 0.05
    max_delay_s: float = 2.0
    factor: float = 2.0
    buffer_size: int = 10_000

    def __post_init__(self) -> None:
        if not (0 < self.first_delay_s <= self.max_delay_s) or self.factor < 1 or self.buffer_size < 1:
            raise ValueError(f"retry policy {self}: need 0 < first_delay_s <= max_delay_s, factor >= 1, "
                             "buffer_size >= 1")

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry number `attempt` (1, 2, ...)."""
        return float(min(self.max_delay_s, self.first_delay_s * self.factor ** max(0, attempt - 1)))


@dataclass
class WriteStats:
    """Counters shown under `store` by `GET /api/metrics`."""

    retries: int = 0  # failed attempts at a buffered write that will be tried again
    buffered: int = 0  # writes that had to wait for the store (total)
    written_late: int = 0  # buffered writes done after the store came back
    dropped: int = 0  # writes refused because the buffer was full
    failed: int = 0  # buffered writes given up on a non-transient error
    outages: int = 0  # times the store went from answering to not answering
    last_error: str | None = None
    unavailable_since: float | None = None  # wall-clock time of the first failure of this outage
    last_outage_s: float | None = None  # how long the last outage lasted, first failure to drained

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(slots=True)
class _Pending:
    label: str
    write: Write
    since: float


@dataclass
class WriteBuffer:
    """See the module docstring. One per store; `run()` must be running for buffered writes to land."""

    policy: RetryPolicy = field(default_factory=RetryPolicy)
    stats: WriteStats = field(default_factory=WriteStats)
    _pending: deque[_Pending] = field(default_factory=deque)
    _wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    _empty: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self._empty.set()

    @property
    def pending(self) -> int:
        return len(self._pending)

    @property
    def degraded(self) -> bool:
        """True while writes wait for the store."""
        return bool(self._pending)

    @property
    def full(self) -> bool:
        return len(self._pending) >= self.policy.buffer_size

    async def submit(self, label: str, write: Write) -> bool:
        """Do `write` now, or keep it for later when the store is unavailable (or earlier writes still
        wait). True when it was done now. Non-transient errors are raised as they are."""
        if self._pending:
            self._keep(label, write)
            return False
        try:
            await write()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if not is_transient(exc):
                raise
            self._unavailable(exc, label)
            self._keep(label, write)
            return False
        return True

    def _unavailable(self, exc: BaseException, label: str) -> None:
        self.stats.last_error = f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}"
        if self.stats.unavailable_since is None:
            self.stats.unavailable_since = time.time()
            self.stats.outages += 1
            log.error("store unavailable (%s) writing %s; buffering writes (up to %d) and retrying",
                      self.stats.last_error, label, self.policy.buffer_size)

    def _keep(self, label: str, write: Write) -> None:
        if self.full:
            self.stats.dropped += 1
            if self.stats.dropped == 1 or self.stats.dropped % 100 == 0:
                log.error("store write buffer full (%d writes waiting): dropped %s; %d dropped so far",
                          len(self._pending), label, self.stats.dropped)
            return
        self._pending.append(_Pending(label, write, time.monotonic()))
        self.stats.buffered += 1
        self._empty.clear()
        self._wakeup.set()

    async def run(self) -> None:
        """Retry buffered writes, oldest first, until each is done; runs until cancelled."""
        try:
            await self._drain_forever()
        finally:
            if self._pending:
                log.error("stopping with %d store writes not done (oldest: %s): they are lost",
                          len(self._pending), self._pending[0].label)

    async def _drain_forever(self) -> None:
        attempt = 0
        while True:
            if not self._pending:
                self._empty.set()
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            head = self._pending[0]
            try:
                await head.write()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if is_transient(exc):
                    attempt += 1
                    self.stats.retries += 1
                    self._unavailable(exc, head.label)
                    if attempt == 1 or attempt % 20 == 0:
                        log.warning("store still unavailable (%s): %d writes waiting, retry %d of %s",
                                    self.stats.last_error, len(self._pending), attempt, head.label)
                    await asyncio.sleep(self.policy.delay(attempt))
                    continue
                self.stats.failed += 1
                log.exception("buffered store write %s failed and is not retried", head.label)
            else:
                self.stats.written_late += 1
            self._pending.popleft()
            attempt = 0
            if not self._pending:
                self._recovered()

    def _recovered(self) -> None:
        since = self.stats.unavailable_since
        if since is not None:
            self.stats.last_outage_s = time.time() - since
            log.warning("store answering again: buffered writes done %.1f s after the first failure",
                        self.stats.last_outage_s)
        self.stats.unavailable_since = None
        self._empty.set()

    async def wait_empty(self) -> None:
        """Until no write waits (tests, shutdown)."""
        await self._empty.wait()


async def submit_or_run(writes: WriteBuffer | None, label: str, write: Write) -> bool:
    """`writes.submit(label, write)`, or just `write()` for a caller wired without a buffer."""
    if writes is None:
        await write()
        return True
    return await writes.submit(label, write)
