DROP TRIGGER organizations_identity_changed ON organizations;
DROP TRIGGER users_identity_changed ON users;
DROP FUNCTION gateway_notify_identity();
