"""The `audit` commands and the ingest benchmark, driven through argparse as `parkpatrol` does."""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path

import pytest

from patrol.alarms.cli import add_bench_commands, add_commands
from patrol.audit import AuditLog
from patrol.store.db import Store
from robots.clock import SimClock
from tests.alarms.harness import create_schema


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="parkpatrol")
    sub = p.add_subparsers(dest="cmd", required=True)
    add_commands(sub)
    bench = sub.add_parser("bench").add_subparsers(dest="bench_cmd", required=True)
    add_bench_commands(bench)
    return p


async def _seed(url: str) -> None:
    await create_schema(url)
    store = Store(url)
    try:
        audit = AuditLog(store.sessions, SimClock(1_700_000_000))
        await audit.record("olga", "operator", "alarm.ack", "alarm:1", {}, "10.0.0.7")
        await audit.system("alarm.escalate", "alarm:2", {"level": 1})
    finally:
        await store.close()


def test_audit_show_and_verify(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PARKPATROL_DATABASE__URL", raising=False)
    monkeypatch.delenv("PARKPATROL_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)  # no ./parkpatrol.toml here
    asyncio.run(_seed(f"sqlite+aiosqlite:///{(tmp_path / 'parkpatrol.db').resolve()}"))
    args = parser().parse_args(["audit", "show", "--data-dir", str(tmp_path)])
    assert args.func(args) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [e["action"] for e in lines] == ["alarm.ack", "alarm.escalate"]
    args = parser().parse_args(["audit", "verify", "--data-dir", str(tmp_path)])
    assert args.func(args) == 0
    assert "intact" in capsys.readouterr().out


def test_ingest_bench_runs(capsys: pytest.CaptureFixture[str]) -> None:
    args = parser().parse_args(["bench", "alarms-ingest", "--messages", "200", "--json"])
    assert args.func(args) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["intrusion_alarms"] == 1 and result["trip_count"] == 10
