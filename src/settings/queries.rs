use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::Setting;
use crate::db::schema::organization_settings;
use crate::db::{Conn, Id};
use crate::dispatch;

/// The organization's settings (of `category`, when given), by category and key.
pub async fn list(
    conn: &mut Conn<'_>,
    org: Id,
    category: Option<&str>,
) -> QueryResult<Vec<Setting>> {
    dispatch!(conn, |c| {
        let mut query = organization_settings::table
            .filter(organization_settings::organization_id.eq(org))
            .into_boxed();
        if let Some(category) = category {
            query = query.filter(organization_settings::category.eq(category));
        }
        query
            .order((
                organization_settings::category.asc(),
                organization_settings::key.asc(),
            ))
            .select(Setting::as_select())
            .load(c)
            .await
    })
}

pub async fn get(conn: &mut Conn<'_>, org: Id, key: &str) -> QueryResult<Option<Setting>> {
    dispatch!(conn, |c| organization_settings::table
        .filter(organization_settings::organization_id.eq(org))
        .filter(organization_settings::key.eq(key))
        .select(Setting::as_select())
        .first(c)
        .await
        .optional())
}

/// A setting, locked for a change.
pub async fn lock(conn: &mut Conn<'_>, org: Id, key: &str) -> QueryResult<Option<Setting>> {
    let query = organization_settings::table
        .filter(organization_settings::organization_id.eq(org))
        .filter(organization_settings::key.eq(key));
    crate::first_for_update!(conn, query, Setting)
}

pub async fn insert(conn: &mut Conn<'_>, setting: &Setting) -> QueryResult<Setting> {
    dispatch!(conn, |c| diesel::insert_into(organization_settings::table)
        .values(setting)
        .returning(Setting::as_returning())
        .get_result(c)
        .await)
}

/// Stores every changeable field of `setting`.
pub async fn save(conn: &mut Conn<'_>, setting: &Setting) -> QueryResult<Setting> {
    let s = setting;
    dispatch!(conn, |c| diesel::update(
        organization_settings::table
            .filter(organization_settings::organization_id.eq(s.organization_id))
            .filter(organization_settings::id.eq(s.id))
    )
    .set((
        organization_settings::value.eq(&s.value),
        organization_settings::data_type.eq(s.data_type),
        organization_settings::description.eq(&s.description),
        organization_settings::category.eq(&s.category),
        organization_settings::updated_by.eq(s.updated_by),
        organization_settings::updated_at.eq(s.updated_at),
    ))
    .returning(Setting::as_returning())
    .get_result(c)
    .await)
}

pub async fn delete(conn: &mut Conn<'_>, org: Id, id: Id) -> QueryResult<usize> {
    dispatch!(conn, |c| diesel::delete(
        organization_settings::table
            .filter(organization_settings::organization_id.eq(org))
            .filter(organization_settings::id.eq(id))
    )
    .execute(c)
    .await)
}
