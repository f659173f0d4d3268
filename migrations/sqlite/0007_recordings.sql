-- 0007 recordings: each call's recording (one stereo WAV, the caller on
-- the left, what the caller heard on the right) and every listen to or
-- download of one (SQLite).
--
-- Keep this file and migrations/postgres/0007_recordings.sql in step (see
-- 0002 for the conventions: times BIGINT epoch ms, durations BIGINT ms,
-- booleans BIGINT 0/1). As in 0006, no CHECKs on what the record writer
-- writes (it retries a failing op for ever).

-- recording, complete, cut_off, failed, discarded, deleted
-- (src/records.rs RecordingState); NULL: the call was never recorded.
ALTER TABLE calls ADD COLUMN recording_state TEXT;
-- Relative to the data directory: recordings/YYYY/MM/DD/CALLID.wav.
ALTER TABLE calls ADD COLUMN recording_file TEXT;
-- The recording's first sample (the answer), wall ms: an event's offset in
-- the recording is its `at` minus this.
ALTER TABLE calls ADD COLUMN recording_started_at BIGINT;
ALTER TABLE calls ADD COLUMN recording_ms BIGINT;
ALTER TABLE calls ADD COLUMN recording_bytes BIGINT;
-- Of the whole file, lowercase hex.
ALTER TABLE calls ADD COLUMN recording_sha256 TEXT;
-- Agents heard on the right channel besides the IVR: user ids, comma-separated.
ALTER TABLE calls ADD COLUMN recording_agents TEXT;
-- Why it is not simply complete (cut off, disk full, ...).
ALTER TABLE calls ADD COLUMN recording_note TEXT;
ALTER TABLE calls ADD COLUMN recording_deleted_at BIGINT;
-- 1: never deleted by retention (a dispute, a court order).
ALTER TABLE calls ADD COLUMN legal_hold BIGINT NOT NULL DEFAULT 0;

-- Retention and the start-up repair look for recordings by state and age.
CREATE INDEX calls_recording_idx ON calls (recording_state, recording_started_at);

-- Every listen to and download of a recording: who, which call, when.
CREATE TABLE recording_access (
    id      INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    call_id TEXT   NOT NULL,
    -- users.id
    user_id BIGINT NOT NULL,
    -- listen (played in the browser) or download
    action  TEXT   NOT NULL CHECK (action IN ('listen', 'download')),
    at      BIGINT NOT NULL
);
CREATE INDEX recording_access_call_idx ON recording_access (call_id, at);
