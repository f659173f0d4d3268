-- 0009 campaigns: the contacts outbound campaigns call, with the leases
-- that let several server instances share one database without dialling a
-- contact twice, and the do-not-call list (SQLite).
--
-- Keep this file and migrations/postgres/0009_campaigns.sql in step (see 0002
-- for the conventions: times BIGINT epoch ms).

CREATE TABLE campaign_contacts (
    id          INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    -- the campaign's name, from the configuration
    campaign    TEXT   NOT NULL,
    -- normalised (src/phone.rs)
    number      TEXT   NOT NULL,
    customer_id BIGINT,
    -- the ticket a follow-up is about, if any
    ticket      TEXT,
    -- one contact per campaign and this key (the ticket, or the number):
    -- enrolling again is a no-op
    dedupe      TEXT   NOT NULL,
    -- its place in line (a callback: when the customer called)
    since_at    BIGINT NOT NULL,
    -- not dialled before this
    due_at      BIGINT NOT NULL,
    attempts    BIGINT NOT NULL DEFAULT 0,
    -- waiting, dialling (leased to an instance), reached, gave_up, closed
    state       TEXT   NOT NULL DEFAULT 'waiting'
        CHECK (state IN ('waiting', 'dialling', 'reached', 'gave_up', 'closed')),
    -- the last attempt's outcome (src/campaign.rs Outcome), or why closed
    outcome     TEXT,
    -- while dialling: which instance holds it, and until when; a lease
    -- that runs out (the instance died) makes the contact claimable again
    lease_owner TEXT,
    lease_until BIGINT,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    UNIQUE (campaign, dedupe)
);
-- The dialer's question: who is due in this campaign, in line order.
CREATE INDEX campaign_contacts_due_idx ON campaign_contacts (campaign, state, due_at);

-- Numbers nobody may call, whatever the campaign.
CREATE TABLE do_not_call (
    -- normalised
    number   TEXT   NOT NULL PRIMARY KEY,
    reason   TEXT   NOT NULL DEFAULT '',
    added_at BIGINT NOT NULL
);
