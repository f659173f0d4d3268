-- 0012 ticket_rollups: the ticket reports (satisfaction, stage times, the
-- outlet ranking, complaints; src/store/ticket_reports.rs) read closed
-- local days from these tables instead of counting every ticket stamp
-- again, so two years answer from a few hundred thousand rows at most.
--
-- Keep this file and migrations/sqlite/0012_ticket_rollups.sql in step.
-- The invariant is 0011's: a row equals what counting the records gives
-- now. A day is written only once it is over, from the records as they
-- are then; every later write to a record it was counted from deletes it
-- (the triggers below), and the next report counts that day again. The
-- day's bounds come from report_settings.time_zone, whose change deletes
-- these rows with the others.

-- Local days [day_start, day_end) whose ticket figures are counted; the
-- three tables after it hang from it and go with it.
CREATE TABLE report_ticket_days (
    day_start        BIGINT NOT NULL PRIMARY KEY,
    day_end          BIGINT NOT NULL,
    -- tickets of every kind accepted (tickets.created_at) in the day
    tickets_accepted BIGINT NOT NULL,
    -- completion stamps in the day, and of those the ones followed up
    -- since (before the ticket's next completion)
    completed        BIGINT NOT NULL,
    followed_up      BIGINT NOT NULL,
    -- follow-up stamps in the day with each score
    score_1          BIGINT NOT NULL,
    score_2          BIGINT NOT NULL,
    score_3          BIGINT NOT NULL,
    score_4          BIGINT NOT NULL,
    score_5          BIGINT NOT NULL
);

-- Moves from one stage to the next stamped in the day.
CREATE TABLE report_stage_days (
    day_start  BIGINT NOT NULL REFERENCES report_ticket_days (day_start) ON DELETE CASCADE,
    from_stage TEXT   NOT NULL,
    to_stage   TEXT   NOT NULL,
    moves      BIGINT NOT NULL,
    total_ms   BIGINT NOT NULL,
    late       BIGINT NOT NULL,
    PRIMARY KEY (day_start, from_stage, to_stage)
);

-- Each outlet's dispatches and completions stamped in the day, under the
-- tier stamped at dispatch.
CREATE TABLE report_outlet_days (
    day_start     BIGINT NOT NULL REFERENCES report_ticket_days (day_start) ON DELETE CASCADE,
    outlet_id     BIGINT NOT NULL,
    outlet_tier   TEXT   NOT NULL,
    dispatched    BIGINT NOT NULL,
    completed     BIGINT NOT NULL,
    completion_ms BIGINT NOT NULL,
    started       BIGINT NOT NULL,
    arrival_ms    BIGINT NOT NULL,
    repair_ms     BIGINT NOT NULL,
    late          BIGINT NOT NULL,
    PRIMARY KEY (day_start, outlet_id, outlet_tier)
);

-- Complaints in the day by source (accepted, reopened) and category.
CREATE TABLE report_complaint_days (
    day_start  BIGINT NOT NULL REFERENCES report_ticket_days (day_start) ON DELETE CASCADE,
    source     TEXT   NOT NULL,
    category   TEXT   NOT NULL,
    complaints BIGINT NOT NULL,
    PRIMARY KEY (day_start, source, category)
);

-- ----- invalidation -----------------------------------------------------
-- The same rules as SQLite's triggers (see there for why each exists, and
-- why a ticket's stamps are looked up by ticket id alone).
--
-- Locks, as 0011's: the store counts a day and writes its rollup inside
-- one transaction holding SHARE ROW EXCLUSIVE on report_ticket_days, and
-- each function below first takes ROW EXCLUSIVE on it, which conflicts.
-- So a record written before the count makes the count wait for its
-- commit and see it; one written during the count waits for the rollup's
-- commit and then deletes the row (its DELETE takes its snapshot after
-- the lock, so it sees the new row).

CREATE FUNCTION report_ticket_lock() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    LOCK TABLE report_ticket_days IN ROW EXCLUSIVE MODE;
END
$$;

-- Drops the kept day holding the moment `moment` (epoch ms).
CREATE FUNCTION report_ticket_forget_day(moment BIGINT) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM report_ticket_days
        WHERE day_start <= moment AND day_start > moment - 172800000 AND day_end > moment;
END
$$;

-- Drops the kept days of the stamps of ticket `ticket`: those below seq
-- `below`, or every one (NULL).
CREATE FUNCTION report_ticket_forget_stamps(ticket BIGINT, below BIGINT) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM report_ticket_days d USING ticket_stamps s
        WHERE s.ticket_id = ticket AND (below IS NULL OR s.seq < below)
          AND d.day_start <= s.at AND d.day_start > s.at - 172800000 AND d.day_end > s.at;
END
$$;

CREATE FUNCTION report_ticket_stamps_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM report_ticket_lock();
    IF TG_OP = 'INSERT' THEN
        PERFORM report_ticket_forget_day(NEW.at);
        IF NEW.stage = 'followed_up' THEN
            PERFORM report_ticket_forget_stamps(NEW.ticket_id, NEW.seq);
        END IF;
        RETURN NULL;
    END IF;
    PERFORM report_ticket_forget_day(OLD.at);
    PERFORM report_ticket_forget_stamps(OLD.ticket_id, NULL);
    IF TG_OP = 'UPDATE' THEN
        PERFORM report_ticket_forget_stamps(NEW.ticket_id, NULL);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER report_ticket_stamps_change AFTER INSERT OR UPDATE OR DELETE ON ticket_stamps
    FOR EACH ROW EXECUTE FUNCTION report_ticket_stamps_changed();

CREATE FUNCTION report_ticket_breaches_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM report_ticket_lock();
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM report_ticket_forget_stamps(OLD.ticket_id, NULL);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        PERFORM report_ticket_forget_stamps(NEW.ticket_id, NULL);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER report_ticket_breaches_change AFTER INSERT OR UPDATE OR DELETE ON ticket_breaches
    FOR EACH ROW EXECUTE FUNCTION report_ticket_breaches_changed();

CREATE FUNCTION report_tickets_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM report_ticket_lock();
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM report_ticket_forget_day(OLD.created_at);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        PERFORM report_ticket_forget_day(NEW.created_at);
    END IF;
    IF TG_OP = 'UPDATE' THEN
        PERFORM report_ticket_forget_stamps(NEW.id, NULL);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER report_tickets_insert_delete AFTER INSERT OR DELETE ON tickets
    FOR EACH ROW EXECUTE FUNCTION report_tickets_changed();

-- Only a change to what the reports read: a ticket's stage, outlet and
-- due times change often and are the stamps' business.
CREATE TRIGGER report_tickets_update AFTER UPDATE ON tickets FOR EACH ROW
    WHEN (OLD.accepted_kind IS DISTINCT FROM NEW.accepted_kind
       OR OLD.category IS DISTINCT FROM NEW.category
       OR OLD.created_at IS DISTINCT FROM NEW.created_at)
    EXECUTE FUNCTION report_tickets_changed();
