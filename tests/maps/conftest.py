"""Fixtures for map tests: the shipped parks, loaded once, and their raw GeoJSON to mutate."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import maps
from maps import Park


@pytest.fixture(scope="session")
def sample_park() -> Park:
    return maps.load_park(maps.sample_park_path())


@pytest.fixture(scope="session")
def small_park() -> Park:
    return maps.load_park(maps.test_park_path())


@pytest.fixture
def small_doc() -> dict[str, Any]:
    """A fresh copy of the test park's GeoJSON, to break on purpose."""
    doc: dict[str, Any] = json.loads(maps.test_park_path().read_text(encoding="utf-8"))
    return doc


def feature_index(doc: dict[str, Any], kind: str, fid: str) -> int:
    for i, feature in enumerate(doc["features"]):
        if feature["properties"].get("type") == kind and feature["properties"].get("id") == fid:
            return i
    raise KeyError(f"{kind} {fid}")


@pytest.fixture
def write_doc(tmp_path: Path) -> Callable[[dict[str, Any]], Path]:
    def write(doc: dict[str, Any]) -> Path:
        path = tmp_path / "park.geojson"
        path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
        return path

    return write
