"""The simulated bank's book is the same in every process for a seed: the e2e tests (and anyone following
the README) compute customer numbers in one process and send them to a bank simulator running in another.
(Same-process determinism is tested in tests/bank_sim; this adds other processes and other hash seeds.)"""
from __future__ import annotations

from bank_sim.book import Book
from tests.e2e.conftest import SEED, SIZE, run


def test_the_customers_of_a_seed_are_the_same_in_other_processes_whatever_their_hash_seed(tmp_path):
    listed = [run("ppob-bank-sim", "--list-customers", "--seed", str(SEED), "--size", str(SIZE), cwd=tmp_path,
                  env={"PYTHONHASHSEED": hash_seed, "COLUMNS": "160"}) for hash_seed in ("1", "2")]
    assert [done.returncode for done in listed] == [0, 0]
    assert listed[0].stdout == listed[1].stdout
    for scenario, customer in Book.generate(SEED, SIZE).examples().items():
        assert f" {customer} " in listed[0].stdout, scenario
