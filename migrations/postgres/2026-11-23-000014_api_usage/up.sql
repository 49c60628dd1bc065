-- One row per GraphQL operation served: who asked, what, how long it took and how it
-- ended. Written in batches off the request path. Requests without an organization
-- (sign-up, login, refused credentials) have none.
CREATE TABLE api_usage (
  id uuid PRIMARY KEY,
  organization_id uuid REFERENCES organizations(id) ON DELETE CASCADE,
  user_id uuid,
  api_key_id uuid,
  operation_name varchar(255),
  operation_type varchar(20) NOT NULL CHECK (operation_type IN ('query', 'mutation', 'subscription', 'unknown')),
  status varchar(20) NOT NULL CHECK (status IN ('ok', 'partial', 'error', 'refused', 'timeout')),
  errors_count integer NOT NULL DEFAULT 0 CHECK (errors_count >= 0),
  duration_us bigint NOT NULL CHECK (duration_us >= 0),
  -- The UTC day, as text so both backends group it alike.
  usage_day varchar(10) NOT NULL,
  request_id varchar(100),
  created_at timestamptz NOT NULL
);
CREATE INDEX idx_api_usage_org_time ON api_usage (organization_id, created_at);

GRANT SELECT, INSERT ON api_usage TO gateway_tenant;
ALTER TABLE api_usage ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON api_usage TO gateway_tenant
  USING (organization_id = NULLIF(current_setting('app.organization_id', true), '')::uuid);
CREATE POLICY system_access ON api_usage TO PUBLIC USING (current_user <> 'gateway_tenant');
