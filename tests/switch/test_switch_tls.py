"""TLS (1.2 or newer) on the terminal listener and on a bank link, over loopback."""
from __future__ import annotations

import asyncio
import ssl

from switch.wire import TI, FrameReader, Message, decode, frame, sign
from tests.support.bank_answers import good_bank
from tests.support.certs import make_certs
from tests.support.harness import bank, wait_until
from tests.support.peers import KEY, ScriptedBank, now_f7


async def test_a_terminal_signs_on_over_tls_and_a_plain_connection_gets_nothing(start_switch, tmp_path):
    certs = make_certs(tmp_path)
    running = await start_switch([bank("BANKA", 1)], terminals={"tls_cert": certs["cert"], "tls_key": certs["key"]})
    context = ssl.create_default_context(cafile=certs["ca"])
    reader, writer = await asyncio.open_connection("127.0.0.1", running.ports.terminals, ssl=context,
                                                   server_hostname="localhost")
    assert writer.get_extra_info("ssl_object").version() in ("TLSv1.2", "TLSv1.3")
    sign_on = Message("0800", {7: now_f7(), 11: "000001", 41: "T0000001", 70: "001"})
    writer.write(frame(sign(sign_on, KEY, TI), "2B"))
    answer = decode(await FrameReader(reader, "2B").read_frame(), TI)
    assert answer[39] == "00"
    writer.close()

    plain_reader, plain_writer = await asyncio.open_connection("127.0.0.1", running.ports.terminals)
    plain_writer.write(frame(sign(sign_on, KEY, TI), "2B"))
    assert await plain_reader.read(100) == b""  # the handshake fails: the connection is closed
    plain_writer.close()


async def test_a_bank_link_in_connect_mode_runs_over_tls(start_switch, tmp_path):
    certs = make_certs(tmp_path)
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(certs["cert"], certs["key"])
    peer = ScriptedBank(good_bank)
    server = await asyncio.start_server(peer._serve, "127.0.0.1", 0, ssl=server_context)
    port = server.sockets[0].getsockname()[1]
    running = await start_switch([bank("BANKA", port, tls=True, tls_ca=certs["ca"])])
    assert await wait_until(lambda: running.app.svc.router.candidates("PLNPST"))
    terminal = await running.terminal().connect()
    await terminal.sign_on()
    assert (await terminal.inquiry("PLNPST", "532110000123"))[39] == "00"
    server.close()
