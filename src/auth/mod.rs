//! Identity: who a request acts as, and how a caller signs up and logs in.

pub mod api_keys;
pub mod password;
pub mod permissions;
pub mod service;
pub mod throttle;
pub mod token;

use crate::audit::RequestInfo;
use crate::db::Conn;
use crate::error::{AppError, AppResult};
use crate::users::queries as users;
use permissions::Actor;
use token::TokenKeys;

use crate::organizations::quota::QuotaState;

/// The bearer credential in an `Authorization` header value (`Bearer <token>`).
pub fn bearer(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// Resolves a session token to the acting user. The user is re-read on every request,
/// so a deactivated or deleted user (or organization) loses access at once.
pub async fn authenticate(
    conn: &mut Conn<'_>,
    keys: &TokenKeys,
    token: &str,
    request: RequestInfo,
) -> AppResult<Actor> {
    if token.starts_with(api_keys::KEY_PREFIX) {
        let (key, user, organization) = api_keys::resolve(conn, token).await?.ok_or_else(|| {
            AppError::Unauthenticated("the API key is invalid, expired or revoked".into())
        })?;
        return Ok(Actor {
            user_id: user.id,
            organization_id: organization.id,
            role: user.org_role,
            extra_permissions: user.extra_permissions(),
            request,
            audit: Default::default(),
            api_key_id: Some(key.id),
            scopes: Some(key.scope_list()),
            quota: Some(QuotaState::of(&organization, chrono::Utc::now())),
        });
    }
    let claims = keys.verify(token)?;
    let (user, organization) = users::active_with_organization(conn, claims.sub)
        .await?
        .ok_or_else(|| AppError::Unauthenticated("the token's user no longer has access".into()))?;
    if organization.id != claims.org {
        return Err(AppError::Unauthenticated("the token is invalid".into()));
    }
    Ok(Actor {
        user_id: user.id,
        organization_id: organization.id,
        role: user.org_role,
        extra_permissions: user.extra_permissions(),
        request,
        audit: Default::default(),
        api_key_id: None,
        scopes: None,
        quota: Some(QuotaState::of(&organization, chrono::Utc::now())),
    })
}
