-- An organization's documents: the uploaded file's facts, its extracted text and a
-- full-text index over its name and text. `seq` is the rowid the FTS5 index is keyed
-- by: an INTEGER PRIMARY KEY, so VACUUM keeps it (an implicit rowid may change).
CREATE TABLE documents (
  seq INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  organization_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
  uploaded_by TEXT REFERENCES users(id) ON DELETE SET NULL,
  filename TEXT NOT NULL CHECK (length(filename) BETWEEN 1 AND 255),
  file_type TEXT NOT NULL CHECK (file_type IN ('txt', 'md', 'json', 'csv')),
  mime_type TEXT NOT NULL CHECK (length(mime_type) <= 100),
  file_size INTEGER NOT NULL CHECK (file_size > 0),
  content_sha256 TEXT NOT NULL CHECK (length(content_sha256) <= 64),
  content TEXT,
  metadata TEXT NOT NULL DEFAULT '{}',
  processing_status TEXT NOT NULL DEFAULT 'pending'
    CHECK (processing_status IN ('pending', 'processing', 'completed', 'failed')),
  processing_error TEXT,
  is_searchable INTEGER NOT NULL DEFAULT 1,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%S', 'now') || '.000000Z'),
  updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%S', 'now') || '.000000Z')
);
CREATE INDEX documents_organization_created ON documents (organization_id, created_at, id);
CREATE INDEX documents_organization_uploader ON documents (organization_id, uploaded_by);

-- The index reads its text from `documents` (external content); the triggers keep it
-- in step. Porter stemming, as PostgreSQL's `english` configuration stems.
CREATE VIRTUAL TABLE documents_fts USING fts5(
  filename, content,
  content = 'documents', content_rowid = 'seq',
  tokenize = 'porter unicode61 remove_diacritics 2'
);
CREATE TRIGGER documents_fts_insert AFTER INSERT ON documents BEGIN
  INSERT INTO documents_fts (rowid, filename, content) VALUES (new.seq, new.filename, new.content);
END;
CREATE TRIGGER documents_fts_delete AFTER DELETE ON documents BEGIN
  INSERT INTO documents_fts (documents_fts, rowid, filename, content)
    VALUES ('delete', old.seq, old.filename, old.content);
END;
CREATE TRIGGER documents_fts_update AFTER UPDATE OF filename, content ON documents BEGIN
  INSERT INTO documents_fts (documents_fts, rowid, filename, content)
    VALUES ('delete', old.seq, old.filename, old.content);
  INSERT INTO documents_fts (rowid, filename, content) VALUES (new.seq, new.filename, new.content);
END;
