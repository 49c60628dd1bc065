//! Text extraction: the searchable text and the metadata of a file's text, by type.

use serde_json::{Map, Value, json};

use super::DocumentFileType;

/// The extracted text may be at most this many times the file's size (plus a little):
/// flattening deeply nested JSON repeats paths, and must not multiply the stored text.
const MAX_GROWTH: usize = 2;
const MIN_BUDGET: usize = 4096;

/// What extraction made of a file.
#[derive(Debug, Clone, PartialEq)]
pub struct Extracted {
    /// The searchable text; `None` when the content did not parse.
    pub content: Option<String>,
    /// The type's facts (`title`, `columns`, ...) and the text's counts.
    pub metadata: Map<String, Value>,
    /// Why the content did not parse.
    pub error: Option<String>,
}

/// Extracts the text and metadata of `text`, a file of `file_type`. Every result's
/// metadata has `lines`, `words` and `characters` (counts of the file's text).
pub fn extract(file_type: DocumentFileType, text: &str) -> Extracted {
    let budget = (text.len() * MAX_GROWTH).max(MIN_BUDGET);
    let mut metadata = Map::new();
    let result = match file_type {
        DocumentFileType::Txt => Ok(clean(text)),
        DocumentFileType::Md => Ok(markdown(text, &mut metadata)),
        DocumentFileType::Json => json_text(text, budget, &mut metadata),
        DocumentFileType::Csv => csv_text(text, budget, &mut metadata),
    };
    metadata.insert("lines".into(), json!(text.lines().count()));
    metadata.insert("words".into(), json!(text.split_whitespace().count()));
    metadata.insert("characters".into(), json!(text.chars().count()));
    match result {
        Ok(content) => Extracted {
            content: Some(content),
            metadata,
            error: None,
        },
        Err(error) => Extracted {
            content: None,
            metadata,
            error: Some(error),
        },
    }
}

/// Drops control characters but tab, line feed, carriage return and form feed: they
/// mean nothing in text, and search snippets use two of them as markers.
fn clean(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_control() || matches!(c, '\t' | '\n' | '\r' | '\x0C'))
        .collect()
}

/// Readable text of Markdown: markup, link targets and HTML tags removed; the text of
/// headings, links, images (their alt text) and code kept. Sets `title` (the first
/// heading) and `headings` (how many).
fn markdown(text: &str, metadata: &mut Map<String, Value>) -> String {
    use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};

    let mut out = String::with_capacity(text.len());
    let mut headings = 0usize;
    let mut title: Option<String> = None;
    let mut in_heading = false;
    let mut heading_text = String::new();
    let options =
        Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    for event in Parser::new_ext(text, options) {
        match event {
            Event::Start(Tag::Heading { .. }) => {
                headings += 1;
                in_heading = true;
                heading_text.clear();
            }
            Event::End(TagEnd::Heading(_)) => {
                in_heading = false;
                if title.is_none() && !heading_text.trim().is_empty() {
                    title = Some(heading_text.trim().to_string());
                }
                newline(&mut out);
            }
            Event::Text(t) | Event::Code(t) => {
                if in_heading {
                    heading_text.push_str(&t);
                }
                out.push_str(&t);
            }
            Event::SoftBreak | Event::HardBreak => out.push('\n'),
            Event::End(TagEnd::TableCell) => out.push(' '),
            Event::End(
                TagEnd::Paragraph
                | TagEnd::CodeBlock
                | TagEnd::Item
                | TagEnd::TableHead
                | TagEnd::TableRow
                | TagEnd::BlockQuote(_),
            ) => newline(&mut out),
            // HTML tags, rules, footnote marks and task boxes carry no text.
            _ => {}
        }
    }
    metadata.insert("title".into(), json!(title));
    metadata.insert("headings".into(), json!(headings));
    clean(out.trim())
}

fn newline(out: &mut String) {
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
}

/// JSON as `path: value` lines, one per key and scalar value (keys in sorted order,
/// as serde_json's map keeps them). Sets `topLevel` (the
/// type of the root value) and `keys` (object keys at any depth).
fn json_text(
    text: &str,
    budget: usize,
    metadata: &mut Map<String, Value>,
) -> Result<String, String> {
    let value: Value = serde_json::from_str(text).map_err(|e| {
        let position = format!(" at line {} column {}", e.line(), e.column());
        let message = e.to_string();
        let cause = message.strip_suffix(&position).unwrap_or(&message);
        format!(
            "invalid JSON at line {} column {}: {cause}",
            e.line(),
            e.column()
        )
    })?;
    let top_level = match &value {
        Value::Object(_) => "object",
        Value::Array(_) => "array",
        Value::String(_) => "string",
        Value::Number(_) => "number",
        Value::Bool(_) => "boolean",
        Value::Null => "null",
    };
    let mut lines = Lines::new(budget);
    let mut keys = 0usize;
    flatten(&value, &mut String::new(), &mut lines, &mut keys);
    metadata.insert("topLevel".into(), json!(top_level));
    metadata.insert("keys".into(), json!(keys));
    if lines.truncated {
        metadata.insert("truncated".into(), json!(true));
    }
    Ok(lines.text)
}

/// Extracted text under a size budget; past it, lines are dropped and `truncated` set.
struct Lines {
    text: String,
    budget: usize,
    truncated: bool,
}

impl Lines {
    fn new(budget: usize) -> Lines {
        Lines {
            text: String::new(),
            budget,
            truncated: false,
        }
    }

    fn push(&mut self, line: &str) {
        if self.text.len() + line.len() + 1 > self.budget {
            self.truncated = true;
            return;
        }
        if !self.text.is_empty() {
            self.text.push('\n');
        }
        self.text.push_str(&clean(line));
    }
}

/// serde_json refuses nesting deeper than 128 levels, so this recursion is bounded.
fn flatten(value: &Value, path: &mut String, lines: &mut Lines, keys: &mut usize) {
    if lines.truncated {
        return;
    }
    let scalar = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null => Some("null".to_string()),
        _ => None,
    };
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                *keys += 1;
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(key);
                match scalar(child) {
                    Some(text) => lines.push(&format!("{path}: {text}")),
                    None => flatten(child, path, lines, keys),
                }
                path.truncate(len);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                match scalar(child) {
                    Some(text) => lines.push(&format!("{path}: {text}")),
                    None => flatten(child, path, lines, keys),
                }
                path.truncate(len);
            }
        }
        other => {
            if let Some(text) = scalar(other) {
                lines.push(&text);
            }
        }
    }
}

/// CSV as lines: the header, then each row, fields separated by ` | `. Sets
/// `columns` (the header's names) and `rows` (data rows). Rows must all have the
/// header's number of fields.
fn csv_text(
    text: &str,
    budget: usize,
    metadata: &mut Map<String, Value>,
) -> Result<String, String> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| format!("invalid CSV: {e}"))?
        .clone();
    let mut lines = Lines::new(budget);
    lines.push(&headers.iter().collect::<Vec<_>>().join(" | "));
    let mut rows = 0usize;
    for record in reader.records() {
        let record = record.map_err(|e| format!("invalid CSV: {e}"))?;
        rows += 1;
        lines.push(&record.iter().collect::<Vec<_>>().join(" | "));
    }
    metadata.insert("columns".into(), json!(headers.iter().collect::<Vec<_>>()));
    metadata.insert("rows".into(), json!(rows));
    if lines.truncated {
        metadata.insert("truncated".into(), json!(true));
    }
    Ok(lines.text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_kept_and_counted() {
        let out = extract(DocumentFileType::Txt, "Hello world\nsecond line\x02\n");
        assert_eq!(out.content.as_deref(), Some("Hello world\nsecond line\n"));
        assert_eq!(out.metadata["lines"], 2);
        assert_eq!(out.metadata["words"], 4);
        assert_eq!(out.metadata["characters"], 25);
    }

    #[test]
    fn markdown_loses_its_markup() {
        let md = "# Launch plan\n\nSome **bold** and _soft_ text with a [link](https://x.test/a) \
                  and ![a diagram](d.png).\n\n## Steps\n\n- one\n- `two`\n\n```rust\nlet x = 1;\n```\n\n\
                  | a | b |\n|---|---|\n| 1 | 2 |\n";
        let out = extract(DocumentFileType::Md, md);
        let text = out.content.unwrap();
        assert!(
            text.starts_with("Launch plan\nSome bold and soft text with a link and a diagram."),
            "{text}"
        );
        assert!(text.contains("let x = 1;"), "{text}");
        assert!(
            !text.contains("https://") && !text.contains('#') && !text.contains("**"),
            "{text}"
        );
        assert!(text.contains("one\ntwo"), "{text}");
        assert_eq!(out.metadata["title"], "Launch plan");
        assert_eq!(out.metadata["headings"], 2);
    }

    #[test]
    fn json_is_flattened_or_fails_with_its_position() {
        let out = extract(
            DocumentFileType::Json,
            r#"{"name": "Rocket", "specs": {"stages": 2, "tags": ["fast", true]}}"#,
        );
        assert_eq!(
            out.content.as_deref(),
            Some("name: Rocket\nspecs.stages: 2\nspecs.tags[0]: fast\nspecs.tags[1]: true")
        );
        assert_eq!(out.metadata["topLevel"], "object");
        assert_eq!(out.metadata["keys"], 4);
        let bad = extract(DocumentFileType::Json, "{\n  \"a\": 1,\n  oops\n}");
        assert_eq!(bad.content, None);
        assert_eq!(
            bad.error.as_deref(),
            Some("invalid JSON at line 3 column 3: key must be a string")
        );
        assert_eq!(bad.metadata["lines"], 4);
    }

    #[test]
    fn flattened_json_stays_within_its_budget() {
        let nested = format!(
            "{}{}{}",
            "[".repeat(100),
            "1,".repeat(5000) + "1",
            "]".repeat(100)
        );
        let out = extract(DocumentFileType::Json, &nested);
        assert!(out.content.unwrap().len() <= nested.len() * MAX_GROWTH);
        assert_eq!(out.metadata["truncated"], true);
    }

    #[test]
    fn csv_becomes_lines_or_fails() {
        let out = extract(
            DocumentFileType::Csv,
            "name,stage\nFalcon,2\n\"Saturn, V\",3\n",
        );
        assert_eq!(
            out.content.as_deref(),
            Some("name | stage\nFalcon | 2\nSaturn, V | 3")
        );
        assert_eq!(out.metadata["columns"], json!(["name", "stage"]));
        assert_eq!(out.metadata["rows"], 2);
        let bad = extract(DocumentFileType::Csv, "a,b\n1,2,3\n");
        assert_eq!(bad.content, None);
        assert!(bad.error.unwrap().starts_with("invalid CSV: "));
    }
}
