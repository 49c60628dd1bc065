//! GraphQL over HTTP: methods, content types, limits, the playground, health probes.

mod common;

use common::{TestApp, error_code};
use serde_json::{Value, json};

async fn get_runs_queries_and_refuses_mutations(app: &TestApp) {
    let token = app.sign_up("acme").await;
    let response = app
        .client
        .get(app.url("/graphql"))
        .query(&[("query", "{ viewer { organization { slug } } }")])
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["data"]["viewer"]["organization"]["slug"], "acme");

    let response = app
        .client
        .get(app.url("/graphql"))
        .query(&[(
            "query",
            "mutation { deleteTeam(input: {id: \"x\"}) { deletedTeamId } }",
        )])
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "GET, POST");
    let body: Value = response.json().await.unwrap();
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("POST")
    );

    // The operation named by operationName decides.
    let response = app
        .client
        .get(app.url("/graphql"))
        .query(&[
            ("query", "query Q { viewer { user { id } } } mutation M { login(input: {email: \"a@b.c\", password: \"x\"}) { token } }"),
            ("operationName", "M"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
}

async fn bad_requests_get_clear_errors(app: &TestApp) {
    let post = |body: &'static str, content_type: &'static str| {
        app.client
            .post(app.url("/graphql"))
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let response = post("{not json", "application/json").await.unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(error_code(&body), "BAD_REQUEST");

    let response = post("{ viewer { user { id } } }", "text/plain")
        .await
        .unwrap();
    assert_eq!(response.status(), 415);

    let response = post(r#"{"query": "{ teams { "}"#, "application/json")
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(error_code(&body), "GRAPHQL_PARSE_FAILED");

    let response = post(r#"{"query": "{ noSuchField }"}"#, "application/json")
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    assert_eq!(error_code(&body), "GRAPHQL_VALIDATION_FAILED");

    // With the GraphQL response media type, a request that cannot run is a 400.
    let response = app
        .client
        .post(app.url("/graphql"))
        .header("accept", "application/graphql-response+json")
        .json(&json!({ "query": "{ noSuchField }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(
        response.headers()["content-type"],
        "application/graphql-response+json"
    );

    let huge = format!(
        r#"{{"query": "{{ viewer {{ user {{ id }} }} }}", "pad": "{}"}}"#,
        "x".repeat(3 * 1024 * 1024)
    );
    // Its own client: the server closes a connection whose oversized body it did not read.
    let response = reqwest::Client::new()
        .post(app.url("/graphql"))
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);

    let deep = format!(
        "{{ {}id{} }}",
        "viewer { organization { teams { edges { node { owner { organization { ".repeat(3),
        " } } } } } } }".repeat(3)
    );
    let body = app.gql(None, &deep, json!({})).await;
    assert_eq!(
        error_code(&body),
        "GRAPHQL_VALIDATION_FAILED",
        "depth limit: {body}"
    );

    // Batches run every operation.
    let response = app
        .client
        .post(app.url("/graphql"))
        .json(&json!([{ "query": "{ __typename }" }, { "query": "{ __schema { queryType { name } } }" }]))
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body[0]["data"]["__typename"], "Query");
    assert_eq!(body[1]["data"]["__schema"]["queryType"]["name"], "Query");
}

async fn playground_and_probes(app: &TestApp) {
    for path in ["/", "/graphql"] {
        let response = app
            .client
            .get(app.url(path))
            .header("accept", "text/html")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let html = response.text().await.unwrap();
        assert!(html.contains("graphiql"), "{path} serves GraphiQL");
    }
    let response = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let response = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers().contains_key("x-request-id"),
        "every response carries a request id"
    );
    // A client's own request id is kept when it is fit for logs, replaced when not.
    let response = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "client-42")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "client-42");
    let long = "x".repeat(200);
    let response = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", &long)
        .send()
        .await
        .unwrap();
    let replaced = response.headers()["x-request-id"].to_str().unwrap();
    assert!(
        replaced != long && replaced.len() <= 64,
        "replaced: {replaced}"
    );
}

async fn internal_errors_show_a_request_id_and_no_sql(app: &TestApp) {
    use diesel_async::SimpleAsyncConnection;
    let token = app.sign_up("acme").await;
    // Break the database under the running server.
    let mut pooled = app.state.pool.get().await.unwrap();
    let mut conn = pooled.conn();
    gateway::dispatch!(&mut conn, |c| c
        .batch_execute("ALTER TABLE teams RENAME TO teams_gone")
        .await)
    .unwrap();
    drop(pooled);

    let response = app
        .client
        .post(app.url("/graphql"))
        .bearer_auth(&token)
        .json(&json!({ "query": "{ teams { totalCount } }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let header_id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    let body: Value = response.json().await.unwrap();
    assert_eq!(error_code(&body), "INTERNAL_SERVER_ERROR");
    assert_eq!(
        body["errors"][0]["extensions"]["requestId"],
        header_id.as_str(),
        "the id the log line carries"
    );
    let text = body.to_string().to_lowercase();
    for leak in ["teams_gone", "select", "relation", "no such table", "from "] {
        assert!(
            !text.contains(leak),
            "`{leak}` leaked to the client: {body}"
        );
    }
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .starts_with("internal server error")
    );
}

backend_tests! {
    internal_errors => internal_errors_show_a_request_id_and_no_sql;
    get_requests => get_runs_queries_and_refuses_mutations;
    bad_requests => bad_requests_get_clear_errors;
    playground => playground_and_probes;
}
