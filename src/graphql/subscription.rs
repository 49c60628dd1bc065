use async_graphql::{Context, ID, Subscription};
use futures_util::Stream;
use tokio::sync::broadcast::error::RecvError;

use super::context::ContextExt;
use super::loaders::TeamKey;
use crate::events::{ChangeKind, Event};
use crate::teams::Team;

pub struct Subscription;

/// A team was created, changed (including its roles) or deleted.
pub struct TeamChange {
    kind: ChangeKind,
    team_id: crate::db::Id,
}

#[async_graphql::Object]
impl TeamChange {
    async fn kind(&self) -> ChangeKind {
        self.kind
    }

    async fn team_id(&self) -> ID {
        ID(self.team_id.to_string())
    }

    /// The team as it is now; null once deleted.
    async fn team(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Team>> {
        use super::errors::GqlResult;
        ctx.loaders()?.load_one(TeamKey(self.team_id)).await.gql()
    }
}

#[Subscription]
impl Subscription {
    /// Changes to the teams of the caller's organization, as they happen.
    async fn teams_changed(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<impl Stream<Item = TeamChange>> {
        let organization_id = ctx.actor()?.organization_id;
        let mut receiver = ctx.state().bus.subscribe();
        Ok(async_stream::stream! {
            loop {
                match receiver.recv().await {
                    Ok(Event::TeamChanged { organization_id: org, team_id, kind }) if org == organization_id => {
                        yield TeamChange { kind, team_id };
                    }
                    Ok(_) | Err(RecvError::Lagged(_)) => continue,
                    Err(RecvError::Closed) => break,
                }
            }
        })
    }
}
