//! Teams of AI agents (roles), with a monthly budget.

pub mod queries;
pub mod roles;
pub mod service;

use bigdecimal::{BigDecimal, Zero};
use diesel::prelude::*;

use crate::db::schema::teams;
use crate::db::{Decimal, Id, Timestamp};
use crate::db_enum;
use crate::error::{AppError, AppResult};

pub use roles::{Expertise, NewRoleInput, Role, RoleChanges};

db_enum! {
    /// What a team is doing.
    pub enum TeamStatus {
        /// Ready for a run.
        Idle => "IDLE",
        /// A run is in progress.
        Running => "RUNNING",
        /// The last run completed.
        Completed => "COMPLETED",
        /// The last run failed.
        Failed => "FAILED",
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = teams)]
pub struct Team {
    pub id: Id,
    pub organization_id: Id,
    pub owner_id: Option<Id>,
    pub name: String,
    pub description: Option<String>,
    pub monthly_budget: Decimal,
    pub current_spend: Decimal,
    pub status: TeamStatus,
    pub last_executed_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub deleted_at: Option<Timestamp>,
    /// The project the team belongs to, if any.
    pub project_id: Option<Id>,
}

impl Team {
    /// Budget left this month (negative once overspent).
    pub fn remaining_budget_amount(&self) -> BigDecimal {
        &self.monthly_budget.0 - &self.current_spend.0
    }

    /// Spend as a percentage of the budget.
    pub fn budget_utilization_percent(&self) -> BigDecimal {
        if self.monthly_budget.0.is_zero() {
            return BigDecimal::from(0);
        }
        (&self.current_spend.0 * BigDecimal::from(100) / &self.monthly_budget.0)
            .with_scale_round(2, bigdecimal::RoundingMode::HalfEven)
    }

    pub fn audit_values(&self) -> serde_json::Value {
        serde_json::json!({
            "name": self.name,
            "description": self.description,
            "monthly_budget": self.monthly_budget.to_string_scaled(2),
            "status": self.status.as_str(),
        })
    }
}

#[derive(Debug, Insertable)]
#[diesel(table_name = teams, treat_none_as_default_value = false)]
pub struct NewTeam {
    pub id: Id,
    pub organization_id: Id,
    pub owner_id: Option<Id>,
    pub name: String,
    pub description: Option<String>,
    pub monthly_budget: Decimal,
    pub current_spend: Decimal,
    pub status: TeamStatus,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub project_id: Option<Id>,
}

/// A team as a client asks to create it.
#[derive(Debug, Clone)]
pub struct NewTeamInput {
    pub name: String,
    pub description: Option<String>,
    pub monthly_budget: BigDecimal,
    pub roles: Vec<NewRoleInput>,
    pub project_id: Option<Id>,
}

/// Changes to a team; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct TeamChanges {
    pub name: Option<String>,
    /// `Some(None)` clears the description.
    pub description: Option<Option<String>>,
    pub monthly_budget: Option<BigDecimal>,
    /// `Some(None)` takes the team out of its project.
    pub project_id: Option<Option<Id>>,
}

/// The most roles a team may have.
pub const MAX_ROLES: usize = 10;
/// The largest monthly budget, in dollars.
pub const MAX_MONTHLY_BUDGET: i64 = 10_000;

/// Removes HTML tags (`<...>`) and surrounding whitespace. Text is stored as typed
/// otherwise: escaping belongs to whoever renders it.
pub fn strip_tags(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(open) = rest.find('<') {
        match rest[open..].find('>') {
            Some(close) => {
                out.push_str(&rest[..open]);
                rest = &rest[open + close + 1..];
            }
            None => break,
        }
    }
    out.push_str(rest);
    out.trim().to_string()
}

/// Sanitised required text of 1..=`max` characters.
pub fn clean_text(field: &str, raw: &str, max: usize) -> AppResult<String> {
    let text = strip_tags(raw);
    let len = text.chars().count();
    if len == 0 {
        return Err(AppError::bad_input(
            field,
            format!("`{field}` must not be empty"),
        ));
    }
    if len > max {
        return Err(AppError::bad_input(
            field,
            format!("`{field}` must be at most {max} characters"),
        ));
    }
    Ok(text)
}

/// Sanitised optional text of at most `max` characters; empty text becomes `None`.
pub fn clean_optional_text(
    field: &str,
    raw: Option<&str>,
    max: usize,
) -> AppResult<Option<String>> {
    let Some(raw) = raw else { return Ok(None) };
    let text = strip_tags(raw);
    if text.chars().count() > max {
        return Err(AppError::bad_input(
            field,
            format!("`{field}` must be at most {max} characters"),
        ));
    }
    Ok((!text.is_empty()).then_some(text))
}

/// A monthly budget: greater than 0, at most 10,000, at most 2 decimals.
pub fn check_budget(field: &str, budget: &BigDecimal) -> AppResult<Decimal> {
    if budget.sign() != bigdecimal::num_bigint::Sign::Plus {
        return Err(AppError::bad_input(
            field,
            "monthly budget must be greater than 0",
        ));
    }
    if budget > &BigDecimal::from(MAX_MONTHLY_BUDGET) {
        return Err(AppError::bad_input(
            field,
            "monthly budget must be at most 10000",
        ));
    }
    if budget.normalized().fractional_digit_count() > 2 {
        return Err(AppError::bad_input(
            field,
            "monthly budget must have at most 2 decimal places",
        ));
    }
    Ok(Decimal(budget.with_scale(2)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[test]
    fn strip_tags_removes_markup_and_keeps_text() {
        assert_eq!(
            strip_tags("  <b>Marketing</b> & Sales <script>x</script> "),
            "Marketing & Sales x"
        );
        assert_eq!(strip_tags("a < b"), "a < b");
    }

    #[test]
    fn budgets_follow_the_seed_rules() {
        let ok = |s: &str| check_budget("b", &BigDecimal::from_str(s).unwrap()).is_ok();
        assert!(ok("500.00") && ok("10000") && ok("0.01") && ok("12.500"));
        assert!(!ok("0") && !ok("-1") && !ok("10000.01") && !ok("1.234"));
    }
}
