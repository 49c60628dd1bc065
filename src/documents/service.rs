//! Document changes (checked, extracted, audited in the change's transaction) and
//! search.

use diesel::result::{DatabaseErrorKind, Error as DieselError};
use sha2::Digest as _;

use super::extract::extract;
use super::queries::{self, MATCH_END, MATCH_START, SearchRow};
use super::{
    Document, DocumentFileType, DocumentStatus, Source, check_metadata, check_size, clean_filename,
    decode_text, detect_type,
};
use crate::audit::{self, Change};
use crate::auth::permissions::{Actor, Permission};
use crate::db::{Conn, Id, Json, Timestamp};
use crate::error::{AppError, AppResult};
use crate::tenant_transaction;

/// A file to store as a document.
#[derive(Debug, Clone)]
pub struct NewFile<'a> {
    pub source: Source,
    pub filename: &'a str,
    /// The declared content type, if any.
    pub content_type: Option<&'a str>,
    /// The file's size, which `bytes` may fall short of when reading stopped at the
    /// limit.
    pub size: u64,
    pub bytes: &'a [u8],
    /// Client metadata (a JSON object), kept under `custom`.
    pub metadata: Option<serde_json::Value>,
}

/// Checks a file, extracts its text and stores it as a document of the actor's
/// organization. Needs `documents.write`. Content that does not parse is stored
/// FAILED (and not searchable) with the reason.
pub async fn create_document(
    conn: &mut Conn<'_>,
    actor: &Actor,
    file: NewFile<'_>,
    max_bytes: usize,
) -> AppResult<Document> {
    actor.require(Permission::DocumentsWrite)?;
    let org = actor.organization_id;
    let name_field = match file.source {
        Source::Upload => "file",
        Source::Text => "filename",
    };
    let filename = clean_filename(name_field, file.filename)?;
    // Text given in the mutation is plain text unless it says otherwise.
    let default = (file.source == Source::Text).then_some(DocumentFileType::Txt);
    let file_type = detect_type(file.source, &filename, file.content_type, default)?;
    check_size(file.source, file.size, max_bytes)?;
    let text = decode_text(file.source, file.bytes, max_bytes)?;
    let custom = file.metadata.map(check_metadata).transpose()?;
    // Extraction is CPU work proportional to the file (at most the size limit).
    let owned = text.to_string();
    let extracted = tokio::task::spawn_blocking(move || extract(file_type, &owned))
        .await
        .map_err(|e| AppError::Internal(format!("text extraction stopped: {e}")))?;
    let mut metadata = extracted.metadata;
    if let Some(custom) = custom {
        metadata.insert("custom".into(), custom);
    }
    let failed = extracted.error.is_some();
    let now = Timestamp::now();
    let document = Document {
        id: Id::new(),
        organization_id: org,
        uploaded_by: Some(actor.user_id),
        filename,
        file_type,
        mime_type: file_type.mime_type().to_string(),
        file_size: file.bytes.len() as i64,
        content_sha256: hex::encode(sha2::Sha256::digest(file.bytes)),
        content: extracted.content,
        metadata: Json(serde_json::Value::Object(metadata)),
        processing_status: if failed {
            DocumentStatus::Failed
        } else {
            DocumentStatus::Completed
        },
        processing_error: extracted.error,
        is_searchable: !failed,
        created_at: now,
        updated_at: now,
    };
    tenant_transaction!(conn, org, |tx| -> AppResult<Document> {
        let stored = queries::insert(tx, &document)
            .await
            .map_err(|e| index_limit(file.source, e))?;
        audit::record(
            tx,
            actor,
            Change {
                action: "document.create",
                resource_type: "document",
                resource_id: Some(stored.id),
                new_values: Some(stored.audit_values()),
                ..Change::default()
            },
        )
        .await?;
        Ok(stored)
    })
}

/// PostgreSQL's full-text vector holds at most 1 MiB: text with that many distinct
/// words cannot be indexed, which is the file's fault, not the server's.
fn index_limit(source: Source, e: DieselError) -> AppError {
    match &e {
        DieselError::DatabaseError(DatabaseErrorKind::Unknown, info)
            if info.message().contains("too long for tsvector") =>
        {
            AppError::bad_input(
                match source {
                    Source::Upload => "file",
                    Source::Text => "content",
                },
                "the text has too many distinct words to be indexed for search; split the file",
            )
        }
        _ => AppError::from(e),
    }
}

/// A change to a document; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct DocumentChanges {
    pub filename: Option<String>,
    /// Replaces the client metadata (`custom`).
    pub metadata: Option<serde_json::Value>,
    pub is_searchable: Option<bool>,
}

/// Renames a document, replaces its client metadata or hides it from search. Needs
/// `documents.write`.
pub async fn update_document(
    conn: &mut Conn<'_>,
    actor: &Actor,
    id: Id,
    changes: DocumentChanges,
) -> AppResult<Document> {
    actor.require(Permission::DocumentsWrite)?;
    let org = actor.organization_id;
    let filename = changes
        .filename
        .as_deref()
        .map(|name| clean_filename("filename", name))
        .transpose()?;
    let custom = changes.metadata.map(check_metadata).transpose()?;
    let now = Timestamp::now();
    tenant_transaction!(conn, org, |tx| -> AppResult<Document> {
        let before = queries::lock(tx, org, id)
            .await?
            .ok_or(AppError::not_found("document"))?;
        let mut document = before.clone();
        if let Some(filename) = filename {
            // The name may change, the type may not: a new extension must be of it.
            let renamed = detect_type(Source::Text, &filename, None, Some(document.file_type))?;
            if renamed != document.file_type {
                return Err(AppError::bad_input(
                    "filename",
                    format!(
                        "the document is a {} file; its name must keep an extension of that type",
                        document.mime_type
                    ),
                ));
            }
            document.filename = filename;
        }
        if let Some(custom) = custom
            && let serde_json::Value::Object(map) = &mut document.metadata.0
        {
            map.insert("custom".into(), custom);
        }
        if let Some(searchable) = changes.is_searchable {
            if searchable && document.processing_status != DocumentStatus::Completed {
                return Err(AppError::bad_input(
                    "isSearchable",
                    "only a COMPLETED document can be searched; upload a corrected file",
                ));
            }
            document.is_searchable = searchable;
        }
        document.updated_at = now;
        let after = queries::save(tx, &document).await?;
        audit::record(
            tx,
            actor,
            Change {
                action: "document.update",
                resource_type: "document",
                resource_id: Some(id),
                old_values: Some(before.audit_values()),
                new_values: Some(after.audit_values()),
            },
        )
        .await?;
        Ok(after)
    })
}

/// Deletes a document. Needs `documents.write`.
pub async fn delete_document(conn: &mut Conn<'_>, actor: &Actor, id: Id) -> AppResult<Document> {
    actor.require(Permission::DocumentsWrite)?;
    let org = actor.organization_id;
    tenant_transaction!(conn, org, |tx| -> AppResult<Document> {
        let document = queries::lock(tx, org, id)
            .await?
            .ok_or(AppError::not_found("document"))?;
        queries::delete(tx, org, id).await?;
        audit::record(
            tx,
            actor,
            Change {
                action: "document.delete",
                resource_type: "document",
                resource_id: Some(id),
                old_values: Some(document.audit_values()),
                ..Change::default()
            },
        )
        .await?;
        Ok(document)
    })
}

/// The longest search text.
const MAX_QUERY_CHARS: usize = 500;
/// Hits a search returns unless told otherwise.
pub const DEFAULT_HITS: i32 = 20;
/// The most hits one search returns.
pub const MAX_HITS: i32 = 100;

/// A document matching a search.
#[derive(Debug, Clone)]
pub struct SearchHit {
    pub document: Document,
    /// Higher is better; comparable only within one search.
    pub rank: f64,
    /// HTML-escaped text around the matches, which are wrapped in `<mark>`.
    pub snippet: String,
}

/// The organization's searchable, completed documents matching `text`, best first.
pub async fn search(
    conn: &mut Conn<'_>,
    org: Id,
    text: &str,
    file_type: Option<DocumentFileType>,
    first: i32,
) -> AppResult<Vec<SearchHit>> {
    let text = text.trim();
    if text.is_empty() {
        return Err(AppError::bad_input(
            "query",
            "give some words to search for",
        ));
    }
    if text.chars().count() > MAX_QUERY_CHARS {
        return Err(AppError::bad_input(
            "query",
            format!("a search is at most {MAX_QUERY_CHARS} characters"),
        ));
    }
    if !(1..=MAX_HITS).contains(&first) {
        return Err(AppError::bad_input(
            "first",
            format!("`first` must be 1-{MAX_HITS}"),
        ));
    }
    let rows = queries::search(conn, org, text, file_type, i64::from(first)).await?;
    Ok(rows
        .into_iter()
        .map(
            |SearchRow {
                 document,
                 search_rank,
                 snippet,
             }| SearchHit {
                document,
                rank: search_rank,
                snippet: highlight(&snippet),
            },
        )
        .collect())
}

/// A snippet as HTML: the text escaped, the matches in `<mark>`, on one line.
fn highlight(snippet: &str) -> String {
    let mut out = String::with_capacity(snippet.len() + 32);
    for c in snippet.chars() {
        match c {
            MATCH_START => out.push_str("<mark>"),
            MATCH_END => out.push_str("</mark>"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\n' | '\r' | '\t' | '\x0C' => {
                if !out.ends_with(' ') {
                    out.push(' ');
                }
            }
            c => out.push(c),
        }
    }
    out.trim().to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn snippets_are_escaped_around_their_marks() {
        assert_eq!(
            super::highlight("a <b>\x02rocket\x03</b> & \"x\"\nnext"),
            "a &lt;b&gt;<mark>rocket</mark>&lt;/b&gt; &amp; &quot;x&quot; next"
        );
    }
}
