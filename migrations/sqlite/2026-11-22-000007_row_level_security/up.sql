-- Row-level security is PostgreSQL's; SQLite databases are never shared between tenants'
-- processes, and every query already filters by organization.
SELECT 1;
