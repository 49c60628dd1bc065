-- Recurring runs: a team's run started on a cron schedule in a time zone.
CREATE TABLE run_schedules (
  id TEXT PRIMARY KEY NOT NULL,
  organization_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
  team_id TEXT NOT NULL,
  -- An organization's own or a public template. No foreign key: deleting a public
  -- template must not reach other organizations' schedules; a schedule whose template
  -- is gone is paused when it next fires.
  template_id TEXT,
  created_by TEXT REFERENCES users(id) ON DELETE SET NULL,
  name TEXT NOT NULL CHECK (length(trim(name)) > 0 AND length(name) <= 255),
  cron TEXT NOT NULL CHECK (length(cron) <= 120),
  timezone TEXT NOT NULL DEFAULT 'UTC',
  inputs TEXT NOT NULL DEFAULT '{}',
  status TEXT NOT NULL DEFAULT 'ACTIVE' CHECK (status IN ('ACTIVE', 'PAUSED')),
  missed_policy TEXT NOT NULL DEFAULT 'FIRE_ONCE' CHECK (missed_policy IN ('FIRE_ONCE', 'SKIP')),
  -- The occurrence to fire next; claimed by moving it on, so each fires once.
  next_run_at TEXT,
  last_run_at TEXT,
  last_run_id TEXT,
  last_error TEXT,
  run_count INTEGER NOT NULL DEFAULT 0,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%S', 'now') || '.000000Z'),
  updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%S', 'now') || '.000000Z'),
  UNIQUE (organization_id, id),
  FOREIGN KEY (organization_id, team_id) REFERENCES teams (organization_id, id) ON DELETE CASCADE
);
CREATE INDEX idx_run_schedules_due ON run_schedules (next_run_at) WHERE status = 'ACTIVE';
CREATE INDEX idx_run_schedules_org ON run_schedules (organization_id, created_at DESC, id DESC);

ALTER TABLE runs ADD COLUMN schedule_id TEXT REFERENCES run_schedules(id);
CREATE INDEX idx_runs_org_schedule ON runs (organization_id, schedule_id, created_at DESC, id DESC);
