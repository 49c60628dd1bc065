//! Scalars: exact decimals as strings at their column's scale.

use std::str::FromStr;

use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, Value};
use bigdecimal::BigDecimal;

use crate::db;

/// An exact decimal number, serialised as a string (`"500.00"`, `"0.0450"`) so no
/// client parses money into a float. Accepted as a string or a number.
#[derive(Debug, Clone, PartialEq)]
pub struct Decimal {
    pub value: BigDecimal,
    /// Digits after the point when serialised.
    pub scale: i64,
}

impl Decimal {
    /// A money amount of a budget column (2 decimals).
    pub fn money(value: &db::Decimal) -> Decimal {
        Decimal {
            value: value.0.clone(),
            scale: 2,
        }
    }

    /// A cost (4 decimals).
    pub fn cost(value: &db::Decimal) -> Decimal {
        Decimal {
            value: value.0.clone(),
            scale: 4,
        }
    }
}

const MAX_DECIMAL_CHARS: usize = 40;

/// An exact decimal number, serialised as a string at its value's scale (`"500.00"` for
/// money, `"0.0450"` for costs) so no client parses money into a float. Input may be a
/// string or a number, at most 40 characters.
#[Scalar(name = "Decimal")]
impl ScalarType for Decimal {
    fn parse(value: Value) -> InputValueResult<Self> {
        let text = match &value {
            Value::String(s) => s.trim().to_string(),
            Value::Number(n) => n.to_string(),
            _ => return Err(InputValueError::expected_type(value)),
        };
        // Money needs few digits; a cap keeps hostile input from costly big-number parsing.
        if text.len() > MAX_DECIMAL_CHARS {
            return Err(InputValueError::custom(format!(
                "decimal numbers have at most {MAX_DECIMAL_CHARS} characters"
            )));
        }
        let parsed = BigDecimal::from_str(&text)
            .map_err(|_| InputValueError::custom("invalid decimal number"))?;
        let scale = parsed.fractional_digit_count().max(0);
        Ok(Decimal {
            value: parsed,
            scale,
        })
    }

    fn to_value(&self) -> Value {
        Value::String(db::types::format_scaled(&self.value, self.scale))
    }
}
