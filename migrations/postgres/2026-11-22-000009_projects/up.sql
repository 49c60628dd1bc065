-- Projects organize an organization's teams and runs.
CREATE TABLE projects (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  organization_id uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
  created_by uuid REFERENCES users(id) ON DELETE SET NULL,
  manager_id uuid REFERENCES users(id) ON DELETE SET NULL,
  name varchar(255) NOT NULL CHECK (length(trim(name)) > 0),
  description text CHECK (length(description) <= 5000),
  topic text NOT NULL CHECK (length(trim(topic)) > 0 AND length(topic) <= 1000),
  status varchar(20) NOT NULL DEFAULT 'active'
    CHECK (status IN ('active', 'completed', 'archived', 'failed')),
  priority varchar(20) NOT NULL DEFAULT 'medium'
    CHECK (priority IN ('low', 'medium', 'high', 'urgent')),
  metadata jsonb NOT NULL DEFAULT '{}',
  settings jsonb NOT NULL DEFAULT '{}',
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  completed_at timestamptz,
  UNIQUE (organization_id, id),
  UNIQUE (organization_id, name)
);
CREATE INDEX idx_projects_org_status ON projects (organization_id, status);
CREATE INDEX idx_projects_org_priority ON projects (organization_id, priority);

-- A team or run belongs to at most one project of its own organization.
ALTER TABLE teams ADD COLUMN project_id uuid;
ALTER TABLE teams ADD CONSTRAINT teams_project_fk
  FOREIGN KEY (organization_id, project_id) REFERENCES projects (organization_id, id);
CREATE INDEX idx_teams_org_project ON teams (organization_id, project_id);
ALTER TABLE runs ADD COLUMN project_id uuid;
ALTER TABLE runs ADD CONSTRAINT runs_project_fk
  FOREIGN KEY (organization_id, project_id) REFERENCES projects (organization_id, id);
CREATE INDEX idx_runs_org_project ON runs (organization_id, project_id, created_at DESC, id DESC);

GRANT SELECT, INSERT, UPDATE, DELETE ON projects TO gateway_tenant;
ALTER TABLE projects ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON projects TO gateway_tenant
  USING (organization_id = NULLIF(current_setting('app.organization_id', true), '')::uuid);
CREATE POLICY system_access ON projects TO PUBLIC USING (current_user <> 'gateway_tenant');
