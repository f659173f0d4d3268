-- 0012 ticket_rollups: the ticket reports (satisfaction, stage times, the
-- outlet ranking, complaints; src/store/ticket_reports.rs) read closed
-- local days from these tables instead of counting every ticket stamp
-- again, so two years answer from a few hundred thousand rows at most.
--
-- Keep this file and migrations/postgres/0012_ticket_rollups.sql in step.
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
-- A local day is at most 2 days long (DST), so `day_start > at -
-- 172800000` bounds each lookup to a few index entries. What a day's
-- figures read: its stamps and the stamp before each (a move), a
-- completion's dispatch and in-service stamps before it and the follow-up
-- after it, the ticket's SLA breaches of the stage moved into, and the
-- tickets accepted in it with their kind and category.
--
-- A ticket's stamps are looked up by ticket id alone (the primary key's
-- prefix: a handful of rows) and every day they touch is dropped, a few
-- more than needed: narrowed by stage as well, PostgreSQL planned the
-- lookup through the stage index, whose share of the table grows with it
-- (found by benches/report_load.rs). The rollup task keeps those days
-- again within minutes.

-- A new stamp: its own day; a follow-up also makes the ticket's earlier
-- completions followed up. (Stamps are appended in seq order, so a new
-- one never changes the move of a stamp after it.)
CREATE TRIGGER report_ticket_stamps_insert AFTER INSERT ON ticket_stamps BEGIN
    DELETE FROM report_ticket_days
        WHERE day_start <= new.at AND day_start > new.at - 172800000 AND day_end > new.at;
    DELETE FROM report_ticket_days WHERE new.stage = 'followed_up' AND day_start IN (
        SELECT d.day_start FROM ticket_stamps c JOIN report_ticket_days d
            ON d.day_start <= c.at AND d.day_start > c.at - 172800000 AND d.day_end > c.at
        WHERE c.ticket_id = new.ticket_id AND c.seq < new.seq);
END;

-- A stamp changed or removed (by hand: the server only appends): every
-- day of the ticket's stamps, and where the stamp was.
CREATE TRIGGER report_ticket_stamps_update AFTER UPDATE ON ticket_stamps BEGIN
    DELETE FROM report_ticket_days
        WHERE (day_start <= old.at AND day_start > old.at - 172800000 AND day_end > old.at)
           OR day_start IN (
               SELECT d.day_start FROM ticket_stamps s JOIN report_ticket_days d
                   ON d.day_start <= s.at AND d.day_start > s.at - 172800000 AND d.day_end > s.at
               WHERE s.ticket_id IN (old.ticket_id, new.ticket_id));
END;

CREATE TRIGGER report_ticket_stamps_delete AFTER DELETE ON ticket_stamps BEGIN
    DELETE FROM report_ticket_days
        WHERE (day_start <= old.at AND day_start > old.at - 172800000 AND day_end > old.at)
           OR day_start IN (
               SELECT d.day_start FROM ticket_stamps s JOIN report_ticket_days d
                   ON d.day_start <= s.at AND d.day_start > s.at - 172800000 AND d.day_end > s.at
               WHERE s.ticket_id = old.ticket_id);
END;

-- An SLA breach decides whether the ticket's moves into its stage were
-- late.
CREATE TRIGGER report_ticket_breaches_insert AFTER INSERT ON ticket_breaches BEGIN
    DELETE FROM report_ticket_days WHERE day_start IN (
        SELECT d.day_start FROM ticket_stamps s JOIN report_ticket_days d
            ON d.day_start <= s.at AND d.day_start > s.at - 172800000 AND d.day_end > s.at
        WHERE s.ticket_id = new.ticket_id);
END;

CREATE TRIGGER report_ticket_breaches_update AFTER UPDATE ON ticket_breaches BEGIN
    DELETE FROM report_ticket_days WHERE day_start IN (
        SELECT d.day_start FROM ticket_stamps s JOIN report_ticket_days d
            ON d.day_start <= s.at AND d.day_start > s.at - 172800000 AND d.day_end > s.at
        WHERE s.ticket_id IN (old.ticket_id, new.ticket_id));
END;

CREATE TRIGGER report_ticket_breaches_delete AFTER DELETE ON ticket_breaches BEGIN
    DELETE FROM report_ticket_days WHERE day_start IN (
        SELECT d.day_start FROM ticket_stamps s JOIN report_ticket_days d
            ON d.day_start <= s.at AND d.day_start > s.at - 172800000 AND d.day_end > s.at
        WHERE s.ticket_id = old.ticket_id);
END;

-- A ticket accepted: its day's count (and complaints).
CREATE TRIGGER report_tickets_insert AFTER INSERT ON tickets BEGIN
    DELETE FROM report_ticket_days
        WHERE day_start <= new.created_at AND day_start > new.created_at - 172800000
          AND day_end > new.created_at;
END;

-- A ticket's kind or category changed (or its acceptance moved): the day
-- it was accepted, and its stamps' days (reopened complaints count by
-- category).
-- Its stage, outlet and due times are the stamps' business.
CREATE TRIGGER report_tickets_update AFTER UPDATE OF accepted_kind, category, created_at ON tickets
BEGIN
    DELETE FROM report_ticket_days
        WHERE (day_start <= old.created_at AND day_start > old.created_at - 172800000
               AND day_end > old.created_at)
           OR (day_start <= new.created_at AND day_start > new.created_at - 172800000
               AND day_end > new.created_at)
           OR day_start IN (
               SELECT d.day_start FROM ticket_stamps s JOIN report_ticket_days d
                   ON d.day_start <= s.at AND d.day_start > s.at - 172800000 AND d.day_end > s.at
               WHERE s.ticket_id = new.id);
END;

CREATE TRIGGER report_tickets_delete AFTER DELETE ON tickets BEGIN
    DELETE FROM report_ticket_days
        WHERE day_start <= old.created_at AND day_start > old.created_at - 172800000
          AND day_end > old.created_at;
END;
