"""Which node may hold the one connection of a bank that takes only one (`one_connection = true`):
a lease in the shared database, renewed while the node is connected, released when it stops, and
free for another node once it has run out (the holder died)."""
from __future__ import annotations

from .storage import Tx


async def take(tx: Tx, bank_id: str, node_id: str, until: str, now: str) -> bool:
    """Takes or renews the lease until `until`; False while another node's lease runs."""
    await tx.execute(
        "INSERT INTO bank_link_leases (bank_id, node_id, until) VALUES (?,?,?) ON CONFLICT (bank_id)"
        " DO UPDATE SET node_id = excluded.node_id, until = excluded.until"
        " WHERE bank_link_leases.node_id = excluded.node_id OR bank_link_leases.until < ?",
        bank_id, node_id, until, now)
    holder = await tx.fetchval("SELECT node_id FROM bank_link_leases WHERE bank_id = ?", bank_id)
    return holder == node_id


async def release(tx: Tx, bank_id: str, node_id: str) -> None:
    await tx.execute("DELETE FROM bank_link_leases WHERE bank_id = ? AND node_id = ?", bank_id, node_id)
