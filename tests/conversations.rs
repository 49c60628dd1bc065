//! Conversations with agents: start, send (the reply through the simulated backend,
//! streamed to `messageStream` as it is generated), history as a connection, costs
//! charged to the team and the usage ledger, who may read and send, budget and
//! plan refusals, renaming, deleting, audit rows, and a second gateway on the same
//! database hearing the stream.

mod common;

use std::str::FromStr;

use bigdecimal::BigDecimal;
use common::ws::{Socket, connect, connect_url, next, send};
use common::{TestApp, error_code, error_field, test_engine};
use gateway::auth::permissions::OrgRole;
use gateway::engine::EngineConfig;
use serde_json::{Value, json};

/// A slower simulated agent, so a reply arrives in several pieces.
fn engine() -> EngineConfig {
    EngineConfig {
        simulated_step_delay_ms: 300,
        ..test_engine()
    }
}

backend_tests! {
    engine = super::engine();
    a_conversation_streams_and_counts_its_replies => conversation_round_trip;
    access_budget_and_removed_roles => access_and_refusals;
    a_second_gateway_streams_the_reply => second_gateway_hears_the_stream;
}

const START: &str = "mutation($input: StartConversationInput!) { startConversation(input: $input) { \
    conversation { id title messageCount role { id title } team { id } user { email } } } }";
const SEND: &str = "mutation($input: SendMessageInput!) { sendMessage(input: $input) { \
    conversation { id messageCount tokensUsed cost lastMessageAt } \
    message { id position role content status sender { email } } \
    reply { id position role content status model promptTokens completionTokens tokensUsed cost \
      finishReason errorMessage durationMs sender { email } } } }";
const STREAM: &str = "subscription($id: ID!) { messageStream(conversationId: $id) { \
    kind conversationId messageId index delta message { id role content status } } }";

fn decimal(value: &Value) -> BigDecimal {
    BigDecimal::from_str(value.as_str().expect("a decimal string")).expect("a decimal")
}

/// A team with an active gpt-4 role and a second role; returns (team id, the gpt-4
/// role's id).
async fn team_with_agent(app: &TestApp, token: &str, budget: &str) -> (String, String) {
    let data = app
        .data(
            Some(token),
            "mutation($input: CreateTeamInput!) { createTeam(input: $input) { team { id roles { id } } } }",
            json!({ "input": { "name": format!("Advisors {budget}"), "monthlyBudget": budget, "roles": [
                { "title": "Strategist", "expertise": "EXPERT", "llmModel": "gpt-4",
                  "description": "Advises on product strategy" },
                { "title": "Scribe", "expertise": "JUNIOR", "llmModel": "gpt-3.5-turbo" }] } }),
        )
        .await;
    let team = &data["createTeam"]["team"];
    (
        team["id"].as_str().unwrap().to_string(),
        team["roles"][0]["id"].as_str().unwrap().to_string(),
    )
}

async fn start(app: &TestApp, token: &str, role: &str, title: &str) -> Value {
    app.data(
        Some(token),
        START,
        json!({ "input": { "roleId": role, "title": title } }),
    )
    .await["startConversation"]["conversation"]
        .clone()
}

async fn say(app: &TestApp, token: &str, conversation: &str, content: &str) -> Value {
    app.gql(
        Some(token),
        SEND,
        json!({ "input": { "conversationId": conversation, "content": content } }),
    )
    .await
}

async fn subscribe(socket: &mut Socket, token: &str, conversation: &str) {
    send(socket, json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } })).await;
    assert_eq!(next(socket).await["type"], "connection_ack");
    send(
        socket,
        json!({ "id": "1", "type": "subscribe", "payload": { "query": STREAM, "variables": { "id": conversation } } }),
    )
    .await;
}

/// The stream's events up to and including the reply's COMPLETED or FAILED.
async fn events_until_stored(socket: &mut Socket) -> Vec<Value> {
    let mut events = Vec::new();
    loop {
        let message = next(socket).await;
        assert_eq!(message["type"], "next", "a stream event: {message:#}");
        let event = message["payload"]["data"]["messageStream"].clone();
        let kind = event["kind"].as_str().unwrap().to_string();
        events.push(event);
        if kind == "COMPLETED" || kind == "FAILED" {
            return events;
        }
    }
}

/// USER_MESSAGE, then DELTA 1..n whose text is the reply, then COMPLETED with it.
fn assert_streamed(events: &[Value], message: &Value, reply: &Value) {
    assert_eq!(events[0]["kind"], "USER_MESSAGE");
    assert_eq!(events[0]["messageId"], message["id"]);
    assert_eq!(events[0]["message"]["content"], message["content"]);
    let deltas: Vec<&Value> = events.iter().filter(|e| e["kind"] == "DELTA").collect();
    assert!(
        deltas.len() >= 2,
        "the reply arrives in pieces: {events:#?}"
    );
    for (i, delta) in deltas.iter().enumerate() {
        assert_eq!(delta["index"], json!(i + 1), "deltas in order");
        assert_eq!(delta["messageId"], reply["id"]);
        assert!(delta["message"].is_null());
    }
    let text: String = deltas
        .iter()
        .map(|d| d["delta"].as_str().unwrap())
        .collect();
    assert_eq!(text, reply["content"].as_str().unwrap());
    let last = events.last().unwrap();
    assert_eq!(last["kind"], "COMPLETED");
    assert_eq!(last["messageId"], reply["id"]);
    assert_eq!(last["message"]["content"], reply["content"]);
    assert_eq!(last["message"]["status"], "COMPLETED");
}

async fn conversation_round_trip(app: &TestApp) {
    let token = app.sign_up("acme").await;
    let (team, role) = team_with_agent(app, &token, "100").await;
    let conversation = start(app, &token, &role, "Roadmap").await;
    let id = conversation["id"].as_str().unwrap().to_string();
    assert_eq!(conversation["title"], "Roadmap");
    assert_eq!(conversation["messageCount"], 0);
    assert_eq!(conversation["role"]["title"], "Strategist");
    assert_eq!(conversation["team"]["id"], team.as_str());
    assert_eq!(conversation["user"]["email"], "admin@acme.example");

    let mut socket = connect(app, "graphql-transport-ws").await;
    subscribe(&mut socket, &token, &id).await;
    let body = say(app, &token, &id, "What should we build first?").await;
    assert!(body.get("errors").is_none(), "{body:#}");
    let sent = &body["data"]["sendMessage"];
    let (message, reply) = (&sent["message"], &sent["reply"]);
    assert_eq!(message["position"], 1);
    assert_eq!(message["role"], "USER");
    assert_eq!(message["content"], "What should we build first?");
    assert_eq!(message["sender"]["email"], "admin@acme.example");
    assert_eq!(reply["position"], 2);
    assert_eq!(reply["role"], "ASSISTANT");
    assert_eq!(reply["status"], "COMPLETED");
    assert_eq!(reply["model"], "gpt-4");
    assert_eq!(reply["finishReason"], "stop");
    assert!(reply["sender"].is_null());
    assert!(reply["errorMessage"].is_null());
    let content = reply["content"].as_str().unwrap();
    assert!(
        content.starts_with("Strategist (expert expertise) on \"What should we build first?\""),
        "{content}"
    );
    let prompt = reply["promptTokens"].as_i64().unwrap();
    let completion = reply["completionTokens"].as_i64().unwrap();
    assert!(prompt > 0 && completion > 0);
    assert_eq!(reply["tokensUsed"].as_i64().unwrap(), prompt + completion);
    // gpt-4: $30 per million prompt tokens, $60 per million completion tokens.
    let expected = (BigDecimal::from(prompt * 30) + BigDecimal::from(completion * 60))
        / BigDecimal::from(1_000_000);
    assert_eq!(
        decimal(&reply["cost"]),
        expected.with_scale_round(4, bigdecimal::RoundingMode::HalfEven)
    );
    assert_eq!(sent["conversation"]["messageCount"], 2);
    assert_eq!(sent["conversation"]["tokensUsed"], reply["tokensUsed"]);
    assert_eq!(sent["conversation"]["cost"], reply["cost"]);
    let events = events_until_stored(&mut socket).await;
    assert_streamed(&events, message, reply);

    // The history goes with the next message: its prompt is longer by the exchange.
    let body = say(app, &token, &id, "And after that?").await;
    let second = &body["data"]["sendMessage"];
    assert_eq!(second["message"]["position"], 3);
    assert_eq!(second["reply"]["position"], 4);
    assert!(
        second["reply"]["promptTokens"].as_i64().unwrap() > prompt + (content.len() as i64) / 4 - 5,
        "the first exchange is in the second prompt: {second:#}"
    );
    let events = events_until_stored(&mut socket).await;
    assert_streamed(&events, &second["message"], &second["reply"]);
    send(&mut socket, json!({ "id": "1", "type": "complete" })).await;

    // History as a connection, oldest first; `last` gives the newest.
    let data = app
        .data(
            Some(&token),
            "query($id: ID!) { conversation(id: $id) { messageCount tokensUsed cost \
               all: messages(first: 10) { totalCount nodes { position role } pageInfo { hasNextPage } } \
               newest: messages(last: 1) { nodes { id content } pageInfo { hasPreviousPage } } } }",
            json!({ "id": id }),
        )
        .await;
    let stored = &data["conversation"];
    assert_eq!(stored["all"]["totalCount"], 4);
    assert_eq!(
        stored["all"]["nodes"],
        json!([{ "position": 1, "role": "USER" }, { "position": 2, "role": "ASSISTANT" },
               { "position": 3, "role": "USER" }, { "position": 4, "role": "ASSISTANT" }])
    );
    assert_eq!(stored["newest"]["nodes"][0]["id"], second["reply"]["id"]);
    assert_eq!(stored["newest"]["pageInfo"]["hasPreviousPage"], true);
    let total_cost = decimal(&reply["cost"]) + decimal(&second["reply"]["cost"]);
    assert_eq!(decimal(&stored["cost"]), total_cost);
    let total_tokens =
        reply["tokensUsed"].as_i64().unwrap() + second["reply"]["tokensUsed"].as_i64().unwrap();
    assert_eq!(stored["tokensUsed"], total_tokens);

    // Charged to the team and to the ledger, exactly.
    let data = app
        .data(
            Some(&token),
            "query($id: ID!, $from: DateTime!, $to: DateTime!) { team(id: $id) { currentSpend } \
               usage(from: $from, to: $to, groupBy: UNIT) { tokens agentRuns totalCost } }",
            json!({ "id": team, "from": chrono::Utc::now() - chrono::Duration::days(1),
                    "to": chrono::Utc::now() + chrono::Duration::days(1) }),
        )
        .await;
    assert_eq!(decimal(&data["team"]["currentSpend"]), total_cost);
    assert_eq!(
        data["usage"],
        json!({ "tokens": total_tokens, "agentRuns": 0,
                "totalCost": format!("{}", total_cost.with_scale(4)) })
    );

    // Listed, renamed, deleted: each audited.
    let data = app
        .data(
            Some(&token),
            "{ conversations { totalCount nodes { id title messageCount } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        data["conversations"]["nodes"],
        json!([{ "id": id, "title": "Roadmap", "messageCount": 4 }])
    );
    let data = app
        .data(
            Some(&token),
            "mutation($input: UpdateConversationInput!) { updateConversation(input: $input) { conversation { title } } }",
            json!({ "input": { "id": id, "title": "Roadmap 2027" } }),
        )
        .await;
    assert_eq!(
        data["updateConversation"]["conversation"]["title"],
        "Roadmap 2027"
    );
    let data = app
        .data(
            Some(&token),
            "mutation($input: DeleteConversationInput!) { deleteConversation(input: $input) { deletedConversationId } }",
            json!({ "input": { "id": id } }),
        )
        .await;
    assert_eq!(data["deleteConversation"]["deletedConversationId"], id);
    let body = app
        .gql(
            Some(&token),
            "query($id: ID!) { conversation(id: $id) { id } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(error_code(&body), "NOT_FOUND");
    assert_eq!(
        app.audit_actions(&token, "conversation").await,
        [
            "conversation.delete",
            "conversation.message",
            "conversation.message",
            "conversation.start",
            "conversation.update"
        ]
    );
}

async fn access_and_refusals(app: &TestApp) {
    let admin = app.sign_up("acme").await;
    let org = app.organization_id(&admin).await;
    let mia = app.add_user(org, "mia", OrgRole::Member).await;
    let max = app.add_user(org, "max", OrgRole::Member).await;
    let vera = app.add_user(org, "vera", OrgRole::Viewer).await;
    let (_, role) = team_with_agent(app, &admin, "100").await;

    // A viewer reads but does not talk to agents.
    let body = app
        .gql(
            Some(&vera),
            START,
            json!({ "input": { "roleId": role, "title": "Hi" } }),
        )
        .await;
    assert_eq!(error_code(&body), "FORBIDDEN");
    assert_eq!(
        body["errors"][0]["extensions"]["permission"],
        "conversations.use"
    );

    // A member's conversation is theirs: others see nothing of it, an admin reads it
    // but does not speak in it.
    let conversation = start(app, &mia, &role, "Mia's").await;
    let id = conversation["id"].as_str().unwrap();
    let body = say(app, &mia, id, "Hello").await;
    assert!(body.get("errors").is_none(), "{body:#}");
    let body = app
        .gql(
            Some(&max),
            "query($id: ID!) { conversation(id: $id) { id } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(error_code(&body), "NOT_FOUND");
    assert_eq!(error_code(&say(app, &max, id, "Sneaky").await), "NOT_FOUND");
    let mia_id = app.user_id(&mia).await;
    let data = app
        .data(
            Some(&max),
            "query($user: ID) { conversations(filter: { userId: $user }) { totalCount } mine: conversations { totalCount } }",
            json!({ "user": mia_id }),
        )
        .await;
    assert_eq!(data["conversations"]["totalCount"], 0);
    assert_eq!(data["mine"]["totalCount"], 0);
    let data = app
        .data(
            Some(&admin),
            "query($id: ID!, $user: ID) { conversation(id: $id) { messageCount user { username } } \
               conversations(filter: { userId: $user }) { totalCount } }",
            json!({ "id": id, "user": mia_id }),
        )
        .await;
    assert_eq!(data["conversation"]["messageCount"], 2);
    assert_eq!(data["conversation"]["user"]["username"], "mia");
    assert_eq!(data["conversations"]["totalCount"], 1);
    let body = say(app, &admin, id, "Admin here").await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT");
    assert_eq!(error_field(&body), "conversationId");

    // An empty message, and one too long.
    let body = say(app, &mia, id, "   ").await;
    assert_eq!(error_field(&body), "content");
    let body = say(app, &mia, id, &"x".repeat(32_001)).await;
    assert_eq!(error_field(&body), "content");

    // A reply whose estimate does not fit the team's budget is refused before
    // anything is stored.
    let (_, thrifty) = team_with_agent(app, &admin, "0.01").await;
    let poor = start(app, &admin, &thrifty, "Poor").await;
    let poor_id = poor["id"].as_str().unwrap();
    let body = say(app, &admin, poor_id, "Expensive question").await;
    assert_eq!(error_code(&body), "BUDGET_EXCEEDED");
    let data = app
        .data(
            Some(&admin),
            "query($id: ID!) { conversation(id: $id) { messageCount messages { totalCount } } }",
            json!({ "id": poor_id }),
        )
        .await;
    assert_eq!(data["conversation"]["messageCount"], 0);
    assert_eq!(data["conversation"]["messages"]["totalCount"], 0);

    // An inactive role is not talked to; a removed one leaves the history readable.
    app.data(
        Some(&admin),
        "mutation($input: UpdateRoleInput!) { updateRole(input: $input) { role { isActive } } }",
        json!({ "input": { "id": role, "isActive": false } }),
    )
    .await;
    let body = say(app, &mia, id, "Still there?").await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT");
    assert_eq!(error_field(&body), "roleId");
    let body = app
        .gql(Some(&mia), START, json!({ "input": { "roleId": role } }))
        .await;
    assert_eq!(error_field(&body), "roleId");
    app.data(
        Some(&admin),
        "mutation($input: RemoveRoleInput!) { removeRole(input: $input) { removedRoleId } }",
        json!({ "input": { "id": role } }),
    )
    .await;
    let data = app
        .data(
            Some(&mia),
            "query($id: ID!) { conversation(id: $id) { role { id } messages { nodes { role } } } }",
            json!({ "id": id }),
        )
        .await;
    assert!(data["conversation"]["role"].is_null());
    assert_eq!(
        data["conversation"]["messages"]["nodes"],
        json!([{ "role": "USER" }, { "role": "ASSISTANT" }])
    );
    let body = say(app, &mia, id, "Hello again").await;
    assert_eq!(error_field(&body), "conversationId");

    // A refused send is audited as such.
    let data = app
        .data(
            Some(&admin),
            "{ auditLogs(first: 100, filter: { resourceType: \"conversation\" }) { nodes { action success } } }",
            json!({}),
        )
        .await;
    let rows = data["auditLogs"]["nodes"].as_array().unwrap();
    assert!(rows.contains(&json!({ "action": "conversation.message", "success": false })));
    assert!(rows.contains(&json!({ "action": "conversation.message", "success": true })));
}

/// A subscriber on another gateway of the same database sees the reply stream (on
/// PostgreSQL through NOTIFY; SQLite databases are not shared between processes, so
/// there the second gateway is the same one).
async fn second_gateway_hears_the_stream(app: &TestApp) {
    let token = app.sign_up("acme").await;
    let (_, role) = team_with_agent(app, &token, "100").await;
    let conversation = start(app, &token, &role, "Shared").await;
    let id = conversation["id"].as_str().unwrap().to_string();
    let second = match app.db.backend {
        common::Backend::Postgres => Some(
            gateway::server::start(&app.config)
                .await
                .expect("a second gateway starts"),
        ),
        common::Backend::Sqlite => None,
    };
    let base = second
        .as_ref()
        .map(|s| format!("http://{}", s.addr))
        .unwrap_or_else(|| app.base.clone());
    let mut socket = connect_url(&format!("{base}/graphql"), "graphql-transport-ws").await;
    subscribe(&mut socket, &token, &id).await;
    // Give the second gateway's listener time to connect (it starts with the server).
    tokio::time::sleep(std::time::Duration::from_millis(1000)).await;
    let body = say(app, &token, &id, "Are you there?").await;
    let sent = &body["data"]["sendMessage"];
    let events = events_until_stored(&mut socket).await;
    assert_streamed(&events, &sent["message"], &sent["reply"]);
    if let Some(second) = second {
        second.stop().await.expect("the second gateway stops");
    }
}
