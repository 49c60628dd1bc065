use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::{NewUser, User, UserFilter};
use crate::db::schema::{organizations, users};
use crate::db::{Conn, Id, Timestamp};
use crate::dispatch;
use crate::organizations::Organization;
use crate::pagination::{Window, lower};

pub async fn insert(conn: &mut Conn<'_>, new: &NewUser) -> QueryResult<User> {
    dispatch!(conn, |c| diesel::insert_into(users::table)
        .values(new)
        .returning(User::as_returning())
        .get_result(c)
        .await)
}

/// The user with this email (any organization), for logging in.
pub async fn by_email(conn: &mut Conn<'_>, email: &str) -> QueryResult<Option<User>> {
    dispatch!(conn, |c| users::table
        .filter(users::email.eq(email))
        .filter(users::deleted_at.is_null())
        .select(User::as_select())
        .first(c)
        .await
        .optional())
}

/// An active, undeleted user of a live organization, with that organization: what
/// authenticating a request needs, in one statement.
pub async fn active_with_organization(
    conn: &mut Conn<'_>,
    user_id: Id,
) -> QueryResult<Option<(User, Organization)>> {
    dispatch!(conn, |c| users::table
        .inner_join(organizations::table)
        .filter(users::id.eq(user_id))
        .filter(users::is_active.eq(true))
        .filter(users::deleted_at.is_null())
        .filter(organizations::deleted_at.is_null())
        .select((User::as_select(), Organization::as_select()))
        .first(c)
        .await
        .optional())
}

pub async fn touch_last_login(
    conn: &mut Conn<'_>,
    user_id: Id,
    at: Timestamp,
) -> QueryResult<usize> {
    dispatch!(conn, |c| diesel::update(users::table.find(user_id))
        .set(users::last_login_at.eq(at))
        .execute(c)
        .await)
}

/// The organization's undeleted users among `ids`.
pub async fn by_ids(conn: &mut Conn<'_>, org: Id, ids: &[Id]) -> QueryResult<Vec<User>> {
    dispatch!(conn, |c| users::table
        .filter(users::organization_id.eq(org))
        .filter(users::id.eq_any(ids))
        .filter(users::deleted_at.is_null())
        .select(User::as_select())
        .load(c)
        .await)
}

macro_rules! filtered_users {
    ($org:expr, $filter:expr) => {{
        let mut query = users::table
            .filter(users::organization_id.eq($org))
            .filter(users::deleted_at.is_null())
            .into_boxed();
        if let Some(role) = $filter.role {
            query = query.filter(users::org_role.eq(role));
        }
        if let Some(active) = $filter.is_active {
            query = query.filter(users::is_active.eq(active));
        }
        if let Some(search) = &$filter.search {
            let pattern = crate::pagination::like_pattern(search);
            query = query.filter(
                lower(users::email.nullable())
                    .like(pattern.clone())
                    .escape('\\')
                    .or(lower(users::username.nullable())
                        .like(pattern.clone())
                        .escape('\\'))
                    .or(lower(users::full_name).like(pattern).escape('\\'))
                    .assume_not_null(),
            );
        }
        query
    }};
}

/// One page of the organization's users, oldest first.
pub async fn list(
    conn: &mut Conn<'_>,
    org: Id,
    filter: &UserFilter,
    window: Window,
) -> QueryResult<Vec<User>> {
    dispatch!(conn, |c| filtered_users!(org, filter)
        .order((users::created_at.asc(), users::id.asc()))
        .offset(window.offset)
        .limit(window.limit)
        .select(User::as_select())
        .load(c)
        .await)
}

pub async fn count(conn: &mut Conn<'_>, org: Id, filter: &UserFilter) -> QueryResult<i64> {
    dispatch!(conn, |c| filtered_users!(org, filter)
        .count()
        .get_result(c)
        .await)
}

/// The email and username of accounts (any organization) using `email` or `username`.
pub async fn logins_using(
    conn: &mut Conn<'_>,
    email: &str,
    username: &str,
) -> QueryResult<Vec<(String, String)>> {
    dispatch!(conn, |c| users::table
        .filter(users::email.eq(email).or(users::username.eq(username)))
        .select((users::email, users::username))
        .load(c)
        .await)
}

/// A user of the organization (undeleted), locked for a change on PostgreSQL.
pub async fn lock(conn: &mut Conn<'_>, org: Id, id: Id) -> QueryResult<Option<User>> {
    let query = users::table
        .filter(users::organization_id.eq(org))
        .filter(users::id.eq(id))
        .filter(users::deleted_at.is_null());
    crate::first_for_update!(conn, query, User)
}

/// Changes to a user; `None` fields are left as they are.
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = users)]
pub struct UserUpdate {
    pub full_name: Option<Option<String>>,
    pub password_hash: Option<Option<String>>,
    pub org_role: Option<crate::auth::permissions::OrgRole>,
    pub permissions: Option<crate::db::Json>,
    pub preferences: Option<crate::db::Json>,
    pub is_active: Option<bool>,
    pub deleted_at: Option<Option<Timestamp>>,
    pub updated_at: Option<Timestamp>,
}

pub async fn update(
    conn: &mut Conn<'_>,
    org: Id,
    id: Id,
    changes: &UserUpdate,
) -> QueryResult<Option<User>> {
    dispatch!(conn, |c| diesel::update(
        users::table
            .filter(users::organization_id.eq(org))
            .filter(users::id.eq(id))
            .filter(users::deleted_at.is_null())
    )
    .set(changes)
    .returning(User::as_returning())
    .get_result(c)
    .await
    .optional())
}

/// Undeleted users of the organization (what its `max_users` counts).
pub async fn count_members(conn: &mut Conn<'_>, org: Id) -> QueryResult<i64> {
    dispatch!(conn, |c| users::table
        .filter(users::organization_id.eq(org))
        .filter(users::deleted_at.is_null())
        .count()
        .get_result(c)
        .await)
}

/// Active, undeleted admins of the organization other than `except`.
pub async fn other_active_admins(conn: &mut Conn<'_>, org: Id, except: Id) -> QueryResult<i64> {
    dispatch!(conn, |c| users::table
        .filter(users::organization_id.eq(org))
        .filter(users::id.ne(except))
        .filter(users::org_role.eq(crate::auth::permissions::OrgRole::Admin))
        .filter(users::is_active.eq(true))
        .filter(users::deleted_at.is_null())
        .count()
        .get_result(c)
        .await)
}
