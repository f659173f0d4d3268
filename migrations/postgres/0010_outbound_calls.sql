-- 0010 outbound calls: every attempt a campaign makes is a call record
-- (direction, campaign, contact, attempt number, outcome), and each
-- campaign's run switch, shared by every server instance, and customers on the
-- do-not-call list (PostgreSQL).
--
-- Keep this file and migrations/sqlite/0010_outbound_calls.sql in step (see 0002
-- for the conventions: times BIGINT epoch ms).

-- inbound (a customer called us) or outbound (a campaign called them); for
-- an outbound call from_number is the caller id we presented, to_number
-- and caller the customer's number.
ALTER TABLE calls ADD COLUMN direction TEXT NOT NULL DEFAULT 'inbound';
ALTER TABLE calls ADD COLUMN campaign TEXT;
ALTER TABLE calls ADD COLUMN contact_id BIGINT;
ALTER TABLE calls ADD COLUMN attempt BIGINT;
-- what the attempt came to (src/campaign.rs Outcome)
ALTER TABLE calls ADD COLUMN outcome TEXT;
-- The daily cap's question: attempts per number since the day began.
CREATE INDEX calls_outbound_idx ON calls (direction, caller, arrived_at);
-- A campaign's figures: its attempts in a span of days.
CREATE INDEX calls_campaign_idx ON calls (campaign, arrived_at);
-- Follow-up figures: completions and follow-ups in a span of days.
CREATE INDEX ticket_stamps_stage_at_idx ON ticket_stamps (stage, at);

-- A campaign's switch: running unless a row says paused or stopped.
CREATE TABLE campaign_runs (
    campaign   TEXT   NOT NULL PRIMARY KEY,
    state      TEXT   NOT NULL CHECK (state IN ('running', 'paused', 'stopped')),
    -- who switched it, and when
    changed_by TEXT   NOT NULL,
    changed_at BIGINT NOT NULL
);

-- Customers nobody may call, on any of their numbers (those they have now
-- and any added later).
CREATE TABLE do_not_call_customers (
    customer_id BIGINT NOT NULL PRIMARY KEY REFERENCES customers (id) ON DELETE CASCADE,
    reason      TEXT   NOT NULL DEFAULT '',
    added_at    BIGINT NOT NULL
);
