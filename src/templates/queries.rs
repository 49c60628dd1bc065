use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::Template;
use crate::db::schema::orchestration_templates as t;
use crate::db::{Conn, Id};
use crate::dispatch;
use crate::pagination::Window;

/// Filters of the templates list.
#[derive(Debug, Clone, Default)]
pub struct TemplateFilter {
    pub category: Option<String>,
    /// Also other organizations' public templates.
    pub include_public: bool,
}

macro_rules! visible {
    ($org:expr, $filter:expr) => {{
        let mut query = t::table.into_boxed();
        query = if $filter.include_public {
            query.filter(t::organization_id.eq($org).or(t::is_public.eq(true)))
        } else {
            query.filter(t::organization_id.eq($org))
        };
        if let Some(category) = &$filter.category {
            query = query.filter(t::category.eq(category));
        }
        query
    }};
}

/// One page of the templates the organization can use, newest first.
pub async fn list(
    conn: &mut Conn<'_>,
    org: Id,
    filter: &TemplateFilter,
    window: Window,
) -> QueryResult<Vec<Template>> {
    dispatch!(conn, |c| visible!(org, filter)
        .order((t::created_at.desc(), t::id.desc()))
        .offset(window.offset)
        .limit(window.limit)
        .select(Template::as_select())
        .load(c)
        .await)
}

pub async fn count(conn: &mut Conn<'_>, org: Id, filter: &TemplateFilter) -> QueryResult<i64> {
    dispatch!(conn, |c| visible!(org, filter).count().get_result(c).await)
}

/// Templates among `ids` the organization can use: its own and public ones.
pub async fn usable(conn: &mut Conn<'_>, org: Id, ids: &[Id]) -> QueryResult<Vec<Template>> {
    dispatch!(conn, |c| t::table
        .filter(t::id.eq_any(ids))
        .filter(t::organization_id.eq(org).or(t::is_public.eq(true)))
        .select(Template::as_select())
        .load(c)
        .await)
}

/// One of the organization's own templates, locked.
pub async fn lock_own(conn: &mut Conn<'_>, org: Id, id: Id) -> QueryResult<Option<Template>> {
    let query = t::table
        .filter(t::organization_id.eq(org))
        .filter(t::id.eq(id));
    crate::first_for_update!(conn, query, Template)
}

pub async fn insert(conn: &mut Conn<'_>, row: &Template) -> QueryResult<Template> {
    dispatch!(conn, |c| diesel::insert_into(t::table)
        .values(row)
        .returning(Template::as_returning())
        .get_result(c)
        .await)
}

pub async fn save(conn: &mut Conn<'_>, row: &Template) -> QueryResult<Template> {
    dispatch!(conn, |c| diesel::update(
        t::table
            .filter(t::organization_id.eq(row.organization_id))
            .filter(t::id.eq(row.id))
    )
    .set((
        t::name.eq(&row.name),
        t::description.eq(&row.description),
        t::category.eq(&row.category),
        t::phases.eq(&row.phases),
        t::is_public.eq(row.is_public),
        t::version.eq(row.version),
        t::updated_at.eq(row.updated_at),
    ))
    .returning(Template::as_returning())
    .get_result(c)
    .await)
}

pub async fn delete(conn: &mut Conn<'_>, org: Id, id: Id) -> QueryResult<usize> {
    dispatch!(conn, |c| diesel::delete(
        t::table
            .filter(t::organization_id.eq(org))
            .filter(t::id.eq(id))
    )
    .execute(c)
    .await)
}

/// Counts one more use. Runs outside the user's tenant transaction: a public
/// template's row belongs to another organization.
pub async fn count_use(conn: &mut Conn<'_>, id: Id) -> QueryResult<usize> {
    dispatch!(conn, |c| diesel::update(t::table.filter(t::id.eq(id)))
        .set(t::usage_count.eq(t::usage_count + 1))
        .execute(c)
        .await)
}
