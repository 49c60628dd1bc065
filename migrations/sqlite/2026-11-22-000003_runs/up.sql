-- Orchestration runs, their steps and the durable event log behind subscriptions.
-- Costs are INTEGER ten-thousandths (450 = 0.0450).
CREATE TABLE runs (
  id TEXT PRIMARY KEY NOT NULL,
  organization_id TEXT NOT NULL,
  team_id TEXT NOT NULL,
  triggered_by TEXT REFERENCES users(id) ON DELETE SET NULL,
  kind TEXT NOT NULL DEFAULT 'TEAM' CHECK (kind IN ('TEAM', 'SCHEDULER')),
  status TEXT NOT NULL DEFAULT 'PENDING'
    CHECK (status IN ('PENDING', 'RUNNING', 'COMPLETED', 'FAILED', 'CANCELLED')),
  inputs TEXT NOT NULL DEFAULT '{}',
  execution_config TEXT NOT NULL DEFAULT '{}',
  estimated_cost INTEGER NOT NULL DEFAULT 0 CHECK (estimated_cost >= 0),
  result TEXT,
  error_message TEXT,
  total_steps INTEGER NOT NULL DEFAULT 0 CHECK (total_steps >= 0),
  completed_steps INTEGER NOT NULL DEFAULT 0 CHECK (completed_steps >= 0),
  tokens_used INTEGER NOT NULL DEFAULT 0 CHECK (tokens_used >= 0),
  cost INTEGER NOT NULL DEFAULT 0 CHECK (cost >= 0),
  duration_ms INTEGER CHECK (duration_ms >= 0),
  claimed_by TEXT,
  lease_expires_at TEXT,
  started_at TEXT,
  completed_at TEXT,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%S', 'now') || '.000000Z'),
  updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%S', 'now') || '.000000Z'),
  UNIQUE (organization_id, id),
  FOREIGN KEY (organization_id, team_id) REFERENCES teams (organization_id, id) ON DELETE CASCADE
);
CREATE INDEX idx_runs_org_team_created ON runs (organization_id, team_id, created_at DESC, id DESC);
CREATE INDEX idx_runs_org_created ON runs (organization_id, created_at);
CREATE INDEX idx_runs_status_lease ON runs (status, lease_expires_at);

CREATE TABLE run_steps (
  id TEXT PRIMARY KEY NOT NULL,
  organization_id TEXT NOT NULL,
  run_id TEXT NOT NULL,
  role_id TEXT REFERENCES roles(id) ON DELETE SET NULL,
  position INTEGER NOT NULL CHECK (position >= 0),
  name TEXT NOT NULL CHECK (length(name) <= 100),
  status TEXT NOT NULL DEFAULT 'PENDING'
    CHECK (status IN ('PENDING', 'RUNNING', 'COMPLETED', 'FAILED', 'CANCELLED', 'SKIPPED')),
  input TEXT,
  output TEXT,
  prompt_tokens INTEGER NOT NULL DEFAULT 0 CHECK (prompt_tokens >= 0),
  completion_tokens INTEGER NOT NULL DEFAULT 0 CHECK (completion_tokens >= 0),
  tokens_used INTEGER NOT NULL DEFAULT 0 CHECK (tokens_used >= 0),
  cost INTEGER NOT NULL DEFAULT 0 CHECK (cost >= 0),
  duration_ms INTEGER CHECK (duration_ms >= 0),
  error_message TEXT,
  started_at TEXT,
  completed_at TEXT,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%S', 'now') || '.000000Z'),
  updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%S', 'now') || '.000000Z'),
  UNIQUE (organization_id, run_id, position),
  FOREIGN KEY (organization_id, run_id) REFERENCES runs (organization_id, id) ON DELETE CASCADE
);
CREATE INDEX idx_run_steps_org_role ON run_steps (organization_id, role_id);

CREATE TABLE run_events (
  id TEXT PRIMARY KEY NOT NULL,
  organization_id TEXT NOT NULL,
  run_id TEXT NOT NULL,
  seq INTEGER NOT NULL CHECK (seq > 0),
  kind TEXT NOT NULL,
  payload TEXT NOT NULL DEFAULT '{}',
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%S', 'now') || '.000000Z'),
  UNIQUE (organization_id, run_id, seq),
  FOREIGN KEY (organization_id, run_id) REFERENCES runs (organization_id, id) ON DELETE CASCADE
);
