DO $$
DECLARE
  t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['organizations', 'users', 'api_keys', 'teams', 'roles', 'runs',
                           'run_steps', 'run_events', 'audit_logs'] LOOP
    EXECUTE format('DROP POLICY system_access ON %I', t);
    EXECUTE format('DROP POLICY tenant_isolation ON %I', t);
    EXECUTE format('ALTER TABLE %I DISABLE ROW LEVEL SECURITY', t);
  END LOOP;
END
$$;
REVOKE ALL ON organizations, users, api_keys, teams, roles, runs, run_steps, run_events, audit_logs
  FROM gateway_tenant;
