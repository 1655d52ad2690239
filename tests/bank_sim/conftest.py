"""A simulated bank listening on loopback, and the switch's end of a link to it."""
from __future__ import annotations

from datetime import date

import pytest

from bank_sim.book import Book
from bank_sim.host import BankHost
from tests.bank_sim.hi_client import HiClient, Messages

TODAY = date(2026, 11, 25)


@pytest.fixture
def book() -> Book:
    return Book.generate(seed=7, size=200, today=TODAY)


@pytest.fixture(params=["2B", "4A"])
def framing(request) -> str:
    return request.param


@pytest.fixture
async def bank(book, framing, tmp_path):
    host = BankHost(book, framing=framing, settlement_dir=tmp_path / "settlement", business_date=TODAY)
    await host.listen("127.0.0.1", 0)
    yield host
    await host.stop()


@pytest.fixture
async def link(bank, framing):
    client = await HiClient.connect(bank.ports[0], framing)
    yield client
    await client.close()


@pytest.fixture
def msgs() -> Messages:
    return Messages()


@pytest.fixture
def examples(book) -> dict[str, str]:
    return book.examples()
