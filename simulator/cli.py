"""`parkpatrol sim`: run a scenario against a broker, or the scale mode (many robots and sensors)."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import sys
from collections import Counter
from pathlib import Path

from maps import MapError, Park, load_park, sample_park_path
from simulator.clocks import ScaledClock
from simulator.mqtt import BrokerSpec
from simulator.runner import Simulation
from simulator.scale import ScaleConfig, run_scale
from simulator.scenario import SCENARIO_NAMES, Scenario, ScenarioError, load_scenario

log = logging.getLogger(__name__)


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "sim", help="run the simulated park (robots, sensors, cameras, people) against a broker",
        description="Scenario mode: --park FILE --scenario FILE|NAME [--speed X]. Scale mode: --robots N "
                    f"and/or --sensors N (lightweight publishers, measured rate). Shipped scenarios: "
                    f"{', '.join(SCENARIO_NAMES)}.")
    p.add_argument("--park", type=Path, default=None, help="park GeoJSON (default: the sample park)")
    p.add_argument("--scenario", default=None, help="scenario YAML file or shipped scenario name")
    p.add_argument("--speed", type=float, default=1.0, help="simulated seconds per real second (default 1)")
    p.add_argument("--seed", type=int, default=None, help="random seed (default: the scenario's)")
    p.add_argument("--duration", type=float, default=None,
                   help="seconds to run (default: the scenario's duration; scale mode 60)")
    p.add_argument("--broker", default="mqtt://127.0.0.1:1883", help="mqtt://[user:pass@]host[:port]")
    p.add_argument("--camera-port", type=int, default=0, help="camera HTTP port (0: any free port)")
    p.add_argument("--events", type=Path, default=None, help="write the event log as JSON lines here")
    p.add_argument("--robots", type=int, default=None, help="scale mode: number of robots (1 Hz state)")
    p.add_argument("--sensors", type=int, default=None, help="scale mode: number of sensors (every 30 s)")
    p.add_argument("--sensor-period", type=float, default=30.0, help="scale mode: seconds between reports")
    p.add_argument("--trips", type=float, default=5.0, help="scale mode: sensor triggers per second")
    p.add_argument("--json", action="store_true", help="scale mode: print the figures as JSON")
    p.set_defaults(func=run_sim)


def run_sim(args: argparse.Namespace) -> int:
    try:
        broker = BrokerSpec.from_url(args.broker)
        park = load_park(args.park or sample_park_path())
    except (ValueError, MapError) as exc:
        print(f"parkpatrol sim: {exc}", file=sys.stderr)
        return 2
    if args.robots is not None or args.sensors is not None:
        return _scale(args, park, broker)
    try:
        scenario = load_scenario(args.scenario) if args.scenario else None
    except ScenarioError as exc:
        print(f"parkpatrol sim: {exc}", file=sys.stderr)
        return 2
    try:
        return asyncio.run(_scenario(args, park, broker, scenario))
    except (ScenarioError, TimeoutError, OSError) as exc:
        print(f"parkpatrol sim: {exc}", file=sys.stderr)
        return 1


def _scale(args: argparse.Namespace, park: Park, broker: BrokerSpec) -> int:
    config = ScaleConfig(robots=args.robots or 0, sensors=args.sensors or 0,
                         duration_s=args.duration or 60.0, sensor_period_s=args.sensor_period,
                         trips_per_s=args.trips if (args.sensors or 0) > 0 else 0.0, seed=args.seed or 0)
    print(f"scale mode: {config.robots} robots at 1 Hz, {config.sensors} sensors every "
          f"{config.sensor_period_s:g} s, {config.trips_per_s:g} trips/s, for {config.duration_s:g} s "
          f"-> {broker.host}:{broker.port}", flush=True)
    try:
        report = run_scale(park, broker, config, progress=lambda line: print(line, flush=True))
    except (ConnectionError, OSError) as exc:
        print(f"parkpatrol sim: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps({"duration_s": round(report.duration_s, 2), "robot_messages": report.robot_messages,
                          "sensor_messages": report.sensor_messages, "trip_messages": report.trip_messages,
                          "rate": round(report.rate, 1), "target_rate": round(report.target_rate, 1),
                          "publish_errors": report.publish_errors,
                          "max_tick_lag_ms": round(report.max_tick_lag_s * 1000, 1),
                          "interval_rates": [round(r, 1) for _, r in report.samples]}))
    else:
        print("\n".join(report.lines()))
    return 0 if report.publish_errors == 0 else 1


async def _scenario(args: argparse.Namespace, park: Park, broker: BrokerSpec, scenario: Scenario | None) -> int:
    start = scenario.start_epoch if scenario is not None else None
    clock = ScaledClock(args.speed, start)
    async with Simulation(park, broker, clock=clock, seed=args.seed, scenario=scenario,
                          camera_port=args.camera_port) as sim:
        print(f"simulating {park.name} ({len(sim.drivers)} robots, {len(park.sensors)} sensors, "
              f"{len(park.cameras)} cameras) against {broker.host}:{broker.port}", flush=True)
        print(f"cameras: {sim.camera_base_url}/  (e.g. {next(iter(sim.camera_urls().values()), '-')})", flush=True)
        duration = args.duration or (scenario.duration_s if scenario is not None else math.inf)
        if math.isinf(duration):
            print("running until Ctrl-C", flush=True)
        await sim.run_for(duration)
    counts = Counter(e.kind for e in sim.events)
    print("events: " + ", ".join(f"{k} {n}" for k, n in sorted(counts.items())))
    if args.events is not None:
        with args.events.open("w", encoding="utf-8") as fh:
            for e in sim.events:
                fh.write(json.dumps(e.as_dict(), ensure_ascii=False) + "\n")
        print(f"event log: {args.events}")
    return 0
