//! Persisted documents: automatic persisted queries (Apollo APQ) and the
//! trusted-documents mode.

mod common;

use common::{TestApp, error_code};
use gateway::auth::permissions::OrgRole;
use gateway::config::Limits;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const VIEWER: &str = "query Viewer { viewer { organization { slug } } }";
const SIGN_UP: &str = "mutation($input: SignUpInput!) { signUp(input: $input) { token } }";

fn sha256(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

fn persisted(hash: &str) -> Value {
    json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } })
}

async fn apq_registers_then_serves_by_hash(app: &TestApp) {
    let token = app.sign_up("apq").await;
    let hash = sha256(VIEWER);
    // Unknown hash: the client is told to send the document.
    let body = app
        .post(Some(&token), json!({ "extensions": persisted(&hash) }))
        .await;
    assert_eq!(error_code(&body), "PERSISTED_QUERY_NOT_FOUND");
    assert_eq!(body["errors"][0]["message"], "PersistedQueryNotFound");
    // Document and hash: it runs, and is kept.
    let body = app
        .post(
            Some(&token),
            json!({ "query": VIEWER, "extensions": persisted(&hash) }),
        )
        .await;
    assert_eq!(body["data"]["viewer"]["organization"]["slug"], "apq");
    // The hash alone now, over POST and GET.
    let body = app
        .post(Some(&token), json!({ "extensions": persisted(&hash) }))
        .await;
    assert_eq!(
        body["data"]["viewer"]["organization"]["slug"], "apq",
        "{body:#}"
    );
    let response = app
        .client
        .get(app.url("/graphql"))
        .query(&[("extensions", persisted(&hash).to_string())])
        .bearer_auth(&token)
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(
        body["data"]["viewer"]["organization"]["slug"], "apq",
        "{body:#}"
    );

    // A hash that is not the document's.
    let body = app
        .post(
            Some(&token),
            json!({ "query": "{ viewer { user { id } } }", "extensions": persisted(&hash) }),
        )
        .await;
    assert_eq!(error_code(&body), "PERSISTED_QUERY_HASH_MISMATCH");
    assert!(body.get("data").is_none_or(Value::is_null));
    // Another version of the protocol.
    let body = app
        .post(
            Some(&token),
            json!({ "extensions": { "persistedQuery": { "version": 2, "sha256Hash": hash } } }),
        )
        .await;
    assert_eq!(error_code(&body), "PERSISTED_QUERY_NOT_SUPPORTED");

    // A persisted mutation still may not run over GET.
    let rename =
        "mutation { updateOrganization(input: { name: \"Renamed\" }) { organization { name } } }";
    let rename_hash = sha256(rename);
    let body = app
        .post(
            Some(&token),
            json!({ "query": rename, "extensions": persisted(&rename_hash) }),
        )
        .await;
    assert!(body.get("errors").is_none(), "{body:#}");
    let response = app
        .client
        .get(app.url("/graphql"))
        .query(&[("extensions", persisted(&rename_hash).to_string())])
        .bearer_auth(&token)
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 405);
}

fn no_apq() -> Limits {
    Limits {
        apq_cache_entries: 0,
        ..Limits::default()
    }
}

async fn apq_can_be_switched_off(app: &TestApp) {
    let token = app.sign_up("noapq").await;
    let hash = sha256(VIEWER);
    let body = app
        .post(
            Some(&token),
            json!({ "query": VIEWER, "extensions": persisted(&hash) }),
        )
        .await;
    assert_eq!(body["data"]["viewer"]["organization"]["slug"], "noapq");
    let body = app
        .post(Some(&token), json!({ "extensions": persisted(&hash) }))
        .await;
    assert_eq!(error_code(&body), "PERSISTED_QUERY_NOT_SUPPORTED");
}

/// A manifest in Apollo's format with the sign-up mutation and the viewer query.
fn trusted() -> Limits {
    let dir = std::env::temp_dir().join(format!("trusted-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("manifest.json");
    let operations: Vec<Value> = [SIGN_UP, VIEWER]
        .iter()
        .map(|body| json!({ "id": sha256(body), "body": body, "name": "op", "type": "query" }))
        .collect();
    let manifest = json!({ "format": "apollo-persisted-query-manifest", "version": 1, "operations": operations });
    std::fs::write(&path, manifest.to_string()).expect("manifest written");
    Limits {
        trusted_documents: Some(path),
        ..Limits::default()
    }
}

async fn only_trusted_documents_run(app: &TestApp) {
    // Sign-up is in the manifest, so anyone may create an organization.
    let admin = app.sign_up("trusted").await;
    let organization = app.organization_id(&admin).await;
    let viewer = app.add_user(organization, "reader", OrgRole::Viewer).await;

    // Not in the manifest: refused for anyone but an admin.
    for token in [Some(viewer.as_str()), None] {
        let body = app
            .post(token, json!({ "query": "{ viewer { user { id } } }" }))
            .await;
        assert_eq!(error_code(&body), "PERSISTED_QUERY_NOT_IN_LIST", "{body:#}");
        assert_eq!(
            body["errors"][0]["extensions"]["limit"],
            "TRUSTED_DOCUMENTS"
        );
        assert!(body.get("data").is_none_or(Value::is_null));
    }
    let body = app
        .post(
            Some(&admin),
            json!({ "query": "{ viewer { user { id } } }" }),
        )
        .await;
    assert!(
        body.get("errors").is_none(),
        "admins run anything: {body:#}"
    );
    // Run by an admin, the document is kept parsed: still refused for the others.
    let body = app
        .post(
            Some(&viewer),
            json!({ "query": "{ viewer { user { id } } }" }),
        )
        .await;
    assert_eq!(error_code(&body), "PERSISTED_QUERY_NOT_IN_LIST", "{body:#}");

    // In the manifest: by its exact text, or by its hash alone.
    let body = app.post(Some(&viewer), json!({ "query": VIEWER })).await;
    assert_eq!(
        body["data"]["viewer"]["organization"]["slug"], "trusted",
        "{body:#}"
    );
    let body = app
        .post(
            Some(&viewer),
            json!({ "extensions": persisted(&sha256(VIEWER)) }),
        )
        .await;
    assert_eq!(
        body["data"]["viewer"]["organization"]["slug"], "trusted",
        "{body:#}"
    );
    // An admin's document registered by APQ is not thereby trusted for others.
    let other = "{ viewer { organization { id } } }";
    let body = app
        .post(
            Some(&admin),
            json!({ "query": other, "extensions": persisted(&sha256(other)) }),
        )
        .await;
    assert!(body.get("errors").is_none(), "{body:#}");
    let body = app
        .post(
            Some(&viewer),
            json!({ "extensions": persisted(&sha256(other)) }),
        )
        .await;
    assert_eq!(error_code(&body), "PERSISTED_QUERY_NOT_IN_LIST", "{body:#}");

    // Over WebSocket too.
    let mut socket =
        common::ws::subscribed(app, &viewer, "subscription { teamsChanged { kind } }").await;
    let message = common::ws::next(&mut socket).await;
    assert_eq!(message["type"], "next", "{message:#}");
    assert_eq!(
        message["payload"]["errors"][0]["extensions"]["code"],
        "PERSISTED_QUERY_NOT_IN_LIST"
    );
}

backend_tests! {
    apq => apq_registers_then_serves_by_hash;
}

backend_tests! {
    limits = super::no_apq();
    apq_off => apq_can_be_switched_off;
}

backend_tests! {
    limits = super::trusted();
    trusted_documents => only_trusted_documents_run;
}
