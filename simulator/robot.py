"""`SimDriver`: a simulated robot dog or guide robot behind `robots.agent`.

It implements the `Driver` protocol, so the agent in front of it speaks real VDA 5050 over
MQTT exactly as it would for hardware. Motion follows `simulator.kinematics` on the clock it
is given (wall clock for demos, `SimClock` for tests), battery drains per metre and per second
and charges at docks, and faults (stuck, localisation jump, low battery, e-stop) are injected
through plain methods that scenarios call.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace

from robots.agent.driver import (
    ActionOutcome,
    ActionRequest,
    ActionSpec,
    Battery,
    DriveError,
    DriverFault,
    NodeGoal,
    Pose,
    Velocity,
)
from robots.clock import Clock
from simulator.events import EventLog
from simulator.kinematics import (
    BatteryModel,
    BodyState,
    MotionProfile,
    step_towards,
    turn_towards,
    wrap_angle,
)

log = logging.getLogger(__name__)

Point = tuple[float, float]
EdgeGeometry = Callable[[str], Sequence[Point] | None]
PersonLocator = Callable[[str, Point], Point | None]  # (person or track id, near) -> where

LOW_BATTERY = 15.0
CRITICAL_BATTERY = 5.0
DOCK_RADIUS_M = 1.5


@dataclass(frozen=True)
class RobotKind:
    """Physical characteristics of one kind of robot."""

    name: str  # "patrol_dog" or "guide"
    motion: MotionProfile
    battery: BatteryModel
    walking_pace: float  # m/s used by leadTo / followPerson
    actions: tuple[str, ...]
    camera_height_m: float = 0.5


_COMMON = ("initPosition", "capturePhoto", "scanArea", "dock", "startCharging", "stopCharging")

PATROL_DOG = RobotKind(
    name="patrol_dog",
    motion=MotionProfile(max_speed=1.5, accel=1.0, decel=1.5, turn_rate=1.8),
    battery=BatteryModel(drain_per_m=0.004, drain_idle_per_s=0.0006, charge_per_s=0.05),
    walking_pace=1.3,
    actions=(*_COMMON, "followPerson"),
)
GUIDE_ROBOT = RobotKind(
    name="guide",
    motion=MotionProfile(max_speed=1.0, accel=0.5, decel=0.8, turn_rate=1.0),
    battery=BatteryModel(drain_per_m=0.003, drain_idle_per_s=0.0008, charge_per_s=0.04),
    walking_pace=1.0,
    actions=(*_COMMON, "speak", "leadTo", "followPerson"),
    camera_height_m=1.2,
)
ROBOT_KINDS = {k.name: k for k in (PATROL_DOG, GUIDE_ROBOT)}

# Scopes and blocking types as robots.vda5050.actions defines them for these action types.
_ACTION_SPECS = {
    "initPosition": ActionSpec("initPosition", "Set the robot's position.", ("INSTANT", "NODE"),
                               ("x", "y", "theta", "mapId", "lastNodeId")),
    "capturePhoto": ActionSpec("capturePhoto", "Take a photo with the robot camera; result is its URL.",
                               ("NODE", "INSTANT"), ("camera", "label"), ("SOFT", "NONE")),
    "scanArea": ActionSpec("scanArea", "Turn on the spot looking around.", ("NODE", "INSTANT"),
                           ("duration", "sweepDeg"), ("HARD", "SOFT")),
    "speak": ActionSpec("speak", "Say a text aloud.", ("INSTANT", "NODE"), ("text", "language"),
                        ("NONE", "SOFT")),
    "dock": ActionSpec("dock", "Dock onto the charger at this node and start charging.", ("NODE",),
                       ("chargerId",)),
    "startCharging": ActionSpec("startCharging", "Start charging (robot must be on a dock).", ("INSTANT", "NODE")),
    "stopCharging": ActionSpec("stopCharging", "Stop charging.", ("INSTANT", "NODE")),
    "leadTo": ActionSpec("leadTo", "Escort a visitor at walking pace (along the edge, or to x, y).",
                         ("EDGE", "NODE"), ("destination", "visitorId", "speed", "x", "y", "duration"),
                         ("NONE",)),
    "followPerson": ActionSpec("followPerson", "Follow a person at walking pace for a while.",
                               ("INSTANT", "NODE"), ("trackId", "personId", "distance", "duration")),
}


@dataclass
class _Faults:
    stuck: bool = False
    stuck_since: float | None = None
    lost_until: float = -math.inf
    estop: bool = False


@dataclass
class SimDriver:
    """A simulated robot body. All coordinates are the park's local metric frame."""

    serial: str
    kind: RobotKind
    clock: Clock
    start: Pose
    events: EventLog | None = None
    chargers: Sequence[Point] = ()
    edge_geometry: EdgeGeometry | None = None
    person_locator: PersonLocator | None = None
    tick_s: float = 0.2
    stuck_timeout_s: float = 60.0
    initial_charge: float = 100.0
    camera_base_url: str | None = None  # set by the camera server: ".../robots/<serial>"
    _body: BodyState = field(init=False)
    _charge: float = field(init=False)
    _t_last: float = field(init=False)
    _charging: bool = field(default=False, init=False)
    _faults: _Faults = field(default_factory=_Faults, init=False)
    _odometer: float = field(default=0.0, init=False)
    _deviation: float = field(default=0.0, init=False)
    _escort_speed: float | None = field(default=None, init=False)
    photos: dict[str, bytes] = field(default_factory=dict, init=False)
    photo_renderer: Callable[[SimDriver], Awaitable[bytes]] | None = None

    def __post_init__(self) -> None:
        self._body = BodyState(self.start.x, self.start.y, self.start.theta)
        self._charge = max(0.0, min(100.0, self.initial_charge))
        self._t_last = self.clock.now()
        self._low_reported = self._charge < LOW_BATTERY

    # ------------------------------------------------------------------ Driver protocol: state
    def pose(self) -> Pose:
        self._sync()
        return Pose(self._body.x, self._body.y, self._body.theta, self.start.map_id,
                    localized=self._localized(), deviation=self._deviation)

    def velocity(self) -> Velocity:
        b = self._body
        return Velocity(vx=b.speed * math.cos(b.theta), vy=b.speed * math.sin(b.theta), omega=b.omega)

    def battery(self) -> Battery:
        self._sync()
        m = self.kind.battery
        return Battery(charge=round(self._charge, 2), charging=self._charging,
                       voltage=m.voltage(self._charge), reach_m=round(m.reach_m(self._charge), 1))

    def faults(self) -> Sequence[DriverFault]:
        self._sync()
        out: list[DriverFault] = []
        if self._faults.stuck and self._faults.stuck_since is not None:
            out.append(DriverFault("robotStuck", "WARNING",
                                   f"no progress since t={self._faults.stuck_since:.0f}s at "
                                   f"({self._body.x:.1f}, {self._body.y:.1f})"))
        if not self._localized():
            out.append(DriverFault("localizationLost", "WARNING",
                                   "pose jumped; relocalising (position may be wrong)"))
        if self._charge <= 0.0:
            out.append(DriverFault("batteryEmpty", "FATAL", "battery is empty; robot cannot move"))
        elif self._charge < CRITICAL_BATTERY:
            out.append(DriverFault("batteryCritical", "WARNING", f"battery at {self._charge:.1f} %"))
        elif self._charge < LOW_BATTERY:
            out.append(DriverFault("batteryLow", "WARNING", f"battery at {self._charge:.1f} %"))
        return out

    def estop(self) -> bool:
        return self._faults.estop

    def supported_actions(self) -> Sequence[ActionSpec]:
        return [_ACTION_SPECS[a] for a in self.kind.actions]

    def camera_url(self) -> str | None:
        return f"{self.camera_base_url}.mjpg" if self.camera_base_url else None

    @property
    def charging(self) -> bool:
        return self._charging

    @property
    def odometer_m(self) -> float:
        return self._odometer

    # ------------------------------------------------------------------ Driver protocol: motion
    async def drive_to(self, goal: NodeGoal) -> None:
        self._check_can_move(goal.node_id)
        self._set_charging(False, reason="undock")
        points = self._route_points(goal)
        self._record("robot.drive", node=goal.node_id, edge=goal.edge_id)
        try:
            for i, (px, py) in enumerate(points):
                last = i == len(points) - 1
                tol = max(0.05, min(goal.allowed_deviation_xy, 0.5)) if last else 0.3
                limit = goal.max_speed
                if self._escort_speed is not None:  # leading a visitor: walking pace
                    limit = self._escort_speed if limit is None else min(limit, self._escort_speed)
                await self._move_to(px, py, limit, stop=last, tolerance=tol, what=goal.node_id)
            if goal.theta is not None:
                await self._turn_to(goal.theta)
        finally:
            self._body = replace(self._body, speed=0.0, omega=0.0)
        self._record("robot.arrive", node=goal.node_id)

    async def stop(self) -> None:
        self._body = replace(self._body, speed=0.0, omega=0.0)

    async def run_action(self, action: ActionRequest) -> ActionOutcome:
        t = action.action_type
        if t not in self.kind.actions:
            return ActionOutcome(False, f"{self.serial} does not support actionType {t!r}; "
                                        f"supported: {', '.join(self.kind.actions)}")
        try:
            return await self._run(action)
        except DriveError as exc:
            return ActionOutcome(False, str(exc))
        except (KeyError, TypeError, ValueError) as exc:
            return ActionOutcome(False, f"{t}: bad parameters {dict(action.parameters)!r}: {exc}")
        finally:
            self._body = replace(self._body, speed=0.0, omega=0.0)

    # ------------------------------------------------------------------ fault injection
    def press_estop(self) -> None:
        self._faults.estop = True
        self._body = replace(self._body, speed=0.0, omega=0.0)
        self._record("fault.estop", pressed=True)

    def release_estop(self) -> None:
        self._faults.estop = False
        self._record("fault.estop", pressed=False)

    def set_stuck(self, stuck: bool) -> None:
        self._faults.stuck = stuck
        self._faults.stuck_since = None
        self._record("fault.stuck", stuck=stuck)

    def jump(self, dx: float, dy: float, relocalise_after_s: float = 10.0) -> None:
        """Localisation jump: the reported pose moves by (dx, dy) and is unlocalised for a while."""
        self._sync()
        self._body = replace(self._body, x=self._body.x + dx, y=self._body.y + dy)
        self._faults.lost_until = self.clock.now() + relocalise_after_s
        self._deviation = math.hypot(dx, dy)
        self._record("fault.localisation_jump", dx=dx, dy=dy)

    def set_charge(self, percent: float) -> None:
        self._sync()
        self._charge = max(0.0, min(100.0, percent))
        self._low_reported = False
        self._record("fault.battery_set", charge=round(self._charge, 2))
        self._check_battery_events()

    def teleport(self, x: float, y: float, theta: float | None = None) -> None:
        """Place the robot (setup and `initPosition`), keeping localisation."""
        self._body = BodyState(x, y, self._body.theta if theta is None else theta)

    # ------------------------------------------------------------------ internals
    def _localized(self) -> bool:
        ok = self.clock.now() >= self._faults.lost_until
        if ok and self._deviation and self._faults.lost_until > -math.inf:
            self._deviation = 0.0
        return ok

    def _record(self, kind: str, **data: str | float | bool | None) -> None:
        if self.events is not None:
            self.events.record(kind, self.serial, **data)

    def _sync(self) -> None:
        """Integrate idle drain or charging since the last update."""
        now = self.clock.now()
        dt = now - self._t_last
        if dt <= 0:
            return
        self._t_last = now
        if self._charging:
            before = self._charge
            self._charge = self.kind.battery.charge(self._charge, dt)
            if before < 100.0 <= self._charge:
                self._record("robot.charged")
        else:
            self._charge = self.kind.battery.drain(self._charge, 0.0, dt)
        self._check_battery_events()

    def _check_battery_events(self) -> None:
        if self._charge < LOW_BATTERY and not self._low_reported:
            self._low_reported = True
            self._record("robot.battery_low", charge=round(self._charge, 1))
        elif self._charge >= LOW_BATTERY + 5.0:
            self._low_reported = False

    def _near_charger(self) -> Point | None:
        for cx, cy in self.chargers:
            if math.hypot(cx - self._body.x, cy - self._body.y) <= DOCK_RADIUS_M:
                return (cx, cy)
        return None

    def _set_charging(self, on: bool, *, reason: str) -> None:
        if on == self._charging:
            return
        self._sync()
        self._charging = on
        self._record("robot.charging", on=on, reason=reason)

    def _check_can_move(self, what: str) -> None:
        self._sync()
        if self._faults.estop:
            raise DriveError(f"{self.serial}: emergency stop pressed; cannot drive to {what}")
        if not self._localized():
            raise DriveError(f"{self.serial}: localisation lost; cannot drive to {what}")
        if self._charge <= 0.0:
            raise DriveError(f"{self.serial}: battery empty; cannot drive to {what}")

    def _route_points(self, goal: NodeGoal) -> list[Point]:
        pts: list[Point] = []
        if goal.edge_id and self.edge_geometry is not None:
            geom = list(self.edge_geometry(goal.edge_id) or [])
            if len(geom) >= 2:
                gx, gy = goal.x, goal.y
                d_first = math.hypot(geom[0][0] - gx, geom[0][1] - gy)
                if d_first < math.hypot(geom[-1][0] - gx, geom[-1][1] - gy):
                    geom.reverse()  # the edge is stored the other way round
                pts = [p for p in geom[1:-1]]
        pts.append((goal.x, goal.y))
        return pts

    async def _move_to(self, tx: float, ty: float, speed_limit: float | None, *, stop: bool,
                       tolerance: float, what: str) -> None:
        while math.hypot(tx - self._body.x, ty - self._body.y) > tolerance:
            t_before = self.clock.now()
            await self.clock.sleep(self.tick_s)
            dt = max(0.0, self.clock.now() - t_before)
            self._check_can_move(what)
            if self._faults.stuck:
                self._body = replace(self._body, speed=0.0, omega=0.0)
                now = self.clock.now()
                if self._faults.stuck_since is None:
                    self._faults.stuck_since = now
                elif now - self._faults.stuck_since >= self.stuck_timeout_s:
                    raise DriveError(f"{self.serial}: stuck at ({self._body.x:.1f}, {self._body.y:.1f}) "
                                     f"for {now - self._faults.stuck_since:.0f} s on the way to {what}")
                continue
            self._faults.stuck_since = None
            self._body, travelled = step_towards(self._body, tx, ty, self.kind.motion, dt,
                                                 speed_limit=speed_limit, stop_at_target=stop)
            self._odometer += travelled
            self._charge = self.kind.battery.drain(self._charge, travelled, 0.0)
            self._check_battery_events()
        if stop:
            self._body = replace(self._body, x=tx, y=ty, speed=0.0)

    async def _turn_to(self, heading: float) -> None:
        while abs(wrap_angle(heading - self._body.theta)) > 1e-3:
            t_before = self.clock.now()
            await self.clock.sleep(self.tick_s)
            self._check_can_move("heading")
            self._body = turn_towards(self._body, heading, self.kind.motion, self.clock.now() - t_before)
        self._body = replace(self._body, omega=0.0)

    async def _pause(self, seconds: float) -> None:
        end = self.clock.now() + seconds
        while self.clock.now() < end:
            await self.clock.sleep(min(self.tick_s * 5, end - self.clock.now()))
            if self._faults.estop:
                raise DriveError(f"{self.serial}: emergency stop pressed")

    async def _run(self, action: ActionRequest) -> ActionOutcome:
        t, p = action.action_type, action.parameters
        if t == "capturePhoto":
            await self._pause(1.0)
            if self.photo_renderer is not None:
                self.photos[action.action_id] = await self.photo_renderer(self)
                while len(self.photos) > 50:
                    del self.photos[next(iter(self.photos))]
            url = f"{self.camera_base_url}/photos/{action.action_id}.jpg" if self.camera_base_url else ""
            self._record("robot.photo", action=action.action_id, url=url or None)
            return ActionOutcome(True, url or f"photo {action.action_id} taken (no camera server)")
        if t == "initPosition":
            self.teleport(float(p["x"]), float(p["y"]), float(p.get("theta", self._body.theta)))
            self._faults.lost_until = -math.inf
            self._deviation = 0.0
            self._record("robot.init_position", x=float(p["x"]), y=float(p["y"]))
            return ActionOutcome(True, f"position set to ({float(p['x']):.2f}, {float(p['y']):.2f})")
        if t == "scanArea":
            sweep = math.radians(float(p.get("sweepDeg", 360.0)))
            duration = max(float(p.get("duration", 10.0)), sweep / self.kind.motion.turn_rate)
            self._record("robot.scan", sweep_deg=math.degrees(sweep), duration=duration)
            rate = sweep / duration
            start = self.clock.now()
            turned = 0.0
            while turned < sweep - 1e-9:
                await self.clock.sleep(self.tick_s)
                self._check_can_move("scanArea")
                step = min(sweep - turned, rate * (self.clock.now() - start) - turned)
                turned += step
                self._body = replace(self._body, theta=wrap_angle(self._body.theta + step), omega=rate)
            b = self._body
            return ActionOutcome(True, f"scanned {math.degrees(sweep):.0f} deg at ({b.x:.1f}, {b.y:.1f})")
        if t == "speak":
            text = str(p["text"])
            language = str(p.get("language", "zh"))
            self._record("robot.speak", text=text, language=language)
            log.info("%s says (%s): %s", self.serial, language, text)
            await self._pause(max(1.0, 0.08 * len(text)))
            return ActionOutcome(True, f"said {len(text)} characters in {language}")
        if t in ("dock", "startCharging"):
            charger = self._near_charger()
            if charger is None:
                return ActionOutcome(False, f"{self.serial}: no charger within {DOCK_RADIUS_M} m of "
                                            f"({self._body.x:.1f}, {self._body.y:.1f})")
            if t == "dock":
                await self._pause(3.0)
                self._body = replace(self._body, x=charger[0], y=charger[1])
            self._set_charging(True, reason=t)
            return ActionOutcome(True, f"charging at ({charger[0]:.1f}, {charger[1]:.1f})")
        if t == "stopCharging":
            self._set_charging(False, reason=t)
            return ActionOutcome(True, "charging stopped")
        if t == "leadTo":
            speed = min(float(p.get("speed", self.kind.walking_pace)), self.kind.motion.max_speed)
            self._record("robot.lead", destination=str(p.get("destination", "")), speed=speed)
            if "x" in p and "y" in p:
                self._check_can_move("leadTo")
                self._set_charging(False, reason="undock")
                tx, ty = float(p["x"]), float(p["y"])
                await self._move_to(tx, ty, speed, stop=True, tolerance=0.3, what="leadTo target")
                return ActionOutcome(True, f"led visitor to ({tx:.1f}, {ty:.1f})")
            # along the order's edges: the agent finishes this action when the edge is completed
            self._escort_speed = speed
            try:
                await self._pause(float(p.get("duration", 1800.0)))
            finally:
                self._escort_speed = None
            return ActionOutcome(True, "escort time is over")
        if t == "followPerson":
            who = str(p.get("personId") or p.get("trackId") or "")
            return await self._follow(who, float(p.get("duration", 60.0)), float(p.get("distance", 2.0)))
        return ActionOutcome(False, f"actionType {t!r} is declared but not implemented by {self.serial}")

    async def _follow(self, person_id: str, duration: float, keep: float) -> ActionOutcome:
        here = (self._body.x, self._body.y)
        if self.person_locator is None or self.person_locator(person_id, here) is None:
            return ActionOutcome(False, f"person {person_id!r} is not in view of {self.serial}")
        self._set_charging(False, reason="undock")
        self._record("robot.follow", person=person_id, duration=duration)
        end = self.clock.now() + duration
        while self.clock.now() < end:
            t_before = self.clock.now()
            await self.clock.sleep(self.tick_s)
            self._check_can_move("followPerson")
            where = self.person_locator(person_id, (self._body.x, self._body.y))
            if where is None:
                return ActionOutcome(False, f"lost sight of person {person_id!r}")
            d = math.hypot(where[0] - self._body.x, where[1] - self._body.y)
            if d > keep:
                gx = where[0] - (where[0] - self._body.x) / d * keep
                gy = where[1] - (where[1] - self._body.y) / d * keep
                self._body, travelled = step_towards(self._body, gx, gy, self.kind.motion,
                                                     self.clock.now() - t_before,
                                                     speed_limit=self.kind.walking_pace * 1.2)
                self._odometer += travelled
                self._charge = self.kind.battery.drain(self._charge, travelled, 0.0)
            else:
                self._body = replace(self._body, speed=0.0, omega=0.0)
        return ActionOutcome(True, f"followed {person_id} for {duration:g} s")

