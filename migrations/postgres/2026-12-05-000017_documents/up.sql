-- An organization's documents: the uploaded file's facts, its extracted text and a
-- full-text index over its name (weight A) and text (weight B). The name is indexed
-- with '.', '_' and '-' as spaces: the parser would otherwise take `notes.txt` as one
-- file-name token, and `notes` would not find it.
CREATE TABLE documents (
  id uuid PRIMARY KEY,
  organization_id uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
  uploaded_by uuid REFERENCES users(id) ON DELETE SET NULL,
  filename varchar(255) NOT NULL CHECK (length(filename) BETWEEN 1 AND 255),
  file_type varchar(10) NOT NULL CHECK (file_type IN ('txt', 'md', 'json', 'csv')),
  mime_type varchar(100) NOT NULL,
  file_size bigint NOT NULL CHECK (file_size > 0),
  content_sha256 varchar(64) NOT NULL,
  content text,
  metadata jsonb NOT NULL DEFAULT '{}',
  processing_status varchar(20) NOT NULL DEFAULT 'pending'
    CHECK (processing_status IN ('pending', 'processing', 'completed', 'failed')),
  processing_error text,
  is_searchable boolean NOT NULL DEFAULT true,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  search_vector tsvector GENERATED ALWAYS AS (
    setweight(to_tsvector('english', translate(coalesce(filename, ''), '._-', '   ')), 'A') ||
    setweight(to_tsvector('english', coalesce(content, '')), 'B')
  ) STORED
);
CREATE INDEX documents_organization_created ON documents (organization_id, created_at DESC, id DESC);
CREATE INDEX documents_organization_uploader ON documents (organization_id, uploaded_by);
CREATE INDEX documents_search ON documents USING GIN (search_vector);

GRANT SELECT, INSERT, UPDATE, DELETE ON documents TO gateway_tenant;
ALTER TABLE documents ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON documents TO gateway_tenant
  USING (organization_id = NULLIF(current_setting('app.organization_id', true), '')::uuid);
CREATE POLICY system_access ON documents TO PUBLIC USING (current_user <> 'gateway_tenant');
