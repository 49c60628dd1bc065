-- Typed organization settings; `encrypted` values are sealed by the server.
CREATE TABLE organization_settings (
  id TEXT PRIMARY KEY NOT NULL,
  organization_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
  key TEXT NOT NULL CHECK (length(key) <= 100),
  value TEXT NOT NULL,
  data_type TEXT NOT NULL CHECK (data_type IN ('string', 'int', 'bool', 'json', 'encrypted')),
  description TEXT,
  category TEXT NOT NULL DEFAULT 'general' CHECK (length(category) <= 50),
  updated_by TEXT REFERENCES users(id) ON DELETE SET NULL,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%S', 'now') || '.000000Z'),
  updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%S', 'now') || '.000000Z'),
  UNIQUE (organization_id, key)
);
