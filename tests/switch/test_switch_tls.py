"""TLS (1.2 or newer) on the terminal listener and on a bank link, over loopback."""
from __future__ import annotations

import asyncio
import ssl
import warnings

import pytest

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


# ---- client certificates, listen mode, and nothing below TLS 1.2 --------------------------------

def bank_server_context(certs: dict, *, require_client: bool = True) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=certs["ca"])
    context.load_cert_chain(certs["cert"], certs["key"])
    if require_client:
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def old_tls(context: ssl.SSLContext) -> ssl.SSLContext:
    """Only TLS 1.0 / 1.1, with the security level that still allows them: a peer from another age."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = ssl.TLSVersion.TLSv1
        context.maximum_version = ssl.TLSVersion.TLSv1_1
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    return context


async def tls_bank(peer: ScriptedBank, context: ssl.SSLContext, seen: list) -> asyncio.base_events.Server:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(writer.get_extra_info("peercert"))
        await peer._serve(reader, writer)
    return await asyncio.start_server(serve, "127.0.0.1", 0, ssl=context)


async def test_a_bank_requiring_a_client_certificate_is_shown_the_switchs_and_serves_it(start_switch, tmp_path):
    certs = make_certs(tmp_path)
    peer, seen = ScriptedBank(good_bank), []
    server = await tls_bank(peer, bank_server_context(certs), seen)
    port = server.sockets[0].getsockname()[1]
    running = await start_switch([bank("BANKA", port, tls=True, tls_ca=certs["ca"], tls_cert=certs["client_cert"],
                                       tls_key=certs["client_key"])])
    assert await wait_until(lambda: running.app.svc.router.candidates("PLNPST"))
    subject = dict(item[0] for item in seen[0]["subject"])
    assert subject["commonName"] == "ppob switch"
    terminal = await running.terminal().connect()
    await terminal.sign_on()
    assert (await terminal.inquiry("PLNPST", "532110000123"))[39] == "00"
    server.close()


async def test_without_a_client_certificate_such_a_bank_never_comes_up(start_switch, tmp_path):
    certs = make_certs(tmp_path)
    peer, seen = ScriptedBank(good_bank), []
    server = await tls_bank(peer, bank_server_context(certs), seen)
    port = server.sockets[0].getsockname()[1]
    running = await start_switch([bank("BANKA", port, tls=True, tls_ca=certs["ca"])])
    assert not await wait_until(lambda: running.app.svc.router.candidates("PLNPST"), timeout=3)
    assert peer.received == []
    server.close()


async def test_a_bank_whose_certificate_another_ca_signed_is_not_trusted(start_switch, tmp_path):
    ours, theirs = make_certs(tmp_path / "ours"), make_certs(tmp_path / "theirs")
    peer, seen = ScriptedBank(good_bank), []
    server = await tls_bank(peer, bank_server_context(theirs, require_client=False), seen)
    port = server.sockets[0].getsockname()[1]
    running = await start_switch([bank("BANKA", port, tls=True, tls_ca=ours["ca"])])
    assert not await wait_until(lambda: running.app.svc.router.candidates("PLNPST"), timeout=3)
    assert peer.received == []
    server.close()


async def test_a_bank_connecting_in_over_tls_must_show_a_certificate_of_the_configured_ca(start_switch, tmp_path):
    certs = make_certs(tmp_path)
    running = await start_switch([bank("BANKB", 0, mode="listen", tls=True, tls_ca=certs["ca"],
                                       tls_cert=certs["cert"], tls_key=certs["key"])])
    port = running.ports.banks["BANKB"]
    bare = ssl.create_default_context(cafile=certs["ca"])  # trusts the switch, shows no certificate
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=bare, server_hostname="localhost")
    try:
        assert await asyncio.wait_for(reader.read(100), 5) == b""  # no sign-on comes: refused
    except (ssl.SSLError, ConnectionResetError):
        pass
    writer.close()
    assert not running.app.svc.router.candidates("PLNPST")

    with_cert = ssl.create_default_context(cafile=certs["ca"])
    with_cert.load_cert_chain(certs["client_cert"], certs["client_key"])
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=with_cert, server_hostname="localhost")
    assert writer.get_extra_info("ssl_object").version() in ("TLSv1.2", "TLSv1.3")
    peer = ScriptedBank(good_bank)
    serving = asyncio.create_task(peer._serve(reader, writer))
    assert await wait_until(lambda: running.app.svc.router.candidates("PLNPST"))
    terminal = await running.terminal().connect()
    await terminal.sign_on()
    assert (await terminal.inquiry("PLNPST", "532110000123"))[39] == "00"
    writer.close()
    serving.cancel()


async def test_a_terminal_offering_only_tls_1_1_is_refused(start_switch, tmp_path):
    certs = make_certs(tmp_path)
    running = await start_switch([bank("BANKA", 1)], terminals={"tls_cert": certs["cert"], "tls_key": certs["key"]})
    client = old_tls(ssl.create_default_context(cafile=certs["ca"]))
    # the same client does get TLS 1.1 from a server that still allows it: the refusal is the switch's
    permissive = old_tls(bank_server_context(certs, require_client=False))
    control = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0, ssl=permissive)
    _, writer = await asyncio.open_connection("127.0.0.1", control.sockets[0].getsockname()[1], ssl=client,
                                              server_hostname="localhost")
    assert writer.get_extra_info("ssl_object").version() == "TLSv1.1"
    writer.close()
    control.close()
    with pytest.raises((ssl.SSLError, ConnectionResetError)):
        await asyncio.open_connection("127.0.0.1", running.ports.terminals, ssl=client, server_hostname="localhost")


async def test_a_bank_offering_only_tls_1_1_never_comes_up(start_switch, tmp_path):
    certs = make_certs(tmp_path)
    peer, seen = ScriptedBank(good_bank), []
    server = await tls_bank(peer, old_tls(bank_server_context(certs, require_client=False)), seen)
    port = server.sockets[0].getsockname()[1]
    running = await start_switch([bank("BANKA", port, tls=True, tls_ca=certs["ca"])])
    assert not await wait_until(lambda: running.app.svc.router.candidates("PLNPST"), timeout=3)
    assert peer.received == [] and seen == []  # no handshake completed
    server.close()
