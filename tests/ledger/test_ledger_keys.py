"""Terminal keys at rest on both backends: sealed with AES-GCM under a master key file outside the
database, bound to their terminal, a missing or wrong key file refused in one line, clear keys of an
old database sealed at start, and the master key rotated without a terminal noticing."""
from __future__ import annotations

import os
import shutil
import stat

import pytest

from switch.ledger import accounts, keyring, operations
from switch.ledger.audit import AuditSource, between
from switch.ledger.keyring import MasterKeyError
from switch.ledger.storage.postgres import PostgresDatabase
from switch.ledger.storage.sqlite import SqliteDatabase
from switch.ledger.vault import SoftwareVault, VaultError, key_id, new_master_key, read_master_key

KEY = "00112233445566778899AABBCCDDEEFF"
ROOT = operations.Operator("root", AuditSource.CLI)


async def stored(db, terminal_id: str = "T1") -> str:
    return await db.read(lambda tx: tx.fetchval("SELECT mac_key FROM terminals WHERE terminal_id = ?", terminal_id))


async def with_terminal(db, new_agent, terminal_id: str = "T1", key: str | None = KEY) -> str:
    if await db.read(lambda tx: accounts.get_agent(tx, "AGT01")) is None:
        await new_agent(db, "AGT01")
    return await db.unit(lambda tx: accounts.add_terminal(tx, terminal_id, "AGT01", key))


async def test_a_terminal_key_is_stored_sealed_and_opens_to_the_same_key(db, new_agent):
    await with_terminal(db, new_agent)
    value = await stored(db)
    assert value.startswith("v1:") and KEY not in value.upper()
    terminal = await db.read(lambda tx: accounts.get_terminal(tx, "T1"))
    assert terminal.key == bytes.fromhex(KEY)
    assert await db.read(keyring.stored_key_id) == keyring.ring(db).vault.key_id


async def test_the_master_key_file_is_made_once_beside_the_sqlite_file_with_mode_0600(tmp_path, new_agent):
    said: list[str] = []
    db = SqliteDatabase(str(tmp_path / "switch.db"))
    await db.open()
    try:
        keyring.configure(db, notify=said.append)
        await with_terminal(db, new_agent)
        await with_terminal(db, new_agent, "T2", None)
        path = tmp_path / "switch.db.master-key"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert len(said) == 1 and str(path) in said[0] and "created" in said[0]
        assert read_master_key(path).hex() not in said[0]
    finally:
        await db.close()


async def test_a_sealed_key_copied_onto_another_terminal_does_not_open(db, new_agent):
    await with_terminal(db, new_agent, "T1")
    await with_terminal(db, new_agent, "T2", "FFEEDDCCBBAA99887766554433221100")
    await db.unit(lambda tx: tx.execute("UPDATE terminals SET mac_key = (SELECT mac_key FROM terminals"
                                        " WHERE terminal_id = 'T1') WHERE terminal_id = 'T2'"))
    with pytest.raises(VaultError, match="T2") as refused:
        await db.read(lambda tx: accounts.get_terminal(tx, "T2"))
    assert KEY not in str(refused.value)


async def test_a_key_in_clear_in_a_sealed_database_is_refused(db, new_agent):
    await with_terminal(db, new_agent)
    await db.unit(lambda tx: tx.execute("UPDATE terminals SET mac_key = ? WHERE terminal_id = 'T1'", KEY))
    with pytest.raises(VaultError, match="in clear"):
        await db.read(lambda tx: accounts.get_terminal(tx, "T1"))


async def test_an_old_database_with_keys_in_clear_is_sealed_at_start(tmp_path, new_agent):
    db = SqliteDatabase(str(tmp_path / "old.db"))
    await db.open()
    try:
        await new_agent(db, "AGT01")
        await db.unit(lambda tx: tx.execute(
            "INSERT INTO terminals (terminal_id, agent_id, mac_key, blocked, created_at)"
            " VALUES ('T1', 'AGT01', ?, 0, '2026-01-01T00:00:00.000Z')", KEY))
        said: list[str] = []
        keyring.configure(db, str(tmp_path / "keys" / "master.key"), notify=said.append)
        assert await keyring.start(db) == 1
        assert (await stored(db)).startswith("v1:")
        assert (await db.read(lambda tx: accounts.get_terminal(tx, "T1"))).key_hex == KEY
        assert any("sealed 1 terminal key" in line for line in said)
        assert await keyring.start(db) == 0
    finally:
        await db.close()


async def test_a_missing_key_file_refuses_the_start_in_one_line_naming_it(tmp_path, new_agent):
    db = SqliteDatabase(str(tmp_path / "switch.db"))
    await db.open()
    await with_terminal(db, new_agent)
    await db.close()
    (tmp_path / "switch.db.master-key").rename(tmp_path / "elsewhere.key")
    again = SqliteDatabase(str(tmp_path / "switch.db"))
    await again.open()
    try:
        with pytest.raises(MasterKeyError) as refused:
            await keyring.start(again)
        line = str(refused.value)
        assert "\n" not in line and "switch.db.master-key" in line and "missing" in line
        assert not (tmp_path / "switch.db.master-key").exists()  # not silently replaced by a new key
        keyring.configure(again, str(tmp_path / "elsewhere.key"))
        await keyring.start(again)
        assert (await again.read(lambda tx: accounts.get_terminal(tx, "T1"))).key_hex == KEY
    finally:
        await again.close()


async def test_a_wrong_key_file_refuses_the_start_naming_both_key_ids(open_db, new_agent, tmp_path):
    db = await open_db()
    await with_terminal(db, new_agent)
    right = keyring.ring(db).vault.key_id
    other = await open_db()
    wrong = tmp_path / "wrong.key"
    wrong.write_text(new_master_key().hex() + "\n")
    keyring.configure(other, str(wrong))
    with pytest.raises(MasterKeyError, match=right) as refused:
        await keyring.start(other)
    assert key_id(read_master_key(wrong)) in str(refused.value)
    garbage = tmp_path / "garbage.key"
    garbage.write_text("not a key")
    keyring.configure(other, str(garbage))
    with pytest.raises(MasterKeyError, match="64 hex"):
        await keyring.start(other)


async def test_rotation_reseals_every_key_keeps_the_old_one_retired_and_is_audited(open_db, new_agent, tmp_path):
    db = await open_db()
    path = tmp_path / "m.key"
    keyring.configure(db, str(path))
    await with_terminal(db, new_agent, "T1")
    generated = await with_terminal(db, new_agent, "T2", None)
    before = {t: await stored(db, t) for t in ("T1", "T2")}
    old_master = read_master_key(path)
    done = await operations.rotate_master_key(db, ROOT)
    assert done.terminals == 2 and done.old_key_id == key_id(old_master) != done.new_key_id
    assert key_id(read_master_key(path)) == done.new_key_id == await db.read(keyring.stored_key_id)
    assert read_master_key(done.retired) == old_master and stat.S_IMODE(done.retired.stat().st_mode) == 0o600
    for terminal_id in ("T1", "T2"):
        assert (await stored(db, terminal_id)).split(":")[1] == done.new_key_id != before[terminal_id].split(":")[1]
    fresh = await open_db()  # another process, reading the new file
    keyring.configure(fresh, str(path))
    await keyring.start(fresh)
    keys = [t.key_hex for t in await fresh.read(accounts.list_terminals)]
    assert keys == [KEY, generated]
    old_file = tmp_path / "old.key"
    shutil.copy(done.retired, old_file)
    stale = await open_db()
    keyring.configure(stale, str(old_file))
    with pytest.raises(MasterKeyError):
        await keyring.start(stale)
    [record] = [r for r in await between(db, "2000-01-01", "2100-01-01") if r.action == "keys.rotate-master"]
    assert record.after == {"master_key_id": done.new_key_id, "terminals": 2} and record.actor == "root"


async def test_a_running_node_keeps_opening_keys_after_another_process_rotates(open_db, new_agent, tmp_path):
    path = str(tmp_path / "m.key")
    running, admin = await open_db(), await open_db()
    keyring.configure(running, path)
    keyring.configure(admin, path)
    await with_terminal(running, new_agent)
    assert (await running.read(lambda tx: accounts.get_terminal(tx, "T1"))).key_hex == KEY
    await operations.rotate_master_key(admin, ROOT)
    assert (await running.read(lambda tx: accounts.get_terminal(tx, "T1"))).key_hex == KEY
    second = await with_terminal(running, new_agent, "T2", None)  # sealed under the new key
    assert (await stored(running, "T2")).split(":")[1] == await running.read(keyring.stored_key_id)
    assert (await admin.read(lambda tx: accounts.get_terminal(tx, "T2"))).key_hex == second


async def test_a_rotation_stopped_before_the_file_was_replaced_is_finished_at_the_next_start(open_db, new_agent,
                                                                                             tmp_path):
    path = tmp_path / "m.key"
    db = await open_db()
    keyring.configure(db, str(path))
    await with_terminal(db, new_agent)
    old = path.read_text()
    done = await operations.rotate_master_key(db, ROOT)
    # as if the process had died after the commit: the new key only staged, the old file in place
    os.replace(path, keyring.ring(db).staged)
    path.write_text(old)
    os.chmod(path, 0o600)
    said: list[str] = []
    later = await open_db()
    keyring.configure(later, str(path), notify=said.append)
    await keyring.start(later)
    assert key_id(read_master_key(path)) == done.new_key_id and not keyring.ring(later).staged.exists()
    assert (await later.read(lambda tx: accounts.get_terminal(tx, "T1"))).key_hex == KEY
    assert any("interrupted rotation" in line for line in said)


async def test_a_private_memory_database_seals_under_a_key_that_dies_with_it(new_agent, tmp_path):
    db = SqliteDatabase(":memory:")
    await db.open()
    try:
        await with_terminal(db, new_agent)
        assert keyring.ring(db).path is None and (await stored(db)).startswith("v1:")
        assert (await db.read(lambda tx: accounts.get_terminal(tx, "T1"))).key_hex == KEY
        with pytest.raises(MasterKeyError, match="memory"):
            await operations.rotate_master_key(db, ROOT)
    finally:
        await db.close()
    assert list(tmp_path.iterdir()) == []


def test_the_software_vault_binds_a_key_to_its_terminal_and_master():
    vault, other = SoftwareVault(new_master_key()), SoftwareVault(new_master_key())
    sealed = vault.seal(bytes.fromhex(KEY), terminal_id="T1")
    assert vault.unseal(sealed, terminal_id="T1").hex().upper() == KEY
    for attempt in (lambda: vault.unseal(sealed, terminal_id="T2"), lambda: other.unseal(sealed, terminal_id="T1"),
                    lambda: vault.unseal(sealed[:-4] + "AAAA", terminal_id="T1")):
        with pytest.raises(VaultError) as refused:
            attempt()
        assert KEY not in str(refused.value)


def test_a_postgresql_database_keeps_its_default_key_file_under_xdg_state_home(tmp_path, monkeypatch):
    db = PostgresDatabase("postgresql://ops:secret@127.0.0.1:5432/ppob")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    path = keyring.default_key_file(db)
    assert path is not None and path.parent == tmp_path / "ppob-switch" and "secret" not in str(path)


def test_the_suite_keeps_default_key_files_out_of_the_home_directory(tmp_path_factory):
    # tests/conftest.py points XDG_STATE_HOME at a temp dir for the whole run (and every process it starts)
    path = keyring.default_key_file(PostgresDatabase("postgresql://postgres@127.0.0.1:5432/test"))
    assert path is not None and tmp_path_factory.getbasetemp() in path.parents
    assert os.path.expanduser("~/.local/state") not in str(path)
