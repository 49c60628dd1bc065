-- Organizations (tenants), their users and API keys.
CREATE TABLE organizations (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name varchar(255) NOT NULL CHECK (length(trim(name)) > 0),
  slug varchar(100) NOT NULL UNIQUE CHECK (length(slug) > 0),
  plan varchar(20) NOT NULL DEFAULT 'free' CHECK (plan IN ('free', 'pro', 'enterprise')),
  api_quota_limit integer NOT NULL DEFAULT 1000 CHECK (api_quota_limit >= 0),
  api_quota_used integer NOT NULL DEFAULT 0 CHECK (api_quota_used >= 0),
  max_users integer NOT NULL DEFAULT 10 CHECK (max_users > 0),
  max_projects integer NOT NULL DEFAULT 5 CHECK (max_projects >= 0),
  settings jsonb NOT NULL DEFAULT '{}',
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  deleted_at timestamptz
);

CREATE TABLE users (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  organization_id uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
  email varchar(255) NOT NULL UNIQUE,
  username varchar(100) NOT NULL UNIQUE,
  full_name varchar(255),
  -- NULL for users that cannot log in with a password (provisioned or imported).
  password_hash text,
  org_role varchar(20) NOT NULL DEFAULT 'member'
    CHECK (org_role IN ('admin', 'manager', 'member', 'viewer')),
  permissions jsonb NOT NULL DEFAULT '[]',
  preferences jsonb NOT NULL DEFAULT '{}',
  is_active boolean NOT NULL DEFAULT true,
  email_verified_at timestamptz,
  last_login_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  deleted_at timestamptz,
  UNIQUE (organization_id, id)
);
CREATE INDEX idx_users_org_created ON users (organization_id, created_at);

CREATE TABLE api_keys (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  organization_id uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
  user_id uuid NOT NULL,
  name varchar(100) NOT NULL CHECK (length(trim(name)) > 0),
  key_prefix varchar(32) NOT NULL,
  key_hash varchar(128) NOT NULL UNIQUE,
  scopes jsonb NOT NULL DEFAULT '[]',
  last_used_at timestamptz,
  expires_at timestamptz,
  revoked_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  FOREIGN KEY (organization_id, user_id) REFERENCES users (organization_id, id) ON DELETE CASCADE
);
CREATE INDEX idx_api_keys_org_user ON api_keys (organization_id, user_id);
