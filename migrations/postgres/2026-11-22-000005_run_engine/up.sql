-- The run engine: each run numbers its own events, and workers find claimable runs
-- (pending, or running with an expired lease) through a small partial index.
ALTER TABLE runs ADD COLUMN event_seq BIGINT NOT NULL DEFAULT 0 CHECK (event_seq >= 0);
CREATE INDEX idx_runs_claimable ON runs (created_at) WHERE status IN ('PENDING', 'RUNNING');
