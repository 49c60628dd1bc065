use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::{Project, ProjectPriority, ProjectStatus};
use crate::db::schema::{projects, runs, teams};
use crate::db::{Conn, Id, Timestamp};
use crate::dispatch;
use crate::pagination::{Window, like_pattern, lower};

/// Filters of the projects list; all given ones must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ProjectFilter {
    pub status: Option<ProjectStatus>,
    pub priority: Option<ProjectPriority>,
    /// Case-insensitive substring of the name.
    pub name_contains: Option<String>,
}

macro_rules! filtered {
    ($org:expr, $filter:expr) => {{
        let mut query = projects::table
            .filter(projects::organization_id.eq($org))
            .into_boxed();
        if let Some(status) = $filter.status {
            query = query.filter(projects::status.eq(status));
        }
        if let Some(priority) = $filter.priority {
            query = query.filter(projects::priority.eq(priority));
        }
        if let Some(name) = &$filter.name_contains {
            query = query.filter(
                lower(projects::name.nullable())
                    .like(like_pattern(name))
                    .escape('\\'),
            );
        }
        query
    }};
}

/// One page of projects, newest first.
pub async fn list(
    conn: &mut Conn<'_>,
    org: Id,
    filter: &ProjectFilter,
    window: Window,
) -> QueryResult<Vec<Project>> {
    dispatch!(conn, |c| filtered!(org, filter)
        .order((projects::created_at.desc(), projects::id.desc()))
        .offset(window.offset)
        .limit(window.limit)
        .select(Project::as_select())
        .load(c)
        .await)
}

pub async fn count(conn: &mut Conn<'_>, org: Id, filter: &ProjectFilter) -> QueryResult<i64> {
    dispatch!(conn, |c| filtered!(org, filter).count().get_result(c).await)
}

pub async fn by_ids(conn: &mut Conn<'_>, org: Id, ids: &[Id]) -> QueryResult<Vec<Project>> {
    dispatch!(conn, |c| projects::table
        .filter(projects::organization_id.eq(org))
        .filter(projects::id.eq_any(ids))
        .select(Project::as_select())
        .load(c)
        .await)
}

/// A project of the organization, locked until the transaction ends.
pub async fn lock(conn: &mut Conn<'_>, org: Id, id: Id) -> QueryResult<Option<Project>> {
    let query = projects::table
        .filter(projects::organization_id.eq(org))
        .filter(projects::id.eq(id));
    crate::first_for_update!(conn, query, Project)
}

pub async fn insert(conn: &mut Conn<'_>, row: &Project) -> QueryResult<Project> {
    dispatch!(conn, |c| diesel::insert_into(projects::table)
        .values(row)
        .returning(Project::as_returning())
        .get_result(c)
        .await)
}

/// Stores every field of a project but its identity.
pub async fn save(conn: &mut Conn<'_>, row: &Project) -> QueryResult<Project> {
    dispatch!(conn, |c| diesel::update(
        projects::table
            .filter(projects::organization_id.eq(row.organization_id))
            .filter(projects::id.eq(row.id))
    )
    .set((
        projects::name.eq(&row.name),
        projects::description.eq(&row.description),
        projects::topic.eq(&row.topic),
        projects::status.eq(row.status),
        projects::priority.eq(row.priority),
        projects::manager_id.eq(row.manager_id),
        projects::metadata.eq(&row.metadata),
        projects::settings.eq(&row.settings),
        projects::updated_at.eq(row.updated_at),
        projects::completed_at.eq(row.completed_at),
    ))
    .returning(Project::as_returning())
    .get_result(c)
    .await)
}

/// Detaches the project's teams and runs, then deletes it.
pub async fn delete(conn: &mut Conn<'_>, org: Id, id: Id, now: Timestamp) -> QueryResult<usize> {
    dispatch!(conn, |c| {
        diesel::update(
            teams::table
                .filter(teams::organization_id.eq(org))
                .filter(teams::project_id.eq(id)),
        )
        .set((teams::project_id.eq(None::<Id>), teams::updated_at.eq(now)))
        .execute(c)
        .await?;
        diesel::update(
            runs::table
                .filter(runs::organization_id.eq(org))
                .filter(runs::project_id.eq(id)),
        )
        .set(runs::project_id.eq(None::<Id>))
        .execute(c)
        .await?;
        diesel::delete(
            projects::table
                .filter(projects::organization_id.eq(org))
                .filter(projects::id.eq(id)),
        )
        .execute(c)
        .await
    })
}

/// Live teams of the given projects, by name.
pub async fn teams_of(
    conn: &mut Conn<'_>,
    org: Id,
    project_ids: &[Id],
) -> QueryResult<Vec<crate::teams::Team>> {
    dispatch!(conn, |c| teams::table
        .filter(teams::organization_id.eq(org))
        .filter(teams::project_id.eq_any(project_ids))
        .filter(teams::deleted_at.is_null())
        .order((teams::name.asc(), teams::id.asc()))
        .select(crate::teams::Team::as_select())
        .load(c)
        .await)
}

/// One page of a project's runs, newest first.
pub async fn runs_of(
    conn: &mut Conn<'_>,
    org: Id,
    project_id: Id,
    window: Window,
) -> QueryResult<Vec<crate::runs::Run>> {
    dispatch!(conn, |c| runs::table
        .filter(runs::organization_id.eq(org))
        .filter(runs::project_id.eq(project_id))
        .order((runs::created_at.desc(), runs::id.desc()))
        .offset(window.offset)
        .limit(window.limit)
        .select(crate::runs::Run::as_select())
        .load(c)
        .await)
}

pub async fn count_runs_of(conn: &mut Conn<'_>, org: Id, project_id: Id) -> QueryResult<i64> {
    dispatch!(conn, |c| runs::table
        .filter(runs::organization_id.eq(org))
        .filter(runs::project_id.eq(project_id))
        .count()
        .get_result(c)
        .await)
}
