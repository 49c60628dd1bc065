use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::roles::NewRole;
use super::{NewTeam, Role, Team, TeamStatus};
use crate::db::schema::{roles, teams};
use crate::db::{Conn, Decimal, Id, Timestamp};
use crate::dispatch;
use crate::pagination::{Window, like_pattern, lower};

crate::db_enum! {
    /// What to sort teams by.
    pub enum TeamOrderField {
        /// Alphabetically by name.
        Name => "name",
        /// When the team was created.
        CreatedAt => "created_at",
        /// When the team last changed (runs change it too).
        UpdatedAt => "updated_at",
        /// By monthly budget.
        MonthlyBudget => "monthly_budget",
        /// By this month's spend.
        CurrentSpend => "current_spend",
    }
}

crate::db_enum! {
    /// Sort direction.
    pub enum SortDirection {
        /// Smallest (or earliest, or A) first.
        Asc => "asc",
        /// Largest (or latest, or Z) first.
        Desc => "desc",
    }
}

/// Filters of the teams list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct TeamFilter {
    pub status: Option<TeamStatus>,
    /// Case-insensitive substring of the name.
    pub name_contains: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TeamOrder {
    pub field: TeamOrderField,
    pub direction: SortDirection,
}

impl Default for TeamOrder {
    fn default() -> Self {
        TeamOrder {
            field: TeamOrderField::Name,
            direction: SortDirection::Asc,
        }
    }
}

macro_rules! live_teams {
    ($org:expr, $filter:expr) => {{
        let mut query = teams::table
            .filter(teams::organization_id.eq($org))
            .filter(teams::deleted_at.is_null())
            .into_boxed();
        if let Some(status) = $filter.status {
            query = query.filter(teams::status.eq(status));
        }
        if let Some(needle) = &$filter.name_contains {
            query = query.filter(
                lower(teams::name.nullable())
                    .like(like_pattern(needle))
                    .escape('\\')
                    .assume_not_null(),
            );
        }
        query
    }};
}

macro_rules! ordered {
    ($query:expr, $order:expr) => {{
        let query = $query;
        match ($order.field, $order.direction) {
            (TeamOrderField::Name, SortDirection::Asc) => query.order((
                lower(teams::name.nullable()).asc(),
                teams::name.asc(),
                teams::id.asc(),
            )),
            (TeamOrderField::Name, SortDirection::Desc) => query.order((
                lower(teams::name.nullable()).desc(),
                teams::name.desc(),
                teams::id.desc(),
            )),
            (TeamOrderField::CreatedAt, SortDirection::Asc) => {
                query.order((teams::created_at.asc(), teams::id.asc()))
            }
            (TeamOrderField::CreatedAt, SortDirection::Desc) => {
                query.order((teams::created_at.desc(), teams::id.desc()))
            }
            (TeamOrderField::UpdatedAt, SortDirection::Asc) => {
                query.order((teams::updated_at.asc(), teams::id.asc()))
            }
            (TeamOrderField::UpdatedAt, SortDirection::Desc) => {
                query.order((teams::updated_at.desc(), teams::id.desc()))
            }
            (TeamOrderField::MonthlyBudget, SortDirection::Asc) => {
                query.order((teams::monthly_budget.asc(), teams::id.asc()))
            }
            (TeamOrderField::MonthlyBudget, SortDirection::Desc) => {
                query.order((teams::monthly_budget.desc(), teams::id.desc()))
            }
            (TeamOrderField::CurrentSpend, SortDirection::Asc) => {
                query.order((teams::current_spend.asc(), teams::id.asc()))
            }
            (TeamOrderField::CurrentSpend, SortDirection::Desc) => {
                query.order((teams::current_spend.desc(), teams::id.desc()))
            }
        }
    }};
}

/// One page of the organization's live teams.
pub async fn list(
    conn: &mut Conn<'_>,
    org: Id,
    filter: &TeamFilter,
    order: TeamOrder,
    window: Window,
) -> QueryResult<Vec<Team>> {
    dispatch!(conn, |c| ordered!(live_teams!(org, filter), order)
        .offset(window.offset)
        .limit(window.limit)
        .select(Team::as_select())
        .load(c)
        .await)
}

pub async fn count(conn: &mut Conn<'_>, org: Id, filter: &TeamFilter) -> QueryResult<i64> {
    dispatch!(conn, |c| live_teams!(org, filter)
        .count()
        .get_result(c)
        .await)
}

/// The organization's live teams among `ids`.
pub async fn by_ids(conn: &mut Conn<'_>, org: Id, ids: &[Id]) -> QueryResult<Vec<Team>> {
    dispatch!(conn, |c| teams::table
        .filter(teams::organization_id.eq(org))
        .filter(teams::id.eq_any(ids))
        .filter(teams::deleted_at.is_null())
        .select(Team::as_select())
        .load(c)
        .await)
}

/// A live team of the organization, locked until the transaction ends so concurrent
/// changes to its roles serialize (SQLite's single writer already serializes them).
pub async fn lock(conn: &mut Conn<'_>, org: Id, id: Id) -> QueryResult<Option<Team>> {
    let query = teams::table
        .filter(teams::organization_id.eq(org))
        .filter(teams::id.eq(id))
        .filter(teams::deleted_at.is_null());
    crate::first_for_update!(conn, query, Team)
}

/// A live team of the organization.
pub async fn find(conn: &mut Conn<'_>, org: Id, id: Id) -> QueryResult<Option<Team>> {
    Ok(by_ids(conn, org, &[id]).await?.pop())
}

pub async fn insert(conn: &mut Conn<'_>, new: &NewTeam) -> QueryResult<Team> {
    dispatch!(conn, |c| diesel::insert_into(teams::table)
        .values(new)
        .returning(Team::as_returning())
        .get_result(c)
        .await)
}

#[derive(Debug, AsChangeset, Default)]
#[diesel(table_name = teams)]
pub struct TeamUpdate {
    pub name: Option<String>,
    pub description: Option<Option<String>>,
    pub monthly_budget: Option<Decimal>,
    pub deleted_at: Option<Option<Timestamp>>,
    pub updated_at: Option<Timestamp>,
    pub project_id: Option<Option<Id>>,
}

/// Applies `changes` to a live team of the organization; `None` when there is none.
pub async fn update(
    conn: &mut Conn<'_>,
    org: Id,
    id: Id,
    changes: &TeamUpdate,
) -> QueryResult<Option<Team>> {
    dispatch!(conn, |c| diesel::update(
        teams::table
            .filter(teams::organization_id.eq(org))
            .filter(teams::id.eq(id))
            .filter(teams::deleted_at.is_null())
    )
    .set(changes)
    .returning(Team::as_returning())
    .get_result(c)
    .await
    .optional())
}

/// Roles of the organization's live teams among `team_ids`, by team then position.
pub async fn roles_of_teams(
    conn: &mut Conn<'_>,
    org: Id,
    team_ids: &[Id],
) -> QueryResult<Vec<Role>> {
    let team_ids = team_ids.to_vec();
    crate::load!(
        conn,
        roles::table
            .filter(roles::organization_id.eq(org))
            .filter(roles::team_id.eq_any(team_ids))
            .order((
                roles::team_id.asc(),
                roles::position.asc(),
                roles::title.asc()
            ))
            .select(Role::as_select())
    )
}

/// Roles of the organization among `ids` whose team is live.
pub async fn roles_by_ids(conn: &mut Conn<'_>, org: Id, ids: &[Id]) -> QueryResult<Vec<Role>> {
    let live_teams = teams::table
        .filter(teams::organization_id.eq(org))
        .filter(teams::deleted_at.is_null())
        .select(teams::id);
    let ids = ids.to_vec();
    crate::load!(
        conn,
        roles::table
            .filter(roles::organization_id.eq(org))
            .filter(roles::id.eq_any(ids))
            .filter(roles::team_id.eq_any(live_teams))
            .select(Role::as_select())
    )
}

pub async fn insert_roles(conn: &mut Conn<'_>, new: &[NewRole]) -> QueryResult<Vec<Role>> {
    match conn {
        Conn::Pg(c) => {
            diesel::insert_into(roles::table)
                .values(new)
                .returning(Role::as_returning())
                .get_results(*c)
                .await
        }
        // diesel has no multi-row INSERT for SQLite; rows go one by one (inside the
        // caller's transaction, so still atomic).
        Conn::Sqlite(c) => {
            let mut roles = Vec::with_capacity(new.len());
            for row in new {
                roles.push(
                    diesel::insert_into(roles::table)
                        .values(row)
                        .returning(Role::as_returning())
                        .get_result(*c)
                        .await?,
                );
            }
            Ok(roles)
        }
    }
}

#[derive(Debug, AsChangeset, Default)]
#[diesel(table_name = roles)]
pub struct RoleUpdate {
    pub title: Option<String>,
    pub description: Option<Option<String>>,
    pub expertise: Option<super::Expertise>,
    pub llm_model: Option<String>,
    pub llm_config: Option<Option<crate::db::Json>>,
    pub agent_config: Option<Option<crate::db::Json>>,
    pub position: Option<i32>,
    pub is_active: Option<bool>,
    pub updated_at: Option<Timestamp>,
}

pub async fn update_role(
    conn: &mut Conn<'_>,
    org: Id,
    id: Id,
    changes: &RoleUpdate,
) -> QueryResult<Role> {
    dispatch!(conn, |c| diesel::update(
        roles::table
            .filter(roles::organization_id.eq(org))
            .filter(roles::id.eq(id))
    )
    .set(changes)
    .returning(Role::as_returning())
    .get_result(c)
    .await)
}

pub async fn delete_role(conn: &mut Conn<'_>, org: Id, id: Id) -> QueryResult<usize> {
    dispatch!(conn, |c| diesel::delete(
        roles::table
            .filter(roles::organization_id.eq(org))
            .filter(roles::id.eq(id))
    )
    .execute(c)
    .await)
}
