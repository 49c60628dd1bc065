//! The organization's run reports: top teams by runs, role utilization and budget
//! utilization, each one aggregate statement.

use bigdecimal::{BigDecimal, RoundingMode};
use diesel::dsl::{count_star, sum};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::{RunStatus, StepStatus};
use crate::db::schema::{run_steps, runs, teams};
use crate::db::{Conn, Decimal, Id};
use crate::dispatch;
use crate::teams::Team;

/// A team's runs in total.
#[derive(Debug, Clone)]
pub struct TeamRunStats {
    pub team_id: Id,
    pub run_count: i64,
    pub completed_count: i64,
    pub total_cost: Decimal,
}

impl TeamRunStats {
    pub fn average_cost(&self) -> Decimal {
        average(&self.total_cost.0, self.run_count)
    }
}

/// A role's completed steps in total.
#[derive(Debug, Clone)]
pub struct RoleStats {
    pub role_id: Id,
    pub step_count: i64,
    pub total_duration_ms: BigDecimal,
    pub total_tokens: BigDecimal,
    pub total_cost: Decimal,
}

impl RoleStats {
    pub fn average_cost(&self) -> Decimal {
        average(&self.total_cost.0, self.step_count)
    }

    pub fn average_duration_ms(&self) -> f64 {
        if self.step_count == 0 {
            return 0.0;
        }
        let avg = (&self.total_duration_ms / BigDecimal::from(self.step_count))
            .with_scale_round(1, RoundingMode::HalfEven);
        avg.to_string().parse().unwrap_or(0.0)
    }
}

fn average(total: &BigDecimal, count: i64) -> Decimal {
    if count == 0 {
        return Decimal::zero();
    }
    Decimal((total / BigDecimal::from(count)).with_scale_round(4, RoundingMode::HalfEven))
}

/// Teams with the most runs, most first (ties by id), at most `limit`.
pub async fn top_teams(conn: &mut Conn<'_>, org: Id, limit: i64) -> QueryResult<Vec<TeamRunStats>> {
    let rows: Vec<(Option<Id>, i64, Option<Decimal>)> = dispatch!(conn, |c| runs::table
        .filter(runs::organization_id.eq(org))
        .filter(runs::team_id.is_not_null())
        .group_by(runs::team_id)
        .select((runs::team_id, count_star(), sum(runs::cost)))
        .order((count_star().desc(), runs::team_id.asc()))
        .limit(limit)
        .load(c)
        .await)?;
    let rows: Vec<(Id, i64, Option<Decimal>)> = rows
        .into_iter()
        .filter_map(|(team, n, total)| team.map(|t| (t, n, total)))
        .collect();
    let ids: Vec<Id> = rows.iter().map(|r| r.0).collect();
    let completed: Vec<(Option<Id>, i64)> = dispatch!(conn, |c| runs::table
        .filter(runs::organization_id.eq(org))
        .filter(runs::team_id.eq_any(&ids))
        .filter(runs::status.eq(RunStatus::Completed))
        .group_by(runs::team_id)
        .select((runs::team_id, count_star()))
        .load(c)
        .await)?;
    let completed: std::collections::HashMap<Id, i64> = completed
        .into_iter()
        .filter_map(|(team, n)| team.map(|t| (t, n)))
        .collect();
    Ok(rows
        .into_iter()
        .map(|(team_id, run_count, total)| TeamRunStats {
            team_id,
            run_count,
            completed_count: completed.get(&team_id).copied().unwrap_or(0),
            total_cost: total.unwrap_or_else(Decimal::zero),
        })
        .collect())
}

/// role, steps, total duration, total tokens, total cost
type RoleRow = (
    Option<Id>,
    i64,
    Option<BigDecimal>,
    Option<BigDecimal>,
    Option<Decimal>,
);

/// Roles by completed steps, most first, at most `limit`.
pub async fn role_utilization(
    conn: &mut Conn<'_>,
    org: Id,
    limit: i64,
) -> QueryResult<Vec<RoleStats>> {
    let rows: Vec<RoleRow> = dispatch!(conn, |c| run_steps::table
        .filter(run_steps::organization_id.eq(org))
        .filter(run_steps::status.eq(StepStatus::Completed))
        .filter(run_steps::role_id.is_not_null())
        .group_by(run_steps::role_id)
        .select((
            run_steps::role_id,
            count_star(),
            sum(run_steps::duration_ms),
            sum(run_steps::tokens_used),
            sum(run_steps::cost),
        ))
        .order((count_star().desc(), run_steps::role_id.asc()))
        .limit(limit)
        .load(c)
        .await)?;
    Ok(rows
        .into_iter()
        .filter_map(|(role_id, step_count, duration, tokens, cost)| {
            Some(RoleStats {
                role_id: role_id?,
                step_count,
                total_duration_ms: duration.unwrap_or_default(),
                total_tokens: tokens.unwrap_or_default(),
                total_cost: cost.unwrap_or_else(Decimal::zero),
            })
        })
        .collect())
}

/// Live teams that have spent anything, by share of their budget spent, highest first.
pub async fn budget_utilization(conn: &mut Conn<'_>, org: Id) -> QueryResult<Vec<Team>> {
    let mut rows: Vec<Team> = dispatch!(conn, |c| teams::table
        .filter(teams::organization_id.eq(org))
        .filter(teams::deleted_at.is_null())
        .filter(teams::current_spend.gt(Decimal::zero()))
        .select(Team::as_select())
        .load(c)
        .await)?;
    // Ratios are compared exactly in Rust: SQLite would divide integers.
    rows.sort_by(|a, b| {
        let ratio = |t: &Team| &t.current_spend.0 / &t.monthly_budget.0;
        ratio(b).cmp(&ratio(a)).then_with(|| a.name.cmp(&b.name))
    });
    Ok(rows)
}
