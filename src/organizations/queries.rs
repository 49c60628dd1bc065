use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::{NewOrganization, Organization};
use crate::db::schema::organizations;
use crate::db::{Conn, Id};
use crate::dispatch;

pub async fn insert(conn: &mut Conn<'_>, new: &NewOrganization) -> QueryResult<Organization> {
    dispatch!(conn, |c| diesel::insert_into(organizations::table)
        .values(new)
        .returning(Organization::as_returning())
        .get_result(c)
        .await)
}

/// The live (not deleted) organizations among `ids`.
pub async fn by_ids(conn: &mut Conn<'_>, ids: &[Id]) -> QueryResult<Vec<Organization>> {
    dispatch!(conn, |c| organizations::table
        .filter(organizations::id.eq_any(ids))
        .filter(organizations::deleted_at.is_null())
        .select(Organization::as_select())
        .load(c)
        .await)
}

/// A live organization, locked on PostgreSQL so quota checks against it serialize
/// (SQLite's IMMEDIATE transactions already do).
pub async fn lock(conn: &mut Conn<'_>, id: Id) -> QueryResult<Option<Organization>> {
    let query = organizations::table
        .filter(organizations::id.eq(id))
        .filter(organizations::deleted_at.is_null());
    crate::first_for_update!(conn, query, Organization)
}

/// Changes to an organization; `None` fields are left as they are.
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = organizations)]
pub struct OrganizationUpdate {
    pub name: Option<String>,
    pub settings: Option<crate::db::Json>,
    pub plan: Option<super::Plan>,
    pub max_users: Option<i32>,
    pub max_projects: Option<i32>,
    pub api_quota_limit: Option<i32>,
    pub updated_at: Option<crate::db::Timestamp>,
}

pub async fn update(
    conn: &mut Conn<'_>,
    id: Id,
    changes: &OrganizationUpdate,
) -> QueryResult<Option<Organization>> {
    dispatch!(conn, |c| diesel::update(
        organizations::table
            .filter(organizations::id.eq(id))
            .filter(organizations::deleted_at.is_null())
    )
    .set(changes)
    .returning(Organization::as_returning())
    .get_result(c)
    .await
    .optional())
}
