-- 0008 qa: QA staff's reviews of recorded calls: scores given with a
-- scorecard (scorecards/*.toml), and comments pinned to a moment of the
-- recording (PostgreSQL). They outlive the recording: the retention deletes
-- files, never these.
--
-- Keep this file and migrations/sqlite/0008_qa.sql in step (see 0002 for
-- the conventions).

-- One review per call, scorecard and reviewer (a second save replaces it).
CREATE TABLE qa_scores (
    id          BIGSERIAL PRIMARY KEY,
    call_id     TEXT   NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
    -- the scorecard's name (its file stem)
    scorecard   TEXT   NOT NULL,
    -- users.id of the reviewer
    reviewer_id BIGINT NOT NULL REFERENCES users (id),
    -- the agent scored: the call's agent when reviewed (users.id)
    agent_id    BIGINT,
    -- each criterion's key and whether it was met, as JSON: {"greeting": true}
    items       TEXT   NOT NULL,
    -- 0 to 100; 0 with failed = 1 when a fatal criterion was not met
    total       BIGINT NOT NULL CHECK (total BETWEEN 0 AND 100),
    failed      BIGINT NOT NULL DEFAULT 0 CHECK (failed IN (0, 1)),
    note        TEXT   NOT NULL DEFAULT '',
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    UNIQUE (call_id, scorecard, reviewer_id)
);
CREATE INDEX qa_scores_agent_idx ON qa_scores (agent_id, created_at);

CREATE TABLE qa_comments (
    id         BIGSERIAL PRIMARY KEY,
    call_id    TEXT   NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
    author_id  BIGINT NOT NULL REFERENCES users (id),
    -- where in the recording, ms from its start
    offset_ms  BIGINT NOT NULL CHECK (offset_ms >= 0),
    text       TEXT   NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX qa_comments_call_idx ON qa_comments (call_id, offset_ms);
