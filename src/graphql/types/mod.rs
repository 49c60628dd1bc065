//! GraphQL object types. Each wraps a domain model; relations resolve through the
//! request's dataloader.

pub mod analytics;
pub mod api_key;
pub mod audit;
pub mod organization;
pub mod run;
pub mod scheduling;
pub mod team;
pub mod user;

use async_graphql::connection::{
    Connection, ConnectionNameType, CursorType, DefaultConnectionName, DefaultEdgeName, Edge,
    EdgeNameType, EmptyFields,
};

use crate::pagination::{Window, decode_cursor, encode_cursor};

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

/// The rows to fetch for `window`: one more than asked, to learn whether another page
/// follows.
pub fn probe(window: Window) -> Window {
    Window {
        offset: window.offset,
        limit: window.limit + 1,
    }
}

/// The connection for `window` from rows fetched with [`probe`].
pub fn page<Node, Fields>(
    rows: Vec<Node>,
    window: Window,
    fields: Fields,
) -> Connection<Cursor, Node, Fields>
where
    Node: async_graphql::OutputType,
    Fields: async_graphql::ObjectType,
{
    named_page::<Node, Fields, DefaultConnectionName, DefaultEdgeName>(rows, window, fields)
}

/// [`page`] for a second connection type of the same node, named by `Name`/`EdgeName`.
pub fn named_page<Node, Fields, Name, EdgeName>(
    mut rows: Vec<Node>,
    window: Window,
    fields: Fields,
) -> Connection<Cursor, Node, Fields, EmptyFields, Name, EdgeName>
where
    Node: async_graphql::OutputType,
    Fields: async_graphql::ObjectType,
    Name: ConnectionNameType,
    EdgeName: EdgeNameType,
{
    let has_next = rows.len() as i64 > window.limit;
    rows.truncate(usize::try_from(window.limit).unwrap_or(0));
    let mut connection = Connection::with_additional_fields(window.offset > 0, has_next, fields);
    connection.edges.extend(
        rows.into_iter()
            .enumerate()
            .map(|(i, node)| Edge::new(Cursor(window.offset + i as i64), node)),
    );
    connection
}
