"""Access control promises: brute force throttled, tokens expire and can be revoked, cookie sessions
need the CSRF header for anything that changes state, the console is served with secure headers."""

from __future__ import annotations

import time
from pathlib import Path

import jwt
import pytest

from patrol.api.deps import CSRF_COOKIE, SESSION_COOKIE
from patrol.app import SECURITY_HEADERS
from patrol.auth import TOKEN_ALGORITHM
from patrol.broker import BrokerEndpoint
from patrol.fleet.registry import RobotKind
from patrol.roles import Role
from tests.support import TEST_SECRET, running_service, service_settings

pytestmark = pytest.mark.reliability
PASSWORD = "correct-horse-battery"


async def test_login_brute_force_is_throttled_with_retry_after(tmp_path: Path, broker: BrokerEndpoint,
                                                               database_url: str) -> None:
    async with running_service(service_settings(tmp_path, broker, database_url)) as svc:
        await svc.runtime.auth.add_user("alice", PASSWORD, Role.OPERATOR)
        free = svc.runtime.auth.throttle.free_attempts
        for _ in range(free):
            r = await svc.client.post("/api/auth/login", json={"username": "alice", "password": "guess-guess-1"})
            assert r.status_code == 401
        r = await svc.client.post("/api/auth/login", json={"username": "alice", "password": "guess-guess-2"})
        assert r.status_code == 429
        assert int(r.headers["Retry-After"]) >= 1
        # while throttled even the right password is refused: the attacker learns nothing
        r = await svc.client.post("/api/auth/login", json={"username": "alice", "password": PASSWORD})
        assert r.status_code == 429
        # an unknown user is throttled the same way (no user enumeration)
        for _ in range(free + 1):
            r = await svc.client.post("/api/auth/login", json={"username": "nobody", "password": "guess-guess-3"})
        assert r.status_code == 429


async def test_expired_forged_and_revoked_tokens_are_refused(tmp_path: Path, broker: BrokerEndpoint,
                                                             database_url: str) -> None:
    async with running_service(service_settings(tmp_path, broker, database_url)) as svc:
        auth = svc.runtime.auth
        user = await auth.add_user("bob", PASSWORD, Role.ADMIN)
        good = await auth.issue_token(user)
        assert (await svc.client.get("/api/auth/me", headers={"Authorization": f"Bearer {good}"})).status_code == 200
        claims = jwt.decode(good, TEST_SECRET, algorithms=[TOKEN_ALGORITHM], issuer="parkpatrol")
        now = int(time.time())
        expired = jwt.encode({**claims, "iat": now - 7200, "exp": now - 60}, TEST_SECRET, algorithm=TOKEN_ALGORITHM)
        other_key = jwt.encode(claims, "another-secret-" + "x" * 32, algorithm=TOKEN_ALGORITHM)
        unsigned = good.rsplit(".", 1)[0] + "."  # signature stripped
        raised = jwt.encode({**claims, "role": "admin", "sub": "999"}, "k" * 40, algorithm=TOKEN_ALGORITHM)
        for name, token in (("expired", expired), ("other key", other_key), ("unsigned", unsigned),
                            ("forged subject", raised), ("garbage", "a.b.c")):
            r = await svc.client.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 401, name
            assert r.headers.get("WWW-Authenticate") == "Bearer"
        r = await svc.client.get("/api/auth/me", headers={"Authorization": f"Bearer {expired}"})
        assert "expired" in r.json()["detail"]
        # a password change revokes every token issued before it
        await auth.set_password("bob", "a-new-password-123")
        r = await svc.client.get("/api/auth/me", headers={"Authorization": f"Bearer {good}"})
        assert r.status_code == 401 and "revoked" in r.json()["detail"]
        fresh = await auth.issue_token(user)
        assert (await svc.client.get("/api/auth/me", headers={"Authorization": f"Bearer {fresh}"})).status_code == 200


async def test_cookie_sessions_need_the_csrf_header_to_change_state(tmp_path: Path, broker: BrokerEndpoint,
                                                                    database_url: str) -> None:
    async with running_service(service_settings(tmp_path, broker, database_url)) as svc:
        await svc.runtime.auth.add_user("carol", PASSWORD, Role.OPERATOR)
        await svc.runtime.registry.add("acme", "dog-1", RobotKind.PATROL_DOG)
        svc.runtime.fleet.seed_from_registry()
        login = await svc.client.post("/api/auth/login", json={"username": "carol", "password": PASSWORD})
        assert login.status_code == 200
        set_cookie = " ".join(login.headers.get_list("set-cookie")).lower()
        assert "httponly" in set_cookie and "samesite=strict" in set_cookie
        session, csrf = svc.client.cookies[SESSION_COOKIE], svc.client.cookies[CSRF_COOKIE]
        assert session and csrf and csrf == login.json()["csrf_token"]
        # reading with the cookie alone is fine
        assert (await svc.client.get("/api/robots")).status_code == 200
        body = {"command": "pause"}
        r = await svc.client.post("/api/robots/dog-1/commands", json=body)
        assert r.status_code == 403 and "CSRF" in r.json()["detail"]
        r = await svc.client.post("/api/robots/dog-1/commands", json=body, headers={"X-CSRF-Token": "wrong" + csrf})
        assert r.status_code == 403
        r = await svc.client.post("/api/robots/dog-1/commands", json=body, headers={"X-CSRF-Token": ""})
        assert r.status_code == 403
        r = await svc.client.post("/api/robots/dog-1/commands", json=body, headers={"X-CSRF-Token": csrf})
        assert r.status_code == 202
        # a cross-site attacker has the cookie but not the CSRF cookie's value: logout is protected too
        assert (await svc.client.post("/api/auth/logout")).status_code == 403


async def test_console_and_api_carry_secure_headers(tmp_path: Path, broker: BrokerEndpoint,
                                                    database_url: str) -> None:
    async with running_service(service_settings(tmp_path, broker, database_url)) as svc:
        for path in ("/console/", "/api/health", "/api/robots", "/api/auth/login", "/nonexistent"):
            r = await svc.client.get(path)
            for name, value in SECURITY_HEADERS.items():
                assert r.headers.get(name) == value, (path, name)
        csp = SECURITY_HEADERS["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in csp and "default-src 'self'" in csp
        assert "script-src" not in csp or "'unsafe-inline'" not in csp.split("script-src", 1)[1].split(";")[0]


async def test_cookies_are_secure_when_configured(tmp_path: Path, broker: BrokerEndpoint, database_url: str) -> None:
    settings = service_settings(tmp_path, broker, database_url, auth={"cookie_secure": True})
    async with running_service(settings) as svc:
        await svc.runtime.auth.add_user("dave", PASSWORD, Role.VIEWER)
        login = await svc.client.post("/api/auth/login", json={"username": "dave", "password": PASSWORD})
        cookies = login.headers.get_list("set-cookie")
        assert len(cookies) == 2 and all("secure" in c.lower() for c in cookies)
