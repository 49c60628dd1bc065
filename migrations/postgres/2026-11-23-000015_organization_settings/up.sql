-- Typed organization settings; `encrypted` values are sealed by the server.
CREATE TABLE organization_settings (
  id uuid PRIMARY KEY,
  organization_id uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
  key varchar(100) NOT NULL,
  value text NOT NULL,
  data_type varchar(20) NOT NULL CHECK (data_type IN ('string', 'int', 'bool', 'json', 'encrypted')),
  description text,
  category varchar(50) NOT NULL DEFAULT 'general',
  updated_by uuid REFERENCES users(id) ON DELETE SET NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (organization_id, key)
);

GRANT SELECT, INSERT, UPDATE, DELETE ON organization_settings TO gateway_tenant;
ALTER TABLE organization_settings ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON organization_settings TO gateway_tenant
  USING (organization_id = NULLIF(current_setting('app.organization_id', true), '')::uuid);
CREATE POLICY system_access ON organization_settings TO PUBLIC USING (current_user <> 'gateway_tenant');
