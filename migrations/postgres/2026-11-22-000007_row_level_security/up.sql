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
-- Tenants see and write only their organization's rows; other roles (the application
-- outside tenant transactions, e.g. the cross-tenant run engine) are unaffected.
DO $$
DECLARE
  t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['organizations', 'users', 'api_keys', 'teams', 'roles', 'runs',
                           'run_steps', 'run_events', 'audit_logs'] LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format(
      'CREATE POLICY tenant_isolation ON %I TO gateway_tenant '
      'USING (%I = NULLIF(current_setting(''app.organization_id'', true), '''')::uuid)',
      t, CASE WHEN t = 'organizations' THEN 'id' ELSE 'organization_id' END);
    EXECUTE format(
      'CREATE POLICY system_access ON %I TO PUBLIC USING (current_user <> ''gateway_tenant'')', t);
  END LOOP;
END
$$;
