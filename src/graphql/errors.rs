//! The one place an [`AppError`] becomes a GraphQL error.

use async_graphql::{ErrorExtensions, ServerError};

use crate::error::AppError;

tokio::task_local! {
    /// The id of the HTTP request being served, for errors and log lines.
    pub static REQUEST_ID: String;
}

/// The current request's id, or `-` outside a request.
pub fn current_request_id() -> String {
    REQUEST_ID
        .try_with(Clone::clone)
        .unwrap_or_else(|_| "-".into())
}

/// Converts a domain error, logging internal causes with the request id; clients see
/// only the code, a safe message and, for internal errors, the request id.
pub fn to_gql(err: &AppError) -> async_graphql::Error {
    let code = err.code();
    let request_id = current_request_id();
    if err.is_internal() {
        tracing::error!(request_id = %request_id, error = %err, "internal error");
    } else if code == "SERVICE_UNAVAILABLE" {
        tracing::warn!(request_id = %request_id, error = %err, "database unavailable");
    }
    let message = if err.is_internal() {
        format!("internal server error (request id {request_id})")
    } else {
        err.public_message()
    };
    async_graphql::Error::new(message).extend_with(|_, ext| {
        ext.set("code", code);
        match err {
            AppError::BadUserInput { field, .. } => ext.set("field", field.as_str()),
            AppError::Conflict {
                field: Some(field), ..
            } => ext.set("field", field.as_str()),
            AppError::Forbidden { permission } => ext.set("permission", permission.as_str()),
            AppError::QuotaExceeded {
                limit, resets_at, ..
            } => {
                ext.set("limit", *limit);
                if let Some(at) = resets_at {
                    ext.set("resetsAt", at.to_rfc3339());
                }
            }
            AppError::Rule { rule, field, .. } => {
                ext.set("rule", *rule);
                ext.set("field", *field);
            }
            _ => {}
        }
        if err.is_internal() {
            ext.set("requestId", request_id.as_str());
        }
    })
}

/// `.gql()` on domain results, for resolvers.
pub trait GqlResult<T> {
    fn gql(self) -> async_graphql::Result<T>;
}

impl<T> GqlResult<T> for Result<T, AppError> {
    fn gql(self) -> async_graphql::Result<T> {
        self.map_err(|e| to_gql(&e))
    }
}

impl<T> GqlResult<T> for Result<T, std::sync::Arc<AppError>> {
    fn gql(self) -> async_graphql::Result<T> {
        self.map_err(|e| to_gql(&e))
    }
}

/// Gives every error the engine itself raised a code: parse failures, validation
/// failures (including depth and complexity limits), and input coercion failures.
pub fn ensure_code(error: &mut ServerError, fallback: &'static str) {
    let has_code = error
        .extensions
        .as_ref()
        .is_some_and(|ext| ext.get("code").is_some());
    if !has_code {
        // Values that do not fit their input types are the client's input errors,
        // whether caught while validating or while executing.
        let code = if fallback != "GRAPHQL_PARSE_FAILED" && is_input_error(&error.message) {
            "BAD_USER_INPUT"
        } else {
            fallback
        };
        let extensions = error.extensions.get_or_insert_with(Default::default);
        extensions.set("code", code);
        if code == "BAD_USER_INPUT"
            && let Some(field) = input_field(&error.message)
        {
            extensions.set("field", field);
        }
    }
}

/// The input field an engine message names, as a path below the mutation's `input`
/// (`Invalid value for argument "input.roles.0.expertise", ...` -> `roles.0.expertise`).
fn input_field(message: &str) -> Option<String> {
    let quoted_after = |text: &str, marker: &str| -> Option<(String, usize)> {
        let start = text.find(marker)? + marker.len();
        let len = text[start..].find('"')?;
        Some((text[start..start + len].to_string(), start + len))
    };
    let (argument, end) = quoted_after(message, "argument \"")?;
    let mut path = match argument.strip_prefix("input.") {
        Some(rest) => rest.to_string(),
        None if argument == "input" => String::new(),
        None => argument,
    };
    if let Some((field, _)) = quoted_after(&message[end..], ", field \"") {
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(&field);
    }
    (!path.is_empty()).then_some(path)
}

fn is_input_error(message: &str) -> bool {
    message.starts_with("Invalid value for")
        || message.starts_with("Failed to parse")
        || message.starts_with("Expected input type")
        || message.contains("(occurred while parsing")
}

#[cfg(test)]
mod tests {
    use super::input_field;

    #[test]
    fn input_fields_are_read_from_engine_messages() {
        let nested = r#"Invalid value for argument "input.roles.0.expertise", enumeration type "Expertise" does not contain the value "GURU""#;
        assert_eq!(input_field(nested).as_deref(), Some("roles.0.expertise"));
        let missing = r#"Invalid value for argument "input", field "monthlyBudget" of type "Decimal!" is required but not provided"#;
        assert_eq!(input_field(missing).as_deref(), Some("monthlyBudget"));
        let plain = r#"Invalid value for argument "first", expected type "Int""#;
        assert_eq!(input_field(plain).as_deref(), Some("first"));
        assert_eq!(
            input_field(r#"Failed to parse "Decimal": invalid decimal number"#),
            None
        );
    }
}
