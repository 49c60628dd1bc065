//! The domain error: what a caller did wrong or what went wrong serving them.
//!
//! Policy: start-up and command-line code uses `anyhow`; the database layer returns
//! [`DbError`]; domain functions return [`AppError`], whose variants are the stable
//! error codes clients switch on. The GraphQL layer maps an `AppError` to a response
//! error exactly once (`graphql::errors`), and only there is an internal cause logged
//! and replaced by a request id.

use diesel::result::{DatabaseErrorKind, Error as DieselError};

use crate::db::DbError;

pub type AppResult<T> = Result<T, AppError>;

/// What a caller reads when the database cannot be reached.
const DATABASE_UNAVAILABLE: &str = "the database is unavailable; retry shortly";

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Input that fails validation; `field` names the offending input field.
    #[error("{message}")]
    BadUserInput { field: String, message: String },
    #[error("{0}")]
    Unauthenticated(String),
    /// The caller lacks `permission`.
    #[error("missing permission `{permission}`")]
    Forbidden { permission: String },
    /// The resource does not exist or belongs to another organization; both read alike.
    #[error("{resource} not found")]
    NotFound { resource: &'static str },
    #[error("{message}")]
    Conflict {
        field: Option<String>,
        message: String,
    },
    /// A scheduling rule refuses the change; `rule` names it for clients. A clash with
    /// what is already planned is a CONFLICT, anything else a BAD_USER_INPUT.
    #[error("{message}")]
    Rule {
        rule: &'static str,
        conflict: bool,
        field: &'static str,
        message: String,
    },
    #[error("{0}")]
    BudgetExceeded(String),
    /// A plan limit is reached; `limit` names it (as in the plan's `limits`), and a
    /// monthly limit says when it resets.
    #[error("{message}")]
    QuotaExceeded {
        limit: &'static str,
        resets_at: Option<chrono::DateTime<chrono::Utc>>,
        message: String,
    },
    #[error("{0}")]
    RateLimited(String),
    /// A dependency (the database) cannot be reached right now; retrying later helps.
    #[error("{0}")]
    Unavailable(String),
    /// The database is unavailable or a query failed unexpectedly.
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("{0}")]
    Internal(String),
}

impl AppError {
    pub fn bad_input(field: impl Into<String>, message: impl Into<String>) -> AppError {
        AppError::BadUserInput {
            field: field.into(),
            message: message.into(),
        }
    }

    pub fn conflict(field: impl Into<String>, message: impl Into<String>) -> AppError {
        AppError::Conflict {
            field: Some(field.into()),
            message: message.into(),
        }
    }

    pub fn not_found(resource: &'static str) -> AppError {
        AppError::NotFound { resource }
    }

    /// A reached plan limit: `limit` as the plan names it, and its reset for monthly ones.
    pub fn quota(
        limit: &'static str,
        resets_at: Option<chrono::DateTime<chrono::Utc>>,
        message: impl Into<String>,
    ) -> AppError {
        AppError::QuotaExceeded {
            limit,
            resets_at,
            message: message.into(),
        }
    }

    pub fn forbidden(permission: impl Into<String>) -> AppError {
        AppError::Forbidden {
            permission: permission.into(),
        }
    }

    /// The stable, machine-readable code clients see in `extensions.code`.
    pub fn code(&self) -> &'static str {
        match self {
            AppError::BadUserInput { .. } => "BAD_USER_INPUT",
            AppError::Unauthenticated(_) => "UNAUTHENTICATED",
            AppError::Forbidden { .. } => "FORBIDDEN",
            AppError::NotFound { .. } => "NOT_FOUND",
            AppError::Conflict { .. } => "CONFLICT",
            AppError::Rule { conflict: true, .. } => "CONFLICT",
            AppError::Rule { .. } => "BAD_USER_INPUT",
            AppError::BudgetExceeded(_) => "BUDGET_EXCEEDED",
            AppError::QuotaExceeded { .. } => "QUOTA_EXCEEDED",
            AppError::RateLimited(_) => "RATE_LIMITED",
            AppError::Unavailable(_) | AppError::Db(DbError::Pool(_)) => "SERVICE_UNAVAILABLE",
            AppError::Db(DbError::Query(e)) if connection_lost(e) => "SERVICE_UNAVAILABLE",
            AppError::Db(DbError::Query(e)) => match constraint_kind(e) {
                Some(Constraint::Unique) => "CONFLICT",
                Some(Constraint::Check | Constraint::ForeignKey | Constraint::NotNull) => {
                    "BAD_USER_INPUT"
                }
                None => "INTERNAL_SERVER_ERROR",
            },
            AppError::Db(_) | AppError::Internal(_) => "INTERNAL_SERVER_ERROR",
        }
    }

    /// Whether the cause is on our side: logged in full, shown only as a request id.
    pub fn is_internal(&self) -> bool {
        self.code() == "INTERNAL_SERVER_ERROR"
    }

    /// What the client may read. Constraint violations that slipped past validation
    /// are described generically so no table or constraint name leaks.
    pub fn public_message(&self) -> String {
        match self {
            AppError::Db(DbError::Pool(_)) => DATABASE_UNAVAILABLE.into(),
            AppError::Db(DbError::Query(e)) if connection_lost(e) => DATABASE_UNAVAILABLE.into(),
            AppError::Db(DbError::Query(e)) => match constraint_kind(e) {
                Some(Constraint::Unique) => "a record with these values already exists".into(),
                Some(Constraint::ForeignKey) => "a referenced record does not exist".into(),
                Some(Constraint::Check) => "a value is out of the allowed range".into(),
                Some(Constraint::NotNull) => "a required value is missing".into(),
                None => "internal server error".into(),
            },
            AppError::Db(_) | AppError::Internal(_) => "internal server error".into(),
            other => other.to_string(),
        }
    }
}

impl From<DieselError> for AppError {
    fn from(e: DieselError) -> Self {
        AppError::Db(DbError::Query(e))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Constraint {
    Unique,
    ForeignKey,
    Check,
    NotNull,
}

/// Which kind of integrity constraint a database error reports, on either backend.
pub fn constraint_kind(e: &DieselError) -> Option<Constraint> {
    match e {
        DieselError::DatabaseError(kind, _) => match kind {
            DatabaseErrorKind::UniqueViolation => Some(Constraint::Unique),
            DatabaseErrorKind::ForeignKeyViolation => Some(Constraint::ForeignKey),
            DatabaseErrorKind::CheckViolation => Some(Constraint::Check),
            DatabaseErrorKind::NotNullViolation => Some(Constraint::NotNull),
            _ => None,
        },
        _ => None,
    }
}

/// Whether `e` says the connection to the database went away (a restart, a network
/// cut) rather than that the statement was wrong: the caller may retry.
pub fn connection_lost(e: &DieselError) -> bool {
    match e {
        DieselError::DatabaseError(
            DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
            _,
        ) => true,
        // PostgreSQL ends sessions with 57P01/57P02/57P03 on shutdown; diesel keeps only
        // the message of those.
        DieselError::DatabaseError(DatabaseErrorKind::Unknown, info) => {
            let message = info.message();
            message.starts_with("terminating connection")
                || message.starts_with("the database system is")
        }
        DieselError::BrokenTransactionManager => true,
        _ => false,
    }
}

/// Maps a unique violation to a CONFLICT on `field`, passing other errors through.
pub fn on_unique(
    field: &'static str,
    message: impl Into<String>,
) -> impl FnOnce(DieselError) -> AppError {
    let message = message.into();
    move |e| match constraint_kind(&e) {
        Some(Constraint::Unique) => AppError::conflict(field, message),
        _ => AppError::from(e),
    }
}
