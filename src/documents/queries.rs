use diesel::prelude::*;
use diesel::sql_types::{BigInt, Double, Nullable, Text};
use diesel_async::RunQueryDsl;

use super::{Document, DocumentFileType, DocumentStatus};
use crate::db::schema::documents;
use crate::db::sql_types::PortableUuid;
use crate::db::{Conn, Id};
use crate::dispatch;
use crate::pagination::Window;

/// Filters of the documents list; all given ones must hold.
#[derive(Debug, Clone, Default)]
pub struct DocumentFilter {
    pub file_type: Option<DocumentFileType>,
    pub processing_status: Option<DocumentStatus>,
    pub uploaded_by: Option<Id>,
}

macro_rules! filtered {
    ($org:expr, $filter:expr) => {{
        let mut query = documents::table
            .filter(documents::organization_id.eq($org))
            .into_boxed();
        if let Some(file_type) = $filter.file_type {
            query = query.filter(documents::file_type.eq(file_type));
        }
        if let Some(status) = $filter.processing_status {
            query = query.filter(documents::processing_status.eq(status));
        }
        if let Some(user) = $filter.uploaded_by {
            query = query.filter(documents::uploaded_by.eq(user));
        }
        query
    }};
}

/// One page of documents, newest first.
pub async fn list(
    conn: &mut Conn<'_>,
    org: Id,
    filter: &DocumentFilter,
    window: Window,
) -> QueryResult<Vec<Document>> {
    dispatch!(conn, |c| filtered!(org, filter)
        .order((documents::created_at.desc(), documents::id.desc()))
        .offset(window.offset)
        .limit(window.limit)
        .select(Document::as_select())
        .load(c)
        .await)
}

pub async fn count(conn: &mut Conn<'_>, org: Id, filter: &DocumentFilter) -> QueryResult<i64> {
    dispatch!(conn, |c| filtered!(org, filter).count().get_result(c).await)
}

pub async fn get(conn: &mut Conn<'_>, org: Id, id: Id) -> QueryResult<Option<Document>> {
    dispatch!(conn, |c| documents::table
        .filter(documents::organization_id.eq(org))
        .filter(documents::id.eq(id))
        .select(Document::as_select())
        .first(c)
        .await
        .optional())
}

/// A document of the organization, locked until the transaction ends.
pub async fn lock(conn: &mut Conn<'_>, org: Id, id: Id) -> QueryResult<Option<Document>> {
    let query = documents::table
        .filter(documents::organization_id.eq(org))
        .filter(documents::id.eq(id));
    crate::first_for_update!(conn, query, Document)
}

pub async fn insert(conn: &mut Conn<'_>, row: &Document) -> QueryResult<Document> {
    dispatch!(conn, |c| diesel::insert_into(documents::table)
        .values(row)
        .returning(Document::as_returning())
        .get_result(c)
        .await)
}

/// Stores the fields a client may change.
pub async fn save(conn: &mut Conn<'_>, row: &Document) -> QueryResult<Document> {
    dispatch!(conn, |c| diesel::update(
        documents::table
            .filter(documents::organization_id.eq(row.organization_id))
            .filter(documents::id.eq(row.id))
    )
    .set((
        documents::filename.eq(&row.filename),
        documents::metadata.eq(&row.metadata),
        documents::is_searchable.eq(row.is_searchable),
        documents::updated_at.eq(row.updated_at),
    ))
    .returning(Document::as_returning())
    .get_result(c)
    .await)
}

/// Deletes a document; the full-text index follows (a generated column on
/// PostgreSQL, triggers on SQLite).
pub async fn delete(conn: &mut Conn<'_>, org: Id, id: Id) -> QueryResult<usize> {
    dispatch!(conn, |c| diesel::delete(
        documents::table
            .filter(documents::organization_id.eq(org))
            .filter(documents::id.eq(id))
    )
    .execute(c)
    .await)
}

/// A search result: the document, its rank (higher is better) and a snippet of its
/// text with the matches between `\x02` and `\x03`.
#[derive(Debug, Clone, QueryableByName)]
pub struct SearchRow {
    #[diesel(embed)]
    pub document: Document,
    #[diesel(sql_type = Double)]
    pub search_rank: f64,
    #[diesel(sql_type = Text)]
    pub snippet: String,
}

/// Where a snippet's match starts and ends; control characters never occur in
/// extracted text (see `extract::clean`), so they cannot be confused with it.
pub const MATCH_START: char = '\x02';
pub const MATCH_END: char = '\x03';

/// `ts_headline` options: at most two fragments of about 8-24 words.
macro_rules! headline_options {
    () => {
        "'StartSel=' || chr(2) || ', StopSel=' || chr(3) || \
         ', MaxFragments=2, MaxWords=24, MinWords=8, FragmentDelimiter=\" … \"'"
    };
}

/// PostgreSQL: the user's words as a web-search query (`websearch_to_tsquery` accepts
/// any text), ranked by `ts_rank` over the weighted vector (the name counts more than
/// the text). Snippets are computed for the page only, from the text when it matches
/// and from the name otherwise (with its separators as spaces, as it is indexed).
const PG_SEARCH: &str = concat!(
    "SELECT id, organization_id, uploaded_by, filename, file_type, mime_type, file_size, \
       content_sha256, content, metadata, processing_status, processing_error, is_searchable, \
       created_at, updated_at, search_rank, \
       CASE WHEN ts_filter(search_vector, '{b}') @@ query \
         THEN ts_headline('english', coalesce(content, ''), query, ",
    headline_options!(),
    ") ELSE ts_headline('english', translate(filename, '._-', '   '), query, ",
    headline_options!(),
    ") END AS snippet \
     FROM (SELECT d.*, query, ts_rank(d.search_vector, query)::float8 AS search_rank \
       FROM documents d, websearch_to_tsquery('english', $2) AS query \
       WHERE d.organization_id = $1 AND d.search_vector @@ query \
         AND d.is_searchable AND d.processing_status = 'completed' \
         AND ($3::text IS NULL OR d.file_type = $3) \
       ORDER BY search_rank DESC, d.created_at DESC, d.id DESC LIMIT $4) AS hits \
     ORDER BY search_rank DESC, created_at DESC, id DESC"
);

/// SQLite: FTS5 with bm25 (lower is better, so negated; the name weighs 10 times the
/// text) and `snippet` from whichever column matches best.
const SQLITE_SEARCH: &str = "SELECT d.id, d.organization_id, d.uploaded_by, d.filename, d.file_type, \
       d.mime_type, d.file_size, d.content_sha256, d.content, d.metadata, d.processing_status, \
       d.processing_error, d.is_searchable, d.created_at, d.updated_at, \
       -bm25(documents_fts, 10.0, 1.0) AS search_rank, \
       snippet(documents_fts, -1, char(2), char(3), '…', 12) AS snippet \
     FROM documents_fts JOIN documents d ON d.seq = documents_fts.rowid \
     WHERE documents_fts MATCH ?1 AND d.organization_id = ?2 \
       AND d.is_searchable AND d.processing_status = 'completed' \
       AND (?3 IS NULL OR d.file_type = ?3) \
     ORDER BY search_rank DESC, d.created_at DESC, d.id DESC LIMIT ?4";

/// The organization's searchable, completed documents matching `text`, best first.
pub async fn search(
    conn: &mut Conn<'_>,
    org: Id,
    text: &str,
    file_type: Option<DocumentFileType>,
    limit: i64,
) -> QueryResult<Vec<SearchRow>> {
    let file_type = file_type.map(DocumentFileType::as_str);
    match conn {
        Conn::Pg(c) => {
            diesel::sql_query(PG_SEARCH)
                .bind::<PortableUuid, _>(org)
                .bind::<Text, _>(text)
                .bind::<Nullable<Text>, _>(file_type)
                .bind::<BigInt, _>(limit)
                .load(*c)
                .await
        }
        Conn::Sqlite(c) => {
            let Some(matcher) = fts5_query(text) else {
                return Ok(Vec::new());
            };
            diesel::sql_query(SQLITE_SEARCH)
                .bind::<Text, _>(matcher)
                .bind::<PortableUuid, _>(org)
                .bind::<Nullable<Text>, _>(file_type)
                .bind::<BigInt, _>(limit)
                .load(*c)
                .await
        }
    }
}

/// The user's words as an FTS5 query that cannot be a syntax error: each word with a
/// letter or digit becomes a quoted string (inner quotes doubled), all required.
/// `None` when no word has one.
fn fts5_query(text: &str) -> Option<String> {
    let terms: Vec<String> = text
        .split_whitespace()
        .filter(|word| word.chars().any(char::is_alphanumeric))
        .map(|word| format!("\"{}\"", word.replace('"', "\"\"")))
        .collect();
    (!terms.is_empty()).then(|| terms.join(" AND "))
}

#[cfg(test)]
mod tests {
    use super::fts5_query;

    #[test]
    fn user_words_become_quoted_fts5_terms() {
        assert_eq!(
            fts5_query("rocket engine").as_deref(),
            Some("\"rocket\" AND \"engine\"")
        );
        assert_eq!(
            fts5_query("\"foo AND (").as_deref(),
            Some("\"\"\"foo\" AND \"AND\"")
        );
        assert_eq!(fts5_query("NEAR(a").as_deref(), Some("\"NEAR(a\""));
        assert_eq!(fts5_query("* ( ) \"").as_deref(), None);
    }
}
