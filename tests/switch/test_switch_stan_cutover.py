"""STANs towards a bank never repeat within a WIB calendar day nor within a business date, however
many cutovers (scheduled or forced) happen: a bank that keys duplicates on STAN per day sees none."""
from __future__ import annotations

from collections import Counter

from switch.ledger import txns
from switch.links.stan import StanAllocator
from switch.settlement.cutover import forced_cutover
from tests.support.harness import switch_with_bank


async def traffic(terminal, round_: int) -> None:
    for i in range(3):
        assert (await terminal.inquiry("PLNPST", f"5321{round_}{i:07d}"))[39] == "00"
        assert (await terminal.pay("PLNPRA", f"1423{round_}{i:07d}", 20_000_00))[39] == "00"


def repeats(stans: list[str]) -> dict[str, int]:
    return {stan: count for stan, count in Counter(stans).items() if count > 1}


async def test_two_forced_cutovers_in_one_day_never_repeat_a_stan_towards_the_bank(start_switch):
    running, peer, terminal = await switch_with_bank(start_switch)
    await traffic(terminal, 1)
    first = await forced_cutover(running.app.svc)
    await traffic(terminal, 2)
    second = await forced_cutover(running.app.svc)
    await traffic(terminal, 3)

    assert first["opened"] != second["opened"]  # three business dates on one calendar day
    closings = [m for m in peer.received if m.mti == "0800" and m.get(70) == "201"]
    assert [m[15] for m in closings] == [first["closed"][5:7] + first["closed"][8:10],
                                         second["closed"][5:7] + second["closed"][8:10]]
    stans = [m[11] for m in peer.received]  # sign-on, echoes, 0200s, 0220s, the two 0800/201
    assert len(stans) > 20
    assert repeats(stans) == {}
    await terminal.close()


async def test_the_stan_sequence_of_a_bank_does_not_restart_with_a_new_business_date(start_switch):
    running, _, terminal = await switch_with_bank(start_switch)
    await terminal.close()
    svc = running.app.svc
    seen = [await svc.stans.next("BANKA") for _ in range(250)]  # more than one reserved block
    await forced_cutover(svc)
    seen += [await svc.stans.next("BANKA") for _ in range(4)]
    assert repeats(seen) == {}
    # a second allocator (another node, or this one after a restart) continues the same sequence
    other = StanAllocator(running.db, block=3)
    assert repeats(seen + [await other.next("BANKA") for _ in range(4)]) == {}


async def test_stans_issued_under_the_per_date_counters_of_older_versions_are_not_reissued(start_switch):
    running, _, terminal = await switch_with_bank(start_switch)
    await terminal.close()
    await running.db.unit(lambda tx: txns.reserve_block(tx, "stan:BANKY:2026-11-25", 500))
    stans = StanAllocator(running.db)
    assert int(await stans.next("BANKY")) > 500
