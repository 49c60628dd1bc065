DROP INDEX idx_runs_org_project;
ALTER TABLE runs DROP CONSTRAINT runs_project_fk;
ALTER TABLE runs DROP COLUMN project_id;
DROP INDEX idx_teams_org_project;
ALTER TABLE teams DROP CONSTRAINT teams_project_fk;
ALTER TABLE teams DROP COLUMN project_id;
DROP TABLE projects;
