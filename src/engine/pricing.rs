//! What agent work costs: a per-model price table and the cost estimate a run is
//! checked against before it starts.

use bigdecimal::BigDecimal;
use bigdecimal::RoundingMode;

use crate::db::Decimal;
use crate::runs::{AgentSnapshot, QualityPreference};

/// USD per million prompt and completion tokens. Models served locally (Ollama) cost
/// nothing; unknown models are priced as the most expensive hosted one, so a missing
/// entry can never make work look free.
pub const PRICES: &[(&str, u32, u32)] = &[
    ("gpt-4", 30_00, 60_00),
    ("gpt-4-turbo", 10_00, 30_00),
    ("gpt-3.5-turbo", 50, 1_50),
    ("claude-3-opus", 15_00, 75_00),
    ("claude-3-sonnet", 3_00, 15_00),
    ("claude-3-haiku", 25, 1_25),
];

/// Prices above are in cents per million tokens.
const CENTS: u32 = 100;

fn price_cents(model: &str) -> (u32, u32) {
    if let Some((_, prompt, completion)) = PRICES.iter().find(|(name, _, _)| *name == model) {
        return (*prompt, *completion);
    }
    if crate::teams::roles::LLM_MODELS.contains(&model) {
        // The allow-listed models without a price are the local ones.
        return (0, 0);
    }
    (30_00, 75_00)
}

/// The cost of a step's tokens, rounded half-even to 4 decimals (the stored scale),
/// so that sums of stored step costs equal the stored totals exactly.
pub fn cost(model: &str, prompt_tokens: i64, completion_tokens: i64) -> Decimal {
    let (prompt, completion) = price_cents(model);
    let cents = BigDecimal::from(prompt_tokens.max(0)) * BigDecimal::from(prompt)
        + BigDecimal::from(completion_tokens.max(0)) * BigDecimal::from(completion);
    let usd = cents / BigDecimal::from(u64::from(CENTS) * 1_000_000);
    Decimal(usd.with_scale_round(4, RoundingMode::HalfEven))
}

/// Rough token count of a text: about four characters per token.
pub fn estimate_tokens(text: &str) -> i64 {
    (text.chars().count() as i64 + 3) / 4
}

/// The most completion tokens an agent produces for one step: the role's
/// `llm_config.max_tokens` when set, otherwise a figure per quality preference.
pub fn completion_cap(agent: &AgentSnapshot, quality: QualityPreference) -> i64 {
    agent
        .llm_config
        .get("max_tokens")
        .and_then(serde_json::Value::as_i64)
        .filter(|n| (1..=128_000).contains(n))
        .unwrap_or(match quality {
            QualityPreference::Fast => 400,
            QualityPreference::Balanced => 800,
            QualityPreference::Quality => 1200,
        })
}

/// The estimated cost of a planned run: each step's prompt (its instructions, the
/// run's inputs and the answers of the steps before it, at their cap) plus its
/// completion cap, priced per step's model.
pub fn estimate_run(
    agents: &[(&AgentSnapshot, &str)],
    inputs: &serde_json::Value,
    quality: QualityPreference,
) -> Decimal {
    let inputs_tokens = estimate_tokens(&inputs.to_string());
    let mut total = BigDecimal::from(0);
    let mut previous_tokens = 0;
    for (agent, task) in agents {
        let prompt =
            super::prompt::instructions_tokens(agent, task) + inputs_tokens + previous_tokens;
        let completion = completion_cap(agent, quality);
        total += cost(&agent.llm_model, prompt, completion).0;
        previous_tokens += completion;
    }
    Decimal(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn costs_are_exact_at_four_decimals() {
        // 1,000 prompt tokens at $30/M plus 500 completion tokens at $60/M.
        assert_eq!(cost("gpt-4", 1000, 500).to_string_scaled(4), "0.0600");
        assert_eq!(
            cost("gpt-3.5-turbo", 1000, 1000).to_string_scaled(4),
            "0.0020"
        );
        assert_eq!(cost("llama2:7b", 5000, 5000).to_string_scaled(4), "0.0000");
        assert_eq!(cost("unknown", 1_000_000, 0).to_string_scaled(4), "30.0000");
    }
}
