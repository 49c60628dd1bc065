use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::{Conversation, Message};
use crate::db::schema::{conversations, messages};
use crate::db::{Conn, Id};
use crate::dispatch;
use crate::pagination::Window;

/// Which conversations a listing covers: one organization's, optionally narrowed.
#[derive(Debug, Clone, Copy, Default)]
pub struct ConversationFilter {
    /// Only this user's (always set for callers who may not read others').
    pub user_id: Option<Id>,
    pub role_id: Option<Id>,
    pub team_id: Option<Id>,
    pub project_id: Option<Id>,
}

macro_rules! filtered {
    ($org:expr, $filter:expr) => {{
        let mut query = conversations::table
            .filter(conversations::organization_id.eq($org))
            .into_boxed();
        if let Some(user) = $filter.user_id {
            query = query.filter(conversations::user_id.eq(user));
        }
        if let Some(role) = $filter.role_id {
            query = query.filter(conversations::role_id.eq(role));
        }
        if let Some(team) = $filter.team_id {
            query = query.filter(conversations::team_id.eq(team));
        }
        if let Some(project) = $filter.project_id {
            query = query.filter(conversations::project_id.eq(project));
        }
        query
    }};
}

/// One page of conversations, latest activity first.
pub async fn list(
    conn: &mut Conn<'_>,
    org: Id,
    filter: ConversationFilter,
    window: Window,
) -> QueryResult<Vec<Conversation>> {
    dispatch!(conn, |c| filtered!(org, filter)
        .order((conversations::updated_at.desc(), conversations::id.desc()))
        .offset(window.offset)
        .limit(window.limit)
        .select(Conversation::as_select())
        .load(c)
        .await)
}

pub async fn count(conn: &mut Conn<'_>, org: Id, filter: ConversationFilter) -> QueryResult<i64> {
    dispatch!(conn, |c| filtered!(org, filter).count().get_result(c).await)
}

pub async fn by_ids(conn: &mut Conn<'_>, org: Id, ids: &[Id]) -> QueryResult<Vec<Conversation>> {
    dispatch!(conn, |c| conversations::table
        .filter(conversations::organization_id.eq(org))
        .filter(conversations::id.eq_any(ids))
        .select(Conversation::as_select())
        .load(c)
        .await)
}

/// A conversation, locked until the transaction ends (messages take their positions
/// under this lock).
pub async fn lock(conn: &mut Conn<'_>, org: Id, id: Id) -> QueryResult<Option<Conversation>> {
    let query = conversations::table
        .filter(conversations::organization_id.eq(org))
        .filter(conversations::id.eq(id));
    crate::first_for_update!(conn, query, Conversation)
}

pub async fn insert(conn: &mut Conn<'_>, row: &Conversation) -> QueryResult<Conversation> {
    dispatch!(conn, |c| diesel::insert_into(conversations::table)
        .values(row)
        .returning(Conversation::as_returning())
        .get_result(c)
        .await)
}

/// Stores a conversation's title, counters and times.
pub async fn save(conn: &mut Conn<'_>, row: &Conversation) -> QueryResult<Conversation> {
    dispatch!(conn, |c| diesel::update(
        conversations::table
            .filter(conversations::organization_id.eq(row.organization_id))
            .filter(conversations::id.eq(row.id))
    )
    .set((
        conversations::title.eq(&row.title),
        conversations::message_count.eq(row.message_count),
        conversations::tokens_used.eq(row.tokens_used),
        conversations::cost.eq(&row.cost),
        conversations::last_message_at.eq(row.last_message_at),
        conversations::updated_at.eq(row.updated_at),
    ))
    .returning(Conversation::as_returning())
    .get_result(c)
    .await)
}

/// Deletes a conversation; its messages follow by cascade.
pub async fn delete(conn: &mut Conn<'_>, org: Id, id: Id) -> QueryResult<usize> {
    dispatch!(conn, |c| diesel::delete(
        conversations::table
            .filter(conversations::organization_id.eq(org))
            .filter(conversations::id.eq(id))
    )
    .execute(c)
    .await)
}

pub async fn insert_message(conn: &mut Conn<'_>, row: &Message) -> QueryResult<Message> {
    dispatch!(conn, |c| diesel::insert_into(messages::table)
        .values(row)
        .returning(Message::as_returning())
        .get_result(c)
        .await)
}

/// The newest `limit` messages of a conversation, in conversation order.
pub async fn recent_messages(
    conn: &mut Conn<'_>,
    org: Id,
    conversation: Id,
    limit: i64,
) -> QueryResult<Vec<Message>> {
    let mut rows: Vec<Message> = dispatch!(conn, |c| messages::table
        .filter(messages::organization_id.eq(org))
        .filter(messages::conversation_id.eq(conversation))
        .order(messages::position.desc())
        .limit(limit)
        .select(Message::as_select())
        .load(c)
        .await)?;
    rows.reverse();
    Ok(rows)
}

/// One page of a conversation's messages, oldest first.
pub async fn messages_page(
    conn: &mut Conn<'_>,
    org: Id,
    conversation: Id,
    window: Window,
) -> QueryResult<Vec<Message>> {
    dispatch!(conn, |c| messages::table
        .filter(messages::organization_id.eq(org))
        .filter(messages::conversation_id.eq(conversation))
        .order(messages::position.asc())
        .offset(window.offset)
        .limit(window.limit)
        .select(Message::as_select())
        .load(c)
        .await)
}

pub async fn count_messages(conn: &mut Conn<'_>, org: Id, conversation: Id) -> QueryResult<i64> {
    dispatch!(conn, |c| messages::table
        .filter(messages::organization_id.eq(org))
        .filter(messages::conversation_id.eq(conversation))
        .count()
        .get_result(c)
        .await)
}

pub async fn messages_by_ids(
    conn: &mut Conn<'_>,
    org: Id,
    ids: &[Id],
) -> QueryResult<Vec<Message>> {
    dispatch!(conn, |c| messages::table
        .filter(messages::organization_id.eq(org))
        .filter(messages::id.eq_any(ids))
        .select(Message::as_select())
        .load(c)
        .await)
}
