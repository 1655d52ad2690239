-- The switch's schema, written once for SQLite and PostgreSQL: schema.py substitutes what differs
-- (the auto-increment primary key, an id column's type, the append-only triggers of audit_log).
-- Money: BIGINT minor units. Timestamps: TEXT ISO-8601 UTC with milliseconds. Booleans: INTEGER 0/1.

CREATE TABLE IF NOT EXISTS agents (
    agent_id    TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    daily_limit BIGINT,                         -- minor units; NULL = no limit
    blocked     INTEGER NOT NULL DEFAULT 0,
    created_at  TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS terminals (
    terminal_id TEXT PRIMARY KEY,
    agent_id    TEXT NOT NULL REFERENCES agents (agent_id),
    mac_key     TEXT NOT NULL,                  -- sealed: v1:<master key id>:<AES-GCM> (switch/ledger/vault.py)
    blocked     INTEGER NOT NULL DEFAULT 0,
    created_at  TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS terminals_agent ON terminals (agent_id);

CREATE TABLE IF NOT EXISTS accounts (
    account_id TEXT PRIMARY KEY,                -- agent:<ID> | bank:<ID> | switch:topups | switch:commission
    kind       TEXT NOT NULL,                   -- agent | bank | switch
    balance    BIGINT NOT NULL DEFAULT 0,
    held       BIGINT NOT NULL DEFAULT 0,
    CHECK (held >= 0),
    CHECK (kind <> 'agent' OR balance - held >= 0)
);

CREATE TABLE IF NOT EXISTS entries (
    entry_id      {{identity}},
    kind          TEXT NOT NULL,                -- topup | debit | credit_back | commission | ...
    ref           TEXT NOT NULL,
    agent_id      TEXT,
    txn_id        BIGINT,
    business_date TEXT,
    memo          TEXT,
    created_at    TEXT NOT NULL,
    UNIQUE (kind, ref)
);
CREATE INDEX IF NOT EXISTS entries_agent ON entries (agent_id, entry_id);
CREATE INDEX IF NOT EXISTS entries_date ON entries (business_date, kind);
CREATE INDEX IF NOT EXISTS entries_txn ON entries (txn_id);

CREATE TABLE IF NOT EXISTS postings (
    posting_id {{identity}},
    entry_id   BIGINT NOT NULL REFERENCES entries (entry_id),
    account_id TEXT NOT NULL REFERENCES accounts (account_id),
    amount     BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS postings_account ON postings (account_id, posting_id);
CREATE INDEX IF NOT EXISTS postings_entry ON postings (entry_id);

CREATE TABLE IF NOT EXISTS holds (
    txn_id        BIGINT PRIMARY KEY,
    agent_id      TEXT NOT NULL,
    amount        BIGINT NOT NULL,
    business_date TEXT NOT NULL,
    state         TEXT NOT NULL,                -- held | debited | released | credited_back
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS holds_agent_state ON holds (agent_id, state);
-- Only the holds still held (payments in flight): the outstanding-holds gauge, read every 5 s, and an
-- agent's held holds are found without scanning every hold ever placed (a million holds: a 60 ms
-- stall of the event loop on SQLite). On an existing database it is built once, at the next start.
CREATE INDEX IF NOT EXISTS holds_held ON holds (agent_id, amount) WHERE state = 'held';

CREATE TABLE IF NOT EXISTS daily_usage (
    agent_id      TEXT,
    business_date TEXT,
    used          BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (agent_id, business_date)
);

CREATE TABLE IF NOT EXISTS txns (
    txn_id          {{identity}},
    kind            TEXT NOT NULL,              -- inquiry | payment | balance | status | reversal
    terminal_id     TEXT NOT NULL,
    agent_id        TEXT,
    mti             TEXT NOT NULL,
    stan            TEXT NOT NULL,
    f7              TEXT NOT NULL,
    proc_code       TEXT,
    product         TEXT,
    customer        TEXT,
    amount          BIGINT,
    request_hash    TEXT NOT NULL,
    state           TEXT NOT NULL,
    rc              TEXT,
    bank_id         TEXT,
    bank_stan       TEXT,
    rrn             TEXT,
    business_date   TEXT,
    original_txn_id BIGINT,
    request         TEXT,                       -- json
    response        TEXT,                       -- json
    bank_request    TEXT,                       -- json: the 0200 as sent to the bank (reversals name it)
    bank_response   TEXT,                       -- json
    flagged         TEXT,
    node_id         TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    UNIQUE (terminal_id, stan, f7, mti)
);
CREATE INDEX IF NOT EXISTS txns_bank_date_state ON txns (bank_id, business_date, state);
CREATE INDEX IF NOT EXISTS txns_rrn ON txns (rrn);
CREATE INDEX IF NOT EXISTS txns_product_customer ON txns (product, customer);
CREATE INDEX IF NOT EXISTS txns_state ON txns (state);
CREATE INDEX IF NOT EXISTS txns_original ON txns (original_txn_id);

CREATE TABLE IF NOT EXISTS last_inquiry (
    product    TEXT,
    customer   TEXT,
    txn_id     BIGINT NOT NULL,
    bank_id    TEXT,
    amount     BIGINT,
    periods    TEXT,                            -- comma list
    field48    TEXT,
    created_at TEXT NOT NULL,
    PRIMARY KEY (product, customer)
);

CREATE TABLE IF NOT EXISTS paid_bills (
    product  TEXT,
    customer TEXT,
    period   TEXT,                              -- '' for non-taglis
    txn_id   BIGINT NOT NULL,
    PRIMARY KEY (product, customer, period)
);

CREATE TABLE IF NOT EXISTS saf (
    saf_id     {{identity}},
    txn_id     BIGINT NOT NULL,
    bank_id    TEXT NOT NULL,
    kind       TEXT NOT NULL,                   -- reversal | advice
    message    TEXT NOT NULL,                   -- json fields
    state      TEXT NOT NULL,                   -- pending | done
    attempts   INTEGER NOT NULL DEFAULT 0,
    next_at    TEXT NOT NULL,
    result_rc  TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (txn_id, kind)
);
CREATE INDEX IF NOT EXISTS saf_due ON saf (state, bank_id, next_at);

-- The bank's answer (0410 / 0230) to a queued reversal or advice, MACs redacted, for the message trail.
CREATE TABLE IF NOT EXISTS saf_answers (
    saf_id     BIGINT PRIMARY KEY,
    message    TEXT NOT NULL,                   -- json fields
    created_at TEXT NOT NULL
);

-- who may send an item's current attempt, and until when (several nodes share the queue)
CREATE TABLE IF NOT EXISTS saf_leases (
    saf_id  {{id}} PRIMARY KEY,
    node_id TEXT NOT NULL,
    until   TEXT NOT NULL
);

-- which node holds the one connection of a bank configured one_connection = true
CREATE TABLE IF NOT EXISTS bank_link_leases (
    bank_id TEXT PRIMARY KEY,
    node_id TEXT NOT NULL,
    until   TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS counters (
    name  TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS business_days (
    business_date TEXT PRIMARY KEY,             -- YYYY-MM-DD
    state         TEXT NOT NULL,                -- open | closed
    opened_at     TEXT NOT NULL,
    closed_at     TEXT
);

CREATE TABLE IF NOT EXISTS settlements (
    business_date  TEXT,
    bank_id        TEXT,
    credits_count  BIGINT,
    credits_amount BIGINT,
    debits_count   BIGINT,
    debits_amount  BIGINT,
    net            TEXT,
    rc             TEXT,
    state          TEXT NOT NULL,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL,
    PRIMARY KEY (business_date, bank_id)
);

CREATE TABLE IF NOT EXISTS admin_commands (
    command_id {{identity}},
    command    TEXT NOT NULL,
    args       TEXT NOT NULL,
    state      TEXT NOT NULL,                   -- new | taken | done | failed
    result     TEXT,
    node_id    TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS admin_commands_state ON admin_commands (state, command_id);

CREATE TABLE IF NOT EXISTS nodes (
    node_id      TEXT PRIMARY KEY,
    heartbeat_at TEXT NOT NULL,
    started_at   TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS ops_flags (
    flag_id    {{identity}},
    txn_id     BIGINT,
    kind       TEXT NOT NULL,
    detail     TEXT,
    created_at TEXT NOT NULL
);

-- The audit trail (switch/ledger/audit.py): append-only, never holds a secret.
CREATE TABLE IF NOT EXISTS audit_log (
    audit_id     {{identity}},
    at           TEXT NOT NULL,                 -- UTC
    actor        TEXT NOT NULL,                 -- OS user, --operator, or the console's user
    source       TEXT NOT NULL,                 -- cli | console | switch
    action       TEXT NOT NULL,                 -- agent.topup | terminal.rekey | cutover | ...
    subject      TEXT NOT NULL,                 -- agent id, terminal id, business date, ...
    before_state TEXT,                          -- json
    after_state  TEXT                           -- json
);
CREATE INDEX IF NOT EXISTS audit_log_at ON audit_log (at, audit_id);
{{audit_append_only}}

-- Which master key the terminal keys are sealed under (switch/ledger/keyring.py): its id, never the key.
CREATE TABLE IF NOT EXISTS key_meta (
    name       TEXT PRIMARY KEY,                -- master_key_id
    value      TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

-- The back-office console (switch/console/): its users, their sessions, its signing secret, and top-ups
-- waiting for a second operator's approval (four eyes).
CREATE TABLE IF NOT EXISTS console_users (
    name          TEXT PRIMARY KEY,
    role          TEXT NOT NULL,                -- viewer | operator | admin
    password_hash TEXT NOT NULL,                -- argon2id, never the password
    failed_logins INTEGER NOT NULL DEFAULT 0,   -- consecutive, reset by a good login
    locked_until  TEXT,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS console_sessions (
    session_hash TEXT PRIMARY KEY,              -- sha256 of the cookie's session id (the id itself is not kept)
    user_name    TEXT NOT NULL,
    csrf_token   TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    last_seen_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS console_sessions_user ON console_sessions (user_name);

CREATE TABLE IF NOT EXISTS console_secrets (
    name       TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    created_at TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS topup_requests (
    request_id {{identity}},
    agent_id   TEXT NOT NULL,
    amount     BIGINT NOT NULL,                 -- minor units, whole rupiah
    bank_ref   TEXT NOT NULL,                   -- becomes the topup entry's ref on approval
    state      TEXT NOT NULL,                   -- pending | approved | rejected
    entered_by TEXT NOT NULL,
    entered_at TEXT NOT NULL,
    decided_by TEXT,
    decided_at TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS topup_requests_live_ref ON topup_requests (bank_ref) WHERE state <> 'rejected';
CREATE INDEX IF NOT EXISTS topup_requests_state ON topup_requests (state, request_id);
