//! Users: the people of an organization (and its employees).

pub mod queries;
pub mod service;

use diesel::prelude::*;

use crate::auth::permissions::{OrgRole, Permission};
use crate::db::schema::users;
use crate::db::{Id, Json, Timestamp};
use crate::error::{AppError, AppResult};

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = users)]
pub struct User {
    pub id: Id,
    pub organization_id: Id,
    pub email: String,
    pub username: String,
    pub full_name: Option<String>,
    pub password_hash: Option<String>,
    pub org_role: OrgRole,
    pub permissions: Json,
    pub preferences: Json,
    pub is_active: bool,
    pub email_verified_at: Option<Timestamp>,
    pub last_login_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub deleted_at: Option<Timestamp>,
}

impl User {
    /// What the audit trail records of a user: never the password hash.
    pub fn audit_values(&self) -> serde_json::Value {
        serde_json::json!({
            "email": self.email,
            "username": self.username,
            "full_name": self.full_name,
            "org_role": self.org_role.as_str(),
            "permissions": self.permissions.0,
            "preferences": self.preferences.0,
            "is_active": self.is_active,
        })
    }

    /// The extra permissions listed on the user, ignoring names that are not permissions.
    pub fn extra_permissions(&self) -> Vec<Permission> {
        self.permissions
            .0
            .as_array()
            .map(|list| {
                list.iter()
                    .filter_map(|p| p.as_str().and_then(Permission::parse))
                    .collect()
            })
            .unwrap_or_default()
    }
}

#[derive(Debug, Insertable)]
#[diesel(table_name = users)]
pub struct NewUser {
    pub id: Id,
    pub organization_id: Id,
    pub email: String,
    pub username: String,
    pub full_name: Option<String>,
    pub password_hash: Option<String>,
    pub org_role: OrgRole,
    pub permissions: Json,
    pub preferences: Json,
    pub is_active: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Filters of the `users` list.
#[derive(Debug, Clone, Default)]
pub struct UserFilter {
    pub role: Option<OrgRole>,
    pub is_active: Option<bool>,
    /// Case-insensitive substring of the name, username or email.
    pub search: Option<String>,
}

/// A normalised (trimmed, lowercased) email address.
pub fn parse_email(field: &str, raw: &str) -> AppResult<String> {
    let email = raw.trim().to_lowercase();
    let valid = email.len() <= 255
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        })
        && !email.chars().any(char::is_whitespace);
    if valid {
        Ok(email)
    } else {
        Err(AppError::bad_input(field, "email must be a valid address"))
    }
}

/// A username: 3..50 chars of letters, digits, `_`, `-` and `.`.
pub fn parse_username(field: &str, raw: &str) -> AppResult<String> {
    let username = raw.trim().to_string();
    let valid = (3..=50).contains(&username.chars().count())
        && username
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if valid {
        Ok(username)
    } else {
        Err(AppError::bad_input(
            field,
            "username must be 3 to 50 letters, digits, '_', '-' or '.'",
        ))
    }
}

/// A password of 8..128 characters.
pub fn check_password(field: &str, password: &str) -> AppResult<()> {
    let len = password.chars().count();
    if (8..=128).contains(&len) {
        Ok(())
    } else {
        Err(AppError::bad_input(
            field,
            "password must be 8 to 128 characters",
        ))
    }
}
