ALTER TABLE runs DROP COLUMN schedule_id;
DROP TABLE run_schedules;
