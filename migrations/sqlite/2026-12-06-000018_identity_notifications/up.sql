-- Nothing on SQLite: a SQLite database belongs to one process, which caches no
-- identities (the PostgreSQL migration of this name announces identity changes).
SELECT 1;
