-- Billing: the plans on offer, each organization's subscription to one, and the usage
-- its work records.
CREATE TABLE plans (
  id uuid PRIMARY KEY,
  plan_type varchar(20) NOT NULL UNIQUE CHECK (plan_type IN ('free', 'pro', 'enterprise')),
  name varchar(100) NOT NULL,
  price_monthly numeric(12,4) NOT NULL DEFAULT 0 CHECK (price_monthly >= 0),
  price_yearly numeric(12,4) NOT NULL DEFAULT 0 CHECK (price_yearly >= 0),
  currency varchar(3) NOT NULL DEFAULT 'USD',
  features jsonb NOT NULL DEFAULT '{}',
  -- Keys: users, projects, teams, apiRequestsPerMonth, runsPerMonth, tokensPerMonth;
  -- a missing or null key is unlimited.
  limits jsonb NOT NULL DEFAULT '{}',
  is_active boolean NOT NULL DEFAULT true,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO plans (id, plan_type, name, price_monthly, price_yearly, features, limits) VALUES
  ('00000000-0000-4000-8000-000000000001', 'free', 'Free', 0, 0,
   '{"webhooks": true, "runSchedules": true, "templates": true, "prioritySupport": false, "sso": false}',
   '{"users": 10, "projects": 5, "teams": 10, "apiRequestsPerMonth": 1000, "runsPerMonth": 200, "tokensPerMonth": 1000000}'),
  ('00000000-0000-4000-8000-000000000002', 'pro', 'Pro', 49, 490,
   '{"webhooks": true, "runSchedules": true, "templates": true, "prioritySupport": true, "sso": false}',
   '{"users": 50, "projects": 50, "teams": 100, "apiRequestsPerMonth": 100000, "runsPerMonth": 10000, "tokensPerMonth": 50000000}'),
  ('00000000-0000-4000-8000-000000000003', 'enterprise', 'Enterprise', 499, 4990,
   '{"webhooks": true, "runSchedules": true, "templates": true, "prioritySupport": true, "sso": true}',
   '{"users": 1000, "projects": 1000, "teams": null, "apiRequestsPerMonth": 10000000, "runsPerMonth": null, "tokensPerMonth": null}');

CREATE TABLE subscriptions (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  organization_id uuid NOT NULL UNIQUE REFERENCES organizations(id) ON DELETE CASCADE,
  plan_id uuid NOT NULL REFERENCES plans(id),
  status varchar(20) NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'cancelled', 'expired')),
  billing_cycle varchar(20) NOT NULL DEFAULT 'monthly' CHECK (billing_cycle IN ('monthly', 'yearly')),
  current_period_start timestamptz NOT NULL,
  current_period_end timestamptz NOT NULL CHECK (current_period_end > current_period_start),
  cancelled_at timestamptz,
  external_customer_id varchar(255),
  external_subscription_id varchar(255),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX idx_subscriptions_period_end ON subscriptions (current_period_end) WHERE status <> 'expired';
INSERT INTO subscriptions (organization_id, plan_id, current_period_start, current_period_end)
  SELECT o.id, p.id, now(), now() + interval '1 month'
  FROM organizations o JOIN plans p ON p.plan_type = o.plan;

-- The usage ledger. Team, run and step are plain ids: a ledger outlives what it counts.
CREATE TABLE usage_records (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  organization_id uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
  subscription_id uuid REFERENCES subscriptions(id) ON DELETE SET NULL,
  team_id uuid,
  run_id uuid,
  step_id uuid,
  model varchar(100),
  billing_unit varchar(20) NOT NULL CHECK (billing_unit IN ('token', 'agent_run')),
  quantity bigint NOT NULL CHECK (quantity >= 0),
  -- Per million tokens for `token`, per step for `agent_run`.
  unit_price numeric(12,4) NOT NULL DEFAULT 0 CHECK (unit_price >= 0),
  total_cost numeric(12,4) NOT NULL DEFAULT 0 CHECK (total_cost >= 0),
  currency varchar(3) NOT NULL DEFAULT 'USD',
  -- The UTC day, as text so both backends group it alike.
  usage_day varchar(10) NOT NULL,
  period_start timestamptz NOT NULL,
  period_end timestamptz NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX idx_usage_records_org_time ON usage_records (organization_id, created_at);
CREATE INDEX idx_usage_records_org_period ON usage_records (organization_id, period_start, billing_unit);

GRANT SELECT ON plans TO gateway_tenant;
GRANT SELECT, INSERT, UPDATE, DELETE ON subscriptions, usage_records TO gateway_tenant;
ALTER TABLE subscriptions ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON subscriptions TO gateway_tenant
  USING (organization_id = NULLIF(current_setting('app.organization_id', true), '')::uuid);
CREATE POLICY system_access ON subscriptions TO PUBLIC USING (current_user <> 'gateway_tenant');
ALTER TABLE usage_records ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON usage_records TO gateway_tenant
  USING (organization_id = NULLIF(current_setting('app.organization_id', true), '')::uuid);
CREATE POLICY system_access ON usage_records TO PUBLIC USING (current_user <> 'gateway_tenant');
