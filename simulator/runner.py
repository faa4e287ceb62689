"""`Simulation`: the whole park's hardware, standing in front of the service over MQTT and HTTP.

    async with Simulation(park, BrokerSpec("127.0.0.1", port), clock=WallClock(),
                          scenario=load_scenario("intrusion_data_labelling")) as sim:
        print(sim.camera_base_url)        # MJPEG streams of fixed and robot cameras
        await sim.run_for(sim.duration)   # or advance a SimClock yourself

It runs one `robots.agent.RobotAgent` per robot in front of a `SimDriver` (each behind a
`LinkProxy` so its link can be cut), the Zigbee2MQTT sensors behind one bridge connection,
the people, the camera server and the scenario's timeline, and records everything in
`events` (same seed and scenario -> same event sequence).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Protocol
from zoneinfo import ZoneInfo

from maps import Park
from robots.agent import AgentConfig, RobotAgent, RobotDescription
from robots.agent.driver import Pose
from robots.clock import Clock, SimClock
from simulator import scenario as sc
from simulator.cameras import CameraServer
from simulator.events import EventLog
from simulator.mqtt import BridgePublisher, BrokerSpec, LinkProxy
from simulator.people import Crowd
from simulator.render import CameraView, encode_jpeg, render_frame, warm_up
from simulator.robot import ROBOT_KINDS, SimDriver
from simulator.sensors import SensorNetwork, SensorSpec
from simulator.world import Places, camera_views, robot_camera_view, scenery_from_park, utc_offset_hours

log = logging.getLogger(__name__)

MANUFACTURER = "parkpatrol-sim"
DEFAULT_START = datetime(2026, 3, 16, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai")).timestamp()


@dataclass(frozen=True)
class RobotSpec:
    serial: str
    kind: str = "patrol_dog"  # a key of simulator.robot.ROBOT_KINDS
    start: str | None = None  # place (waypoint/POI id or name); default: near a charger / the kiosk
    charge: float | None = None  # initial battery percent; default 85..100 from the seed


DEFAULT_ROBOTS: tuple[RobotSpec, ...] = (
    *(RobotSpec(f"dog-{i:02d}", "patrol_dog") for i in range(1, 5)),
    RobotSpec("guide-01", "guide"),
)


class BrokerControl(Protocol):
    """Stops and starts the broker for the `broker_restart` scenario step (tests own the broker process).

    The simulation waits `down_s` of its own clock between the two; on a `SimClock` it holds time
    still while either call runs, so a restart lands at the same simulated instants in every run.
    """

    async def stop(self) -> None: ...

    async def start(self) -> None: ...


class Simulation:
    """Simulated robots, sensors, people and cameras of one park, driven by one clock."""

    def __init__(self, park: Park, broker: BrokerSpec | None, *, clock: Clock, seed: int | None = None,
                 scenario: sc.Scenario | None = None, robots: Sequence[RobotSpec] = DEFAULT_ROBOTS,
                 camera_port: int | None = 0, camera_host: str = "127.0.0.1", camera_fps: float = 5.0,
                 sensor_heartbeat_s: float = 60.0, sensor_offline_after_s: float = 600.0,
                 state_interval: float = 5.0, interface: str = "uagv", people_tick_s: float = 0.5,
                 robot_tick_s: float = 0.2, broker_control: BrokerControl | None = None,
                 ha_discovery: bool = False, start_time: float | None = None,
                 connect_timeout: float = 15.0) -> None:
        if len({r.serial for r in robots}) != len(robots):
            raise ValueError("robot serial numbers must be unique")
        for r in robots:
            if r.kind not in ROBOT_KINDS:
                raise ValueError(f"robot {r.serial}: unknown kind {r.kind!r}; choose one of {sorted(ROBOT_KINDS)}")
        if scenario is not None:
            problems = sc.check_references(scenario, park, [r.serial for r in robots])
            if problems:
                raise sc.ScenarioError(f"scenario {scenario.name} does not fit park {park.id}:\n  "
                                       + "\n  ".join(problems))
        self.park = park
        self.broker = broker
        self.clock = clock
        self.scenario = scenario
        self.seed = seed if seed is not None else (scenario.seed if scenario is not None else 0)
        self.robot_specs = tuple(robots)
        self.camera_port = camera_port
        self.camera_host = camera_host
        self.camera_fps = camera_fps
        self.state_interval = state_interval
        self.interface = interface
        self.people_tick_s = people_tick_s
        self.robot_tick_s = robot_tick_s
        self.broker_control = broker_control
        self.ha_discovery = ha_discovery
        self.connect_timeout = connect_timeout
        self._sensor_heartbeat_s = sensor_heartbeat_s
        self._sensor_offline_after_s = sensor_offline_after_s
        if start_time is not None:
            self.start_epoch = start_time
        elif scenario is not None:
            self.start_epoch = scenario.start_epoch
        else:
            now = clock.now()
            self.start_epoch = now if now > 1e9 else DEFAULT_START
        self.events = EventLog(clock)
        self.scenery = scenery_from_park(park)
        self.utc_offset_h = utc_offset_hours(park, self.start_epoch)
        self.places = Places(park)
        self.crowd = Crowd(self.places, clock, seed=self.seed, events=self.events,
                           visitors_per_hour=scenario.ambient.visitors_per_hour if scenario else 0.0,
                           intruders_per_hour=scenario.ambient.intruders_per_hour if scenario else 0.0,
                           is_daytime=self._is_daytime)
        self.views: dict[str, CameraView] = camera_views(park, self.scenery, seed=self.seed)
        self.drivers: dict[str, SimDriver] = {}
        self.agents: dict[str, RobotAgent] = {}
        self.links: dict[str, LinkProxy] = {}
        self.sensors: SensorNetwork | None = None
        self.bridge: BridgePublisher | None = None
        self.cameras: CameraServer | None = None
        self._path_between: dict[tuple[str, str], Sequence[tuple[float, float]]] = {}
        for p in park.paths.values():
            self._path_between.setdefault((p.a, p.b), p.polyline)
            self._path_between.setdefault((p.b, p.a), tuple(reversed(p.polyline)))
        self._stack = contextlib.AsyncExitStack()
        self._holds = 0  # steps doing real-time work (a broker restarting): a SimClock waits for them
        self._unheld = asyncio.Event()
        self._unheld.set()
        self._tasks: list[asyncio.Task[None]] = []
        self._agent_tasks: dict[str, asyncio.Task[None]] = {}
        self._make_drivers()

    # ------------------------------------------------------------------ time
    def park_time(self) -> float:
        """Epoch seconds in the park's story (scenario start + elapsed clock time)."""
        return self.start_epoch + self.events.elapsed()

    def _is_daytime(self) -> bool:
        hour = ((self.park_time() / 3600.0 + self.utc_offset_h) % 24.0)
        return 8.0 <= hour < 18.0

    @property
    def duration(self) -> float:
        return self.scenario.duration_s if self.scenario is not None else math.inf

    async def run_for(self, seconds: float, step: float = 0.5) -> None:
        """Let `seconds` of simulation time pass (advancing a SimClock in `step`s, or waiting on a real one)."""
        if isinstance(self.clock, SimClock):
            end = self.clock.now() + seconds
            while self.clock.now() < end:
                for _ in range(5):  # let tasks and network I/O run before time moves on
                    await asyncio.sleep(0)
                await self._unheld.wait()  # real-time work of a step (a broker restart) comes first
                await self.clock.advance(min(step, end - self.clock.now()))
        else:
            await self.clock.sleep(seconds)

    # ------------------------------------------------------------------ setup
    def _start_poses(self) -> list[tuple[float, float]]:
        taken: set[str] = set()
        poses: list[tuple[float, float]] = []
        chargers = list(self.park.chargers.values())
        anchor = (chargers[0].x, chargers[0].y) if chargers else (0.0, 0.0)
        by_distance = sorted(self.park.waypoints.values(), key=lambda w: math.dist((w.x, w.y), anchor))
        preferred = [c.waypoint for c in chargers] + [w.id for w in by_distance]
        for spec in self.robot_specs:
            if spec.start is not None:
                wid = self.places.waypoint(spec.start)
            elif spec.kind == "guide" and self.park.find_poi("kiosk") is not None:
                wid = self.places.waypoint("kiosk")
            else:
                wid = next(w for w in preferred if w not in taken)
            taken.add(wid)
            wp = self.park.waypoints[wid]
            poses.append((wp.x, wp.y))
        return poses

    def _make_drivers(self) -> None:
        rng = random.Random(self.seed)
        # a robot docks standing on the charger's waypoint (or at the charger itself)
        chargers = [(c.x, c.y) for c in self.park.chargers.values()]
        chargers += [(self.park.waypoints[c.waypoint].x, self.park.waypoints[c.waypoint].y)
                     for c in self.park.chargers.values() if c.waypoint in self.park.waypoints]
        for spec, (x, y) in zip(self.robot_specs, self._start_poses(), strict=True):
            kind = ROBOT_KINDS[spec.kind]
            charge = spec.charge if spec.charge is not None else round(rng.uniform(85.0, 100.0), 1)
            self.drivers[spec.serial] = SimDriver(
                spec.serial, kind, self.clock, Pose(x, y, 0.0, self.park.id), events=self.events,
                chargers=chargers, edge_geometry=self._edge_geometry, person_locator=self._locate_person,
                tick_s=self.robot_tick_s, initial_charge=charge, photo_renderer=self._photo)

    def _edge_geometry(self, edge_id: str) -> Sequence[tuple[float, float]] | None:
        """The path's polyline for an edge id that is a path id or `<from>-><to>[#seq]` (waypoint ids)."""
        path = self.park.paths.get(edge_id)
        if path is not None:
            return path.polyline
        ends = edge_id.split("#", 1)[0].split("->")
        if len(ends) == 2:
            return self._path_between.get((ends[0], ends[1]))
        return None

    def _locate_person(self, person_id: str, near: tuple[float, float]) -> tuple[float, float] | None:
        found = self.crowd.locate(person_id)
        if found is not None:
            return found
        people = [(math.dist(near, (p.x, p.y)), (p.x, p.y)) for p in self.crowd.people()]
        close = [p for p in people if p[0] <= 20.0]
        return min(close)[1] if close else None

    def robot_view(self, serial: str) -> CameraView:
        d = self.drivers[serial]
        pose = d.pose()
        return robot_camera_view(serial, pose.x, pose.y, pose.theta, d.kind.camera_height_m, self.scenery,
                                 self.utc_offset_h)

    async def _photo(self, driver: SimDriver) -> bytes:
        view, people, t = self.robot_view(driver.serial), self.crowd.poses(), self.park_time()
        return await asyncio.to_thread(lambda: encode_jpeg(render_frame(view, people, t), 85))

    # ------------------------------------------------------------------ lifecycle
    async def __aenter__(self) -> Simulation:
        try:
            await self._start()
        except BaseException:
            await self._stop()
            raise
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self._stop()

    async def _start(self) -> None:
        self.events.record("sim.start", self.park.id, seed=self.seed,
                           scenario=self.scenario.name if self.scenario else None)
        if self.camera_port is not None:
            self.cameras = CameraServer(park_time=self.park_time, host=self.camera_host, port=self.camera_port,
                                        fps=self.camera_fps)
            await self._stack.enter_async_context(self.cameras)
            for cam_id, view in self.views.items():
                self.cameras.add_camera(cam_id, lambda v=view: v, self.crowd.poses)  # type: ignore[misc]
            self._spawn(asyncio.to_thread(warm_up, self.scenery, self.seed), "sim-camera-warm-up")
            for serial, driver in self.drivers.items():
                driver.camera_base_url = self.cameras.add_robot(
                    serial, lambda s=serial: self.robot_view(s), self.crowd.poses,  # type: ignore[misc]
                    lambda action_id, d=driver: d.photos.get(action_id))  # type: ignore[misc]
        if self.broker is not None:
            self.bridge = BridgePublisher(self.broker)
            await self._stack.enter_async_context(self.bridge)
            specs = [SensorSpec(s.id, s.kind, s.x, s.y, s.zone) for s in self.park.sensors.values()]
            self.sensors = SensorNetwork(specs, self.bridge, self.clock, events=self.events, seed=self.seed,
                                         heartbeat_s=self._sensor_heartbeat_s,
                                         offline_after_s=self._sensor_offline_after_s,
                                         park_time=self.park_time)
            await self.sensors.announce(discovery=self.ha_discovery)
            await self._start_agents(self.broker)
            self._spawn(self.sensors.run(), "sim-sensors")
        self._spawn(self.crowd.run(self.people_tick_s, on_tick=self._people_moved), "sim-people")
        if self.scenario is not None:
            self._spawn(self._timeline(self.scenario), "sim-timeline")

    async def _start_agents(self, broker: BrokerSpec) -> None:
        for spec in self.robot_specs:
            link = LinkProxy(broker.host, broker.port, name=spec.serial)
            await self._stack.enter_async_context(link)
            self.links[spec.serial] = link
            creds = broker.for_device(spec.serial)
            kind = ROBOT_KINDS[spec.kind]
            description = RobotDescription(
                series_name="ParkPatrol patrol dog" if spec.kind == "patrol_dog" else "ParkPatrol guide robot",
                series_description=f"simulated {spec.kind}", speed_max=kind.motion.max_speed,
                acceleration_max=kind.motion.accel, deceleration_max=kind.motion.decel,
                height_max=0.6 if spec.kind == "patrol_dog" else 1.5, software_version="parkpatrol-sim")
            config = AgentConfig(manufacturer=MANUFACTURER, serial_number=spec.serial, host="127.0.0.1",
                                 port=link.port, username=creds.username if creds else None,
                                 password=creds.password if creds else None, interface=self.interface,
                                 state_interval=self.state_interval, keepalive=10, reconnect_max=5.0,
                                 description=description)
            agent = RobotAgent(self.drivers[spec.serial], config, self.clock)
            self.agents[spec.serial] = agent
            self._agent_tasks[spec.serial] = asyncio.create_task(agent.run(), name=f"sim-agent-{spec.serial}")
        waits = [asyncio.ensure_future(a.connected.wait()) for a in self.agents.values()]
        if waits:
            _done, pending = await asyncio.wait(waits, timeout=self.connect_timeout)
            for w in pending:
                w.cancel()
            if pending:
                late = [s for s, a in self.agents.items() if not a.connected.is_set()]
                raise TimeoutError(f"robots {late} did not connect to {broker.host}:{broker.port} within "
                                   f"{self.connect_timeout} s (is the broker running, are the credentials right?)")
        self.events.record("sim.robots_online", MANUFACTURER, count=len(self.agents))

    def _spawn(self, coro: Awaitable[None], name: str) -> None:
        async def guarded() -> None:
            try:
                await coro
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("simulation task %s failed", name)
        self._tasks.append(asyncio.create_task(guarded(), name=name))

    async def _stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        for agent in self.agents.values():
            agent.stop()
        if self._agent_tasks:
            _done, pending = await asyncio.wait(self._agent_tasks.values(), timeout=5.0)
            for t in pending:
                t.cancel()
            await asyncio.gather(*self._agent_tasks.values(), return_exceptions=True)
            self._agent_tasks.clear()
        await self._stack.aclose()
        self.events.record("sim.stop", self.park.id)

    async def _people_moved(self) -> None:
        if self.sensors is not None:
            await self.sensors.observe(self.crowd.positions())

    # ------------------------------------------------------------------ scenario and faults
    async def _timeline(self, scenario: sc.Scenario) -> None:
        t0 = self.events.elapsed()
        for step in scenario.steps():
            wait = t0 + step.at - self.events.elapsed()
            if wait > 0:
                await self.clock.sleep(wait)
            try:
                await self.apply(step)
            except Exception as exc:  # a bad step must not end the scenario
                log.exception("scenario %s: step %s at %gs failed", scenario.name, step.do, step.at)
                self.events.record("scenario.step_failed", step.do, error=str(exc))

    async def apply(self, step: sc.Step) -> None:
        """Carry out one timeline step now."""
        if isinstance(step, sc.SpawnPerson):
            self.crowd.spawn(step.id, step.role, list(step.route), speed=step.speed, appearance=step.appearance,
                             stay=step.stay)
        elif isinstance(step, sc.PersonWalk):
            self.crowd.walk_on(step.person, list(step.route), stay=step.stay)
        elif isinstance(step, sc.PersonFall):
            self.crowd.fall(step.person)
        elif isinstance(step, sc.PersonLeave):
            self.crowd.remove(step.person)
        elif isinstance(step, sc.SensorValues):
            await self._need_sensors().set_values(step.sensor, step.values)
        elif isinstance(step, sc.SensorSilent):
            await self._need_sensors().set_silent(step.sensor, True)
            if step.duration_s is not None:
                name = step.sensor
                self._later(step.duration_s, lambda: self._need_sensors().set_silent(name, False))
        elif isinstance(step, sc.RobotDisconnect):
            self.disconnect_robot(step.robot, step.duration_s)
        elif isinstance(step, sc.RobotStuck):
            d = self.drivers[step.robot]
            d.set_stuck(True)
            if step.duration_s is not None:
                self._later_sync(step.duration_s, lambda: d.set_stuck(False))
        elif isinstance(step, sc.EStop):
            d = self.drivers[step.robot]
            d.press_estop()
            if step.duration_s is not None:
                self._later_sync(step.duration_s, d.release_estop)
        elif isinstance(step, sc.LowBattery):
            self.drivers[step.robot].set_charge(step.charge)
        elif isinstance(step, sc.LocalisationJump):
            self.drivers[step.robot].jump(step.dx, step.dy, step.relocalise_after_s)
        elif isinstance(step, sc.CameraDrop):
            self.drop_camera(step.camera, step.duration_s)
        elif isinstance(step, sc.BrokerRestart):  # runs beside the timeline: later steps happen while it is down
            self._spawn(self._restart_step(step), "sim-broker-restart")

    def _need_sensors(self) -> SensorNetwork:
        if self.sensors is None:
            raise RuntimeError("sensor steps need a broker (Simulation(..., broker=BrokerSpec(...)))")
        return self.sensors

    def _later(self, delay: float, action: Callable[[], Awaitable[None]]) -> None:
        async def run() -> None:
            await self.clock.sleep(delay)
            await action()
        self._spawn(run(), "sim-restore")

    def _later_sync(self, delay: float, action: Callable[[], None]) -> None:
        async def run() -> None:
            await self.clock.sleep(delay)
            action()
        self._spawn(run(), "sim-restore")

    def disconnect_robot(self, serial: str, duration_s: float | None = None) -> None:
        """Cut the robot's link: the broker publishes its last will; it reconnects after `duration_s`."""
        link = self.links.get(serial)
        if link is None:
            raise KeyError(f"robot {serial!r} has no broker link (no broker, or unknown robot)")
        link.cut()
        self.events.record("fault.robot_disconnect", serial, duration_s=duration_s)
        if duration_s is not None:
            def restore() -> None:
                link.restore()
                self.events.record("fault.robot_reconnect", serial)
            self._later_sync(duration_s, restore)

    def drop_camera(self, camera_id: str, duration_s: float | None = None) -> None:
        if self.cameras is None:
            raise RuntimeError("camera faults need the camera server (camera_port not None)")
        key = f"cameras/{camera_id}"
        self.cameras.drop(key)
        self.events.record("fault.camera_drop", camera_id, duration_s=duration_s)
        if duration_s is not None:
            cams = self.cameras

            def restore() -> None:
                cams.restore(key)
                self.events.record("fault.camera_back", camera_id)
            self._later_sync(duration_s, restore)

    @contextlib.asynccontextmanager
    async def _holding_time(self) -> AsyncIterator[None]:
        """While inside, `run_for` does not advance a SimClock (real-time work is going on)."""
        self._holds += 1
        self._unheld.clear()
        try:
            yield
        finally:
            self._holds -= 1
            if self._holds == 0:
                self._unheld.set()

    async def _restart_step(self, step: sc.BrokerRestart) -> None:
        try:
            await self.restart_broker(step.down_s)
        except Exception as exc:
            log.exception("scenario step broker_restart at %gs failed", step.at)
            self.events.record("scenario.step_failed", step.do, error=str(exc))

    async def restart_broker(self, down_s: float) -> None:
        """Stop the broker, wait `down_s` of clock time, start it again.

        The events are stamped when the stop and the start are due (not when the process calls
        return), so the log is the same in every run of one seed.
        """
        if self.broker_control is None:
            log.warning("broker_restart step skipped: this Simulation has no broker_control")
            self.events.record("scenario.broker_restart_skipped", "broker", down_s=down_s)
            return
        control = self.broker_control
        back_at = self.events.elapsed() + down_s
        self.events.record("fault.broker_restart", "broker", down_s=down_s)
        try:
            async with self._holding_time():
                await control.stop()
            await self.clock.sleep(back_at - self.events.elapsed())
        finally:  # a cancelled or failed stop still brings the broker back
            self.events.record("fault.broker_back", "broker")
            async with self._holding_time():
                await control.start()

    # ------------------------------------------------------------------ views
    @property
    def camera_base_url(self) -> str | None:
        return self.cameras.base_url if self.cameras is not None else None

    def camera_urls(self) -> dict[str, str]:
        """MJPEG URL of each fixed camera (the map's stream URLs point elsewhere: use these)."""
        if self.cameras is None:
            return {}
        return {cam_id: self.cameras.camera_url(cam_id) for cam_id in self.views}

