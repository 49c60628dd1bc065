DROP INDEX idx_runs_org_schedule;
ALTER TABLE runs DROP COLUMN schedule_id;
DROP TABLE run_schedules;
