//! Plan changes, cancellation, renewal, and the plan limits checked where work starts.

use chrono::{DateTime, Utc};

use super::{
    BillingCycle, BillingPlan, PlanLimits, StepSource, Subscription, SubscriptionStatus, queries,
    step_usage,
};
use crate::audit::{self, Change};
use crate::auth::permissions::{Actor, Permission};
use crate::db::{Conn, Decimal, Id, Timestamp};
use crate::error::{AppError, AppResult};
use crate::organizations::quota::{period_end, period_start};
use crate::organizations::{Organization, Plan, queries as orgs};
use crate::{tenant_transaction, transaction};

/// The plan in force for `org`.
pub async fn plan_in_force(conn: &mut Conn<'_>, org: Id) -> AppResult<BillingPlan> {
    queries::plan_of_organization(conn, org)
        .await?
        .ok_or_else(|| AppError::Internal(format!("organization {org} has no known plan")))
}

fn reached(
    limit: &'static str,
    allowed: i64,
    what: &str,
    resets_at: Option<DateTime<Utc>>,
) -> AppError {
    let reset = resets_at
        .map(|at| format!("; it resets at {}", at.to_rfc3339()))
        .unwrap_or_default();
    AppError::quota(
        limit,
        resets_at,
        format!(
            "the organization's plan allows {allowed} {what} ({limit}){reset}; change the plan for more"
        ),
    )
}

/// Refuses a new team beyond the plan's `teams`. Creations serialize on the
/// organization row when the plan has a limit, so it holds under concurrency.
pub async fn check_team_quota(tx: &mut Conn<'_>, org: Id) -> AppResult<()> {
    let Some(allowed) = plan_in_force(tx, org).await?.plan_limits().teams else {
        return Ok(());
    };
    orgs::lock(tx, org)
        .await?
        .ok_or(AppError::not_found("organization"))?;
    let live = crate::teams::queries::count(tx, org, &Default::default()).await?;
    if live >= allowed {
        return Err(reached("teams", allowed, "teams", None));
    }
    Ok(())
}

/// Refuses a run beyond the month's `runsPerMonth`, or once the month's tokens have
/// reached `tokensPerMonth` (runs already going finish). Run starts serialize on the
/// organization row only when the plan limits runs.
pub async fn check_run_quota(tx: &mut Conn<'_>, org: Id, now: Timestamp) -> AppResult<()> {
    let limits = plan_in_force(tx, org).await?.plan_limits();
    check_tokens(tx, org, &limits, now).await?;
    let Some(allowed) = limits.runs_per_month else {
        return Ok(());
    };
    orgs::lock(tx, org)
        .await?
        .ok_or(AppError::not_found("organization"))?;
    let started = queries::runs_since(tx, org, Timestamp(period_start(now.0))).await?;
    if started >= allowed {
        return Err(reached(
            "runsPerMonth",
            allowed,
            "runs a month",
            Some(period_end(now.0)),
        ));
    }
    Ok(())
}

/// Refuses agent work once the month's tokens have reached `tokensPerMonth`.
pub async fn check_tokens(
    conn: &mut Conn<'_>,
    org: Id,
    limits: &PlanLimits,
    now: Timestamp,
) -> AppResult<()> {
    let Some(allowed) = limits.tokens_per_month else {
        return Ok(());
    };
    let used = queries::tokens_in_period(conn, org, Timestamp(period_start(now.0))).await?;
    if used >= allowed {
        return Err(reached(
            "tokensPerMonth",
            allowed,
            "tokens a month",
            Some(period_end(now.0)),
        ));
    }
    Ok(())
}

/// Writes a completed step's ledger lines (inside the step's transaction).
pub async fn record_step_usage(
    tx: &mut Conn<'_>,
    source: StepSource<'_>,
    tokens: i64,
    cost: &Decimal,
    now: Timestamp,
) -> AppResult<()> {
    let subscription = queries::subscription_id_of(tx, source.organization_id).await?;
    queries::insert_usage(tx, &step_usage(source, subscription, tokens, cost, now)).await?;
    Ok(())
}

/// Writes a conversation reply's ledger line (inside the reply's transaction).
pub async fn record_reply_usage(
    tx: &mut Conn<'_>,
    source: super::ReplySource<'_>,
    tokens: i64,
    cost: &Decimal,
    now: Timestamp,
) -> AppResult<()> {
    let subscription = queries::subscription_id_of(tx, source.organization_id).await?;
    let line = super::reply_usage(source, subscription, tokens, cost, now);
    queries::insert_usage(tx, std::slice::from_ref(&line)).await?;
    Ok(())
}

/// The organization columns a plan sets, changed at `now`.
pub fn plan_columns(plan: &BillingPlan, now: Timestamp) -> orgs::OrganizationUpdate {
    let (max_users, max_projects, api_quota_limit) = plan.plan_limits().organization_columns();
    orgs::OrganizationUpdate {
        plan: Some(plan.plan_type),
        max_users: Some(max_users),
        max_projects: Some(max_projects),
        api_quota_limit: Some(api_quota_limit),
        updated_at: Some(now),
        ..Default::default()
    }
}

/// Puts the organization's subscription on `plan` from `now`: active, a new period of
/// `cycle` (the current cycle, or monthly, when `None`). Returns it before and after.
pub async fn subscribe(
    tx: &mut Conn<'_>,
    org: Id,
    plan: &BillingPlan,
    cycle: Option<BillingCycle>,
    now: Timestamp,
) -> AppResult<(Option<Subscription>, Subscription)> {
    let before = queries::lock_subscription(tx, org).await?;
    let cycle = cycle
        .or(before.as_ref().map(|s| s.billing_cycle))
        .unwrap_or(BillingCycle::Monthly);
    let mut after = before.clone().unwrap_or(Subscription {
        id: Id::new(),
        organization_id: org,
        plan_id: plan.id,
        status: SubscriptionStatus::Active,
        billing_cycle: cycle,
        current_period_start: now,
        current_period_end: now,
        cancelled_at: None,
        external_customer_id: None,
        external_subscription_id: None,
        created_at: now,
        updated_at: now,
    });
    after.plan_id = plan.id;
    after.status = SubscriptionStatus::Active;
    after.billing_cycle = cycle;
    after.current_period_start = now;
    after.current_period_end = Timestamp(super::period_after(now.0, cycle));
    after.cancelled_at = None;
    after.updated_at = now;
    let stored = if before.is_some() {
        queries::save_subscription(tx, &after).await?
    } else {
        queries::insert_subscription(tx, &after).await?
    };
    Ok((before, stored))
}

/// Subscribes a new organization to its plan and sets the plan's limits on it.
pub async fn open_account(
    tx: &mut Conn<'_>,
    organization: Organization,
    now: Timestamp,
) -> AppResult<Organization> {
    let plan = queries::plan_by_type(tx, organization.plan)
        .await?
        .ok_or_else(|| AppError::Internal(format!("the {} plan is missing", organization.plan)))?;
    subscribe(tx, organization.id, &plan, None, now).await?;
    let columns = plan_columns(&plan, now);
    orgs::update(tx, organization.id, &columns)
        .await?
        .ok_or(AppError::not_found("organization"))
}

/// A plan a client may choose.
pub async fn offered(tx: &mut Conn<'_>, plan: Plan) -> AppResult<BillingPlan> {
    queries::plan_by_type(tx, plan)
        .await?
        .filter(|p| p.is_active)
        .ok_or_else(|| AppError::bad_input("plan", "this plan is not offered"))
}

/// Moves the actor's organization to `plan` (and its limits) with a new billing
/// period. Needs `organization.manage`.
pub async fn change_plan(
    conn: &mut Conn<'_>,
    actor: &Actor,
    plan: Plan,
    cycle: Option<BillingCycle>,
) -> AppResult<(Organization, Subscription)> {
    actor.require(Permission::OrganizationManage)?;
    let org = actor.organization_id;
    let now = Timestamp::now();
    tenant_transaction!(conn, org, |tx| -> AppResult<(Organization, Subscription)> {
        orgs::lock(tx, org)
            .await?
            .ok_or(AppError::not_found("organization"))?;
        let chosen = offered(tx, plan).await?;
        let previous = plan_in_force(tx, org).await?;
        let (before, after) = subscribe(tx, org, &chosen, cycle, now).await?;
        let columns = plan_columns(&chosen, now);
        let organization = orgs::update(tx, org, &columns)
            .await?
            .ok_or(AppError::not_found("organization"))?;
        audit::record(
            tx,
            actor,
            Change {
                action: "subscription.change_plan",
                resource_type: "subscription",
                resource_id: Some(after.id),
                old_values: before.map(|s| s.audit_values(previous.plan_type)),
                new_values: Some(after.audit_values(chosen.plan_type)),
            },
        )
        .await?;
        Ok((organization, after))
    })
}

/// Changes to a subscription's billing details; `None` leaves a field, `Some(None)`
/// clears it.
#[derive(Debug, Default)]
pub struct SubscriptionChanges {
    pub billing_cycle: Option<BillingCycle>,
    pub external_customer_id: Option<Option<String>>,
    pub external_subscription_id: Option<Option<String>>,
}

fn external_id(field: &str, value: Option<String>) -> AppResult<Option<String>> {
    crate::teams::clean_optional_text(field, value.as_deref(), 255)
}

/// Cancels (`cancel`) or otherwise changes the actor's organization's subscription.
/// A cancelled subscription stays in force to the end of its period, then expires and
/// the organization moves to the free plan. Needs `organization.manage`.
pub async fn change_subscription(
    conn: &mut Conn<'_>,
    actor: &Actor,
    cancel: bool,
    changes: SubscriptionChanges,
) -> AppResult<Subscription> {
    actor.require(Permission::OrganizationManage)?;
    let org = actor.organization_id;
    let customer = changes
        .external_customer_id
        .map(|v| external_id("externalCustomerId", v))
        .transpose()?;
    let external = changes
        .external_subscription_id
        .map(|v| external_id("externalSubscriptionId", v))
        .transpose()?;
    let now = Timestamp::now();
    tenant_transaction!(conn, org, |tx| -> AppResult<Subscription> {
        let plan = plan_in_force(tx, org).await?;
        let before = match queries::lock_subscription(tx, org).await? {
            Some(before) => before,
            // An organization loaded straight into the database has none yet.
            None => subscribe(tx, org, &plan, None, now).await?.1,
        };
        let mut after = before.clone();
        if cancel {
            if before.status != SubscriptionStatus::Active {
                return Err(AppError::conflict(
                    "subscription",
                    format!("the subscription is already {}", before.status),
                ));
            }
            after.status = SubscriptionStatus::Cancelled;
            after.cancelled_at = Some(now);
        }
        if let Some(cycle) = changes.billing_cycle {
            after.billing_cycle = cycle;
        }
        if let Some(customer) = customer {
            after.external_customer_id = customer;
        }
        if let Some(external) = external {
            after.external_subscription_id = external;
        }
        after.updated_at = now;
        let after = queries::save_subscription(tx, &after).await?;
        audit::record(
            tx,
            actor,
            Change {
                action: if cancel {
                    "subscription.cancel"
                } else {
                    "subscription.update"
                },
                resource_type: "subscription",
                resource_id: Some(after.id),
                old_values: Some(before.audit_values(plan.plan_type)),
                new_values: Some(after.audit_values(plan.plan_type)),
            },
        )
        .await?;
        Ok(after)
    })
}

/// Most subscriptions renewed or expired per look.
const SWEEP_BATCH: i64 = 100;

/// Renews active subscriptions whose period ended by `now` (the next period follows
/// on, however many were missed) and expires cancelled ones, moving their
/// organizations to the free plan. Returns how many it changed.
pub async fn sweep(conn: &mut Conn<'_>, now: Timestamp) -> AppResult<usize> {
    let due = queries::due_subscriptions(conn, now, SWEEP_BATCH).await?;
    let mut changed = 0;
    for (org, id) in due {
        let done = transaction!(conn, |tx| -> AppResult<bool> {
            // The organization first, as plan changes lock it, so the two cannot deadlock.
            orgs::lock(tx, org).await?;
            let Some(mut subscription) = queries::lock_subscription(tx, org).await? else {
                return Ok(false);
            };
            // Another process may have handled it since it was listed.
            if subscription.id != id || subscription.current_period_end.0 > now.0 {
                return Ok(false);
            }
            match subscription.status {
                SubscriptionStatus::Expired => return Ok(false),
                SubscriptionStatus::Active => {
                    while subscription.current_period_end.0 <= now.0 {
                        let start = subscription.current_period_end;
                        let end = super::period_after(start.0, subscription.billing_cycle);
                        if end <= start.0 {
                            break;
                        }
                        subscription.current_period_start = start;
                        subscription.current_period_end = Timestamp(end);
                    }
                }
                SubscriptionStatus::Cancelled => {
                    let free = queries::plan_by_type(tx, Plan::Free)
                        .await?
                        .ok_or_else(|| AppError::Internal("the free plan is missing".into()))?;
                    subscription.status = SubscriptionStatus::Expired;
                    subscription.plan_id = free.id;
                    let columns = plan_columns(&free, now);
                    orgs::update(tx, org, &columns).await?;
                }
            }
            subscription.updated_at = now;
            queries::save_subscription(tx, &subscription).await?;
            Ok(true)
        })?;
        changed += usize::from(done);
    }
    Ok(changed)
}

/// One plan limit and how much of it is used.
#[derive(Debug, Clone)]
pub struct QuotaUse {
    /// The limit's key in the plan's `limits`.
    pub limit: &'static str,
    pub used: i64,
    /// `None` is unlimited.
    pub allowed: Option<i64>,
    /// When a monthly limit resets.
    pub resets_at: Option<DateTime<Utc>>,
}

/// Where the organization stands against its plan's limits.
pub async fn quota_use(
    conn: &mut Conn<'_>,
    org: &Organization,
    now: Timestamp,
) -> AppResult<Vec<QuotaUse>> {
    let limits = plan_in_force(conn, org.id).await?.plan_limits();
    let month = Some(period_end(now.0));
    let since = Timestamp(period_start(now.0));
    let api = crate::organizations::quota::QuotaState::of(org, now.0);
    Ok(vec![
        QuotaUse {
            limit: "users",
            used: crate::users::queries::count_members(conn, org.id).await?,
            allowed: Some(i64::from(org.max_users)),
            resets_at: None,
        },
        QuotaUse {
            limit: "projects",
            used: crate::projects::queries::count(conn, org.id, &Default::default()).await?,
            allowed: Some(i64::from(org.max_projects)),
            resets_at: None,
        },
        QuotaUse {
            limit: "teams",
            used: crate::teams::queries::count(conn, org.id, &Default::default()).await?,
            allowed: limits.teams,
            resets_at: None,
        },
        QuotaUse {
            limit: "apiRequestsPerMonth",
            used: i64::from(api.used),
            allowed: Some(i64::from(api.limit)),
            resets_at: month,
        },
        QuotaUse {
            limit: "runsPerMonth",
            used: queries::runs_since(conn, org.id, since).await?,
            allowed: limits.runs_per_month,
            resets_at: month,
        },
        QuotaUse {
            limit: "tokensPerMonth",
            used: queries::tokens_in_period(conn, org.id, since).await?,
            allowed: limits.tokens_per_month,
            resets_at: month,
        },
    ])
}
