//! GraphQL object types. Each wraps a domain model; relations resolve through the
//! request's dataloader.

pub mod organization;
pub mod run;
pub mod team;
pub mod user;

use async_graphql::connection::{Connection, CursorType, Edge};

use crate::pagination::{decode_cursor, encode_cursor};

/// The opaque position of an item in a paginated list.
pub struct Cursor(pub i64);

impl CursorType for Cursor {
    type Error = crate::error::AppError;

    fn decode_cursor(s: &str) -> Result<Self, Self::Error> {
        decode_cursor("cursor", s).map(Cursor)
    }

    fn encode_cursor(&self) -> String {
        encode_cursor(self.0)
    }
}

/// Builds a Relay connection from one page of rows starting at `offset`.
pub fn connection<Node, Fields>(
    rows: Vec<Node>,
    offset: i64,
    has_previous: bool,
    has_next: bool,
    fields: Fields,
) -> Connection<Cursor, Node, Fields>
where
    Node: async_graphql::OutputType,
    Fields: async_graphql::ObjectType,
{
    let mut connection = Connection::with_additional_fields(has_previous, has_next, fields);
    connection.edges.extend(
        rows.into_iter()
            .enumerate()
            .map(|(i, node)| Edge::new(Cursor(offset + i as i64), node)),
    );
    connection
}
