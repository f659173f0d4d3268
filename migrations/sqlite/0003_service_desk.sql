-- 0003 service_desk: what the REST API needs beyond 0002 (SQLite): users
-- and their sessions, every ticket stage's stamp, optimistic versions, SLA
-- due times and breaches, and the caller's normalised
-- number on calls for the screen pop.
--
-- Keep this file and migrations/postgres/0003_service_desk.sql in step (see
-- 0002 for the conventions).

-- People who sign in: admin, supervisor, agent, qa, and outlet staff (who
-- see their own outlet's tickets only, hence outlet_id).
CREATE TABLE users (
    id            INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    username      TEXT    NOT NULL UNIQUE,
    display_name  TEXT    NOT NULL DEFAULT '',
    role          TEXT    NOT NULL
                  CHECK (role IN ('admin', 'supervisor', 'agent', 'qa', 'outlet')),
    outlet_id     BIGINT  REFERENCES outlets (id),
    -- PHC string (argon2id); never the password.
    password_hash TEXT    NOT NULL,
    active        BIGINT  NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    created_at    BIGINT  NOT NULL,
    -- an outlet user belongs to exactly one outlet; nobody else does.
    CHECK ((role = 'outlet') = (outlet_id IS NOT NULL))
);

-- Signed-in sessions. Only a hash of the token is kept, so a copy of the
-- database does not let anyone sign in.
CREATE TABLE sessions (
    token_hash TEXT   NOT NULL PRIMARY KEY,
    user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_user_idx ON sessions (user_id);

-- Tickets: the optimistic version (the number of stage moves and edits),
-- the owning team of a complaint, and the next due stage and time (derived
-- from the stamps by src/ticket, kept here so breaches can be found by
-- index). due_stage and due_at are NULL together, once closed.
ALTER TABLE tickets ADD COLUMN version BIGINT NOT NULL DEFAULT 0;
-- The kind the ticket was accepted as: a reopening turns it into a
-- complaint, and the stamps replay (src/ticket) from the original kind.
ALTER TABLE tickets ADD COLUMN accepted_kind TEXT NOT NULL DEFAULT 'repair'
    CHECK (accepted_kind IN ('repair', 'installation', 'consultation', 'complaint'));
UPDATE tickets SET accepted_kind = kind;
ALTER TABLE tickets ADD COLUMN team TEXT;
ALTER TABLE tickets ADD COLUMN due_stage TEXT;
ALTER TABLE tickets ADD COLUMN due_at BIGINT;
CREATE INDEX tickets_due_idx ON tickets (due_at) WHERE due_at IS NOT NULL;
CREATE INDEX tickets_outlet_idx ON tickets (outlet_id, created_at DESC);
CREATE INDEX tickets_created_idx ON tickets (created_at DESC, id DESC);

-- Every stage a ticket reached: when, by whom (NULL: the system), to which
-- outlet (and its tier then, which set the completion target), the
-- follow-up score, and why. seq 0 is the acceptance.
CREATE TABLE ticket_stamps (
    ticket_id   BIGINT NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    seq         BIGINT NOT NULL,
    stage       TEXT   NOT NULL
                CHECK (stage IN ('accepted', 'dispatched', 'in_service', 'completed',
                                 'followed_up', 'closed', 'reopened')),
    at          BIGINT NOT NULL,
    user_id     BIGINT REFERENCES users (id),
    outlet_id   BIGINT REFERENCES outlets (id),
    outlet_tier TEXT   CHECK (outlet_tier IN ('city', 'county', 'town')),
    score       BIGINT CHECK (score BETWEEN 1 AND 5),
    reason      TEXT,
    PRIMARY KEY (ticket_id, seq)
);
-- Tickets written before this migration get their acceptance stamp.
INSERT INTO ticket_stamps (ticket_id, seq, stage, at)
    SELECT id, 0, 'accepted', created_at FROM tickets;

-- SLA breaches found so far: one row per missed due time, so each is
-- raised once however often the check runs.
CREATE TABLE ticket_breaches (
    ticket_id   BIGINT NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    -- the stage that was due
    stage       TEXT   NOT NULL,
    due_at      BIGINT NOT NULL,
    detected_at BIGINT NOT NULL,
    PRIMARY KEY (ticket_id, stage, due_at)
);

-- Customers: optimistic version for concurrent edits.
ALTER TABLE customers ADD COLUMN version BIGINT NOT NULL DEFAULT 0;
-- A product's serial is unique within its model (when known), so an import
-- run twice does not add it twice.
CREATE UNIQUE INDEX products_serial_idx ON products (model, serial) WHERE serial <> '';

-- Calls: the caller's number normalised (src/phone.rs), as customer_phones
-- stores it, so the screen pop finds a customer's calls from any format.
ALTER TABLE calls ADD COLUMN caller TEXT NOT NULL DEFAULT '';
UPDATE calls SET caller = from_number;
DROP INDEX calls_from_number_idx;
CREATE INDEX calls_caller_idx ON calls (caller, arrived_at DESC);
