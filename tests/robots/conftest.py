"""Fixtures for robots/ tests: the VDA 5050 JSON schemas (with the upstream errata) as validators."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest

_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


def is_rfc3339(value: object) -> bool:
    """RFC 3339 date-time (what JSON Schema's `date-time` format means), checked without extra packages."""
    if not isinstance(value, str) or not _RFC3339.match(value):
        return False
    datetime.fromisoformat(value.replace("Z", "+00:00"))
    return True


SCHEMA_NAMES = ("order", "instantActions", "state", "visualization", "connection", "factsheet")


def apply_errata(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    """The two fixes VDA5050/VDA5050 PR #360 made to the 2.1.0 schemas (nothing else is changed).

    - state.actionStatus lacks PAUSED, which the spec text lists (issue #356);
    - factsheet agvActions.blockingTypes puts the enum on the array instead of its items (issue #354),
      so no array could ever validate.
    """
    s = copy.deepcopy(schema)
    if name == "state":
        enum = s["properties"]["actionStates"]["items"]["properties"]["actionStatus"]["enum"]
        if "PAUSED" not in enum:
            enum.insert(3, "PAUSED")
    if name == "factsheet":
        agv_action = s["properties"]["protocolFeatures"]["properties"]["agvActions"]["items"]
        bt = agv_action["properties"]["blockingTypes"]
        enum = bt.pop("enum", None)
        if enum is not None:
            bt["items"] = {"type": "string", "enum": enum}
    return s


@pytest.fixture(scope="session")
def vda_schemas(shared_dir: Path) -> dict[str, dict[str, Any]]:
    folder = shared_dir / "specs" / "vda5050-2.1.0"
    return {n: json.loads((folder / f"{n}.schema").read_text(encoding="utf-8")) for n in SCHEMA_NAMES}


@pytest.fixture(scope="session")
def validate_vda(vda_schemas: dict[str, dict[str, Any]]) -> Callable[[str, Any], None]:
    """validate_vda(topic_name, payload_dict) raises jsonschema.ValidationError when invalid."""
    checker = jsonschema.FormatChecker()
    checker.checks("date-time", raises=ValueError)(is_rfc3339)
    validators = {
        n: jsonschema.Draft202012Validator(apply_errata(n, s), format_checker=checker)
        for n, s in vda_schemas.items()
    }

    def validate(name: str, payload: Any) -> None:
        validators[name].validate(payload)

    return validate
