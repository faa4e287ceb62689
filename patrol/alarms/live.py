"""Live change feed of alarms, incidents, escalations and arming, for the console's WebSocket."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

log = logging.getLogger(__name__)

LiveKind = Literal["alarm", "incident", "escalation", "arming"]


@dataclass(frozen=True, slots=True)
class LiveEvent:
    """`data` is the JSON form of the changed object (AlarmPublic, IncidentPublic, ...)."""

    kind: LiveKind
    data: dict[str, Any]


LiveCallback = Callable[[LiveEvent], None]


class LiveHub:
    """Fan-out of `LiveEvent`s to synchronous, non-blocking callbacks (e.g. `queue.put_nowait`)."""

    def __init__(self) -> None:
        self._callbacks: list[LiveCallback] = []

    def subscribe(self, callback: LiveCallback) -> Callable[[], None]:
        """Register `callback`; returns the function that unsubscribes it."""
        self._callbacks.append(callback)

        def unsubscribe() -> None:
            if callback in self._callbacks:
                self._callbacks.remove(callback)

        return unsubscribe

    def emit(self, event: LiveEvent) -> None:
        for callback in list(self._callbacks):
            try:
                callback(event)
            except Exception:  # a broken subscriber must not stop alarm processing
                log.exception("live subscriber %r failed on %s event", callback, event.kind)
