//! Billing: the plans on offer, each organization's subscription to one, the limits a
//! plan sets, and the usage ledger the organization's work writes.
//!
//! The organization's `plan` column is the plan in force (its users, projects and API
//! limits are copied onto the organization when it changes); the subscription says
//! how it is billed. Monthly limits count calendar months in UTC, as the API quota
//! does, whatever the billing cycle.

pub mod queries;
pub mod service;

use bigdecimal::{BigDecimal, RoundingMode};
use chrono::{DateTime, Months, Utc};
use diesel::prelude::*;

use crate::db::schema::{plans, subscriptions, usage_records};
use crate::db::{Decimal, Id, Json, Timestamp};
use crate::db_enum;
use crate::organizations::Plan;
use crate::organizations::quota::{period_end, period_start};

db_enum! {
    /// Whether a subscription is in force.
    pub enum SubscriptionStatus {
        /// In force and renewing at the end of each period.
        Active => "active",
        /// In force until the end of the current period, then expired.
        Cancelled => "cancelled",
        /// Ended: the organization is on the free plan.
        Expired => "expired",
    }
}

db_enum! {
    /// How often a subscription is billed.
    pub enum BillingCycle {
        /// A period of one month.
        Monthly => "monthly",
        /// A period of one year.
        Yearly => "yearly",
    }
}

db_enum! {
    /// What a usage record counts.
    pub enum BillingUnit {
        /// Model tokens (prompt and completion).
        Token => "token",
        /// One agent performing one run step.
        AgentRun => "agent_run",
    }
}

/// A plan on offer.
#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = plans)]
pub struct BillingPlan {
    pub id: Id,
    pub plan_type: Plan,
    pub name: String,
    pub price_monthly: Decimal,
    pub price_yearly: Decimal,
    pub currency: String,
    pub features: Json,
    pub limits: Json,
    pub is_active: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl BillingPlan {
    pub fn plan_limits(&self) -> PlanLimits {
        PlanLimits::of(&self.limits.0)
    }
}

/// What a plan allows; `None` is unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PlanLimits {
    pub users: Option<i64>,
    pub projects: Option<i64>,
    pub teams: Option<i64>,
    pub api_requests_per_month: Option<i64>,
    pub runs_per_month: Option<i64>,
    pub tokens_per_month: Option<i64>,
}

impl PlanLimits {
    /// Reads the `limits` JSON of a plan; a missing, null or non-integer key is
    /// unlimited.
    pub fn of(json: &serde_json::Value) -> PlanLimits {
        let get = |key: &str| json.get(key).and_then(serde_json::Value::as_i64);
        PlanLimits {
            users: get("users"),
            projects: get("projects"),
            teams: get("teams"),
            api_requests_per_month: get("apiRequestsPerMonth"),
            runs_per_month: get("runsPerMonth"),
            tokens_per_month: get("tokensPerMonth"),
        }
    }

    /// The organization columns that carry these limits (users, projects, monthly API
    /// requests), saturated to what the columns hold.
    pub fn organization_columns(&self) -> (i32, i32, i32) {
        let column =
            |v: Option<i64>| v.map_or(i32::MAX, |n| n.clamp(1, i64::from(i32::MAX)) as i32);
        (
            column(self.users),
            column(self.projects),
            self.api_requests_per_month
                .map_or(i32::MAX, |n| n.clamp(0, i64::from(i32::MAX)) as i32),
        )
    }
}

/// An organization's subscription.
#[derive(Debug, Clone, Queryable, Selectable, Identifiable, Insertable)]
#[diesel(table_name = subscriptions)]
pub struct Subscription {
    pub id: Id,
    pub organization_id: Id,
    pub plan_id: Id,
    pub status: SubscriptionStatus,
    pub billing_cycle: BillingCycle,
    pub current_period_start: Timestamp,
    pub current_period_end: Timestamp,
    pub cancelled_at: Option<Timestamp>,
    pub external_customer_id: Option<String>,
    pub external_subscription_id: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Subscription {
    pub fn audit_values(&self, plan: Plan) -> serde_json::Value {
        serde_json::json!({
            "plan": plan.as_str(),
            "status": self.status.as_str(),
            "billing_cycle": self.billing_cycle.as_str(),
            "current_period_start": self.current_period_start.0.to_rfc3339(),
            "current_period_end": self.current_period_end.0.to_rfc3339(),
            "external_customer_id": self.external_customer_id,
            "external_subscription_id": self.external_subscription_id,
        })
    }
}

/// The end of a billing period that starts at `start`.
pub fn period_after(start: DateTime<Utc>, cycle: BillingCycle) -> DateTime<Utc> {
    let months = match cycle {
        BillingCycle::Monthly => Months::new(1),
        BillingCycle::Yearly => Months::new(12),
    };
    start.checked_add_months(months).unwrap_or(start)
}

/// One line of the usage ledger.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = usage_records)]
pub struct UsageRecord {
    pub id: Id,
    pub organization_id: Id,
    pub subscription_id: Option<Id>,
    pub team_id: Option<Id>,
    pub run_id: Option<Id>,
    pub step_id: Option<Id>,
    pub model: Option<String>,
    pub billing_unit: BillingUnit,
    pub quantity: i64,
    pub unit_price: Decimal,
    pub total_cost: Decimal,
    pub currency: String,
    pub usage_day: String,
    pub period_start: Timestamp,
    pub period_end: Timestamp,
    pub created_at: Timestamp,
    pub conversation_id: Option<Id>,
    pub message_id: Option<Id>,
}

/// The blended price per million tokens of `tokens` that cost `cost`, to 4 decimals.
pub fn price_per_million(cost: &Decimal, tokens: i64) -> Decimal {
    if tokens <= 0 {
        return Decimal::zero();
    }
    let price = &cost.0 * BigDecimal::from(1_000_000) / BigDecimal::from(tokens);
    Decimal(price.with_scale_round(4, RoundingMode::HalfEven))
}

/// Where a step's usage came from.
#[derive(Debug, Clone, Copy)]
pub struct StepSource<'a> {
    pub organization_id: Id,
    pub team_id: Option<Id>,
    pub run_id: Id,
    pub step_id: Id,
    pub model: Option<&'a str>,
}

/// The ledger lines of a completed step: its tokens, which carry its whole cost, and
/// one agent run. The token line's `total_cost` is the step's cost exactly, so the
/// ledger sums to what the runs cost.
pub fn step_usage(
    source: StepSource<'_>,
    subscription_id: Option<Id>,
    tokens: i64,
    cost: &Decimal,
    now: Timestamp,
) -> [UsageRecord; 2] {
    let line = |unit, quantity, unit_price, total_cost| UsageRecord {
        id: Id::new(),
        organization_id: source.organization_id,
        subscription_id,
        team_id: source.team_id,
        run_id: Some(source.run_id),
        step_id: Some(source.step_id),
        model: source.model.map(str::to_string),
        billing_unit: unit,
        quantity,
        unit_price,
        total_cost,
        currency: "USD".to_string(),
        usage_day: usage_day(now),
        period_start: Timestamp(period_start(now.0)),
        period_end: Timestamp(period_end(now.0)),
        created_at: now,
        conversation_id: None,
        message_id: None,
    };
    [
        line(
            BillingUnit::Token,
            tokens,
            price_per_million(cost, tokens),
            cost.clone(),
        ),
        line(BillingUnit::AgentRun, 1, Decimal::zero(), Decimal::zero()),
    ]
}

/// Where a conversation reply's usage came from.
#[derive(Debug, Clone, Copy)]
pub struct ReplySource<'a> {
    pub organization_id: Id,
    pub team_id: Id,
    pub conversation_id: Id,
    pub message_id: Id,
    pub model: &'a str,
}

/// The ledger line of a conversation's reply: its tokens, carrying its whole cost.
pub fn reply_usage(
    source: ReplySource<'_>,
    subscription_id: Option<Id>,
    tokens: i64,
    cost: &Decimal,
    now: Timestamp,
) -> UsageRecord {
    UsageRecord {
        id: Id::new(),
        organization_id: source.organization_id,
        subscription_id,
        team_id: Some(source.team_id),
        run_id: None,
        step_id: None,
        model: Some(source.model.to_string()),
        billing_unit: BillingUnit::Token,
        quantity: tokens,
        unit_price: price_per_million(cost, tokens),
        total_cost: cost.clone(),
        currency: "USD".to_string(),
        usage_day: usage_day(now),
        period_start: Timestamp(period_start(now.0)),
        period_end: Timestamp(period_end(now.0)),
        created_at: now,
        conversation_id: Some(source.conversation_id),
        message_id: Some(source.message_id),
    }
}

/// The UTC day of `at` as `YYYY-MM-DD`, the ledger's day key.
pub fn usage_day(at: Timestamp) -> String {
    at.0.format("%Y-%m-%d").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use std::str::FromStr;

    #[test]
    fn limits_read_missing_and_null_as_unlimited() {
        let limits = PlanLimits::of(&serde_json::json!({
            "users": 10, "teams": null, "runsPerMonth": 200, "tokensPerMonth": "many"
        }));
        assert_eq!(limits.users, Some(10));
        assert_eq!(limits.teams, None);
        assert_eq!(limits.projects, None);
        assert_eq!(limits.runs_per_month, Some(200));
        assert_eq!(limits.tokens_per_month, None);
        assert_eq!(limits.organization_columns(), (10, i32::MAX, i32::MAX));
    }

    #[test]
    fn periods_follow_the_cycle_and_month_ends() {
        let jan31 = Utc.with_ymd_and_hms(2027, 1, 31, 9, 0, 0).unwrap();
        assert_eq!(
            period_after(jan31, BillingCycle::Monthly).to_rfc3339(),
            "2027-02-28T09:00:00+00:00"
        );
        assert_eq!(
            period_after(jan31, BillingCycle::Yearly).to_rfc3339(),
            "2028-01-31T09:00:00+00:00"
        );
    }

    #[test]
    fn the_token_line_carries_the_exact_step_cost() {
        let cost = Decimal(BigDecimal::from_str("0.0123").unwrap());
        assert_eq!(price_per_million(&cost, 700).0.to_string(), "17.5714");
        let now = Timestamp(Utc.with_ymd_and_hms(2026, 11, 23, 23, 59, 59).unwrap());
        let source = StepSource {
            organization_id: Id::new(),
            team_id: None,
            run_id: Id::new(),
            step_id: Id::new(),
            model: Some("gpt-4"),
        };
        let [tokens, agent] = step_usage(source, None, 700, &cost, now);
        assert_eq!(tokens.total_cost, cost);
        assert_eq!(tokens.quantity, 700);
        assert_eq!(agent.billing_unit, BillingUnit::AgentRun);
        assert_eq!(agent.quantity, 1);
        assert_eq!(tokens.usage_day, "2026-11-23");
        assert_eq!(
            tokens.period_end.0.to_rfc3339(),
            "2026-12-01T00:00:00+00:00"
        );
    }
}
