//! Documents: upload (multipart or text), list, read, search, change and delete.

use async_graphql::connection::Connection;
use async_graphql::{Context, ID, InputObject, Json, Object, SimpleObject, Upload, UploadValue};
use chrono::{DateTime, Utc};

use super::context::{ContextExt, parse_id};
use super::errors::{GqlResult, to_gql};
use super::loaders::UserKey;
use super::scheduling::{Total, page_args, wants_total};
use super::types::{Cursor, page, probe};
use crate::config::Limits;
use crate::documents::queries::{self, DocumentFilter};
use crate::documents::service::{self, DocumentChanges, NewFile, SearchHit};
use crate::documents::{Document, DocumentFileType, DocumentStatus, Source};
use crate::error::AppError;
use crate::users::User;

/// A text file of the organization: plain text, Markdown, JSON or CSV, with the text
/// extracted from it at upload.
#[Object]
impl Document {
    /// Opaque identifier.
    async fn id(&self) -> ID {
        ID(self.id.to_string())
    }

    /// The file's name (its last path component, 1-255 characters).
    async fn filename(&self) -> &str {
        &self.filename
    }

    /// The kind of file, from its extension and declared content type.
    async fn file_type(&self) -> DocumentFileType {
        self.file_type
    }

    /// The media type of `fileType`, e.g. `text/markdown`.
    async fn mime_type(&self) -> &str {
        &self.mime_type
    }

    /// The file's size in bytes, as uploaded.
    async fn file_size(&self) -> i32 {
        i32::try_from(self.file_size).unwrap_or(i32::MAX)
    }

    /// SHA-256 of the file as uploaded, in hex.
    async fn sha256(&self) -> &str {
        &self.content_sha256
    }

    /// The extracted text: plain text as is; Markdown without its markup; JSON as
    /// `path: value` lines (keys sorted); CSV as lines of ` | `-separated fields. `null` when
    /// extraction FAILED. `maxLength` cuts it to that many characters.
    async fn content(
        &self,
        #[graphql(
            desc = "At most this many characters, from the start; the whole text when omitted."
        )]
        max_length: Option<i32>,
    ) -> Option<String> {
        let content = self.content.as_deref()?;
        Some(match max_length {
            Some(n) => content
                .chars()
                .take(usize::try_from(n).unwrap_or(0))
                .collect(),
            None => content.to_string(),
        })
    }

    /// What extraction found: always `lines`, `words` and `characters` (of the
    /// file's text); Markdown `title` (its first heading) and `headings`; JSON
    /// `topLevel` and `keys`; CSV `columns` and `rows`; `truncated` when the
    /// extracted text was cut at twice the file's size; and the client's own metadata
    /// under `custom`.
    async fn metadata(&self) -> Json<serde_json::Value> {
        Json(self.metadata.0.clone())
    }

    /// COMPLETED, or FAILED when the content did not parse.
    async fn processing_status(&self) -> DocumentStatus {
        self.processing_status
    }

    /// Why extraction FAILED, e.g. `invalid JSON at line 3 column 5: ...`.
    async fn processing_error(&self) -> Option<&str> {
        self.processing_error.as_deref()
    }

    /// Whether `searchDocuments` finds it (only COMPLETED documents can be).
    async fn is_searchable(&self) -> bool {
        self.is_searchable
    }

    /// Who uploaded it; `null` once that user is deleted.
    async fn uploaded_by(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<User>> {
        match self.uploaded_by {
            Some(u) => ctx.loaders()?.load_one(UserKey(u)).await.gql(),
            None => Ok(None),
        }
    }

    /// When it was uploaded or created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.created_at.0
    }

    /// Last change to its name, metadata or searchability.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.updated_at.0
    }
}

/// A document matching a search.
#[derive(SimpleObject)]
pub struct DocumentSearchHit {
    /// The matching document.
    pub document: Document,
    /// How well it matches: higher is better. Comparable within one search only.
    pub rank: f64,
    /// Text around the matches, HTML-escaped, with each match wrapped in
    /// `<mark>`…`</mark>` (safe to insert as HTML).
    pub snippet: String,
}

impl From<SearchHit> for DocumentSearchHit {
    fn from(hit: SearchHit) -> Self {
        DocumentSearchHit {
            document: hit.document,
            rank: hit.rank,
            snippet: hit.snippet,
        }
    }
}

/// Filters of `documents`; all given ones must hold.
#[derive(InputObject, Default)]
pub struct DocumentFilterInput {
    /// Of this kind.
    pub file_type: Option<DocumentFileType>,
    /// In this state.
    pub processing_status: Option<DocumentStatus>,
    /// Uploaded by this user.
    pub uploaded_by: Option<ID>,
}

#[derive(Default)]
pub struct DocumentQuery;

#[Object]
impl DocumentQuery {
    /// The organization's documents, newest first.
    #[graphql(complexity = "crate::graphql::page_complexity(first, last, child_complexity)")]
    async fn documents(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "Only documents matching every given condition; all of them when omitted."
        )]
        filter: Option<DocumentFilterInput>,
        #[graphql(
            desc = "Page forward: up to this many items (0-100) after `after`; 20 by default."
        )]
        first: Option<i32>,
        #[graphql(desc = "Page forward from this cursor: a page's `pageInfo.endCursor`.")]
        after: Option<String>,
        #[graphql(
            desc = "Page backward: up to this many items (0-100) before `before`; not with `first`."
        )]
        last: Option<i32>,
        #[graphql(desc = "Page backward from this cursor: a page's `pageInfo.startCursor`.")]
        before: Option<String>,
    ) -> async_graphql::Result<Connection<Cursor, Document, Total>> {
        let org = ctx.actor()?.organization_id;
        let input = filter.unwrap_or_default();
        let filter = DocumentFilter {
            file_type: input.file_type,
            processing_status: input.processing_status,
            // An id that cannot exist matches nothing, like another organization's.
            uploaded_by: input
                .uploaded_by
                .map(|u| parse_id(&u, "user").unwrap_or_default()),
        };
        let args = page_args(first, &after, last, &before);
        sql_page!(
            ctx,
            args,
            |conn| queries::count(&mut conn, org, &filter),
            |window| queries::list(&mut conn, org, &filter, window)
        )
    }

    /// A document of the organization; NOT_FOUND for another organization's.
    async fn document(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The document's `id`.")] id: ID,
    ) -> async_graphql::Result<Document> {
        let org = ctx.actor()?.organization_id;
        let id = parse_id(&id, "document").gql()?;
        let mut pooled = ctx.db().await?;
        queries::get(&mut pooled.conn(), org, id)
            .await
            .map_err(AppError::from)
            .gql()?
            .ok_or_else(|| to_gql(&AppError::not_found("document")))
    }

    /// Full-text search over the organization's searchable, COMPLETED documents (name
    /// and text), best match first. Words are stemmed (`rockets` finds `rocket`) and
    /// all must occur; on PostgreSQL, web-search syntax also works (`"exact phrase"`,
    /// `or`, `-word`). `first` is 1-100 (20 by default).
    #[graphql(complexity = "crate::graphql::page_complexity(first, None, child_complexity)")]
    async fn search_documents(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "Words to find (stemmed; all must occur). On PostgreSQL, web-search syntax too."
        )]
        query: String,
        #[graphql(desc = "At most this many hits, 1-100; 20 when omitted.")] first: Option<i32>,
        #[graphql(desc = "Only documents of this kind.")] file_type: Option<DocumentFileType>,
    ) -> async_graphql::Result<Vec<DocumentSearchHit>> {
        let org = ctx.actor()?.organization_id;
        let first = first.unwrap_or(service::DEFAULT_HITS);
        let mut pooled = ctx.db().await?;
        let hits = service::search(&mut pooled.conn(), org, &query, file_type, first)
            .await
            .gql()?;
        Ok(hits.into_iter().map(Into::into).collect())
    }
}

/// Input of `uploadDocument`: a file sent as the GraphQL multipart request spec says.
#[derive(InputObject)]
pub struct UploadDocumentInput {
    /// The file: text/plain (.txt, .text, .log), text/markdown (.md, .markdown),
    /// application/json (.json) or text/csv (.csv), UTF-8, at most
    /// `DOCUMENT_MAX_BYTES` (1 MiB by default).
    pub file: Upload,
    /// The name to store instead of the file's own.
    pub filename: Option<String>,
    /// A JSON object of your own, kept under `metadata.custom`.
    pub metadata: Option<Json<serde_json::Value>>,
}

/// What `uploadDocument` stored.
#[derive(SimpleObject)]
pub struct UploadDocumentPayload {
    /// The new document, COMPLETED or FAILED.
    pub document: Document,
}

/// Input of `createDocument`: a document given as text.
#[derive(InputObject)]
pub struct CreateDocumentInput {
    /// 1-255 characters; its extension (if any) must be of an accepted type.
    pub filename: String,
    /// The file's text, at most `DOCUMENT_MAX_BYTES` bytes.
    pub content: String,
    /// One of `text/plain`, `text/markdown`, `application/json`, `text/csv`; by
    /// default, what the extension says, or `text/plain`.
    pub content_type: Option<String>,
    /// A JSON object of your own, kept under `metadata.custom`.
    pub metadata: Option<Json<serde_json::Value>>,
}

/// What `createDocument` stored.
#[derive(SimpleObject)]
pub struct CreateDocumentPayload {
    /// The new document, COMPLETED or FAILED.
    pub document: Document,
}

/// Input of `updateDocument`; omitted fields are left unchanged.
#[derive(InputObject)]
pub struct UpdateDocumentInput {
    /// The document to change.
    pub id: ID,
    /// A new name; an extension must be of the document's type.
    pub filename: Option<String>,
    /// Replaces `metadata.custom`.
    pub metadata: Option<Json<serde_json::Value>>,
    /// `false` hides it from search; only a COMPLETED document can be searchable.
    pub is_searchable: Option<bool>,
}

/// The changed document.
#[derive(SimpleObject)]
pub struct UpdateDocumentPayload {
    /// The document as it is now.
    pub document: Document,
}

/// Input of `deleteDocument`.
#[derive(InputObject)]
pub struct DeleteDocumentInput {
    /// The document to delete.
    pub id: ID,
}

/// What `deleteDocument` removed.
#[derive(SimpleObject)]
pub struct DeleteDocumentPayload {
    /// The id of the deleted document.
    pub deleted_document_id: ID,
}

/// The configured document size limit.
fn max_bytes(ctx: &Context<'_>) -> usize {
    ctx.data_opt::<Limits>().map_or_else(
        || Limits::default().document_max_bytes,
        |l| l.document_max_bytes,
    )
}

/// The upload's name, declared type, size and bytes (at most `max + 1` of them: enough
/// to tell that it is too large).
async fn read_upload(
    upload: UploadValue,
    max: usize,
) -> Result<(String, Option<String>, u64, Vec<u8>), AppError> {
    let UploadValue {
        filename,
        content_type,
        content,
    } = upload;
    // The multipart layer spooled the file to a temporary file: blocking reads.
    tokio::task::spawn_blocking(move || {
        use std::io::Read;
        let size = content.metadata()?.len();
        let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0).min(max + 1));
        content.take(max as u64 + 1).read_to_end(&mut bytes)?;
        Ok::<_, std::io::Error>((filename, content_type, size, bytes))
    })
    .await
    .map_err(|e| AppError::Internal(format!("reading an upload stopped: {e}")))?
    .map_err(|e| AppError::Internal(format!("reading an upload failed: {e}")))
}

#[derive(Default)]
pub struct DocumentMutation;

#[Object]
impl DocumentMutation {
    /// Uploads a file as a document (send the request as `multipart/form-data`, per
    /// the GraphQL multipart request spec). Its text is extracted at once: the
    /// document is COMPLETED, or FAILED with `processingError` when the content does
    /// not parse. Needs `documents.write`; BAD_USER_INPUT (`file` or `contentType`)
    /// for a type not accepted, an empty, non-UTF-8 or too large file.
    async fn upload_document(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "The file (a multipart upload), and optionally a name and your own metadata."
        )]
        input: UploadDocumentInput,
    ) -> async_graphql::Result<UploadDocumentPayload> {
        let actor = ctx.actor()?;
        let max = max_bytes(ctx);
        let upload = input
            .file
            .value(ctx)
            .map_err(|e| AppError::Internal(format!("opening an upload failed: {e}")))
            .gql()?;
        let (filename, content_type, size, bytes) = read_upload(upload, max).await.gql()?;
        let mut pooled = ctx.db().await?;
        let document = service::create_document(
            &mut pooled.conn(),
            actor,
            NewFile {
                source: Source::Upload,
                filename: input.filename.as_deref().unwrap_or(&filename),
                content_type: content_type.as_deref(),
                size,
                bytes: &bytes,
                metadata: input.metadata.map(|m| m.0),
            },
            max,
        )
        .await
        .gql()?;
        Ok(UploadDocumentPayload { document })
    }

    /// Creates a document from text given in the mutation; checked and extracted as
    /// `uploadDocument` does. Needs `documents.write`.
    async fn create_document(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The document's name, text, type and your own metadata.")]
        input: CreateDocumentInput,
    ) -> async_graphql::Result<CreateDocumentPayload> {
        let actor = ctx.actor()?;
        let mut pooled = ctx.db().await?;
        let document = service::create_document(
            &mut pooled.conn(),
            actor,
            NewFile {
                source: Source::Text,
                filename: &input.filename,
                content_type: input.content_type.as_deref(),
                size: input.content.len() as u64,
                bytes: input.content.as_bytes(),
                metadata: input.metadata.map(|m| m.0),
            },
            max_bytes(ctx),
        )
        .await
        .gql()?;
        Ok(CreateDocumentPayload { document })
    }

    /// Renames a document, replaces its own metadata or hides it from search. Needs
    /// `documents.write`.
    async fn update_document(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The document and the fields to change.")] input: UpdateDocumentInput,
    ) -> async_graphql::Result<UpdateDocumentPayload> {
        let actor = ctx.actor()?;
        let id = parse_id(&input.id, "document").gql()?;
        let mut pooled = ctx.db().await?;
        let document = service::update_document(
            &mut pooled.conn(),
            actor,
            id,
            DocumentChanges {
                filename: input.filename,
                metadata: input.metadata.map(|m| m.0),
                is_searchable: input.is_searchable,
            },
        )
        .await
        .gql()?;
        Ok(UpdateDocumentPayload { document })
    }

    /// Deletes a document (and its place in the search index). Needs
    /// `documents.write`.
    async fn delete_document(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The document to delete.")] input: DeleteDocumentInput,
    ) -> async_graphql::Result<DeleteDocumentPayload> {
        let actor = ctx.actor()?;
        let id = parse_id(&input.id, "document").gql()?;
        let mut pooled = ctx.db().await?;
        service::delete_document(&mut pooled.conn(), actor, id)
            .await
            .gql()?;
        Ok(DeleteDocumentPayload {
            deleted_document_id: input.id,
        })
    }
}
