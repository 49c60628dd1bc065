//! Documents: text files of an organization (plain text, Markdown, JSON, CSV), stored
//! with their extracted text and metadata and searchable in full text.
//!
//! A file is checked (accepted type, size, UTF-8) and its text extracted at upload, in
//! the request: the document is stored COMPLETED, or FAILED with the reason when its
//! content does not parse (invalid JSON, malformed CSV), so the user sees why.

pub mod extract;
pub mod queries;
pub mod service;

use diesel::prelude::*;

use crate::db::schema::documents;
use crate::db::{Id, Json, Timestamp};
use crate::db_enum;
use crate::error::{AppError, AppResult};

db_enum! {
    /// The kind of a document's file.
    pub enum DocumentFileType {
        /// Plain text (`text/plain`: .txt, .text, .log).
        Txt => "txt",
        /// Markdown (`text/markdown`: .md, .markdown).
        Md => "md",
        /// JSON (`application/json`: .json).
        Json => "json",
        /// Comma-separated values (`text/csv`: .csv).
        Csv => "csv",
    }
}

db_enum! {
    /// Where a document's text extraction stands. Extraction runs at upload, so a
    /// stored document is COMPLETED or FAILED; PENDING and PROCESSING are for
    /// extraction run later.
    pub enum DocumentStatus {
        /// Waiting for extraction.
        Pending => "pending",
        /// Being extracted.
        Processing => "processing",
        /// The text was extracted; the document can be searched.
        Completed => "completed",
        /// The content did not parse; `processingError` says why.
        Failed => "failed",
    }
}

impl DocumentFileType {
    /// The media type a document of this kind is stored with.
    pub fn mime_type(self) -> &'static str {
        match self {
            DocumentFileType::Txt => "text/plain",
            DocumentFileType::Md => "text/markdown",
            DocumentFileType::Json => "application/json",
            DocumentFileType::Csv => "text/csv",
        }
    }

    /// The kind a file name extension (without the dot, any case) stands for.
    fn of_extension(extension: &str) -> Option<DocumentFileType> {
        match extension.to_ascii_lowercase().as_str() {
            "txt" | "text" | "log" => Some(DocumentFileType::Txt),
            "md" | "markdown" => Some(DocumentFileType::Md),
            "json" => Some(DocumentFileType::Json),
            "csv" => Some(DocumentFileType::Csv),
            _ => None,
        }
    }

    /// The kind a declared media type (lowercase, without parameters) stands for.
    fn of_media_type(media_type: &str) -> Option<DocumentFileType> {
        match media_type {
            "text/plain" => Some(DocumentFileType::Txt),
            "text/markdown" | "text/x-markdown" => Some(DocumentFileType::Md),
            "application/json" | "text/json" => Some(DocumentFileType::Json),
            "text/csv" | "application/csv" | "text/x-csv" => Some(DocumentFileType::Csv),
            _ => None,
        }
    }
}

/// What the accepted types are, for error messages.
pub const ACCEPTED: &str = "accepted are text/plain (.txt, .text, .log), text/markdown (.md, .markdown), \
     application/json (.json) and text/csv (.csv)";

#[derive(Debug, Clone, Queryable, QueryableByName, Selectable, Insertable)]
#[diesel(table_name = documents)]
pub struct Document {
    pub id: Id,
    pub organization_id: Id,
    pub uploaded_by: Option<Id>,
    pub filename: String,
    pub file_type: DocumentFileType,
    pub mime_type: String,
    /// Bytes of the file as uploaded.
    pub file_size: i64,
    /// SHA-256 of the file as uploaded, in hex.
    pub content_sha256: String,
    /// The extracted text; `None` when extraction failed.
    pub content: Option<String>,
    pub metadata: Json,
    pub processing_status: DocumentStatus,
    pub processing_error: Option<String>,
    pub is_searchable: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Document {
    /// The document as the audit trail keeps it: its facts, never its text.
    pub fn audit_values(&self) -> serde_json::Value {
        serde_json::json!({
            "filename": self.filename,
            "file_type": self.file_type.as_str(),
            "mime_type": self.mime_type,
            "file_size": self.file_size,
            "content_sha256": self.content_sha256,
            "processing_status": self.processing_status.as_str(),
            "is_searchable": self.is_searchable,
        })
    }
}

/// Where a file came from, so errors name the input field the client filled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A multipart upload: everything about the file is on `file`.
    Upload,
    /// Text given in the mutation: `filename` and `content`.
    Text,
}

impl Source {
    fn name_field(self) -> &'static str {
        match self {
            Source::Upload => "file",
            Source::Text => "filename",
        }
    }

    fn content_field(self) -> &'static str {
        match self {
            Source::Upload => "file",
            Source::Text => "content",
        }
    }
}

/// A file name as stored: its last path component (browsers may send a path), tags
/// stripped, 1-255 characters, no control characters.
pub fn clean_filename(field: &str, raw: &str) -> AppResult<String> {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or(raw);
    let name = crate::teams::clean_text(field, base, 255)?;
    if name.chars().any(char::is_control) || name == "." || name == ".." {
        return Err(AppError::bad_input(
            field,
            "a file name must not contain control characters",
        ));
    }
    Ok(name)
}

/// The extension of `filename` (after its last dot, if that dot is not the first
/// character).
fn extension(filename: &str) -> Option<&str> {
    match filename.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() && !ext.is_empty() => Some(ext),
        _ => None,
    }
}

/// The declared media type, lowercase and without parameters; `None` when absent or
/// generic (`application/octet-stream`), which says nothing about the content.
fn declared_media_type(content_type: Option<&str>) -> Option<String> {
    let media = content_type?
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match media.as_str() {
        "" | "application/octet-stream" | "binary/octet-stream" => None,
        _ => Some(media),
    }
}

/// The kind of a file, from its name's extension and its declared content type.
/// They must agree when both say something, except that a declared `text/plain`
/// defers to a known extension (many clients send it for any text). With neither,
/// `default` applies (text given in the mutation is plain text).
pub fn detect_type(
    source: Source,
    filename: &str,
    content_type: Option<&str>,
    default: Option<DocumentFileType>,
) -> AppResult<DocumentFileType> {
    let declared = declared_media_type(content_type);
    let by_media = match declared.as_deref() {
        Some(media) => Some(DocumentFileType::of_media_type(media).ok_or_else(|| {
            AppError::bad_input(
                "contentType",
                format!("the content type {media} is not accepted; {ACCEPTED}"),
            )
        })?),
        None => None,
    };
    let by_extension = match extension(filename) {
        Some(ext) => Some(DocumentFileType::of_extension(ext).ok_or_else(|| {
            AppError::bad_input(
                source.name_field(),
                format!(".{ext} files are not accepted; {ACCEPTED}"),
            )
        })?),
        None => None,
    };
    match (by_extension, by_media) {
        (Some(ext), None) => Ok(ext),
        (Some(ext), Some(DocumentFileType::Txt)) => Ok(ext),
        (Some(ext), Some(media)) if ext == media => Ok(ext),
        (Some(ext), Some(media)) => Err(AppError::bad_input(
            "contentType",
            format!(
                "the content type {} does not match the file name's extension (a {} file)",
                declared.as_deref().unwrap_or(media.mime_type()),
                ext.mime_type()
            ),
        )),
        (None, Some(media)) => Ok(media),
        (None, None) => default.ok_or_else(|| {
            AppError::bad_input(
                source.name_field(),
                format!(
                    "cannot tell the type of `{filename}`: give it a known extension or declare its content type; {ACCEPTED}"
                ),
            )
        }),
    }
}

/// The text of a file: not empty, at most `max_bytes`, UTF-8 (a byte order mark is
/// dropped), without NUL bytes (a binary file).
pub fn decode_text(source: Source, bytes: &[u8], max_bytes: usize) -> AppResult<&str> {
    let field = source.content_field();
    check_size(source, bytes.len() as u64, max_bytes)?;
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if bytes.is_empty() {
        return Err(AppError::bad_input(field, "the file is empty"));
    }
    let text = std::str::from_utf8(bytes).map_err(|e| {
        AppError::bad_input(
            field,
            format!(
                "the file is not UTF-8 text (invalid byte at offset {}); save it as UTF-8",
                e.valid_up_to()
            ),
        )
    })?;
    if text.contains('\0') {
        return Err(AppError::bad_input(
            field,
            "the file contains NUL bytes: it is binary, not text",
        ));
    }
    Ok(text)
}

/// Refuses an empty file or one over `max_bytes`.
pub fn check_size(source: Source, size: u64, max_bytes: usize) -> AppResult<()> {
    let field = source.content_field();
    if size == 0 {
        return Err(AppError::bad_input(field, "the file is empty"));
    }
    if size > max_bytes as u64 {
        return Err(AppError::bad_input(
            field,
            format!("the file is {size} bytes; at most {max_bytes} are accepted"),
        ));
    }
    Ok(())
}

/// Client metadata: a JSON object of at most 64 KiB.
pub fn check_metadata(value: serde_json::Value) -> AppResult<serde_json::Value> {
    if !value.is_object() || value.to_string().len() > 64 * 1024 {
        return Err(AppError::bad_input(
            "metadata",
            "`metadata` must be a JSON object of at most 64 KiB",
        ));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(e: AppError) -> String {
        match e {
            AppError::BadUserInput { field, .. } => field,
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn types_follow_extension_and_content_type() {
        let detect = |name: &str, ct: Option<&str>| detect_type(Source::Upload, name, ct, None);
        assert_eq!(detect("a.txt", None).unwrap(), DocumentFileType::Txt);
        assert_eq!(
            detect("a.LOG", Some("text/plain")).unwrap(),
            DocumentFileType::Txt
        );
        assert_eq!(
            detect("a.md", Some("application/octet-stream")).unwrap(),
            DocumentFileType::Md
        );
        assert_eq!(
            detect("a.json", Some("text/plain; charset=utf-8")).unwrap(),
            DocumentFileType::Json
        );
        assert_eq!(
            detect("a.csv", Some("text/csv")).unwrap(),
            DocumentFileType::Csv
        );
        assert_eq!(
            detect("README", Some("text/markdown")).unwrap(),
            DocumentFileType::Md
        );
        assert_eq!(field(detect("a.png", None).unwrap_err()), "file");
        assert_eq!(
            field(detect("a.txt", Some("image/png")).unwrap_err()),
            "contentType"
        );
        assert_eq!(
            field(detect("a.json", Some("text/csv")).unwrap_err()),
            "contentType"
        );
        assert_eq!(field(detect("README", None).unwrap_err()), "file");
        assert_eq!(
            detect_type(Source::Text, "README", None, Some(DocumentFileType::Txt)).unwrap(),
            DocumentFileType::Txt
        );
        assert_eq!(
            field(
                detect_type(Source::Text, "x.exe", None, Some(DocumentFileType::Txt)).unwrap_err()
            ),
            "filename"
        );
    }

    #[test]
    fn text_is_checked() {
        assert_eq!(
            decode_text(Source::Upload, b"\xEF\xBB\xBFhello", 100).unwrap(),
            "hello"
        );
        assert!(decode_text(Source::Upload, b"", 100).is_err());
        assert!(decode_text(Source::Upload, b"\xEF\xBB\xBF", 100).is_err());
        assert!(decode_text(Source::Upload, b"ab\xFFcd", 100).is_err());
        assert!(decode_text(Source::Upload, b"a\0b", 100).is_err());
        let too_big = decode_text(Source::Text, b"0123456789", 5).unwrap_err();
        assert_eq!(
            too_big.to_string(),
            "the file is 10 bytes; at most 5 are accepted"
        );
    }

    #[test]
    fn file_names_are_cleaned() {
        assert_eq!(
            clean_filename("file", "C:\\fakepath\\notes.txt").unwrap(),
            "notes.txt"
        );
        assert_eq!(clean_filename("file", "a/b/c.md").unwrap(), "c.md");
        assert!(clean_filename("file", "  ").is_err());
        assert!(clean_filename("file", "a\u{7}b.txt").is_err());
        assert!(clean_filename("file", &"x".repeat(256)).is_err());
    }
}
