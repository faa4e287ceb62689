"""FastAPI dependencies shared by every router: current user, roles, CSRF, client address.

Usage in a route::

    @router.post("/things/{id}/ack")
    async def ack(id: int, user: OperatorUser) -> ThingPublic: ...

or, for another minimum role, ``user: Annotated[User, Depends(require_role(Role.SUPERVISOR))]``.

Tokens come from ``Authorization: Bearer <token>`` (API clients, scripts) or from the
``pp_session`` cookie set by ``POST /api/auth/login`` (the console). Cookie-authenticated
requests that change state must carry the ``X-CSRF-Token`` header equal to the ``pp_csrf``
cookie (double-submit); bearer requests are not exposed to CSRF.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Path, Request, status

from patrol.auth import AuthError, AuthService, User
from patrol.roles import Role

SESSION_COOKIE = "pp_session"
CSRF_COOKIE = "pp_csrf"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def state_item(request: Request, name: str, kind: type[Any]) -> Any:
    """A service object the lifespan put into the request state, checked for its type."""
    value = getattr(request.state, name, None)
    if not isinstance(value, kind):
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, f"{name} is not running")
    return value


def get_auth(request: Request) -> AuthService:
    svc: AuthService = state_item(request, "auth", AuthService)
    return svc


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


async def current_user(request: Request, auth: Annotated[AuthService, Depends(get_auth)]) -> User:
    token = _bearer(request)
    via_cookie = False
    if token is None:
        token = request.cookies.get(SESSION_COOKIE)
        via_cookie = token is not None
    if token is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "not logged in: send Authorization: Bearer <token>",
                            headers={"WWW-Authenticate": "Bearer"})
    try:
        user = await auth.verify_token(token)
    except AuthError as e:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, str(e),
                            headers={"WWW-Authenticate": "Bearer"}) from e
    if via_cookie and request.method not in SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        expected = request.cookies.get(CSRF_COOKIE, "")
        if not expected or not hmac.compare_digest(sent, expected):
            raise HTTPException(status.HTTP_403_FORBIDDEN, "missing or wrong X-CSRF-Token header")
    request.state.user = user
    return user


def require_role(role: Role) -> Callable[..., Awaitable[User]]:
    """Dependency: the current user, who must hold at least `role` (else 403)."""

    async def dependency(user: Annotated[User, Depends(current_user)]) -> User:
        if not user.can(role):
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"requires role {role.value} or higher")
        return user

    dependency.__name__ = f"require_{role.value}"
    return dependency


CurrentUser = Annotated[User, Depends(current_user)]
ViewerUser = Annotated[User, Depends(require_role(Role.VIEWER))]
OperatorUser = Annotated[User, Depends(require_role(Role.OPERATOR))]
SupervisorUser = Annotated[User, Depends(require_role(Role.SUPERVISOR))]
AdminUser = Annotated[User, Depends(require_role(Role.ADMIN))]
ClientAddr = Annotated[str, Depends(client_address)]


def field_error(where: str, field: str, message: str) -> HTTPException:
    """A 422 shaped like FastAPI's own validation errors, naming the field (`where`: body, query, path)."""
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                         [{"loc": [where, field], "msg": message, "type": "value_error"}])


DbId = Annotated[int, Path(ge=1, le=2**63 - 1, description="database id")]
"""An integer id in a path: bounded, so no value can overflow the database's BIGINT."""
