"""`ppob-switch user add NAME --role viewer|operator|admin`: the password comes on stdin (twice, hidden,
at a terminal; the first line otherwise), never as an argument, so it is in no shell history or ps."""
from __future__ import annotations

import getpass
import sys

from switch.ledger import users
from switch.ledger.storage import Database
from switch.ledger.users import Role

from switch.ledger import audit
from switch.ledger.audit import AuditAction
from switch.ledger.operations import Operator
from .auth import MIN_PASSWORD, hash_password


class UserCommandFailed(Exception):
    """One line for the operator; exit 1."""


def read_password() -> str:
    if sys.stdin.isatty():
        first = getpass.getpass("password: ")
        if getpass.getpass("again: ") != first:
            raise UserCommandFailed("the two passwords differ; nothing changed")
        return first
    line = sys.stdin.readline()
    return line[:-1] if line.endswith("\n") else line


async def add_user(db: Database, who: Operator, name: str, role_text: str) -> str:
    try:
        users.check_name(name)
        role = Role.parse(role_text)
    except ValueError as exc:
        raise UserCommandFailed(str(exc)) from None
    password = read_password()
    if len(password) < MIN_PASSWORD:
        raise UserCommandFailed(f"password must be at least {MIN_PASSWORD} characters (read from stdin);"
                                " nothing changed")
    hashed = hash_password(password)

    async def work(tx) -> None:
        await users.add_user(tx, name, role, hashed)
        await audit.record(tx, actor=who.actor, source=who.source, action=AuditAction.USER_ADD, subject=name,
                           before=None, after={"role": role.label})
    try:
        await db.unit(work)
    except ValueError as exc:
        raise UserCommandFailed(str(exc)) from None
    return f"user {name} added ({role.label})"
