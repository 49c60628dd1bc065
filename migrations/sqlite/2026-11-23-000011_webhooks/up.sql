-- Webhooks: outside endpoints told about an organization's events.
CREATE TABLE webhooks (
  id TEXT PRIMARY KEY NOT NULL,
  organization_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
  created_by TEXT REFERENCES users(id) ON DELETE SET NULL,
  url TEXT NOT NULL CHECK (length(url) <= 2048),
  description TEXT CHECK (length(description) <= 1000),
  -- JSON array of event names, e.g. ["run.completed"].
  events TEXT NOT NULL DEFAULT '[]',
  secret TEXT NOT NULL,
  is_active BOOLEAN NOT NULL DEFAULT 1,
  last_triggered_at TEXT,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%S', 'now') || '.000000Z'),
  updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%S', 'now') || '.000000Z'),
  UNIQUE (organization_id, id)
);
CREATE INDEX idx_webhooks_org ON webhooks (organization_id, created_at DESC, id DESC);

-- The outbox: a delivery is written in the transaction of the change it reports, so
-- none is lost, and sent (and retried) by whichever process claims it.
CREATE TABLE webhook_deliveries (
  id TEXT PRIMARY KEY NOT NULL,
  organization_id TEXT NOT NULL,
  webhook_id TEXT NOT NULL,
  event TEXT NOT NULL CHECK (length(event) <= 50),
  payload TEXT NOT NULL,
  status TEXT NOT NULL DEFAULT 'PENDING'
    CHECK (status IN ('PENDING', 'SUCCEEDED', 'FAILED')),
  attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  next_attempt_at TEXT,
  locked_by TEXT,
  locked_until TEXT,
  response_status INTEGER,
  last_error TEXT,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%S', 'now') || '.000000Z'),
  updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%S', 'now') || '.000000Z'),
  completed_at TEXT,
  UNIQUE (organization_id, id),
  FOREIGN KEY (organization_id, webhook_id) REFERENCES webhooks (organization_id, id) ON DELETE CASCADE
);
CREATE INDEX idx_webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'PENDING';
CREATE INDEX idx_webhook_deliveries_webhook ON webhook_deliveries (webhook_id, created_at DESC, id DESC);

-- Every attempt at a delivery, as the endpoint answered it.
CREATE TABLE webhook_attempts (
  id TEXT PRIMARY KEY NOT NULL,
  organization_id TEXT NOT NULL,
  delivery_id TEXT NOT NULL,
  attempt INTEGER NOT NULL CHECK (attempt >= 1),
  status_code INTEGER,
  duration_ms INTEGER NOT NULL,
  error TEXT,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%S', 'now') || '.000000Z'),
  UNIQUE (delivery_id, attempt),
  FOREIGN KEY (organization_id, delivery_id) REFERENCES webhook_deliveries (organization_id, id) ON DELETE CASCADE
);
