-- Recurring runs: a team's run started on a cron schedule in a time zone.
CREATE TABLE run_schedules (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  organization_id uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
  team_id uuid NOT NULL,
  -- An organization's own or a public template. No foreign key: deleting a public
  -- template must not reach other organizations' schedules; a schedule whose template
  -- is gone is paused when it next fires.
  template_id uuid,
  created_by uuid REFERENCES users(id) ON DELETE SET NULL,
  name varchar(255) NOT NULL CHECK (length(trim(name)) > 0),
  cron varchar(120) NOT NULL,
  timezone varchar(64) NOT NULL DEFAULT 'UTC',
  inputs jsonb NOT NULL DEFAULT '{}',
  status varchar(20) NOT NULL DEFAULT 'ACTIVE' CHECK (status IN ('ACTIVE', 'PAUSED')),
  missed_policy varchar(20) NOT NULL DEFAULT 'FIRE_ONCE' CHECK (missed_policy IN ('FIRE_ONCE', 'SKIP')),
  -- The occurrence to fire next; claimed by moving it on, so each fires once.
  next_run_at timestamptz,
  last_run_at timestamptz,
  last_run_id uuid,
  last_error text,
  run_count integer NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (organization_id, id),
  FOREIGN KEY (organization_id, team_id) REFERENCES teams (organization_id, id) ON DELETE CASCADE
);
CREATE INDEX idx_run_schedules_due ON run_schedules (next_run_at) WHERE status = 'ACTIVE';
CREATE INDEX idx_run_schedules_org ON run_schedules (organization_id, created_at DESC, id DESC);

ALTER TABLE runs ADD COLUMN schedule_id uuid;
ALTER TABLE runs ADD CONSTRAINT runs_schedule_fk
  FOREIGN KEY (organization_id, schedule_id) REFERENCES run_schedules (organization_id, id);
CREATE INDEX idx_runs_org_schedule ON runs (organization_id, schedule_id, created_at DESC, id DESC);

GRANT SELECT, INSERT, UPDATE, DELETE ON run_schedules TO gateway_tenant;
ALTER TABLE run_schedules ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON run_schedules TO gateway_tenant
  USING (organization_id = NULLIF(current_setting('app.organization_id', true), '')::uuid);
CREATE POLICY system_access ON run_schedules TO PUBLIC USING (current_user <> 'gateway_tenant');
