//! SQL types whose natural representation differs between PostgreSQL and SQLite.
//!
//! Each type declares both backends so one `diesel::table!` schema serves both; the
//! newtypes in [`super::types`] convert values at the boundary.

use diesel::sql_types::SqlType;

/// `uuid` on PostgreSQL, hyphenated lowercase `TEXT` on SQLite.
#[derive(SqlType, Debug, Clone, Copy, Default, diesel::query_builder::QueryId)]
#[diesel(postgres_type(oid = 2950, array_oid = 2951))]
#[diesel(sqlite_type(name = "Text"))]
pub struct PortableUuid;

/// `numeric` on PostgreSQL, an `INTEGER` count of ten-thousandths on SQLite so that
/// sums, comparisons and CHECK constraints stay exact there too.
#[derive(SqlType, Debug, Clone, Copy, Default, diesel::query_builder::QueryId)]
#[diesel(postgres_type(oid = 1700, array_oid = 1231))]
#[diesel(sqlite_type(name = "Long"))]
pub struct PortableNumeric;

/// `timestamptz` on PostgreSQL, RFC 3339 UTC `TEXT` with fixed microseconds on SQLite
/// (so text order is time order).
#[derive(SqlType, Debug, Clone, Copy, Default, diesel::query_builder::QueryId)]
#[diesel(postgres_type(oid = 1184, array_oid = 1185))]
#[diesel(sqlite_type(name = "Text"))]
pub struct PortableTimestamp;

/// `jsonb` on PostgreSQL, JSON `TEXT` on SQLite.
#[derive(SqlType, Debug, Clone, Copy, Default, diesel::query_builder::QueryId)]
#[diesel(postgres_type(oid = 3802, array_oid = 3807))]
#[diesel(sqlite_type(name = "Text"))]
pub struct PortableJson;

// Exact on both backends (numeric addition; integer addition of ten-thousandths).
impl diesel::sql_types::ops::Add for PortableNumeric {
    type Rhs = PortableNumeric;
    type Output = PortableNumeric;
}

impl diesel::sql_types::ops::Sub for PortableNumeric {
    type Rhs = PortableNumeric;
    type Output = PortableNumeric;
}

// SUM over costs stays exact: numeric on PostgreSQL, an integer sum of ten-thousandths
// on SQLite. (No AVG: SQLite would average into a float.)
impl diesel::sql_types::Foldable for PortableNumeric {
    type Sum = diesel::sql_types::Nullable<PortableNumeric>;
    type Avg = diesel::sql_types::Nullable<PortableNumeric>;
}
