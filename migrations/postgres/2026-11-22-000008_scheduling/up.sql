-- Employee scheduling: the organization's users are its employees, work events are the
-- jobs to staff, schedules assign people to them. The auto-scheduler runs as a run of
-- kind SCHEDULER, which belongs to no team.
ALTER TABLE runs ALTER COLUMN team_id DROP NOT NULL;
ALTER TABLE runs ADD CONSTRAINT runs_team_by_kind
  CHECK ((kind = 'TEAM') = (team_id IS NOT NULL));

CREATE TABLE employee_profiles (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  organization_id uuid NOT NULL,
  user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  phone varchar(40),
  hire_date date,
  termination_date date,
  active boolean NOT NULL DEFAULT true,
  skills jsonb NOT NULL DEFAULT '[]',
  notes text CHECK (length(notes) <= 2000),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (organization_id, user_id),
  CHECK (termination_date IS NULL OR hire_date IS NULL OR termination_date >= hire_date)
);

CREATE TABLE work_events (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  organization_id uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
  external_ref varchar(100),
  name varchar(200) NOT NULL CHECK (length(trim(name)) > 0),
  location varchar(200),
  start_at timestamptz NOT NULL,
  due_at timestamptz NOT NULL,
  estimated_minutes integer NOT NULL DEFAULT 60
    CHECK (estimated_minutes > 0 AND estimated_minutes <= 1440),
  event_type varchar(20) NOT NULL DEFAULT 'Other'
    CHECK (event_type IN ('Setup', 'Demo', 'Juicer', 'Core', 'Other')),
  condition varchar(20) NOT NULL DEFAULT 'Unstaffed'
    CHECK (condition IN ('Unstaffed', 'Scheduled', 'Submitted', 'Paused', 'Reissued')),
  required_skills jsonb NOT NULL DEFAULT '[]',
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (organization_id, id),
  CHECK (due_at >= start_at)
);
CREATE UNIQUE INDEX uq_work_events_org_ref ON work_events (organization_id, external_ref)
  WHERE external_ref IS NOT NULL;
CREATE INDEX idx_work_events_org_condition ON work_events (organization_id, condition);
CREATE INDEX idx_work_events_org_type ON work_events (organization_id, event_type);
CREATE INDEX idx_work_events_org_dates ON work_events (organization_id, start_at, due_at);

CREATE TABLE schedules (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  organization_id uuid NOT NULL,
  work_event_id uuid NOT NULL,
  user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  scheduled_at timestamptz NOT NULL,
  ends_at timestamptz NOT NULL,
  status varchar(20) NOT NULL DEFAULT 'pending'
    CHECK (status IN ('pending', 'confirmed', 'completed', 'cancelled')),
  notes text CHECK (length(notes) <= 2000),
  created_by uuid REFERENCES users(id) ON DELETE SET NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
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
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  organization_id uuid NOT NULL,
  user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  day_of_week smallint NOT NULL CHECK (day_of_week BETWEEN 0 AND 6),
  start_time time NOT NULL,
  end_time time NOT NULL,
  effective_from date NOT NULL,
  effective_to date,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CHECK (end_time > start_time),
  CHECK (effective_to IS NULL OR effective_to >= effective_from)
);
CREATE INDEX idx_availability_rules_org_user ON availability_rules (organization_id, user_id);

CREATE TABLE availability_overrides (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  organization_id uuid NOT NULL,
  user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  date date NOT NULL,
  available boolean NOT NULL,
  start_time time,
  end_time time,
  reason text CHECK (length(reason) <= 500),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (organization_id, user_id, date),
  CHECK ((start_time IS NULL) = (end_time IS NULL)),
  CHECK (end_time IS NULL OR end_time > start_time)
);
CREATE INDEX idx_availability_overrides_org_date ON availability_overrides (organization_id, date, user_id);

CREATE TABLE time_off_requests (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  organization_id uuid NOT NULL,
  user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  start_date date NOT NULL,
  end_date date NOT NULL,
  reason varchar(100),
  notes text CHECK (length(notes) <= 2000),
  status varchar(20) NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'denied')),
  decided_by uuid REFERENCES users(id) ON DELETE SET NULL,
  decided_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CHECK (end_date >= start_date)
);
CREATE INDEX idx_time_off_org_user_dates ON time_off_requests (organization_id, user_id, start_date, end_date);

CREATE TABLE rotation_assignments (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  organization_id uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
  date date NOT NULL,
  rotation_type varchar(30) NOT NULL CHECK (rotation_type IN ('Juicer', 'Primary Lead')),
  user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (organization_id, date, rotation_type)
);

CREATE TABLE schedule_proposals (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  organization_id uuid NOT NULL,
  run_id uuid NOT NULL,
  work_event_id uuid NOT NULL,
  user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  scheduled_at timestamptz NOT NULL,
  ends_at timestamptz NOT NULL,
  confidence double precision NOT NULL CHECK (confidence >= 0 AND confidence <= 1),
  reason text NOT NULL,
  reviewed boolean NOT NULL DEFAULT false,
  approved boolean,
  schedule_id uuid REFERENCES schedules(id) ON DELETE SET NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (organization_id, run_id, work_event_id),
  FOREIGN KEY (organization_id, run_id) REFERENCES runs (organization_id, id) ON DELETE CASCADE,
  FOREIGN KEY (organization_id, work_event_id) REFERENCES work_events (organization_id, id)
    ON DELETE CASCADE
);
CREATE INDEX idx_schedule_proposals_org_user ON schedule_proposals (organization_id, user_id, scheduled_at);

CREATE TABLE schedule_exceptions (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  organization_id uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
  run_id uuid,
  work_event_id uuid,
  schedule_id uuid REFERENCES schedules(id) ON DELETE CASCADE,
  user_id uuid REFERENCES users(id) ON DELETE SET NULL,
  exception_type varchar(20) NOT NULL
    CHECK (exception_type IN ('conflict', 'coverage', 'availability', 'skill_mismatch')),
  severity varchar(10) NOT NULL CHECK (severity IN ('info', 'warning', 'error', 'critical')),
  message text NOT NULL,
  resolved boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  FOREIGN KEY (organization_id, run_id) REFERENCES runs (organization_id, id) ON DELETE CASCADE,
  FOREIGN KEY (organization_id, work_event_id) REFERENCES work_events (organization_id, id)
    ON DELETE CASCADE
);
CREATE INDEX idx_schedule_exceptions_org_created ON schedule_exceptions (organization_id, resolved, created_at);

CREATE TABLE attendance (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  organization_id uuid NOT NULL,
  schedule_id uuid NOT NULL UNIQUE REFERENCES schedules(id) ON DELETE CASCADE,
  user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  status varchar(20) NOT NULL DEFAULT 'unreported'
    CHECK (status IN ('present', 'absent', 'excused', 'unreported')),
  check_in_at timestamptz,
  check_out_at timestamptz,
  method varchar(20) CHECK (method IN ('qr_code', 'manual', 'auto')),
  notes text CHECK (length(notes) <= 2000),
  recorded_by uuid REFERENCES users(id) ON DELETE SET NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CHECK (check_out_at IS NULL OR (check_in_at IS NOT NULL AND check_out_at >= check_in_at))
);

GRANT SELECT, INSERT, UPDATE, DELETE ON employee_profiles, work_events, schedules,
  availability_rules, availability_overrides, time_off_requests, rotation_assignments,
  schedule_proposals, schedule_exceptions, attendance TO gateway_tenant;
DO $$
DECLARE
  t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['employee_profiles', 'work_events', 'schedules', 'availability_rules',
                           'availability_overrides', 'time_off_requests', 'rotation_assignments',
                           'schedule_proposals', 'schedule_exceptions', 'attendance'] LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format(
      'CREATE POLICY tenant_isolation ON %I TO gateway_tenant '
      'USING (organization_id = NULLIF(current_setting(''app.organization_id'', true), '''')::uuid)',
      t);
    EXECUTE format(
      'CREATE POLICY system_access ON %I TO PUBLIC USING (current_user <> ''gateway_tenant'')', t);
  END LOOP;
END
$$;
