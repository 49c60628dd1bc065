-- Conversations of a user with one of a team's agents (roles), and their messages.
CREATE TABLE conversations (
  id uuid PRIMARY KEY,
  organization_id uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
  user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  -- Kept when the role is removed (the history stays readable; nothing more is sent).
  role_id uuid REFERENCES roles(id) ON DELETE SET NULL,
  team_id uuid NOT NULL,
  project_id uuid,
  title varchar(255),
  message_count integer NOT NULL DEFAULT 0 CHECK (message_count >= 0),
  tokens_used bigint NOT NULL DEFAULT 0 CHECK (tokens_used >= 0),
  cost numeric(12,4) NOT NULL DEFAULT 0 CHECK (cost >= 0),
  last_message_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (organization_id, id),
  FOREIGN KEY (organization_id, team_id) REFERENCES teams (organization_id, id) ON DELETE CASCADE
);
CREATE INDEX idx_conversations_org_user ON conversations (organization_id, user_id, last_message_at DESC);
CREATE INDEX idx_conversations_org_role ON conversations (organization_id, role_id);

CREATE TABLE messages (
  id uuid PRIMARY KEY,
  organization_id uuid NOT NULL,
  conversation_id uuid NOT NULL,
  -- 1, 2, ... in the conversation, in the order the messages were stored.
  position integer NOT NULL CHECK (position >= 1),
  role varchar(20) NOT NULL CHECK (role IN ('user', 'assistant')),
  content text NOT NULL,
  status varchar(20) NOT NULL DEFAULT 'completed' CHECK (status IN ('completed', 'failed')),
  model varchar(100),
  prompt_tokens integer NOT NULL DEFAULT 0 CHECK (prompt_tokens >= 0),
  completion_tokens integer NOT NULL DEFAULT 0 CHECK (completion_tokens >= 0),
  tokens_used integer NOT NULL DEFAULT 0 CHECK (tokens_used >= 0),
  cost numeric(12,4) NOT NULL DEFAULT 0 CHECK (cost >= 0),
  finish_reason varchar(50),
  error_message text,
  duration_ms bigint,
  created_by uuid REFERENCES users(id) ON DELETE SET NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (organization_id, conversation_id, position),
  FOREIGN KEY (organization_id, conversation_id) REFERENCES conversations (organization_id, id) ON DELETE CASCADE
);

-- Usage of a conversation's replies is kept in the same ledger as runs' steps.
ALTER TABLE usage_records ADD COLUMN conversation_id uuid;
ALTER TABLE usage_records ADD COLUMN message_id uuid;

DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['conversations', 'messages'] LOOP
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I TO gateway_tenant', t);
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('CREATE POLICY tenant_isolation ON %I TO gateway_tenant USING (organization_id = NULLIF(current_setting(''app.organization_id'', true), '''')::uuid)', t);
    EXECUTE format('CREATE POLICY system_access ON %I TO PUBLIC USING (current_user <> ''gateway_tenant'')', t);
  END LOOP;
END $$;
