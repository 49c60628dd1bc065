use std::sync::Arc;

use async_graphql::{Context, ID, Subscription};
use futures_util::Stream;
use tokio::sync::broadcast::error::RecvError;

use super::context::{ContextExt, parse_id};
use super::errors::GqlResult;
use super::loaders::TeamKey;
use super::types::run::RunEventObject;
use crate::db::{Conn, Id, Pool};
use crate::error::{AppError, AppResult};
use crate::events::{ChangeKind, Event, SharedRead, SharedRunEvent};
use crate::runs::{RunEvent, RunEventKind, RunStatus, events_from_rows, queries as run_queries};
use crate::teams::Team;

/// A run's stored events after `after`.
async fn stored_events(pool: &Pool, org: Id, run_id: Id, after: i64) -> AppResult<Vec<RunEvent>> {
    let mut pooled = pool.get().await?;
    events_after(&mut pooled.conn(), org, run_id, after).await
}

async fn events_after(
    conn: &mut Conn<'_>,
    org: Id,
    run_id: Id,
    after: i64,
) -> AppResult<Vec<RunEvent>> {
    let rows = run_queries::events_between(conn, org, run_id, after, i64::MAX).await?;
    events_from_rows(rows).map_err(AppError::Internal)
}

/// A run's status and its stored events after `after`; NOT_FOUND for a run of
/// another organization or none.
async fn status_and_events(
    pool: &Pool,
    org: Id,
    run_id: Id,
    after: i64,
) -> AppResult<(RunStatus, Vec<RunEvent>)> {
    let mut pooled = pool.get().await?;
    let mut conn = pooled.conn();
    let run = run_queries::by_ids(&mut conn, org, &[run_id])
        .await?
        .pop()
        .ok_or(AppError::not_found("run"))?;
    Ok((
        run.status,
        events_after(&mut conn, org, run_id, after).await?,
    ))
}

pub struct Subscription;

/// A schedule was created, changed or cancelled.
#[derive(async_graphql::SimpleObject)]
pub struct ScheduleChange {
    /// Created, updated (including a status change) or deleted (cancelled).
    pub kind: ChangeKind,
    /// The schedule as it is after the change.
    pub schedule: crate::scheduling::Schedule,
}

pub struct TeamChange {
    kind: ChangeKind,
    team_id: crate::db::Id,
    team: Arc<SharedRead<Option<Team>>>,
}

/// A team was created, changed (including its roles) or deleted.
#[async_graphql::Object]
impl TeamChange {
    /// Created, updated (the team or its roles) or deleted.
    async fn kind(&self) -> ChangeKind {
        self.kind
    }

    /// The team's id (still given after deletion).
    async fn team_id(&self) -> ID {
        ID(self.team_id.to_string())
    }

    /// The team as it is after the change; null once deleted. Read once for all of
    /// the change's subscribers (one that falls hundreds of events behind the others
    /// reads it again, as it is then).
    async fn team(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Team>> {
        let loaders = ctx.loaders()?;
        self.team
            .get_or_read(|| loaders.load_one(TeamKey(self.team_id)))
            .await
            .gql()
    }
}

/// Live updates, over WebSocket on `/graphql` (`graphql-transport-ws` or `graphql-ws`).
/// Each subscription sees only the caller's organization.
#[Subscription]
impl Subscription {
    /// A run's events: first those stored after `afterSeq`, then live ones as each is
    /// committed, in `seq` order with no gap and no duplicate. Completes after the
    /// run's last event (COMPLETED, FAILED or CANCELLED). Reconnect with the last
    /// `seq` you saw as `afterSeq` to resume.
    async fn run_updates(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The run to follow; runs of other organizations read as NOT_FOUND.")]
        run_id: ID,
        #[graphql(
            default = 0,
            desc = "Replay stored events with a larger `seq` first; 0 replays the whole log."
        )]
        after_seq: i64,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<RunEventObject>>> {
        let org = ctx.actor()?.organization_id;
        let id = parse_id(&run_id, "run").gql()?;
        let state = ctx.state();
        let pool = state.pool.clone();
        // Subscribe before reading the log, so an event committed in between is
        // either in the log or in the channel (and then skipped as a duplicate).
        let mut receiver = state.bus.subscribe();
        // Boxed: a subscription's stream keeps room for its resolver's future as long as
        // it lives, so the read inline would enlarge every open subscription.
        let (status, replay) = Box::pin(status_and_events(&pool, org, id, after_seq))
            .await
            .gql()?;
        Ok(async_stream::stream! {
            let mut last = after_seq;
            let mut ended = status.is_terminal() && replay.is_empty();
            for event in replay {
                last = event.seq;
                ended = event.kind.is_terminal();
                yield Ok(RunEventObject(Arc::new(SharedRunEvent::from(event))));
            }
            while !ended {
                let fill = match receiver.recv().await {
                    Ok(Event::Run(event)) if event.run_id == id && event.organization_id == org => {
                        if event.seq <= last {
                            continue;
                        }
                        if event.seq == last + 1 {
                            last = event.seq;
                            ended = event.kind.is_terminal();
                            yield Ok(RunEventObject(event));
                            continue;
                        }
                        // A gap: the missing events are in the log.
                        true
                    }
                    Ok(Event::Resync) | Err(RecvError::Lagged(_)) => true,
                    Ok(_) => false,
                    Err(RecvError::Closed) => break,
                };
                if fill {
                    // Boxed: held inline, the read would enlarge every idle subscription.
                    match Box::pin(stored_events(&pool, org, id, last)).await {
                        Ok(events) => {
                            for event in events {
                                last = event.seq;
                                ended = event.kind.is_terminal();
                                yield Ok(RunEventObject(Arc::new(SharedRunEvent::from(event))));
                            }
                        }
                        Err(error) => {
                            yield Err(super::errors::to_gql(&error));
                            break;
                        }
                    }
                }
            }
        })
    }

    /// Run events of the caller's organization, for dashboards: status changes
    /// (created, started, resumed, completed, failed, cancelled), and with
    /// `includeProgress` every step and budget warning too. Optionally one team's.
    async fn runs_changed(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only this team's runs; all of the organization's runs when omitted.")]
        team_id: Option<ID>,
        #[graphql(
            default = false,
            desc = "Also send STEP_COMPLETED, STEP_FAILED and BUDGET_WARNING events."
        )]
        include_progress: bool,
    ) -> async_graphql::Result<impl Stream<Item = RunEventObject>> {
        let org = ctx.actor()?.organization_id;
        let team = team_id.map(|id| parse_id(&id, "team")).transpose().gql()?;
        // Another organization's team reads as missing, as everywhere.
        // Boxed, as in `run_updates`.
        if let Some(team) = team
            && Box::pin(ctx.loaders()?.load_one(TeamKey(team)))
                .await
                .gql()?
                .is_none()
        {
            return Err(super::errors::to_gql(&AppError::not_found("team")));
        }
        let mut receiver = ctx.state().bus.subscribe();
        Ok(async_stream::stream! {
            loop {
                match receiver.recv().await {
                    Ok(Event::Run(event)) if event.organization_id == org
                        && team.is_none_or(|t| Some(t) == event.payload.team_id)
                        && (include_progress || !matches!(
                            event.kind,
                            RunEventKind::StepCompleted | RunEventKind::StepFailed | RunEventKind::BudgetWarning
                        )) =>
                    {
                        yield RunEventObject(event);
                    }
                    Ok(_) | Err(RecvError::Lagged(_)) => continue,
                    Err(RecvError::Closed) => break,
                }
            }
        })
    }

    /// New entries of the organization's audit trail, as they are committed. Needs
    /// `audit.read`.
    async fn audit_log_added(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<impl Stream<Item = crate::audit::AuditLog>> {
        let actor = ctx.actor()?;
        actor
            .require(crate::auth::permissions::Permission::AuditRead)
            .gql()?;
        let organization_id = actor.organization_id;
        let mut receiver = ctx.state().bus.subscribe();
        Ok(async_stream::stream! {
            loop {
                match receiver.recv().await {
                    Ok(Event::Audit(row)) if row.organization_id == organization_id => {
                        yield (*row).clone();
                    }
                    Ok(_) | Err(RecvError::Lagged(_)) => continue,
                    Err(RecvError::Closed) => break,
                }
            }
        })
    }

    /// Schedules of the caller's organization as they are created, changed or
    /// cancelled (`kind` DELETED), for live calendars.
    async fn schedules_changed(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<impl Stream<Item = ScheduleChange>> {
        let organization_id = ctx.actor()?.organization_id;
        let mut receiver = ctx.state().bus.subscribe();
        Ok(async_stream::stream! {
            loop {
                match receiver.recv().await {
                    Ok(Event::ScheduleChanged { organization_id: org, schedule, kind }) if org == organization_id => {
                        yield ScheduleChange { kind, schedule: (*schedule).clone() };
                    }
                    Ok(_) | Err(RecvError::Lagged(_)) => continue,
                    Err(RecvError::Closed) => break,
                }
            }
        })
    }

    /// A conversation as it happens: each message sent (USER_MESSAGE), the agent's
    /// reply as it is generated (DELTA pieces, in `index` order) and once stored
    /// (COMPLETED or FAILED, with `message`). Subscribe before `sendMessage` to see a
    /// reply from its first piece. The conversation must be one you may read.
    async fn message_stream(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The conversation to follow.")] conversation_id: ID,
    ) -> async_graphql::Result<impl Stream<Item = super::conversations::MessageStreamEvent>> {
        super::conversations::message_stream(ctx, conversation_id).await
    }

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
                    Ok(Event::TeamChanged { organization_id: org, team_id, kind, team }) if org == organization_id => {
                        yield TeamChange { kind, team_id, team };
                    }
                    Ok(_) | Err(RecvError::Lagged(_)) => continue,
                    Err(RecvError::Closed) => break,
                }
            }
        })
    }
}
