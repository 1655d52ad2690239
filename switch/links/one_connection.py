"""A bank that takes one connection from all the nodes together (`one_connection = true`, connect
mode): a node connects only while it holds that bank's lease in the shared database
(ledger.link_leases), renews it every second while connected, drops the connection if the lease was
lost, and releases it when it stops. When the holder dies its lease runs out after LEASE_S and the
next node whose reconnect comes (within `reconnect_max_s`) takes the bank over."""
from __future__ import annotations

import functools

from datetime import datetime, timedelta, timezone

import structlog

from switch.ledger import link_leases
from switch.ledger.storage import Database

from .bank_link import BankLink

log = structlog.get_logger("links.one_connection")

LEASE_S = 10.0


def _iso_in(seconds: float) -> str:
    moment = datetime.now(timezone.utc) + timedelta(seconds=seconds)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class OneConnection:
    def __init__(self, db: Database, node_id: str, links: list[BankLink]) -> None:
        self._db, self._node_id = db, node_id
        self._links = [link for link in links if link.cfg.one_connection and link.cfg.mode == "connect"]
        for link in self._links:
            link.may_connect = functools.partial(self.take, link.id)

    async def take(self, bank_id: str) -> bool:
        """This node's turn (taken or renewed)? A database that cannot say means no."""
        try:
            return await self._db.unit(lambda tx: link_leases.take(
                tx, bank_id, self._node_id, _iso_in(LEASE_S), _iso_in(0)))
        except Exception as exc:
            log.warning("bank_link_lease_unknown", bank=bank_id, error=str(exc))
            return False

    async def renew(self) -> None:
        for link in self._links:
            if link.connections and not await self.take(link.id):
                log.warning("bank_link_lease_lost", bank=link.id)
                link.drop()

    async def release(self) -> None:
        for link in self._links:
            try:
                await self._db.unit(functools.partial(link_leases.release, bank_id=link.id, node_id=self._node_id))
            except Exception as exc:
                log.warning("bank_link_lease_not_released", bank=link.id, error=str(exc))
