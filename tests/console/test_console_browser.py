"""The back-office console in a real browser (Debian's chromium under Playwright) against the real
switch, bank simulator and terminal simulator as processes on one database."""
from __future__ import annotations

import re
import signal
import time

from tests.console.desk import AGENT, PASSWORDS, TERMINAL, fill_login, login, screenshot

MASKED = re.compile(r"^\d{4}\*+\d{2}$")


def test_a_user_logs_in_sees_the_dashboard_with_the_days_payments_and_logs_out_for_good(browser, desk):
    context = browser.new_context(viewport={"width": 1360, "height": 900})
    page = context.new_page()
    try:
        page.goto(desk.url + "/agents")
        assert page.url.startswith(desk.url + "/login")
        screenshot(page, "01-login")
        fill_login(page, "op1", PASSWORDS["op1"])
        assert page.url == desk.url + "/agents"          # back where the user was going
        page.goto(desk.url + "/")
        assert int(page.locator("#total-approved").inner_text()) >= 2
        assert "BANKA" in page.locator("#links").inner_text() and "up" in page.locator("#links").inner_text()
        screenshot(page, "02-dashboard")
        cookie = next(c for c in context.cookies() if c["name"] == "ppob_session")
        assert cookie["httpOnly"] and cookie["secure"] and cookie["sameSite"] == "Strict"
        page.click("header button:has-text('Log out')")
        assert page.url.startswith(desk.url + "/login")
        # the old cookie is worth nothing after the logout: the session is gone from the database
        context.add_cookies([cookie])
        page.goto(desk.url + "/")
        assert page.url.startswith(desk.url + "/login")
    finally:
        context.close()


def test_a_payment_made_through_the_switch_is_found_by_customer_and_its_trail_and_struk_are_shown(as_user, desk):
    page = as_user("viewer")
    customer = desk.customers["postpaid"]
    page.goto(desk.url + "/txns")
    page.fill("#f-customer", customer)
    page.click("form.search button")
    rows = page.locator("#results tbody tr")
    assert "payment" in rows.all_inner_texts()[0] and "00" in rows.all_inner_texts()[0]
    screenshot(page, "03-transactions")
    rows.first.locator("a").click()
    trail = page.locator("#trail").inner_text()
    for leg in ("terminal → switch", "switch → bank BANKA", "bank BANKA → switch", "switch → terminal"):
        assert leg in trail
    assert customer not in trail and re.search(r"5212\*+\d\d", trail)   # masked as in the logs
    assert "[redacted]" in trail                      # the MAC (field 64)
    # the struk is the one the terminal printed, line for line
    printed = [line.rstrip() for line in desk.receipts[customer].splitlines()]
    shown = page.locator("#receipt").inner_text().splitlines()
    assert shown[0] == printed[0] == "STRUK PEMBAYARAN TAGIHAN LISTRIK"
    body = [line for line in shown if line.split(":")[0].strip() in ("NAMA", "TOTAL BAYAR", "RRN", "STAN")]
    assert body and all(line in printed for line in body)
    screenshot(page, "04-transaction-trail")
    # and by RRN it is the same one
    rrn = page.locator("#rrn").inner_text()
    page.goto(f"{desk.url}/txns?rrn={rrn}")
    assert page.locator("#results tbody tr").count() >= 1


def test_a_topup_needs_a_second_operator_and_the_one_who_entered_it_cannot_approve_it(as_user, desk):
    before = desk.balance()
    first, second = as_user("op1"), as_user("op2")
    first.goto(desk.url + "/topups")
    first.fill("#f-agent_id", AGENT)
    first.fill("#f-amount", "250000")
    first.fill("#f-bank_ref", "BCA-TRF-7781")
    first.click("#enter-topup button")
    assert "another operator must approve" in first.locator(".flash").inner_text()
    row = first.locator("#topups tr", has_text="BCA-TRF-7781")
    assert row.locator(".state").inner_text() == "pending"
    row.locator("button:has-text('Approve')").click()
    assert "another operator" in first.locator("#topup-error").inner_text()
    assert desk.balance() == before                    # nothing moved
    second.goto(desk.url + "/topups")
    screenshot(second, "05-topups")
    second.locator("#topups tr", has_text="BCA-TRF-7781").locator("button:has-text('Approve')").click()
    assert "approved" in second.locator(".flash").inner_text()
    assert desk.balance() == before + 250_000
    assert second.locator("#topups tr", has_text="BCA-TRF-7781").locator(".state").inner_text() == "approved"
    # the same bank reference cannot be entered again
    second.fill("#f-agent_id", AGENT)
    second.fill("#f-amount", "250000")
    second.fill("#f-bank_ref", "BCA-TRF-7781")
    second.click("#enter-topup button")
    assert "already applied" in second.locator("[data-field=bank_ref]").inner_text()
    assert desk.balance() == before + 250_000


def test_an_operator_blocks_a_terminal_and_the_terminal_is_answered_58_until_unblocked(as_user, desk):
    page = as_user("op2")
    page.goto(desk.url + "/terminals")
    row = page.locator(f"tr[data-terminal='{TERMINAL}']")
    row.locator("button:has-text('Block')").click()
    assert "blocked" in page.locator(".flash").inner_text()
    assert page.locator(f"tr[data-terminal='{TERMINAL}'] .status").inner_text() == "blocked"
    try:
        refused = desk.terminal("balance")
        assert refused.returncode == 1 and "rc 58" in refused.stderr
    finally:
        page.locator(f"tr[data-terminal='{TERMINAL}']").locator("button:has-text('Unblock')").click()
    assert desk.terminal("balance").returncode == 0
    screenshot(page, "06-terminals")


def test_a_viewer_sees_no_operator_buttons_and_is_refused_an_operator_post(as_user, desk):
    page = as_user("viewer")
    page.goto(desk.url + "/terminals")
    assert page.locator("button:has-text('Block')").count() == 0
    csrf = page.locator("header input[name=csrf]").get_attribute("value")
    answer = page.request.post(f"{desk.url}/terminals/{TERMINAL}/blocked", form={"csrf": csrf, "blocked": "yes"})
    assert answer.status == 403 and "operator role" in answer.text()
    assert desk.terminal("balance").returncode == 0        # still not blocked
    answer = page.request.post(f"{desk.url}/topups", form={"csrf": csrf, "agent_id": AGENT, "amount": "1000",
                                                            "bank_ref": "VIEWER-TRY"})
    assert answer.status == 403
    page.goto(desk.url + "/topups")
    assert "VIEWER-TRY" not in page.content()


def test_a_post_without_the_csrf_token_is_refused_and_changes_nothing(as_user, desk):
    page = as_user("op1")
    for form in ({"blocked": "yes"}, {"blocked": "yes", "csrf": "forged"}):
        answer = page.request.post(f"{desk.url}/terminals/{TERMINAL}/blocked", form=form)
        assert answer.status == 403 and "CSRF" in answer.text()
    assert desk.terminal("balance").returncode == 0
    answer = page.request.post(f"{desk.url}/login", form={"name": "op1", "password": PASSWORDS["op1"]})
    assert answer.status == 403


def test_a_bad_amount_is_named_beside_its_field_and_nothing_is_entered(as_user, desk):
    page = as_user("op1")
    page.goto(desk.url + "/topups")
    page.fill("#f-agent_id", "NO SUCH AGENT")
    page.fill("#f-amount", "100.000,50")
    page.fill("#f-bank_ref", "BCA-BAD-1")
    page.click("#enter-topup button")
    assert "whole rupiah" in page.locator("[data-field=amount]").inner_text()
    assert "without spaces" in page.locator("[data-field=agent_id]").inner_text()
    assert page.locator("#f-amount").input_value() == "100.000,50"   # what was typed stays to be corrected
    assert "BCA-BAD-1" not in page.locator("#topups").inner_text()
    screenshot(page, "07-form-errors")
    page.fill("#f-agent_id", "AGT999")
    page.fill("#f-amount", "5000")
    page.click("#enter-topup button")
    assert "no agent AGT999" in page.locator("[data-field=agent_id]").inner_text()


def test_rekey_shows_the_new_key_once_and_the_old_key_stops_working(as_user, desk):
    page = as_user("op1")
    page.goto(desk.url + "/terminals")
    page.locator(f"tr[data-terminal='{TERMINAL}']").locator("button:has-text('Rekey')").click()
    new_key = page.locator("#new-key pre").inner_text().strip()
    assert re.fullmatch(r"[0-9A-F]{32}", new_key) and new_key != desk.key.upper()
    old = desk.terminal("balance")
    assert old.returncode == 1 and "rc 63" in old.stderr
    desk.key = new_key
    assert desk.terminal("balance").returncode == 0
    page.goto(desk.url + "/terminals")
    assert new_key not in page.content()                 # shown once only


def test_an_agent_page_shows_deposit_and_statement_and_blocking_it_refuses_its_terminal(as_user, desk):
    page = as_user("op2")
    page.goto(f"{desk.url}/agents")
    screenshot(page, "08-agents")
    page.click(f"#agents a:has-text('{AGENT}')")
    ledger = int(page.locator("#ledger").inner_text().replace("Rp", "").replace(".", "").strip())
    assert ledger == desk.balance()
    statement = page.locator("#statement").inner_text()
    assert "topup" in statement and "payment" in statement
    screenshot(page, "09-agent")
    page.click("button:has-text('Block agent')")
    assert page.locator("#agent-status").inner_text() == "blocked"
    try:
        refused = desk.terminal("balance")
        assert refused.returncode == 1 and "rc 58" in refused.stderr
    finally:
        page.click("button:has-text('Unblock agent')")
    assert page.locator("#agent-status").inner_text() == "active"


def _attempts(page, url: str) -> int:
    page.goto(url + "/queue")
    return int(page.locator("#queue tbody tr[data-saf] td").nth(8).inner_text())


def _until(check, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.3)
    return False


def test_a_reversal_waiting_for_a_silent_bank_is_retried_now_and_its_answer_joins_the_trail(as_user, desk):
    page = as_user("op1")
    customer = desk.customers["postpaid_arrears"]
    assert desk.terminal("pay", "PLNPST", customer).returncode == 0
    page.goto(f"{desk.url}/txns?customer={customer}")
    payment = page.locator("#results tbody tr", has_text="payment")
    stan, txn_id = payment.locator("td").nth(4).inner_text(), payment.locator("td").nth(0).inner_text()
    desk.bank.send_signal(signal.SIGSTOP)          # connected, but it answers nothing
    try:
        assert desk.terminal("reverse", stan).returncode == 0       # the switch takes it and queues it
        assert _until(lambda: _attempts(page, desk.url) >= 1)
        before = _attempts(page, desk.url)
        row = page.locator("#queue tbody tr[data-saf]")
        assert "reversal" in row.inner_text() and txn_id in row.inner_text()
        row.locator("button:has-text('Retry now')").click()
        assert "due now" in page.locator(".flash").inner_text()
        assert _until(lambda: _attempts(page, desk.url) > before)   # sent again at once, not in 60 s
        screenshot(page, "10-queue")
    finally:
        desk.bank.send_signal(signal.SIGCONT)
    assert _until(lambda: page.goto(desk.url + "/queue") and "nothing pending" in page.locator("#queue").inner_text())
    page.goto(f"{desk.url}/txns/{txn_id}")
    trail = page.locator("#trail").inner_text()
    assert "0400 · switch → bank BANKA (reversal" in trail and "0410 · bank BANKA → switch (answer to the reversal)" in trail
    assert "reversed" in page.locator("h1").inner_text()


def test_a_settled_day_shows_its_totals_and_files_and_the_banks_file_reconciles_clean(as_user, desk):
    cutover = desk.switch("cutover")
    assert cutover.returncode == 0, cutover.stderr
    closed = cutover.stdout.strip()
    bank_ctl = desk.folder / "bank" / f"BANKA_{closed.replace('-', '')}.CTL"
    assert _until(lambda: bank_ctl.is_file() and f"BANKA|{closed}|" in bank_ctl.read_text())
    settled = desk.switch("settle", "--date", closed)
    assert settled.returncode == 0, settled.stdout + settled.stderr
    page = as_user("op2")
    page.goto(f"{desk.url}/settlement?bank=BANKA&date={closed}")
    row = page.locator("#settlements tbody tr", has_text=closed)
    assert "BANKA" in row.inner_text() and "settled" in row.inner_text()
    link = row.locator("a", has_text=".RCN")
    downloaded = page.request.get(desk.url + link.get_attribute("href"))
    assert downloaded.status == 200 and downloaded.body() == (desk.folder / "settle" / link.inner_text()).read_bytes()
    page.select_option("#recon select[name=bank]", "BANKA")
    page.fill("#recon input[name=date]", closed)
    page.set_input_files("#recon input[name=rcn]", str(bank_ctl.with_suffix(".RCN")))
    page.set_input_files("#recon input[name=ctl]", str(bank_ctl))
    page.click("#recon button")
    result = page.locator("#recon-result").inner_text()
    assert "everything matches" in result and "control:" not in result
    screenshot(page, "11-settlement")
    # a file that is not an RCN is named beside its field, and nothing is reconciled
    page.set_input_files("#recon input[name=rcn]", files=[{"name": "x.RCN", "mimeType": "text/plain",
                                                           "buffer": b"not a settlement file\n"}])
    page.fill("#recon input[name=date]", closed)
    page.click("#recon button")
    assert page.locator("[data-field=rcn]").count() == 1 and page.locator("#recon-result").count() == 0


def test_the_audit_page_shows_who_did_what_with_before_and_after(as_user, desk):
    page = as_user("boss")
    page.goto(desk.url + "/audit")
    audit = page.locator("#audit").inner_text()
    for action in ("topup.enter", "agent.topup", "terminal.block", "terminal.rekey", "agent.block", "login",
                   "saf.retry-now", "recon", "settle", "user.add"):
        assert action in audit
    approval = page.locator("#audit tbody tr", has_text="agent.topup").filter(has_text="op2").first.inner_text()
    assert "console" in approval and '"entered_by": "op1"' in approval
    screenshot(page, "12-audit")


def test_repeated_wrong_passwords_lock_the_user_and_a_locked_user_cannot_log_in(browser, desk, as_user):
    assert desk.switch("user", "add", "temp", "--role", "viewer", stdin="temporary-secret\n").returncode == 0
    context = browser.new_context()
    page = context.new_page()
    try:
        for _ in range(3):
            login(page, desk.url, "temp", "not the password")
        assert "locked" in page.locator("#login-error").inner_text()
        login(page, desk.url, "temp", "temporary-secret")
        assert "locked" in page.locator("#login-error").inner_text()
        assert page.url.startswith(desk.url + "/login")
        login(page, desk.url, "nobody", "whatever-it-is")
        assert page.locator("#login-error").inner_text() == "wrong name or password"
        login(page, desk.url, "Hunter2Secret", "whatever-it-is")  # a password typed into the name field
    finally:
        context.close()
    audit = as_user("boss")
    audit.goto(desk.url + "/audit")
    trail = audit.locator("#audit").inner_text()
    assert "(no such user)" in trail and "nobody" not in trail and "Hunter2Secret" not in trail
