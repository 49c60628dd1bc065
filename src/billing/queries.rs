use diesel::dsl::{count_star, sum};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::{BillingPlan, BillingUnit, Subscription, SubscriptionStatus, UsageRecord};
use crate::db::schema::{organizations, plans, runs, subscriptions, usage_records};
use crate::db::{Conn, Decimal, Id, Timestamp};
use crate::dispatch;
use crate::organizations::Plan;

/// The plans on offer, cheapest first.
pub async fn active_plans(conn: &mut Conn<'_>) -> QueryResult<Vec<BillingPlan>> {
    dispatch!(conn, |c| plans::table
        .filter(plans::is_active.eq(true))
        .order((plans::price_monthly.asc(), plans::plan_type.asc()))
        .select(BillingPlan::as_select())
        .load(c)
        .await)
}

pub async fn plan_by_type(conn: &mut Conn<'_>, plan: Plan) -> QueryResult<Option<BillingPlan>> {
    dispatch!(conn, |c| plans::table
        .filter(plans::plan_type.eq(plan))
        .select(BillingPlan::as_select())
        .first(c)
        .await
        .optional())
}

pub async fn plan_by_id(conn: &mut Conn<'_>, id: Id) -> QueryResult<Option<BillingPlan>> {
    dispatch!(conn, |c| plans::table
        .find(id)
        .select(BillingPlan::as_select())
        .first(c)
        .await
        .optional())
}

/// The plan in force for an organization (its `plan` column).
pub async fn plan_of_organization(
    conn: &mut Conn<'_>,
    org: Id,
) -> QueryResult<Option<BillingPlan>> {
    dispatch!(conn, |c| plans::table
        .filter(
            plans::plan_type.eq_any(
                organizations::table
                    .filter(organizations::id.eq(org))
                    .select(organizations::plan)
            )
        )
        .select(BillingPlan::as_select())
        .first(c)
        .await
        .optional())
}

pub async fn subscription_of(conn: &mut Conn<'_>, org: Id) -> QueryResult<Option<Subscription>> {
    dispatch!(conn, |c| subscriptions::table
        .filter(subscriptions::organization_id.eq(org))
        .select(Subscription::as_select())
        .first(c)
        .await
        .optional())
}

/// An organization's subscription, locked for a change.
pub async fn lock_subscription(conn: &mut Conn<'_>, org: Id) -> QueryResult<Option<Subscription>> {
    let query = subscriptions::table.filter(subscriptions::organization_id.eq(org));
    crate::first_for_update!(conn, query, Subscription)
}

pub async fn insert_subscription(
    conn: &mut Conn<'_>,
    new: &Subscription,
) -> QueryResult<Subscription> {
    dispatch!(conn, |c| diesel::insert_into(subscriptions::table)
        .values(new)
        .returning(Subscription::as_returning())
        .get_result(c)
        .await)
}

/// Stores every changeable field of `subscription`.
pub async fn save_subscription(
    conn: &mut Conn<'_>,
    subscription: &Subscription,
) -> QueryResult<Subscription> {
    let s = subscription;
    dispatch!(conn, |c| diesel::update(
        subscriptions::table
            .filter(subscriptions::organization_id.eq(s.organization_id))
            .filter(subscriptions::id.eq(s.id))
    )
    .set((
        subscriptions::plan_id.eq(s.plan_id),
        subscriptions::status.eq(s.status),
        subscriptions::billing_cycle.eq(s.billing_cycle),
        subscriptions::current_period_start.eq(s.current_period_start),
        subscriptions::current_period_end.eq(s.current_period_end),
        subscriptions::cancelled_at.eq(s.cancelled_at),
        subscriptions::external_customer_id.eq(&s.external_customer_id),
        subscriptions::external_subscription_id.eq(&s.external_subscription_id),
        subscriptions::updated_at.eq(s.updated_at),
    ))
    .returning(Subscription::as_returning())
    .get_result(c)
    .await)
}

/// Subscriptions in force whose period has ended by `now` (to renew or expire), at
/// most `limit`, the longest overdue first.
pub async fn due_subscriptions(
    conn: &mut Conn<'_>,
    now: Timestamp,
    limit: i64,
) -> QueryResult<Vec<(Id, Id)>> {
    dispatch!(conn, |c| subscriptions::table
        .filter(subscriptions::status.ne(SubscriptionStatus::Expired))
        .filter(subscriptions::current_period_end.le(now))
        .order(subscriptions::current_period_end.asc())
        .limit(limit)
        .select((subscriptions::organization_id, subscriptions::id))
        .load(c)
        .await)
}

pub async fn subscription_id_of(conn: &mut Conn<'_>, org: Id) -> QueryResult<Option<Id>> {
    dispatch!(conn, |c| subscriptions::table
        .filter(subscriptions::organization_id.eq(org))
        .select(subscriptions::id)
        .first(c)
        .await
        .optional())
}

pub async fn insert_usage(conn: &mut Conn<'_>, records: &[UsageRecord]) -> QueryResult<usize> {
    if records.is_empty() {
        return Ok(0);
    }
    crate::insert_rows!(conn, usage_records::table, records)
}

/// Runs the organization started since `since`.
pub async fn runs_since(conn: &mut Conn<'_>, org: Id, since: Timestamp) -> QueryResult<i64> {
    dispatch!(conn, |c| runs::table
        .filter(runs::organization_id.eq(org))
        .filter(runs::created_at.ge(since))
        .select(count_star())
        .first(c)
        .await)
}

/// Tokens the organization's ledger holds for the month starting `period_start`.
pub async fn tokens_in_period(
    conn: &mut Conn<'_>,
    org: Id,
    period_start: Timestamp,
) -> QueryResult<i64> {
    let total: Option<bigdecimal::BigDecimal> = dispatch!(conn, |c| usage_records::table
        .filter(usage_records::organization_id.eq(org))
        .filter(usage_records::period_start.eq(period_start))
        .filter(usage_records::billing_unit.eq(BillingUnit::Token))
        .select(sum(usage_records::quantity))
        .first(c)
        .await)?;
    Ok(total
        .and_then(|t| bigdecimal::ToPrimitive::to_i64(&t))
        .unwrap_or(0))
}

/// What a usage report groups by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsageGrouping {
    Day,
    Team,
    Model,
    Unit,
}

/// One group's total of one unit: key (absent for usage without a team or model),
/// unit, quantity, cost, lines.
pub type UsageTotal = (Option<String>, BillingUnit, i64, Decimal, i64);

type UsageRow<K> = (
    K,
    BillingUnit,
    Option<bigdecimal::BigDecimal>,
    Option<Decimal>,
    i64,
);

fn totals<K>(rows: Vec<UsageRow<K>>, key: impl Fn(K) -> Option<String>) -> Vec<UsageTotal> {
    rows.into_iter()
        .map(|(k, unit, quantity, cost, lines)| {
            (
                key(k),
                unit,
                quantity
                    .and_then(|q| bigdecimal::ToPrimitive::to_i64(&q))
                    .unwrap_or(0),
                cost.unwrap_or_else(Decimal::zero),
                lines,
            )
        })
        .collect()
}

/// The ledger of `[from, to)` summed per group and unit, exactly (numeric sums on
/// PostgreSQL, integer ten-thousandths on SQLite).
pub async fn usage_totals(
    conn: &mut Conn<'_>,
    org: Id,
    from: Timestamp,
    to: Timestamp,
    grouping: UsageGrouping,
) -> QueryResult<Vec<UsageTotal>> {
    macro_rules! grouped {
        ($column:expr) => {
            dispatch!(conn, |c| usage_records::table
                .filter(usage_records::organization_id.eq(org))
                .filter(usage_records::created_at.ge(from))
                .filter(usage_records::created_at.lt(to))
                .group_by(($column, usage_records::billing_unit))
                .select((
                    $column,
                    usage_records::billing_unit,
                    sum(usage_records::quantity),
                    sum(usage_records::total_cost),
                    count_star(),
                ))
                .order(($column.asc(), usage_records::billing_unit.asc()))
                .load(c)
                .await)
        };
    }
    Ok(match grouping {
        UsageGrouping::Day => {
            let rows: Vec<UsageRow<String>> = grouped!(usage_records::usage_day)?;
            totals(rows, Some)
        }
        UsageGrouping::Team => {
            let rows: Vec<UsageRow<Option<Id>>> = grouped!(usage_records::team_id)?;
            totals(rows, |team| team.map(|t| t.to_string()))
        }
        UsageGrouping::Model => {
            let rows: Vec<UsageRow<Option<String>>> = grouped!(usage_records::model)?;
            totals(rows, |model| model)
        }
        UsageGrouping::Unit => {
            let rows: Vec<UsageRow<BillingUnit>> = grouped!(usage_records::billing_unit)?;
            totals(rows, |unit| Some(unit.as_str().to_string()))
        }
    })
}
