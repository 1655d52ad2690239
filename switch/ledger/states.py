"""The states of a transaction (the `txns.state` column) and the moves allowed between them.

`txns.set_state_if` refuses a move that is not in `TRANSITIONS`, so a new code path cannot put a
transaction into a state its outcome does not allow (e.g. an approved payment back to `sent`).
"""
from __future__ import annotations

from enum import StrEnum


class TxnState(StrEnum):
    RECEIVED = "received"                  # recorded (idempotency), nothing moved yet
    SENT = "sent"                          # hold on disk, payment asked of the bank
    DONE = "done"                          # a non-money request answered (inquiry, balance, status, 0400)
    DECLINED = "declined"                  # refused here or by the bank; any hold released
    FAILED = "failed"                      # an unexpected fault before anything moved (96)
    APPROVED = "approved"                  # the bank approved: debited
    REVERSING = "reversing"                # unanswered payment: hold kept, reversal queued
    ADVISING = "advising"                  # unanswered prepaid purchase: hold kept, advice queued
    REVERSAL_PENDING = "reversal_pending"  # approved, then reversed by the terminal: 0400 queued
    REVERSED = "reversed"                  # the bank reversed it (0410 00): money given back
    VOID = "void"                          # the bank never had it (0410 25): money given back


S = TxnState
TRANSITIONS: dict[TxnState, frozenset[TxnState]] = {
    S.RECEIVED: frozenset({S.SENT, S.DONE, S.DECLINED, S.FAILED}),
    S.SENT: frozenset({S.APPROVED, S.DECLINED, S.REVERSING, S.ADVISING}),
    S.REVERSING: frozenset({S.REVERSED, S.VOID, S.APPROVED}),          # refused reversal: it stands
    S.REVERSAL_PENDING: frozenset({S.REVERSED, S.VOID, S.APPROVED}),
    S.ADVISING: frozenset({S.APPROVED, S.DECLINED}),
    S.APPROVED: frozenset({S.REVERSAL_PENDING}),
    S.DONE: frozenset(),
    S.DECLINED: frozenset(),
    S.FAILED: frozenset(),
    S.REVERSED: frozenset(),
    S.VOID: frozenset(),
}

# Groups the flows, recovery and settlement read.
UNFINISHED = (S.RECEIVED, S.SENT)                                   # what a crash can leave (recovery)
FOLLOW_UP_QUEUED = (S.REVERSING, S.ADVISING)                        # the bank did not answer
PENDING = (S.RECEIVED, S.SENT, S.REVERSING, S.ADVISING, S.REVERSAL_PENDING)  # outcome not final (68)
REVERSED_ALREADY = (S.REVERSING, S.REVERSAL_PENDING, S.REVERSED, S.VOID, S.DECLINED)
GIVEN_BACK = (S.REVERSED, S.VOID)
BANK_APPROVED = (S.APPROVED, S.REVERSED, S.REVERSAL_PENDING)        # settlement credits (74/86)
BANK_REVERSED = (S.REVERSED,)                                       # settlement debits (76/88)
STANDING = S.APPROVED                                               # earns the agent its commission


class IllegalTransition(ValueError):
    """A state change the table does not allow: a programming error, never a business outcome."""


def check_transition(expected: tuple[TxnState, ...], target: TxnState) -> None:
    """Raises IllegalTransition unless every state in `expected` may move to `target`."""
    for current in expected:
        if TxnState(target) not in TRANSITIONS[TxnState(current)]:
            raise IllegalTransition(f"transaction state {current} cannot become {target}")
