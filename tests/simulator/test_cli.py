"""`parkpatrol sim`: scale mode and scenario mode against a real Mosquitto."""

from __future__ import annotations

import argparse
import json
import threading
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from patrol.broker import BrokerEndpoint
from simulator.cli import add_commands


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="parkpatrol")
    add_commands(parser.add_subparsers())
    return parser.parse_args(["sim", *argv])


def test_sim_command_is_registered() -> None:
    args = parse("--scenario", "quiet_night", "--speed", "10")
    assert args.func.__name__ == "run_sim" and args.speed == 10.0


def test_scale_mode_publishes_at_its_target_rate(broker: BrokerEndpoint, capsys: pytest.CaptureFixture[str]) -> None:
    received: dict[str, int] = {"state": 0, "sensor": 0}
    lock = threading.Lock()
    sub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="scale-test-sub")

    def on_message(client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        if msg.retain:  # left on the shared test broker by other tests, not published by this run
            return
        with lock:
            received["state" if msg.topic.endswith("/state") else "sensor"] += 1

    sub.on_message = on_message
    sub.connect(broker.host, broker.port)
    sub.subscribe([("uagv/v2/+/+/state", 0), ("zigbee2mqtt/#", 0)])
    sub.loop_start()
    try:
        args = parse("--broker", broker.url, "--robots", "50", "--sensors", "600", "--sensor-period", "3",
                     "--duration", "3", "--trips", "10", "--json")
        assert args.func(args) == 0
    finally:
        sub.loop_stop()
        sub.disconnect()
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["publish_errors"] == 0
    assert report["target_rate"] == pytest.approx(50 + 200 + 10)
    # every message the scale mode counts reached a subscriber
    assert received["state"] == report["robot_messages"] >= 100
    assert received["sensor"] == report["sensor_messages"] + report["trip_messages"] >= 400


def test_scenario_mode_runs_a_scenario_fast_and_writes_the_event_log(broker: BrokerEndpoint, tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "events.jsonl"
    args = parse("--broker", broker.url, "--scenario", "intrusion_data_labelling",
                 "--speed", "60", "--duration", "150", "--events", str(log))
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "cameras: http://127.0.0.1:" in out
    events = [json.loads(line) for line in log.read_text().splitlines()]
    kinds = [e["kind"] for e in events]
    assert "person.spawn" in kinds and "sensor.trip" in kinds


def test_bad_inputs_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = tmp_path / "s.yaml"
    bad.write_text("name: x\n", encoding="utf-8")
    args = parse("--broker", "http://nowhere", "--robots", "1")
    assert args.func(args) == 2
    assert "expected mqtt://" in capsys.readouterr().err
    args = parse("--scenario", str(bad))
    assert args.func(args) == 2
    assert "Field required" in capsys.readouterr().err


def test_scale_mode_state_is_a_vda5050_state_the_fast_decoder_takes(shared_dir: Path) -> None:
    """Scale mode's hand-built `state` uses only the 2.1 schema's fields (it once sent the 1.x
    `informations`, which pydantic ignored but which sent every message down the slow path)."""
    import orjson

    from robots.vda5050.state_fast import decode_state
    from simulator.scale import _state

    msg = _state("dog-0007", 3, "2026-11-29T10:00:00.250Z", 12.5, -3.0, 1.2, 81.5, "n4", "park")
    schema = json.loads((shared_dir / "specs/vda5050-2.1.0/state.schema").read_text())
    assert set(msg) <= set(schema["properties"]), set(msg) - set(schema["properties"])
    assert set(schema["required"]) <= set(msg)
    summary = decode_state(orjson.dumps(msg))
    assert summary is not None
    assert (summary.serial_number, summary.position, summary.battery_charge) == ("dog-0007", (12.5, -3.0, 1.2, "park"),
                                                                                   81.5)
