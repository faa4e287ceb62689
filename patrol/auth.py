"""Users, password hashing (argon2id), signed access tokens (JWT) and login throttling."""

from __future__ import annotations

import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import DateTime, Integer, String, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from patrol.roles import Role
from patrol.store.base import Base

TOKEN_ALGORITHM = "HS256"
USERNAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-@")


class UserRow(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    password_hash: Mapped[str] = mapped_column(String(255), nullable=False)
    role: Mapped[str] = mapped_column(String(16), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    # bumped to revoke every token issued before (password change, role change)
    token_version: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


@dataclass(frozen=True)
class User:
    """An authenticated operator."""

    id: int
    username: str
    role: Role

    def can(self, role: Role) -> bool:
        return self.role.at_least(role)


class AuthError(Exception):
    """Login or token rejected; the message is safe to show."""


class ThrottledError(AuthError):
    def __init__(self, retry_after: float) -> None:
        super().__init__(f"too many failed logins; retry in {retry_after:.0f} s")
        self.retry_after = retry_after


class UserExistsError(ValueError):
    pass


def validate_username(name: str) -> str:
    if not 1 <= len(name) <= 64 or not set(name) <= USERNAME_CHARS:
        raise ValueError("username: 1-64 characters of letters, digits, _ . - @")
    return name


def validate_password(password: str) -> str:
    if len(password) < 10:
        raise ValueError("password: at least 10 characters")
    if len(password) > 256:
        raise ValueError("password: at most 256 characters")
    return password


class LoginThrottle:
    """Exponential back-off per (username, client) after repeated failures."""

    def __init__(self, free_attempts: int = 5, base_delay: float = 1.0, max_delay: float = 300.0) -> None:
        self.free_attempts = free_attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self._failures: dict[tuple[str, str], tuple[int, float]] = {}

    def check(self, username: str, client: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        count, last = self._failures.get((username, client), (0, 0.0))
        if count < self.free_attempts:
            return
        delay = min(self.max_delay, self.base_delay * 2 ** (count - self.free_attempts))
        if now - last < delay:
            raise ThrottledError(delay - (now - last))

    def failed(self, username: str, client: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        count, _ = self._failures.get((username, client), (0, 0.0))
        self._failures[(username, client)] = (count + 1, now)
        if len(self._failures) > 100_000:  # bounded memory under a spray attack
            self._failures.pop(next(iter(self._failures)))

    def succeeded(self, username: str, client: str) -> None:
        self._failures.pop((username, client), None)


class AuthService:
    """Creates users, checks passwords, issues and verifies tokens."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], secret: str, token_ttl_s: int = 8 * 3600,
                 issuer: str = "parkpatrol") -> None:
        if len(secret) < 32:
            raise ValueError("auth.secret_key must be at least 32 characters")
        self._sessions = sessions
        self._secret = secret
        self.token_ttl_s = token_ttl_s
        self._issuer = issuer
        self._hasher = PasswordHasher()
        self.throttle = LoginThrottle()
        # a real hash to verify against when the user does not exist (no timing oracle)
        self._dummy_hash = self._hasher.hash(secrets.token_hex(16))

    async def add_user(self, username: str, password: str, role: Role) -> User:
        validate_username(username)
        validate_password(password)
        async with self._sessions.begin() as s:
            existing = await s.scalar(select(UserRow).where(UserRow.username == username))
            if existing is not None:
                raise UserExistsError(f"user {username!r} already exists")
            row = UserRow(username=username, password_hash=self._hasher.hash(password), role=role.value,
                          created_at=datetime.now(UTC), token_version=0)
            s.add(row)
            await s.flush()
            return User(row.id, row.username, Role(row.role))

    async def set_password(self, username: str, password: str, role: Role | None = None) -> User:
        validate_password(password)
        async with self._sessions.begin() as s:
            row = await s.scalar(select(UserRow).where(UserRow.username == username))
            if row is None:
                raise KeyError(username)
            row.password_hash = self._hasher.hash(password)
            if role is not None:
                row.role = role.value
            row.token_version += 1
            return User(row.id, row.username, Role(row.role))

    async def list_users(self) -> Sequence[User]:
        async with self._sessions() as s:
            rows = (await s.scalars(select(UserRow).order_by(UserRow.id))).all()
            return [User(r.id, r.username, Role(r.role)) for r in rows]

    async def authenticate(self, username: str, password: str, client: str) -> User:
        self.throttle.check(username, client)
        async with self._sessions() as s:
            row = await s.scalar(select(UserRow).where(UserRow.username == username))
        stored = row.password_hash if row is not None else self._dummy_hash
        try:
            self._hasher.verify(stored, password)
            ok = row is not None
        except (VerificationError, InvalidHashError):
            ok = False
        if not ok or row is None:
            self.throttle.failed(username, client)
            raise AuthError("wrong username or password")
        self.throttle.succeeded(username, client)
        return User(row.id, row.username, Role(row.role))

    async def issue_token(self, user: User, ttl_s: int | None = None) -> str:
        async with self._sessions() as s:
            row = await s.get(UserRow, user.id)
            version = row.token_version if row is not None else 0
        now = int(time.time())
        claims = {
            "sub": str(user.id), "name": user.username, "role": user.role.value, "ver": version,
            "iat": now, "exp": now + (ttl_s or self.token_ttl_s), "iss": self._issuer,
            "jti": secrets.token_hex(8),
        }
        return jwt.encode(claims, self._secret, algorithm=TOKEN_ALGORITHM)

    async def verify_token(self, token: str) -> User:
        try:
            claims = jwt.decode(token, self._secret, algorithms=[TOKEN_ALGORITHM], issuer=self._issuer,
                                options={"require": ["exp", "iat", "sub", "iss"]})
        except jwt.ExpiredSignatureError as e:
            raise AuthError("token expired; log in again") from e
        except jwt.PyJWTError as e:
            raise AuthError("invalid token") from e
        try:
            user_id = int(claims["sub"])
        except (TypeError, ValueError) as e:
            raise AuthError("invalid token") from e
        async with self._sessions() as s:
            row = await s.get(UserRow, user_id)
        if row is None or row.token_version != claims.get("ver"):
            raise AuthError("token revoked; log in again")
        return User(row.id, row.username, Role(row.role))
