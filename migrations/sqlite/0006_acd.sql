-- 0006 acd: what the ACD (src/acd) records: on each call its queue, the
-- agent who took it and the times the reports add up; every agent state
-- change in agent_state_log; and on each user the skills and queues they
-- log in with (SQLite).
--
-- Keep this file and migrations/postgres/0006_acd.sql in step (see 0002 for
-- the conventions: times BIGINT epoch ms, durations BIGINT ms).
--
-- No foreign keys and no CHECKs on what the engine writes here (agent ids,
-- state names, dispositions): these rows come through the record writer,
-- which retries a failing op for ever (src/rt/record_writer.rs), so a
-- constraint the engine's data could miss would stop every record behind
-- it. Users are never deleted, so agent ids stay meaningful without one.

-- The latest queue the call joined (a transfer to a queue replaces it).
ALTER TABLE calls ADD COLUMN queue TEXT;
ALTER TABLE calls ADD COLUMN queued_at BIGINT;
-- The first agent who answered (users.id); later agents come with transfers.
ALTER TABLE calls ADD COLUMN agent_id BIGINT;
ALTER TABLE calls ADD COLUMN agent_answered_at BIGINT;
-- Time in the queue before that agent answered.
ALTER TABLE calls ADD COLUMN wait_ms BIGINT;
-- The call's totals once the agent part is over (the latest report wins).
ALTER TABLE calls ADD COLUMN talk_ms BIGINT;
ALTER TABLE calls ADD COLUMN hold_ms BIGINT;
ALTER TABLE calls ADD COLUMN transfers BIGINT NOT NULL DEFAULT 0;
-- After-call work (the latest wrap-up wins).
ALTER TABLE calls ADD COLUMN wrap_up_ms BIGINT;
ALTER TABLE calls ADD COLUMN disposition TEXT;
ALTER TABLE calls ADD COLUMN wrap_up_notes TEXT;

-- Per-agent reports: an agent's calls, newest first.
CREATE INDEX calls_agent_idx ON calls (agent_id, arrived_at DESC);

-- Every agent state change, for occupancy and not-ready reports.
CREATE TABLE agent_state_log (
    -- unique per change, given by the engine: a retried insert is a no-op.
    id         TEXT   NOT NULL PRIMARY KEY,
    -- users.id
    agent_id   BIGINT NOT NULL,
    -- state names (src/acd: logged_out, ready, not_ready, ringing, ...).
    from_state TEXT   NOT NULL,
    to_state   TEXT   NOT NULL,
    -- the not-ready reason code, when to_state is not_ready.
    reason     TEXT,
    -- what caused it: "agent", "call ended", "ring timeout", ...
    why        TEXT   NOT NULL,
    at         BIGINT NOT NULL
);
-- One agent's day, in order.
CREATE INDEX agent_state_log_agent_idx ON agent_state_log (agent_id, at);

-- What an agent logs in with (src/store/agents.rs has the text forms):
-- skills canonical as repair=7,complaint=3 (names of a-z, 0-9, '_', '-';
-- levels 1 to 10; sorted by name); queues comma-separated, empty meaning
-- every configured queue. Checked by the store before it writes them.
ALTER TABLE users ADD COLUMN skills TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN queues TEXT NOT NULL DEFAULT '';
