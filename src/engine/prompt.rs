//! The messages an agent receives for a step, shared by every backend so that token
//! counts and estimates agree.

use serde::Serialize;

use crate::runs::AgentSnapshot;

/// One chat message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Message {
    pub role: &'static str,
    pub content: String,
}

/// An earlier step's answer, passed on as context.
#[derive(Debug, Clone)]
pub struct PriorAnswer {
    pub agent: String,
    pub content: String,
}

/// The system message: who the agent is (`agent_config.system_prompt`, `backstory`
/// and `goals` when the role sets them).
pub fn system_message(agent: &AgentSnapshot) -> String {
    let config = &agent.agent_config;
    let text = |key: &str| config.get(key).and_then(serde_json::Value::as_str);
    let mut out = match text("system_prompt") {
        Some(prompt) => prompt.to_string(),
        None => format!(
            "You are the {} of an AI team, with {} expertise.",
            agent.title, agent.expertise
        ),
    };
    if let Some(description) = &agent.description {
        out.push_str("\nRole: ");
        out.push_str(description);
    }
    if let Some(backstory) = text("backstory") {
        out.push_str("\nBackstory: ");
        out.push_str(backstory);
    }
    match config.get("goals") {
        Some(serde_json::Value::String(goal)) => {
            out.push_str("\nGoals: ");
            out.push_str(goal);
        }
        Some(serde_json::Value::Array(goals)) => {
            let goals: Vec<&str> = goals.iter().filter_map(|g| g.as_str()).collect();
            if !goals.is_empty() {
                out.push_str("\nGoals:\n- ");
                out.push_str(&goals.join("\n- "));
            }
        }
        _ => {}
    }
    out
}

/// The messages of a step: the agent's system message, then the task with the run's
/// inputs and the answers of the steps before it.
pub fn messages(
    agent: &AgentSnapshot,
    task: &str,
    inputs: &serde_json::Value,
    prior: &[PriorAnswer],
) -> Vec<Message> {
    let mut user = format!("Task: {task}\n\nInputs:\n{inputs}");
    for answer in prior {
        user.push_str(&format!(
            "\n\nAnswer of the {}:\n{}",
            answer.agent, answer.content
        ));
    }
    vec![
        Message {
            role: "system",
            content: system_message(agent),
        },
        Message {
            role: "user",
            content: user,
        },
    ]
}

/// Estimated tokens of a step's fixed instructions (system message and task line).
pub fn instructions_tokens(agent: &AgentSnapshot, task: &str) -> i64 {
    super::pricing::estimate_tokens(&system_message(agent))
        + super::pricing::estimate_tokens(&format!("Task: {task}\n\nInputs:\n"))
}

/// Estimated prompt tokens of a list of messages.
pub fn prompt_tokens(messages: &[Message]) -> i64 {
    messages
        .iter()
        .map(|m| super::pricing::estimate_tokens(&m.content) + 4)
        .sum()
}
