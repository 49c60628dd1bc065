//! What a resolver knows about its request.

use async_graphql::Context;

use super::errors::GqlResult;
use super::loaders::Loaders;
use crate::audit::RequestInfo;
use crate::auth::Identity;
use crate::auth::permissions::Actor;
use crate::db::{Id, PooledConn};
use crate::error::AppError;
use crate::state::AppState;

/// How the request authenticated.
pub enum Auth {
    /// No credentials were sent.
    Anonymous,
    /// Credentials were sent and refused; the reason is what the client sees. `known`
    /// names the user and organization when the credential was genuine (a deactivated
    /// user's token), so refused attempts can be audited.
    Refused {
        reason: String,
        known: Option<(Id, Id)>,
    },
    /// Credentials were sent but could not be checked (the database is unreachable).
    Unavailable,
    Authenticated {
        actor: Box<Actor>,
        loaders: Loaders,
        /// The user and organization as read at authentication: what `viewer` and
        /// `organization` answer, without another statement.
        identity: Identity,
    },
}

/// What a caller reads when their credential cannot be checked.
pub const UNAVAILABLE: &str =
    "authentication is unavailable: the database cannot be reached; retry shortly";

/// Per-request data attached to every GraphQL request.
pub struct RequestContext {
    pub auth: Auth,
    pub request: RequestInfo,
}

pub trait ContextExt {
    fn state(&self) -> &AppState;
    fn request_context(&self) -> &RequestContext;
    /// The authenticated caller, the request's loaders and the caller's stored user and
    /// organization, or UNAUTHENTICATED.
    fn authenticated(&self) -> async_graphql::Result<(&Actor, &Loaders, &Identity)>;
    /// The authenticated caller and the request's loaders, or UNAUTHENTICATED.
    fn session(&self) -> async_graphql::Result<(&Actor, &Loaders)> {
        self.authenticated()
            .map(|(actor, loaders, _)| (actor, loaders))
    }
    fn actor(&self) -> async_graphql::Result<&Actor> {
        self.session().map(|(actor, _)| actor)
    }
    fn loaders(&self) -> async_graphql::Result<&Loaders> {
        self.session().map(|(_, loaders)| loaders)
    }
    /// The caller's stored user and organization, as read at authentication.
    fn identity(&self) -> async_graphql::Result<&Identity> {
        self.authenticated().map(|(_, _, identity)| identity)
    }
    /// A pooled database connection.
    fn db(&self) -> impl Future<Output = async_graphql::Result<PooledConn>> + Send;
}

impl ContextExt for Context<'_> {
    fn state(&self) -> &AppState {
        self.data_unchecked::<AppState>()
    }

    fn request_context(&self) -> &RequestContext {
        self.data_unchecked::<std::sync::Arc<RequestContext>>()
    }

    fn authenticated(&self) -> async_graphql::Result<(&Actor, &Loaders, &Identity)> {
        match &self.request_context().auth {
            Auth::Authenticated {
                actor,
                loaders,
                identity,
            } => Ok((actor, loaders, identity)),
            Auth::Anonymous => Err(AppError::Unauthenticated(
                "authentication required: send `Authorization: Bearer <token>`".into(),
            ))
            .gql(),
            Auth::Refused { reason, .. } => Err(AppError::Unauthenticated(reason.clone())).gql(),
            Auth::Unavailable => Err(AppError::Unavailable(UNAVAILABLE.into())).gql(),
        }
    }

    async fn db(&self) -> async_graphql::Result<PooledConn> {
        self.state().pool.get().await.map_err(AppError::from).gql()
    }
}

/// Parses a client-supplied id; a malformed one reads as "not found", like another
/// tenant's id.
pub fn parse_id(id: &async_graphql::ID, resource: &'static str) -> Result<crate::db::Id, AppError> {
    id.parse().map_err(|_| AppError::not_found(resource))
}

/// The row a client names by id, through the request's loader: NOT_FOUND (like a
/// missing id) when it is absent or another organization's.
pub async fn load_by_id<K, V>(
    ctx: &Context<'_>,
    id: &async_graphql::ID,
    resource: &'static str,
    key: impl FnOnce(crate::db::Id) -> K,
) -> async_graphql::Result<V>
where
    K: Send + Sync + std::hash::Hash + Eq + Clone + 'static,
    V: Send + Sync + Clone + 'static,
    super::loaders::Db:
        async_graphql::dataloader::Loader<K, Value = V, Error = super::loaders::LoadError>,
{
    let id = parse_id(id, resource).gql()?;
    ctx.loaders()?
        .load_one(key(id))
        .await
        .gql()?
        .ok_or_else(|| super::errors::to_gql(&AppError::not_found(resource)))
}
