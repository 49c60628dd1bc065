-- A second wall between tenants: changes made on behalf of an organization run as
-- gateway_tenant with app.organization_id set (see tenant_transaction!), and these
-- policies then show and accept only that organization's rows. The role is
-- cluster-wide, so it is created only if missing and left in place by down.sql.
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'gateway_tenant') THEN
    CREATE ROLE gateway_tenant NOLOGIN;
  END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
  NULL; -- created meanwhile by a migration of another database
END
$$;
-- A superuser may switch to any role; any other application user must be a member.
DO $$
BEGIN
  IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
    EXECUTE format('GRANT gateway_tenant TO %I', current_user);
  END IF;
END
$$;
GRANT SELECT, INSERT, UPDATE, DELETE ON organizations, users, api_keys, teams, roles, runs, run_steps, run_events TO gateway_tenant;
-- The audit trail is append-only for tenants.
GRANT SELECT, INSERT ON audit_logs TO gateway_tenant;
ALTER TABLE organizations ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON organizations TO gateway_tenant USING (id = NULLIF(current_setting('app.organization_id', true), '')::uuid);
CREATE POLICY system_access ON organizations TO PUBLIC USING (current_user <> 'gateway_tenant');
ALTER TABLE users ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON users TO gateway_tenant USING (organization_id = NULLIF(current_setting('app.organization_id', true), '')::uuid);
CREATE POLICY system_access ON users TO PUBLIC USING (current_user <> 'gateway_tenant');
ALTER TABLE api_keys ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON api_keys TO gateway_tenant USING (organization_id = NULLIF(current_setting('app.organization_id', true), '')::uuid);
CREATE POLICY system_access ON api_keys TO PUBLIC USING (current_user <> 'gateway_tenant');
ALTER TABLE teams ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON teams TO gateway_tenant USING (organization_id = NULLIF(current_setting('app.organization_id', true), '')::uuid);
CREATE POLICY system_access ON teams TO PUBLIC USING (current_user <> 'gateway_tenant');
ALTER TABLE roles ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON roles TO gateway_tenant USING (organization_id = NULLIF(current_setting('app.organization_id', true), '')::uuid);
CREATE POLICY system_access ON roles TO PUBLIC USING (current_user <> 'gateway_tenant');
ALTER TABLE runs ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON runs TO gateway_tenant USING (organization_id = NULLIF(current_setting('app.organization_id', true), '')::uuid);
CREATE POLICY system_access ON runs TO PUBLIC USING (current_user <> 'gateway_tenant');
ALTER TABLE run_steps ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON run_steps TO gateway_tenant USING (organization_id = NULLIF(current_setting('app.organization_id', true), '')::uuid);
CREATE POLICY system_access ON run_steps TO PUBLIC USING (current_user <> 'gateway_tenant');
ALTER TABLE run_events ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON run_events TO gateway_tenant USING (organization_id = NULLIF(current_setting('app.organization_id', true), '')::uuid);
CREATE POLICY system_access ON run_events TO PUBLIC USING (current_user <> 'gateway_tenant');
ALTER TABLE audit_logs ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON audit_logs TO gateway_tenant USING (organization_id = NULLIF(current_setting('app.organization_id', true), '')::uuid);
CREATE POLICY system_access ON audit_logs TO PUBLIC USING (current_user <> 'gateway_tenant');
