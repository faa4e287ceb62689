"""schemathesis against the service's own OpenAPI: every route, every role and anonymous, valid and
invalid inputs, over a real uvicorn. No 5xx; bodies and content types match the schema.

Routes of optional subsystems that the app mounts but whose subsystem is not running answer
503 "<name> is not running"; one probe per route finds them, they are left out and printed.
Once the lead wires a subsystem into the lifespan, its routes are fuzzed here automatically.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import content_type_conformance, not_a_server_error, response_schema_conformance

from patrol.app import create_app
from patrol.broker import BrokerEndpoint
from patrol.roles import Role
from tests.reliability.helpers import LiveServer, prepare_store
from tests.support import service_settings

pytestmark = pytest.mark.reliability

SHORT_CASES = 250
LONG_CASES = 4000
ROLES: tuple[Role | None, ...] = (None, *Role)
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]
# status codes any route may answer besides the documented ones (auth, throttling, unparseable body)
GENERIC_CODES = {400, 401, 403, 404, 405, 413, 415, 422, 429}


@dataclass
class Fuzzed:
    server: LiveServer
    tokens: dict[Role | None, dict[str, str]]
    schema: Any
    codes: Counter[int] = field(default_factory=Counter)
    idle: set[str] = field(default_factory=set)
    cases: int = 0


@pytest.fixture
def fuzzed(tmp_path: Path, broker: BrokerEndpoint) -> Iterator[Fuzzed]:
    db = f"sqlite+aiosqlite:///{tmp_path / 'api.db'}"
    passwords = asyncio.run(prepare_store(db, list(Role), robots=["dog-1", "dog-2"]))
    app = create_app(service_settings(tmp_path, broker, db))
    with LiveServer(app) as server:
        tokens: dict[Role | None, dict[str, str]] = {None: {}}
        for role, pw in passwords.items():
            r = requests.post(f"{server.url}/api/auth/login", json={"username": f"user-{role.value}", "password": pw},
                              timeout=10)
            r.raise_for_status()
            tokens[role] = {"Authorization": f"Bearer {r.json()['access_token']}"}
        schema: Any = schemathesis.openapi.from_dict(app.openapi())
        idle = _not_running(schema, server.url, tokens[Role.ADMIN])
        if idle:
            schema = schema.exclude(path=sorted(idle))
        yield Fuzzed(server, tokens, schema, idle=idle)


def _not_running(schema: Any, base_url: str, admin: dict[str, str]) -> set[str]:
    """Paths whose subsystem is mounted but not running (503 "... is not running"), by one probe each."""
    idle = set()
    for result in schema.get_all_operations():
        op = result.ok()
        url = base_url + re.sub(r"\{[^}]+\}", "1", op.path)
        r = requests.request(op.method.upper(), url, headers=admin, json={}, timeout=10)
        if r.status_code == 503 and r.text.endswith('is not running"}'):
            idle.add(op.path)
    return idle


def _fuzz(f: Fuzzed, cases: int) -> None:
    strategy = st.one_of(f.schema.as_strategy(GenerationMode.POSITIVE), f.schema.as_strategy(GenerationMode.NEGATIVE))
    session = requests.Session()

    @settings(max_examples=cases, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(case=strategy, role=st.sampled_from(ROLES))
    def one(case: Any, role: Role | None) -> None:
        headers = {**(case.headers or {}), **f.tokens[role]}
        if role is None:
            headers.pop("Authorization", None)
        case.headers = headers
        response = case.call(base_url=f.server.url, session=session, timeout=30)
        f.cases += 1
        f.codes[response.status_code] += 1
        case.validate_response(response, checks=CHECKS)
        documented = {int(c) for c in case.operation.definition.raw.get("responses", {}) if c.isdigit()}
        assert response.status_code in documented | GENERIC_CODES, (
            f"{case.method} {case.path} as {role}: undocumented status {response.status_code}: {response.text[:300]}")

    one()


def test_openapi_fuzz_no_server_errors(fuzzed: Fuzzed) -> None:
    _fuzz(fuzzed, SHORT_CASES)
    assert fuzzed.cases >= SHORT_CASES
    assert not [c for c in fuzzed.codes if c >= 500]
    print(f"\nschemathesis: {fuzzed.cases} cases, status codes {dict(fuzzed.codes)}, "
          f"left out (subsystem not running): {sorted(fuzzed.idle)}")


@pytest.mark.slow
def test_openapi_fuzz_no_server_errors_long(fuzzed: Fuzzed) -> None:
    _fuzz(fuzzed, LONG_CASES)
    print(f"\nschemathesis: {fuzzed.cases} cases, status codes {dict(fuzzed.codes)}")
