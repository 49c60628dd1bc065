//! Starting, renaming and deleting conversations, and sending messages: the user's
//! message is stored, the agent's reply is generated (streamed to subscribers as it
//! comes) and stored with its tokens, cost and usage.

use std::sync::Arc;
use std::time::Instant;

use bigdecimal::BigDecimal;

use super::{Conversation, Message, MessageRole, MessageStatus, check_content, prompt, queries};
use crate::audit::{self, Change};
use crate::auth::permissions::{Actor, Permission};
use crate::billing::ReplySource;
use crate::db::{Conn, Decimal, Id, Pool, Timestamp};
use crate::engine::backend::{AgentBackend, BackendError, StepReply, StepRequest};
use crate::engine::pricing;
use crate::error::{AppError, AppResult};
use crate::events::{EventBus, MAX_NOTIFIED_DELTA_CHARS, MessageEvent, MessageEventKind};
use crate::runs::{AgentSnapshot, QualityPreference};
use crate::settings::SettingsCipher;
use crate::teams::clean_optional_text;
use crate::tenant_transaction;

/// Messages of the history read for a new message's context at most.
const HISTORY_MESSAGES: i64 = 200;

/// Whether `actor` may read every conversation of the organization, not only their own.
pub fn reads_all(actor: &Actor) -> bool {
    actor.can(Permission::OrganizationManage)
}

/// The user whose conversations `actor` may read; `None` for all of them.
pub fn reader_scope(actor: &Actor) -> Option<Id> {
    (!reads_all(actor)).then_some(actor.user_id)
}

fn visible(actor: &Actor, conversation: &Conversation) -> bool {
    conversation.user_id == actor.user_id || reads_all(actor)
}

/// A conversation `actor` may read; NOT_FOUND otherwise, as for a missing id.
pub async fn find(conn: &mut Conn<'_>, actor: &Actor, id: Id) -> AppResult<Conversation> {
    queries::by_ids(conn, actor.organization_id, &[id])
        .await?
        .pop()
        .filter(|c| visible(actor, c))
        .ok_or(AppError::not_found("conversation"))
}

/// Locks a conversation for a change by `actor`: its owner, or (to rename or delete)
/// someone who reads every conversation.
async fn lock_own(
    tx: &mut Conn<'_>,
    actor: &Actor,
    id: Id,
    owner_only: bool,
) -> AppResult<Conversation> {
    let conversation = queries::lock(tx, actor.organization_id, id)
        .await?
        .filter(|c| visible(actor, c))
        .ok_or(AppError::not_found("conversation"))?;
    if owner_only && conversation.user_id != actor.user_id {
        return Err(AppError::bad_input(
            "conversationId",
            "only the user who started a conversation sends messages in it",
        ));
    }
    Ok(conversation)
}

/// The active role a conversation talks to.
async fn active_role(tx: &mut Conn<'_>, org: Id, role_id: Id) -> AppResult<crate::teams::Role> {
    let role = crate::teams::queries::roles_by_ids(tx, org, &[role_id])
        .await?
        .pop()
        .ok_or(AppError::not_found("role"))?;
    if !role.is_active {
        return Err(AppError::bad_input(
            "roleId",
            "the role is inactive; activate it to talk to it",
        ));
    }
    Ok(role)
}

/// Starts a conversation with a role. Needs `conversations.use`.
pub async fn start(
    conn: &mut Conn<'_>,
    actor: &Actor,
    role_id: Id,
    title: Option<&str>,
    project_id: Option<Id>,
) -> AppResult<Conversation> {
    actor.require(Permission::ConversationsUse)?;
    let org = actor.organization_id;
    let title = clean_optional_text("title", title, 255)?;
    let now = Timestamp::now();
    tenant_transaction!(conn, org, |tx| -> AppResult<Conversation> {
        let role = active_role(tx, org, role_id).await?;
        if let Some(project) = project_id {
            crate::projects::service::ensure_project(tx, org, project).await?;
        }
        let conversation = queries::insert(
            tx,
            &Conversation {
                id: Id::new(),
                organization_id: org,
                user_id: actor.user_id,
                role_id: Some(role.id),
                team_id: role.team_id,
                project_id,
                title,
                message_count: 0,
                tokens_used: 0,
                cost: Decimal::zero(),
                last_message_at: None,
                created_at: now,
                updated_at: now,
            },
        )
        .await?;
        audit::record(
            tx,
            actor,
            Change {
                action: "conversation.start",
                resource_type: "conversation",
                resource_id: Some(conversation.id),
                new_values: Some(conversation.audit_values()),
                ..Change::default()
            },
        )
        .await?;
        Ok(conversation)
    })
}

/// Renames a conversation (`None` clears the title).
pub async fn rename(
    conn: &mut Conn<'_>,
    actor: &Actor,
    id: Id,
    title: Option<&str>,
) -> AppResult<Conversation> {
    actor.require(Permission::ConversationsUse)?;
    let org = actor.organization_id;
    let title = clean_optional_text("title", title, 255)?;
    tenant_transaction!(conn, org, |tx| -> AppResult<Conversation> {
        let before = lock_own(tx, actor, id, false).await?;
        let mut after = before.clone();
        after.title = title;
        after.updated_at = Timestamp::now();
        let after = queries::save(tx, &after).await?;
        audit::record(
            tx,
            actor,
            Change {
                action: "conversation.update",
                resource_type: "conversation",
                resource_id: Some(id),
                old_values: Some(before.audit_values()),
                new_values: Some(after.audit_values()),
            },
        )
        .await?;
        Ok(after)
    })
}

/// Deletes a conversation and its messages (its usage stays in the ledger).
pub async fn delete(conn: &mut Conn<'_>, actor: &Actor, id: Id) -> AppResult<Conversation> {
    actor.require(Permission::ConversationsUse)?;
    let org = actor.organization_id;
    tenant_transaction!(conn, org, |tx| -> AppResult<Conversation> {
        let conversation = lock_own(tx, actor, id, false).await?;
        queries::delete(tx, org, id).await?;
        let mut old = conversation.audit_values();
        old["message_count"] = conversation.message_count.into();
        audit::record(
            tx,
            actor,
            Change {
                action: "conversation.delete",
                resource_type: "conversation",
                resource_id: Some(id),
                old_values: Some(old),
                ..Change::default()
            },
        )
        .await?;
        Ok(conversation)
    })
}

/// What sending needs besides the caller's connection.
#[derive(Clone)]
pub struct Replier {
    pub pool: Pool,
    pub bus: EventBus,
    pub backend: Arc<dyn AgentBackend>,
    pub settings: SettingsCipher,
}

/// A user's message and the agent's reply to it.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub conversation: Conversation,
    pub message: Message,
    pub reply: Message,
}

/// A stored user message whose reply is to be generated.
struct Pending {
    conversation: Conversation,
    message: Message,
    model: String,
    request: StepRequest,
}

/// Sends a message and waits for the agent's reply. The reply is generated in its
/// own task, so it is stored (and counted) even if the caller goes away; its text
/// streams to `messageStream` subscribers meanwhile. A backend failure is stored as a
/// FAILED reply and returned as such.
pub async fn send(
    replier: &Replier,
    actor: &Actor,
    conversation_id: Id,
    content: &str,
) -> AppResult<Exchange> {
    actor.require(Permission::ConversationsUse)?;
    let content = check_content(content)?;
    let org = actor.organization_id;
    let api_key = if replier.backend.name() == "openai" {
        let mut pooled = replier.pool.get().await?;
        crate::settings::service::secret(
            &mut pooled.conn(),
            &replier.settings,
            org,
            crate::settings::OPENAI_API_KEY,
        )
        .await?
    } else {
        None
    };
    let pending = {
        let mut pooled = replier.pool.get().await?;
        let mut conn = pooled.conn();
        tenant_transaction!(&mut conn, org, |tx| -> AppResult<Pending> {
            accept(tx, actor, conversation_id, &content, api_key.clone()).await
        })?
    };
    replier
        .bus
        .publish_message(
            &replier.pool,
            MessageEvent {
                organization_id: org,
                conversation_id,
                message_id: pending.message.id,
                kind: MessageEventKind::UserMessage,
                index: 0,
                delta: None,
            },
        )
        .await;
    let task = tokio::spawn(answer(replier.clone(), actor.clone(), pending));
    task.await
        .map_err(|e| AppError::Internal(format!("the reply task failed: {e}")))?
}

/// Checks and stores the user's message (inside the caller's transaction).
async fn accept(
    tx: &mut Conn<'_>,
    actor: &Actor,
    conversation_id: Id,
    content: &str,
    api_key: Option<String>,
) -> AppResult<Pending> {
    let org = actor.organization_id;
    let now = Timestamp::now();
    let mut conversation = lock_own(tx, actor, conversation_id, true).await?;
    let role_id = conversation.role_id.ok_or_else(|| {
        AppError::bad_input(
            "conversationId",
            "the conversation's role was removed; start a new conversation",
        )
    })?;
    let role = active_role(tx, org, role_id).await?;
    let limits = crate::billing::service::plan_in_force(tx, org)
        .await?
        .plan_limits();
    crate::billing::service::check_tokens(tx, org, &limits, now).await?;
    let team = crate::teams::queries::find(tx, org, conversation.team_id)
        .await?
        .ok_or(AppError::not_found("team"))?;
    let agent = AgentSnapshot::of(&role);
    let history = queries::recent_messages(tx, org, conversation_id, HISTORY_MESSAGES).await?;
    let messages = prompt(&agent, &history, content);
    let max_tokens = pricing::completion_cap(&agent, QualityPreference::Balanced);
    let estimate = pricing::cost(
        &agent.llm_model,
        crate::engine::prompt::prompt_tokens(&messages),
        max_tokens,
    );
    let remaining = team.remaining_budget_amount();
    if remaining.sign() != bigdecimal::num_bigint::Sign::Plus || estimate.0 > remaining {
        return Err(AppError::BudgetExceeded(format!(
            "the reply's estimated cost {} does not fit the team's remaining budget ${}",
            estimate.to_string_scaled(4),
            crate::db::types::format_scaled(&remaining.max(BigDecimal::from(0)), 2)
        )));
    }
    conversation.message_count += 1;
    let message = queries::insert_message(
        tx,
        &Message {
            id: Id::new(),
            organization_id: org,
            conversation_id,
            position: conversation.message_count,
            role: MessageRole::User,
            content: content.to_string(),
            status: MessageStatus::Completed,
            model: None,
            prompt_tokens: 0,
            completion_tokens: 0,
            tokens_used: 0,
            cost: Decimal::zero(),
            finish_reason: None,
            error_message: None,
            duration_ms: None,
            created_by: Some(actor.user_id),
            created_at: now,
        },
    )
    .await?;
    conversation.last_message_at = Some(now);
    conversation.updated_at = now;
    let conversation = queries::save(tx, &conversation).await?;
    audit::record(
        tx,
        actor,
        Change {
            action: "conversation.message",
            resource_type: "conversation",
            resource_id: Some(conversation_id),
            new_values: Some(serde_json::json!({
                "message_id": message.id,
                "position": message.position,
                "characters": content.chars().count(),
            })),
            ..Change::default()
        },
    )
    .await?;
    Ok(Pending {
        conversation,
        message,
        model: agent.llm_model.clone(),
        request: StepRequest {
            agent,
            messages,
            quality: QualityPreference::Balanced,
            max_tokens,
            attempt: 1,
            api_key,
        },
    })
}

/// Generates the reply, relaying its text to subscribers, then stores it.
async fn answer(replier: Replier, actor: Actor, pending: Pending) -> AppResult<Exchange> {
    let org = actor.organization_id;
    let reply_id = Id::new();
    let (chunks, mut received) = tokio::sync::mpsc::unbounded_channel::<String>();
    let started = Instant::now();
    let generate = {
        let backend = Arc::clone(&replier.backend);
        let request = pending.request.clone();
        async move { backend.stream(&request, &chunks).await }
    };
    let relay = async {
        let mut index = 0;
        // Whatever arrived while the last event was sent goes out as one event.
        while let Some(first) = received.recv().await {
            let mut text = first;
            while let Ok(more) = received.try_recv() {
                text.push_str(&more);
            }
            for piece in pieces(&text, MAX_NOTIFIED_DELTA_CHARS) {
                index += 1;
                replier
                    .bus
                    .publish_message(
                        &replier.pool,
                        MessageEvent {
                            organization_id: org,
                            conversation_id: pending.conversation.id,
                            message_id: reply_id,
                            kind: MessageEventKind::Delta,
                            index,
                            delta: Some(piece),
                        },
                    )
                    .await;
            }
        }
    };
    let (outcome, ()) = tokio::join!(generate, relay);
    let duration_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
    if let Err(error) = &outcome {
        tracing::warn!(%error, conversation = %pending.conversation.id, "an agent reply failed");
    }
    let mut pooled = replier.pool.get().await?;
    let mut conn = pooled.conn();
    let exchange = tenant_transaction!(&mut conn, org, |tx| -> AppResult<Exchange> {
        store_reply(tx, &pending, reply_id, &outcome, duration_ms).await
    })?;
    drop(pooled);
    replier
        .bus
        .publish_message(
            &replier.pool,
            MessageEvent {
                organization_id: org,
                conversation_id: pending.conversation.id,
                message_id: reply_id,
                kind: match exchange.reply.status {
                    MessageStatus::Completed => MessageEventKind::Completed,
                    MessageStatus::Failed => MessageEventKind::Failed,
                },
                index: 0,
                delta: None,
            },
        )
        .await;
    Ok(exchange)
}

/// `text` in pieces of at most `max` characters.
fn pieces(text: &str, max: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    chars
        .chunks(max.max(1))
        .map(|c| c.iter().collect())
        .collect()
}

/// Stores the reply and charges its tokens to the conversation, the team and the
/// ledger, in one transaction.
async fn store_reply(
    tx: &mut Conn<'_>,
    pending: &Pending,
    reply_id: Id,
    outcome: &Result<StepReply, BackendError>,
    duration_ms: i64,
) -> AppResult<Exchange> {
    let org = pending.conversation.organization_id;
    let now = Timestamp::now();
    // Deleted while the agent was answering: nothing to store.
    let mut conversation = queries::lock(tx, org, pending.conversation.id)
        .await?
        .ok_or(AppError::not_found("conversation"))?;
    let clamp = |n: i64| i32::try_from(n.max(0)).unwrap_or(i32::MAX);
    let (content, status, prompt_tokens, completion_tokens, finish_reason, error) = match outcome {
        Ok(reply) => (
            reply.content.clone(),
            MessageStatus::Completed,
            clamp(reply.prompt_tokens),
            clamp(reply.completion_tokens),
            reply.finish_reason.clone(),
            None,
        ),
        Err(error) => (
            String::new(),
            MessageStatus::Failed,
            0,
            0,
            None,
            Some(error.to_string()),
        ),
    };
    // Priced as the role's model, like run steps, whatever name the endpoint answers with.
    let cost = pricing::cost(
        &pending.model,
        i64::from(prompt_tokens),
        i64::from(completion_tokens),
    );
    let tokens = prompt_tokens.saturating_add(completion_tokens);
    conversation.message_count += 1;
    let reply = queries::insert_message(
        tx,
        &Message {
            id: reply_id,
            organization_id: org,
            conversation_id: conversation.id,
            position: conversation.message_count,
            role: MessageRole::Assistant,
            content,
            status,
            model: Some(pending.model.clone()),
            prompt_tokens,
            completion_tokens,
            tokens_used: tokens,
            cost: cost.clone(),
            finish_reason,
            error_message: error,
            duration_ms: Some(duration_ms),
            created_by: None,
            created_at: now,
        },
    )
    .await?;
    conversation.tokens_used += i64::from(tokens);
    conversation.cost = Decimal(&conversation.cost.0 + &cost.0);
    conversation.last_message_at = Some(now);
    conversation.updated_at = now;
    let conversation = queries::save(tx, &conversation).await?;
    if tokens > 0 {
        crate::runs::queries::add_team_spend(tx, org, conversation.team_id, &cost, now).await?;
        crate::billing::service::record_reply_usage(
            tx,
            ReplySource {
                organization_id: org,
                team_id: conversation.team_id,
                conversation_id: conversation.id,
                message_id: reply.id,
                model: &pending.model,
            },
            i64::from(tokens),
            &cost,
            now,
        )
        .await?;
    }
    Ok(Exchange {
        conversation,
        message: pending.message.clone(),
        reply,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn long_deltas_are_split_on_characters() {
        let text = "é".repeat(2500);
        let pieces = super::pieces(&text, 1000);
        assert_eq!(
            pieces.iter().map(|p| p.chars().count()).collect::<Vec<_>>(),
            [1000, 1000, 500]
        );
        assert_eq!(pieces.concat(), text);
    }
}
