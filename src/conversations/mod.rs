//! Conversations: a user talks to one of a team's agents (a role). Each message is
//! answered through the same agent backend as run steps, with the conversation's
//! history as context; the reply streams to `messageStream` subscribers as it is
//! generated, and its tokens are charged to the team and the usage ledger like a step's.

pub mod queries;
pub mod service;

use diesel::prelude::*;

use crate::db::schema::{conversations, messages};
use crate::db::{Decimal, Id, Timestamp};
use crate::db_enum;
use crate::engine::prompt::{self, Message as PromptMessage};
use crate::error::{AppError, AppResult};
use crate::runs::AgentSnapshot;

db_enum! {
    /// Who wrote a message.
    pub enum MessageRole {
        /// The user.
        User => "user",
        /// The agent.
        Assistant => "assistant",
    }
}

db_enum! {
    /// Whether a message holds an answer.
    pub enum MessageStatus {
        /// Stored in full: the user's message, or the agent's whole reply.
        Completed => "completed",
        /// The agent backend failed; `errorMessage` says why. Failed replies are left
        /// out of the context of later messages.
        Failed => "failed",
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = conversations)]
pub struct Conversation {
    pub id: Id,
    pub organization_id: Id,
    /// Whose conversation it is.
    pub user_id: Id,
    /// The agent; `None` once the role was removed.
    pub role_id: Option<Id>,
    pub team_id: Id,
    pub project_id: Option<Id>,
    pub title: Option<String>,
    pub message_count: i32,
    pub tokens_used: i64,
    pub cost: Decimal,
    pub last_message_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Conversation {
    pub fn audit_values(&self) -> serde_json::Value {
        serde_json::json!({
            "title": self.title,
            "role_id": self.role_id,
            "team_id": self.team_id,
            "project_id": self.project_id,
        })
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = messages)]
pub struct Message {
    pub id: Id,
    pub organization_id: Id,
    pub conversation_id: Id,
    /// 1, 2, ... in the conversation.
    pub position: i32,
    pub role: MessageRole,
    pub content: String,
    pub status: MessageStatus,
    pub model: Option<String>,
    pub prompt_tokens: i32,
    pub completion_tokens: i32,
    pub tokens_used: i32,
    pub cost: Decimal,
    pub finish_reason: Option<String>,
    pub error_message: Option<String>,
    pub duration_ms: Option<i64>,
    pub created_by: Option<Id>,
    pub created_at: Timestamp,
}

/// Longest message a user may send, in characters.
pub const MAX_MESSAGE_CHARS: usize = 32_000;

/// Estimated tokens of history sent with a message at most; older messages are left
/// out first.
pub const HISTORY_TOKENS: i64 = 6_000;

/// A message's text: trimmed, non-empty, at most [`MAX_MESSAGE_CHARS`].
pub fn check_content(raw: &str) -> AppResult<String> {
    let text = raw.trim();
    if text.is_empty() {
        return Err(AppError::bad_input("content", "a message cannot be empty"));
    }
    if text.chars().count() > MAX_MESSAGE_CHARS {
        return Err(AppError::bad_input(
            "content",
            format!("a message is at most {MAX_MESSAGE_CHARS} characters"),
        ));
    }
    Ok(text.to_string())
}

/// What the agent receives: its system message, as much of the history as fits
/// [`HISTORY_TOKENS`] (newest kept, failed replies left out), then the new message.
/// `history` is in conversation order.
pub fn prompt(agent: &AgentSnapshot, history: &[Message], content: &str) -> Vec<PromptMessage> {
    let mut kept: Vec<&Message> = Vec::new();
    let mut tokens = 0;
    for message in history
        .iter()
        .rev()
        .filter(|m| m.status == MessageStatus::Completed)
    {
        tokens += crate::engine::pricing::estimate_tokens(&message.content) + 4;
        if tokens > HISTORY_TOKENS {
            break;
        }
        kept.push(message);
    }
    let mut messages = vec![PromptMessage {
        role: "system",
        content: prompt::system_message(agent),
    }];
    messages.extend(kept.into_iter().rev().map(|m| PromptMessage {
        role: match m.role {
            MessageRole::User => "user",
            MessageRole::Assistant => "assistant",
        },
        content: m.content.clone(),
    }));
    messages.push(PromptMessage {
        role: "user",
        content: content.to_string(),
    });
    messages
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(position: i32, role: MessageRole, status: MessageStatus, text: &str) -> Message {
        Message {
            id: Id::new(),
            organization_id: Id::new(),
            conversation_id: Id::new(),
            position,
            role,
            content: text.to_string(),
            status,
            model: None,
            prompt_tokens: 0,
            completion_tokens: 0,
            tokens_used: 0,
            cost: Decimal::zero(),
            finish_reason: None,
            error_message: None,
            duration_ms: None,
            created_by: None,
            created_at: Timestamp::now(),
        }
    }

    #[test]
    fn the_prompt_keeps_the_newest_history_that_fits() {
        let agent = AgentSnapshot {
            title: "Analyst".into(),
            description: None,
            expertise: "senior".into(),
            llm_model: "gpt-4".into(),
            llm_config: serde_json::Value::Null,
            agent_config: serde_json::Value::Null,
        };
        let long = "x".repeat((HISTORY_TOKENS as usize) * 4);
        let history = vec![
            message(1, MessageRole::User, MessageStatus::Completed, &long),
            message(2, MessageRole::User, MessageStatus::Completed, "second"),
            message(3, MessageRole::Assistant, MessageStatus::Failed, ""),
            message(
                4,
                MessageRole::Assistant,
                MessageStatus::Completed,
                "fourth",
            ),
        ];
        let prompt = prompt(&agent, &history, "new");
        let roles: Vec<_> = prompt.iter().map(|m| m.role).collect();
        let texts: Vec<_> = prompt.iter().map(|m| m.content.as_str()).collect();
        assert_eq!(roles, ["system", "user", "assistant", "user"]);
        assert_eq!(&texts[1..], ["second", "fourth", "new"]);
        assert!(check_content("   ").is_err());
        assert_eq!(check_content(" hi ").unwrap(), "hi");
    }
}
