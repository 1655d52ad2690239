"""Node-death chaos: three `ppob-switch serve` nodes on one fresh PostgreSQL database behind
Debian's HAProxy (deploy/haproxy/haproxy.cfg); terminals pay through HAProxy against a bank that
decides at receipt, answers late or never and declines some; one node is killed with SIGKILL in the
middle of the burst and not restarted. Its terminals reconnect through HAProxy to the survivors and
retransmit; the survivors take its work over. Then the checks:

* everything chaos_kill9 checks (approvals debited once and standing at the bank, the bank's
  approvals debited, nothing debited the bank does not have, books balanced, no deposit negative,
  nothing left held or between states);
* every reversal/advice pending when the node died got its next attempt from a survivor within
  2 x reversal_retry_s of the kill (or its answer came first);
* each attempt went out from one node only: never two first attempts (0400/0220) of an item, never
  more messages at the bank than attempts claimed in the database;
* the bank saw no STAN or RRN twice on new payments (uniqueness across the nodes).

Run: python -m tests.chaos.chaos_nodes --iterations 5 [--nodes 3] [--seed N]
Needs PostgreSQL on 127.0.0.1:5432 and Debian's haproxy.
"""
from __future__ import annotations

import argparse
import asyncio
import random
import secrets
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from switch.ledger import txns
from switch.ledger.storage import Database, open_database
from switch.wire import Message
from tests.chaos.chaos_checks import check, settle
from tests.chaos.chaos_peers import AGENTS, ChaosBank, ChaosTerminal, provision, sending_burst
from tests.support.nodes import HAPROXY, NO_HAPROXY, Cluster, Haproxy, fresh_postgres

RETRY_S = 2.0          # reversal_retry_s of the bank: the takeover bound is twice this
SAF_MTIS = ("0400", "0401", "0220", "0221")


@dataclass
class WatchedBank(ChaosBank):
    """The chaos bank, also noting when each reversal/advice attempt arrived (by its STAN)."""
    attempts: dict[str, list[tuple[float, str]]] = field(default_factory=lambda: defaultdict(list))

    def decide(self, msg: Message) -> Message | None:
        if msg.mti in SAF_MTIS:
            self.attempts[msg[11]].append((time.monotonic(), msg.mti))
        return super().decide(msg)


@dataclass
class NodeDeath:
    database: str
    workdir: Path
    rng: random.Random
    nodes: int = 3
    terminals: int = 6
    workers: int = 2
    victim: str = ""
    killed_at: float = 0.0
    pending_at_kill: dict[str, str] = field(default_factory=dict)  # STAN -> kind

    async def run(self) -> dict:
        bank = WatchedBank(self.rng, reversal_silence=0.4)  # more repeats: more left pending at the kill
        bank_port = await bank.listen()
        cluster = Cluster(self.database, self.workdir, [{
            "id": "BANKA", "mode": "connect", "address": f"127.0.0.1:{bank_port}",
            "products": ["PLNPST", "PLNPRA", "PLNNTL"], "timeout_s": 1, "reversal_retry_s": RETRY_S,
            "echo_interval_s": 30, "reconnect_max_s": 1}], count=self.nodes)
        lb = Haproxy([], self.workdir)
        db = open_database(self.database)
        await db.open()
        try:
            await provision(db, self.terminals)
            await cluster.start()
            lb.nodes = cluster.nodes
            await lb.start()
            terminals = [ChaosTerminal(f"T{n:07d}", list(AGENTS)[n % len(AGENTS)], lb.port, self.rng)
                         for n in range(1, self.terminals + 1)]
            await self.burst(cluster, db, terminals)
            await settle(db, timeout=180)
            problems = await check(db, bank, terminals)
            problems += await self.one_at_a_time(db, bank)
            late, delays = self.takeover_delays(bank)
            problems += bank_saw_unique_numbers(bank)
            return self.summary(cluster, bank, terminals, problems, late, delays)
        finally:
            await lb.stop()
            await cluster.stop()
            await db.close()
            await bank.close()

    async def burst(self, cluster: Cluster, db: Database, terminals: list[ChaosTerminal]) -> None:
        async with sending_burst(terminals, self.workers, 240):
            await asyncio.sleep(self.rng.uniform(2.0, 4.0))
            victim = self.rng.choice(cluster.nodes)
            rows = await db.read(lambda tx: tx.fetchall("SELECT kind, message FROM saf WHERE state = 'pending'"))
            self.pending_at_kill = {txns.fields_from_json(r["message"])[11]: r["kind"] for r in rows}
            victim.kill()
            self.killed_at, self.victim = time.monotonic(), victim.name
            await victim.process.wait()
            await asyncio.sleep(self.rng.uniform(2.0, 4.0))  # the burst goes on through the survivors

    def takeover_delays(self, bank: WatchedBank) -> tuple[list[str], list[float]]:
        """Seconds from the kill to the first attempt after it, for what was pending at the kill."""
        late, delays = [], []
        for stan, kind in self.pending_at_kill.items():
            after = [at for at, _ in bank.attempts.get(stan, []) if at > self.killed_at]
            if not after:
                continue  # answered by a reply to an attempt made before the kill
            delay = min(after) - self.killed_at
            delays.append(delay)
            if delay > 2 * RETRY_S:
                late.append(f"{kind} STAN {stan}: next attempt {delay:.1f} s after the kill (> 2 x {RETRY_S:g} s)")
        return late, delays

    async def one_at_a_time(self, db: Database, bank: WatchedBank) -> list[str]:
        rows = await db.read(lambda tx: tx.fetchall("SELECT saf_id, kind, attempts, message FROM saf"))
        problems = []
        for row in rows:
            stan = txns.fields_from_json(row["message"])[11]
            sent = Counter(mti for _, mti in bank.attempts.get(stan, []))
            firsts = sent["0400"] + sent["0220"]
            if firsts > 1 or sum(sent.values()) > row["attempts"]:
                problems.append(f"{row['kind']} {row['saf_id']} (STAN {stan}): the bank got {dict(sent)},"
                                f" {row['attempts']} attempts claimed")
        return problems

    def summary(self, cluster: Cluster, bank: WatchedBank, terminals: list[ChaosTerminal], problems: list[str],
                late: list[str], delays: list[float]) -> dict:
        codes = Counter(a.get(39) for t in terminals for a in t.answers.values() if a.mti == "0210")
        adopted = sum(Cluster.tail(node, 10**8).count("dead_node_txn_taken_over")
                      for node in cluster.nodes if node.name != self.victim)
        leases = sum(Cluster.tail(node, 10**8).count("saf_lease_from_other_node")
                     for node in cluster.nodes if node.name != self.victim)
        return {"payments": sum(1 for t in terminals for f in t.requests.values() if 90 not in f),
                "codes": dict(sorted(codes.items())), "victim": self.victim,
                "retransmissions": sum(t.retransmissions for t in terminals),
                "pending_at_kill": len(self.pending_at_kill), "adopted_txns": adopted, "leases_taken": leases,
                "max_takeover_s": round(max(delays), 2) if delays else None,
                "bank": {s: sum(1 for x in bank.book.values() if x.state == s)
                         for s in ("approved", "declined", "reversed")},
                "problems": problems, "late": late}


def bank_saw_unique_numbers(bank: ChaosBank) -> list[str]:
    """The bank's book holds one entry per new payment (STAN, field 7): STANs and RRNs never repeat."""
    stans = Counter(stan for stan, _ in bank.book)
    rrns = Counter(sale.rrn for sale in bank.book.values())
    return ([f"STAN {s} used for {n} different payments" for s, n in stans.items() if n > 1]
            + [f"RRN {r} used for {n} different payments" for r, n in rrns.items() if n > 1])


async def run_iteration(seed: int, *, nodes: int = 3, workdir: Path | None = None) -> dict:
    with tempfile.TemporaryDirectory(prefix="chaos-nodes-", dir=workdir) as folder:
        async with fresh_postgres("ppob_chaos_nodes") as database:
            result = await NodeDeath(database, Path(folder), random.Random(seed), nodes=nodes).run()
        return {"seed": seed, **result}


def report(n: int, total: int, result: dict) -> str:
    checks = "OK" if not result["problems"] and not result["late"] else "PROBLEMS"
    return (f"iteration {n}/{total} seed {result['seed']}: {result['payments']} payments, codes {result['codes']},"
            f" killed {result['victim']}, {result['retransmissions']} retransmissions,"
            f" {result['pending_at_kill']} reversals/advices pending at the kill, next attempt after"
            f" {result['max_takeover_s']} s at most (bound {2 * RETRY_S:g} s), {result['adopted_txns']}"
            f" transactions adopted, {result['leases_taken']} attempts following another node's lease,"
            f" bank {result['bank']}, {checks}")


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--nodes", type=int, default=3, choices=(2, 3))
    parser.add_argument("--seed", type=int, help="first iteration's seed (default: random)")
    args = parser.parse_args(argv)
    if HAPROXY is None:
        print(f"chaos_nodes: {NO_HAPROXY}", file=sys.stderr)
        return 2
    seed = args.seed if args.seed is not None else secrets.randbelow(10**9)
    failed, started = 0, time.monotonic()
    for n in range(args.iterations):
        result = await run_iteration(seed + n, nodes=args.nodes)
        failed += bool(result["problems"] or result["late"])
        print(report(n + 1, args.iterations, result), flush=True)
        for problem in (result["problems"] + result["late"])[:20]:
            print("   ", problem)
    print(f"summary: {args.iterations} iterations, {failed} with problems, {time.monotonic() - started:.0f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
