"""Key operations behind one interface — where an HSM would plug in — and the software vault.

Terminal MAC keys are stored only sealed: AES-256-GCM under a master key that lives outside the
database and the configuration (a key file). A sealed key names the master key it was sealed under
(its key id, a non-secret fingerprint) and is bound to its terminal (the terminal id is the GCM
associated data), so a sealed key copied onto another terminal's row does not open.

    v1:<key id, 16 hex>:<base64url(12-byte nonce | ciphertext | 16-byte tag)>

An HSM implementation would keep the master key inside the HSM (its LMK) and do `seal` / `unseal`
there (or, better, compute the MAC there: see SECURITY.md)."""
from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
from abc import ABC, abstractmethod
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MASTER_KEY_BYTES = 32
TERMINAL_KEY_BYTES = 16
_SEALED = re.compile(r"v1:([0-9a-f]{16}):([A-Za-z0-9_=-]+)")
_CLEAR = re.compile(r"[0-9A-Fa-f]{32}")
_FILE_TEXT = re.compile(r"[0-9a-fA-F]{64}")


class VaultError(Exception):
    """A key cannot be sealed or opened; str() is one line that never contains key material."""


def key_id(master: bytes) -> str:
    """A master key's public name: 16 hex characters of HMAC-SHA256(master, label)."""
    return hmac.new(master, b"ppob-switch master key id", hashlib.sha256).hexdigest()[:16]


def is_sealed(stored: str) -> bool:
    return _SEALED.fullmatch(stored) is not None


def is_clear(stored: str) -> bool:
    """A terminal key stored in clear (32 hex characters): a database from before keys were sealed."""
    return _CLEAR.fullmatch(stored) is not None


def sealed_under(stored: str) -> str | None:
    """The key id a sealed value names, or None for a value that is not sealed."""
    match = _SEALED.fullmatch(stored)
    return match.group(1) if match else None


def _aad(terminal_id: str) -> bytes:
    return b"ppob-terminal-key:" + terminal_id.encode("utf-8")


class KeyVault(ABC):
    """The key operations the switch needs. `key_id` names the master key new seals use."""

    key_id: str

    @abstractmethod
    def generate_terminal_key(self) -> bytes:
        """A fresh random 16-byte terminal MAC key."""

    @abstractmethod
    def seal(self, clear: bytes, *, terminal_id: str) -> str:
        """The terminal key as stored: sealed under the current master key, bound to terminal_id."""

    @abstractmethod
    def unseal(self, sealed: str, *, terminal_id: str) -> bytes:
        """The terminal key back; VaultError when the value is not ours, altered or for another terminal."""

    @abstractmethod
    def knows(self, key_id: str) -> bool:
        """Whether this vault holds the master key called key_id."""


class SoftwareVault(KeyVault):
    """Master keys in this process's memory; the current one seals, every one held can open."""

    def __init__(self, current: bytes, *others: bytes) -> None:
        for master in (current, *others):
            if len(master) != MASTER_KEY_BYTES:
                raise VaultError(f"a master key is {MASTER_KEY_BYTES} bytes")
        self.key_id = key_id(current)
        self._masters = {key_id(m): AESGCM(m) for m in (*others, current)}

    def generate_terminal_key(self) -> bytes:
        return secrets.token_bytes(TERMINAL_KEY_BYTES)

    def seal(self, clear: bytes, *, terminal_id: str) -> str:
        if len(clear) != TERMINAL_KEY_BYTES:
            raise VaultError(f"a terminal key is {TERMINAL_KEY_BYTES} bytes")
        nonce = os.urandom(12)
        sealed = self._masters[self.key_id].encrypt(nonce, clear, _aad(terminal_id))
        return f"v1:{self.key_id}:{base64.urlsafe_b64encode(nonce + sealed).decode('ascii')}"

    def unseal(self, sealed: str, *, terminal_id: str) -> bytes:
        match = _SEALED.fullmatch(sealed)
        if match is None:
            raise VaultError(f"terminal {terminal_id}: its stored key is not a sealed key")
        cipher = self._masters.get(match.group(1))
        if cipher is None:
            raise VaultError(f"terminal {terminal_id}: its key is sealed under master key {match.group(1)},"
                             f" not held here")
        try:
            blob = base64.urlsafe_b64decode(match.group(2))
            return cipher.decrypt(blob[:12], blob[12:], _aad(terminal_id))
        except (InvalidTag, ValueError):
            raise VaultError(f"terminal {terminal_id}: its sealed key does not open (altered, or not"
                             f" this terminal's)") from None

    def knows(self, key_id: str) -> bool:
        return key_id in self._masters


# ---- the master key file ------------------------------------------------------------------------

def new_master_key() -> bytes:
    return secrets.token_bytes(MASTER_KEY_BYTES)


def read_master_key(path: Path) -> bytes:
    """The master key in `path` (64 hex characters); VaultError naming the file otherwise."""
    try:
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        raise VaultError(f"master key file {path} is missing") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise VaultError(f"master key file {path} cannot be read: {getattr(exc, 'strerror', None) or exc}") from None
    if not _FILE_TEXT.fullmatch(text):
        raise VaultError(f"master key file {path} does not hold a master key (64 hex characters)")
    return bytes.fromhex(text)


def write_master_key(path: Path, master: bytes, *, replace: bool = False) -> None:
    """Writes the key file with mode 0600, durably. Without `replace` an existing file is an error
    (two processes creating one at once: the second one fails instead of overwriting)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if replace else os.O_EXCL)
    fd = os.open(path, flags, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, (master.hex() + "\n").encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)
    sync_directory(path.parent)


def sync_directory(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def loose_mode(path: Path) -> int | None:
    """The file's mode when group or others may read it, else None."""
    try:
        mode = path.stat().st_mode & 0o777
    except OSError:
        return None
    return mode if mode & 0o077 else None


__all__ = ["KeyVault", "SoftwareVault", "VaultError", "is_clear", "is_sealed", "key_id", "new_master_key",
           "read_master_key", "sealed_under", "write_master_key"]
