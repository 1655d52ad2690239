"""The loket menu an agent uses: plain input()/print, so a program can drive it through stdin.

Bad input prints a clear message and shows the menu again; end of input (EOF) leaves cleanly.
"""
from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Callable

from .client import TerminalClient, receipt_from_entry
from .results import Result
from .escpos import to_escpos
from switch.wire.receipt import render_balance, render_bill, rupiah

DENOMINATIONS = (20_000, 50_000, 100_000, 200_000, 500_000, 1_000_000)
MENU = """
===== LOKET PPOB {tid} =====
1 Tagihan listrik (pascabayar)
2 Token listrik (prabayar)
3 Non taglis
4 Cek saldo
5 Cetak ulang
0 Keluar"""
CUSTOMER_PROMPT = {
    "PLNPST": ("IDPEL (12 digit): ", (12,)),
    "PLNPRA": ("No meter (11 digit) / IDPEL (12 digit): ", (11, 12)),
    "PLNNTL": ("No registrasi (13 digit): ", (13,)),
}


class EndOfInput(Exception):
    """stdin is exhausted: the session ends."""


class Shell:
    def __init__(self, client: TerminalClient, escpos_path: str | None = None,
                 read: Callable[[str], str] = input, write: Callable[[str], None] = print) -> None:
        self.client, self.escpos_path = client, escpos_path
        self._read, self.write = read, write

    async def ask(self, prompt: str) -> str:
        try:
            # in a thread: the connection's reader keeps running while the agent types
            return (await asyncio.to_thread(self._read, prompt)).strip()
        except EOFError:
            raise EndOfInput from None

    async def run(self) -> int:
        try:
            while True:
                self.write(MENU.format(tid=self.client.terminal_id))
                choice = await self.ask("Pilih menu: ")
                if choice == "0":
                    break
                action = {"1": lambda: self.pay("PLNPST"), "2": self.prepaid, "3": lambda: self.pay("PLNNTL"),
                          "4": self.balance, "5": self.reprint}.get(choice)
                if action is None:
                    self.write(f"Pilihan '{choice}' tidak ada. Ketik angka 0-5.")
                    continue
                try:
                    await action()
                except OSError as exc:
                    self.write(f"GAGAL: tidak bisa terhubung ke switch ({exc})")
        except EndOfInput:
            self.write("")
        self.write("Sampai jumpa.")
        return 0

    async def customer(self, product: str) -> str | None:
        prompt, lengths = CUSTOMER_PROMPT[product]
        number = await self.ask(prompt)
        if not (number.isdigit() and len(number) in lengths):
            self.write(f"Nomor '{number}' tidak valid: harus {' atau '.join(map(str, lengths))} digit angka.")
            return None
        return number

    async def pay(self, product: str) -> None:
        number = await self.customer(product)
        if number is None:
            return
        quote = await self.client.inquiry(product, number)
        if not self.ok(quote) or quote.info is None:
            return
        self.print_lines(render_bill(quote.info))
        if await self.confirm(f"Bayar {rupiah(quote.amount_minor // 100)}?"):
            self.finish(await self.client.pay(product, number, inquiry=quote))

    async def prepaid(self) -> None:
        number = await self.customer("PLNPRA")
        if number is None:
            return
        quote = await self.client.inquiry("PLNPRA", number)
        if not self.ok(quote) or quote.info is None:
            return
        self.print_lines(render_bill(quote.info))
        for i, value in enumerate(DENOMINATIONS, 1):
            self.write(f"{i} {rupiah(value)}")
        pick = await self.ask("Pilih nominal token: ")
        if not (pick.isdigit() and 1 <= int(pick) <= len(DENOMINATIONS)):
            self.write(f"Nominal '{pick}' tidak ada. Ketik angka 1-{len(DENOMINATIONS)}.")
            return
        value, admin = DENOMINATIONS[int(pick) - 1], quote.info.admin_fee
        if await self.confirm(f"Bayar {rupiah(value + admin)} (token {rupiah(value)} + admin {rupiah(admin)})?"):
            self.finish(await self.client.pay("PLNPRA", number, value, inquiry=quote))

    async def balance(self) -> None:
        result = await self.client.balance_inquiry()
        if self.ok(result) and result.balance is not None:
            ledger, available = result.balance
            self.print_lines(render_balance(ledger, available, result.receipt_meta()))

    async def reprint(self) -> None:
        stan = await self.ask("STAN transaksi: ")
        if not (stan.isdigit() and len(stan) <= 6):
            self.write(f"STAN '{stan}' tidak valid: sampai 6 digit angka.")
            return
        entry = self.client.journal.find(self.client.terminal_id, stan)
        if entry is None:
            self.write(f"Tidak ada pembayaran dengan STAN {stan} di jurnal terminal ini.")
            return
        try:
            status = await self.client.status(entry.stan)
        except OSError:
            status = None
            self.write("Switch tidak terhubung: cetak dari jurnal.")
        if status is not None and not status.approved:
            self.write(f"Status: {status.rc} {status.rc_meaning}")
            return
        entry = self.client.journal.find(self.client.terminal_id, entry.stan)
        lines = receipt_from_entry(entry) if entry is not None else None
        if lines is None:
            self.write("Struk tidak tersedia: transaksi belum ada jawaban. Coba lagi saat online.")
            return
        self.print_lines(lines)

    async def confirm(self, question: str) -> bool:
        answer = (await self.ask(f"{question} (Y/N): ")).upper()
        if answer not in ("Y", "N"):
            self.write(f"Jawaban '{answer}' tidak dikenal: transaksi dibatalkan.")
        elif answer == "N":   # say so: the menu coming back alone looks like a lost transaction
            self.write("Transaksi dibatalkan.")
        return answer == "Y"

    def ok(self, result: Result) -> bool:
        if not result.approved:
            self.write(f"GAGAL: {result.rc} {result.rc_meaning}")
        return result.approved

    def finish(self, result: Result) -> None:
        if self.ok(result):
            lines = result.receipt()
            if lines is not None:
                self.print_lines(lines)
        elif result.error is not None:
            self.write(f"Cek status nanti dengan Cetak ulang, STAN {result.stan}.")

    def print_lines(self, lines: list[str]) -> None:
        self.write("\n".join(lines))
        if self.escpos_path:
            with Path(self.escpos_path).open("ab") as out:
                out.write(to_escpos(lines))


async def run_shell(client: TerminalClient, escpos_path: str | None = None) -> int:
    """The interactive session on stdin/stdout; returns the exit status (0)."""
    return await Shell(client, escpos_path).run()

