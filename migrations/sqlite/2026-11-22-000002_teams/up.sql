-- Teams and their AI-agent roles. Budgets are INTEGER ten-thousandths (10000 = 1.00).
CREATE TABLE teams (
  id TEXT PRIMARY KEY NOT NULL,
  organization_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
  owner_id TEXT REFERENCES users(id) ON DELETE SET NULL,
  name TEXT NOT NULL CHECK (length(trim(name)) > 0 AND length(name) <= 100),
  description TEXT CHECK (length(description) <= 1000),
  monthly_budget INTEGER NOT NULL CHECK (monthly_budget > 0 AND monthly_budget <= 100000000),
  -- Run costs have 4 decimals; spend keeps them all so both backends sum alike.
  current_spend INTEGER NOT NULL DEFAULT 0 CHECK (current_spend >= 0),
  status TEXT NOT NULL DEFAULT 'IDLE' CHECK (status IN ('IDLE', 'RUNNING', 'COMPLETED', 'FAILED')),
  last_executed_at TEXT,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%S', 'now') || '.000000Z'),
  updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%S', 'now') || '.000000Z'),
  deleted_at TEXT,
  UNIQUE (organization_id, id)
);
-- A deleted team's name can be reused.
CREATE UNIQUE INDEX uq_teams_org_name ON teams (organization_id, name) WHERE deleted_at IS NULL;
CREATE INDEX idx_teams_org_status ON teams (organization_id, status);

CREATE TABLE roles (
  id TEXT PRIMARY KEY NOT NULL,
  organization_id TEXT NOT NULL,
  team_id TEXT NOT NULL,
  title TEXT NOT NULL CHECK (length(trim(title)) > 0 AND length(title) <= 100),
  description TEXT CHECK (length(description) <= 500),
  expertise TEXT NOT NULL CHECK (expertise IN ('junior', 'intermediate', 'senior', 'expert')),
  llm_model TEXT NOT NULL DEFAULT 'gpt-3.5-turbo' CHECK (length(llm_model) <= 50),
  llm_config TEXT,
  agent_config TEXT,
  position INTEGER NOT NULL DEFAULT 0 CHECK (position >= 0),
  is_active INTEGER NOT NULL DEFAULT 1,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%S', 'now') || '.000000Z'),
  updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%S', 'now') || '.000000Z'),
  UNIQUE (organization_id, team_id, title),
  FOREIGN KEY (organization_id, team_id) REFERENCES teams (organization_id, id) ON DELETE CASCADE
);
CREATE INDEX idx_roles_team_active ON roles (organization_id, team_id, is_active);
