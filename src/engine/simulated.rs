//! The default backend: deterministic answers, token counts and costs derived from the
//! step itself, after a configurable delay so progress can be watched.

use std::hash::{Hash, Hasher};
use std::time::Duration;

use super::backend::{AgentBackend, BackendError, Chunks, StepReply, StepRequest};
use super::prompt;

pub struct SimulatedBackend {
    pub delay: Duration,
}

/// A stable 64-bit hash (FNV-1a): the same step always gets the same answer, on
/// every platform and release.
struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 ^= u64::from(*byte);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}

fn fingerprint(request: &StepRequest) -> u64 {
    let mut hasher = Fnv(0xcbf2_9ce4_8422_2325);
    for message in &request.messages {
        message.content.hash(&mut hasher);
    }
    request.agent.llm_model.hash(&mut hasher);
    hasher.finish()
}

#[async_trait::async_trait]
impl AgentBackend for SimulatedBackend {
    fn name(&self) -> &'static str {
        "simulated"
    }

    async fn execute(&self, request: &StepRequest) -> Result<StepReply, BackendError> {
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        Ok(answer(request))
    }

    /// The same answer as `execute`, word by word, spread over the configured delay.
    async fn stream(
        &self,
        request: &StepRequest,
        chunks: &Chunks,
    ) -> Result<StepReply, BackendError> {
        let reply = answer(request);
        let words: Vec<&str> = reply.content.split_inclusive(' ').collect();
        let pause = self.delay / u32::try_from(words.len().max(1)).unwrap_or(u32::MAX);
        for word in words {
            if !pause.is_zero() {
                tokio::time::sleep(pause).await;
            }
            let _ = chunks.send(word.to_string());
        }
        Ok(reply)
    }
}

/// The deterministic answer to a request.
fn answer(request: &StepRequest) -> StepReply {
    let print = fingerprint(request);
    // Between half the cap and the cap, fixed by the step's content.
    let cap = request.max_tokens.max(2);
    let completion_tokens = cap / 2 + (print % (cap as u64 / 2 + 1)) as i64;
    let task = request
        .messages
        .last()
        .and_then(|m| m.content.lines().next())
        .unwrap_or("Task")
        .trim_start_matches("Task: ");
    let content = format!(
        "{} ({} expertise) on \"{}\": analysed the inputs and the team's earlier answers; \
         recommendation #{:04x} with {} completion tokens of reasoning.",
        request.agent.title,
        request.agent.expertise,
        task,
        print & 0xffff,
        completion_tokens
    );
    StepReply {
        content,
        prompt_tokens: prompt::prompt_tokens(&request.messages),
        completion_tokens,
        model: request.agent.llm_model.clone(),
        finish_reason: Some("stop".into()),
    }
}
