"""The benchmark's perf summary: samples of `perf script` put in the project's layers."""
from __future__ import annotations

from tests.bench.perf_profile import ASYNCPG, EVENT_LOOP, KERNEL, SQLITE, compiled_function, summarize

LIB = "/usr/lib/libpython3.11.so.1.0"
EXT = "/work/x__mypyc.cpython-311-x86_64-linux-gnu.so"
UVLOOP = "/venv/uvloop/loop.cpython-311-x86_64-linux-gnu.so"


def sample(tid: int, *frames: tuple[str, str]) -> str:
    lines = [f" {tid} "] + [f"\t   {0x1000 + n:x} {symbol} ({dso})" for n, (symbol, dso) in enumerate(frames)]
    return "\n".join(lines)


def perf_script(*samples: str) -> str:
    return "\n\n".join(samples) + "\n\n"


def test_mypyc_names_read_as_python_spells_them_and_unknown_modules_are_not_ours():
    assert compiled_function("CPyDef_codec___encode") == ("wire", "codec.encode")
    assert compiled_function("CPyDef_sqlite_tx___SqliteTx____first") == ("ledger", "sqlite_tx.SqliteTx._first")
    assert compiled_function("CPyDef_terminal_server____handle_TerminalServer_gen_____mypyc_generator_helper__") \
        == ("links", "terminal_server.TerminalServer._handle")
    assert compiled_function("CPyDef_units_____call___3_Debit_gen_____mypyc_generator_helper__") \
        == ("ledger", "units.Debit.__call__")
    assert compiled_function("CPyDef_payment___work_gen___3_76_____mypyc_generator_helper__") \
        == ("flows", "payment.work (inner)")
    assert compiled_function("CPyDef_numpy___dot") is None
    assert compiled_function("PyObject_Call") is None


def test_each_loop_sample_goes_to_the_innermost_frame_that_names_a_layer_and_other_threads_only_count():
    text = perf_script(
        # SQLite under the ledger's Tx: SQLite's, not the ledger's
        sample(7, ("sqlite3VdbeExec", "/usr/lib/libsqlite3.so.0"), ("_pysqlite_query_execute", EXT),
               ("CPyDef_sqlite_tx___SqliteTx____run", EXT), ("CPyDef_txns___insert_txn_gen", EXT)),
        # the interpreter's malloc under the codec: the wire's
        sample(7, ("_PyObject_Malloc", LIB), ("CPyDef_codec___encode", EXT),
               ("CPyDef_gateway____answer_TerminalGateway_gen", EXT)),
        # a system call: the kernel's, whoever made it
        sample(7, ("tcp_sendmsg", "[kernel.kallsyms]"), ("__libc_write", "/usr/lib/libc.so.6"),
               ("CPyDef_terminal_server___TerminalSession___flush", EXT)),
        # pure Python run by the loop, with nothing of ours below it
        sample(7, ("_PyEval_EvalFrameDefault", LIB), ("__pyx_f_6uvloop_4loop_6Handle__run", UVLOOP)),
        # PostgreSQL's protocol, run by the loop
        sample(7, ("__pyx_f_7asyncpg_8protocol_8protocol_12CoreProtocol__read_server_messages",
                   "/venv/asyncpg/protocol/protocol.cpython-311-x86_64-linux-gnu.so"),
               ("__pyx_f_6uvloop_4loop_6Handle__run", UVLOOP)),
        # the commit thread
        sample(8, ("sqlite3WalFrames", "/usr/lib/libsqlite3.so.0")),
    )
    summary = summarize(text, loop_tid=7)
    assert summary.samples == 6 and summary.by_thread == {7: 5, 8: 1}
    assert summary.by_layer == {SQLITE: 1, "wire": 1, KERNEL: 1, EVENT_LOOP: 1, ASYNCPG: 1}
    assert summary.by_innermost["sqlite_tx.SqliteTx._run"] == 1
    assert summary.by_function["gateway.TerminalGateway._answer"] == 1
    assert summary.by_function["txns.insert_txn"] == 1


def test_the_printed_summary_gives_each_layer_as_a_share_of_the_loop_thread():
    text = perf_script(*[sample(7, ("CPyDef_mac___MacKey___mac", EXT))] * 3,
                       sample(7, ("sqlite3_step", "/usr/lib/libsqlite3.so.0")), sample(9, ("x", LIB)))
    lines = summarize(text, loop_tid=7).lines(loop_tid=7)
    assert lines[0] == "  threads: event loop 80%, thread 9 20% of 5 samples"
    assert "     75.0%  wire" in lines and f"     25.0%  {SQLITE}" in lines
    assert "     75.0%  mac.MacKey.mac" in lines
    assert summarize("", loop_tid=7).lines(loop_tid=7) == ["  (no samples of the event-loop thread)"]
