-- One row per GraphQL operation served: who asked, what, how long it took and how it
-- ended. Written in batches off the request path. Requests without an organization
-- (sign-up, login, refused credentials) have none.
CREATE TABLE api_usage (
  id TEXT PRIMARY KEY NOT NULL,
  organization_id TEXT REFERENCES organizations(id) ON DELETE CASCADE,
  user_id TEXT,
  api_key_id TEXT,
  operation_name TEXT CHECK (length(operation_name) <= 255),
  operation_type TEXT NOT NULL CHECK (operation_type IN ('query', 'mutation', 'subscription', 'unknown')),
  status TEXT NOT NULL CHECK (status IN ('ok', 'partial', 'error', 'refused', 'timeout')),
  errors_count INTEGER NOT NULL DEFAULT 0 CHECK (errors_count >= 0),
  duration_us INTEGER NOT NULL CHECK (duration_us >= 0),
  -- The UTC day, as text so both backends group it alike.
  usage_day TEXT NOT NULL,
  request_id TEXT,
  created_at TEXT NOT NULL
);
CREATE INDEX idx_api_usage_org_time ON api_usage (organization_id, created_at);
