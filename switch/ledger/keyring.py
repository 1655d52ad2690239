"""Terminal keys at rest: the database's key ring (which master key file, which vault) and the SQL
around it — registering the master key's id, sealing clear keys of an old database, rotation.

Where the master key file is: `switch.master_key_file` / PPOB_MASTER_KEY_FILE when set (the caller
passes it to `configure`); else beside a SQLite file (`<database>.master-key`), created there on
first use with mode 0600; else, for PostgreSQL, under $XDG_STATE_HOME (~/.local/state)/ppob-switch/.
A private `:memory:` database gets a master key that lives and dies with it.

The database records the id of the master key its keys are sealed under (`key_meta`), so a missing
or wrong key file is one clear line at start, never a terminal answered with a wrong key."""
from __future__ import annotations

import hashlib
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Awaitable, Callable, Literal, overload
from urllib.parse import urlsplit, urlunsplit

from .storage import Database, Tx, utc_now
from .vault import (KeyVault, SoftwareVault, VaultError, is_clear, key_id, loose_mode, new_master_key,
                    read_master_key, sealed_under, sync_directory, write_master_key)

MASTER_KEY_ID = "master_key_id"
RELOAD_EVERY_S = 1.0
_log = logging.getLogger("ppob.keys")


class MasterKeyError(VaultError):
    """The master key file is missing, unreadable or not this database's; str() is the one line."""


def _default_notify(line: str) -> None:
    _log.warning("%s", line)


@dataclass
class KeyRing:
    path: Path | None                          # None: a :memory: database's throw-away master key
    notify: Callable[[str], None] = _default_notify
    make_vault: Callable[..., KeyVault] = SoftwareVault   # an HSM-backed vault plugs in here
    vault: KeyVault | None = None
    _masters: list[bytes] = field(default_factory=list, repr=False)
    _reloaded_at: float = 0.0

    @property
    def file(self) -> Path:
        """The master key file (a :memory: database has none)."""
        if self.path is None:
            raise MasterKeyError("a :memory: database has no master key file")
        return self.path

    @property
    def staged(self) -> Path:
        """Where a rotation writes the next master key before the database switches to it."""
        return self.file.with_name(self.file.name + ".next")

    def loaded(self) -> KeyVault:
        """The vault of the master key loaded last."""
        if self.vault is None:
            raise MasterKeyError("no master key is loaded yet")
        return self.vault

    # -- loading -----------------------------------------------------------------------------------

    @overload
    async def load(self, tx: Tx, *, create: Literal[True]) -> KeyVault: ...
    @overload
    async def load(self, tx: Tx, *, create: bool) -> KeyVault | None: ...

    async def load(self, tx: Tx, *, create: bool) -> KeyVault | None:
        """Reads and checks the master key; with `create`, makes the file (and registers the key id)
        when the database has none yet. None when there is nothing to load and create is False."""
        expected = await stored_key_id(tx)
        master: bytes | None
        if self.path is None:
            master = self._masters[-1] if self._masters else new_master_key()
        else:
            master = self._read(expected)
            if master is None:
                if expected is not None:
                    raise MasterKeyError(
                        f"master key file {self.path} is missing; this database's terminal keys are sealed"
                        f" under master key {expected} (set switch.master_key_file or PPOB_MASTER_KEY_FILE"
                        f" to the file that holds it)")
                if not create:
                    return None
                master = self._create()
        if expected is None and create:
            await tx.execute("INSERT INTO key_meta (name, value, updated_at) VALUES (?, ?, ?)"
                             " ON CONFLICT (name) DO NOTHING", MASTER_KEY_ID, key_id(master), utc_now())
            expected = await stored_key_id(tx)
        if expected is not None and expected != key_id(master):
            raise MasterKeyError(f"master key file {self.path} holds master key {key_id(master)}, but this"
                                 f" database's terminal keys are sealed under master key {expected}")
        return self._use(master)

    def _use(self, master: bytes, *older: bytes) -> KeyVault:
        self._masters = [m for m in (*older, *self._masters) if m != master] + [master]
        self.vault = self.make_vault(master, *self._masters[:-1])
        return self.vault

    def _read(self, expected: str | None) -> bytes | None:
        """The master key file's key; finishes a rotation that stopped between its database commit
        and the file's renaming (the staged file then holds the key the database names)."""
        path = self.file
        try:
            master: bytes | None = read_master_key(path)
        except VaultError:
            if path.exists():
                raise MasterKeyError(str(read_error(path))) from None
            master = None
        if expected is not None and (master is None or key_id(master) != expected) and self.staged.exists():
            staged = read_master_key(self.staged)
            if key_id(staged) == expected:
                self._retire(master)
                os.replace(self.staged, path)
                sync_directory(path.parent)
                self.notify(f"master key file {path}: finished an interrupted rotation to master key"
                            f" {expected}")
                master = staged
        mode = loose_mode(path) if master is not None else None
        if mode is not None:
            self.notify(f"master key file {path} is readable by others (mode {mode:04o}); chmod 600 it")
        return master

    def _create(self) -> bytes:
        path = self.file
        master = new_master_key()
        try:
            write_master_key(path, master)
        except FileExistsError:  # another process made it a moment ago: use theirs
            return read_master_key(path)
        self.notify(f"created master key file {path} (mode 0600): terminal keys are sealed under it;"
                    f" back it up apart from the database")
        return master

    def _retire(self, master: bytes | None) -> Path | None:
        """Keeps a replaced master key (older database backups need it) as <file>.<key id>.retired."""
        if master is None or self.path is None:
            return None
        retired = self.path.with_name(f"{self.path.name}.{key_id(master)}.retired")
        if not retired.exists():
            write_master_key(retired, master)
        return retired

    def reload(self) -> bool:
        """Re-reads the key file (and a staged next key): another process may have rotated the master
        key. At most once a second. True when a key new to this process was found."""
        if self.path is None or time.monotonic() - self._reloaded_at < RELOAD_EVERY_S:
            return False
        self._reloaded_at = time.monotonic()
        found = []
        for candidate in (self.staged, self.path):
            try:
                master = read_master_key(candidate)
            except VaultError:
                continue
            if master not in self._masters:
                found.append(master)
        if not found:
            return False
        current = read_master_key(self.path) if self.path.exists() else found[-1]
        self._use(current, *[m for m in found if m != current])
        return True


def read_error(path: Path) -> VaultError:
    try:
        read_master_key(path)
    except VaultError as exc:
        return exc
    return VaultError(f"master key file {path} cannot be read")


# ---- the ring of a database -----------------------------------------------------------------------

def default_key_file(db: Database) -> Path | None:
    if db.dialect == "sqlite":
        path = str(getattr(db, "path"))
        if path == ":memory:" or path.startswith("file::memory:"):
            return None
        where = Path(path).resolve()
        return where.with_name(where.name + ".master-key")
    parts = urlsplit(getattr(db, "url"))
    userinfo, at, hostport = parts.netloc.rpartition("@")
    netloc = f"{userinfo.split(':', 1)[0]}{at}{hostport}"  # the password names nothing
    name = hashlib.sha256(urlunsplit(parts._replace(netloc=netloc)).encode()).hexdigest()[:12]
    state = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    return state / "ppob-switch" / f"master-{name}.key"


def configure(db: Database, master_key_file: str | None = None,
              notify: Callable[[str], None] | None = None) -> KeyRing:
    """Attaches the database's key ring: master_key_file as configured, else the default place."""
    path = Path(master_key_file).expanduser().resolve() if master_key_file else default_key_file(db)
    db.keys = KeyRing(path, notify or _default_notify)
    return db.keys


def ring(db: Database) -> KeyRing:
    return db.keys if isinstance(db.keys, KeyRing) else configure(db)


async def stored_key_id(tx: Tx) -> str | None:
    return await tx.fetchval("SELECT value FROM key_meta WHERE name = ?", MASTER_KEY_ID)


async def start(db: Database) -> int:
    """At start (serve and every admin command): checks the master key when the database has
    terminal keys or a master key id, and seals keys still stored in clear. Returns how many were
    sealed. MasterKeyError (one line) when the key file is missing or wrong."""
    keys = ring(db)

    async def work(tx: Tx) -> int:
        rows = await tx.fetchall("SELECT terminal_id, mac_key FROM terminals")
        if not rows and await stored_key_id(tx) is None:
            return 0  # nothing sealed yet: the key file is made on first use
        vault = await keys.load(tx, create=True)
        sealed = 0
        for row in rows:
            if is_clear(row["mac_key"]):
                await tx.execute("UPDATE terminals SET mac_key = ? WHERE terminal_id = ?",
                                 vault.seal(bytes.fromhex(row["mac_key"]), terminal_id=row["terminal_id"]),
                                 row["terminal_id"])
                sealed += 1
        return sealed

    sealed = await db.unit(work)
    if sealed:
        keys.notify(f"sealed {sealed} terminal key(s) found in clear under master key file {keys.path}")
    return sealed


# ---- sealing and opening terminal keys ------------------------------------------------------------

async def vault_for(tx: Tx) -> KeyVault:
    """The database's vault, loaded (and on first use created) within `tx`."""
    keys = ring(tx.database)
    return keys.vault or await keys.load(tx, create=True)


async def seal(tx: Tx, terminal_id: str, clear: bytes) -> str:
    """The terminal key as stored. Checks, under a row lock, that the database still names this
    vault's master key (a rotation on another node may have replaced it)."""
    keys = ring(tx.database)
    vault = await vault_for(tx)
    for _ in range(2):
        if await tx.execute("UPDATE key_meta SET updated_at = ? WHERE name = ? AND value = ?",
                            utc_now(), MASTER_KEY_ID, vault.key_id):
            return vault.seal(clear, terminal_id=terminal_id)
        keys._reloaded_at = 0.0
        keys.reload()
        vault = await keys.load(tx, create=True)
    raise MasterKeyError("the master key changed while this key was being sealed; try again")


async def open_key(tx: Tx, terminal_id: str, stored: str) -> bytes:
    """The terminal key from its stored form. VaultError (one line, no key material) when it does
    not open; a key in clear is only accepted from a database that has no master key yet."""
    keys = ring(tx.database)
    if is_clear(stored):
        if keys.vault is None and await stored_key_id(tx) is None:
            return bytes.fromhex(stored)
        raise VaultError(f"terminal {terminal_id}: its key is stored in clear in a database whose keys are"
                         f" sealed (restart the switch to seal it)")
    vault = keys.vault or await keys.load(tx, create=False)
    if vault is None:
        raise MasterKeyError(f"terminal {terminal_id}: its key is sealed but master key file {keys.path}"
                             f" is missing")
    named = sealed_under(stored)
    if named is not None and not vault.knows(named) and keys.reload():
        vault = keys.loaded()
    return vault.unseal(stored, terminal_id=terminal_id)


# ---- rotation -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Rotation:
    old_key_id: str
    new_key_id: str
    terminals: int
    path: Path
    retired: Path | None


AuditHook = Callable[[Tx, "Rotation"], Awaitable[None]]


async def rotate_master(db: Database, audit: AuditHook | None = None) -> Rotation:
    """Re-seals every terminal key under a new master key, in one unit.

    Crash-safe order: the new key is first written beside the file (`.next`, fsynced); the unit then
    re-seals every key and names the new key id; only then the file is replaced (the old key kept as
    `<file>.<old id>.retired`). Stopped between the commit and the renaming, the next start finds
    the staged key the database names and finishes the rotation. Other nodes opening a key sealed
    under a key id they do not know re-read the file and the staged key."""
    keys = ring(db)
    if keys.path is None:
        raise MasterKeyError("a :memory: database has no master key file to rotate")
    path = keys.path
    old = await db.unit(lambda tx: keys.load(tx, create=True))
    old_master = keys._masters[-1]
    new_master = new_master_key()
    write_master_key(keys.staged, new_master, replace=True)
    new = keys.make_vault(new_master)

    async def work(tx: Tx) -> Rotation:
        if not await tx.execute("UPDATE key_meta SET value = ?, updated_at = ? WHERE name = ? AND value = ?",
                                new.key_id, utc_now(), MASTER_KEY_ID, old.key_id):
            raise MasterKeyError("the master key was rotated by another process meanwhile; nothing changed")
        rows = await tx.fetchall("SELECT terminal_id, mac_key FROM terminals ORDER BY terminal_id")
        for row in rows:
            clear = await open_key(tx, row["terminal_id"], row["mac_key"]) if not is_clear(row["mac_key"]) \
                else bytes.fromhex(row["mac_key"])
            await tx.execute("UPDATE terminals SET mac_key = ? WHERE terminal_id = ?",
                             new.seal(clear, terminal_id=row["terminal_id"]), row["terminal_id"])
        done = Rotation(old.key_id, new.key_id, len(rows), path, None)
        if audit is not None:
            await audit(tx, done)
        return done

    try:
        done = await db.unit(work)
    except BaseException:
        keys.staged.unlink(missing_ok=True)
        raise
    retired = keys._retire(old_master)
    os.replace(keys.staged, path)
    sync_directory(path.parent)
    keys._use(new_master, old_master)
    return Rotation(done.old_key_id, done.new_key_id, done.terminals, path, retired)
