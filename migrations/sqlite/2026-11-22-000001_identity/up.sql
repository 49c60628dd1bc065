-- Organizations (tenants), their users and API keys.
-- SQLite layout: uuids, timestamps (RFC 3339 UTC, fixed microseconds) and JSON are TEXT;
-- decimals are INTEGER ten-thousandths.
CREATE TABLE organizations (
  id TEXT PRIMARY KEY NOT NULL,
  name TEXT NOT NULL CHECK (length(trim(name)) > 0 AND length(name) <= 255),
  slug TEXT NOT NULL UNIQUE CHECK (length(slug) > 0 AND length(slug) <= 100),
  plan TEXT NOT NULL DEFAULT 'free' CHECK (plan IN ('free', 'pro', 'enterprise')),
  api_quota_limit INTEGER NOT NULL DEFAULT 1000 CHECK (api_quota_limit >= 0),
  api_quota_used INTEGER NOT NULL DEFAULT 0 CHECK (api_quota_used >= 0),
  max_users INTEGER NOT NULL DEFAULT 10 CHECK (max_users > 0),
  max_projects INTEGER NOT NULL DEFAULT 5 CHECK (max_projects >= 0),
  settings TEXT NOT NULL DEFAULT '{}',
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%S', 'now') || '.000000Z'),
  updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%S', 'now') || '.000000Z'),
  deleted_at TEXT
);

CREATE TABLE users (
  id TEXT PRIMARY KEY NOT NULL,
  organization_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
  email TEXT NOT NULL UNIQUE CHECK (length(email) <= 255),
  username TEXT NOT NULL UNIQUE CHECK (length(username) <= 100),
  full_name TEXT CHECK (length(full_name) <= 255),
  password_hash TEXT,
  org_role TEXT NOT NULL DEFAULT 'member' CHECK (org_role IN ('admin', 'manager', 'member', 'viewer')),
  permissions TEXT NOT NULL DEFAULT '[]',
  preferences TEXT NOT NULL DEFAULT '{}',
  is_active INTEGER NOT NULL DEFAULT 1,
  email_verified_at TEXT,
  last_login_at TEXT,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%S', 'now') || '.000000Z'),
  updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%S', 'now') || '.000000Z'),
  deleted_at TEXT,
  UNIQUE (organization_id, id)
);
CREATE INDEX idx_users_org_created ON users (organization_id, created_at);

CREATE TABLE api_keys (
  id TEXT PRIMARY KEY NOT NULL,
  organization_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
  user_id TEXT NOT NULL,
  name TEXT NOT NULL CHECK (length(trim(name)) > 0 AND length(name) <= 100),
  key_prefix TEXT NOT NULL,
  key_hash TEXT NOT NULL UNIQUE,
  scopes TEXT NOT NULL DEFAULT '[]',
  last_used_at TEXT,
  expires_at TEXT,
  revoked_at TEXT,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%S', 'now') || '.000000Z'),
  updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%S', 'now') || '.000000Z'),
  FOREIGN KEY (organization_id, user_id) REFERENCES users (organization_id, id) ON DELETE CASCADE
);
CREATE INDEX idx_api_keys_org_user ON api_keys (organization_id, user_id);
