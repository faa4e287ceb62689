"""The agent's core: order execution, instant actions, action states and state reports, without MQTT.

`AgentCore` owns one robot's VDA 5050 behaviour. It receives payloads (`handle_order`,
`handle_instant_actions`), drives the `Driver`, and hands every outgoing message to a `publish`
callable. `RobotAgent` plugs it onto MQTT; a fast in-process simulation can plug it onto anything.

Execution rules:
- nodes are reached in order; a node's actions start on arrival: HARD ones one at a time, SOFT and
  NONE in parallel; the robot drives on only when the SOFT/HARD actions of reached nodes are done;
- edge actions start when the edge is entered: NONE ones run while driving and finish with the edge,
  SOFT/HARD ones run (standing) before the edge is driven;
- startPause stops driving and pauses running order actions (PAUSED, restarted on stopPause);
- cancelOrder stops, fails unstarted and running order actions, clears the nodes (noOrderToCancel
  when there is no order); a FATAL driver fault or the e-stop holds the robot until cleared;
- initPosition/startCharging/stopCharging and patrol actions go to `Driver.run_action`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from pydantic import ValidationError

from robots.agent.config import AgentConfig
from robots.agent.driver import ActionOutcome, ActionRequest, DriveError, Driver, NodeGoal
from robots.agent.factsheet import build_factsheet
from robots.agent.reports import build_state, build_visualization, fault_errors
from robots.clock import Clock
from robots.vda5050 import actions as A
from robots.vda5050.base import VdaModel, is_supported_version, utc_now_from
from robots.vda5050.factsheet import Factsheet
from robots.vda5050.order import Action, BlockingType, Edge, InstantActions, Node, Order
from robots.vda5050.orders import (
    NO_ORDER_TO_CANCEL,
    VALIDATION_ERROR,
    ActionRecord,
    OrderStateMachine,
    Verdict,
    make_error,
)
from robots.vda5050.state import (
    ActionStatus,
    Connection,
    ConnectionState,
    Error,
    ErrorLevel,
    State,
    Visualization,
)
from robots.vda5050.topics import HeaderIds, RobotTopic, VdaTopic

log = logging.getLogger(__name__)

Publisher = Callable[[VdaTopic, VdaModel], Awaitable[None]]

DRIVE_ERROR = "driveError"
AGENT_ERROR = "agentError"
POLL_INTERVAL = 0.5  # clock seconds between e-stop/fault polls
MAX_INSTANT_STATES = 50

A_WAITING, A_RUNNING, A_PAUSED = ActionStatus.WAITING, ActionStatus.RUNNING, ActionStatus.PAUSED
A_FINISHED, A_FAILED = ActionStatus.FINISHED, ActionStatus.FAILED


def first_validation_problem(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err.get("loc", ())) or "payload"
    return f"{where}: {err.get('msg', 'invalid')}"


class AgentCore:
    """One robot's VDA 5050 behaviour over a `Driver`, publishing through `publish`."""

    def __init__(self, driver: Driver, config: AgentConfig, clock: Clock, publish: Publisher) -> None:
        self.driver = driver
        self.config = config
        self.clock = clock
        self._publish = publish
        self.header_ids = HeaderIds()
        self._driver_specs = list(driver.supported_actions())
        self.driver_action_types = frozenset(s.action_type for s in self._driver_specs)
        self.orders = OrderStateMachine(declared_actions=set(A.INSTANT_ACTIONS) | self.driver_action_types)
        self.paused = False
        self.driving = False
        self._estop = False
        self._fault_errors: list[Error] = []
        self._agent_errors: dict[str, Error] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._changed = asyncio.Event()
        self._interrupt = asyncio.Event()
        self._state_wanted = asyncio.Event()
        self._last_state_at = float("-inf")
        self._tg: asyncio.TaskGroup | None = None
        self._loose: set[asyncio.Task[Any]] = set()
        self.state_count = 0

    # --- helpers --------------------------------------------------------------------------------
    def topic(self, topic: VdaTopic) -> RobotTopic:
        return RobotTopic(self.config.robot, topic, self.config.interface)

    def _header(self, topic: VdaTopic) -> dict[str, Any]:
        return {"header_id": self.header_ids.next(self.topic(topic)), "timestamp": utc_now_from(self.clock.now()),
                "version": self.config.version, "manufacturer": self.config.manufacturer,
                "serial_number": self.config.serial_number}

    def _notify(self) -> None:
        """Something changed: wake every waiter once and ask for a state report."""
        ev, self._changed = self._changed, asyncio.Event()
        ev.set()
        self._state_wanted.set()

    def _interrupt_motion(self) -> None:
        ev, self._interrupt = self._interrupt, asyncio.Event()
        ev.set()

    async def _wait(self, ev: asyncio.Event, limit: float | None) -> None:
        """Wait until `ev` is set or `limit` clock seconds pass (None: no limit)."""
        if limit is None:
            await ev.wait()
            return
        waiter = asyncio.ensure_future(ev.wait())
        sleeper = asyncio.ensure_future(self.clock.sleep(limit))
        try:
            await asyncio.wait({waiter, sleeper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
            sleeper.cancel()

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        if self._tg is not None:
            return self._tg.create_task(coro, name=name)
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._loose.add(task)
        task.add_done_callback(self._loose.discard)
        return task

    # --- messages out ---------------------------------------------------------------------------
    def build_state(self) -> State:
        return build_state(self._header(VdaTopic.STATE), self.driver, self.orders, driving=self.driving,
                           paused=self.paused, estop=self._estop,
                           extra_errors=[*self._agent_errors.values(), *self._fault_errors])

    def build_visualization(self) -> Visualization:
        return build_visualization(self._header(VdaTopic.VISUALIZATION), self.driver)

    def build_connection(self, state: ConnectionState) -> Connection:
        return Connection(**self._header(VdaTopic.CONNECTION), connection_state=state)

    def build_factsheet(self) -> Factsheet:
        h = self._header(VdaTopic.FACTSHEET)
        return build_factsheet(self.config, self._driver_specs, header_id=h["header_id"], timestamp=h["timestamp"])

    async def publish_state(self) -> None:
        self._state_wanted.clear()
        self._last_state_at = self.clock.now()
        self.state_count += 1
        await self._publish(VdaTopic.STATE, self.build_state())

    async def publish_factsheet(self) -> None:
        await self._publish(VdaTopic.FACTSHEET, self.build_factsheet())

    # --- messages in ----------------------------------------------------------------------------
    def _check_envelope(self, kind: str, payload: bytes) -> str | None:
        if len(payload) > self.config.max_payload_bytes:
            return f"{kind} payload of {len(payload)} bytes exceeds {self.config.max_payload_bytes}"
        return None

    def _wrong_robot(self, msg: Order | InstantActions) -> str | None:
        if (msg.manufacturer, msg.serial_number) != (self.config.manufacturer, self.config.serial_number):
            return (f"message addressed to {msg.manufacturer}/{msg.serial_number}, "
                    f"this robot is {self.config.robot}")
        if not is_supported_version(msg.version):
            return f"version {msg.version!r} is not supported (2.0.x or 2.1.x)"
        return None

    def _reject(self, description: str, **refs: str | int | None) -> None:
        log.warning("%s: rejected: %s", self.config.robot, description)
        self.orders.add_error(make_error(VALIDATION_ERROR, description, refs))
        self._notify()

    async def handle_order(self, payload: bytes) -> None:
        """An `order` payload arrived. Never raises for bad input: it becomes a state error."""
        problem = self._check_envelope("order", payload)
        if problem:
            self._reject(problem)
            return
        try:
            order = Order.from_json(payload)
        except ValidationError as exc:
            self._reject(f"order payload invalid: {first_validation_problem(exc)}")
            return
        problem = self._wrong_robot(order)
        if problem:
            self._reject(problem, headerId=order.header_id, orderId=order.order_id)
            return
        decision = self.orders.receive(order)
        if decision.verdict is Verdict.IGNORED:
            return
        if decision.accepted:
            self._agent_errors.pop(DRIVE_ERROR, None)
        self._notify()

    async def handle_instant_actions(self, payload: bytes) -> None:
        """An `instantActions` payload arrived. Never raises for bad input."""
        problem = self._check_envelope("instantActions", payload)
        if problem:
            self._reject(problem)
            return
        try:
            msg = InstantActions.from_json(payload)
        except ValidationError as exc:
            self._reject(f"instantActions payload invalid: {first_validation_problem(exc)}")
            return
        problem = self._wrong_robot(msg)
        if problem:
            self._reject(problem, headerId=msg.header_id)
            return
        for action in msg.actions:
            await self._instant(action)
        self._notify()

    async def _instant(self, action: Action) -> None:
        if action.action_id in self.orders.actions:
            return  # a resent instant action: already handled
        rec = self.orders.add_instant(action)
        self._prune_instant_states()
        kind = action.action_type
        if kind == A.START_PAUSE:
            await self._pause()
            self.orders.set_status(action.action_id, A_FINISHED, "paused")
        elif kind == A.STOP_PAUSE:
            self._resume()
            self.orders.set_status(action.action_id, A_FINISHED, "resumed")
        elif kind == A.CANCEL_ORDER:
            await self._cancel(rec)
        elif kind == A.STATE_REQUEST:
            self.orders.set_status(action.action_id, A_FINISHED)
        elif kind == A.FACTSHEET_REQUEST:
            self.orders.set_status(action.action_id, A_FINISHED)
            await self.publish_factsheet()
        elif kind in self.driver_action_types:
            self._start_action(rec)
        else:
            self.orders.set_status(action.action_id, A_FAILED,
                                   f"actionType {kind!r} is not supported by this robot (see its factsheet)")

    def _prune_instant_states(self) -> None:
        done = [k for k, r in self.orders.actions.items() if r.scope == "INSTANT" and r.status.terminal]
        for key in done[: max(0, len(done) - MAX_INSTANT_STATES)]:
            del self.orders.actions[key]

    async def _pause(self) -> None:
        self.paused = True
        self._interrupt_motion()
        await self._stop_driver()
        self.driving = False
        for action_id, task in list(self._tasks.items()):
            rec = self.orders.actions.get(action_id)
            if rec is not None and rec.scope != "INSTANT":
                self.orders.set_status(action_id, A_PAUSED)
                task.cancel()
        self._notify()

    def _resume(self) -> None:
        if not self.paused:
            return
        self.paused = False
        for rec in list(self.orders.actions.values()):
            if rec.status == A_PAUSED:
                self._start_action(rec)
        self._notify()

    async def _cancel(self, rec: ActionRecord) -> None:
        try:
            running = self.orders.cancel()
        except LookupError:
            self.orders.set_status(rec.action.action_id, A_FAILED, "no order to cancel")
            self.orders.add_error(make_error(NO_ORDER_TO_CANCEL, "cancelOrder received but there is no active order",
                                             {"actionId": rec.action.action_id}))
            return
        self.orders.set_status(rec.action.action_id, A_RUNNING)
        self._interrupt_motion()
        await self._stop_driver()
        self.driving = False
        tasks = []
        for action_id in running:
            self.orders.set_status(action_id, A_FAILED, "cancelled by cancelOrder")
            task = self._tasks.get(action_id)
            if task is not None:
                task.cancel()
                tasks.append(task)
        if tasks:
            await asyncio.wait(tasks)
        self._agent_errors.pop(DRIVE_ERROR, None)
        self.orders.set_status(rec.action.action_id, A_FINISHED, "order cancelled")
        self._notify()

    async def _stop_driver(self) -> None:
        try:
            await self.driver.stop()
        except Exception as exc:
            log.warning("%s: driver.stop() failed: %s", self.config.robot, exc)

    # --- actions --------------------------------------------------------------------------------
    def _start_action(self, rec: ActionRecord) -> None:
        action_id = rec.action.action_id
        old = self._tasks.get(action_id)
        if old is not None and not old.done():
            return
        self.orders.set_status(action_id, A_RUNNING)
        self._tasks[action_id] = self._spawn(self._run_action(rec), name=f"action-{action_id}")
        self._notify()

    async def _run_action(self, rec: ActionRecord) -> None:
        action = rec.action
        request = ActionRequest(action.action_id, action.action_type, action.parameters_dict())
        try:
            outcome = await self.driver.run_action(request)
        except asyncio.CancelledError:
            raise  # paused or cancelled: whoever cancelled set the status
        except Exception as exc:
            log.warning("%s: action %s (%s) raised %r", self.config.robot, action.action_id,
                        action.action_type, exc)
            outcome = ActionOutcome(False, f"{type(exc).__name__}: {exc}")
        finally:
            if self._tasks.get(action.action_id) is asyncio.current_task():
                del self._tasks[action.action_id]
        if rec.status.terminal or rec.status == A_PAUSED:
            return
        self.orders.set_status(action.action_id, A_FINISHED if outcome.ok else A_FAILED,
                               outcome.result_description or None)
        if outcome.ok and action.action_type == A.INIT_POSITION:
            node = action.parameter("lastNodeId")
            if isinstance(node, str) and node:
                self.orders.set_position_node(node)
        self._notify()

    def _blocked_by_actions(self) -> bool:
        """SOFT/HARD node actions at reached nodes that are not done hold the robot."""
        reached = self.orders.last_node_sequence_id
        return any(
            r.scope == "NODE" and not r.status.terminal and r.action.blocking_type != BlockingType.NONE
            and r.sequence_id is not None and r.sequence_id <= reached
            for r in self.orders.actions.values()
        )

    async def _run_node_actions(self, sequence_id: int) -> None:
        """Start the actions of a reached node: HARD ones alone and in turn, SOFT/NONE in parallel."""
        for rec in self.orders.actions_at(sequence_id):
            while self.paused:
                await self._changed.wait()
            if rec.status != A_WAITING:
                continue
            if rec.action.blocking_type == BlockingType.HARD:
                await self._until(lambda: not self._tasks)
                self._start_action(rec)
                await self._until(lambda r=rec: r.status.terminal)  # type: ignore[misc]
            else:
                self._start_action(rec)

    async def _until(self, predicate: Callable[[], bool]) -> None:
        while True:
            ev = self._changed
            if predicate():
                return
            await ev.wait()

    # --- loops ----------------------------------------------------------------------------------
    async def run(self) -> None:
        """Run execution, state reporting and polling until cancelled."""
        async with asyncio.TaskGroup() as tg:
            self._tg = tg
            try:
                tg.create_task(self._executor(), name="executor")
                tg.create_task(self._state_loop(), name="state")
                tg.create_task(self._poll_loop(), name="poll")
                if self.config.visualization_interval:
                    tg.create_task(self._visualization_loop(self.config.visualization_interval), name="vis")
            finally:
                self._tg = None

    async def _state_loop(self) -> None:
        while True:
            wanted = self._state_wanted
            remaining = self.config.state_interval - (self.clock.now() - self._last_state_at)
            if not wanted.is_set() and remaining > 0:
                await self._wait(wanted, remaining)
            try:
                await self.publish_state()
            except Exception as exc:
                log.warning("%s: publishing state failed: %s", self.config.robot, exc)
                await self.clock.sleep(POLL_INTERVAL)

    async def _visualization_loop(self, interval: float) -> None:
        while True:
            await self.clock.sleep(interval)
            try:
                await self._publish(VdaTopic.VISUALIZATION, self.build_visualization())
            except Exception as exc:
                log.warning("%s: publishing visualization failed: %s", self.config.robot, exc)

    async def _poll_loop(self) -> None:
        """Poll the driver's e-stop and faults; changes are events (a state report, motion held)."""
        while True:
            try:
                estop = bool(self.driver.estop())
                faults = fault_errors(self.driver.faults())
            except Exception as exc:
                log.warning("%s: driver poll failed: %s", self.config.robot, exc)
                estop, faults = self._estop, self._fault_errors
            if estop != self._estop or faults != self._fault_errors:
                self._estop, self._fault_errors = estop, faults
                if self.held:
                    self._interrupt_motion()
                self._notify()
            await self.clock.sleep(POLL_INTERVAL)

    @property
    def held(self) -> bool:
        """Motion is not allowed: paused, e-stop pressed or a FATAL fault present."""
        return self.paused or self._estop or any(e.error_level == ErrorLevel.FATAL for e in self._fault_errors)

    async def _executor(self) -> None:
        while True:
            changed = self._changed
            try:
                step = None if self.held or self._blocked_by_actions() else self.orders.next_node()
                if step is None:
                    await changed.wait()
                    continue
                await self._drive_step(*step)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a driver or agent bug: report, keep the robot alive
                log.exception("%s: executor step failed", self.config.robot)
                self._agent_errors[AGENT_ERROR] = make_error(AGENT_ERROR, f"executor failed: {exc}")
                self._notify()
                await self._wait(self._changed, self.config.drive_retry_interval)

    async def _drive_step(self, edge: Edge | None, node: Node) -> None:
        edge_recs = self.orders.actions_at(edge.sequence_id) if edge is not None else []
        for rec in edge_recs:
            if rec.status == A_WAITING and rec.action.blocking_type != BlockingType.NONE:
                self._start_action(rec)
                await self._until(lambda r=rec: r.status.terminal or self.held)  # type: ignore[misc]
                if self.held:
                    return
        for rec in edge_recs:
            if rec.status == A_WAITING:
                self._start_action(rec)
        pos = node.node_position
        assert pos is not None  # validate_order(require_positions=True) guarantees it
        goal = NodeGoal(node_id=node.node_id, x=pos.x, y=pos.y, map_id=pos.map_id, theta=pos.theta,
                        allowed_deviation_xy=pos.allowed_deviation_xy or 0.5,
                        edge_id=edge.edge_id if edge else None, max_speed=edge.max_speed if edge else None)
        arrived = await self._drive(goal)
        if not arrived:
            return
        for rec in edge_recs:  # NONE edge actions last as long as the edge
            task = self._tasks.get(rec.action.action_id)
            if task is not None and not rec.status.terminal:
                self.orders.set_status(rec.action.action_id, A_FINISHED, "edge completed")
                task.cancel()
        self.orders.node_reached(node.node_id, node.sequence_id)
        self._notify()
        await self._run_node_actions(node.sequence_id)

    async def _drive(self, goal: NodeGoal) -> bool:
        """Drive to `goal`; False when interrupted (pause, cancel, e-stop) or failed."""
        interrupt = self._interrupt
        self.driving = True
        self._notify()
        drive = asyncio.ensure_future(self.driver.drive_to(goal))
        stop = asyncio.ensure_future(interrupt.wait())
        try:
            await asyncio.wait({drive, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
            if not drive.done():
                drive.cancel()
                await asyncio.wait({drive})
            self.driving = False
            self._notify()
        if drive.cancelled():
            return False
        exc = drive.exception()
        if interrupt.is_set():  # paused/cancelled/held: whatever the drive ended with, it was stopped
            return False
        if exc is None:
            self._agent_errors.pop(DRIVE_ERROR, None)
            return True
        if not isinstance(exc, DriveError):
            raise exc
        log.warning("%s: drive to %s failed: %s", self.config.robot, goal.node_id, exc)
        self._agent_errors[DRIVE_ERROR] = make_error(
            DRIVE_ERROR, f"could not reach node {goal.node_id}: {exc}", {"nodeId": goal.node_id},
            hint="the robot retries; send cancelOrder or a new order to give up")
        self._notify()
        await self._wait(self._changed, self.config.drive_retry_interval)
        return False

