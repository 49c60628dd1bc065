//! A backend for any OpenAI-compatible chat-completions endpoint (OpenAI, Ollama,
//! vLLM, ...).

use std::collections::HashMap;
use std::time::Duration;

use serde::Deserialize;

use super::backend::{AgentBackend, BackendError, Chunks, StepReply, StepRequest};

#[derive(Debug, Clone)]
pub struct OpenAiSettings {
    /// e.g. `https://api.openai.com/v1`; `/chat/completions` is appended.
    pub base_url: String,
    pub api_key: Option<String>,
    /// Role model (`llm_model`) -> model name the endpoint knows; unmapped models are
    /// sent as they are.
    pub model_map: HashMap<String, String>,
    pub request_timeout: Duration,
    /// Further attempts after a 429, a 5xx, a timeout or a transport error.
    pub max_retries: u32,
    /// First backoff; doubles on each retry.
    pub retry_backoff: Duration,
}

pub struct OpenAiBackend {
    settings: OpenAiSettings,
    client: reqwest::Client,
    url: String,
}

impl OpenAiBackend {
    pub fn new(settings: OpenAiSettings) -> Result<OpenAiBackend, BackendError> {
        let client = reqwest::Client::builder()
            .timeout(settings.request_timeout)
            .build()
            .map_err(|e| BackendError::Transport(e.to_string()))?;
        let url = format!(
            "{}/chat/completions",
            settings.base_url.trim_end_matches('/')
        );
        Ok(OpenAiBackend {
            settings,
            client,
            url,
        })
    }

    /// Parses `gpt-4=gpt-4o,llama2:7b=llama2` into a model map.
    pub fn parse_model_map(text: &str) -> Result<HashMap<String, String>, String> {
        let mut map = HashMap::new();
        for pair in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (from, to) = pair
                .split_once('=')
                .ok_or_else(|| format!("`{pair}` is not `model=endpoint-model`"))?;
            map.insert(from.trim().to_string(), to.trim().to_string());
        }
        Ok(map)
    }

    fn body(&self, request: &StepRequest) -> serde_json::Value {
        let model = self
            .settings
            .model_map
            .get(&request.agent.llm_model)
            .cloned()
            .unwrap_or_else(|| request.agent.llm_model.clone());
        let mut body = serde_json::json!({
            "model": model,
            "messages": request.messages,
            "max_tokens": request.max_tokens,
        });
        if let Some(temperature) = request
            .agent
            .llm_config
            .get("temperature")
            .and_then(serde_json::Value::as_f64)
        {
            body["temperature"] = temperature.into();
        }
        body
    }

    fn transport_error(&self, error: &reqwest::Error) -> BackendError {
        if error.is_timeout() {
            BackendError::Timeout(self.settings.request_timeout)
        } else {
            BackendError::Transport(error.to_string())
        }
    }

    /// Sends the request; a successful response is returned to be read.
    async fn send(
        &self,
        body: &serde_json::Value,
        api_key: Option<&str>,
    ) -> Result<reqwest::Response, BackendError> {
        let mut call = self.client.post(&self.url).json(body);
        if let Some(key) = api_key.or(self.settings.api_key.as_deref()) {
            call = call.bearer_auth(key);
        }
        let response = call.send().await.map_err(|e| self.transport_error(&e))?;
        let status = response.status();
        if !status.is_success() {
            let text = response.text().await.unwrap_or_default();
            let message = serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .and_then(|v| v["error"]["message"].as_str().map(str::to_string))
                .unwrap_or_else(|| text.chars().take(200).collect());
            return Err(BackendError::Status {
                status: status.as_u16(),
                message,
            });
        }
        Ok(response)
    }

    async fn attempt(
        &self,
        body: &serde_json::Value,
        api_key: Option<&str>,
    ) -> Result<StepReply, BackendError> {
        let response = self.send(body, api_key).await?;
        let reply: Completion = response.json().await.map_err(|e| {
            if e.is_timeout() {
                BackendError::Timeout(self.settings.request_timeout)
            } else {
                BackendError::Malformed(e.to_string())
            }
        })?;
        let choice = reply
            .choices
            .into_iter()
            .next()
            .ok_or_else(|| BackendError::Malformed("no choices in the reply".into()))?;
        let content = choice.message.content.unwrap_or_default();
        let usage = reply.usage.unwrap_or_default();
        Ok(StepReply {
            prompt_tokens: usage.prompt_tokens,
            completion_tokens: usage.completion_tokens,
            content,
            model: reply.model.unwrap_or_default(),
            finish_reason: choice.finish_reason,
        })
    }

    /// One streamed attempt: server-sent `data:` lines of completion chunks, ending
    /// with `[DONE]`. `sent` tells whether any text reached `chunks` (then the attempt
    /// must not be retried).
    async fn attempt_stream(
        &self,
        request: &StepRequest,
        body: &serde_json::Value,
        chunks: &Chunks,
        sent: &mut bool,
    ) -> Result<StepReply, BackendError> {
        let mut response = self.send(body, request.api_key.as_deref()).await?;
        let mut stream = StreamedReply::default();
        let mut pending: Vec<u8> = Vec::new();
        'read: loop {
            let Some(bytes) = response
                .chunk()
                .await
                .map_err(|e| self.transport_error(&e))?
            else {
                break;
            };
            pending.extend_from_slice(&bytes);
            while let Some(end) = pending.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = pending.drain(..=end).collect();
                let line = String::from_utf8_lossy(&line);
                let Some(data) = line.trim().strip_prefix("data:") else {
                    continue;
                };
                let data = data.trim();
                if data == "[DONE]" {
                    break 'read;
                }
                if let Some(text) = stream.read(data)?
                    && !text.is_empty()
                {
                    *sent = true;
                    let _ = chunks.send(text);
                }
            }
            if pending.len() > MAX_SSE_LINE {
                return Err(BackendError::Malformed("an event line is too long".into()));
            }
        }
        Ok(stream.finish(request))
    }
}

/// Longest server-sent event line accepted.
const MAX_SSE_LINE: usize = 1 << 20;

/// A streamed reply as its chunks arrive.
#[derive(Default)]
struct StreamedReply {
    content: String,
    model: Option<String>,
    finish_reason: Option<String>,
    usage: Option<Usage>,
}

impl StreamedReply {
    /// Takes one chunk's JSON; returns the text it adds.
    fn read(&mut self, data: &str) -> Result<Option<String>, BackendError> {
        let chunk: StreamChunk = serde_json::from_str(data)
            .map_err(|e| BackendError::Malformed(format!("a streamed chunk: {e}")))?;
        if let Some(error) = chunk.error {
            return Err(BackendError::Malformed(
                error["message"]
                    .as_str()
                    .unwrap_or("the stream reported an error")
                    .to_string(),
            ));
        }
        if chunk.model.is_some() {
            self.model = chunk.model;
        }
        if chunk.usage.is_some() {
            self.usage = chunk.usage;
        }
        let Some(choice) = chunk.choices.into_iter().next() else {
            return Ok(None);
        };
        if choice.finish_reason.is_some() {
            self.finish_reason = choice.finish_reason;
        }
        let text = choice.delta.and_then(|d| d.content);
        if let Some(text) = &text {
            self.content.push_str(text);
        }
        Ok(text)
    }

    /// The whole reply; token counts are estimated when the endpoint sent no usage.
    fn finish(self, request: &StepRequest) -> StepReply {
        let (prompt_tokens, completion_tokens) = match self.usage {
            Some(usage) => (usage.prompt_tokens, usage.completion_tokens),
            None => (
                super::prompt::prompt_tokens(&request.messages),
                super::pricing::estimate_tokens(&self.content),
            ),
        };
        StepReply {
            content: self.content,
            prompt_tokens,
            completion_tokens,
            model: self.model.unwrap_or_default(),
            finish_reason: self.finish_reason,
        }
    }
}

fn retryable(error: &BackendError) -> bool {
    match error {
        BackendError::Timeout(_) | BackendError::Transport(_) => true,
        BackendError::Status { status, .. } => *status == 429 || *status >= 500,
        BackendError::Malformed(_) => false,
    }
}

#[async_trait::async_trait]
impl AgentBackend for OpenAiBackend {
    fn name(&self) -> &'static str {
        "openai"
    }

    async fn execute(&self, request: &StepRequest) -> Result<StepReply, BackendError> {
        let body = self.body(request);
        let mut backoff = self.settings.retry_backoff;
        let mut retries = 0;
        loop {
            match self.attempt(&body, request.api_key.as_deref()).await {
                Err(error) if retryable(&error) && retries < self.settings.max_retries => {
                    retries += 1;
                    // Full jitter keeps concurrent workers from retrying in lockstep.
                    let wait = backoff.mul_f64(rand::random::<f64>().max(0.1));
                    tracing::warn!(%error, retries, ?wait, "agent backend call failed; retrying");
                    tokio::time::sleep(wait).await;
                    backoff = backoff.saturating_mul(2);
                }
                other => return other,
            }
        }
    }

    async fn stream(
        &self,
        request: &StepRequest,
        chunks: &Chunks,
    ) -> Result<StepReply, BackendError> {
        let mut body = self.body(request);
        body["stream"] = true.into();
        body["stream_options"] = serde_json::json!({ "include_usage": true });
        let mut backoff = self.settings.retry_backoff;
        let mut retries = 0;
        loop {
            let mut sent = false;
            match self.attempt_stream(request, &body, chunks, &mut sent).await {
                // Once text went out, a retry would repeat it: only silent failures retry.
                Err(error) if !sent && retryable(&error) && retries < self.settings.max_retries => {
                    retries += 1;
                    let wait = backoff.mul_f64(rand::random::<f64>().max(0.1));
                    tracing::warn!(%error, retries, ?wait, "streamed agent call failed; retrying");
                    tokio::time::sleep(wait).await;
                    backoff = backoff.saturating_mul(2);
                }
                other => return other,
            }
        }
    }
}

#[derive(Deserialize)]
struct Completion {
    model: Option<String>,
    choices: Vec<Choice>,
    usage: Option<Usage>,
}

#[derive(Deserialize)]
struct Choice {
    message: ChoiceMessage,
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct ChoiceMessage {
    content: Option<String>,
}

#[derive(Deserialize)]
struct StreamChunk {
    model: Option<String>,
    #[serde(default)]
    choices: Vec<StreamChoice>,
    usage: Option<Usage>,
    error: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct StreamChoice {
    delta: Option<ChoiceMessage>,
    finish_reason: Option<String>,
}

#[derive(Deserialize, Default)]
struct Usage {
    #[serde(default)]
    prompt_tokens: i64,
    #[serde(default)]
    completion_tokens: i64,
}
