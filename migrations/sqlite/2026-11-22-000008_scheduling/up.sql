-- Employee scheduling: the organization's users are its employees, work events are the
-- jobs to staff, schedules assign people to them. The auto-scheduler runs as a run of
-- kind SCHEDULER, which belongs to no team. Dates are TEXT 'YYYY-MM-DD', times of day
-- TEXT 'HH:MM:SS'.

-- runs.team_id becomes optional: SQLite rebuilds the table (the migration connection
-- runs with foreign keys off, so children keep their rows, and checks them after).
CREATE TABLE runs_new (
  id TEXT PRIMARY KEY NOT NULL,
  organization_id TEXT NOT NULL,
  team_id TEXT,
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
  event_seq BIGINT NOT NULL DEFAULT 0 CHECK (event_seq >= 0),
  UNIQUE (organization_id, id),
  FOREIGN KEY (organization_id, team_id) REFERENCES teams (organization_id, id) ON DELETE CASCADE,
  CHECK ((kind = 'TEAM') = (team_id IS NOT NULL))
);
INSERT INTO runs_new SELECT * FROM runs;
DROP TABLE runs;
ALTER TABLE runs_new RENAME TO runs;
CREATE INDEX idx_runs_org_team_created ON runs (organization_id, team_id, created_at DESC, id DESC);
CREATE INDEX idx_runs_org_created ON runs (organization_id, created_at);
CREATE INDEX idx_runs_status_lease ON runs (status, lease_expires_at);
CREATE INDEX idx_runs_claimable ON runs (created_at) WHERE status IN ('PENDING', 'RUNNING');

CREATE TABLE employee_profiles (
  id TEXT PRIMARY KEY NOT NULL,
  organization_id TEXT NOT NULL,
  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  phone TEXT,
  hire_date TEXT,
  termination_date TEXT,
  active BOOLEAN NOT NULL DEFAULT true,
  skills TEXT NOT NULL DEFAULT '[]',
  notes text CHECK (length(notes) <= 2000),
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%S', 'now') || '.000000Z'),
  updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%S', 'now') || '.000000Z'),
  UNIQUE (organization_id, user_id),
  CHECK (termination_date IS NULL OR hire_date IS NULL OR termination_date >= hire_date)
);

CREATE TABLE work_events (
  id TEXT PRIMARY KEY NOT NULL,
  organization_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
  external_ref TEXT,
  name TEXT NOT NULL CHECK (length(trim(name)) > 0),
  location TEXT,
  start_at TEXT NOT NULL,
  due_at TEXT NOT NULL,
  estimated_minutes INTEGER NOT NULL DEFAULT 60
    CHECK (estimated_minutes > 0 AND estimated_minutes <= 1440),
  event_type TEXT NOT NULL DEFAULT 'Other'
    CHECK (event_type IN ('Setup', 'Demo', 'Juicer', 'Core', 'Other')),
  condition TEXT NOT NULL DEFAULT 'Unstaffed'
    CHECK (condition IN ('Unstaffed', 'Scheduled', 'Submitted', 'Paused', 'Reissued')),
  required_skills TEXT NOT NULL DEFAULT '[]',
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%S', 'now') || '.000000Z'),
  updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%S', 'now') || '.000000Z'),
  UNIQUE (organization_id, id),
  CHECK (due_at >= start_at)
);
CREATE UNIQUE INDEX uq_work_events_org_ref ON work_events (organization_id, external_ref)
  WHERE external_ref IS NOT NULL;
CREATE INDEX idx_work_events_org_condition ON work_events (organization_id, condition);
CREATE INDEX idx_work_events_org_type ON work_events (organization_id, event_type);
CREATE INDEX idx_work_events_org_dates ON work_events (organization_id, start_at, due_at);

CREATE TABLE schedules (
  id TEXT PRIMARY KEY NOT NULL,
  organization_id TEXT NOT NULL,
  work_event_id TEXT NOT NULL,
  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  scheduled_at TEXT NOT NULL,
  ends_at TEXT NOT NULL,
  status TEXT NOT NULL DEFAULT 'pending'
    CHECK (status IN ('pending', 'confirmed', 'completed', 'cancelled')),
  notes text CHECK (length(notes) <= 2000),
  created_by TEXT REFERENCES users(id) ON DELETE SET NULL,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%S', 'now') || '.000000Z'),
  updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%S', 'now') || '.000000Z'),
  UNIQUE (organization_id, id),
  FOREIGN KEY (organization_id, work_event_id) REFERENCES work_events (organization_id, id)
    ON DELETE CASCADE,
  CHECK (ends_at > scheduled_at)
);
-- One schedule per (event, time); a cancelled one frees its slot.
CREATE UNIQUE INDEX uq_schedules_event_time ON schedules (organization_id, work_event_id, scheduled_at)
  WHERE status <> 'cancelled';
CREATE INDEX idx_schedules_org_user_time ON schedules (organization_id, user_id, scheduled_at);
CREATE INDEX idx_schedules_org_time ON schedules (organization_id, scheduled_at);

CREATE TABLE availability_rules (
  id TEXT PRIMARY KEY NOT NULL,
  organization_id TEXT NOT NULL,
  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  day_of_week SMALLINT NOT NULL CHECK (day_of_week BETWEEN 0 AND 6),
  start_time TEXT NOT NULL,
  end_time TEXT NOT NULL,
  effective_from TEXT NOT NULL,
  effective_to TEXT,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%S', 'now') || '.000000Z'),
  updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%S', 'now') || '.000000Z'),
  CHECK (end_time > start_time),
  CHECK (effective_to IS NULL OR effective_to >= effective_from)
);
CREATE INDEX idx_availability_rules_org_user ON availability_rules (organization_id, user_id);

CREATE TABLE availability_overrides (
  id TEXT PRIMARY KEY NOT NULL,
  organization_id TEXT NOT NULL,
  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  date TEXT NOT NULL,
  available BOOLEAN NOT NULL,
  start_time TEXT,
  end_time TEXT,
  reason text CHECK (length(reason) <= 500),
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%S', 'now') || '.000000Z'),
  updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%S', 'now') || '.000000Z'),
  UNIQUE (organization_id, user_id, date),
  CHECK ((start_time IS NULL) = (end_time IS NULL)),
  CHECK (end_time IS NULL OR end_time > start_time)
);
CREATE INDEX idx_availability_overrides_org_date ON availability_overrides (organization_id, date, user_id);

CREATE TABLE time_off_requests (
  id TEXT PRIMARY KEY NOT NULL,
  organization_id TEXT NOT NULL,
  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  start_date TEXT NOT NULL,
  end_date TEXT NOT NULL,
  reason TEXT,
  notes text CHECK (length(notes) <= 2000),
  status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'denied')),
  decided_by TEXT REFERENCES users(id) ON DELETE SET NULL,
  decided_at TEXT,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%S', 'now') || '.000000Z'),
  updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%S', 'now') || '.000000Z'),
  CHECK (end_date >= start_date)
);
CREATE INDEX idx_time_off_org_user_dates ON time_off_requests (organization_id, user_id, start_date, end_date);

CREATE TABLE rotation_assignments (
  id TEXT PRIMARY KEY NOT NULL,
  organization_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
  date TEXT NOT NULL,
  rotation_type TEXT NOT NULL CHECK (rotation_type IN ('Juicer', 'Primary Lead')),
  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%S', 'now') || '.000000Z'),
  updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%S', 'now') || '.000000Z'),
  UNIQUE (organization_id, date, rotation_type)
);

CREATE TABLE schedule_proposals (
  id TEXT PRIMARY KEY NOT NULL,
  organization_id TEXT NOT NULL,
  run_id TEXT NOT NULL,
  work_event_id TEXT NOT NULL,
  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  scheduled_at TEXT NOT NULL,
  ends_at TEXT NOT NULL,
  confidence DOUBLE NOT NULL CHECK (confidence >= 0 AND confidence <= 1),
  reason text NOT NULL,
  reviewed BOOLEAN NOT NULL DEFAULT false,
  approved BOOLEAN,
  schedule_id TEXT REFERENCES schedules(id) ON DELETE SET NULL,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%S', 'now') || '.000000Z'),
  updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%S', 'now') || '.000000Z'),
  UNIQUE (organization_id, run_id, work_event_id),
  FOREIGN KEY (organization_id, run_id) REFERENCES runs (organization_id, id) ON DELETE CASCADE,
  FOREIGN KEY (organization_id, work_event_id) REFERENCES work_events (organization_id, id)
    ON DELETE CASCADE
);
CREATE INDEX idx_schedule_proposals_org_user ON schedule_proposals (organization_id, user_id, scheduled_at);

CREATE TABLE schedule_exceptions (
  id TEXT PRIMARY KEY NOT NULL,
  organization_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
  run_id TEXT,
  work_event_id TEXT,
  schedule_id TEXT REFERENCES schedules(id) ON DELETE CASCADE,
  user_id TEXT REFERENCES users(id) ON DELETE SET NULL,
  exception_type TEXT NOT NULL
    CHECK (exception_type IN ('conflict', 'coverage', 'availability', 'skill_mismatch')),
  severity TEXT NOT NULL CHECK (severity IN ('info', 'warning', 'error', 'critical')),
  message text NOT NULL,
  resolved BOOLEAN NOT NULL DEFAULT false,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%S', 'now') || '.000000Z'),
  updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%S', 'now') || '.000000Z'),
  FOREIGN KEY (organization_id, run_id) REFERENCES runs (organization_id, id) ON DELETE CASCADE,
  FOREIGN KEY (organization_id, work_event_id) REFERENCES work_events (organization_id, id)
    ON DELETE CASCADE
);
CREATE INDEX idx_schedule_exceptions_org_created ON schedule_exceptions (organization_id, resolved, created_at);

CREATE TABLE attendance (
  id TEXT PRIMARY KEY NOT NULL,
  organization_id TEXT NOT NULL,
  schedule_id TEXT NOT NULL UNIQUE REFERENCES schedules(id) ON DELETE CASCADE,
  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  status TEXT NOT NULL DEFAULT 'unreported'
    CHECK (status IN ('present', 'absent', 'excused', 'unreported')),
  check_in_at TEXT,
  check_out_at TEXT,
  method TEXT CHECK (method IN ('qr_code', 'manual', 'auto')),
  notes text CHECK (length(notes) <= 2000),
  recorded_by TEXT REFERENCES users(id) ON DELETE SET NULL,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%S', 'now') || '.000000Z'),
  updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%S', 'now') || '.000000Z'),
  CHECK (check_out_at IS NULL OR (check_in_at IS NOT NULL AND check_out_at >= check_in_at))
);
