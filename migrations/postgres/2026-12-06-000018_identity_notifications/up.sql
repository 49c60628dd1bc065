-- Every change to a user or an organization is announced on the gateway's channel when
-- it commits, whoever makes it (any gateway process, a script, psql), so processes that
-- cache who a session token belongs to forget it at once.
CREATE FUNCTION gateway_notify_identity() RETURNS trigger AS $$
BEGIN
  PERFORM pg_notify(
    'gateway_events',
    json_build_object('identity', TG_ARGV[0], 'id', OLD.id)::text
  );
  RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER users_identity_changed
  AFTER UPDATE OR DELETE ON users
  FOR EACH ROW EXECUTE FUNCTION gateway_notify_identity('user');

CREATE TRIGGER organizations_identity_changed
  AFTER UPDATE OR DELETE ON organizations
  FOR EACH ROW EXECUTE FUNCTION gateway_notify_identity('organization');
