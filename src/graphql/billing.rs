//! Plans, the organization's subscription, its quotas, and its usage and API usage
//! reports.

use async_graphql::{Context, Enum, ID, InputObject, Json, MaybeUndefined, Object, SimpleObject};
use chrono::{DateTime, Utc};

use super::context::ContextExt;
use super::errors::GqlResult;
use super::loaders::TeamKey;
use super::mutation::maybe;
use super::scalars::Decimal;
use crate::api_usage::queries::CallGrouping;
use crate::auth::permissions::Permission;
use crate::billing::queries::{self, UsageGrouping};
use crate::billing::service::{self, QuotaUse, SubscriptionChanges};
use crate::billing::{
    BillingCycle, BillingPlan, BillingUnit, PlanLimits, Subscription, SubscriptionStatus,
};
use crate::db::Timestamp;
use crate::error::AppError;
use crate::organizations::{Organization, Plan};
use crate::teams::Team;

/// A plan on offer, with its prices and limits.
#[Object]
impl BillingPlan {
    /// Opaque identifier.
    async fn id(&self) -> ID {
        ID(self.id.to_string())
    }

    /// The plan an organization names in `changePlan`.
    async fn plan_type(&self) -> Plan {
        self.plan_type
    }

    /// Display name, e.g. `Pro`.
    async fn name(&self) -> &str {
        &self.name
    }

    /// Price per month on monthly billing, in `currency`, 2 decimals.
    async fn price_monthly(&self) -> Decimal {
        Decimal::money(&self.price_monthly)
    }

    /// Price per year on yearly billing, in `currency`, 2 decimals.
    async fn price_yearly(&self) -> Decimal {
        Decimal::money(&self.price_yearly)
    }

    /// ISO 4217 code of the prices.
    async fn currency(&self) -> &str {
        &self.currency
    }

    /// Feature flags, e.g. `{"sso": false}`.
    async fn features(&self) -> Json<serde_json::Value> {
        Json(self.features.0.clone())
    }

    /// What the plan allows.
    async fn limits(&self) -> Limits {
        Limits(self.plan_limits())
    }

    /// Whether organizations can choose it.
    async fn active(&self) -> bool {
        self.is_active
    }
}

pub struct Limits(PlanLimits);

/// What a plan allows; `null` is unlimited. Monthly limits count calendar months (UTC).
#[Object(name = "PlanLimits")]
impl Limits {
    /// Users (deleted ones excluded); checked when a user is created.
    async fn users(&self) -> Option<i64> {
        self.0.users
    }

    /// Projects; checked when a project is created.
    async fn projects(&self) -> Option<i64> {
        self.0.projects
    }

    /// Teams (deleted ones excluded); checked when a team is created.
    async fn teams(&self) -> Option<i64> {
        self.0.teams
    }

    /// GraphQL requests per month; checked on every request.
    async fn api_requests_per_month(&self) -> Option<i64> {
        self.0.api_requests_per_month
    }

    /// Runs started per month (by `startRun` or a run schedule).
    async fn runs_per_month(&self) -> Option<i64> {
        self.0.runs_per_month
    }

    /// Model tokens per month; checked when a run starts (runs already going finish).
    async fn tokens_per_month(&self) -> Option<i64> {
        self.0.tokens_per_month
    }
}

/// How the organization's plan is billed.
#[Object(name = "BillingSubscription")]
impl Subscription {
    /// Opaque identifier.
    async fn id(&self) -> ID {
        ID(self.id.to_string())
    }

    /// The plan billed, with its prices and limits.
    async fn plan(&self, ctx: &Context<'_>) -> async_graphql::Result<BillingPlan> {
        let mut pooled = ctx.db().await?;
        queries::plan_by_id(&mut pooled.conn(), self.plan_id)
            .await
            .map_err(AppError::from)
            .gql()?
            .ok_or_else(|| super::errors::to_gql(&AppError::not_found("plan")))
    }

    /// Whether the subscription is in force and renewing.
    async fn status(&self) -> SubscriptionStatus {
        self.status
    }

    /// How often it renews: monthly or yearly.
    async fn billing_cycle(&self) -> BillingCycle {
        self.billing_cycle
    }

    /// When the current billing period began.
    async fn current_period_start(&self) -> DateTime<Utc> {
        self.current_period_start.0
    }

    /// When the subscription renews, or, once cancelled, expires.
    async fn current_period_end(&self) -> DateTime<Utc> {
        self.current_period_end.0
    }

    /// When `cancelSubscription` was called; null unless cancelled.
    async fn cancelled_at(&self) -> Option<DateTime<Utc>> {
        self.cancelled_at.map(|t| t.0)
    }

    /// The payment provider's customer id, as stored by `updateSubscription`.
    async fn external_customer_id(&self) -> Option<&str> {
        self.external_customer_id.as_deref()
    }

    /// The payment provider's subscription id, as stored by `updateSubscription`.
    async fn external_subscription_id(&self) -> Option<&str> {
        self.external_subscription_id.as_deref()
    }

    /// When the organization first subscribed.
    async fn created_at(&self) -> DateTime<Utc> {
        self.created_at.0
    }

    /// Last change to the subscription.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.updated_at.0
    }
}

/// One plan limit and how much of it is used.
#[derive(SimpleObject)]
pub struct Quota {
    /// The limit's key in the plan's limits, e.g. `runsPerMonth`; QUOTA_EXCEEDED errors
    /// name it in `extensions.limit`.
    pub limit: String,
    /// How much is used now (this month, for monthly limits).
    pub used: i64,
    /// `null` is unlimited.
    pub allowed: Option<i64>,
    /// When a monthly limit starts again from zero.
    pub resets_at: Option<DateTime<Utc>>,
}

impl From<QuotaUse> for Quota {
    fn from(q: QuotaUse) -> Quota {
        Quota {
            limit: q.limit.to_string(),
            used: q.used,
            allowed: q.allowed,
            resets_at: q.resets_at,
        }
    }
}

/// The organization's subscription, for `Organization.subscription`.
pub async fn subscription_of(
    ctx: &Context<'_>,
    org: &Organization,
) -> async_graphql::Result<Option<Subscription>> {
    let actor = ctx.actor()?;
    if actor.organization_id != org.id {
        return Err(super::errors::to_gql(&AppError::not_found("organization")));
    }
    actor.require(Permission::BillingRead).gql()?;
    let mut pooled = ctx.db().await?;
    queries::subscription_of(&mut pooled.conn(), org.id)
        .await
        .map_err(AppError::from)
        .gql()
}

/// The organization's quotas, for `Organization.quotas`.
pub async fn quotas_of(ctx: &Context<'_>, org: &Organization) -> async_graphql::Result<Vec<Quota>> {
    if ctx.actor()?.organization_id != org.id {
        return Err(super::errors::to_gql(&AppError::not_found("organization")));
    }
    let mut pooled = ctx.db().await?;
    let uses = service::quota_use(&mut pooled.conn(), org, Timestamp::now())
        .await
        .gql()?;
    Ok(uses.into_iter().map(Quota::from).collect())
}

/// What `usage` groups by.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum UsageGroupBy {
    /// The UTC day.
    Day,
    /// By team (`key` is the team id; null for usage without a team).
    Team,
    /// By the model the tokens were priced as (null for usage without a model).
    Model,
    /// The billing unit.
    Unit,
}

impl From<UsageGroupBy> for UsageGrouping {
    fn from(g: UsageGroupBy) -> UsageGrouping {
        match g {
            UsageGroupBy::Day => UsageGrouping::Day,
            UsageGroupBy::Team => UsageGrouping::Team,
            UsageGroupBy::Model => UsageGrouping::Model,
            UsageGroupBy::Unit => UsageGrouping::Unit,
        }
    }
}

/// The usage of one group.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct UsageGroup {
    /// The day (`YYYY-MM-DD`), team id, model or unit (`token`, `agent_run`); `null`
    /// for usage without a team or model.
    pub key: Option<String>,
    /// Model tokens (prompt and completion).
    pub tokens: i64,
    /// Run steps performed by agents.
    pub agent_runs: i64,
    /// USD, 4 decimals: the sum of the group's ledger costs.
    pub total_cost: Decimal,
    /// Ledger lines summed.
    pub records: i64,
    #[graphql(skip)]
    team_id: Option<crate::db::Id>,
}

#[async_graphql::ComplexObject]
impl UsageGroup {
    /// The team, when grouped by team (and it still exists).
    async fn team(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Team>> {
        match self.team_id {
            Some(id) => ctx.loaders()?.load_one(TeamKey(id)).await.gql(),
            None => Ok(None),
        }
    }
}

/// The organization's usage over a time range.
#[derive(SimpleObject)]
pub struct UsageReport {
    /// Start of the range (inclusive).
    pub from: DateTime<Utc>,
    /// End of the range (exclusive).
    pub to: DateTime<Utc>,
    /// How `groups` are formed.
    pub group_by: UsageGroupBy,
    /// Model tokens in the range.
    pub tokens: i64,
    /// Run steps performed by agents in the range.
    pub agent_runs: i64,
    /// USD, exact: the sum of the ledger's costs, which equals what the runs cost.
    pub total_cost: Decimal,
    /// One entry per group, ordered by `key`.
    pub groups: Vec<UsageGroup>,
}

/// What `apiUsage` groups by.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum ApiUsageGroupBy {
    /// The operation's name (`null` for anonymous operations).
    Operation,
    /// query, mutation, subscription, or unknown (unparsable or refused requests).
    Type,
    /// The UTC day.
    Day,
    /// ok, partial (data with errors), error, refused (the API quota) or timeout.
    Status,
}

/// One group of API calls, with latencies in milliseconds (nearest-rank percentiles).
#[derive(SimpleObject)]
pub struct ApiUsageGroup {
    /// The group: the operation name, type, day (`YYYY-MM-DD`) or status; null for
    /// anonymous operations.
    pub key: Option<String>,
    /// Calls in the group.
    pub calls: i64,
    /// Calls that did not end `ok`.
    pub failed: i64,
    /// Errors returned, in total.
    pub errors: i64,
    /// Mean response time.
    pub average_ms: f64,
    /// Median response time.
    pub p50_ms: f64,
    /// 95th percentile response time.
    pub p95_ms: f64,
    /// 99th percentile response time.
    pub p99_ms: f64,
    /// Slowest response time.
    pub max_ms: f64,
}

/// The organization's GraphQL calls over a time range.
#[derive(SimpleObject)]
pub struct ApiUsageReport {
    /// Start of the range (inclusive).
    pub from: DateTime<Utc>,
    /// End of the range (exclusive).
    pub to: DateTime<Utc>,
    /// How `groups` are formed.
    pub group_by: ApiUsageGroupBy,
    /// Calls in the range.
    pub calls: i64,
    /// Calls that did not end `ok`.
    pub failed: i64,
    /// Busiest first.
    pub groups: Vec<ApiUsageGroup>,
}

fn millis(us: i64) -> f64 {
    us as f64 / 1000.0
}

fn report_range(from: DateTime<Utc>, to: DateTime<Utc>) -> async_graphql::Result<()> {
    if to <= from || (to - from).num_days() > MAX_REPORT_DAYS {
        return Err(super::errors::to_gql(&AppError::bad_input(
            "to",
            format!("`to` must be after `from`, at most {MAX_REPORT_DAYS} days later"),
        )));
    }
    Ok(())
}

/// Longest range a usage report covers.
const MAX_REPORT_DAYS: i64 = 400;

#[derive(Default)]
pub struct BillingQuery;

#[Object]
impl BillingQuery {
    /// The plans on offer, cheapest first.
    async fn plans(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<BillingPlan>> {
        ctx.actor()?;
        let mut pooled = ctx.db().await?;
        queries::active_plans(&mut pooled.conn())
            .await
            .map_err(AppError::from)
            .gql()
    }

    /// The organization's usage recorded in `[from, to)` (at most 400 days), summed
    /// per group exactly. Needs `billing.read`.
    async fn usage(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Start of the range (inclusive).")] from: DateTime<Utc>,
        #[graphql(desc = "End of the range (exclusive); at most 400 days after `from`.")]
        to: DateTime<Utc>,
        #[graphql(desc = "How to group the usage.")] group_by: UsageGroupBy,
    ) -> async_graphql::Result<UsageReport> {
        let actor = ctx.actor()?;
        actor.require(Permission::BillingRead).gql()?;
        report_range(from, to)?;
        let mut pooled = ctx.db().await?;
        let totals = queries::usage_totals(
            &mut pooled.conn(),
            actor.organization_id,
            Timestamp(from),
            Timestamp(to),
            group_by.into(),
        )
        .await
        .map_err(AppError::from)
        .gql()?;
        let mut groups: Vec<UsageGroup> = Vec::new();
        let (mut tokens, mut agent_runs) = (0, 0);
        let mut total = bigdecimal::BigDecimal::from(0);
        for (key, unit, quantity, cost, lines) in totals {
            let group = match groups.iter_mut().find(|g| g.key == key) {
                Some(group) => group,
                None => {
                    let team_id = match group_by {
                        UsageGroupBy::Team => key.as_deref().and_then(|k| k.parse().ok()),
                        _ => None,
                    };
                    groups.push(UsageGroup {
                        key: key.clone(),
                        tokens: 0,
                        agent_runs: 0,
                        total_cost: Decimal::cost(&crate::db::Decimal::zero()),
                        records: 0,
                        team_id,
                    });
                    groups.last_mut().ok_or_else(|| "no group".to_string())?
                }
            };
            match unit {
                BillingUnit::Token => {
                    group.tokens += quantity;
                    tokens += quantity;
                }
                BillingUnit::AgentRun => {
                    group.agent_runs += quantity;
                    agent_runs += quantity;
                }
            }
            group.total_cost.value += &cost.0;
            group.records += lines;
            total += &cost.0;
        }
        Ok(UsageReport {
            from,
            to,
            group_by,
            tokens,
            agent_runs,
            total_cost: Decimal::cost(&crate::db::Decimal(total)),
            groups,
        })
    }
}

#[Object]
impl ApiUsageQuery {
    /// The organization's GraphQL calls recorded in `[from, to)` (at most 400 days):
    /// counts, failures and latency percentiles per group. Calls are written in batches
    /// a fraction of a second after they are served. Needs `billing.read`.
    async fn api_usage(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Start of the range (inclusive).")] from: DateTime<Utc>,
        #[graphql(desc = "End of the range (exclusive); at most 400 days after `from`.")]
        to: DateTime<Utc>,
        #[graphql(desc = "How to group the calls.")] group_by: ApiUsageGroupBy,
    ) -> async_graphql::Result<ApiUsageReport> {
        let actor = ctx.actor()?;
        actor.require(Permission::BillingRead).gql()?;
        report_range(from, to)?;
        let grouping = match group_by {
            ApiUsageGroupBy::Operation => CallGrouping::Operation,
            ApiUsageGroupBy::Type => CallGrouping::Kind,
            ApiUsageGroupBy::Day => CallGrouping::Day,
            ApiUsageGroupBy::Status => CallGrouping::Status,
        };
        let mut pooled = ctx.db().await?;
        let stats = crate::api_usage::queries::report(
            &mut pooled.conn(),
            actor.organization_id,
            Timestamp(from),
            Timestamp(to),
            grouping,
        )
        .await
        .map_err(AppError::from)
        .gql()?;
        Ok(ApiUsageReport {
            from,
            to,
            group_by,
            calls: stats.iter().map(|s| s.calls).sum(),
            failed: stats.iter().map(|s| s.failed).sum(),
            groups: stats
                .into_iter()
                .map(|s| ApiUsageGroup {
                    average_ms: if s.calls > 0 {
                        millis(s.total_us) / s.calls as f64
                    } else {
                        0.0
                    },
                    key: s.key,
                    calls: s.calls,
                    failed: s.failed,
                    errors: s.errors,
                    p50_ms: millis(s.p50_us),
                    p95_ms: millis(s.p95_us),
                    p99_ms: millis(s.p99_us),
                    max_ms: millis(s.max_us),
                })
                .collect(),
        })
    }
}

#[derive(Default)]
pub struct ApiUsageQuery;

/// Input of `changePlan`.
#[derive(InputObject)]
pub struct ChangePlanInput {
    /// The plan to move to.
    pub plan: Plan,
    /// The current cycle (monthly for a first subscription) when omitted.
    pub billing_cycle: Option<BillingCycle>,
}

/// The organization on its new plan.
#[derive(SimpleObject)]
pub struct ChangePlanPayload {
    /// The organization with the plan's limits applied.
    pub organization: Organization,
    /// The new subscription, its period starting now.
    pub subscription: Subscription,
}

/// Input of `updateSubscription`; omitted fields are left unchanged.
#[derive(InputObject)]
pub struct UpdateSubscriptionInput {
    /// Takes effect at the next renewal.
    pub billing_cycle: Option<BillingCycle>,
    /// At most 255 characters; `null` clears it.
    pub external_customer_id: MaybeUndefined<String>,
    /// At most 255 characters; `null` clears it.
    pub external_subscription_id: MaybeUndefined<String>,
}

/// The organization's subscription after the change.
#[derive(SimpleObject)]
pub struct SubscriptionPayload {
    /// The subscription as it is now.
    pub subscription: Subscription,
}

#[derive(Default)]
pub struct BillingMutation;

#[Object]
impl BillingMutation {
    /// Moves your organization to another plan: its limits apply at once and a new
    /// billing period starts now. Needs `organization.manage`.
    async fn change_plan(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The plan and, optionally, the billing cycle.")] input: ChangePlanInput,
    ) -> async_graphql::Result<ChangePlanPayload> {
        let actor = ctx.actor()?;
        let mut pooled = ctx.db().await?;
        let (organization, subscription) =
            service::change_plan(&mut pooled.conn(), actor, input.plan, input.billing_cycle)
                .await
                .gql()?;
        Ok(ChangePlanPayload {
            organization,
            subscription,
        })
    }

    /// Cancels your organization's subscription: the plan stays in force until the end
    /// of the current period, then the organization moves to the free plan. Choosing a
    /// plan again with `changePlan` resumes it. Needs `organization.manage`.
    async fn cancel_subscription(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<SubscriptionPayload> {
        let actor = ctx.actor()?;
        let mut pooled = ctx.db().await?;
        let subscription = service::change_subscription(
            &mut pooled.conn(),
            actor,
            true,
            SubscriptionChanges::default(),
        )
        .await
        .gql()?;
        Ok(SubscriptionPayload { subscription })
    }

    /// Changes your organization's billing details. Needs `organization.manage`.
    async fn update_subscription(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The billing details to change.")] input: UpdateSubscriptionInput,
    ) -> async_graphql::Result<SubscriptionPayload> {
        let actor = ctx.actor()?;
        let changes = SubscriptionChanges {
            billing_cycle: input.billing_cycle,
            external_customer_id: maybe(input.external_customer_id, |v| v),
            external_subscription_id: maybe(input.external_subscription_id, |v| v),
        };
        let mut pooled = ctx.db().await?;
        let subscription = service::change_subscription(&mut pooled.conn(), actor, false, changes)
            .await
            .gql()?;
        Ok(SubscriptionPayload { subscription })
    }
}
