//! Offsets and limits behind Relay connections, and the opaque cursors that carry them.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use diesel::sql_types::{Nullable, Text};

use crate::error::{AppError, AppResult};

diesel::define_sql_function! {
    /// Lowercases text; portable across both backends (used for case-insensitive search).
    fn lower(x: Nullable<Text>) -> Nullable<Text>;
}

/// The slice of an ordered list a page covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Window {
    pub offset: i64,
    pub limit: i64,
}

/// The largest page a client may ask for.
pub const MAX_PAGE_SIZE: i64 = 100;
/// The page size when a client gives neither `first` nor `last`.
pub const DEFAULT_PAGE_SIZE: i64 = 20;

/// Relay pagination arguments as a client sent them.
#[derive(Debug, Clone, Copy, Default)]
pub struct PageArgs<'a> {
    pub first: Option<i32>,
    pub after: Option<&'a str>,
    pub last: Option<i32>,
    pub before: Option<&'a str>,
}

impl PageArgs<'_> {
    /// Whether the window can only be placed once the list's length is known
    /// (`last` without `before`).
    pub fn needs_total(&self) -> bool {
        self.last.is_some() && self.before.is_none()
    }

    /// The window these arguments select; `total` is required when [`needs_total`].
    pub fn window(&self, total: Option<i64>) -> AppResult<Window> {
        if self.first.is_some() && self.last.is_some() {
            return Err(AppError::bad_input(
                "first",
                "give either `first` or `last`, not both",
            ));
        }
        let count = |field: &str, n: i32| -> AppResult<i64> {
            if n < 0 {
                Err(AppError::bad_input(
                    field,
                    format!("`{field}` must not be negative"),
                ))
            } else if i64::from(n) > MAX_PAGE_SIZE {
                Err(AppError::bad_input(
                    field,
                    format!("`{field}` must be at most {MAX_PAGE_SIZE}"),
                ))
            } else {
                Ok(i64::from(n))
            }
        };
        let start = match self.after {
            Some(cursor) => decode_cursor("after", cursor)? + 1,
            None => 0,
        };
        let end = match (self.before, total) {
            (Some(cursor), _) => Some(decode_cursor("before", cursor)?),
            (None, total) => total,
        };
        let end = end.map(|e| e.max(start));
        if let Some(last) = self.last {
            let last = count("last", last)?;
            let end =
                end.ok_or_else(|| AppError::Internal("page end unknown for `last`".into()))?;
            let offset = (end - last).max(start);
            return Ok(Window {
                offset,
                limit: end - offset,
            });
        }
        let first = match self.first {
            Some(first) => count("first", first)?,
            None => DEFAULT_PAGE_SIZE,
        };
        let limit = match end {
            Some(end) => first.min(end - start),
            None => first,
        };
        Ok(Window {
            offset: start,
            limit,
        })
    }
}

const CURSOR_PREFIX: &str = "offset:";
/// Cursors point at most this far into a list, so offset arithmetic cannot overflow.
const MAX_CURSOR_INDEX: i64 = i32::MAX as i64;

/// The opaque cursor of the item at `index` in its list.
pub fn encode_cursor(index: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("{CURSOR_PREFIX}{index}"))
}

pub fn decode_cursor(field: &str, cursor: &str) -> AppResult<i64> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| {
            text.strip_prefix(CURSOR_PREFIX)
                .and_then(|n| n.parse::<i64>().ok())
        })
        .filter(|n| (0..=MAX_CURSOR_INDEX).contains(n))
        .ok_or_else(|| AppError::bad_input(field, "invalid cursor"))
}

/// A LIKE pattern matching `needle` anywhere, lowercased, with wildcards escaped by `\`.
pub fn like_pattern(needle: &str) -> String {
    let mut pattern = String::with_capacity(needle.len() + 2);
    pattern.push('%');
    for ch in needle.trim().to_lowercase().chars() {
        if matches!(ch, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(ch);
    }
    pattern.push('%');
    pattern
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        assert_eq!(decode_cursor("after", &encode_cursor(41)).ok(), Some(41));
        assert!(decode_cursor("after", "not-a-cursor").is_err());
        assert!(
            decode_cursor("after", &encode_cursor(i64::MAX)).is_err(),
            "no overflow past the bound"
        );
    }

    #[test]
    fn windows_follow_relay_semantics() {
        let args = PageArgs {
            first: Some(10),
            after: Some(&encode_cursor(4)),
            ..Default::default()
        };
        assert_eq!(
            args.window(None).ok(),
            Some(Window {
                offset: 5,
                limit: 10
            })
        );
        let last = PageArgs {
            last: Some(3),
            ..Default::default()
        };
        assert!(last.needs_total());
        assert_eq!(
            last.window(Some(10)).ok(),
            Some(Window {
                offset: 7,
                limit: 3
            })
        );
        let before = encode_cursor(5);
        let last_before = PageArgs {
            last: Some(10),
            before: Some(&before),
            ..Default::default()
        };
        assert_eq!(
            last_before.window(None).ok(),
            Some(Window {
                offset: 0,
                limit: 5
            })
        );
        let too_many = PageArgs {
            first: Some(101),
            ..Default::default()
        };
        assert!(too_many.window(None).is_err());
    }
}
