//! Run schedule changes (permission, validation, change and audit row in one
//! transaction), and firing an occurrence.

use chrono::{DateTime, Utc};

use super::queries::{self, Fired};
use super::{MissedRunPolicy, Recurrence, RunSchedule, RunScheduleStatus, decide};
use crate::audit::{self, Change};
use crate::auth::permissions::{Actor, Permission};
use crate::db::{Conn, Id, Json, Timestamp};
use crate::error::{AppError, AppResult};
use crate::events::EventBus;
use crate::runs::service::{self as run_service, ExecutionConfigInput, RunRequest};
use crate::runs::{Run, RunEvent};
use crate::teams::clean_text;
use crate::tenant_transaction;

/// A schedule as a client describes it (on update, `None` leaves a field unchanged).
#[derive(Debug, Clone, Default)]
pub struct RunScheduleFields {
    pub name: Option<String>,
    pub team_id: Option<Id>,
    pub template_id: Option<Option<Id>>,
    pub cron: Option<String>,
    pub timezone: Option<String>,
    pub inputs: Option<serde_json::Value>,
    pub missed_policy: Option<MissedRunPolicy>,
}

fn next_after(recurrence: &Recurrence, now: Timestamp) -> Option<Timestamp> {
    recurrence.next_after(now.0).map(Timestamp)
}

/// Applies validated `fields`; returns whether the timing changed.
async fn apply(
    tx: &mut Conn<'_>,
    schedule: &mut RunSchedule,
    fields: RunScheduleFields,
) -> AppResult<bool> {
    let org = schedule.organization_id;
    if let Some(name) = &fields.name {
        schedule.name = clean_text("name", name, 255)?;
    }
    if let Some(team) = fields.team_id {
        let live = crate::teams::queries::by_ids(tx, org, &[team])
            .await?
            .into_iter()
            .any(|t| t.deleted_at.is_none());
        if !live {
            return Err(AppError::not_found("team"));
        }
        schedule.team_id = team;
    }
    if let Some(template) = fields.template_id {
        if let Some(id) = template
            && crate::templates::queries::usable(tx, org, &[id])
                .await?
                .is_empty()
        {
            return Err(AppError::not_found("template"));
        }
        schedule.template_id = template;
    }
    if let Some(inputs) = fields.inputs {
        run_service::check_inputs(&inputs)?;
        schedule.inputs = Json(inputs);
    }
    if let Some(policy) = fields.missed_policy {
        schedule.missed_policy = policy;
    }
    let retimed = fields.cron.is_some() || fields.timezone.is_some();
    if let Some(cron) = fields.cron {
        schedule.cron = cron.trim().to_string();
    }
    if let Some(timezone) = fields.timezone {
        schedule.timezone = timezone.trim().to_string();
    }
    schedule.recurrence()?;
    Ok(retimed)
}

pub async fn create_schedule(
    conn: &mut Conn<'_>,
    actor: &Actor,
    now: Timestamp,
    fields: RunScheduleFields,
) -> AppResult<RunSchedule> {
    actor.require(Permission::RunsStart)?;
    let org = actor.organization_id;
    let (Some(team_id), Some(_)) = (fields.team_id, fields.cron.as_ref()) else {
        return Err(AppError::bad_input(
            "cron",
            "a run schedule needs a team and a cron",
        ));
    };
    let mut schedule = RunSchedule {
        id: Id::new(),
        organization_id: org,
        team_id,
        template_id: None,
        created_by: Some(actor.user_id),
        name: String::new(),
        cron: String::new(),
        timezone: "UTC".into(),
        inputs: Json(serde_json::json!({})),
        status: RunScheduleStatus::Active,
        missed_policy: MissedRunPolicy::FireOnce,
        next_run_at: None,
        last_run_at: None,
        last_run_id: None,
        last_error: None,
        run_count: 0,
        created_at: now,
        updated_at: now,
    };
    tenant_transaction!(conn, org, |tx| -> AppResult<RunSchedule> {
        apply(tx, &mut schedule, fields).await?;
        schedule.next_run_at = next_after(&schedule.recurrence()?, now);
        let stored = queries::insert(tx, &schedule).await?;
        audit::record(
            tx,
            actor,
            Change {
                action: "run_schedule.create",
                resource_type: "run_schedule",
                resource_id: Some(stored.id),
                new_values: Some(stored.audit_values()),
                ..Change::default()
            },
        )
        .await?;
        Ok(stored)
    })
}

/// What a change does besides its fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    Edit,
    Pause,
    /// Waits for the next occurrence from now (missed ones are not fired).
    Resume,
}

pub async fn change_schedule(
    conn: &mut Conn<'_>,
    actor: &Actor,
    now: Timestamp,
    id: Id,
    fields: RunScheduleFields,
    transition: Transition,
) -> AppResult<RunSchedule> {
    actor.require(Permission::RunsStart)?;
    let org = actor.organization_id;
    tenant_transaction!(conn, org, |tx| -> AppResult<RunSchedule> {
        let before = queries::lock(tx, org, id)
            .await?
            .ok_or(AppError::not_found("run schedule"))?;
        let mut schedule = before.clone();
        let retimed = apply(tx, &mut schedule, fields).await?;
        match transition {
            Transition::Pause => {
                schedule.status = RunScheduleStatus::Paused;
                schedule.next_run_at = None;
            }
            Transition::Resume => {
                schedule.status = RunScheduleStatus::Active;
                schedule.last_error = None;
                schedule.next_run_at = next_after(&schedule.recurrence()?, now);
            }
            Transition::Edit if retimed && schedule.status == RunScheduleStatus::Active => {
                schedule.next_run_at = next_after(&schedule.recurrence()?, now);
            }
            Transition::Edit => {}
        }
        if transition != Transition::Pause {
            // Runs start on behalf of whoever last set the schedule up, not of an
            // earlier owner who never saw these settings.
            schedule.created_by = Some(actor.user_id);
        }
        schedule.updated_at = now;
        let after = queries::save(tx, &schedule).await?;
        let action = match transition {
            Transition::Edit => "run_schedule.update",
            Transition::Pause => "run_schedule.pause",
            Transition::Resume => "run_schedule.resume",
        };
        audit::record(
            tx,
            actor,
            Change {
                action,
                resource_type: "run_schedule",
                resource_id: Some(id),
                old_values: Some(before.audit_values()),
                new_values: Some(after.audit_values()),
            },
        )
        .await?;
        Ok(after)
    })
}

/// Deletes a schedule; the runs it started stay, without it.
pub async fn delete_schedule(conn: &mut Conn<'_>, actor: &Actor, id: Id) -> AppResult<RunSchedule> {
    actor.require(Permission::RunsStart)?;
    let org = actor.organization_id;
    tenant_transaction!(conn, org, |tx| -> AppResult<RunSchedule> {
        let schedule = queries::lock(tx, org, id)
            .await?
            .ok_or(AppError::not_found("run schedule"))?;
        queries::delete(tx, org, id).await?;
        audit::record(
            tx,
            actor,
            Change {
                action: "run_schedule.delete",
                resource_type: "run_schedule",
                resource_id: Some(id),
                old_values: Some(schedule.audit_values()),
                ..Change::default()
            },
        )
        .await?;
        Ok(schedule)
    })
}

/// What firing a due schedule did.
pub struct Outcome {
    pub schedule: RunSchedule,
    /// The run started, with the events to publish.
    pub started: Option<(Run, Vec<RunEvent>)>,
}

/// The schedule owner, acting for the schedule; `None` once they lost access.
async fn owner(tx: &mut Conn<'_>, schedule: &RunSchedule) -> AppResult<Option<Actor>> {
    let Some(user_id) = schedule.created_by else {
        return Ok(None);
    };
    let Some((user, organization)) =
        crate::users::queries::active_with_organization(tx, user_id).await?
    else {
        return Ok(None);
    };
    if organization.id != schedule.organization_id {
        return Ok(None);
    }
    Ok(Some(Actor {
        user_id: user.id,
        organization_id: organization.id,
        role: user.org_role,
        extra_permissions: user.extra_permissions(),
        request: crate::audit::RequestInfo::default(),
        audit: Default::default(),
        api_key_id: None,
        scopes: None,
        quota: None,
    }))
}

/// Fires the occurrence of schedule `id` due at `due`, if no other process did: in one
/// transaction, moves the schedule on to its next occurrence and starts the run (or,
/// when the run cannot start, records why). `None` when there was nothing to claim.
pub async fn fire(
    conn: &mut Conn<'_>,
    bus: &EventBus,
    org: Id,
    id: Id,
    due: Timestamp,
    now: DateTime<Utc>,
    grace: chrono::Duration,
) -> AppResult<Option<Outcome>> {
    tenant_transaction!(conn, org, |tx| -> AppResult<Option<Outcome>> {
        let Some(current) = queries::by_ids(tx, org, &[id]).await?.pop() else {
            return Ok(None);
        };
        let stamp = Timestamp(now);
        let firing = match current.recurrence() {
            Ok(recurrence) => decide(&recurrence, current.missed_policy, due.0, now, grace),
            // Cannot happen for a schedule saved through the API; stop it rather than spin.
            Err(_) => super::Firing {
                occurrence: None,
                next: None,
            },
        };
        let Some(schedule) =
            queries::claim(tx, org, id, due, firing.next.map(Timestamp), stamp).await?
        else {
            return Ok(None);
        };
        let Some(occurrence) = firing.occurrence else {
            tracing::info!(schedule = %id, "missed occurrences skipped");
            return Ok(Some(Outcome {
                schedule,
                started: None,
            }));
        };
        let actor = owner(tx, &schedule).await?;
        let attempt = match &actor {
            Some(actor) => {
                let request = RunRequest {
                    team_id: schedule.team_id,
                    project_id: None,
                    template_id: schedule.template_id,
                    schedule_id: Some(schedule.id),
                    inputs: schedule.inputs.0.clone(),
                    config: ExecutionConfigInput::default(),
                };
                run_service::start_run_in(tx, bus, actor, request).await
            }
            None => Err(AppError::Forbidden {
                permission: "the schedule's owner no longer has access".into(),
            }),
        };
        let (started, error, pause) = match attempt {
            Ok(started) => (Some(started), None, false),
            // Nothing was written before a refusal; a database error undoes it all.
            Err(AppError::Db(e)) => return Err(AppError::Db(e)),
            Err(e) => {
                let gone = matches!(e, AppError::NotFound { .. } | AppError::Forbidden { .. });
                (None, Some(e.to_string()), gone)
            }
        };
        let schedule = queries::record_fired(
            tx,
            org,
            id,
            &Fired {
                occurrence: Timestamp(occurrence),
                run_id: started.as_ref().map(|(run, _)| run.id),
                error: error.as_deref(),
                pause,
                now: stamp,
            },
        )
        .await?;
        Ok(Some(Outcome { schedule, started }))
    })
}
