-- Orchestration runs, their steps and the durable event log behind subscriptions.
CREATE TABLE runs (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  organization_id uuid NOT NULL,
  team_id uuid NOT NULL,
  triggered_by uuid REFERENCES users(id) ON DELETE SET NULL,
  kind varchar(20) NOT NULL DEFAULT 'TEAM' CHECK (kind IN ('TEAM', 'SCHEDULER')),
  status varchar(20) NOT NULL DEFAULT 'PENDING'
    CHECK (status IN ('PENDING', 'RUNNING', 'COMPLETED', 'FAILED', 'CANCELLED')),
  inputs jsonb NOT NULL DEFAULT '{}',
  execution_config jsonb NOT NULL DEFAULT '{}',
  estimated_cost numeric(12,4) NOT NULL DEFAULT 0 CHECK (estimated_cost >= 0),
  result text,
  error_message text,
  total_steps integer NOT NULL DEFAULT 0 CHECK (total_steps >= 0),
  completed_steps integer NOT NULL DEFAULT 0 CHECK (completed_steps >= 0),
  tokens_used bigint NOT NULL DEFAULT 0 CHECK (tokens_used >= 0),
  cost numeric(12,4) NOT NULL DEFAULT 0 CHECK (cost >= 0),
  duration_ms bigint CHECK (duration_ms >= 0),
  claimed_by varchar(100),
  lease_expires_at timestamptz,
  started_at timestamptz,
  completed_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (organization_id, id),
  FOREIGN KEY (organization_id, team_id) REFERENCES teams (organization_id, id) ON DELETE CASCADE
);
CREATE INDEX idx_runs_org_team_created ON runs (organization_id, team_id, created_at DESC, id DESC);
CREATE INDEX idx_runs_org_created ON runs (organization_id, created_at);
CREATE INDEX idx_runs_status_lease ON runs (status, lease_expires_at);

CREATE TABLE run_steps (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  organization_id uuid NOT NULL,
  run_id uuid NOT NULL,
  role_id uuid REFERENCES roles(id) ON DELETE SET NULL,
  position integer NOT NULL CHECK (position >= 0),
  name varchar(100) NOT NULL,
  status varchar(20) NOT NULL DEFAULT 'PENDING'
    CHECK (status IN ('PENDING', 'RUNNING', 'COMPLETED', 'FAILED', 'CANCELLED', 'SKIPPED')),
  input jsonb,
  output jsonb,
  prompt_tokens bigint NOT NULL DEFAULT 0 CHECK (prompt_tokens >= 0),
  completion_tokens bigint NOT NULL DEFAULT 0 CHECK (completion_tokens >= 0),
  tokens_used bigint NOT NULL DEFAULT 0 CHECK (tokens_used >= 0),
  cost numeric(12,4) NOT NULL DEFAULT 0 CHECK (cost >= 0),
  duration_ms bigint CHECK (duration_ms >= 0),
  error_message text,
  started_at timestamptz,
  completed_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (organization_id, run_id, position),
  FOREIGN KEY (organization_id, run_id) REFERENCES runs (organization_id, id) ON DELETE CASCADE
);
CREATE INDEX idx_run_steps_org_role ON run_steps (organization_id, role_id);

CREATE TABLE run_events (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  organization_id uuid NOT NULL,
  run_id uuid NOT NULL,
  seq bigint NOT NULL CHECK (seq > 0),
  kind varchar(50) NOT NULL,
  payload jsonb NOT NULL DEFAULT '{}',
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (organization_id, run_id, seq),
  FOREIGN KEY (organization_id, run_id) REFERENCES runs (organization_id, id) ON DELETE CASCADE
);
