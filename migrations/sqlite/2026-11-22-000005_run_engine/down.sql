DROP INDEX idx_runs_claimable;
ALTER TABLE runs DROP COLUMN event_seq;
