-- 0001 calls: one row per call and its timeline (PostgreSQL).
--
-- Applied by hotline's own migrator (src/store/migrate.rs) inside one
-- transaction; the migrator records it in schema_migrations. Keep this file
-- and migrations/sqlite/0001_calls.sql in step: same tables, same columns,
-- same types as the `any` driver sees them (times are BIGINT epoch ms,
-- booleans would be BIGINT 0/1, as in the SQLite schema).

CREATE TABLE calls (
    -- hotline's own call id (not the SIP Call-ID, which the carrier chooses).
    id             TEXT    NOT NULL PRIMARY KEY,
    sip_call_id    TEXT    NOT NULL,
    from_number    TEXT    NOT NULL,
    to_number      TEXT    NOT NULL,
    -- the 400 number the caller dialled, as configured.
    service_number TEXT    NOT NULL,
    arrived_at     BIGINT  NOT NULL,
    answered_at    BIGINT,
    ended_at       BIGINT,
    -- every DTMF digit the caller pressed, in order.
    digits         TEXT    NOT NULL DEFAULT '',
    hangup_cause   TEXT,
    hangup_side    TEXT CHECK (hangup_side IN ('caller', 'hotline'))
);

-- Lists of recent calls (API, CLI): newest first, id breaks ties.
CREATE INDEX calls_arrived_at_idx ON calls (arrived_at DESC, id DESC);
-- Screen pop: every earlier call from this number, newest first.
CREATE INDEX calls_from_number_idx ON calls (from_number, arrived_at DESC);

CREATE TABLE call_events (
    call_id TEXT   NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
    -- counts from 1 per call; (call_id, seq) makes a retried insert a no-op.
    seq     BIGINT NOT NULL,
    at      BIGINT NOT NULL,
    kind    TEXT   NOT NULL,
    detail  TEXT   NOT NULL DEFAULT '',
    PRIMARY KEY (call_id, seq)
);
