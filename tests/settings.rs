//! Organization settings: typed values checked against their type, secrets sealed and
//! never shown, per-organization, permission-checked and audited.

mod common;

use common::{TestApp, error_code, error_field};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use gateway::auth::permissions::OrgRole;
use gateway::db::schema::organization_settings;
use serde_json::{Value, json};

const SET: &str = "mutation($input: SetOrganizationSettingInput!) { setOrganizationSetting(input: $input) { \
    setting { key dataType value masked description category updatedBy { email } } } }";

const LIST: &str = "query($category: String) { organizationSettings(category: $category) { \
    key dataType value masked category } }";

async fn set(app: &TestApp, token: &str, input: Value) -> Value {
    app.gql(Some(token), SET, json!({ "input": input })).await
}

async fn typed_settings_and_sealed_secrets(app: &TestApp) {
    let admin = app.sign_up("acme").await;
    let other = app.sign_up("globex").await;
    for (key, data_type, value) in [
        ("ui.theme", "STRING", json!("dark")),
        ("runs.max_parallel", "INT", json!(4)),
        ("runs.auto_retry", "BOOL", json!(true)),
        ("ui.layout", "JSON", json!({ "columns": [1, 2] })),
    ] {
        let body = set(
            app,
            &admin,
            json!({ "key": key, "dataType": data_type, "value": value, "category": "ui",
                    "description": "set by the test" }),
        )
        .await;
        let setting = &body["data"]["setOrganizationSetting"]["setting"];
        assert_eq!(setting["value"], value, "{body:#}");
        assert_eq!(setting["masked"], Value::Null);
        assert_eq!(setting["updatedBy"]["email"], "admin@acme.example");
    }
    let secret = set(
        app,
        &admin,
        json!({ "key": "openai.api_key", "dataType": "ENCRYPTED", "value": "sk-very-secret",
                "category": "agents" }),
    )
    .await;
    let stored = &secret["data"]["setOrganizationSetting"]["setting"];
    assert_eq!(stored["value"], Value::Null, "{secret:#}");
    assert_eq!(stored["masked"], "********");
    assert!(!secret.to_string().contains("sk-very-secret"));

    // Values must fit their type; keys their form.
    for (input, field) in [
        (
            json!({ "key": "runs.max_parallel", "dataType": "INT", "value": "four" }),
            "value",
        ),
        (
            json!({ "key": "runs.auto_retry", "dataType": "BOOL", "value": 1 }),
            "value",
        ),
        (
            json!({ "key": "Bad Key", "dataType": "STRING", "value": "x" }),
            "key",
        ),
    ] {
        let wrong = set(app, &admin, input).await;
        assert_eq!(
            (error_code(&wrong), error_field(&wrong)),
            ("BAD_USER_INPUT", field)
        );
    }

    // Replacing keeps the description and category unless given.
    let replaced = set(
        app,
        &admin,
        json!({ "key": "ui.theme", "dataType": "STRING", "value": "light" }),
    )
    .await;
    let replaced = &replaced["data"]["setOrganizationSetting"]["setting"];
    assert_eq!(replaced["value"], "light");
    assert_eq!(replaced["description"], "set by the test");
    assert_eq!(replaced["category"], "ui");

    let ui = app
        .data(Some(&admin), LIST, json!({ "category": "ui" }))
        .await;
    let keys: Vec<&str> = ui["organizationSettings"]
        .as_array()
        .expect("settings")
        .iter()
        .map(|s| s["key"].as_str().expect("key"))
        .collect();
    assert_eq!(
        keys,
        [
            "runs.auto_retry",
            "runs.max_parallel",
            "ui.layout",
            "ui.theme"
        ]
    );
    let all = app.data(Some(&admin), LIST, json!({})).await;
    assert_eq!(
        all["organizationSettings"].as_array().map(Vec::len),
        Some(5)
    );

    // Stored sealed: the database holds no plaintext.
    let org = app.organization_id(&admin).await;
    let mut pooled = app.state.pool.get().await.expect("connection");
    let raw: String = gateway::dispatch!(&mut pooled.conn(), |c| organization_settings::table
        .filter(organization_settings::organization_id.eq(org))
        .filter(organization_settings::key.eq("openai.api_key"))
        .select(organization_settings::value)
        .first(c)
        .await)
    .expect("stored secret");
    drop(pooled);
    assert!(
        raw.starts_with("v1:") && !raw.contains("sk-very-secret"),
        "{raw}"
    );

    // Another organization sees none of it; only organization.manage changes settings.
    let theirs = app.data(Some(&other), LIST, json!({})).await;
    assert_eq!(theirs["organizationSettings"], json!([]));
    let missing = app
        .gql(
            Some(&other),
            "{ organizationSetting(key: \"ui.theme\") { key } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&missing), "NOT_FOUND");
    let manager = app.add_user(org, "max", OrgRole::Manager).await;
    let denied = set(
        app,
        &manager,
        json!({ "key": "ui.theme", "dataType": "STRING", "value": "x" }),
    )
    .await;
    assert_eq!(error_code(&denied), "FORBIDDEN");
    let seen = app
        .data(
            Some(&manager),
            "{ organizationSetting(key: \"openai.api_key\") { value masked } }",
            json!({}),
        )
        .await;
    assert_eq!(
        seen["organizationSetting"],
        json!({ "value": null, "masked": "********" })
    );

    let deleted = app
        .data(
            Some(&admin),
            "mutation { deleteOrganizationSetting(input: { key: \"ui.layout\" }) { deletedKey } }",
            json!({}),
        )
        .await;
    assert_eq!(
        deleted["deleteOrganizationSetting"]["deletedKey"],
        "ui.layout"
    );
    let again = app
        .gql(
            Some(&admin),
            "mutation { deleteOrganizationSetting(input: { key: \"ui.layout\" }) { deletedKey } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&again), "NOT_FOUND");

    // Every change is audited, secrets masked there too.
    let audit = app
        .data(
            Some(&admin),
            "{ auditLogs(first: 100, filter: { resourceType: \"setting\" }) { nodes { action success newValues } } }",
            json!({}),
        )
        .await;
    let stored = |action: &str| {
        audit["auditLogs"]["nodes"]
            .as_array()
            .expect("audit rows")
            .iter()
            .filter(|n| n["action"] == action && n["success"] == true)
            .count()
    };
    assert_eq!(stored("setting.set"), 6, "{audit:#}");
    assert_eq!(stored("setting.delete"), 1);
    assert!(!audit.to_string().contains("sk-very-secret"), "{audit:#}");
}

backend_tests! {
    settings => typed_settings_and_sealed_secrets;
}
