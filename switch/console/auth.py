"""Who is asking: password hashes (argon2id), logins with lockout, sessions behind a signed cookie,
roles, and the CSRF token every form carries.

The cookie holds only a random session id, signed (itsdangerous) with a secret kept in the database;
the session itself — user, CSRF token, last use — lives in the ledger's console_sessions table, so a
logout, an idle timeout or a lockout ends it for good, on every console process at once.
"""
from __future__ import annotations

import asyncio
import hmac
import secrets
from dataclasses import dataclass
from enum import Enum

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from itsdangerous import BadSignature, TimestampSigner

from switch.ledger import users
from switch.ledger.storage import Database, utc_now
from switch.ledger.users import Role, Session
from switch.config import ConsoleSection

SESSION_COOKIE = "ppob_session"
LOGIN_COOKIE = "ppob_login"       # the CSRF token of the login form, before there is a session
MIN_PASSWORD = 10

_hasher = PasswordHasher()        # argon2id with the library's current recommended parameters
# verified against when the user does not exist, so an unknown name costs as long as a wrong password
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


class LoginOutcome(Enum):
    OK = "ok"
    WRONG = "wrong"               # unknown user or wrong password: the same answer for both
    LOCKED = "locked"


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise ValueError(f"password must be at least {MIN_PASSWORD} characters")
    return _hasher.hash(password)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@dataclass(frozen=True)
class Login:
    outcome: LoginOutcome
    session_id: str = ""
    locked_until: str | None = None
    known_user: bool = True       # False: the name typed is no user's (it may be a mistyped password)


class Gate:
    """Logins and sessions of one console process."""

    def __init__(self, db: Database, settings: ConsoleSection, secret: str) -> None:
        self.db = db
        self.settings = settings
        self._signer = TimestampSigner(secret, salt="ppob-console-session")

    async def login(self, name: str, password: str) -> Login:
        user = await self.db.read(lambda tx: users.get_user(tx, name)) if users.valid_name(name) else None
        good = await asyncio.to_thread(_verify, user.password_hash if user else _DUMMY_HASH, password)
        if user is None:
            return Login(LoginOutcome.WRONG, known_user=False)
        if user.locked_at(utc_now()):
            return Login(LoginOutcome.LOCKED, locked_until=user.locked_until)
        if not good:
            locked = await self.db.unit(lambda tx: users.login_failed(
                tx, name, self.settings.lockout_failures, self.settings.lockout_s))
            if locked:
                fresh = await self.db.read(lambda tx: users.get_user(tx, name))
                return Login(LoginOutcome.LOCKED, locked_until=fresh.locked_until if fresh else None)
            return Login(LoginOutcome.WRONG)

        async def start(tx) -> str:
            await users.login_succeeded(tx, name)
            session_id, _ = await users.open_session(tx, name)
            return session_id
        return Login(LoginOutcome.OK, session_id=await self.db.unit(start))

    def cookie_value(self, session_id: str) -> str:
        return self._signer.sign(session_id).decode()

    def session_id(self, cookie: str | None) -> str | None:
        """The session id inside a cookie whose signature holds and is not older than a session may live."""
        if not cookie:
            return None
        try:
            return self._signer.unsign(cookie, max_age=int(self.settings.session_max_s)).decode()
        except (BadSignature, UnicodeDecodeError):
            return None

    async def session(self, cookie: str | None) -> Session | None:
        session_id = self.session_id(cookie)
        if session_id is None:
            return None
        return await self.db.unit(lambda tx: users.touch_session(
            tx, session_id, self.settings.session_idle_s, self.settings.session_max_s))

    async def logout(self, cookie: str | None) -> None:
        session_id = self.session_id(cookie)
        if session_id is not None:
            await self.db.unit(lambda tx: users.close_session(tx, session_id))

    def login_token(self, cookie: str | None) -> str | None:
        """The login form's CSRF token from its signed cookie."""
        if not cookie:
            return None
        try:
            return TimestampSigner(self._signer.secret_keys[-1], salt="ppob-console-login").unsign(
                cookie, max_age=3600).decode()
        except (BadSignature, UnicodeDecodeError):
            return None

    def new_login_token(self) -> tuple[str, str]:
        """(token for the form, signed cookie value)."""
        token = secrets.token_urlsafe(32)
        signer = TimestampSigner(self._signer.secret_keys[-1], salt="ppob-console-login")
        return token, signer.sign(token).decode()


def same_token(expected: str | None, given: object) -> bool:
    return bool(expected) and bool(given) and hmac.compare_digest(str(expected), str(given))


def allowed(session: Session, role: Role) -> bool:
    return session.user.role >= role
