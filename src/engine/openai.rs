//! A backend for any OpenAI-compatible chat-completions endpoint (OpenAI, Ollama,
//! vLLM, ...).

use std::collections::HashMap;
use std::time::Duration;

use serde::Deserialize;

use super::backend::{AgentBackend, BackendError, StepReply, StepRequest};

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

    async fn attempt(
        &self,
        body: &serde_json::Value,
        api_key: Option<&str>,
    ) -> Result<StepReply, BackendError> {
        let mut call = self.client.post(&self.url).json(body);
        if let Some(key) = api_key.or(self.settings.api_key.as_deref()) {
            call = call.bearer_auth(key);
        }
        let response = call.send().await.map_err(|e| {
            if e.is_timeout() {
                BackendError::Timeout(self.settings.request_timeout)
            } else {
                BackendError::Transport(e.to_string())
            }
        })?;
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

#[derive(Deserialize, Default)]
struct Usage {
    #[serde(default)]
    prompt_tokens: i64,
    #[serde(default)]
    completion_tokens: i64,
}
