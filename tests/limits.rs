//! Every limit on a request, crossed: the answer names the limit, and no hostile input
//! (huge documents, deep nesting, fragment cycles, thousands of aliases, bodies that
//! are not UTF-8 or not JSON) crashes the process, stalls it or yields a 5xx. A request
//! past its time answers 504 and leaves no transaction open.

mod common;

use std::time::Duration;

use common::{Backend, TestApp, error_code, test_engine};
use gateway::config::Limits;
use gateway::engine::EngineConfig;
use serde_json::{Value, json};

backend_tests! {
    document_limits_are_named => document_limits;
}

backend_tests! {
    documents_sent_again_answer_alike => documents_sent_again;
}

backend_tests! {
    limits = super::no_document_cache();
    document_cache_can_be_switched_off => document_cache_off;
}

/// The error's code and the limit it names.
fn refusal(body: &Value) -> (String, String) {
    let extensions = &body["errors"][0]["extensions"];
    (
        extensions["code"].as_str().unwrap_or("").to_string(),
        extensions["limit"].as_str().unwrap_or("").to_string(),
    )
}

fn refused(limit: &str) -> (String, String) {
    ("GRAPHQL_VALIDATION_FAILED".to_string(), limit.to_string())
}

async fn post_raw(app: &TestApp, content_type: &str, body: Vec<u8>) -> reqwest::Response {
    // Its own client: the server may close a connection whose body it refused.
    reqwest::Client::new()
        .post(app.url("/graphql"))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .expect("an answer")
}

async fn document_limits(app: &TestApp) {
    let token = app.sign_up("acme").await;
    let token = Some(token.as_str());

    // Tokens: refused before parsing.
    let long = format!("{{ {} }}", "__typename ".repeat(16_000));
    assert_eq!(
        refusal(&app.gql(token, &long, json!({})).await),
        refused("MAX_TOKENS")
    );

    // Aliases.
    let aliased: String = (0..51).map(|i| format!("a{i}: __typename ")).collect();
    let body = app
        .gql(token, &format!("{{ viewer {{ {aliased} }} }}"), json!({}))
        .await;
    assert_eq!(refusal(&body), refused("MAX_ALIASES"));
    assert!(body["data"].is_null(), "nothing runs: {body}");
    let fifty: String = (0..50).map(|i| format!("a{i}: __typename ")).collect();
    let body = app
        .gql(token, &format!("{{ viewer {{ {fifty} }} }}"), json!({}))
        .await;
    assert_eq!(
        body["data"]["viewer"]["a49"], "Viewer",
        "the limit itself is allowed"
    );
    // Ten thousand aliases are refused as cheaply.
    let many: String = (0..10_000).map(|i| format!("a{i}: __typename ")).collect();
    let (code, limit) = refusal(
        &app.gql(token, &format!("{{ viewer {{ {many} }} }}"), json!({}))
            .await,
    );
    assert_eq!(code, "GRAPHQL_VALIDATION_FAILED");
    assert!(
        ["MAX_TOKENS", "MAX_ALIASES"].contains(&limit.as_str()),
        "{limit}"
    );

    // Root fields, through fragments too.
    let roots = "viewer { user { id } } ".repeat(21);
    let body = app.gql(token, &format!("{{ {roots} }}"), json!({})).await;
    assert_eq!(refusal(&body), refused("MAX_ROOT_FIELDS"));
    let body = app
        .gql(
            token,
            &format!("{{ ...F }} fragment F on Query {{ {roots} }}"),
            json!({}),
        )
        .await;
    assert_eq!(refusal(&body), refused("MAX_ROOT_FIELDS"));

    // Complexity grows with the pages asked for: 100 teams x 100 runs is too much,
    // 25 teams x 10 runs (a dashboard's view) is not.
    let nested = |teams: i32, runs: i32| {
        format!(
            "{{ teams(first: {teams}) {{ nodes {{ name runs(first: {runs}) {{ nodes {{ id status cost }} }} }} }} }}"
        )
    };
    let body = app.gql(token, &nested(100, 100), json!({})).await;
    assert_eq!(refusal(&body), refused("MAX_QUERY_COMPLEXITY"));
    let body = app.gql(token, &nested(25, 10), json!({})).await;
    assert!(body.get("errors").is_none(), "{body}");

    // Depth.
    let deep = format!(
        "{{ {}id{} }}",
        "viewer { organization { teams { edges { node { owner { organization { ".repeat(3),
        " } } } } } } }".repeat(3)
    );
    assert_eq!(
        refusal(&app.gql(token, &deep, json!({})).await),
        refused("MAX_QUERY_DEPTH")
    );

    // Deep nesting in the parser: a list value 5,000 levels deep.
    let nested_list = format!(
        "{{ team(id: {}1{}) {{ id }} }}",
        "[".repeat(5_000),
        "]".repeat(5_000)
    );
    let body = app.gql(token, &nested_list, json!({})).await;
    assert_eq!(refusal(&body), refused("MAX_RECURSIVE_DEPTH"));
    // Selections nested thousands deep, even unbalanced.
    let braces = format!("{}{}", "{ a ".repeat(3_000), "}".repeat(3_000));
    let body = app.gql(token, &braces, json!({})).await;
    assert_eq!(refusal(&body), refused("MAX_RECURSIVE_DEPTH"));
    let open = "{ a ".repeat(7_000);
    let body = app.gql(token, &open, json!({})).await;
    assert_eq!(refusal(&body), refused("MAX_RECURSIVE_DEPTH"));

    // Fragment cycles are a validation error, not a hang.
    let cycle = "{ ...A } fragment A on Query { viewer { user { id } } ...B } \
                 fragment B on Query { ...A }";
    assert_eq!(
        error_code(&app.gql(token, cycle, json!({})).await),
        "GRAPHQL_VALIDATION_FAILED"
    );

    // Bodies that are not UTF-8, not JSON, or of another type.
    let response = post_raw(app, "application/json", vec![0xff, 0xfe, b'{', 0x80]).await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(error_code(&body), "BAD_REQUEST");
    let response = post_raw(
        app,
        "application/json",
        b"{\"query\": \"{ __typename \xff }\"}".to_vec(),
    )
    .await;
    assert_eq!(response.status(), 400);
    for content_type in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/xml",
        "",
    ] {
        let response = post_raw(app, content_type, b"query=%7B__typename%7D".to_vec()).await;
        assert_eq!(response.status(), 415, "{content_type}");
    }
    let response = post_raw(app, "application/json", b"[]".to_vec()).await;
    assert_eq!(response.status(), 400, "an empty batch");
    let response = post_raw(app, "application/json", b"{\"query\": 5}".to_vec()).await;
    assert_eq!(response.status(), 400);

    // Still serving.
    let health = reqwest::get(app.url("/healthz")).await.unwrap();
    assert_eq!(health.status(), 200);
    let body = app
        .gql(token, "{ viewer { user { email } } }", json!({}))
        .await;
    assert_eq!(
        body["data"]["viewer"]["user"]["email"],
        "admin@acme.example"
    );
}

/// A request past REQUEST_TIMEOUT_SECONDS: 504 with TIMEOUT; the work it started in
/// its own task (a conversation's reply) still completes; no transaction stays open.
async fn timed_out_requests(backend: Backend) {
    let limits = Limits {
        request_timeout_seconds: 1,
        ..Limits::default()
    };
    let engine = EngineConfig {
        simulated_step_delay_ms: 2_500,
        ..test_engine()
    };
    let Some(app) = TestApp::spawn_configured(backend, limits, engine).await else {
        return;
    };
    let token = app.sign_up("acme").await;
    let data = app
        .data(
            Some(&token),
            "mutation($input: CreateTeamInput!) { createTeam(input: $input) { team { roles { id } } } }",
            json!({ "input": { "name": "Slow", "monthlyBudget": "100", "roles": [
                { "title": "Thinker", "expertise": "SENIOR" }] } }),
        )
        .await;
    let role = data["createTeam"]["team"]["roles"][0]["id"].clone();
    let data = app
        .data(
            Some(&token),
            "mutation($input: StartConversationInput!) { startConversation(input: $input) { conversation { id } } }",
            json!({ "input": { "roleId": role } }),
        )
        .await;
    let id = data["startConversation"]["conversation"]["id"].clone();
    let started = std::time::Instant::now();
    let response = app
        .client
        .post(app.url("/graphql"))
        .bearer_auth(&token)
        .json(&json!({ "query": "mutation($input: SendMessageInput!) { sendMessage(input: $input) { reply { id } } }",
                       "variables": { "input": { "conversationId": id, "content": "Take your time" } } }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 504);
    assert!(
        started.elapsed() < Duration::from_millis(2_400),
        "answered at the limit"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(error_code(&body), "TIMEOUT");

    // The reply is stored once generated.
    let mut count = Value::Null;
    for _ in 0..100 {
        let data = app
            .data(
                Some(&token),
                "query($id: ID!) { conversation(id: $id) { messageCount } }",
                json!({ "id": id }),
            )
            .await;
        count = data["conversation"]["messageCount"].clone();
        if count == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(count, 2, "the reply was stored after the timeout");

    if backend == Backend::Postgres {
        let data = app
            .data(
                Some(&token),
                "mutation($input: UpdateConversationInput!) { updateConversation(input: $input) { conversation { title } } }",
                json!({ "input": { "id": id, "title": "Written after the timeout" } }),
            )
            .await;
        assert_eq!(
            data["updateConversation"]["conversation"]["title"],
            "Written after the timeout"
        );
        use diesel_async::{AsyncConnection, RunQueryDsl};
        let mut conn = diesel_async::AsyncPgConnection::establish(&app.db.url)
            .await
            .expect("connects");
        #[derive(diesel::QueryableByName, Debug)]
        #[expect(dead_code, reason = "shown by the assertion's message")]
        struct Activity {
            #[diesel(sql_type = diesel::sql_types::Text)]
            query: String,
        }
        // Background work (usage writes, the outbox) is briefly between statements at
        // times; a transaction the timeout left open would stay.
        let mut open: Vec<Activity> = Vec::new();
        for _ in 0..20 {
            open = diesel::sql_query(
                "SELECT query FROM pg_stat_activity WHERE datname = current_database() \
                 AND state LIKE 'idle in transaction%'",
            )
            .load(&mut conn)
            .await
            .expect("listed");
            if open.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(open.is_empty(), "no transaction left open: {open:?}");
    }
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_timed_out_requests() {
    timed_out_requests(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_timed_out_requests() {
    timed_out_requests(Backend::Postgres).await;
}

backend_tests! {
    limits = super::tight_rates();
    rates_per_address_user_and_key => rate_limits;
}

/// Five requests a minute per address would stop the set-up itself: the address limit
/// is tested on its own gateway below.
fn tight_rates() -> Limits {
    Limits {
        rate_limit_ip_per_minute: 0,
        rate_limit_user_per_minute: 4,
        rate_limit_api_key_per_minute: 2,
        ..Limits::default()
    }
}

/// The status, `Retry-After` and code of an authenticated `{ __typename }`.
async fn typename(app: &TestApp, header: (&str, &str)) -> (u16, Option<u64>, String) {
    let response = app
        .client
        .post(app.url("/graphql"))
        .header(header.0, header.1)
        .json(&json!({ "query": "{ __typename }" }))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let retry = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let body: Value = response.json().await.unwrap();
    let code = body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or("")
        .to_string();
    (status, retry, code)
}

async fn rate_limits(app: &TestApp) {
    // Sign-up is anonymous: only the address limit (off here) applies to it.
    let admin = app.sign_up("acme").await;
    let org = app.organization_id(&admin).await;
    let mia = app
        .add_user(org, "mia", gateway::auth::permissions::OrgRole::Member)
        .await;
    let bearer = |token: &str| format!("Bearer {token}");

    // The admin's own 4 a minute: the organization lookup above and the key creation
    // below are the first two.
    let body = app
        .data(
            Some(&admin),
            "mutation { createApiKey(input: { name: \"ci\", scopes: [] }) { secret } }",
            json!({}),
        )
        .await;
    let key = body["createApiKey"]["secret"].as_str().unwrap().to_string();
    for _ in 0..2 {
        assert_eq!(
            typename(app, ("authorization", &bearer(&admin))).await.0,
            200
        );
    }
    let (status, retry, code) = typename(app, ("authorization", &bearer(&admin))).await;
    assert_eq!((status, code.as_str()), (429, "RATE_LIMITED"));
    let retry = retry.expect("Retry-After");
    assert!(
        (1..=15).contains(&retry),
        "one request comes back every 15 s: {retry}"
    );

    // Another user, and the admin's API key, have buckets of their own.
    assert_eq!(typename(app, ("authorization", &bearer(&mia))).await.0, 200);
    for _ in 0..2 {
        assert_eq!(typename(app, ("x-api-key", &key)).await.0, 200);
    }
    let (status, retry, code) = typename(app, ("x-api-key", &key)).await;
    assert_eq!((status, code.as_str()), (429, "RATE_LIMITED"));
    assert!(retry.is_some_and(|s| (1..=30).contains(&s)));
}

/// The address limit counts anonymous requests too.
async fn address_limit(backend: Backend) {
    let limits = Limits {
        rate_limit_ip_per_minute: 3,
        ..Limits::default()
    };
    let Some(app) = TestApp::spawn_with(backend, limits).await else {
        return;
    };
    for _ in 0..3 {
        let body = app.gql(None, "{ __typename }", json!({})).await;
        assert_eq!(body["data"]["__typename"], "Query");
    }
    let (status, retry, code) = typename(&app, ("x-unused", "")).await;
    assert_eq!((status, code.as_str()), (429, "RATE_LIMITED"));
    assert!(retry.is_some_and(|s| (1..=20).contains(&s)));
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_address_limit() {
    address_limit(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_address_limit() {
    address_limit(Backend::Postgres).await;
}

/// Past MAX_CONCURRENT_REQUESTS a request is answered 503 at once, not queued.
async fn concurrency_limit(backend: Backend) {
    let limits = Limits {
        max_concurrent_requests: 1,
        ..Limits::default()
    };
    let Some(app) = with_slow_agent(backend, limits, 1_500).await else {
        return;
    };
    let token = app.sign_up("acme").await;
    let slow = slow_reply(&app, &token).await;
    let quick = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let started = std::time::Instant::now();
        let answer = typename(&app, ("authorization", &format!("Bearer {token}"))).await;
        (answer, started.elapsed())
    };
    let (slow, ((status, retry, code), waited)) = tokio::join!(slow, quick);
    assert_eq!((status, code.as_str()), (503, "SERVICE_UNAVAILABLE"));
    assert_eq!(retry, Some(1));
    assert!(
        waited < Duration::from_millis(500),
        "refused at once: {waited:?}"
    );
    assert_eq!(slow["data"]["sendMessage"]["reply"]["status"], "COMPLETED");
    // Served again once the slow one is done.
    assert_eq!(
        typename(&app, ("authorization", &format!("Bearer {token}")))
            .await
            .0,
        200
    );
    app.finish().await;
}

/// A gateway whose agents take `delay_ms` to answer.
async fn with_slow_agent(backend: Backend, limits: Limits, delay_ms: u64) -> Option<TestApp> {
    let engine = EngineConfig {
        simulated_step_delay_ms: delay_ms,
        ..test_engine()
    };
    TestApp::spawn_configured(backend, limits, engine).await
}

/// A `sendMessage` whose reply takes the engine's step delay (the future waits on it).
async fn slow_reply<'a>(app: &'a TestApp, token: &'a str) -> impl Future<Output = Value> + 'a {
    let data = app
        .data(
            Some(token),
            "mutation($input: CreateTeamInput!) { createTeam(input: $input) { team { roles { id } } } }",
            json!({ "input": { "name": "Slow", "monthlyBudget": "100", "roles": [
                { "title": "Thinker", "expertise": "SENIOR" }] } }),
        )
        .await;
    let role = data["createTeam"]["team"]["roles"][0]["id"].clone();
    let data = app
        .data(
            Some(token),
            "mutation($input: StartConversationInput!) { startConversation(input: $input) { conversation { id } } }",
            json!({ "input": { "roleId": role } }),
        )
        .await;
    let id = data["startConversation"]["conversation"]["id"].clone();
    app.gql(
        Some(token),
        "mutation($input: SendMessageInput!) { sendMessage(input: $input) { reply { status } } }",
        json!({ "input": { "conversationId": id, "content": "Think it over" } }),
    )
}

/// With one query at a time (MAX_CONCURRENT_QUERIES=1), queries sent together wait
/// their turn and are all answered, while a mutation waiting on an agent holds no turn.
async fn queries_take_turns(backend: Backend) {
    let limits = Limits {
        max_concurrent_queries: 1,
        ..Limits::default()
    };
    let Some(app) = with_slow_agent(backend, limits, 3_000).await else {
        return;
    };
    let token = app.sign_up("acme").await;
    let slow = slow_reply(&app, &token).await;
    let queries = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let started = std::time::Instant::now();
        let answers = futures_util::future::join_all((0..12).map(|_| {
            app.gql(
                Some(&token),
                "{ teams { nodes { name roles { title } } } }",
                json!({}),
            )
        }))
        .await;
        (answers, started.elapsed())
    };
    let (slow, (answers, waited)) = tokio::join!(slow, queries);
    for answer in answers {
        assert_eq!(
            answer,
            json!({ "data": { "teams": { "nodes": [{ "name": "Slow", "roles": [{ "title": "Thinker" }] }] } } })
        );
    }
    assert!(
        waited < Duration::from_millis(2_000),
        "the mutation holds no turn: {waited:?}"
    );
    assert_eq!(slow["data"]["sendMessage"]["reply"]["status"], "COMPLETED");
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_queries_take_turns() {
    queries_take_turns(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_queries_take_turns() {
    queries_take_turns(Backend::Postgres).await;
}

/// On PostgreSQL a query can be held open (another session locks the table it reads):
/// while it holds the only turn, even a query that reads nothing waits, and is
/// answered once the held one ends. (SQLite readers cannot be held this way.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_held_turn_makes_queries_wait() {
    use diesel_async::{AsyncConnection, SimpleAsyncConnection};
    let limits = Limits {
        max_concurrent_queries: 1,
        ..Limits::default()
    };
    let Some(app) = TestApp::spawn_with(Backend::Postgres, limits).await else {
        return;
    };
    let token = app.sign_up("acme").await;
    let mut locker = diesel_async::AsyncPgConnection::establish(&app.db.url)
        .await
        .expect("connects");
    locker
        .batch_execute("BEGIN; LOCK TABLE teams IN ACCESS EXCLUSIVE MODE")
        .await
        .expect("locks the teams");
    let held = app.gql(Some(&token), "{ teams { nodes { name } } }", json!({}));
    let waiting = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let started = std::time::Instant::now();
        let answer = app.gql(Some(&token), "{ __typename }", json!({})).await;
        (answer, started.elapsed())
    };
    let release = async {
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        locker.batch_execute("COMMIT").await.expect("unlocks");
    };
    let (held, (answer, waited), ()) = tokio::join!(held, waiting, release);
    assert_eq!(held, json!({ "data": { "teams": { "nodes": [] } } }));
    assert_eq!(answer, json!({ "data": { "__typename": "Query" } }));
    assert!(
        waited >= Duration::from_millis(1_000),
        "answered only once the held query ended: {waited:?}"
    );
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_concurrency_limit() {
    concurrency_limit(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_concurrency_limit() {
    concurrency_limit(Backend::Postgres).await;
}

fn no_introspection() -> Limits {
    Limits {
        introspection: false,
        ..Limits::default()
    }
}

/// With `INTROSPECTION=false` the schema cannot be read through `__schema` or `__type`,
/// over HTTP or WebSocket, while queries (and `__typename`) work as before.
async fn introspection_off(app: &TestApp) {
    let token = app.sign_up("acme").await;
    for query in [
        "{ __schema { queryType { name } } }",
        "{ __type(name: \"Team\") { fields { name } } }",
        "query { ...Schema } fragment Schema on Query { teams { nodes { id } } __type(name: \"Run\") { name } }",
    ] {
        let body = app.gql(Some(&token), query, json!({})).await;
        assert_eq!(body["data"], Value::Null, "{body}");
        assert_eq!(refusal(&body), refused("INTROSPECTION"), "{body}");
    }
    let data = app
        .data(
            Some(&token),
            "{ __typename viewer { user { email } } }",
            json!({}),
        )
        .await;
    assert_eq!(data["__typename"], "Query");
    assert_eq!(data["viewer"]["user"]["email"], "admin@acme.example");

    let mut socket = common::ws::subscribed(app, &token, "{ __schema { types { name } } }").await;
    let message = common::ws::next(&mut socket).await;
    assert_eq!(
        refusal(&message["payload"]),
        refused("INTROSPECTION"),
        "{message}"
    );
}

backend_tests! {
    limits = super::no_introspection();
    introspection_can_be_switched_off => introspection_off;
}

/// Lookups of the parsed-document cache so far: (hits, misses).
async fn cache_lookups(app: &TestApp) -> (f64, f64) {
    let text = common::scrape(app).await;
    let count = |result: &str| {
        let series = format!("gateway_document_cache_lookups_total{{result=\"{result}\"}}");
        common::sample(&text, &series).unwrap_or_else(|| panic!("{series} in {text}"))
    };
    (count("hit"), count("miss"))
}

const TWO_OPERATIONS: &str = "query Me($brief: Boolean!) { viewer { user { fullName email @skip(if: $brief) } } } \
    query Org { viewer { organization { slug } } }";

/// A document sent again is not parsed again, and answers as if it were: by each
/// request's variables and operation name, within the limits.
async fn documents_sent_again(app: &TestApp) {
    let token = app.sign_up("acme").await;
    let token = Some(token.as_str());
    let (hits, misses) = cache_lookups(app).await;

    // Execution drops what `@skip` rules out: each request has its own copy.
    for brief in [false, true, false] {
        let body = app
            .post(
                token,
                json!({ "query": TWO_OPERATIONS, "operationName": "Me", "variables": { "brief": brief } }),
            )
            .await;
        let user = &body["data"]["viewer"]["user"];
        assert_eq!(user["fullName"], "Admin", "{body}");
        if brief {
            assert!(user.get("email").is_none(), "{body}");
        } else {
            assert_eq!(user["email"], "admin@acme.example", "{body}");
        }
    }
    let body = app
        .post(
            token,
            json!({ "query": TWO_OPERATIONS, "operationName": "Org" }),
        )
        .await;
    assert_eq!(
        body["data"]["viewer"]["organization"]["slug"], "acme",
        "{body}"
    );
    assert_eq!(
        cache_lookups(app).await,
        (hits + 3.0, misses + 1.0),
        "parsed once, found three times"
    );

    // The cache serves every organization: each still reads its own.
    let other = app.sign_up("globex").await;
    let body = app
        .post(
            Some(&other),
            json!({ "query": TWO_OPERATIONS, "operationName": "Org" }),
        )
        .await;
    assert_eq!(
        body["data"]["viewer"]["organization"]["slug"], "globex",
        "{body}"
    );
    let (hits, misses) = cache_lookups(app).await;

    // A document holding a string value is parsed every time: kept, a faster answer
    // would tell another caller that it had been sent.
    for _ in 0..2 {
        let data = app
            .data(token, r#"{ __type(name: "Team") { name } }"#, json!({}))
            .await;
        assert_eq!(data["__type"]["name"], "Team");
    }
    assert_eq!(cache_lookups(app).await, (hits, misses + 2.0));

    // A document refused by a limit is not kept: refused every time.
    let aliased: String = (0..51).map(|i| format!("a{i}: __typename ")).collect();
    let aliased = format!("{{ viewer {{ {aliased} }} }}");
    for _ in 0..2 {
        let body = app.gql(token, &aliased, json!({})).await;
        assert_eq!(refusal(&body), refused("MAX_ALIASES"));
    }
    // Kept documents still pass the schema's own checks on every request.
    for _ in 0..2 {
        let body = app.gql(token, "{ nope }", json!({})).await;
        assert_eq!(error_code(&body), "GRAPHQL_VALIDATION_FAILED", "{body}");
    }
    assert_eq!(cache_lookups(app).await, (hits + 1.0, misses + 5.0));
}

fn no_document_cache() -> Limits {
    Limits {
        document_cache_entries: 0,
        ..Limits::default()
    }
}

/// `DOCUMENT_CACHE_ENTRIES=0`: every request parses its document, and answers alike.
async fn document_cache_off(app: &TestApp) {
    let token = app.sign_up("acme").await;
    for brief in [false, true] {
        let body = app
            .post(
                Some(&token),
                json!({ "query": TWO_OPERATIONS, "operationName": "Me", "variables": { "brief": brief } }),
            )
            .await;
        assert_eq!(
            body["data"]["viewer"]["user"]["fullName"], "Admin",
            "{body}"
        );
        assert_eq!(
            body["data"]["viewer"]["user"].get("email").is_none(),
            brief,
            "{body}"
        );
    }
    assert_eq!(cache_lookups(app).await, (0.0, 0.0));
}
