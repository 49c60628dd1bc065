-- Projects organize an organization's teams and runs. (SQLite cannot add a composite
-- foreign key to an existing table: the data layer checks a project's organization.)
CREATE TABLE projects (
  id TEXT PRIMARY KEY NOT NULL,
  organization_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
  created_by TEXT REFERENCES users(id) ON DELETE SET NULL,
  manager_id TEXT REFERENCES users(id) ON DELETE SET NULL,
  name TEXT NOT NULL CHECK (length(trim(name)) > 0 AND length(name) <= 255),
  description TEXT CHECK (length(description) <= 5000),
  topic TEXT NOT NULL CHECK (length(trim(topic)) > 0 AND length(topic) <= 1000),
  status TEXT NOT NULL DEFAULT 'active'
    CHECK (status IN ('active', 'completed', 'archived', 'failed')),
  priority TEXT NOT NULL DEFAULT 'medium'
    CHECK (priority IN ('low', 'medium', 'high', 'urgent')),
  metadata TEXT NOT NULL DEFAULT '{}',
  settings TEXT NOT NULL DEFAULT '{}',
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%S', 'now') || '.000000Z'),
  updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%S', 'now') || '.000000Z'),
  completed_at TEXT,
  UNIQUE (organization_id, id),
  UNIQUE (organization_id, name)
);
CREATE INDEX idx_projects_org_status ON projects (organization_id, status);
CREATE INDEX idx_projects_org_priority ON projects (organization_id, priority);

ALTER TABLE teams ADD COLUMN project_id TEXT REFERENCES projects(id);
CREATE INDEX idx_teams_org_project ON teams (organization_id, project_id);
ALTER TABLE runs ADD COLUMN project_id TEXT REFERENCES projects(id);
CREATE INDEX idx_runs_org_project ON runs (organization_id, project_id, created_at DESC, id DESC);
