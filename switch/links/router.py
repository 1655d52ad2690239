"""Routing and failover: a product goes to the available bank of lowest priority number."""
from __future__ import annotations

from collections.abc import Collection

from typing import Callable

from .bank_link import BankLink


class Router:
    def __init__(self, links: list[BankLink], on_busy: Callable[[BankLink], None] | None = None) -> None:
        # stable order: priority, then the order of the configuration file
        self._links = sorted(links, key=lambda link: link.cfg.priority)
        self._by_id = {link.id: link for link in links}
        self._on_busy = on_busy or (lambda link: None)

    @property
    def links(self) -> list[BankLink]:
        return list(self._links)

    def bank(self, bank_id: str) -> BankLink | None:
        return self._by_id.get(bank_id)

    def serves(self, product: str) -> bool:
        """Whether any configured bank serves the product (up or not)."""
        return any(link.serves(product) for link in self._links)

    def candidates(self, product: str) -> list[BankLink]:
        """Banks that serve the product and are up, best first (new inquiries and payments only:
        reversals and advices always go to the bank of the original)."""
        return [link for link in self._links if link.serves(product) and link.is_up]

    def pick(self, product: str, exclude: Collection[str] = frozenset()) -> BankLink | None:
        """The best bank up for a new request; a bank with max_in_flight requests already waiting
        is passed over (a slow bank sheds new work quickly instead of piling it up)."""
        for link in self.candidates(product):
            if link.id in exclude:
                continue
            if link.busy:
                self._on_busy(link)
                continue
            return link
        return None
