-- 0011 report_rollups: the managers' reports (src/store/reports.rs) read
-- closed hours and days from these tables instead of counting every call
-- again, so a month of millions of calls answers in a few thousand rows
-- (PostgreSQL).
--
-- Keep this file and migrations/sqlite/0011_report_rollups.sql in step
-- (see 0002 for the conventions: times BIGINT epoch ms, durations BIGINT
-- ms). Only the triggers differ: SQLite's are plain row triggers (its one
-- writer at a time needs no more); these are plpgsql functions that take
-- the table locks described below.
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
-- The same rules as SQLite's triggers (see there for why each exists); a
-- local hour is at most 2 h long and a local day at most 2 days (DST), which
-- bounds each lookup.
--
-- Locks: the store counts a span and writes its rollup inside one
-- transaction holding SHARE ROW EXCLUSIVE on report_hours (or report_days),
-- and each function below first takes ROW EXCLUSIVE on both tables, which
-- conflicts with it. So a record written (and not yet committed) before the
-- count makes the count wait for its commit and see it; a record written
-- during the count waits for the rollup's commit and then deletes the row
-- (its DELETE takes its snapshot after the lock, so it sees the new row).
-- Without the locks, a change committed between the count and the insert
-- would leave a stale row. Always hours, then days: one order, no deadlock.
--
-- Inserts and deletes are statement triggers over transition tables, so a
-- bulk insert pays once per statement; updates are row triggers whose WHEN
-- skips every update that changes nothing a report counts (digits,
-- recordings, notes), without calling plpgsql at all.

CREATE FUNCTION report_lock() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    LOCK TABLE report_hours IN ROW EXCLUSIVE MODE;
    LOCK TABLE report_days IN ROW EXCLUSIVE MODE;
END
$$;

CREATE FUNCTION report_calls_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM report_lock();
    DELETE FROM report_hours h USING new_calls n
        WHERE h.hour_start <= n.arrived_at AND h.hour_start > n.arrived_at - 7200000
          AND h.hour_end > n.arrived_at;
    -- A settled hour ended a whole window before its rollup was written:
    -- only a late call can be the repeat of one of its calls.
    UPDATE report_hours h SET fcr_repeated = NULL
        FROM new_calls n, report_settings s
        WHERE h.fcr_repeated IS NOT NULL
          AND h.hour_start <= n.arrived_at
          AND h.hour_start > n.arrived_at - 7200000 - s.fcr_days * 86400000
          AND h.hour_end > n.arrived_at - s.fcr_days * 86400000;
    DELETE FROM report_days d USING new_calls n
        WHERE d.day_start <= n.arrived_at AND d.day_start > n.arrived_at - 172800000
          AND d.day_end > n.arrived_at;
    RETURN NULL;
END
$$;

CREATE TRIGGER report_calls_insert AFTER INSERT ON calls
    REFERENCING NEW TABLE AS new_calls
    FOR EACH STATEMENT EXECUTE FUNCTION report_calls_inserted();

CREATE FUNCTION report_calls_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM report_lock();
    DELETE FROM report_hours
        WHERE (hour_start <= OLD.arrived_at AND hour_start > OLD.arrived_at - 7200000
               AND hour_end > OLD.arrived_at)
           OR (hour_start <= NEW.arrived_at AND hour_start > NEW.arrived_at - 7200000
               AND hour_end > NEW.arrived_at);
    IF OLD.direction IS DISTINCT FROM NEW.direction
       OR OLD.arrived_at IS DISTINCT FROM NEW.arrived_at
       OR OLD.caller IS DISTINCT FROM NEW.caller THEN
        -- It may stop (or start) being the repeat of earlier calls.
        UPDATE report_hours h SET fcr_repeated = NULL
            FROM report_settings s
            WHERE h.fcr_repeated IS NOT NULL
              AND ((h.hour_start <= OLD.arrived_at
                    AND h.hour_start > OLD.arrived_at - 7200000 - s.fcr_days * 86400000
                    AND h.hour_end > OLD.arrived_at - s.fcr_days * 86400000)
                OR (h.hour_start <= NEW.arrived_at
                    AND h.hour_start > NEW.arrived_at - 7200000 - s.fcr_days * 86400000
                    AND h.hour_end > NEW.arrived_at - s.fcr_days * 86400000));
    END IF;
    DELETE FROM report_days
        WHERE (day_start <= OLD.arrived_at AND day_start > OLD.arrived_at - 172800000
               AND day_end > OLD.arrived_at)
           OR (day_start <= NEW.arrived_at AND day_start > NEW.arrived_at - 172800000
               AND day_end > NEW.arrived_at);
    RETURN NULL;
END
$$;

CREATE TRIGGER report_calls_update AFTER UPDATE ON calls FOR EACH ROW
    WHEN (OLD.direction IS DISTINCT FROM NEW.direction
       OR OLD.arrived_at IS DISTINCT FROM NEW.arrived_at
       OR OLD.caller IS DISTINCT FROM NEW.caller
       OR OLD.queue IS DISTINCT FROM NEW.queue
       OR OLD.queued_at IS DISTINCT FROM NEW.queued_at
       OR OLD.agent_id IS DISTINCT FROM NEW.agent_id
       OR OLD.wait_ms IS DISTINCT FROM NEW.wait_ms
       OR OLD.ended_at IS DISTINCT FROM NEW.ended_at
       OR OLD.hangup_side IS DISTINCT FROM NEW.hangup_side
       OR OLD.talk_ms IS DISTINCT FROM NEW.talk_ms
       OR OLD.hold_ms IS DISTINCT FROM NEW.hold_ms
       OR OLD.wrap_up_ms IS DISTINCT FROM NEW.wrap_up_ms
       OR OLD.transfers IS DISTINCT FROM NEW.transfers
       OR OLD.outcome IS DISTINCT FROM NEW.outcome)
    EXECUTE FUNCTION report_calls_updated();

CREATE FUNCTION report_calls_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM report_lock();
    DELETE FROM report_hours h USING old_calls o
        WHERE h.hour_start <= o.arrived_at AND h.hour_start > o.arrived_at - 7200000
          AND h.hour_end > o.arrived_at;
    UPDATE report_hours h SET fcr_repeated = NULL
        FROM old_calls o, report_settings s
        WHERE h.fcr_repeated IS NOT NULL
          AND h.hour_start <= o.arrived_at
          AND h.hour_start > o.arrived_at - 7200000 - s.fcr_days * 86400000
          AND h.hour_end > o.arrived_at - s.fcr_days * 86400000;
    DELETE FROM report_days d USING old_calls o
        WHERE d.day_start <= o.arrived_at AND d.day_start > o.arrived_at - 172800000
          AND d.day_end > o.arrived_at;
    RETURN NULL;
END
$$;

CREATE TRIGGER report_calls_delete AFTER DELETE ON calls
    REFERENCING OLD TABLE AS old_calls
    FOR EACH STATEMENT EXECUTE FUNCTION report_calls_deleted();

CREATE FUNCTION report_call_events_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM new_events
               WHERE kind IN ('queue-left', 'callback-requested')) THEN
        PERFORM report_lock();
        DELETE FROM report_hours h USING new_events e, calls c
            WHERE e.kind IN ('queue-left', 'callback-requested') AND c.id = e.call_id
              AND h.hour_start <= c.arrived_at AND h.hour_start > c.arrived_at - 7200000
              AND h.hour_end > c.arrived_at;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER report_call_events_insert AFTER INSERT ON call_events
    REFERENCING NEW TABLE AS new_events
    FOR EACH STATEMENT EXECUTE FUNCTION report_call_events_inserted();

CREATE FUNCTION report_agent_states_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM report_lock();
    DELETE FROM report_days WHERE day_end > (SELECT MIN(at) FROM new_changes);
    RETURN NULL;
END
$$;

CREATE TRIGGER report_agent_state_insert AFTER INSERT ON agent_state_log
    REFERENCING NEW TABLE AS new_changes
    FOR EACH STATEMENT EXECUTE FUNCTION report_agent_states_inserted();

-- The settled FCR of every hour with a call from any number of the
-- customers in `customers` or from one of `phones`.
CREATE FUNCTION report_forget_fcr(customers BIGINT[], phones TEXT[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM report_lock();
    UPDATE report_hours SET fcr_repeated = NULL
        WHERE fcr_repeated IS NOT NULL AND hour_start IN (
            SELECT h.hour_start FROM calls c JOIN report_hours h
                ON h.hour_start <= c.arrived_at AND h.hour_start > c.arrived_at - 7200000
               AND h.hour_end > c.arrived_at
            WHERE c.direction = 'inbound' AND (c.caller = ANY (phones) OR c.caller IN (
                SELECT p.phone FROM customer_phones p WHERE p.customer_id = ANY (customers))));
END
$$;

CREATE FUNCTION report_phones_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM report_forget_fcr(
        ARRAY(SELECT customer_id FROM new_phones), ARRAY(SELECT phone FROM new_phones));
    RETURN NULL;
END
$$;

CREATE FUNCTION report_phones_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM report_forget_fcr(
        ARRAY(SELECT customer_id FROM old_phones), ARRAY(SELECT phone FROM old_phones));
    RETURN NULL;
END
$$;

CREATE FUNCTION report_phones_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM report_forget_fcr(
        ARRAY(SELECT customer_id FROM old_phones UNION SELECT customer_id FROM new_phones),
        ARRAY(SELECT phone FROM old_phones UNION SELECT phone FROM new_phones));
    RETURN NULL;
END
$$;

CREATE TRIGGER report_customer_phones_insert AFTER INSERT ON customer_phones
    REFERENCING NEW TABLE AS new_phones
    FOR EACH STATEMENT EXECUTE FUNCTION report_phones_inserted();

CREATE TRIGGER report_customer_phones_delete AFTER DELETE ON customer_phones
    REFERENCING OLD TABLE AS old_phones
    FOR EACH STATEMENT EXECUTE FUNCTION report_phones_deleted();

CREATE TRIGGER report_customer_phones_update AFTER UPDATE ON customer_phones
    REFERENCING OLD TABLE AS old_phones NEW TABLE AS new_phones
    FOR EACH STATEMENT EXECUTE FUNCTION report_phones_updated();
