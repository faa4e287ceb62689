"""Sensor ingest: Zigbee2MQTT state and availability, HA discovery, vision events and camera health
turned into alarm signals, with debounce, repeat suppression, offline expiry and readings history.

`handle_message(topic, payload)` is the one entry point for every ingest topic (see `SUBSCRIPTIONS`);
it never raises on bad input: problems are counted in `counters` and logged.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from patrol import topics
from patrol.alarms.coltypes import utc_from_clock
from patrol.alarms.model import Actor, AlarmSignal, AlarmType, Severity, camera_source, sensor_source
from patrol.alarms.service import AlarmFilter, AlarmService
from patrol.alarms.site import zone_at
from patrol.audit import AuditLog
from patrol.sensors import wire
from patrol.sensors.policy import SensorPolicy
from patrol.sensors.readings import Downsampler
from patrol.sensors.schemas import ReadingPublic, SensorPlace, SensorPublic
from patrol.sensors.tables import SensorRow
from patrol.store.retry import Write, WriteBuffer, is_transient, submit_or_run
from robots.clock import Clock

log = logging.getLogger(__name__)

SUBSCRIPTIONS = (topics.ZIGBEE_FILTER, topics.HA_DISCOVERY_FILTER, topics.VISION_EVENTS,
                 topics.CAMERA_STATUS_FILTER)
# field -> value that means "tripped"
INTRUSION_FIELDS = {"contact": False, "occupancy": True, "vibration": True}
CONDITION_FIELDS = {"smoke": AlarmType.SMOKE, "water_leak": AlarmType.WATER, "tamper": AlarmType.TAMPER}
SEEN_VISION_EVENTS = 10_000


def snapshot_ref(event_id: str) -> str:
    """Where the console fetches a vision event's snapshot (served by the vision routes)."""
    return f"/api/vision/events/{event_id}/snapshot.jpg"


MAX_PAYLOAD_BYTES = 64 * 1024  # a Zigbee2MQTT state or a vision event is a few hundred bytes


@dataclass
class IngestCounters:
    messages: int = 0
    malformed: int = 0
    malformed_fields: int = 0
    unknown_devices: int = 0
    unknown_cameras: int = 0
    pending_device_messages: int = 0
    discovered: int = 0
    discovery_ignored: int = 0
    bridge: int = 0
    trips: int = 0
    trips_unarmed: int = 0
    debounced: int = 0
    suppressed: int = 0
    vision_events: int = 0
    vision_ignored: int = 0
    expired: int = 0
    cameras_stale: int = 0  # cameras raised offline because their status went silent (nobody watching)
    errors: int = 0
    housekeeping_deferred: int = 0  # ticks whose writes waited for the store (tried again next tick)

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass
class _Device:
    id: str
    kind: str
    placed: bool
    x: float | None
    y: float | None
    zone: str | None
    expire_after_s: float | None
    last_seen: float | None = None
    battery: float | None = None
    available: bool | None = None
    state: dict[str, bool] = field(default_factory=dict)
    last_trip: dict[str, float] = field(default_factory=dict)
    offline: bool = False
    low_battery: bool = False
    dirty: bool = False


class UnknownSensorError(KeyError):
    def __str__(self) -> str:
        return f"sensor {self.args[0]!r} is neither on the map nor discovered"


class SensorService:
    """Registry and ingest of sensors; `run()` expires silent sensors and writes readings history."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], clock: Clock, alarms: AlarmService,
                 audit: AuditLog, policy: SensorPolicy | None = None, writes: WriteBuffer | None = None) -> None:
        self._sessions = sessions
        self._writes = writes
        self._clock = clock
        self._alarms = alarms
        self._park = alarms.park
        self._audit = audit
        self.policy = policy or SensorPolicy()
        self.counters = IngestCounters()
        self.readings = Downsampler(sessions, self.policy.reading_bucket_s)
        self._devices: dict[str, _Device] = {}
        self._loaded = False
        self._load_lock = asyncio.Lock()
        self._started_at = clock.now()
        self._unknown_logged: set[str] = set()
        self._seen_vision: OrderedDict[str, bool] = OrderedDict()  # event id -> raised as a fall
        self._camera_online: dict[str, bool] = {}
        self._camera_seen: dict[str, float] = {}  # camera id -> clock time of its last status message
        self._warnings = 0

    subscriptions = SUBSCRIPTIONS

    # -- registry --------------------------------------------------------------------------------
    async def load(self) -> None:
        """Put the map's sensors into the registry and read every known device (idempotent)."""
        async with self._load_lock:
            if self._loaded:
                return
            now = utc_from_clock(self._clock.now())
            async with self._sessions.begin() as session:
                rows = {r.id: r for r in (await session.scalars(select(SensorRow))).all()}
                for sensor in self._park.sensors.values():
                    row = rows.get(sensor.id)
                    if row is None:
                        row = SensorRow(id=sensor.id, kind=sensor.kind, status="placed", origin="map",
                                        x=sensor.x, y=sensor.y, zone=sensor.zone, model="", manufacturer="",
                                        capabilities=[], placed_at=now, placed_by="map", last_state={})
                        session.add(row)
                        rows[sensor.id] = row
                    elif row.origin == "map":  # the map file is authoritative for its own sensors
                        row.kind, row.x, row.y, row.zone, row.status = (sensor.kind, sensor.x, sensor.y,
                                                                        sensor.zone, "placed")
                for row in rows.values():
                    self._devices[row.id] = self._device_of(row)
            # conditions raised before a restart must still clear when the device recovers
            for alarm in await self._alarms.list_alarms(AlarmFilter(active=True, source_prefix="sensor:",
                                                                    limit=10_000)):
                device = self._devices.get(alarm.source.removeprefix("sensor:"))
                if device is not None and alarm.type == AlarmType.SENSOR_OFFLINE:
                    device.offline = True
                elif device is not None and alarm.type == AlarmType.SENSOR_LOW_BATTERY:
                    device.low_battery = True
            await self._alarms.arming.load()  # ingest then decides "armed?" without the store
            self._loaded = True

    def _device_of(self, row: SensorRow) -> _Device:
        state = {k: v for k, v in (row.last_state or {}).items() if isinstance(v, bool)}
        return _Device(row.id, row.kind, row.status == "placed", row.x, row.y, row.zone, row.expire_after_s,
                       last_seen=row.last_seen.timestamp() if row.last_seen else None, battery=row.battery,
                       available=row.available, state=state,
                       low_battery=row.battery is not None and row.battery < self.policy.low_battery_pct)

    async def sensors(self, status: str | None = None) -> list[SensorPublic]:
        await self.load()
        await self._persist_devices()
        query = select(SensorRow).order_by(SensorRow.id)
        if status is not None:
            query = query.where(SensorRow.status == status)
        async with self._sessions() as session:
            return [SensorPublic.of(r) for r in (await session.scalars(query)).all()]

    async def place(self, sensor_id: str, spec: SensorPlace, actor: Actor) -> SensorPublic:
        """Put a discovered (or already placed) sensor on the map; audited."""
        await self.load()
        zone = spec.zone
        if zone is not None and zone not in self._park.zones:
            raise ValueError(f"zone: {zone!r} is not on the park map")
        if zone is None:
            zone = zone_at(self._park, spec.x, spec.y)
        async with self._sessions.begin() as session:
            row = await session.get(SensorRow, sensor_id)
            if row is None:
                raise UnknownSensorError(sensor_id)
            kind = spec.kind or (row.kind if row.kind != "unknown" else wire.kind_for(set(row.capabilities)))
            if kind == "unknown":
                raise ValueError("kind: the device's kind is not known from discovery; give one of "
                                 "door, pir, fence, smoke, water, tamper")
            row.x, row.y, row.zone, row.kind = spec.x, spec.y, zone, kind
            row.status, row.origin = "placed", row.origin if row.origin == "map" else "api"
            row.placed_at, row.placed_by = utc_from_clock(self._clock.now()), actor.name
            device = self._devices.get(sensor_id)
            self._devices[sensor_id] = replacement = self._device_of(row)
            if device is not None:
                replacement.last_seen, replacement.state = device.last_seen, device.state
            public = SensorPublic.of(row)
        await self._audit.record(actor.name, actor.role, "sensor.place", f"sensor:{sensor_id}",
                                 {"x": spec.x, "y": spec.y, "zone": zone, "kind": kind}, actor.remote)
        return public

    async def history(self, sensor_id: str, field_name: str | None = None, since: datetime | None = None,
                      limit: int = 500) -> list[ReadingPublic]:
        await self.load()
        if sensor_id not in self._devices:
            raise UnknownSensorError(sensor_id)
        rows = await self.readings.history(sensor_id, field_name, since, limit)
        return [ReadingPublic.of(r) for r in rows]

    # -- ingest ----------------------------------------------------------------------------------
    async def handle_message(self, topic: str, payload: bytes) -> None:
        """Route one MQTT message; never raises for bad input (counted in `counters`)."""
        self.counters.messages += 1
        if len(payload) > MAX_PAYLOAD_BYTES:
            self.counters.malformed += 1
            self._warn(f"{topic[:200]!r}: payload of {len(payload)} bytes is over the {MAX_PAYLOAD_BYTES}-byte limit")
            return
        try:
            await self.load()
            if topic.startswith(wire.Z2M_PREFIX):
                await self._zigbee(topic, payload)
            elif topic.startswith(wire.HA_PREFIX):
                await self._discovery(topic, payload)
            elif topic == topics.VISION_EVENTS:
                await self._vision(topic, payload)
            elif topic.startswith("parkpatrol/cameras/"):
                await self._camera(topic, payload)
            else:
                self.counters.malformed += 1
                self._warn(f"{topic!r}: not an ingest topic (subscribe to {', '.join(SUBSCRIPTIONS)} only)")
        except wire.WireError as exc:
            self.counters.malformed += 1
            self._warn(str(exc))
        except asyncio.CancelledError:
            raise
        except Exception:  # a bug or a store outage must not stop ingest of the next message
            self.counters.errors += 1
            log.exception("ingest of %s failed", topic)

    async def _store(self, label: str, write: Write) -> None:
        """Do one write now, or leave it to the store's write buffer to do (in order) when it is back."""
        await submit_or_run(self._writes, label, write)

    def _warn(self, message: str) -> None:
        """Log bad input without letting a flood of it flood the log: the first 20, then every 1000th."""
        self._warnings += 1
        if self._warnings <= 20 or self._warnings % 1000 == 0:
            suffix = f" ({self._warnings} bad messages so far)" if self._warnings > 20 else ""
            log.warning("%s%s", message, suffix)

    async def _zigbee(self, topic: str, payload: bytes) -> None:
        parsed = wire.parse_z2m_topic(topic)
        if parsed.kind == "bridge":
            self.counters.bridge += 1
            return
        if parsed.kind == "command":
            return
        device = self._devices.get(parsed.name)
        if device is None:
            self.counters.unknown_devices += 1
            if parsed.name not in self._unknown_logged and len(self._unknown_logged) < 10_000:
                self._unknown_logged.add(parsed.name)
                self._warn(f"{topic!r}: unknown device {parsed.name!r} (place it via the map or wait for "
                           "its discovery config)")
            return
        if parsed.kind == "availability":
            online = wire.parse_availability(topic, payload)
            device.available, device.dirty = online, True
            if device.placed:
                if online:
                    await self._seen(device)
                else:
                    await self._offline(device, "availability")
            return
        state = wire.parse_state(topic, payload)
        if state.bad_fields:
            self.counters.malformed_fields += len(state.bad_fields)
            self._warn(f"{topic}: ignored ill-typed fields {', '.join(state.bad_fields)}")
        now = self._clock.now()
        for name, value in state.numbers.items():
            self.readings.add(device.id, name, value, now)
        if not device.placed:
            self.counters.pending_device_messages += 1
            device.last_seen, device.dirty = now, True
            device.state.update(state.flags)
            return
        await self._seen(device)
        await self._battery(device, state)
        for name, value in state.flags.items():
            previous = device.state.get(name)
            device.state[name] = value
            if previous == value:
                continue
            device.dirty = True
            if name in INTRUSION_FIELDS:
                if value == INTRUSION_FIELDS[name]:
                    await self._intrusion(device, name, value, now)
            elif name in CONDITION_FIELDS:
                await self._condition(device, name, value, now)

    def _debounced(self, device: _Device, name: str, now: float) -> bool:
        last = device.last_trip.get(name)
        if last is not None and now - last < self.policy.debounce_s.get(name, 0.0):
            self.counters.debounced += 1
            return True
        device.last_trip[name] = now
        return False

    def _position(self, device: _Device) -> tuple[float, float] | None:
        return (device.x, device.y) if device.x is not None and device.y is not None else None

    async def _raise(self, device: _Device, kind: AlarmType, event: str, message: str,
                     detail: dict[str, Any]) -> None:
        sig = AlarmSignal(sensor_source(device.id), kind, event, zone=device.zone, position=self._position(device),
                          message=message, detail={"sensor": device.id, "sensor_kind": device.kind, **detail},
                          observed_at=self._clock.now())

        async def write() -> None:
            alarm = await self._alarms.signal(sig)
            if alarm.count > 1:  # folded into the active alarm: counted, no new alarm or incident
                self.counters.suppressed += 1

        await self._store(f"alarm {sig.source} {kind.value}", write)

    async def _ended(self, source: str, kind: AlarmType, detail: dict[str, Any]) -> None:
        async def write() -> None:
            await self._alarms.condition_ended(source, kind, detail)

        await self._store(f"clear {source} {kind.value}", write)

    async def _intrusion(self, device: _Device, name: str, value: bool, now: float) -> None:
        if self._debounced(device, name, now):
            return
        if not await self._alarms.arming.is_armed(device.zone):
            self.counters.trips_unarmed += 1
            return
        self.counters.trips += 1
        await self._raise(device, AlarmType.INTRUSION, "sensor_trip",
                          f"{device.kind} sensor {device.id} tripped ({name}={str(value).lower()}) in armed zone "
                          f"{device.zone}", {"field": name, "value": value})

    async def _condition(self, device: _Device, name: str, value: bool, now: float) -> None:
        kind = CONDITION_FIELDS[name]
        if not value:
            await self._ended(sensor_source(device.id), kind, {"field": name})
            return
        if self._debounced(device, name, now):
            return
        self.counters.trips += 1
        await self._raise(device, kind, "sensor_trip", f"{name.replace('_', ' ')} at sensor {device.id}",
                          {"field": name, "value": value})

    async def _battery(self, device: _Device, state: wire.DeviceState) -> None:
        level = state.numbers.get("battery")
        if level is not None:
            device.battery, device.dirty = level, True
        low = state.flags.get("battery_low")
        is_low = bool(low) or (level is not None and level < self.policy.low_battery_pct)
        recovered = (low is False and level is None) or (level is not None and
                                                         level >= self.policy.battery_recovered_pct)
        if is_low and not device.low_battery:
            device.low_battery = True
            await self._raise(device, AlarmType.SENSOR_LOW_BATTERY, "sensor_battery",
                              f"sensor {device.id} battery low ({level if level is not None else '?'} %)",
                              {"battery": level})
        elif recovered and device.low_battery:
            device.low_battery = False
            await self._ended(sensor_source(device.id), AlarmType.SENSOR_LOW_BATTERY, {"battery": level})

    async def _seen(self, device: _Device) -> None:
        device.last_seen, device.dirty = self._clock.now(), True
        if device.offline:
            device.offline = False
            await self._ended(sensor_source(device.id), AlarmType.SENSOR_OFFLINE, {})

    async def _offline(self, device: _Device, reason: str) -> None:
        if device.offline:
            return
        device.offline = True
        await self._raise(device, AlarmType.SENSOR_OFFLINE, "sensor_offline",
                          f"sensor {device.id} is offline ({reason})", {"reason": reason})

    async def _discovery(self, topic: str, payload: bytes) -> None:
        found = wire.parse_discovery(topic, payload)
        if found is None:
            self.counters.discovery_ignored += 1
            return
        now = utc_from_clock(self._clock.now())
        await self._store(f"discovery of {found.name}", lambda: self._discovered(found, now))

    async def _discovered(self, found: wire.Discovery, now: datetime) -> None:
        async with self._sessions.begin() as session:
            row = await session.get(SensorRow, found.name)
            created = row is None
            if row is None:
                row = SensorRow(id=found.name, kind="unknown", status="pending", origin="discovery", model="",
                                manufacturer="", capabilities=[], discovered_at=now, last_state={})
                session.add(row)
            caps = set(row.capabilities or [])
            if found.capability:
                caps.add(found.capability)
            row.capabilities = sorted(caps)
            row.model = found.model or row.model
            row.manufacturer = found.manufacturer or row.manufacturer
            if found.expire_after_s is not None:
                row.expire_after_s = found.expire_after_s
            if row.status == "pending":
                row.kind = wire.kind_for(caps)
            device = self._devices.get(found.name)
            if device is None:
                self._devices[found.name] = self._device_of(row)
            else:
                device.expire_after_s = row.expire_after_s
                if not device.placed:
                    device.kind = row.kind
        if created:
            self.counters.discovered += 1
            log.info("discovered device %r (%s %s), pending placement", found.name, found.manufacturer,
                     found.model)

    async def _vision(self, topic: str, payload: bytes) -> None:
        event = wire.parse_vision(topic, payload)
        obj = event.after
        policy = self._alarms.policy
        relevant = bool(obj.rules) or obj.label in policy.vision_labels
        if event.type == "end" or obj.false_positive or not relevant or obj.best_score < policy.vision_min_score:
            self.counters.vision_ignored += 1
            return
        if obj.id in self._seen_vision:
            await self._vision_update(event)
            return
        self._seen_vision[obj.id] = _fallen(obj)
        if len(self._seen_vision) > SEEN_VISION_EVENTS:
            self._seen_vision.popitem(last=False)
        camera = self._park.cameras.get(obj.camera)
        position = obj.map_position
        if position is not None and not self._park.contains(*position):
            self.counters.vision_ignored += 1
            self._warn(f"vision event {obj.id} on {obj.camera}: position {position} is outside the park; ignored")
            return
        if position is None and camera is not None:
            position = (camera.x, camera.y)
        zone = zone_at(self._park, *position) if position is not None else None
        armed = await self._alarms.arming.is_armed(zone)
        urgent = armed or _fallen(obj)  # a fallen person needs help at any hour, armed zone or not
        severity: Severity = policy.severity_of(AlarmType.VISION) if urgent else policy.vision_unarmed_severity
        self.counters.vision_events += 1
        what = obj.label if obj.sub_label is None else f"{obj.label} ({obj.sub_label})"
        sig = AlarmSignal(camera_source(obj.camera), AlarmType.VISION, "camera_event", severity=severity,
                          zone=zone, position=position, message=f"{what} seen by camera {obj.camera}",
                          detail={**self._vision_detail(obj), "armed": armed}, observed_at=self._clock.now())
        await self._store(f"vision event {obj.id}", lambda: self._alarms.signal(sig))

    @staticmethod
    def _vision_detail(obj: wire.VisionObject) -> dict[str, Any]:
        return {
            "event_id": obj.id, "camera": obj.camera, "label": obj.label, "sub_label": obj.sub_label,
            "score": round(obj.best_score, 3), "rules": obj.rules, "zones": obj.zones or obj.current_zones,
            "box": obj.box, "start_time": obj.start_time, "robot": obj.robot, "has_snapshot": obj.has_snapshot,
            "snapshot": snapshot_ref(obj.id) if obj.has_snapshot else None,
        }

    async def _vision_update(self, event: wire.VisionEvent) -> None:
        """A known event changed: note a new snapshot or newly hit rules on the alarm's timelines; a person
        seen before who has now fallen raises the alarm to the fall's severity."""
        before, after = event.before, event.after
        new_snapshot = after.has_snapshot and (before is None or not before.has_snapshot)
        new_rules = sorted(set(after.rules) - set(before.rules if before is not None else ()))
        has_fallen = _fallen(after) and not self._seen_vision.get(after.id, False)
        if not new_snapshot and not new_rules and not has_fallen:
            self.counters.vision_ignored += 1
            return
        self.counters.vision_events += 1
        detail = {**self._vision_detail(after), "new_rules": new_rules}
        if has_fallen:
            self._seen_vision[after.id] = True
            # the person seen standing has fallen: a repeat at the fall's severity raises the alarm (and its
            # incident, which then sends a robot) instead of a note on a warning nobody is sent to
            camera = self._park.cameras.get(after.camera)
            position = after.map_position or ((camera.x, camera.y) if camera is not None else None)
            if position is not None and not self._park.contains(*position):
                position = None
            sig = AlarmSignal(camera_source(after.camera), AlarmType.VISION, "camera_event",
                              severity=self._alarms.policy.severity_of(AlarmType.VISION), position=position,
                              message=f"fallen person seen by camera {after.camera}", detail=detail,
                              observed_at=self._clock.now())
            await self._store(f"vision update {after.id}", lambda: self._alarms.signal(sig))
            return
        kind = "camera_snapshot" if new_snapshot and not new_rules else "camera_event"
        await self._store(f"vision update {after.id}",
                          lambda: self._alarms.note(camera_source(after.camera), AlarmType.VISION, kind, detail))

    async def _camera(self, topic: str, payload: bytes) -> None:
        camera_id = wire.parse_camera_topic(topic)
        online = wire.parse_camera_status(topic, payload)
        camera = self._park.cameras.get(camera_id)
        if camera is None:
            self.counters.unknown_cameras += 1
            self._warn(f"{topic}: camera {camera_id!r} is not on the park map")
            return
        was = self._camera_online.get(camera_id)
        self._camera_online[camera_id] = online
        self._camera_seen[camera_id] = self._clock.now()
        source = camera_source(camera_id)
        if online and was is not True:
            await self._ended(source, AlarmType.CAMERA_OFFLINE, {})
        elif not online and was is not False:
            await self._camera_offline(camera_id, f"camera {camera_id} is offline", {"camera": camera_id})

    async def _camera_offline(self, camera_id: str, message: str, detail: dict[str, Any]) -> None:
        camera = self._park.cameras[camera_id]
        source = camera_source(camera_id)
        sig = AlarmSignal(source, AlarmType.CAMERA_OFFLINE, "camera_offline", position=(camera.x, camera.y),
                          message=message, detail=detail, observed_at=self._clock.now())
        await self._store(f"alarm {source} camera_offline", lambda: self._alarms.signal(sig))

    # -- background --------------------------------------------------------------------------------
    async def expire(self) -> int:
        """Raise sensor-offline for placed sensors silent longer than their expire_after; how many."""
        now = self._clock.now()
        count = 0
        for device in list(self._devices.values()):
            if not device.placed or device.offline:
                continue
            expire = device.expire_after_s or self.policy.expire_after_s
            last = device.last_seen if device.last_seen is not None else self._started_at
            if now - last > expire:
                self.counters.expired += 1
                count += 1
                await self._offline(device, f"no message for {expire:.0f} s")
        return count

    async def expire_cameras(self) -> int:
        """Raise camera-offline for online cameras whose status is silent longer than the policy allows.

        Vision refreshes a watched camera's status every few seconds; silence means nobody analyses it
        (its worker died without a clean hand-over, or a retained `online` outlived it). The next status
        from any worker ends the alarm as usual. Returns how many cameras were raised."""
        now = self._clock.now()
        stale = self.policy.camera_status_stale_s
        count = 0
        for camera_id, online in list(self._camera_online.items()):
            silent = now - self._camera_seen.get(camera_id, self._started_at)
            if not online or silent <= stale:
                continue
            self._camera_online[camera_id] = False
            self.counters.cameras_stale += 1
            count += 1
            log.warning("camera %s: no status for %.0f s; no vision worker is watching it", camera_id, silent)
            await self._camera_offline(
                camera_id, f"camera {camera_id}: no status for {silent:.0f} s; no vision worker is watching it",
                {"camera": camera_id, "reason": "status silent", "silent_s": round(silent, 1)})
        return count

    async def _persist_devices(self) -> None:
        dirty = [d for d in self._devices.values() if d.dirty]
        if not dirty:
            return
        async with self._sessions.begin() as session:
            for device in dirty:
                row = await session.get(SensorRow, device.id)
                if row is None:
                    continue
                row.last_seen = utc_from_clock(device.last_seen) if device.last_seen is not None else None
                row.available, row.battery = device.available, device.battery
                row.last_state = dict(device.state)
        for device in dirty:  # only once committed: a failed write is tried again next tick
            device.dirty = False

    async def run(self) -> None:
        """Every `tick_s`: expire silent sensors, write finished readings buckets and device state."""
        await self.load()
        try:
            while True:
                await self._clock.sleep(self.policy.tick_s)
                try:
                    await self.expire()
                    await self.expire_cameras()
                    await self.readings.flush(self._clock.now())
                    await self._persist_devices()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    if is_transient(exc):  # the store is briefly away: readings and state wait for next tick
                        self.counters.housekeeping_deferred += 1
                        log.warning("sensor housekeeping deferred, the store is unavailable: %s",
                                    str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__)
                        continue
                    self.counters.errors += 1
                    log.exception("sensor housekeeping failed")
        finally:
            await asyncio.shield(self._final_flush())

    async def _final_flush(self) -> None:
        try:
            await self.readings.flush(self._clock.now(), everything=True)
            await self._persist_devices()
        except Exception:
            log.exception("final flush of sensor readings failed")


def _fallen(obj: wire.VisionObject) -> bool:
    """The camera sees a fallen person: the detector's fall class, or a fall rule hit."""
    return obj.label == "person_fallen" or "fall" in obj.rules
