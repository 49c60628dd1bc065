//! Identity: who a request acts as, and how a caller signs up and logs in.

pub mod api_keys;
pub mod password;
pub mod permissions;
pub mod service;
pub mod sessions;
pub mod throttle;
pub mod token;

use crate::audit::RequestInfo;
use std::sync::Arc;

use crate::db::Pool;
use crate::error::{AppError, AppResult};
use crate::organizations::Organization;
use crate::users::User;
use crate::users::queries as users;
use permissions::Actor;
use sessions::SessionCache;
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

/// The stored user and organization a request authenticated as, as of its
/// authentication (or as cached, which every change to either forgets at once).
#[derive(Debug, Clone)]
pub struct Identity {
    pub user: Arc<User>,
    pub organization: Arc<Organization>,
}

/// Resolves a session token (or an API key) to the acting user. The user and their
/// organization are re-read on every request unless [`sessions::SessionCache`] holds
/// them, which it does only while every change reaches it at once: a deactivated or
/// deleted user (or organization) loses access at once either way.
pub async fn authenticate(
    pool: &Pool,
    keys: &TokenKeys,
    sessions: &SessionCache,
    token: &str,
    request: RequestInfo,
) -> AppResult<(Actor, Identity)> {
    if token.starts_with(api_keys::KEY_PREFIX) {
        let mut pooled = pool.get().await?;
        let (key, user, organization) = api_keys::resolve(&mut pooled.conn(), token)
            .await?
            .ok_or_else(|| {
                AppError::Unauthenticated("the API key is invalid, expired or revoked".into())
            })?;
        let actor = Actor {
            user_id: user.id,
            organization_id: organization.id,
            role: user.org_role,
            extra_permissions: user.extra_permissions(),
            request,
            audit: Default::default(),
            api_key_id: Some(key.id),
            scopes: Some(key.scope_list()),
            quota: Some(QuotaState::of(&organization, chrono::Utc::now())),
        };
        let identity = Identity {
            user: Arc::new(user),
            organization: Arc::new(organization),
        };
        return Ok((actor, identity));
    }
    let claims = keys.verify(token)?;
    let (user, organization) = match sessions.get(claims.sub) {
        Some(found) => found,
        None => {
            let ticket = sessions.ticket();
            let mut pooled = pool.get().await?;
            let (user, organization) =
                users::active_with_organization(&mut pooled.conn(), claims.sub)
                    .await?
                    .ok_or_else(|| {
                        AppError::Unauthenticated("the token's user no longer has access".into())
                    })?;
            let found = (Arc::new(user), Arc::new(organization));
            sessions.store(ticket, Arc::clone(&found.0), Arc::clone(&found.1));
            found
        }
    };
    if organization.id != claims.org {
        return Err(AppError::Unauthenticated("the token is invalid".into()));
    }
    let actor = Actor {
        user_id: user.id,
        organization_id: organization.id,
        role: user.org_role,
        extra_permissions: user.extra_permissions(),
        request,
        audit: Default::default(),
        api_key_id: None,
        scopes: None,
        quota: Some(QuotaState::of(&organization, chrono::Utc::now())),
    };
    Ok((actor, Identity { user, organization }))
}
