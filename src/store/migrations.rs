//! The schema, as an ordered list of migrations. Migration `i` (0-based) takes the database from
//! `PRAGMA user_version` = `i` to `i + 1`. Never edit a released migration: append a new one.

/// All migrations, oldest first.
pub(crate) const MIGRATIONS: &[&str] = &[
    // Version 1: the first schema.
    r#"
CREATE TABLE runs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    kind        TEXT NOT NULL CHECK (kind IN ('quick', 'full', 'rollout')),
    started_at  TEXT NOT NULL,
    ended_at    TEXT,
    counts      TEXT NOT NULL DEFAULT '{}',
    outcome     TEXT NOT NULL DEFAULT 'running'
                CHECK (outcome IN ('running', 'succeeded', 'failed', 'held', 'dry-run')),
    error       TEXT
);
CREATE INDEX runs_kind_outcome ON runs (kind, outcome, id);

-- Every EAS partnership the connector has seen.
CREATE TABLE inventory (
    mailbox       TEXT NOT NULL,
    device_id     TEXT NOT NULL COLLATE NOCASE,
    device_type   TEXT NOT NULL,
    device_model  TEXT,
    first_seen    TEXT NOT NULL,
    last_seen     TEXT NOT NULL,
    access_state  TEXT NOT NULL,
    access_reason TEXT NOT NULL,
    PRIMARY KEY (mailbox, device_id)
);
CREATE INDEX inventory_device ON inventory (device_id);

-- The last decision per device (a DeviceId can sync several mailboxes, so the key is the pair).
CREATE TABLE decisions (
    mailbox     TEXT NOT NULL,
    device_id   TEXT NOT NULL COLLATE NOCASE,
    desired     TEXT NOT NULL,
    reason      TEXT NOT NULL,
    explanation TEXT NOT NULL,
    decided_at  TEXT NOT NULL,
    applied_at  TEXT,
    run_id      INTEGER REFERENCES runs (id),
    PRIMARY KEY (mailbox, device_id)
);
CREATE INDEX decisions_device ON decisions (device_id);

-- The list entries the connector added: the only ones it ever removes.
CREATE TABLE owned_entries (
    mailbox    TEXT NOT NULL,
    list       TEXT NOT NULL CHECK (list IN ('allow', 'block')),
    device_id  TEXT NOT NULL COLLATE NOCASE,
    added_at   TEXT NOT NULL,
    run_id     INTEGER REFERENCES runs (id),
    origin     TEXT NOT NULL DEFAULT 'policy' CHECK (origin IN ('policy', 'rollout')),
    PRIMARY KEY (mailbox, list, device_id)
);

-- Every change applied to Exchange.
CREATE TABLE audit (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id     INTEGER REFERENCES runs (id),
    at         TEXT NOT NULL,
    actor      TEXT NOT NULL,
    mailbox    TEXT NOT NULL,
    list       TEXT NOT NULL CHECK (list IN ('allow', 'block')),
    op         TEXT NOT NULL CHECK (op IN ('add', 'remove')),
    device_id  TEXT NOT NULL,
    reason     TEXT NOT NULL,
    result     TEXT NOT NULL CHECK (result IN ('ok', 'failed')),
    error      TEXT
);
CREATE INDEX audit_device ON audit (device_id);

CREATE TABLE watermarks (
    name       TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

-- Crash safety: a change is journaled (pending) before it is sent and marked done after.
CREATE TABLE journal (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id     INTEGER REFERENCES runs (id),
    mailbox    TEXT NOT NULL,
    change     TEXT NOT NULL,
    state      TEXT NOT NULL CHECK (state IN ('pending', 'done')),
    created_at TEXT NOT NULL,
    done_at    TEXT,
    result     TEXT CHECK (result IN ('applied', 'failed', 'reconciled')),
    error      TEXT
);
CREATE INDEX journal_open ON journal (state) WHERE state = 'pending';

-- One notification mail per device owner, not one per sync.
CREATE TABLE notifications (
    mailbox   TEXT NOT NULL,
    device_id TEXT NOT NULL COLLATE NOCASE,
    sent_at   TEXT NOT NULL,
    PRIMARY KEY (mailbox, device_id)
);
"#,
    // Version 2 (crash safety, issue 11): the journal records which phase made a change, and an entry
    // the connector sends is owned from the moment it is journaled (`journal_id` set while the change
    // is unsettled, cleared once Exchange accepted it or a later run found it on the list).
    r#"
ALTER TABLE journal ADD COLUMN origin TEXT NOT NULL DEFAULT 'policy'
    CHECK (origin IN ('policy', 'rollout'));
ALTER TABLE owned_entries ADD COLUMN journal_id INTEGER REFERENCES journal (id);
CREATE INDEX owned_entries_journal ON owned_entries (journal_id) WHERE journal_id IS NOT NULL;
"#,
    // Version 3 (issue 11): who holds the run lease, and the Client Access servers discovered through a primary.
    r#"
-- Who runs against this store now (one row at most). The lock itself is the OS lock on the file
-- `<db>.lock` beside the database, which dies with its process; this row only names the holder.
CREATE TABLE run_lease (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    run_id   INTEGER,
    run_kind TEXT NOT NULL,
    pid      INTEGER NOT NULL,
    host     TEXT NOT NULL,
    program  TEXT NOT NULL,
    since    TEXT NOT NULL
);

-- The Client Access servers discovered with Get-ExchangeServer through a configured primary, so a
-- fresh process can fail over when that primary is down at start.
CREATE TABLE cas_servers (
    primary_fqdn   TEXT NOT NULL COLLATE NOCASE,
    name           TEXT NOT NULL COLLATE NOCASE,
    fqdn           TEXT NOT NULL,
    connection_uri TEXT NOT NULL,
    discovered_at  TEXT NOT NULL,
    last_used_at   TEXT,
    PRIMARY KEY (primary_fqdn, name)
);
"#,
    // Version 4 (issue 14): the status page's device table names users and phones, and a decision's
    // reason is kept as a code with parameters (JSON of `policy::ReasonCode`) for translated texts.
    r#"
ALTER TABLE inventory ADD COLUMN user_display_name TEXT;
ALTER TABLE inventory ADD COLUMN device_os TEXT;
ALTER TABLE decisions ADD COLUMN reason_code TEXT;
"#,
    // Version 5 (issue 13): the EAS protocol a client speaks (`ClientVersion`), and whether Exchange
    // Online refuses it (below 16.1 since 1 March 2026; set only for a hosted organisation).
    r#"
ALTER TABLE inventory ADD COLUMN client_version TEXT;
ALTER TABLE inventory ADD COLUMN eas_protocol_refused INTEGER NOT NULL DEFAULT 0;
"#,
    // Version 6: the one mailbox a "Sync this user now" run covered (NULL: everyone), so such a run
    // is neither the last quick sync in status nor the start of the next quick sync's interval.
    r#"
ALTER TABLE runs ADD COLUMN mailbox TEXT;
"#,
    // Version 7 (issue 16): a full sync sees every partnership. Rather than rewrite every row's
    // `last_seen` (50,000 rows, most of a converged run's writes), it moves one mark: a row with
    // `in_sweep = 1` was seen by the last full sync, and was last seen at the later of its own
    // `last_seen` and the mark's `seen_at`. A row the next full sync misses leaves the sweep with that
    // time written down.
    r#"
CREATE TABLE inventory_sweep (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    seen_at TEXT NOT NULL
);
ALTER TABLE inventory ADD COLUMN in_sweep INTEGER NOT NULL DEFAULT 0;
"#,
];
