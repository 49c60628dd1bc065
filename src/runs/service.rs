//! Starting and cancelling runs on behalf of a user: permission, validation, budget,
//! the change, its events and its audit row in one transaction.

use bigdecimal::BigDecimal;

use super::lifecycle::{append, events_of, millis_since, settle_team};
use super::queries::{self, RunProgressUpdate};
use super::{
    AgentSnapshot, ExecutionConfig, QualityPreference, Run, RunEvent, RunEventKind, RunKind,
    RunStatus, RunStep, StepInput, StepStatus,
};
use crate::audit::{self, Change};
use crate::auth::permissions::{Actor, Permission};
use crate::db::{Conn, Decimal, Id, RawJson, Timestamp};
use crate::engine::pricing;
use crate::error::{AppError, AppResult};
use crate::events::EventBus;
use crate::teams::{TeamStatus, queries as team_queries};
use crate::tenant_transaction;

/// Largest accepted `inputs` document, in bytes of JSON.
const MAX_INPUTS_BYTES: usize = 64 * 1024;

/// Settings a client may give; omitted ones take the defaults.
#[derive(Debug, Clone, Copy, Default)]
pub struct ExecutionConfigInput {
    pub max_iterations: Option<i32>,
    pub timeout_minutes: Option<i32>,
    pub quality_preference: Option<QualityPreference>,
}

impl ExecutionConfigInput {
    fn validate(self) -> AppResult<ExecutionConfig> {
        let defaults = ExecutionConfig::default();
        let max_iterations = self.max_iterations.unwrap_or(defaults.max_iterations);
        if !ExecutionConfig::MAX_ITERATIONS.contains(&max_iterations) {
            return Err(AppError::bad_input(
                "executionConfig.maxIterations",
                format!(
                    "maxIterations must be between {} and {}",
                    ExecutionConfig::MAX_ITERATIONS.start(),
                    ExecutionConfig::MAX_ITERATIONS.end()
                ),
            ));
        }
        let timeout_minutes = self.timeout_minutes.unwrap_or(defaults.timeout_minutes);
        if !ExecutionConfig::TIMEOUT_MINUTES.contains(&timeout_minutes) {
            return Err(AppError::bad_input(
                "executionConfig.timeoutMinutes",
                format!(
                    "timeoutMinutes must be between {} and {}",
                    ExecutionConfig::TIMEOUT_MINUTES.start(),
                    ExecutionConfig::TIMEOUT_MINUTES.end()
                ),
            ));
        }
        Ok(ExecutionConfig {
            max_iterations,
            timeout_minutes,
            quality_preference: self
                .quality_preference
                .unwrap_or(defaults.quality_preference),
        })
    }
}

pub fn check_inputs(inputs: &serde_json::Value) -> AppResult<()> {
    let Some(object) = inputs.as_object() else {
        return Err(AppError::bad_input(
            "inputs",
            "inputs must be a JSON object",
        ));
    };
    if object.is_empty() {
        return Err(AppError::bad_input("inputs", "inputs cannot be empty"));
    }
    if inputs.to_string().len() > MAX_INPUTS_BYTES {
        return Err(AppError::bad_input(
            "inputs",
            format!(
                "inputs must be at most {} KiB of JSON",
                MAX_INPUTS_BYTES / 1024
            ),
        ));
    }
    Ok(())
}

fn usd(amount: &BigDecimal) -> String {
    format!("${}", crate::db::types::format_scaled(amount, 2))
}

/// What a client asks to run.
#[derive(Debug, Clone)]
pub struct RunRequest {
    pub team_id: Id,
    /// The team's project when `None`.
    pub project_id: Option<Id>,
    /// One step per phase of this template instead of one per role.
    pub template_id: Option<Id>,
    /// The recurring schedule starting the run, if any.
    pub schedule_id: Option<Id>,
    pub inputs: serde_json::Value,
    pub config: ExecutionConfigInput,
}

/// Starts a run of a team: one planned step per active role, in position order, or
/// one per phase of the template it names. Returns the pending run and the events to
/// publish once committed.
pub async fn start_run(
    conn: &mut Conn<'_>,
    bus: &EventBus,
    actor: &Actor,
    request: RunRequest,
) -> AppResult<(Run, Vec<RunEvent>)> {
    tenant_transaction!(conn, actor.organization_id, |tx| -> AppResult<(
        Run,
        Vec<RunEvent>
    )> {
        start_run_in(tx, bus, actor, request).await
    })
}

/// [`start_run`] inside the caller's transaction (scoped to the actor's organization).
/// Every refusal comes before the first write, so a caller may record it and commit.
pub async fn start_run_in(
    tx: &mut Conn<'_>,
    bus: &EventBus,
    actor: &Actor,
    request: RunRequest,
) -> AppResult<(Run, Vec<RunEvent>)> {
    let RunRequest {
        team_id,
        project_id,
        template_id,
        schedule_id,
        inputs,
        config,
    } = request;
    actor.require(Permission::RunsStart)?;
    check_inputs(&inputs)?;
    let config = config.validate()?;
    let org = actor.organization_id;
    let now = Timestamp::now();
    // Before the team's lock: limited run starts serialize on the organization first.
    crate::billing::service::check_run_quota(tx, org, now).await?;
    let team = team_queries::lock(tx, org, team_id)
        .await?
        .ok_or(AppError::not_found("team"))?;
    if let Some(project) = project_id {
        crate::projects::service::ensure_project(tx, org, project).await?;
    }
    // A run belongs to the project it names, or else to its team's.
    let project_id = project_id.or(team.project_id);
    let roles: Vec<_> = team_queries::roles_of_teams(tx, org, &[team_id])
        .await?
        .into_iter()
        .filter(|r| r.is_active)
        .collect();
    if roles.is_empty() {
        return Err(AppError::bad_input(
            "teamId",
            "the team has no active role to perform the run",
        ));
    }
    // One step per active role, or per phase of the template: (input, role, name).
    let mut planned: Vec<(StepInput, Id, String)> = Vec::new();
    match template_id {
        None => {
            for role in &roles {
                let task = match &role.description {
                    Some(d) if !d.is_empty() => d.clone(),
                    _ => format!("Deliver the {}'s part of the team's work", role.title),
                };
                let input = StepInput {
                    task,
                    agent: AgentSnapshot::of(role),
                    phase: None,
                };
                planned.push((input, role.id, role.title.clone()));
            }
        }
        Some(template_id) => {
            let template = crate::templates::queries::usable(tx, org, &[template_id])
                .await?
                .pop()
                .ok_or(AppError::not_found("template"))?;
            for phase in template.phase_list() {
                let Some(role) = crate::templates::role_for(&phase, &roles) else {
                    let wanted = match (&phase.role_title, phase.expertise) {
                        (Some(title), _) => format!("an active role titled `{title}`"),
                        (None, Some(e)) => format!("an active {} role", e.as_str()),
                        (None, None) => "a role".to_string(),
                    };
                    return Err(AppError::bad_input(
                        "templateId",
                        format!(
                            "phase `{}` of the template needs {wanted}, which the team lacks",
                            phase.code
                        ),
                    ));
                };
                let input = StepInput {
                    task: crate::templates::fill(&phase.prompt, &inputs, "inputs")?,
                    agent: AgentSnapshot::of(role),
                    phase: Some(phase.code.clone()),
                };
                planned.push((input, role.id, phase.name.clone()));
            }
        }
    }
    let plan: Vec<StepInput> = planned.iter().map(|(input, _, _)| input.clone()).collect();
    let agents: Vec<_> = plan.iter().map(|s| (&s.agent, s.task.as_str())).collect();
    let estimate = pricing::estimate_run(&agents, &inputs, config.quality_preference);

    let budget = &team.monthly_budget.0;
    let spent = &team.current_spend.0;
    let remaining = budget - spent;
    if remaining.sign() != bigdecimal::num_bigint::Sign::Plus {
        return Err(AppError::BudgetExceeded(format!(
            "the team's monthly budget is used up: {} spent of {}",
            usd(spent),
            usd(budget)
        )));
    }
    if estimate.0 > remaining {
        return Err(AppError::BudgetExceeded(format!(
            "the estimated cost {} exceeds the remaining budget {}",
            crate::db::types::format_scaled(&estimate.0, 4),
            usd(&remaining)
        )));
    }
    let projected = spent + &estimate.0;
    let warning = projected.clone() * BigDecimal::from(10) > budget * BigDecimal::from(9);

    let kinds_count = if warning { 2 } else { 1 };
    let run = Run {
        id: Id::new(),
        organization_id: org,
        team_id: Some(team_id),
        triggered_by: Some(actor.user_id),
        kind: RunKind::Team,
        status: RunStatus::Pending,
        inputs: RawJson::new(&inputs),
        execution_config: RawJson::new(&config),
        estimated_cost: Decimal::from_ten_thousandths(estimate.to_ten_thousandths().unwrap_or(0)),
        result: None,
        error_message: None,
        total_steps: plan.len() as i32,
        completed_steps: 0,
        tokens_used: 0,
        cost: Decimal::zero(),
        duration_ms: None,
        claimed_by: None,
        lease_expires_at: None,
        started_at: None,
        completed_at: None,
        created_at: now,
        updated_at: now,
        event_seq: kinds_count,
        project_id,
        template_id,
        schedule_id,
    };
    let steps: Vec<RunStep> = planned
        .into_iter()
        .enumerate()
        .map(|(position, (input, role_id, name))| RunStep {
            id: Id::new(),
            organization_id: org,
            run_id: run.id,
            role_id: Some(role_id),
            position: position as i32,
            name,
            status: StepStatus::Pending,
            input: Some(RawJson::new(&input)),
            output: None,
            prompt_tokens: 0,
            completion_tokens: 0,
            tokens_used: 0,
            cost: Decimal::zero(),
            duration_ms: None,
            error_message: None,
            started_at: None,
            completed_at: None,
            created_at: now,
            updated_at: now,
        })
        .collect();
    queries::insert_run(tx, &run).await?;
    queries::insert_steps(tx, &steps).await?;
    team_queries_set_running(tx, org, team_id, now).await?;

    let mut kinds = vec![(RunEventKind::Created, None, None)];
    if warning {
        let percent = (projected * BigDecimal::from(100) / budget).round(1);
        kinds.push((
            RunEventKind::BudgetWarning,
            None,
            Some(format!(
                "spend plus this run's estimate reaches {percent}% of the monthly budget {}",
                usd(budget)
            )),
        ));
    }
    let events = events_of(&run, &kinds, now);
    append(tx, bus, &run, &events).await?;
    audit::record(
        tx,
        actor,
        Change {
            action: "run.start",
            resource_type: "run",
            resource_id: Some(run.id),
            new_values: Some(serde_json::json!({
                "team_id": team_id,
                "inputs": inputs,
                "execution_config": config,
                "estimated_cost": run.estimated_cost.to_string_scaled(4),
                "total_steps": run.total_steps,
            })),
            ..Change::default()
        },
    )
    .await?;
    Ok((run, events))
}

async fn team_queries_set_running(
    conn: &mut Conn<'_>,
    org: Id,
    team_id: Id,
    now: Timestamp,
) -> AppResult<()> {
    queries::set_team_status(conn, org, team_id, TeamStatus::Running, None, now).await?;
    Ok(())
}

/// Cancels an unfinished run: its open steps are cancelled and a `CANCELLED` event
/// ends its log. A step in flight is abandoned: its answer is discarded and not
/// charged. NOT_FOUND for an unknown run, CONFLICT for one that already ended.
pub async fn cancel_run(
    conn: &mut Conn<'_>,
    bus: &EventBus,
    actor: &Actor,
    run_id: Id,
    reason: Option<String>,
) -> AppResult<(Run, Vec<RunEvent>)> {
    actor.require(Permission::RunsCancel)?;
    let reason = crate::teams::clean_optional_text("reason", reason.as_deref(), 500)?;
    let org = actor.organization_id;
    let now = Timestamp::now();
    tenant_transaction!(conn, actor.organization_id, |tx| -> AppResult<(
        Run,
        Vec<RunEvent>
    )> {
        let before = queries::lock(tx, org, run_id)
            .await?
            .ok_or(AppError::not_found("run"))?;
        if before.status.is_terminal() {
            return Err(AppError::conflict(
                "id",
                format!("the run already ended ({})", before.status),
            ));
        }
        let update = RunProgressUpdate {
            status: RunStatus::Cancelled,
            claimed_by: None,
            lease_expires_at: None,
            result: None,
            error_message: Some(reason.clone().unwrap_or_else(|| "cancelled".into())),
            duration_ms: millis_since(before.started_at, now),
            completed_at: Some(now),
            updated_at: now,
        };
        let run = queries::end_unfinished(tx, org, run_id, 1, &update)
            .await?
            .ok_or(AppError::not_found("run"))?;
        queries::close_open_steps(tx, org, run_id, StepStatus::Cancelled, now).await?;
        settle_team(tx, &run, RunStatus::Cancelled, now).await?;
        let events = events_of(
            &run,
            &[(RunEventKind::Cancelled, None, reason.clone())],
            now,
        );
        append(tx, bus, &run, &events).await?;
        audit::record(
            tx,
            actor,
            Change {
                action: "run.cancel",
                resource_type: "run",
                resource_id: Some(run_id),
                old_values: Some(serde_json::json!({ "status": before.status.as_str() })),
                new_values: Some(serde_json::json!({
                    "status": run.status.as_str(),
                    "reason": reason,
                })),
            },
        )
        .await?;
        Ok((run, events))
    })
}
