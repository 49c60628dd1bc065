-- Teams and their AI-agent roles.
CREATE TABLE teams (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  organization_id uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
  owner_id uuid REFERENCES users(id) ON DELETE SET NULL,
  name varchar(100) NOT NULL CHECK (length(trim(name)) > 0),
  description text CHECK (length(description) <= 1000),
  monthly_budget numeric(10,2) NOT NULL CHECK (monthly_budget > 0 AND monthly_budget <= 10000),
  -- Run costs have 4 decimals; spend keeps them all so both backends sum alike.
  current_spend numeric(12,4) NOT NULL DEFAULT 0 CHECK (current_spend >= 0),
  status varchar(20) NOT NULL DEFAULT 'IDLE'
    CHECK (status IN ('IDLE', 'RUNNING', 'COMPLETED', 'FAILED')),
  last_executed_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  deleted_at timestamptz,
  UNIQUE (organization_id, id)
);
-- A deleted team's name can be reused.
CREATE UNIQUE INDEX uq_teams_org_name ON teams (organization_id, name) WHERE deleted_at IS NULL;
CREATE INDEX idx_teams_org_status ON teams (organization_id, status);

CREATE TABLE roles (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  organization_id uuid NOT NULL,
  team_id uuid NOT NULL,
  title varchar(100) NOT NULL CHECK (length(trim(title)) > 0),
  description text CHECK (length(description) <= 500),
  expertise varchar(20) NOT NULL CHECK (expertise IN ('junior', 'intermediate', 'senior', 'expert')),
  llm_model varchar(50) NOT NULL DEFAULT 'gpt-3.5-turbo',
  llm_config jsonb,
  agent_config jsonb,
  position integer NOT NULL DEFAULT 0 CHECK (position >= 0),
  is_active boolean NOT NULL DEFAULT true,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (organization_id, team_id, title),
  FOREIGN KEY (organization_id, team_id) REFERENCES teams (organization_id, id) ON DELETE CASCADE
);
CREATE INDEX idx_roles_team_active ON roles (organization_id, team_id, is_active);
