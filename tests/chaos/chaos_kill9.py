"""kill -9 chaos: the switch runs as a real process (`python -m switch.cli serve`) between a bank
host and several terminals in this process; it is killed with SIGKILL at random moments during a
burst of payments, restarted on the same database, left to settle (store-and-forward drained), and
then the switch's books are held against what the terminals heard and what the bank did:

* every approval a terminal saw is debited exactly once (and stands at the bank);
* every payment the bank approved is debited at the switch, or was reversed at the bank;
* nothing is debited that the bank does not have approved;
* the books balance (money.check_books), no deposit is negative, no hold is left 'held'.

The bank and the terminals are in chaos_peers.py, the checks in chaos_checks.py (chaos_nodes uses both).

Run: python -m tests.chaos.chaos_kill9 --iterations 20 [--kills 3] [--seed N]
     [--database postgresql://postgres@127.0.0.1:5432/postgres]  (a fresh database per iteration)
"""
from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import signal
import sys
import tempfile
import time
from collections import Counter
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import AsyncIterator

from switch.config import sample_config
from switch.ledger.storage import open_database
from tests.support.nodes import fresh_postgres
from tests.support.processes import free_port

from tests.chaos.chaos_checks import check, settle
from tests.chaos.chaos_peers import AGENTS, ChaosBank, ChaosTerminal, provision, sending_burst

ROOT = Path(__file__).resolve().parents[2]


# ---- one iteration -----------------------------------------------------------------------------

@dataclass
class Iteration:
    database: str
    workdir: Path
    rng: random.Random
    kills: int = 2
    terminals: int = 4
    workers: int = 3
    log: Path | None = None

    async def start_switch(self) -> asyncio.subprocess.Process:
        out = open(self.log, "ab") if self.log else asyncio.subprocess.DEVNULL
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "switch.cli", "serve", "--config", str(self.config),
            stdout=out, stderr=out, env={**os.environ, "PYTHONPATH": str(ROOT)})

    def write_config(self, bank_port: int) -> int:
        terminal_port = free_port()
        self.config = self.workdir / "switch.toml"
        self.config.write_text(sample_config(
            database=self.database, terminal_listen=f"127.0.0.1:{terminal_port}",
            metrics_listen=f"127.0.0.1:{free_port()}",
            switch={"settlement_dir": str(self.workdir / "settlement"), "node_id": "chaos-node"},
            banks=[{"id": "BANKA", "mode": "connect", "address": f"127.0.0.1:{bank_port}",
                    "products": ["PLNPST", "PLNPRA", "PLNNTL"], "timeout_s": 1, "reversal_retry_s": 0.3,
                    "reconnect_max_s": 1}]))
        return terminal_port

    async def run(self) -> dict:
        bank = ChaosBank(self.rng)
        terminal_port = self.write_config(await bank.listen())
        db = open_database(self.database)
        await db.open()
        try:
            await provision(db, self.terminals)
            terminals = [ChaosTerminal(f"T{n:07d}", list(AGENTS)[n % len(AGENTS)], terminal_port, self.rng)
                         for n in range(1, self.terminals + 1)]
            kills = await self.burst(terminals)
            await settle(db)
            problems = await check(db, bank, terminals)
            return summary(bank, terminals, kills, problems)
        finally:
            await db.close()
            await bank.close()

    async def burst(self, terminals: list[ChaosTerminal]) -> int:
        switch = await self.start_switch()
        try:
            async with sending_burst(terminals, self.workers, 120) as (sending, deadline):
                for n in range(self.kills):
                    await serving(terminals[0].port, deadline)  # a random moment of work, not of start-up
                    await asyncio.sleep(self.rng.uniform(0.2, 2.0))
                    if n == self.kills - 1:
                        sending.clear()  # the last kill may fall in the tail: answers, reversals in flight
                        await asyncio.sleep(self.rng.uniform(0, 0.5))
                    switch.kill()  # SIGKILL: no drain, no sign-off, no last commit
                    await switch.wait()
                    switch = await self.start_switch()
        finally:
            self.switch = switch
        return self.kills

    async def stop_switch(self) -> None:
        self.switch.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.switch.wait(), 30)
        except asyncio.TimeoutError:
            self.switch.kill()
            await self.switch.wait()


async def serving(port: int, deadline: float) -> None:
    """Returns once the switch accepts terminals (it recovers before it listens)."""
    while time.monotonic() < deadline:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            await asyncio.sleep(0.05)
    raise TimeoutError("the switch did not start")


def summary(bank: ChaosBank, terminals: list[ChaosTerminal], kills: int, problems: list[str]) -> dict:
    codes = Counter(a.get(39) for t in terminals for a in t.answers.values() if a.mti == "0210")
    return {"payments": sum(1 for t in terminals for f in t.requests.values() if 90 not in f), "codes": dict(sorted(codes.items())),
            "terminal_reversals": sum(len(t.reversed) for t in terminals),
            "retransmissions": sum(t.retransmissions for t in terminals), "kills": kills,
            "bank": {state: sum(1 for s in bank.book.values() if s.state == state)
                     for state in ("approved", "declined", "reversed")},
            "reversals_received": bank.counts["0400"] + bank.counts["0401"],
            "advices_received": bank.counts["0220"] + bank.counts["0221"], "problems": problems}


# ---- databases ---------------------------------------------------------------------------------

@asynccontextmanager
async def fresh_database(workdir: Path, postgres_url: str | None) -> AsyncIterator[str]:
    """A throw-away database: a SQLite file in the iteration's folder, or a PostgreSQL database
    created on the server of `postgres_url` and dropped afterwards."""
    if not postgres_url:
        yield f"sqlite:///{workdir}/switch.db"
        return
    async with fresh_postgres("ppob_chaos", server=postgres_url) as database:
        yield database


async def run_iteration(seed: int, *, kills: int = 2, postgres_url: str | None = None,
                        workdir: Path | None = None, keep_log: bool = False) -> dict:
    with tempfile.TemporaryDirectory(prefix="chaos-", dir=workdir) as folder:
        folder = Path(folder)
        async with fresh_database(folder, postgres_url) as database:
            iteration = Iteration(database, folder, random.Random(seed), kills=kills,
                                  log=folder / "switch.log" if keep_log else None)
            try:
                result = await iteration.run()
            finally:
                if getattr(iteration, "switch", None) is not None:
                    await iteration.stop_switch()
            if keep_log:
                result["log"] = (folder / "switch.log").read_text()[-20000:]
            return {"seed": seed, **result}


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--kills", type=int, default=3, help="SIGKILLs per iteration")
    parser.add_argument("--seed", type=int, help="first iteration's seed (default: random)")
    parser.add_argument("--database", help="postgresql://... server URL (default: a SQLite file)")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else secrets.randbelow(10**9)
    totals, failed, started = Counter(), 0, time.monotonic()
    for n in range(args.iterations):
        result = await run_iteration(seed + n, kills=args.kills, postgres_url=args.database)
        failed += bool(result["problems"])
        totals.update(result["codes"])
        totals.update(payments=result["payments"], kills=result["kills"],
                      retransmissions=result["retransmissions"], reversals=result["reversals_received"],
                      advices=result["advices_received"])
        print(f"iteration {n + 1}/{args.iterations} seed {result['seed']}: {result['payments']} payments,"
              f" codes {result['codes']}, {result['terminal_reversals']} reversed by terminals,"
              f" bank {result['bank']}, {result['kills']} kills,"
              f" {'OK' if not result['problems'] else 'PROBLEMS'}", flush=True)
        for problem in result["problems"][:20]:
            print("   ", problem)
    codes = {k: v for k, v in totals.items() if len(k) == 2}
    print(f"summary: {args.iterations} iterations, {failed} with problems, {totals['payments']} payments,"
          f" {totals['kills']} kills, {totals['retransmissions']} retransmissions, {totals['reversals']}"
          f" reversal messages, {totals['advices']} advice messages, codes {dict(sorted(codes.items()))},"
          f" {time.monotonic() - started:.0f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
