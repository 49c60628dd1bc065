-- Billing: the plans on offer, each organization's subscription to one, and the usage
-- its work records. Amounts are INTEGER ten-thousandths.
CREATE TABLE plans (
  id TEXT PRIMARY KEY NOT NULL,
  plan_type TEXT NOT NULL UNIQUE CHECK (plan_type IN ('free', 'pro', 'enterprise')),
  name TEXT NOT NULL CHECK (length(name) <= 100),
  price_monthly INTEGER NOT NULL DEFAULT 0 CHECK (price_monthly >= 0),
  price_yearly INTEGER NOT NULL DEFAULT 0 CHECK (price_yearly >= 0),
  currency TEXT NOT NULL DEFAULT 'USD',
  features TEXT NOT NULL DEFAULT '{}',
  -- Keys: users, projects, teams, apiRequestsPerMonth, runsPerMonth, tokensPerMonth;
  -- a missing or null key is unlimited.
  limits TEXT NOT NULL DEFAULT '{}',
  is_active BOOLEAN NOT NULL DEFAULT 1,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%S', 'now') || '.000000Z'),
  updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%S', 'now') || '.000000Z')
);
INSERT INTO plans (id, plan_type, name, price_monthly, price_yearly, features, limits) VALUES
  ('00000000-0000-4000-8000-000000000001', 'free', 'Free', 0, 0,
   '{"webhooks": true, "runSchedules": true, "templates": true, "prioritySupport": false, "sso": false}',
   '{"users": 10, "projects": 5, "teams": 10, "apiRequestsPerMonth": 1000, "runsPerMonth": 200, "tokensPerMonth": 1000000}'),
  ('00000000-0000-4000-8000-000000000002', 'pro', 'Pro', 490000, 4900000,
   '{"webhooks": true, "runSchedules": true, "templates": true, "prioritySupport": true, "sso": false}',
   '{"users": 50, "projects": 50, "teams": 100, "apiRequestsPerMonth": 100000, "runsPerMonth": 10000, "tokensPerMonth": 50000000}'),
  ('00000000-0000-4000-8000-000000000003', 'enterprise', 'Enterprise', 4990000, 49900000,
   '{"webhooks": true, "runSchedules": true, "templates": true, "prioritySupport": true, "sso": true}',
   '{"users": 1000, "projects": 1000, "teams": null, "apiRequestsPerMonth": 10000000, "runsPerMonth": null, "tokensPerMonth": null}');

CREATE TABLE subscriptions (
  id TEXT PRIMARY KEY NOT NULL,
  organization_id TEXT NOT NULL UNIQUE REFERENCES organizations(id) ON DELETE CASCADE,
  plan_id TEXT NOT NULL REFERENCES plans(id),
  status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'cancelled', 'expired')),
  billing_cycle TEXT NOT NULL DEFAULT 'monthly' CHECK (billing_cycle IN ('monthly', 'yearly')),
  current_period_start TEXT NOT NULL,
  current_period_end TEXT NOT NULL CHECK (current_period_end > current_period_start),
  cancelled_at TEXT,
  external_customer_id TEXT CHECK (length(external_customer_id) <= 255),
  external_subscription_id TEXT CHECK (length(external_subscription_id) <= 255),
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%S', 'now') || '.000000Z'),
  updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%S', 'now') || '.000000Z')
);
CREATE INDEX idx_subscriptions_period_end ON subscriptions (current_period_end) WHERE status <> 'expired';
-- Each row draws its own random id (randomblob is evaluated per row).
INSERT INTO subscriptions (id, organization_id, plan_id, current_period_start, current_period_end)
  SELECT lower(hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' || substr(hex(randomblob(2)), 2)
           || '-a' || substr(hex(randomblob(2)), 2) || '-' || hex(randomblob(6))),
         o.id, p.id,
         strftime('%Y-%m-%dT%H:%M:%S', 'now') || '.000000Z',
         strftime('%Y-%m-%dT%H:%M:%S', 'now', '+1 month') || '.000000Z'
  FROM organizations o JOIN plans p ON p.plan_type = o.plan;

-- The usage ledger. Team, run and step are plain ids: a ledger outlives what it counts.
CREATE TABLE usage_records (
  id TEXT PRIMARY KEY NOT NULL,
  organization_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
  subscription_id TEXT REFERENCES subscriptions(id) ON DELETE SET NULL,
  team_id TEXT,
  run_id TEXT,
  step_id TEXT,
  model TEXT,
  billing_unit TEXT NOT NULL CHECK (billing_unit IN ('token', 'agent_run')),
  quantity INTEGER NOT NULL CHECK (quantity >= 0),
  -- Per million tokens for `token`, per step for `agent_run`.
  unit_price INTEGER NOT NULL DEFAULT 0 CHECK (unit_price >= 0),
  total_cost INTEGER NOT NULL DEFAULT 0 CHECK (total_cost >= 0),
  currency TEXT NOT NULL DEFAULT 'USD',
  -- The UTC day, as text so both backends group it alike.
  usage_day TEXT NOT NULL,
  period_start TEXT NOT NULL,
  period_end TEXT NOT NULL,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%S', 'now') || '.000000Z')
);
CREATE INDEX idx_usage_records_org_time ON usage_records (organization_id, created_at);
CREATE INDEX idx_usage_records_org_period ON usage_records (organization_id, period_start, billing_unit);
