"""CLI hooks of the console: `parkpatrol bench console` (see patrol.console.bench)."""

from __future__ import annotations

from patrol.console.bench import add_bench_commands

__all__ = ["add_bench_commands"]
