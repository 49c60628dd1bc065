-- Orchestration templates: ordered phases a run can follow instead of one step per
-- role. Public templates are readable (and usable) by every organization.
CREATE TABLE orchestration_templates (
  id TEXT PRIMARY KEY NOT NULL,
  organization_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
  created_by TEXT REFERENCES users(id) ON DELETE SET NULL,
  name TEXT NOT NULL CHECK (length(trim(name)) > 0 AND length(name) <= 255),
  description TEXT CHECK (length(description) <= 5000),
  category TEXT CHECK (length(category) <= 100),
  phases TEXT NOT NULL DEFAULT '[]',
  is_public BOOLEAN NOT NULL DEFAULT 0,
  usage_count INTEGER NOT NULL DEFAULT 0 CHECK (usage_count >= 0),
  version INTEGER NOT NULL DEFAULT 1 CHECK (version >= 1),
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%S', 'now') || '.000000Z'),
  updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%S', 'now') || '.000000Z'),
  UNIQUE (organization_id, name)
);
CREATE INDEX idx_templates_public ON orchestration_templates (created_at) WHERE is_public;
ALTER TABLE runs ADD COLUMN template_id TEXT REFERENCES orchestration_templates(id) ON DELETE SET NULL;
