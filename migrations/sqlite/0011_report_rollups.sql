-- 0011 report_rollups: the managers' reports (src/store/reports.rs) read
-- closed hours and days from these tables instead of counting every call
-- again, so a month of millions of calls answers in a few thousand rows
-- (SQLite).
--
-- Keep this file and migrations/postgres/0011_report_rollups.sql in step
-- (see 0002 for the conventions: times BIGINT epoch ms, durations BIGINT
-- ms). Only the triggers differ: PostgreSQL's are plpgsql functions that
-- also take the table lock the rollup's writer waits for.
--
-- The invariant: a rollup row equals what counting the records gives now.
-- A row is written only for a span that is over (its end before the time
-- it is written), from the records as they are then; every later write to
-- a record it was counted from deletes it (the triggers below), and the
-- next report counts that span again. So a late record (a wrap-up after
-- the hour, a retried write after a database outage) is never lost.

-- The terms the rollups were counted with. Different terms (another time
-- zone, service level threshold or FCR window) make every rollup row
-- wrong; the store deletes them all and writes the new terms.
CREATE TABLE report_settings (
    id               BIGINT NOT NULL PRIMARY KEY CHECK (id = 1),
    -- IANA name: the local hours and days the spans below are
    time_zone        TEXT   NOT NULL,
    service_level_ms BIGINT NOT NULL,
    fcr_days         BIGINT NOT NULL
);

-- Per local hour [hour_start, hour_end) and queue: the call figures of
-- the calls that arrived in it (src/store/reports.rs CallFigures). Queue
-- '' holds the calls that joined no queue (and outbound calls without
-- one); its row is written for every hour counted, even an empty one, so
-- it marks the hour as counted.
CREATE TABLE report_hours (
    hour_start         BIGINT NOT NULL,
    hour_end           BIGINT NOT NULL,
    queue              TEXT   NOT NULL,
    inbound            BIGINT NOT NULL,
    offered            BIGINT NOT NULL,
    answered           BIGINT NOT NULL,
    answered_in_time   BIGINT NOT NULL,
    answer_wait_ms     BIGINT NOT NULL,
    longest_wait_ms    BIGINT NOT NULL,
    abandoned          BIGINT NOT NULL,
    abandon_wait_ms    BIGINT NOT NULL,
    callbacks          BIGINT NOT NULL,
    left_queue         BIGINT NOT NULL,
    waiting            BIGINT NOT NULL,
    handled            BIGINT NOT NULL,
    talk_ms            BIGINT NOT NULL,
    hold_ms            BIGINT NOT NULL,
    wrap_up_ms         BIGINT NOT NULL,
    transferred        BIGINT NOT NULL,
    outbound           BIGINT NOT NULL,
    outbound_answered  BIGINT NOT NULL,
    -- first-call resolution: the calls it is asked of, and of those the
    -- ones called again within fcr_days; NULL until every call's window
    -- has passed (then it can no longer change).
    fcr_calls          BIGINT NOT NULL,
    fcr_repeated       BIGINT,
    PRIMARY KEY (hour_start, queue)
);

-- Local days [day_start, day_end) whose agent figures are counted; the
-- two tables after it hang from it and go with it.
CREATE TABLE report_days (
    day_start BIGINT NOT NULL PRIMARY KEY,
    day_end   BIGINT NOT NULL
);

-- Per day and agent (users.id): the calls credited to them (calls.agent_id).
CREATE TABLE report_agent_days (
    day_start  BIGINT NOT NULL REFERENCES report_days (day_start) ON DELETE CASCADE,
    agent_id   BIGINT NOT NULL,
    inbound    BIGINT NOT NULL,
    outbound   BIGINT NOT NULL,
    handled    BIGINT NOT NULL,
    talk_ms    BIGINT NOT NULL,
    hold_ms    BIGINT NOT NULL,
    wrap_up_ms BIGINT NOT NULL,
    PRIMARY KEY (day_start, agent_id)
);

-- Per day, agent, state and not-ready reason ('' for none): the time spent
-- in it within the day (logged_out is not kept).
CREATE TABLE report_agent_states (
    day_start BIGINT NOT NULL REFERENCES report_days (day_start) ON DELETE CASCADE,
    agent_id  BIGINT NOT NULL,
    state     TEXT   NOT NULL,
    reason    TEXT   NOT NULL,
    ms        BIGINT NOT NULL,
    PRIMARY KEY (day_start, agent_id, state, reason)
);

-- Counting a day's agent states reads the day's changes of every agent.
CREATE INDEX agent_state_log_at_idx ON agent_state_log (at);

-- The wallboard reads the day's SLA breaches (newest first) every 10 s.
CREATE INDEX ticket_breaches_detected_at_idx ON ticket_breaches (detected_at);

-- ----- invalidation -----------------------------------------------------
-- A local hour is at most 2 h long and a local day at most 2 days (DST),
-- so `start > at - 7200000` / `- 172800000` bounds each lookup to a few
-- index entries. The FCR window (report_settings.fcr_days) decides which
-- hours a call can be the repeat of: those ending after it minus the window.

-- A new call: its hour and day are counted again; hours whose FCR was
-- settled and that end within the window before it lose their FCR (only
-- a late call can touch one: a settled hour ended a whole window before
-- the rollup was written).
CREATE TRIGGER report_calls_insert AFTER INSERT ON calls BEGIN
    DELETE FROM report_hours
        WHERE hour_start <= new.arrived_at AND hour_start > new.arrived_at - 7200000
          AND hour_end > new.arrived_at;
    UPDATE report_hours SET fcr_repeated = NULL
        WHERE fcr_repeated IS NOT NULL
          AND hour_start <= new.arrived_at
          AND hour_start > new.arrived_at - 7200000
              - (SELECT fcr_days * 86400000 FROM report_settings WHERE id = 1)
          AND hour_end > new.arrived_at
              - (SELECT fcr_days * 86400000 FROM report_settings WHERE id = 1);
    DELETE FROM report_days
        WHERE day_start <= new.arrived_at AND day_start > new.arrived_at - 172800000
          AND day_end > new.arrived_at;
END;

-- A change to anything a report counts. Digits, recordings and notes are
-- left out, so the IVR's and the recorder's many updates cost nothing.
CREATE TRIGGER report_calls_update AFTER UPDATE OF
    direction, arrived_at, caller, queue, queued_at, agent_id, wait_ms, ended_at,
    hangup_side, talk_ms, hold_ms, wrap_up_ms, transfers, outcome ON calls
BEGIN
    DELETE FROM report_hours
        WHERE (hour_start <= old.arrived_at AND hour_start > old.arrived_at - 7200000
               AND hour_end > old.arrived_at)
           OR (hour_start <= new.arrived_at AND hour_start > new.arrived_at - 7200000
               AND hour_end > new.arrived_at);
    DELETE FROM report_days
        WHERE (day_start <= old.arrived_at AND day_start > old.arrived_at - 172800000
               AND day_end > old.arrived_at)
           OR (day_start <= new.arrived_at AND day_start > new.arrived_at - 172800000
               AND day_end > new.arrived_at);
END;

-- A call that moves in time, changes number or direction may stop (or
-- start) being the repeat of earlier calls.
CREATE TRIGGER report_calls_moved AFTER UPDATE OF direction, arrived_at, caller ON calls
WHEN old.direction IS NOT new.direction OR old.arrived_at IS NOT new.arrived_at
     OR old.caller IS NOT new.caller
BEGIN
    UPDATE report_hours SET fcr_repeated = NULL
        WHERE fcr_repeated IS NOT NULL
          AND ((hour_start <= old.arrived_at
                AND hour_start > old.arrived_at - 7200000
                    - (SELECT fcr_days * 86400000 FROM report_settings WHERE id = 1)
                AND hour_end > old.arrived_at
                    - (SELECT fcr_days * 86400000 FROM report_settings WHERE id = 1))
            OR (hour_start <= new.arrived_at
                AND hour_start > new.arrived_at - 7200000
                    - (SELECT fcr_days * 86400000 FROM report_settings WHERE id = 1)
                AND hour_end > new.arrived_at
                    - (SELECT fcr_days * 86400000 FROM report_settings WHERE id = 1)));
END;

CREATE TRIGGER report_calls_delete AFTER DELETE ON calls BEGIN
    DELETE FROM report_hours
        WHERE hour_start <= old.arrived_at AND hour_start > old.arrived_at - 7200000
          AND hour_end > old.arrived_at;
    UPDATE report_hours SET fcr_repeated = NULL
        WHERE fcr_repeated IS NOT NULL
          AND hour_start <= old.arrived_at
          AND hour_start > old.arrived_at - 7200000
              - (SELECT fcr_days * 86400000 FROM report_settings WHERE id = 1)
          AND hour_end > old.arrived_at
              - (SELECT fcr_days * 86400000 FROM report_settings WHERE id = 1);
    DELETE FROM report_days
        WHERE day_start <= old.arrived_at AND day_start > old.arrived_at - 172800000
          AND day_end > old.arrived_at;
END;

-- Leaving the queue (its maximum wait) and asking for a callback decide
-- whether an unanswered call was abandoned.
CREATE TRIGGER report_call_events_insert AFTER INSERT ON call_events
WHEN new.kind IN ('queue-left', 'callback-requested')
BEGIN
    DELETE FROM report_hours
        WHERE hour_start IN (
            SELECT h.hour_start FROM calls c JOIN report_hours h
                ON h.hour_start <= c.arrived_at AND h.hour_start > c.arrived_at - 7200000
               AND h.hour_end > c.arrived_at
            WHERE c.id = new.call_id);
END;

-- An agent's state change at `at` changes their time in every day from
-- there on (the state lasts until the next change). A change made now
-- touches no counted day: those all ended before now.
CREATE TRIGGER report_agent_state_insert AFTER INSERT ON agent_state_log BEGIN
    DELETE FROM report_days WHERE day_end > new.at;
END;

-- A number joining, leaving or moving between customers changes whose
-- calls are repeats of whose: the settled FCR of every hour with a call
-- from any number of the customers involved is counted again.
CREATE TRIGGER report_customer_phones_insert AFTER INSERT ON customer_phones BEGIN
    UPDATE report_hours SET fcr_repeated = NULL
        WHERE fcr_repeated IS NOT NULL AND hour_start IN (
            SELECT h.hour_start FROM calls c JOIN report_hours h
                ON h.hour_start <= c.arrived_at AND h.hour_start > c.arrived_at - 7200000
               AND h.hour_end > c.arrived_at
            WHERE c.direction = 'inbound' AND c.caller IN (
                SELECT phone FROM customer_phones WHERE customer_id = new.customer_id));
END;

CREATE TRIGGER report_customer_phones_delete AFTER DELETE ON customer_phones BEGIN
    UPDATE report_hours SET fcr_repeated = NULL
        WHERE fcr_repeated IS NOT NULL AND hour_start IN (
            SELECT h.hour_start FROM calls c JOIN report_hours h
                ON h.hour_start <= c.arrived_at AND h.hour_start > c.arrived_at - 7200000
               AND h.hour_end > c.arrived_at
            WHERE c.direction = 'inbound' AND (c.caller = old.phone OR c.caller IN (
                SELECT phone FROM customer_phones WHERE customer_id = old.customer_id)));
END;

CREATE TRIGGER report_customer_phones_update AFTER UPDATE ON customer_phones BEGIN
    UPDATE report_hours SET fcr_repeated = NULL
        WHERE fcr_repeated IS NOT NULL AND hour_start IN (
            SELECT h.hour_start FROM calls c JOIN report_hours h
                ON h.hour_start <= c.arrived_at AND h.hour_start > c.arrived_at - 7200000
               AND h.hour_end > c.arrived_at
            WHERE c.direction = 'inbound' AND (c.caller IN (old.phone, new.phone)
               OR c.caller IN (SELECT phone FROM customer_phones
                               WHERE customer_id IN (old.customer_id, new.customer_id))));
END;
