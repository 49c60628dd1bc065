-- Orchestration templates: ordered phases a run can follow instead of one step per
-- role. Public templates are readable (and usable) by every organization.
CREATE TABLE orchestration_templates (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  organization_id uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
  created_by uuid REFERENCES users(id) ON DELETE SET NULL,
  name varchar(255) NOT NULL CHECK (length(trim(name)) > 0),
  description text CHECK (length(description) <= 5000),
  category varchar(100),
  phases jsonb NOT NULL DEFAULT '[]',
  is_public boolean NOT NULL DEFAULT false,
  usage_count integer NOT NULL DEFAULT 0 CHECK (usage_count >= 0),
  version integer NOT NULL DEFAULT 1 CHECK (version >= 1),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (organization_id, name)
);
CREATE INDEX idx_templates_public ON orchestration_templates (created_at) WHERE is_public;
ALTER TABLE runs ADD COLUMN template_id uuid REFERENCES orchestration_templates(id) ON DELETE SET NULL;

GRANT SELECT, INSERT, UPDATE, DELETE ON orchestration_templates TO gateway_tenant;
ALTER TABLE orchestration_templates ENABLE ROW LEVEL SECURITY;
-- Tenants read their own and public templates, and change only their own.
CREATE POLICY tenant_read ON orchestration_templates FOR SELECT TO gateway_tenant
  USING (is_public OR organization_id = NULLIF(current_setting('app.organization_id', true), '')::uuid);
CREATE POLICY tenant_isolation ON orchestration_templates TO gateway_tenant
  USING (organization_id = NULLIF(current_setting('app.organization_id', true), '')::uuid);
CREATE POLICY system_access ON orchestration_templates TO PUBLIC USING (current_user <> 'gateway_tenant');
