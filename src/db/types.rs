//! Rust values of the backend-specific SQL types in [`super::sql_types`].

use std::fmt;
use std::io::Write;
use std::str::FromStr;

use bigdecimal::{BigDecimal, RoundingMode, ToPrimitive};
use chrono::{DateTime, SecondsFormat, Utc};
use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::expression::AsExpression;
use diesel::pg::{Pg, PgValue};
use diesel::serialize::{self, IsNull, Output, ToSql};
use diesel::sqlite::Sqlite;
use serde::{Deserialize, Serialize};

use super::sql_types;

/// A UUID primary or foreign key.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    AsExpression,
    FromSqlRow,
    Serialize,
    Deserialize,
)]
#[diesel(sql_type = sql_types::PortableUuid)]
#[serde(transparent)]
pub struct Id(pub uuid::Uuid);

impl Id {
    /// A new time-ordered (v7) id.
    pub fn new() -> Self {
        Id(uuid::Uuid::now_v7())
    }
}

impl Default for Id {
    fn default() -> Self {
        Id::new()
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

impl FromStr for Id {
    type Err = uuid::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        uuid::Uuid::parse_str(s).map(Id)
    }
}

impl ToSql<sql_types::PortableUuid, Pg> for Id {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        out.write_all(self.0.as_bytes())?;
        Ok(IsNull::No)
    }
}

impl FromSql<sql_types::PortableUuid, Pg> for Id {
    fn from_sql(bytes: PgValue<'_>) -> deserialize::Result<Self> {
        Ok(Id(uuid::Uuid::from_slice(bytes.as_bytes())?))
    }
}

impl ToSql<sql_types::PortableUuid, Sqlite> for Id {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
        out.set_value(self.0.hyphenated().to_string());
        Ok(IsNull::No)
    }
}

impl FromSql<sql_types::PortableUuid, Sqlite> for Id {
    fn from_sql(mut value: diesel::sqlite::SqliteValue<'_, '_, '_>) -> deserialize::Result<Self> {
        // Read in place, without a `String` per id.
        Ok(Id(uuid::Uuid::parse_str(value.read_text())?))
    }
}

/// An exact decimal amount (money, costs). Stored as `numeric` on PostgreSQL and as
/// ten-thousandths in an `INTEGER` on SQLite, so values carry at most 4 decimals.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, AsExpression, FromSqlRow)]
#[diesel(sql_type = sql_types::PortableNumeric)]
pub struct Decimal(pub BigDecimal);

/// Ten-thousandths per unit: the scale of the SQLite representation.
const SQLITE_SCALE: i64 = 4;

impl Decimal {
    pub fn zero() -> Self {
        Decimal(BigDecimal::from(0))
    }

    /// The value as a count of ten-thousandths, rounding half-even beyond 4 decimals.
    pub fn to_ten_thousandths(&self) -> Option<i64> {
        self.0
            .with_scale_round(SQLITE_SCALE, RoundingMode::HalfEven)
            .as_bigint_and_exponent()
            .0
            .to_i64()
    }

    pub fn from_ten_thousandths(units: i64) -> Self {
        Decimal(BigDecimal::new(units.into(), SQLITE_SCALE))
    }

    /// Text at a fixed number of decimals, e.g. `"500.00"` or `"0.0450"`.
    pub fn to_string_scaled(&self, scale: i64) -> String {
        format_scaled(&self.0, scale)
    }
}

/// `value` rounded half-even to exactly `scale` decimals, in plain notation (never
/// exponent form, and zero keeps its decimals: `"0.00"`).
pub fn format_scaled(value: &BigDecimal, scale: i64) -> String {
    let scale = scale.max(0);
    let (digits, _) = value
        .with_scale_round(scale, RoundingMode::HalfEven)
        .as_bigint_and_exponent();
    let negative = digits.sign() == num_bigint::Sign::Minus;
    // Machine integers print far faster than big ones, and every amount here fits.
    let units = match digits.magnitude().to_u128() {
        Some(units) => units.to_string(),
        None => digits.magnitude().to_string(),
    };
    // Written piece by piece rather than through `format!`: a page of teams and runs
    // prints thousands of amounts.
    let scale = scale as usize;
    let mut text = String::with_capacity(units.len().max(scale + 1) + 2);
    if negative {
        text.push('-');
    }
    let int_len = units.len().saturating_sub(scale);
    if int_len == 0 {
        text.push('0');
    } else {
        text.push_str(&units[..int_len]);
    }
    if scale > 0 {
        text.push('.');
        text.extend(std::iter::repeat_n('0', scale.saturating_sub(units.len())));
        text.push_str(&units[int_len..]);
    }
    text
}

impl From<BigDecimal> for Decimal {
    fn from(value: BigDecimal) -> Self {
        Decimal(value)
    }
}

impl ToSql<sql_types::PortableNumeric, Pg> for Decimal {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        <BigDecimal as ToSql<diesel::sql_types::Numeric, Pg>>::to_sql(&self.0, out)
    }
}

impl FromSql<sql_types::PortableNumeric, Pg> for Decimal {
    fn from_sql(bytes: PgValue<'_>) -> deserialize::Result<Self> {
        <BigDecimal as FromSql<diesel::sql_types::Numeric, Pg>>::from_sql(bytes).map(Decimal)
    }
}

impl ToSql<sql_types::PortableNumeric, Sqlite> for Decimal {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
        let units = self
            .to_ten_thousandths()
            .ok_or("decimal value out of range for SQLite storage")?;
        out.set_value(units);
        Ok(IsNull::No)
    }
}

impl FromSql<sql_types::PortableNumeric, Sqlite> for Decimal {
    fn from_sql(value: diesel::sqlite::SqliteValue<'_, '_, '_>) -> deserialize::Result<Self> {
        let units = <i64 as FromSql<diesel::sql_types::BigInt, Sqlite>>::from_sql(value)?;
        Ok(Decimal::from_ten_thousandths(units))
    }
}

/// A point in time, always UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, AsExpression, FromSqlRow)]
#[diesel(sql_type = sql_types::PortableTimestamp)]
pub struct Timestamp(pub DateTime<Utc>);

impl Timestamp {
    /// Now, truncated to microseconds: the precision both backends store.
    pub fn now() -> Self {
        let now = Utc::now();
        let micros = now.timestamp_micros();
        Timestamp(DateTime::from_timestamp_micros(micros).unwrap_or(now))
    }

    pub fn to_sqlite_text(self) -> String {
        self.0.to_rfc3339_opts(SecondsFormat::Micros, true)
    }
}

impl ToSql<sql_types::PortableTimestamp, Pg> for Timestamp {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        <DateTime<Utc> as ToSql<diesel::sql_types::Timestamptz, Pg>>::to_sql(&self.0, out)
    }
}

/// PostgreSQL's epoch, 2000-01-01, in microseconds after the Unix epoch.
const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;

impl FromSql<sql_types::PortableTimestamp, Pg> for Timestamp {
    fn from_sql(bytes: PgValue<'_>) -> deserialize::Result<Self> {
        // The wire value is microseconds after 2000-01-01; one addition makes it a
        // Unix time (chrono's calendar arithmetic took a noticeable share of a page
        // of rows).
        let raw: [u8; 8] = bytes
            .as_bytes()
            .try_into()
            .map_err(|_| "a timestamp is 8 bytes")?;
        i64::from_be_bytes(raw)
            .checked_add(PG_EPOCH_MICROS)
            .and_then(DateTime::from_timestamp_micros)
            .map(Timestamp)
            .ok_or_else(|| "timestamp out of range".into())
    }
}

impl ToSql<sql_types::PortableTimestamp, Sqlite> for Timestamp {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
        out.set_value(self.to_sqlite_text());
        Ok(IsNull::No)
    }
}

impl FromSql<sql_types::PortableTimestamp, Sqlite> for Timestamp {
    fn from_sql(mut value: diesel::sqlite::SqliteValue<'_, '_, '_>) -> deserialize::Result<Self> {
        // Read in place: a page of rows holds thousands of these.
        let text = value.read_text();
        if let Some(at) = parse_sqlite_text(text) {
            return Ok(Timestamp(at));
        }
        let parsed = DateTime::parse_from_rfc3339(text)?;
        Ok(Timestamp(parsed.with_timezone(&Utc)))
    }
}

/// Reads `YYYY-MM-DDTHH:MM:SS.ffffffZ`, the one form [`Timestamp::to_sqlite_text`] and
/// the SQLite migrations' defaults write, without RFC 3339's general parser (which
/// took a tenth of a page of runs' decoding); anything else is left to that parser.
fn parse_sqlite_text(text: &str) -> Option<DateTime<Utc>> {
    let bytes = text.as_bytes();
    if bytes.len() != 27 {
        return None;
    }
    let separators = [
        (4, b'-'),
        (7, b'-'),
        (10, b'T'),
        (13, b':'),
        (16, b':'),
        (19, b'.'),
        (26, b'Z'),
    ];
    if separators.iter().any(|&(at, byte)| bytes[at] != byte) {
        return None;
    }
    let number = |from: usize, to: usize| {
        bytes[from..to].iter().try_fold(0u32, |value, &digit| {
            digit
                .is_ascii_digit()
                .then(|| value * 10 + u32::from(digit - b'0'))
        })
    };
    let date = chrono::NaiveDate::from_ymd_opt(
        i32::try_from(number(0, 4)?).ok()?,
        number(5, 7)?,
        number(8, 10)?,
    )?;
    let time = chrono::NaiveTime::from_hms_micro_opt(
        number(11, 13)?,
        number(14, 16)?,
        number(17, 19)?,
        number(20, 26)?,
    )?;
    Some(date.and_time(time).and_utc())
}

/// A JSON document.
#[derive(Debug, Clone, PartialEq, AsExpression, FromSqlRow, Serialize, Deserialize, Default)]
#[diesel(sql_type = sql_types::PortableJson)]
#[serde(transparent)]
pub struct Json(pub serde_json::Value);

impl ToSql<sql_types::PortableJson, Pg> for Json {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        <serde_json::Value as ToSql<diesel::sql_types::Jsonb, Pg>>::to_sql(&self.0, out)
    }
}

impl FromSql<sql_types::PortableJson, Pg> for Json {
    fn from_sql(bytes: PgValue<'_>) -> deserialize::Result<Self> {
        <serde_json::Value as FromSql<diesel::sql_types::Jsonb, Pg>>::from_sql(bytes).map(Json)
    }
}

impl ToSql<sql_types::PortableJson, Sqlite> for Json {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
        out.set_value(serde_json::to_string(&self.0)?);
        Ok(IsNull::No)
    }
}

impl FromSql<sql_types::PortableJson, Sqlite> for Json {
    fn from_sql(mut value: diesel::sqlite::SqliteValue<'_, '_, '_>) -> deserialize::Result<Self> {
        Ok(Json(serde_json::from_str(value.read_text())?))
    }
}

/// A JSON document kept as its stored text and parsed when something asks for its
/// value. The rows a nested read loads by the thousand (runs, steps, roles) carry JSON
/// columns a response seldom selects: as parsed trees, a one-key object costs a B-tree
/// node of about 600 bytes and its parse, for every row.
#[derive(Debug, Clone, AsExpression, FromSqlRow)]
#[diesel(sql_type = sql_types::PortableJson)]
pub struct RawJson(Box<str>);

impl RawJson {
    /// `value` as a document (null if it cannot be one: a map with keys that are not
    /// strings).
    pub fn new<T: Serialize + ?Sized>(value: &T) -> Self {
        RawJson(
            serde_json::to_string(value)
                .unwrap_or_else(|_| "null".to_owned())
                .into(),
        )
    }

    /// The document, parsed.
    pub fn value(&self) -> serde_json::Value {
        // The text is JSON: jsonb's by its type, SQLite's checked when read.
        serde_json::from_str(&self.0).unwrap_or_default()
    }

    /// The document, parsed into `T`.
    pub fn parse<T: serde::de::DeserializeOwned>(&self) -> serde_json::Result<T> {
        serde_json::from_str(&self.0)
    }

    /// The member `key` of the document, if it is an object that has one.
    pub fn field(&self, key: &str) -> Option<serde_json::Value> {
        match self.value() {
            serde_json::Value::Object(mut members) => members.remove(key),
            _ => None,
        }
    }

    /// The stored text.
    pub fn text(&self) -> &str {
        &self.0
    }

    /// Stored text that nothing vouches for (SQLite's `TEXT`), checked to be JSON.
    fn checked(text: &str) -> deserialize::Result<Self> {
        serde_json::from_str::<serde::de::IgnoredAny>(text)?;
        Ok(RawJson(text.into()))
    }
}

impl ToSql<sql_types::PortableJson, Pg> for RawJson {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        // jsonb's binary format: the version byte, then the text.
        out.write_all(&[1])?;
        out.write_all(self.0.as_bytes())?;
        Ok(IsNull::No)
    }
}

impl FromSql<sql_types::PortableJson, Pg> for RawJson {
    fn from_sql(bytes: PgValue<'_>) -> deserialize::Result<Self> {
        match bytes.as_bytes() {
            // The server wrote this text from a jsonb value: it is JSON.
            [1, text @ ..] => Ok(RawJson(std::str::from_utf8(text)?.into())),
            _ => Err("unsupported jsonb encoding version".into()),
        }
    }
}

impl ToSql<sql_types::PortableJson, Sqlite> for RawJson {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
        out.set_value(self.text());
        Ok(IsNull::No)
    }
}

impl FromSql<sql_types::PortableJson, Sqlite> for RawJson {
    fn from_sql(mut value: diesel::sqlite::SqliteValue<'_, '_, '_>) -> deserialize::Result<Self> {
        RawJson::checked(value.read_text())
    }
}

/// Declares an enum stored as text: the GraphQL enum (SCREAMING_CASE), the stored
/// string of each variant, and diesel conversions for both backends.
#[macro_export]
macro_rules! db_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident => $text:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash,
            ::async_graphql::Enum,
            ::diesel::expression::AsExpression, ::diesel::deserialize::FromSqlRow,
        )]
        #[diesel(sql_type = ::diesel::sql_types::Text)]
        pub enum $name {
            $( $(#[$vmeta])* $variant ),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stored text of this value.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// Parses the stored text (case-insensitively, as the seeds mix cases).
            pub fn parse(text: &str) -> Option<$name> {
                $(if text.eq_ignore_ascii_case($text) { return Some($name::$variant); })+
                None
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = <::std::borrow::Cow<'de, str> as ::serde::Deserialize>::deserialize(d)?;
                $name::parse(&text).ok_or_else(|| {
                    ::serde::de::Error::custom(format!(
                        concat!("unknown ", stringify!($name), " value {:?}"),
                        text
                    ))
                })
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl<DB> ::diesel::serialize::ToSql<::diesel::sql_types::Text, DB> for $name
        where
            DB: ::diesel::backend::Backend,
            str: ::diesel::serialize::ToSql<::diesel::sql_types::Text, DB>,
        {
            fn to_sql<'b>(
                &'b self,
                out: &mut ::diesel::serialize::Output<'b, '_, DB>,
            ) -> ::diesel::serialize::Result {
                self.as_str().to_sql(out)
            }
        }

        impl<DB> ::diesel::deserialize::FromSql<::diesel::sql_types::Text, DB> for $name
        where
            DB: ::diesel::backend::Backend,
            String: ::diesel::deserialize::FromSql<::diesel::sql_types::Text, DB>,
        {
            fn from_sql(bytes: DB::RawValue<'_>) -> ::diesel::deserialize::Result<Self> {
                let text = String::from_sql(bytes)?;
                $name::parse(&text).ok_or_else(|| {
                    format!(concat!("unknown ", stringify!($name), " value {:?}"), text).into()
                })
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(s: &str) -> BigDecimal {
        s.parse().unwrap()
    }

    #[test]
    fn decimals_format_at_their_scale() {
        assert_eq!(format_scaled(&dec("0"), 2), "0.00");
        assert_eq!(format_scaled(&dec("500"), 2), "500.00");
        assert_eq!(format_scaled(&dec("0.045"), 4), "0.0450");
        assert_eq!(format_scaled(&dec("-1.005"), 2), "-1.00");
        assert_eq!(format_scaled(&dec("12.5"), 0), "12");
        assert_eq!(format_scaled(&dec("0.0001"), 4), "0.0001");
        assert_eq!(format_scaled(&dec("-0.07"), 4), "-0.0700");
        assert_eq!(format_scaled(&dec("7"), 0), "7");
        assert_eq!(format_scaled(&dec("98.25"), 4), "98.2500");
        // Beyond a machine integer.
        assert_eq!(
            format_scaled(&dec("-123456789012345678901234567890123456789012.345"), 2),
            "-123456789012345678901234567890123456789012.34"
        );
    }

    #[test]
    fn sqlite_timestamps_read_as_written() {
        let times = [
            "2026-12-07T06:40:01.123456Z",
            "1999-12-31T23:59:59.999999Z",
            "2024-02-29T00:00:00.000000Z",
            "2026-01-01T00:00:00.000001Z",
        ];
        for text in times {
            let expected = DateTime::parse_from_rfc3339(text)
                .unwrap()
                .with_timezone(&Utc);
            assert_eq!(parse_sqlite_text(text), Some(expected), "{text}");
            assert_eq!(Timestamp(expected).to_sqlite_text(), text);
        }
        let now = Timestamp::now();
        assert_eq!(parse_sqlite_text(&now.to_sqlite_text()), Some(now.0));
        // Other forms are the general parser's; impossible dates are nobody's.
        for other in [
            "2026-12-07T06:40:01Z",
            "2026-12-07T06:40:01.123456+01:00",
            "2026-12-07 06:40:01.123456Z",
            "2026-02-30T00:00:00.000000Z",
            "2026-12-07T24:00:00.000000Z",
            "2026-12-07T06:4x:01.123456Z",
        ] {
            assert_eq!(parse_sqlite_text(other), None, "{other}");
        }
    }

    #[test]
    fn ten_thousandths_round_trip() {
        let d = Decimal(dec("123.4567"));
        assert_eq!(d.to_ten_thousandths(), Some(1_234_567));
        assert_eq!(Decimal::from_ten_thousandths(1_234_567), d);
    }

    #[test]
    fn raw_json_keeps_the_text_and_parses_on_demand() {
        let doc = RawJson::new(&serde_json::json!({ "content": "done", "n": 2 }));
        assert_eq!(doc.text(), r#"{"content":"done","n":2}"#);
        assert_eq!(doc.value()["n"], 2);
        assert_eq!(doc.field("content"), Some(serde_json::json!("done")));
        assert_eq!(doc.field("missing"), None);
        assert_eq!(RawJson::new(&[1, 2]).field("content"), None);
        let parsed: std::collections::BTreeMap<String, serde_json::Value> = doc.parse().unwrap();
        assert_eq!(parsed.len(), 2);
    }

    #[test]
    fn raw_json_refuses_stored_text_that_is_not_json() {
        assert!(RawJson::checked(r#"{"step": 1}"#).is_ok());
        assert!(RawJson::checked("{\"step\": ").is_err());
        assert!(RawJson::checked("").is_err());
    }
}
