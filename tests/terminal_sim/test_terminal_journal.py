"""The terminal journal: STANs never repeat, and every exchange is kept for reprint and status."""
from __future__ import annotations

import multiprocessing

from terminal_sim.journal import MAX_STAN, Journal


def test_stan_never_repeats_across_reopening_the_journal(tmp_path):
    path = tmp_path / "T1.journal"
    seen = []
    for _ in range(3):
        with Journal(path) as journal:
            seen += [journal.next_stan("T1") for _ in range(50)]
    assert len(set(seen)) == 150 and seen[0] == "000001" and seen[-1] == "000150"


def test_each_terminal_has_its_own_stan_sequence(tmp_path):
    with Journal(tmp_path / "j") as journal:
        assert [journal.next_stan("A"), journal.next_stan("B"), journal.next_stan("A")] == ["000001", "000001",
                                                                                              "000002"]


def test_stan_wraps_after_999999_to_000001(tmp_path):
    with Journal(tmp_path / "j") as journal:
        journal._db.execute("INSERT INTO stan_counter VALUES ('T1', ?)", (MAX_STAN - 1,))
        assert [journal.next_stan("T1") for _ in range(3)] == ["999999", "000001", "000002"]


def _draw(path: str, count: int, out: multiprocessing.Queue) -> None:
    with Journal(path) as journal:
        out.put([journal.next_stan("T1") for _ in range(count)])


def test_two_processes_sharing_a_journal_never_get_the_same_stan(tmp_path):
    path = str(tmp_path / "shared.journal")
    Journal(path).close()
    out: multiprocessing.Queue = multiprocessing.Queue()
    workers = [multiprocessing.Process(target=_draw, args=(path, 200, out)) for _ in range(2)]
    for w in workers:
        w.start()
    stans = out.get(timeout=60) + out.get(timeout=60)
    for w in workers:
        w.join(timeout=60)
    assert len(stans) == 400 and len(set(stans)) == 400


def test_an_unanswered_payment_stays_pending_after_reopen_until_answered(tmp_path):
    path = tmp_path / "j"
    request = {3: "500000", 4: "000039980000", 7: "1125083020", 11: "000003", 41: "T1", 48: "PLNPST532110000123 "}
    with Journal(path) as journal:
        journal.record_request("T1", "0200", request)
        journal.record_response("T1", "000003", "1125083020", None, None, note="TO", settled=False)
    with Journal(path) as journal:
        assert [e.stan for e in journal.pending_payments("T1")] == ["000003"]
        journal.record_response("T1", "000003", "1125083020", {39: "00", 37: "000000000102"}, "00")
        entry = journal.find("T1", "3")
    assert entry.status == "answered" and entry.response[37] == "000000000102" and entry.request == request


def test_find_returns_payments_only_unless_asked_otherwise(tmp_path):
    with Journal(tmp_path / "j") as journal:
        journal.record_request("T1", "0200", {3: "380000", 7: "1125083015", 11: "000002"})
        assert journal.find("T1", "000002") is None
        assert journal.find("T1", "000002", payments_only=False).proc == "380000"


def test_an_in_memory_journal_still_counts_without_repeats():
    with Journal(None) as journal:
        stans = [journal.next_stan("T1") for _ in range(1000)]
    assert len(set(stans)) == 1000 and all(len(s) == 6 and s != "000000" for s in stans)
