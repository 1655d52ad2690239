"""Each flow participant on its own, against a small Services (a private in-memory SQLite database,
no bank link), as jPOS tests one participant at a time: fast, and each failure names its step."""
from __future__ import annotations

import pytest

from switch.config import parse_config, sample_config
from switch.flows import balance, common, payment
from switch.flows.context import GO, STOP, Participant, StepOrderError, TxnContext, run_steps
from switch.ledger import accounts, money, txns
from switch.ledger.calendar import BusinessCalendar
from switch.ledger.states import TxnState
from switch.ledger.storage.sqlite import SqliteDatabase
from switch.links.limits import Budget
from switch.links.router import Router
from switch.links.stan import StanAllocator
from switch.links.terminal_server import TerminalSession
from switch.services import Services
from switch.wire import Message
from switch.wire.fields import parse_balances

import tomllib

AGENT, TERMINAL, KEY = "AGT01", "T0000001", bytes(range(16))
CUSTOMER = "512345678901"


@pytest.fixture
async def svc():
    db = SqliteDatabase(":memory:")
    await db.open()
    config = parse_config(tomllib.loads(sample_config()))
    calendar = BusinessCalendar(db, config.switch.timezone, config.switch.cutover)
    await calendar.load()

    async def provision(tx):
        await accounts.add_agent(tx, AGENT, "Toko Satu", None)
        await accounts.add_terminal(tx, TERMINAL, AGENT, KEY.hex().upper())
        await money.topup(tx, AGENT, 500_000_00, "initial")
    await db.unit(provision)
    yield Services(config=config, db=db, router=Router([]), calendar=calendar, stans=StanAllocator(db),
                   node_id="unit")
    await db.close()


async def context(svc: Services, mti: str = "0200", **fields: str) -> TxnContext:
    terminal = await svc.db.read(lambda tx: accounts.get_terminal(tx, TERMINAL))
    agent = await svc.db.read(lambda tx: accounts.get_agent(tx, AGENT))
    request = Message(mti, {int(k[1:]): v for k, v in fields.items()})
    # a real Budget, as the terminal server gives every session (compiled, TerminalSession refuses None)
    session = TerminalSession(peer="test", budget=Budget(rate=100.0, burst=100.0, max_in_flight=4))
    return TxnContext(session=session, request=request, terminal=terminal,
                      agent=agent, kind="payment")


def payment_fields(amount: int = 150_000_00, stan: str = "000001") -> dict[str, str]:
    return {"f3": "500000", "f4": f"{amount:012d}", "f7": "0131160000", "f11": stan, "f12": "230000",
            "f13": "0131", "f18": "6021", "f41": TERMINAL, "f42": AGENT.ljust(15), "f48": "PLNPST" + CUSTOMER.ljust(13),
            "f49": "360"}


async def test_check_fields_declines_30_naming_the_missing_fields(svc) -> None:
    ctx = await context(svc, f3="500000", f7="0131160000")
    assert await common.check_fields(3, 4, 7, 11)(ctx, svc) is STOP
    assert (ctx.rc, ctx.bad_fields) == ("30", {4, 11})


async def test_check_fields_declines_58_for_another_agents_merchant_id(svc) -> None:
    ctx = await context(svc, **{**payment_fields(), "f42": "AGT99".ljust(15)})
    assert await common.check_fields(3, 42)(ctx, svc) is STOP and ctx.rc == "58"


async def test_parse_product_tells_an_unknown_product_12_from_a_bad_field_30(svc) -> None:
    unknown = await context(svc, f48="PLNXXX" + CUSTOMER.ljust(13))
    assert await common.parse_product(unknown, svc) is STOP and unknown.rc == "12"
    bad = await context(svc, f48="PLNPST" + "12AB".ljust(13))
    assert await common.parse_product(bad, svc) is STOP and (bad.rc, bad.bad_fields) == ("30", {48})
    good = await context(svc, f48="PLNPST" + CUSTOMER.ljust(13))
    assert await common.parse_product(good, svc) is GO and (good.product, good.customer) == ("PLNPST", CUSTOMER)


async def test_record_keeps_a_first_transmission_and_answers_other_content_on_the_same_key_94(svc) -> None:
    first = await context(svc, **payment_fields())
    assert await common.record(first, svc) is GO and first.rrn == f"{first.txn_id:012d}"
    other = await context(svc, **payment_fields(amount=1_00))
    assert await common.record(other, svc) is STOP and other.rc == "94"


async def test_check_amount_refuses_a_zero_amount_13(svc) -> None:
    ctx = await context(svc, **payment_fields(amount=0))
    ctx.product, ctx.customer, ctx.amount = "PLNPST", CUSTOMER, 0
    assert await payment.check_amount(ctx, svc) is STOP and ctx.rc == "13"


async def test_hold_with_no_bank_up_declines_91_and_holds_nothing(svc) -> None:
    ctx = await context(svc, **payment_fields())
    assert await common.check_fields(4)(ctx, svc) is GO
    assert await common.parse_product(ctx, svc) is GO and await common.record(ctx, svc) is GO
    assert await payment.hold(ctx, svc) is STOP and ctx.rc == "91"
    assert await svc.db.read(lambda tx: money.balances(tx, AGENT)) == (500_000_00, 500_000_00)


async def test_balance_answers_both_balances_in_field_54(svc) -> None:
    ctx = await context(svc, f3="310000")
    assert await balance.answer_balance(ctx, svc) is GO
    assert ctx.rc == "00" and parse_balances(ctx.extra[54]) == (500_000_00, 500_000_00)


async def test_a_fault_after_a_participant_with_an_abort_is_decided_by_that_abort(svc) -> None:
    aborted = []

    async def placed(ctx, svc):
        return GO

    async def undo(ctx, svc):
        aborted.append(ctx.kind)
        ctx.rc = "68"

    async def broken(ctx, svc):
        raise RuntimeError("boom")

    ctx = await context(svc, **payment_fields())
    ctx.on_finish.append(lambda tx: None)
    await run_steps([placed, Participant(placed, abort=undo), broken], ctx, svc)
    assert aborted == ["payment"] and ctx.rc == "68" and ctx.on_finish == []


async def test_a_fault_with_no_abort_before_it_is_a_96_and_nothing_moves(svc) -> None:
    async def broken(ctx, svc):
        raise RuntimeError("boom")

    ctx = await context(svc, **payment_fields())
    await run_steps([broken], ctx, svc)
    assert (ctx.rc, ctx.final_state) == ("96", TxnState.FAILED)


async def test_a_step_run_before_the_one_that_fills_what_it_needs_names_it_and_is_a_96(svc) -> None:
    ctx = await context(svc, **payment_fields())
    with pytest.raises(StepOrderError, match="the product"):
        await payment.hold(ctx, svc)
    await run_steps([payment.ask_bank], ctx, svc)
    assert (ctx.rc, ctx.final_state) == ("96", TxnState.FAILED)


async def test_finish_stores_the_answer_with_the_state_in_one_unit(svc) -> None:
    ctx = await context(svc, **payment_fields())
    assert await common.parse_product(ctx, svc) is GO and await common.record(ctx, svc) is GO
    ctx.decline("05")
    response = await common.finish(ctx, svc)
    stored = await svc.db.read(lambda tx: txns.get_txn(tx, ctx.txn_id))
    assert response.mti == "0210" and response[39] == "05"
    assert (stored.state, stored.rc, stored.response) == (TxnState.DECLINED, "05", response.fields)
