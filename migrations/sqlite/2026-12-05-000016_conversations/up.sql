-- Conversations of a user with one of a team's agents (roles), and their messages.
CREATE TABLE conversations (
  id TEXT PRIMARY KEY NOT NULL,
  organization_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  -- Kept when the role is removed (the history stays readable; nothing more is sent).
  role_id TEXT REFERENCES roles(id) ON DELETE SET NULL,
  team_id TEXT NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
  project_id TEXT,
  title TEXT CHECK (length(title) <= 255),
  message_count INTEGER NOT NULL DEFAULT 0 CHECK (message_count >= 0),
  tokens_used INTEGER NOT NULL DEFAULT 0 CHECK (tokens_used >= 0),
  cost INTEGER NOT NULL DEFAULT 0 CHECK (cost >= 0),
  last_message_at TEXT,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%S', 'now') || '.000000Z'),
  updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%S', 'now') || '.000000Z')
);
CREATE INDEX idx_conversations_org_user ON conversations (organization_id, user_id, last_message_at DESC);
CREATE INDEX idx_conversations_org_role ON conversations (organization_id, role_id);

CREATE TABLE messages (
  id TEXT PRIMARY KEY NOT NULL,
  organization_id TEXT NOT NULL,
  conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
  -- 1, 2, ... in the conversation, in the order the messages were stored.
  position INTEGER NOT NULL CHECK (position >= 1),
  role TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
  content TEXT NOT NULL,
  status TEXT NOT NULL DEFAULT 'completed' CHECK (status IN ('completed', 'failed')),
  model TEXT CHECK (length(model) <= 100),
  prompt_tokens INTEGER NOT NULL DEFAULT 0 CHECK (prompt_tokens >= 0),
  completion_tokens INTEGER NOT NULL DEFAULT 0 CHECK (completion_tokens >= 0),
  tokens_used INTEGER NOT NULL DEFAULT 0 CHECK (tokens_used >= 0),
  cost INTEGER NOT NULL DEFAULT 0 CHECK (cost >= 0),
  finish_reason TEXT CHECK (length(finish_reason) <= 50),
  error_message TEXT,
  duration_ms INTEGER,
  created_by TEXT REFERENCES users(id) ON DELETE SET NULL,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%S', 'now') || '.000000Z'),
  UNIQUE (organization_id, conversation_id, position)
);

-- Usage of a conversation's replies is kept in the same ledger as runs' steps.
ALTER TABLE usage_records ADD COLUMN conversation_id TEXT;
ALTER TABLE usage_records ADD COLUMN message_id TEXT;
