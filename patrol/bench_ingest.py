"""`parkpatrol bench ingest`: the service's MQTT ingest against a bare paho subscriber, same rules.

One run, one private Mosquitto, the same load generator (`patrol.bench_load`: separate processes
that publish robot states at set rates) for everything:
1. bare subscriber: a paho client on its own network thread whose callback only records arrival
   time and payload, taken through the same rate steps as the service; a step is sustained with zero
   loss and p99 publish-to-arrival <= 100 ms. Its highest sustained rate is the ceiling the service
   is compared with. The old flood figure (as many messages as the load can push, counted) is
   printed too, but it measures the load generator as much as the subscriber;
2. service: the real ingest path (MqttBus -> FleetState with VDA 5050 validation, identity and
   map checks, live-hub marking) at the same rising rates; for each step it reports messages lost
   and the publish-to-visible latency (the state's timestamp -> the fleet state that the API and
   WebSocket serve is updated).
Each step reports the rate the load processes actually offered; a step whose offer fell below 95% of
the set rate is marked and never credited as sustained.

CPU time per message (the bare subscriber's, each service step's, and `FleetState.handle` alone
in-process) is printed too: unlike rates, those ratios hold when other work shares the CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing as mp
import statistics
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from maps import Park, load_park, sample_park_path
from patrol.bench_load import MANUFACTURER, LoadReport, load_process, state_template
from patrol.broker import MosquittoProcess
from patrol.bus import BrokerAddress, MqttBus
from patrol.fleet.registry import RobotKind, RobotRegistry
from patrol.fleet.state import FleetState, RobotChange
from patrol.live import LiveHub
from patrol.store.db import Store
from robots.clock import WallClock

ROBOTS = 500
SUSTAINED_P99_MS = 100.0
OFFER_SHORT = 0.95  # a step whose load offered less than this share of the set rate is not credited
DRAIN_QUIET_S = 1.0  # after the load stops, a step ends when everything arrived or nothing did for this long
RATES = [2000.0, 5000.0, 10000.0, 12500.0, 15000.0, 20000.0, 30000.0]
_TS_KEY = b'"timestamp": "'
_Arrival = tuple[float, bytes | bytearray]  # arrival time (epoch s), payload


@dataclass
class Step:
    offered: float  # the set rate
    offered_achieved: float  # what the load processes actually offered
    load_short: bool  # offered_achieved < 95% of the set rate: the step says nothing about the subscriber
    sent: int
    received: int
    lost: int
    p50_ms: float
    p99_ms: float
    achieved: float
    cpu_us_per_msg: float  # the subscriber process's CPU time (all threads) per message received

    @property
    def sustained(self) -> bool:
        return self.lost == 0 and self.p99_ms <= SUSTAINED_P99_MS and not self.load_short


def _start_load(host: str, port: int, rate: float, amount: float, positions: list[tuple[float, float]],
                processes: int, tag: str) -> list[tuple[Any, Any]]:
    """Spawn `processes` load processes sharing the robots and the rate (rate 0: a flood of `amount`)."""
    ctx = mp.get_context("spawn")
    started = []
    for k in range(processes):
        q = ctx.Queue()
        robots = list(range(k, ROBOTS, processes))
        p = ctx.Process(target=load_process, daemon=True,
                        args=(host, port, rate / processes, amount / processes if not rate else amount, robots,
                              positions, f"bench-load-{tag}-{k}", q))
        p.start()
        started.append((p, q))
    return started


def _finish_load(started: list[tuple[Any, Any]]) -> LoadReport:
    """Wait for the load processes; their reports summed (offered rates add up: they run together)."""
    reports = []
    for p, q in started:
        got = q.get(timeout=600)
        p.join()
        if not isinstance(got, LoadReport):
            raise RuntimeError(f"load process failed: {got}")
        reports.append(got)
    return LoadReport(sum(r.sent for r in reports), sum(r.offered_msg_s for r in reports),
                      sum(r.cpu_s for r in reports))


def _percentiles(latencies_s: list[float]) -> tuple[float, float]:
    lat = sorted(latencies_s) or [0.0]
    return 1000 * statistics.median(lat), 1000 * lat[min(len(lat) - 1, int(0.99 * len(lat)))]


def _stamp_of(payload: bytes | bytearray) -> float:
    i = payload.index(_TS_KEY) + len(_TS_KEY)
    return datetime.fromisoformat(payload[i:payload.index(b'"', i)].decode()).timestamp()


@dataclass
class Flood:
    messages: int
    offered_achieved: float
    received: int
    rate: float
    cpu_us_per_msg: float


def measure_bare(host: str, port: int, rates: list[float], seconds: float, flood_messages: int,
                 positions: list[tuple[float, float]], processes: int = 1) -> tuple[Flood, list[Step]]:
    """A bare paho subscriber: a flood of `flood_messages`, then the same rate steps as the service."""
    arrivals: list[_Arrival] = []
    ready = threading.Event()

    def on_message(client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        arrivals.append((time.time(), msg.payload))  # list.append is atomic; the bench reads after the step

    sub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-bare")
    sub.on_message = on_message
    sub.on_subscribe = lambda *a: ready.set()
    sub.connect(host, port)
    sub.subscribe("uagv/v2/+/+/state", qos=0)
    sub.loop_start()
    try:
        if not ready.wait(5):
            raise RuntimeError("bare subscriber: no SUBACK within 5 s")

        def step(rate: float, amount: float, tag: str) -> tuple[LoadReport, list[_Arrival], float]:
            arrivals.clear()
            cpu = time.process_time()
            load = _finish_load(_start_load(host, port, rate, amount, positions, processes, tag))
            seen, quiet_since = -1, time.monotonic()
            while len(arrivals) < load.sent and time.monotonic() - quiet_since < DRAIN_QUIET_S:
                if len(arrivals) != seen:  # still arriving: the broker's queue is draining
                    seen, quiet_since = len(arrivals), time.monotonic()
                time.sleep(0.01)
            time.sleep(0.2)  # anything beyond what was sent would be a bench bug: let it show
            got = list(arrivals)
            return load, got, time.process_time() - cpu

        load, got, cpu = step(0, flood_messages, "flood")
        span = got[-1][0] - got[0][0] if len(got) > 1 else 0.0
        flood = Flood(load.sent, load.offered_msg_s, len(got), len(got) / span if span > 0 else 0.0,
                      1e6 * cpu / max(1, len(got)))
        steps: list[Step] = []
        for rate in rates:
            load, got, cpu = step(rate, seconds, f"bare-{rate:.0f}")
            p50, p99 = _percentiles([t - _stamp_of(payload) for t, payload in got])
            span = got[-1][0] - got[0][0] if len(got) > 1 else 0.0
            steps.append(Step(rate, load.offered_msg_s, load.offered_msg_s < OFFER_SHORT * rate, load.sent,
                              len(got), max(0, load.sent - len(got)), p50, p99,
                              len(got) / span if span > 0 else 0.0, 1e6 * cpu / max(1, len(got))))
            if len(got) < load.sent * 0.98:
                break  # far past saturation: higher rates only lose more
        return flood, steps
    finally:
        sub.loop_stop()
        sub.disconnect()
async def _service_steps(host: str, port: int, park: Park, rates: list[float], seconds: float,
                         positions: list[tuple[float, float]], data_dir: Path, processes: int = 1) -> list[Step]:
    store = Store(f"sqlite+aiosqlite:///{data_dir / 'bench.db'}")
    await store.migrate()
    registry = RobotRegistry(store.sessions)
    for i in range(ROBOTS):
        await registry.add(MANUFACTURER, f"r{i:04d}", RobotKind.PATROL_DOG)
    clock = WallClock()
    fleet = FleetState(registry, park, clock=clock.now)
    fleet.seed_from_registry()
    hub = LiveHub(lambda: {"robots": fleet.snapshot()}, clock)
    latencies: list[float] = []
    caught_up = asyncio.Event()
    goal = [1 << 62]

    window = [0.0, 0.0]  # first and last receipt of the current step

    def on_change(ch: RobotChange) -> None:
        now = time.perf_counter()
        if not window[0]:
            window[0] = now
        window[1] = now
        hub.mark("robots", ch.after.robot_id, ch.after)
        ts = ch.after.state_timestamp
        if ts is not None:
            latencies.append(time.time() - datetime.fromisoformat(ts).timestamp())
        if fleet.accepted_messages >= goal[0]:
            caught_up.set()

    fleet.listen(on_change)
    bus = MqttBus(BrokerAddress(host, port), client_id="bench-service")
    bus.subscribe("uagv/v2/+/+/state", fleet.handle, 0)
    steps: list[Step] = []
    async with bus, asyncio.TaskGroup() as tg:
        runner = tg.create_task(bus.run())
        ticker = tg.create_task(hub.run())
        await bus.wait_connected(5)
        for rate in rates:
            before = fleet.accepted_messages
            latencies.clear()
            window[0] = window[1] = 0.0
            cpu = time.process_time()
            started = _start_load(host, port, rate, seconds, positions, processes, f"svc-{rate:.0f}")
            load = await asyncio.to_thread(_finish_load, started)
            sent = load.sent
            caught_up.clear()
            goal[0] = before + sent
            seen = -1
            while fleet.accepted_messages < goal[0] and fleet.accepted_messages != seen:
                seen = fleet.accepted_messages  # wait while it still makes progress: a backlog is not a loss
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(DRAIN_QUIET_S):
                        await caught_up.wait()
            elapsed = max(1e-6, window[1] - window[0])
            received = fleet.accepted_messages - before
            cpu = time.process_time() - cpu
            p50, p99 = _percentiles(latencies)
            steps.append(Step(rate, load.offered_msg_s, load.offered_msg_s < OFFER_SHORT * rate, sent, received,
                              max(0, sent - received), p50, p99, received / elapsed, 1e6 * cpu / max(1, received)))
            if received < sent * 0.98:
                break  # far past saturation: higher rates only lose more
        runner.cancel()
        ticker.cancel()
    await store.close()
    return steps




async def fleet_cpu_us_per_msg(park: Park, positions: list[tuple[float, float]], data_dir: Path,
                               rounds: int = 7) -> float:
    """CPU us per state message through `FleetState.handle` alone (no broker, no bus, no threads):
    the part of the ingest cost that is ours, steady under a shared CPU. Median of `rounds`."""
    store = Store(f"sqlite+aiosqlite:///{data_dir / 'fleet-cpu.db'}")
    await store.migrate()
    try:
        registry = RobotRegistry(store.sessions)
        for i in range(ROBOTS):
            await registry.add(MANUFACTURER, f"r{i:04d}", RobotKind.PATROL_DOG)
        fleet = FleetState(registry, park)
        messages = [(f"uagv/v2/{MANUFACTURER}/r{i:04d}/state",
                     state_template(f"r{i:04d}", *positions[i % len(positions)])
                     .replace(b'"TS"', b'"2026-11-29T04:00:00.%06dZ"' % (i * 997 % 1_000_000))) for i in range(ROBOTS)]
        handle = fleet.handle
        for topic, payload in messages:  # warm the caches
            handle(topic, payload)
        per_round = []
        for _ in range(rounds):
            cpu = time.process_time()
            for _ in range(10):
                for topic, payload in messages:
                    handle(topic, payload)
            per_round.append(1e6 * (time.process_time() - cpu) / (10 * ROBOTS))
        if fleet.rejected:
            raise RuntimeError(f"bench payloads rejected: {dict(fleet.rejected)}")
        return statistics.median(per_round)
    finally:
        await store.close()


def _best(steps: list[Step]) -> Step | None:
    return max((s for s in steps if s.sustained), key=lambda s: s.offered, default=None)


def _print_steps(title: str, steps: list[Step]) -> None:
    print(title)
    print(f"{'set':>9} {'offered':>9} {'sent':>8} {'lost':>6} {'achieved':>9} {'p50 ms':>7} {'p99 ms':>7}"
          f" {'CPU us/msg':>10}")
    for s in steps:
        short = "  load short of the set rate: not credited" if s.load_short else ""
        print(f"{s.offered:>9,.0f} {s.offered_achieved:>9,.0f} {s.sent:>8} {s.lost:>6} {s.achieved:>9,.0f}"
              f" {s.p50_ms:>7.1f} {s.p99_ms:>7.1f} {s.cpu_us_per_msg:>10.1f}{short}")


def cmd_bench_ingest(args: argparse.Namespace) -> int:
    park = load_park(sample_park_path())
    wps = list(park.waypoints.values())
    positions = [(w.x, w.y) for w in wps]
    processes = max(1, int(getattr(args, "load_processes", 1)))
    with tempfile.TemporaryDirectory(prefix="pp-bench-") as tmp:
        fleet_cpu = asyncio.run(fleet_cpu_us_per_msg(park, positions, Path(tmp)))
        broker = MosquittoProcess(data_dir=Path(tmp) / "broker")
        broker.start()
        try:
            flood, bare = measure_bare(broker.host, broker.port, RATES, args.seconds, 200_000, positions, processes)
            steps = asyncio.run(_service_steps(broker.host, broker.port, park, RATES, args.seconds, positions,
                                               Path(tmp), processes))
        finally:
            broker.stop()
    best, bare_best = _best(steps), _best(bare)
    rate = best.offered if best else 0.0
    ceiling = bare_best.offered if bare_best else 0.0
    # the bare subscriber sustained every rate the load could offer: the ceiling is a lower bound
    ceiling_is_lower_bound = bool(bare) and bare_best is bare[-1] and len(bare) == len(RATES)
    # saturation: the most either consumer took per second in any step, losses and latency aside
    saturation = max((s.achieved for s in steps), default=0.0)
    bare_saturation = max([s.achieved for s in bare] + [flood.rate])
    result = {
        "load_processes": processes,
        "sustained_rule": (f"zero loss, p99 <= {SUSTAINED_P99_MS:.0f} ms, "
                           f"load offered >= {OFFER_SHORT:.0%} of the set rate"),
        "bare_sustained_msg_s": ceiling,
        "bare_sustained_is_lower_bound": ceiling_is_lower_bound,
        "bare_steps": [s.__dict__ for s in bare],
        "bare_flood": flood.__dict__,
        "steps": [s.__dict__ for s in steps],
        "max_sustained_rate_msg_s": rate,
        "p99_ms_at_max": best.p99_ms if best else None,
        "ratio_to_bare_sustained": round(rate / ceiling, 3) if ceiling else None,
        "ratio_to_flood": round(rate / flood.rate, 3) if flood.rate else None,
        "service_saturation_msg_s": round(saturation),
        "bare_saturation_msg_s": round(bare_saturation),
        "ratio_of_saturations": round(saturation / bare_saturation, 3) if bare_saturation else None,
        "fleet_cpu_us_per_msg": round(fleet_cpu, 1),
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"bare paho subscriber, flood of {flood.messages:,} (load offered {flood.offered_achieved:,.0f} msg/s): "
          f"{flood.rate:,.0f} msg/s counted, {flood.received:,} received, {flood.cpu_us_per_msg:.1f} us CPU/msg")
    _print_steps("bare paho subscriber, rate steps (set / offered by the load / ...):", bare)
    _print_steps("service ingest, rate steps:", steps)
    print(f"fleet state ingest alone: {fleet_cpu:.1f} us CPU per state message")
    print(f"sustained ({result['sustained_rule']}): service {rate:,.0f} msg/s, bare subscriber {ceiling:,.0f} msg/s"
          f"{' (or more: it sustained every step)' if ceiling_is_lower_bound else ''}; "
          f"ratio {result['ratio_to_bare_sustained']} (to the flood figure: {result['ratio_to_flood']})")
    print(f"saturation (most taken per second in any step): service {saturation:,.0f} msg/s, bare subscriber "
          f"{bare_saturation:,.0f} msg/s; ratio {result['ratio_of_saturations']}")
    return 0
