//! Conversations with agents: queries, mutations and the message stream.

use std::sync::Arc;

use async_graphql::connection::Connection;
use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use futures_util::Stream;
use tokio::sync::broadcast::error::RecvError;

use super::context::{ContextExt, parse_id};
use super::errors::GqlResult;
use super::loaders::{ConversationKey, MessageKey, ProjectKey, RoleKey, TeamKey, UserKey};
use super::scalars::Decimal;
use super::scheduling::{Total, page_args, wants_total};
use super::types::{Cursor, page, probe};
use crate::conversations::queries::{self, ConversationFilter};
use crate::conversations::service;
use crate::conversations::{Conversation, Message, MessageRole, MessageStatus};
use crate::error::AppError;
use crate::events::{Event, MessageEvent, MessageEventKind};
use crate::projects::Project;
use crate::teams::{Role, Team};
use crate::users::User;

/// A user's conversation with one of a team's agents (a role).
#[Object]
impl Conversation {
    /// Opaque identifier.
    async fn id(&self) -> ID {
        ID(self.id.to_string())
    }

    /// A name the user gave it (at most 255 characters); null when none.
    async fn title(&self) -> Option<&str> {
        self.title.as_deref()
    }

    /// The agent; null once the role was removed (the history stays readable).
    async fn role(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Arc<Role>>> {
        match self.role_id {
            Some(role) => ctx.loaders()?.load_one(RoleKey(role)).await.gql(),
            None => Ok(None),
        }
    }

    /// The role's team, whose budget the replies are charged to.
    async fn team(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Team>> {
        ctx.loaders()?.load_one(TeamKey(self.team_id)).await.gql()
    }

    /// The project it was started for; null when none (or once deleted).
    async fn project(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Project>> {
        match self.project_id {
            Some(project) => ctx.loaders()?.load_one(ProjectKey(project)).await.gql(),
            None => Ok(None),
        }
    }

    /// Who talks to the agent.
    async fn user(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<User>> {
        ctx.loaders()?.load_one(UserKey(self.user_id)).await.gql()
    }

    /// Messages stored so far, the user's and the agent's.
    async fn message_count(&self) -> i32 {
        self.message_count
    }

    /// Tokens of every reply.
    async fn tokens_used(&self) -> i64 {
        self.tokens_used
    }

    /// What every reply cost, in USD.
    async fn cost(&self) -> Decimal {
        Decimal::cost(&self.cost)
    }

    /// When the last message was stored; null before the first.
    async fn last_message_at(&self) -> Option<DateTime<Utc>> {
        self.last_message_at.map(|t| t.0)
    }

    /// When the conversation was started.
    async fn created_at(&self) -> DateTime<Utc> {
        self.created_at.0
    }

    /// Last change: a message, a rename.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.updated_at.0
    }

    /// The messages, oldest first; `last: 20` gives the newest twenty.
    #[graphql(complexity = "crate::graphql::page_complexity(first, last, child_complexity)")]
    async fn messages(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "Page forward: up to this many items (0-100) after `after`; 20 by default."
        )]
        first: Option<i32>,
        #[graphql(desc = "Page forward from this cursor: a page's `pageInfo.endCursor`.")]
        after: Option<String>,
        #[graphql(
            desc = "Page backward: up to this many items (0-100) before `before`; not with `first`."
        )]
        last: Option<i32>,
        #[graphql(desc = "Page backward from this cursor: a page's `pageInfo.startCursor`.")]
        before: Option<String>,
    ) -> async_graphql::Result<Connection<Cursor, Message, Total>> {
        let (org, id) = (self.organization_id, self.id);
        let args = page_args(first, &after, last, &before);
        sql_page!(
            ctx,
            args,
            |conn| queries::count_messages(&mut conn, org, id),
            |window| queries::messages_page(&mut conn, org, id, window)
        )
    }
}

/// One message of a conversation.
#[Object]
impl Message {
    /// Opaque identifier.
    async fn id(&self) -> ID {
        ID(self.id.to_string())
    }

    /// The conversation it belongs to.
    async fn conversation(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Conversation>> {
        ctx.loaders()?
            .load_one(ConversationKey(self.conversation_id))
            .await
            .gql()
    }

    /// 1, 2, ... in the conversation.
    async fn position(&self) -> i32 {
        self.position
    }

    /// USER or ASSISTANT.
    async fn role(&self) -> MessageRole {
        self.role
    }

    /// The text: what the user wrote, or the agent's reply.
    async fn content(&self) -> &str {
        &self.content
    }

    /// COMPLETED, or FAILED for a reply the agent backend could not give.
    async fn status(&self) -> MessageStatus {
        self.status
    }

    /// The model that answered (the role's), for a reply.
    async fn model(&self) -> Option<&str> {
        self.model.as_deref()
    }

    /// Tokens of the context sent with the message, for a reply.
    async fn prompt_tokens(&self) -> i32 {
        self.prompt_tokens
    }

    /// Tokens of the reply, for a reply; 0 for a user's message.
    async fn completion_tokens(&self) -> i32 {
        self.completion_tokens
    }

    /// `promptTokens + completionTokens`.
    async fn tokens_used(&self) -> i32 {
        self.tokens_used
    }

    /// What the reply cost, in USD.
    async fn cost(&self) -> Decimal {
        Decimal::cost(&self.cost)
    }

    /// Why the agent stopped (`stop`, `length`, ...), as the backend said.
    async fn finish_reason(&self) -> Option<&str> {
        self.finish_reason.as_deref()
    }

    /// Why a FAILED reply failed.
    async fn error_message(&self) -> Option<&str> {
        self.error_message.as_deref()
    }

    /// How long the reply took to generate.
    async fn duration_ms(&self) -> Option<i64> {
        self.duration_ms
    }

    /// The user who sent it; null for a reply.
    async fn sender(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<User>> {
        match self.created_by {
            Some(user) => ctx.loaders()?.load_one(UserKey(user)).await.gql(),
            None => Ok(None),
        }
    }

    /// When it was stored.
    async fn created_at(&self) -> DateTime<Utc> {
        self.created_at.0
    }
}

/// Filters of `conversations`.
#[derive(InputObject, Default)]
pub struct ConversationFilterInput {
    /// Only conversations with this role.
    pub role_id: Option<ID>,
    /// Only conversations with the roles of this team.
    pub team_id: Option<ID>,
    /// Only conversations started for this project.
    pub project_id: Option<ID>,
    /// Another user's conversations; only for those who read every conversation
    /// (`organization.manage`).
    pub user_id: Option<ID>,
}

#[derive(Default)]
pub struct ConversationQuery;

#[Object]
impl ConversationQuery {
    /// Your conversations, latest activity first. Holders of `organization.manage`
    /// see everyone's.
    #[graphql(complexity = "crate::graphql::page_complexity(first, last, child_complexity)")]
    async fn conversations(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "Only conversations matching every given condition; all of them when omitted."
        )]
        filter: Option<ConversationFilterInput>,
        #[graphql(
            desc = "Page forward: up to this many items (0-100) after `after`; 20 by default."
        )]
        first: Option<i32>,
        #[graphql(desc = "Page forward from this cursor: a page's `pageInfo.endCursor`.")]
        after: Option<String>,
        #[graphql(
            desc = "Page backward: up to this many items (0-100) before `before`; not with `first`."
        )]
        last: Option<i32>,
        #[graphql(desc = "Page backward from this cursor: a page's `pageInfo.startCursor`.")]
        before: Option<String>,
    ) -> async_graphql::Result<Connection<Cursor, Conversation, Total>> {
        let actor = ctx.actor()?;
        let org = actor.organization_id;
        let filter = filter.unwrap_or_default();
        // An id that cannot exist matches nothing, like another organization's.
        let id = |id: &Option<ID>| id.as_ref().map(|id| parse_id(id, "id").unwrap_or_default());
        let scope = service::reader_scope(actor);
        let wanted_user = id(&filter.user_id);
        let filter = ConversationFilter {
            user_id: match (scope, wanted_user) {
                // Someone else's conversations are not yours to list: none match.
                (Some(me), Some(other)) if other != me => Some(crate::db::Id::default()),
                (Some(me), _) => Some(me),
                (None, wanted) => wanted,
            },
            role_id: id(&filter.role_id),
            team_id: id(&filter.team_id),
            project_id: id(&filter.project_id),
        };
        let args = page_args(first, &after, last, &before);
        sql_page!(
            ctx,
            args,
            |conn| queries::count(&mut conn, org, filter),
            |window| queries::list(&mut conn, org, filter, window)
        )
    }

    /// One of your conversations (or anyone's, with `organization.manage`).
    async fn conversation(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The conversation's `id`.")] id: ID,
    ) -> async_graphql::Result<Conversation> {
        let actor = ctx.actor()?;
        let id = parse_id(&id, "conversation").gql()?;
        let mut pooled = ctx.db().await?;
        service::find(&mut pooled.conn(), actor, id).await.gql()
    }
}

/// Input of `startConversation`.
#[derive(InputObject)]
pub struct StartConversationInput {
    /// The agent to talk to: an active role of a live team.
    pub role_id: ID,
    /// At most 255 characters.
    pub title: Option<String>,
    /// The project the conversation is for, if any.
    pub project_id: Option<ID>,
}

/// The started conversation.
#[derive(SimpleObject)]
pub struct StartConversationPayload {
    /// The new conversation, with no messages yet.
    pub conversation: Conversation,
}

/// Input of `sendMessage`.
#[derive(InputObject)]
pub struct SendMessageInput {
    /// The conversation to send in (one you started).
    pub conversation_id: ID,
    /// 1-32,000 characters.
    pub content: String,
}

/// The user's message and the agent's reply.
#[derive(SimpleObject)]
pub struct SendMessagePayload {
    /// The conversation, its counts and cost updated.
    pub conversation: Conversation,
    /// The message sent.
    pub message: Message,
    /// The agent's reply; FAILED (with `errorMessage`) if the backend failed.
    pub reply: Message,
}

/// Input of `updateConversation`.
#[derive(InputObject)]
pub struct UpdateConversationInput {
    /// The conversation to rename.
    pub id: ID,
    /// The new title; null clears it.
    pub title: Option<String>,
}

/// The renamed conversation.
#[derive(SimpleObject)]
pub struct UpdateConversationPayload {
    /// The conversation as it is now.
    pub conversation: Conversation,
}

/// Input of `deleteConversation`.
#[derive(InputObject)]
pub struct DeleteConversationInput {
    /// The conversation to delete (yours, or anyone's with `organization.manage`).
    pub id: ID,
}

/// The deleted conversation.
#[derive(SimpleObject)]
pub struct DeleteConversationPayload {
    /// The id of the deleted conversation.
    pub deleted_conversation_id: ID,
}

#[derive(Default)]
pub struct ConversationMutation;

#[Object]
impl ConversationMutation {
    /// Starts a conversation with a role. Needs `conversations.use`.
    async fn start_conversation(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The role to talk to, and an optional title and project.")]
        input: StartConversationInput,
    ) -> async_graphql::Result<StartConversationPayload> {
        let actor = ctx.actor()?;
        let role = parse_id(&input.role_id, "role").gql()?;
        let project = input
            .project_id
            .as_ref()
            .map(|p| parse_id(p, "project"))
            .transpose()
            .gql()?;
        let mut pooled = ctx.db().await?;
        let conversation = service::start(
            &mut pooled.conn(),
            actor,
            role,
            input.title.as_deref(),
            project,
        )
        .await
        .gql()?;
        Ok(StartConversationPayload { conversation })
    }

    /// Sends a message to the conversation's agent and returns once the reply is
    /// stored. The reply streams to `messageStream` subscribers as it is generated;
    /// it is charged to the role's team (BUDGET_EXCEEDED when its estimate does not
    /// fit) and to the usage ledger. Needs `conversations.use`; only the user who
    /// started the conversation sends in it.
    async fn send_message(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The conversation and the text to send.")] input: SendMessageInput,
    ) -> async_graphql::Result<SendMessagePayload> {
        let actor = ctx.actor()?;
        let id = parse_id(&input.conversation_id, "conversation").gql()?;
        let exchange = service::send(&ctx.state().replier(), actor, id, &input.content)
            .await
            .gql()?;
        Ok(SendMessagePayload {
            conversation: exchange.conversation,
            message: exchange.message,
            reply: exchange.reply,
        })
    }

    /// Renames a conversation.
    async fn update_conversation(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The conversation and its new title.")] input: UpdateConversationInput,
    ) -> async_graphql::Result<UpdateConversationPayload> {
        let actor = ctx.actor()?;
        let id = parse_id(&input.id, "conversation").gql()?;
        let mut pooled = ctx.db().await?;
        let conversation = service::rename(&mut pooled.conn(), actor, id, input.title.as_deref())
            .await
            .gql()?;
        Ok(UpdateConversationPayload { conversation })
    }

    /// Deletes a conversation and its messages; their usage stays in the ledger.
    async fn delete_conversation(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The conversation to delete.")] input: DeleteConversationInput,
    ) -> async_graphql::Result<DeleteConversationPayload> {
        let actor = ctx.actor()?;
        let id = parse_id(&input.id, "conversation").gql()?;
        let mut pooled = ctx.db().await?;
        let conversation = service::delete(&mut pooled.conn(), actor, id).await.gql()?;
        Ok(DeleteConversationPayload {
            deleted_conversation_id: ID(conversation.id.to_string()),
        })
    }
}

pub struct MessageStreamEvent(Arc<MessageEvent>);

/// Something that happened in a conversation.
#[Object]
impl MessageStreamEvent {
    /// What happened.
    async fn kind(&self) -> MessageEventKind {
        self.0.kind
    }

    /// The conversation it happened in.
    async fn conversation_id(&self) -> ID {
        ID(self.0.conversation_id.to_string())
    }

    /// The message this event is about (for deltas, the reply being generated).
    async fn message_id(&self) -> ID {
        ID(self.0.message_id.to_string())
    }

    /// For DELTA: 1, 2, ... in the reply's order.
    async fn index(&self) -> i32 {
        self.0.index
    }

    /// For DELTA: the reply's next piece of text.
    async fn delta(&self) -> Option<&str> {
        self.0.delta.as_deref()
    }

    /// The stored message, for USER_MESSAGE, COMPLETED and FAILED.
    async fn message(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Message>> {
        if self.0.kind == MessageEventKind::Delta {
            return Ok(None);
        }
        ctx.loaders()?
            .load_one(MessageKey(self.0.message_id))
            .await
            .gql()
    }
}

/// The `messageStream` subscription (see [`super::subscription`]).
pub async fn message_stream(
    ctx: &Context<'_>,
    conversation_id: ID,
) -> async_graphql::Result<impl Stream<Item = MessageStreamEvent> + use<>> {
    let actor = ctx.actor()?;
    let id = parse_id(&conversation_id, "conversation").gql()?;
    let org = actor.organization_id;
    // Subscribe before the check, so nothing sent after it is missed.
    let mut receiver = ctx.state().bus.subscribe();
    // Boxed: a subscription's stream keeps room for its resolver's future as long as
    // it lives, so the read inline would enlarge every open subscription.
    Box::pin(async {
        let mut pooled = ctx.db().await?;
        service::find(&mut pooled.conn(), actor, id).await.gql()
    })
    .await?;
    Ok(async_stream::stream! {
        loop {
            match receiver.recv().await {
                Ok(Event::Message(event))
                    if event.organization_id == org && event.conversation_id == id =>
                {
                    yield MessageStreamEvent(event);
                }
                Ok(_) | Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => break,
            }
        }
    })
}
