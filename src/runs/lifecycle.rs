//! The engine's side of a run: claiming it, committing each step, ending it. Every
//! change is one transaction that also appends the run's events (and, on PostgreSQL,
//! notifies the other processes), so what subscribers see is always what is stored.

use super::queries::{self, RunProgressUpdate, StepUpdate};
use super::{
    EventPayload, Progress, Run, RunEvent, RunEventKind, RunStatus, RunStep, StepStatus,
    StepSummary,
};
use crate::billing::StepSource;
use crate::db::{Conn, Decimal, Json, Timestamp};
use crate::error::{AppError, AppResult};
use crate::events::EventBus;
use crate::teams::TeamStatus;
use crate::transaction;

/// A run a worker holds.
#[derive(Debug, Clone)]
pub struct Claim {
    pub run: Run,
    pub steps: Vec<RunStep>,
    pub token: String,
    pub events: Vec<RunEvent>,
}

/// Appends events `seq = last - n + 1 ..= last` describing `run`, one per kind.
pub fn events_of(
    run: &Run,
    kinds: &[(RunEventKind, Option<StepSummary>, Option<String>)],
    now: Timestamp,
) -> Vec<RunEvent> {
    let first = run.event_seq - kinds.len() as i64 + 1;
    kinds
        .iter()
        .enumerate()
        .map(|(i, (kind, step, message))| RunEvent {
            organization_id: run.organization_id,
            run_id: run.id,
            seq: first + i as i64,
            kind: *kind,
            payload: EventPayload {
                team_id: run.team_id,
                status: run.status,
                progress: Progress::of(run),
                step: step.clone(),
                message: message.clone(),
            },
            created_at: now,
        })
        .collect()
}

/// Stores `run`'s new events, tells the other processes about them on commit, and
/// writes the webhook deliveries they call for, all in the caller's transaction.
pub async fn append(
    conn: &mut Conn<'_>,
    bus: &EventBus,
    run: &Run,
    events: &[RunEvent],
) -> AppResult<()> {
    let rows: Vec<_> = events.iter().map(RunEvent::to_row).collect();
    queries::insert_events(conn, &rows).await?;
    bus.notify_in_tx(conn, events).await?;
    let announced: Vec<_> = events
        .iter()
        .filter_map(|event| {
            crate::webhooks::run_event(event.kind).map(|hook| {
                (
                    hook,
                    crate::webhooks::run_data(run, event.payload.message.as_deref()),
                )
            })
        })
        .collect();
    if let Some(first) = events.first() {
        crate::webhooks::enqueue(conn, run.organization_id, &announced, first.created_at).await?;
    }
    Ok(())
}

pub(super) fn millis_since(start: Option<Timestamp>, now: Timestamp) -> Option<i64> {
    start.map(|s| (now.0 - s.0).num_milliseconds().max(0))
}

/// The team's status once `run` ended with `outcome`: still running while it has
/// other unfinished runs.
pub(super) async fn settle_team(
    conn: &mut Conn<'_>,
    run: &Run,
    outcome: RunStatus,
    now: Timestamp,
) -> AppResult<()> {
    let Some(team_id) = run.team_id else {
        return Ok(());
    };
    let status =
        if queries::team_has_other_active(conn, run.organization_id, team_id, run.id).await? {
            TeamStatus::Running
        } else {
            match outcome {
                RunStatus::Completed => TeamStatus::Completed,
                RunStatus::Failed => TeamStatus::Failed,
                _ => TeamStatus::Idle,
            }
        };
    queries::set_team_status(conn, run.organization_id, team_id, status, Some(now), now).await?;
    Ok(())
}

/// Claims the oldest claimable run, marks its next step started and records a
/// `STARTED` (or, for a run taken over from a lost worker, `RESUMED`) event.
pub async fn claim(
    conn: &mut Conn<'_>,
    bus: &EventBus,
    token: &str,
    lease: std::time::Duration,
) -> AppResult<Option<Claim>> {
    let now = Timestamp::now();
    let lease_until = Timestamp(now.0 + chrono::Duration::from_std(lease).unwrap_or_default());
    transaction!(conn, |tx| -> AppResult<Option<Claim>> {
        let Some(run) = queries::claim_one(tx, token, now, lease_until).await? else {
            return Ok(None);
        };
        let resumed = run.started_at != Some(now);
        let mut steps = queries::steps_of_runs(tx, run.organization_id, &[run.id]).await?;
        let mut started = None;
        if let Some(next) = steps.iter_mut().find(|s| s.status != StepStatus::Completed) {
            if let Some(step) =
                queries::start_step(tx, run.organization_id, run.id, next.position, now).await?
            {
                *next = step;
            }
            started = Some(StepSummary::of(next));
        }
        let kind = if resumed {
            RunEventKind::Resumed
        } else {
            RunEventKind::Started
        };
        let events = events_of(&run, &[(kind, started, None)], now);
        append(tx, bus, &run, &events).await?;
        Ok(Some(Claim {
            run,
            steps,
            token: token.to_string(),
            events,
        }))
    })
}

/// A finished step, ready to be committed.
#[derive(Debug, Clone)]
pub struct StepDone {
    pub position: i32,
    pub output: serde_json::Value,
    /// The answer's text, which becomes the run's result after the last step.
    pub content: String,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub cost: Decimal,
    pub duration_ms: i64,
    /// The model that answered, for the usage ledger; `None` for work without one.
    pub model: Option<String>,
    /// The step to start next; `None` after the last one.
    pub next_position: Option<i32>,
    /// Rows the step produced besides its own (an auto-scheduler day's plan), stored
    /// in the same transaction.
    pub writes: Option<StepWrites>,
}

/// What an auto-scheduler step stores with itself.
#[derive(Debug, Clone, Default)]
pub struct StepWrites {
    pub proposals: Vec<crate::scheduling::ScheduleProposal>,
    pub exceptions: Vec<crate::scheduling::ScheduleException>,
}

/// What committing a step did.
#[derive(Debug)]
pub enum Committed {
    /// Stored; the run is `run` now.
    Stored {
        run: Box<Run>,
        events: Vec<RunEvent>,
    },
    /// The claim was lost (cancelled, or taken over after the lease expired): nothing
    /// was stored.
    ClaimLost,
    /// The step's cost does not fit the team's remaining budget: nothing was stored.
    OverBudget { remaining: Decimal },
}

/// Stores a step's results, the run's counters, the team's spend and the events in
/// one transaction; after the last step the run completes in the same transaction.
/// `current` is the run as this claim last committed it.
pub async fn commit_step(
    conn: &mut Conn<'_>,
    bus: &EventBus,
    claim: &Claim,
    current: &Run,
    done: &StepDone,
    lease: std::time::Duration,
) -> AppResult<Committed> {
    let now = Timestamp::now();
    let (org, run_id) = (claim.run.organization_id, claim.run.id);
    let last = done.next_position.is_none();
    let update = RunProgressUpdate {
        status: if last {
            RunStatus::Completed
        } else {
            RunStatus::Running
        },
        claimed_by: (!last).then(|| claim.token.clone()),
        lease_expires_at: (!last)
            .then(|| Timestamp(now.0 + chrono::Duration::from_std(lease).unwrap_or_default())),
        result: last.then(|| done.content.clone()),
        error_message: None,
        duration_ms: if last {
            millis_since(claim.run.started_at, now)
        } else {
            None
        },
        completed_at: last.then_some(now),
        updated_at: now,
    };
    let tokens = done.prompt_tokens + done.completion_tokens;
    let step_update = StepUpdate {
        status: StepStatus::Completed,
        output: Some(Json(done.output.clone())),
        prompt_tokens: done.prompt_tokens,
        completion_tokens: done.completion_tokens,
        tokens_used: tokens,
        cost: done.cost.clone(),
        duration_ms: Some(done.duration_ms),
        error_message: None,
        completed_at: Some(now),
        updated_at: now,
    };
    // The one-statement path covers the common case: a team's step with no rows of
    // its own besides the step.
    if let Conn::Pg(pg) = conn
        && done.writes.is_none()
        && claim.run.team_id.is_some()
    {
        let outcome = commit_step_pg(pg, bus, claim, current, done, &update, now).await?;
        return match outcome {
            Some(committed) => Ok(committed),
            None => over_budget(conn, claim).await,
        };
    }
    let outcome = transaction!(conn, |tx| -> AppResult<Committed> {
        let events_count = if last { 2 } else { 1 };
        let Some(run) = queries::advance(
            tx,
            org,
            run_id,
            &claim.token,
            (1, tokens, &done.cost),
            events_count,
            &update,
        )
        .await?
        else {
            return Ok(Committed::ClaimLost);
        };
        let step = queries::update_step(tx, org, run_id, done.position, &step_update)
            .await?
            .ok_or_else(|| {
                AppError::Internal(format!("step {} of run {run_id} is missing", done.position))
            })?;
        crate::billing::service::record_step_usage(
            tx,
            StepSource {
                organization_id: org,
                team_id: run.team_id,
                run_id,
                step_id: step.id,
                model: done.model.as_deref(),
            },
            tokens,
            &done.cost,
            now,
        )
        .await?;
        if let Some(next) = done.next_position {
            queries::start_step(tx, org, run_id, next, now).await?;
        }
        if let Some(writes) = &done.writes {
            crate::scheduling::queries::insert_proposals(tx, &writes.proposals).await?;
            crate::scheduling::queries::insert_exceptions(tx, &writes.exceptions).await?;
            let announced: Vec<_> = writes
                .proposals
                .iter()
                .map(|p| {
                    (
                        crate::webhooks::WebhookEvent::ProposalCreated,
                        crate::webhooks::proposal_data(p),
                    )
                })
                .collect();
            crate::webhooks::enqueue(tx, org, &announced, now).await?;
        }
        // The team row is shared by all of the team's runs: lock it as late as possible.
        if let Some(team_id) = run.team_id
            && !queries::charge_team(tx, org, team_id, &done.cost, now).await?
        {
            // Rolls the transaction back; the caller fails the run instead.
            return Err(AppError::BudgetExceeded(String::new()));
        }
        let mut kinds = vec![(
            RunEventKind::StepCompleted,
            Some(StepSummary::of(&step)),
            None,
        )];
        if last {
            kinds.push((RunEventKind::Completed, None, None));
            settle_team(tx, &run, RunStatus::Completed, now).await?;
        }
        let events = events_of(&run, &kinds, now);
        append(tx, bus, &run, &events).await?;
        Ok(Committed::Stored {
            run: Box::new(run),
            events,
        })
    });
    match outcome {
        Err(AppError::BudgetExceeded(_)) => over_budget(conn, claim).await,
        other => other,
    }
}

async fn over_budget(conn: &mut Conn<'_>, claim: &Claim) -> AppResult<Committed> {
    let team = match claim.run.team_id {
        Some(team_id) => {
            crate::teams::queries::find(conn, claim.run.organization_id, team_id).await?
        }
        None => None,
    };
    let remaining = team
        .map(|t| Decimal(t.remaining_budget_amount()))
        .unwrap_or_else(Decimal::zero);
    Ok(Committed::OverBudget { remaining })
}

/// [`commit_step`] on PostgreSQL: one statement, so one round trip. The events are
/// built ahead from the run as this claim knows it (no one else writes a claimed
/// run's counters; the statement checks the claim and the event sequence). `None`
/// when the step does not fit the budget.
async fn commit_step_pg(
    conn: &mut diesel_async::AsyncPgConnection,
    bus: &EventBus,
    claim: &Claim,
    current: &Run,
    done: &StepDone,
    update: &RunProgressUpdate,
    now: Timestamp,
) -> AppResult<Option<Committed>> {
    let last = done.next_position.is_none();
    let tokens = done.prompt_tokens + done.completion_tokens;
    let mut run = current.clone();
    run.completed_steps += 1;
    run.tokens_used += tokens;
    run.cost = Decimal(&current.cost.0 + &done.cost.0);
    run.event_seq += if last { 2 } else { 1 };
    run.status = update.status;
    run.claimed_by = update.claimed_by.clone();
    run.lease_expires_at = update.lease_expires_at;
    run.result = update.result.clone();
    run.duration_ms = update.duration_ms;
    run.completed_at = update.completed_at;
    run.updated_at = now;
    let mut step = claim
        .steps
        .iter()
        .find(|s| s.position == done.position)
        .cloned()
        .ok_or_else(|| AppError::Internal(format!("step {} is not planned", done.position)))?;
    step.status = StepStatus::Completed;
    step.prompt_tokens = done.prompt_tokens;
    step.completion_tokens = done.completion_tokens;
    step.tokens_used = tokens;
    step.cost = done.cost.clone();
    step.duration_ms = Some(done.duration_ms);
    let mut kinds = vec![(
        RunEventKind::StepCompleted,
        Some(StepSummary::of(&step)),
        None,
    )];
    if last {
        kinds.push((RunEventKind::Completed, None, None));
    }
    let events = events_of(&run, &kinds, now);
    let rows: Vec<serde_json::Value> = events
        .iter()
        .map(|e| {
            let row = e.to_row();
            serde_json::json!({ "id": row.id, "seq": row.seq, "kind": row.kind, "payload": row.payload })
        })
        .collect();
    let output = Json(done.output.clone());
    let [usage, _] = crate::billing::step_usage(
        StepSource {
            organization_id: run.organization_id,
            team_id: run.team_id,
            run_id: run.id,
            step_id: step.id,
            model: done.model.as_deref(),
        },
        None,
        tokens,
        &done.cost,
        now,
    );
    let commit = queries::StepCommit {
        org: run.organization_id,
        run_id: run.id,
        token: &claim.token,
        prior_seq: current.event_seq,
        position: done.position,
        next_position: done.next_position,
        cost: &done.cost,
        prompt_tokens: done.prompt_tokens,
        completion_tokens: done.completion_tokens,
        output: &output,
        duration_ms: done.duration_ms,
        now,
        run: update,
        last,
        events: Json(serde_json::Value::Array(rows)),
        notify: bus.notice(&events).map(|n| (crate::events::CHANNEL, n)),
        completion: Json(if last {
            crate::webhooks::run_data(&run, None)
        } else {
            serde_json::Value::Null
        }),
        usage: &usage,
    };
    match queries::commit_step_pg(conn, &commit).await {
        Ok(Some((stored, hooked))) => {
            if hooked > 0 {
                crate::webhooks::dispatcher::note_written();
            }
            Ok(Some(Committed::Stored {
                run: Box::new(stored),
                events,
            }))
        }
        Ok(None) => Ok(Some(Committed::ClaimLost)),
        Err(diesel::result::Error::DatabaseError(_, info))
            if info.message().contains(queries::OVER_BUDGET_ABORT) =>
        {
            Ok(None)
        }
        Err(error) => Err(error.into()),
    }
}

/// Fails a run this claim holds: the step at `position` (if any) fails with `error`,
/// the steps after it are skipped. `None` when the claim was lost.
pub async fn fail(
    conn: &mut Conn<'_>,
    bus: &EventBus,
    claim: &Claim,
    position: Option<i32>,
    error: &str,
) -> AppResult<Option<(Run, Vec<RunEvent>)>> {
    let now = Timestamp::now();
    let (org, run_id) = (claim.run.organization_id, claim.run.id);
    let update = RunProgressUpdate {
        status: RunStatus::Failed,
        claimed_by: None,
        lease_expires_at: None,
        result: None,
        error_message: Some(error.to_string()),
        duration_ms: millis_since(claim.run.started_at, now),
        completed_at: Some(now),
        updated_at: now,
    };
    transaction!(conn, |tx| -> AppResult<Option<(Run, Vec<RunEvent>)>> {
        let events_count = if position.is_some() { 2 } else { 1 };
        let Some(run) = queries::advance(
            tx,
            org,
            run_id,
            &claim.token,
            (0, 0, &Decimal::zero()),
            events_count,
            &update,
        )
        .await?
        else {
            return Ok(None);
        };
        let mut kinds = Vec::new();
        if let Some(position) = position {
            let step_update = StepUpdate {
                status: StepStatus::Failed,
                output: None,
                prompt_tokens: 0,
                completion_tokens: 0,
                tokens_used: 0,
                cost: Decimal::zero(),
                duration_ms: None,
                error_message: Some(error.to_string()),
                completed_at: Some(now),
                updated_at: now,
            };
            let step = queries::update_step(tx, org, run_id, position, &step_update).await?;
            kinds.push((
                RunEventKind::StepFailed,
                step.as_ref().map(StepSummary::of),
                Some(error.to_string()),
            ));
        }
        queries::close_open_steps(tx, org, run_id, StepStatus::Skipped, now).await?;
        kinds.push((RunEventKind::Failed, None, Some(error.to_string())));
        settle_team(tx, &run, RunStatus::Failed, now).await?;
        let events = events_of(&run, &kinds, now);
        append(tx, bus, &run, &events).await?;
        Ok(Some((run, events)))
    })
}
