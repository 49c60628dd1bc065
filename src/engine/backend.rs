//! The agent backends that perform a run's steps.

use std::time::Duration;

use super::prompt::Message;
use crate::runs::{AgentSnapshot, QualityPreference};

/// Everything an agent needs to perform one step.
#[derive(Debug, Clone)]
pub struct StepRequest {
    pub agent: AgentSnapshot,
    pub messages: Vec<Message>,
    pub quality: QualityPreference,
    /// Most completion tokens the agent may produce.
    pub max_tokens: i64,
    /// 1 for the first attempt at the step.
    pub attempt: i32,
    /// The organization's own API key for a hosted backend, when it set one.
    pub api_key: Option<String>,
}

/// An agent's answer.
#[derive(Debug, Clone)]
pub struct StepReply {
    pub content: String,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    /// The model that answered, as the backend names it.
    pub model: String,
    pub finish_reason: Option<String>,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum BackendError {
    #[error("the agent backend did not answer within {0:?}")]
    Timeout(Duration),
    #[error("the agent backend answered HTTP {status}: {message}")]
    Status { status: u16, message: String },
    #[error("the agent backend could not be reached: {0}")]
    Transport(String),
    #[error("the agent backend's answer was unusable: {0}")]
    Malformed(String),
}

/// Receives an answer's text piece by piece as it is generated.
pub type Chunks = tokio::sync::mpsc::UnboundedSender<String>;

/// Performs steps. Implementations must be safe to call concurrently.
#[async_trait::async_trait]
pub trait AgentBackend: Send + Sync {
    fn name(&self) -> &'static str;
    async fn execute(&self, request: &StepRequest) -> Result<StepReply, BackendError>;

    /// Like [`execute`](Self::execute), sending the answer's text to `chunks` as it is
    /// generated; the pieces concatenate to the reply's `content`. Backends that cannot
    /// stream send the whole answer as one piece.
    async fn stream(
        &self,
        request: &StepRequest,
        chunks: &Chunks,
    ) -> Result<StepReply, BackendError> {
        let reply = self.execute(request).await?;
        let _ = chunks.send(reply.content.clone());
        Ok(reply)
    }
}
