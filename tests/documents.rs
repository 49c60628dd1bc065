//! Documents: multipart uploads and text given in the mutation, checked and extracted
//! by type, searched in full text (ranked, highlighted, per organization), changed and
//! deleted with audit rows, on both backends.

mod common;

use common::{TestApp, error_code, error_field};
use gateway::auth::permissions::OrgRole;
use serde_json::{Value, json};

const DOCUMENT: &str = "id filename fileType mimeType fileSize sha256 content metadata \
    processingStatus processingError isSearchable uploadedBy { email }";

const UPLOAD: &str = "mutation($input: UploadDocumentInput!) { uploadDocument(input: $input) { \
    document { id filename fileType mimeType fileSize sha256 content metadata \
    processingStatus processingError isSearchable uploadedBy { email } } } }";

const CREATE: &str = "mutation($input: CreateDocumentInput!) { createDocument(input: $input) { \
    document { id filename fileType mimeType fileSize content metadata processingStatus \
    processingError isSearchable } } }";

const SEARCH: &str = "query($q: String!, $type: DocumentFileType, $first: Int) { \
    searchDocuments(query: $q, fileType: $type, first: $first) { rank snippet document { id filename } } }";

const BOUNDARY: &str = "gateway-test-boundary-7MA4YWxkTrZu0gW";

/// A GraphQL multipart request (as the multipart request spec describes) whose
/// `input.file` variable is each file in turn: the content type and the body.
fn multipart(input: Value, files: &[(&str, Option<&str>, &[u8])]) -> (String, Vec<u8>) {
    let mut body = Vec::new();
    let mut part = |headers: &str, content: &[u8]| {
        body.extend_from_slice(format!("--{BOUNDARY}\r\n{headers}\r\n\r\n").as_bytes());
        body.extend_from_slice(content);
        body.extend_from_slice(b"\r\n");
    };
    let operations = json!({ "query": UPLOAD, "variables": { "input": input } });
    part(
        "Content-Disposition: form-data; name=\"operations\"",
        operations.to_string().as_bytes(),
    );
    let map: serde_json::Map<String, Value> = (0..files.len())
        .map(|i| (i.to_string(), json!(["variables.input.file"])))
        .collect();
    part(
        "Content-Disposition: form-data; name=\"map\"",
        Value::Object(map).to_string().as_bytes(),
    );
    for (i, (filename, content_type, content)) in files.iter().enumerate() {
        let mut headers =
            format!("Content-Disposition: form-data; name=\"{i}\"; filename=\"{filename}\"");
        if let Some(content_type) = content_type {
            headers.push_str(&format!("\r\nContent-Type: {content_type}"));
        }
        part(&headers, content);
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={BOUNDARY}"), body)
}

/// Sends a multipart request and returns its status and JSON body.
async fn send_multipart(
    app: &TestApp,
    token: &str,
    content_type: String,
    body: Vec<u8>,
) -> (u16, Value) {
    let response = app
        .client
        .post(app.url("/graphql"))
        .bearer_auth(token)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .expect("request is sent");
    let status = response.status().as_u16();
    (status, response.json().await.expect("JSON body"))
}

/// Uploads one file; returns the response body (asserting HTTP 200).
async fn upload(
    app: &TestApp,
    token: &str,
    filename: &str,
    content_type: Option<&str>,
    content: &[u8],
) -> Value {
    upload_with(
        app,
        token,
        json!({ "file": null }),
        filename,
        content_type,
        content,
    )
    .await
}

async fn upload_with(
    app: &TestApp,
    token: &str,
    input: Value,
    filename: &str,
    content_type: Option<&str>,
    content: &[u8],
) -> Value {
    let (content_type_header, body) = multipart(input, &[(filename, content_type, content)]);
    let (status, body) = send_multipart(app, token, content_type_header, body).await;
    assert_eq!(status, 200, "{body:#}");
    body
}

fn uploaded(body: &Value) -> &Value {
    assert!(body.get("errors").is_none(), "unexpected errors: {body:#}");
    &body["data"]["uploadDocument"]["document"]
}

async fn create(app: &TestApp, token: &str, input: Value) -> Value {
    app.gql(Some(token), CREATE, json!({ "input": input }))
        .await
}

async fn create_ok(app: &TestApp, token: &str, filename: &str, content: &str) -> Value {
    let body = create(
        app,
        token,
        json!({ "filename": filename, "content": content }),
    )
    .await;
    assert!(body.get("errors").is_none(), "unexpected errors: {body:#}");
    body["data"]["createDocument"]["document"].clone()
}

async fn search(app: &TestApp, token: &str, q: &str) -> Vec<Value> {
    let data = app.data(Some(token), SEARCH, json!({ "q": q })).await;
    data["searchDocuments"].as_array().expect("hits").clone()
}

fn names(hits: &[Value]) -> Vec<&str> {
    hits.iter()
        .map(|h| h["document"]["filename"].as_str().expect("filename"))
        .collect()
}

async fn uploads_extract_each_type(app: &TestApp) {
    let admin = app.sign_up("acme").await;

    let text = uploaded(
        &upload_with(
            app,
            &admin,
            json!({ "file": null, "metadata": { "source": "handbook" } }),
            "notes.txt",
            Some("text/plain"),
            b"\xEF\xBB\xBFLaunch notes\nThe rocket is ready.\n",
        )
        .await,
    )
    .clone();
    assert_eq!(text["filename"], "notes.txt");
    assert_eq!(text["fileType"], "TXT");
    assert_eq!(text["mimeType"], "text/plain");
    assert_eq!(text["fileSize"], 37, "the size is the file's, BOM included");
    assert_eq!(text["content"], "Launch notes\nThe rocket is ready.\n");
    assert_eq!(text["processingStatus"], "COMPLETED");
    assert_eq!(text["processingError"], Value::Null);
    assert_eq!(text["isSearchable"], true);
    assert_eq!(text["uploadedBy"]["email"], "admin@acme.example");
    assert_eq!(text["sha256"].as_str().map(str::len), Some(64));
    assert_eq!(
        text["metadata"],
        json!({ "lines": 2, "words": 6, "characters": 34, "custom": { "source": "handbook" } })
    );

    // Markdown: markup gone, the first heading is the title. The declared
    // `application/octet-stream` says nothing; the extension decides.
    let markdown = uploaded(
        &upload(
            app,
            &admin,
            "plan.md",
            Some("application/octet-stream"),
            b"# Launch plan\n\nFuel the **rocket**, read [the checklist](https://x.test/c).\n\n## Steps\n\n- `ignite`\n",
        )
        .await,
    )
    .clone();
    assert_eq!(markdown["fileType"], "MD");
    assert_eq!(markdown["mimeType"], "text/markdown");
    assert_eq!(
        markdown["content"],
        "Launch plan\nFuel the rocket, read the checklist.\nSteps\nignite"
    );
    assert_eq!(markdown["metadata"]["title"], "Launch plan");
    assert_eq!(markdown["metadata"]["headings"], 2);

    // JSON: keys and values flattened as `path: value` lines.
    let json_doc = uploaded(
        &upload(
            app,
            &admin,
            "rocket.json",
            Some("application/json"),
            br#"{"name": "Falcon", "stages": [{"engines": 9}, {"engines": 1}], "reusable": true}"#,
        )
        .await,
    )
    .clone();
    assert_eq!(json_doc["fileType"], "JSON");
    assert_eq!(
        json_doc["content"],
        "name: Falcon\nreusable: true\nstages[0].engines: 9\nstages[1].engines: 1"
    );
    assert_eq!(json_doc["metadata"]["topLevel"], "object");
    assert_eq!(json_doc["metadata"]["keys"], 5);

    // CSV: header and rows as lines; columns and row count in the metadata. Also the
    // stored name may differ from the file's.
    let csv = uploaded(
        &upload_with(
            app,
            &admin,
            json!({ "file": null, "filename": "fleet.csv" }),
            "export-2026.csv",
            Some("text/csv"),
            b"name,stages\nFalcon,2\n\"Saturn, V\",3\n",
        )
        .await,
    )
    .clone();
    assert_eq!(csv["filename"], "fleet.csv");
    assert_eq!(csv["fileType"], "CSV");
    assert_eq!(csv["content"], "name | stages\nFalcon | 2\nSaturn, V | 3");
    assert_eq!(csv["metadata"]["columns"], json!(["name", "stages"]));
    assert_eq!(csv["metadata"]["rows"], 2);

    // Plain text given in the mutation: plain text by default, or as declared.
    let plain = create_ok(app, &admin, "README", "Just some words").await;
    assert_eq!(plain["fileType"], "TXT");
    assert_eq!(plain["fileSize"], 15);
    let declared = create(
        app,
        &admin,
        json!({ "filename": "guide", "content": "# Guide\n\n*Hello*", "contentType": "text/markdown",
                "metadata": { "team": "docs" } }),
    )
    .await;
    let declared = &declared["data"]["createDocument"]["document"];
    assert_eq!(declared["fileType"], "MD");
    assert_eq!(declared["content"], "Guide\nHello");
    assert_eq!(declared["metadata"]["custom"], json!({ "team": "docs" }));

    // Listed newest first, filtered, and read one by one.
    let data = app
        .data(
            Some(&admin),
            "{ documents(first: 10) { totalCount edges { node { filename } } } \
               csv: documents(filter: { fileType: CSV }) { totalCount nodes { filename } } }",
            json!({}),
        )
        .await;
    assert_eq!(data["documents"]["totalCount"], 6);
    assert_eq!(
        data["documents"]["edges"][0]["node"]["filename"], "guide",
        "newest first"
    );
    assert_eq!(data["csv"]["nodes"], json!([{ "filename": "fleet.csv" }]));
    let data = app
        .data(
            Some(&admin),
            &format!("query($id: ID!) {{ document(id: $id) {{ {DOCUMENT} short: content(maxLength: 6) }} }}"),
            json!({ "id": text["id"] }),
        )
        .await;
    assert_eq!(data["document"]["short"], "Launch");
    assert_eq!(data["document"]["filename"], "notes.txt");
    let missing = app
        .gql(
            Some(&admin),
            "query($id: ID!) { document(id: $id) { id } }",
            json!({ "id": uuid::Uuid::now_v7().to_string() }),
        )
        .await;
    assert_eq!(error_code(&missing), "NOT_FOUND");
}

async fn failures_and_refusals(app: &TestApp) {
    let admin = app.sign_up("acme").await;

    // Content that does not parse is stored FAILED with the reason, and not searchable.
    let broken = uploaded(
        &upload(
            app,
            &admin,
            "broken.json",
            None,
            b"{\n  \"rocket\": 1,\n  oops\n}",
        )
        .await,
    )
    .clone();
    assert_eq!(broken["processingStatus"], "FAILED");
    assert_eq!(
        broken["processingError"],
        "invalid JSON at line 3 column 3: key must be a string"
    );
    assert_eq!(broken["content"], Value::Null);
    assert_eq!(broken["isSearchable"], false);
    assert_eq!(broken["metadata"]["lines"], 4);
    let bad_csv = create_ok(app, &admin, "uneven.csv", "rocket,b\n1,2,3\n").await;
    assert_eq!(bad_csv["processingStatus"], "FAILED");
    assert!(
        bad_csv["processingError"]
            .as_str()
            .is_some_and(|e| e.starts_with("invalid CSV: ")),
        "{bad_csv:#}"
    );
    assert!(search(app, &admin, "rocket").await.is_empty());
    let searchable = app
        .gql(
            Some(&admin),
            "mutation($id: ID!) { updateDocument(input: { id: $id, isSearchable: true }) { document { id } } }",
            json!({ "id": broken["id"] }),
        )
        .await;
    assert_eq!(
        (error_code(&searchable), error_field(&searchable)),
        ("BAD_USER_INPUT", "isSearchable")
    );

    // Refused files: the error names the field and says what is accepted.
    for (filename, content_type, content, field, says) in [
        (
            "photo.png",
            Some("image/png"),
            &b"PNG"[..],
            "contentType",
            "image/png is not accepted",
        ),
        (
            "photo.png",
            None,
            &b"PNG"[..],
            "file",
            ".png files are not accepted",
        ),
        (
            "data.json",
            Some("text/csv"),
            &b"{}"[..],
            "contentType",
            "does not match",
        ),
        ("README", None, &b"text"[..], "file", "cannot tell the type"),
        (
            "empty.txt",
            Some("text/plain"),
            &b""[..],
            "file",
            "the file is empty",
        ),
        (
            "latin1.txt",
            Some("text/plain"),
            &b"caf\xE9"[..],
            "file",
            "not UTF-8",
        ),
        ("binary.txt", None, &b"a\0b"[..], "file", "binary"),
    ] {
        let body = upload(app, &admin, filename, content_type, content).await;
        assert_eq!(
            (error_code(&body), error_field(&body)),
            ("BAD_USER_INPUT", field),
            "{filename}: {body:#}"
        );
        let message = body["errors"][0]["message"].as_str().unwrap_or_default();
        assert!(message.contains(says), "{filename}: {message}");
        if says.contains("accepted") || says.contains("cannot tell") {
            assert!(
                message.contains("text/markdown (.md, .markdown)"),
                "{message}"
            );
        }
    }

    // Too large: refused by the multipart layer before execution (413), and as text
    // given in the mutation with the sizes.
    let max = app.config.limits.document_max_bytes;
    let big = vec![b'a'; max + 1];
    let (content_type, body) = multipart(json!({ "file": null }), &[("big.txt", None, &big)]);
    let (status, body) = send_multipart(app, &admin, content_type, body).await;
    assert_eq!(status, 413, "{body:#}");
    assert_eq!(
        (error_code(&body), error_field(&body)),
        ("BAD_USER_INPUT", "file")
    );
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains(&format!("at most {max} bytes"))),
        "{body:#}"
    );
    let exact = vec![b'a'; max];
    let body = upload(app, &admin, "exact.txt", None, &exact).await;
    assert_eq!(
        uploaded(&body)["fileSize"],
        max,
        "a file at the limit is accepted"
    );
    let body = create(
        app,
        &admin,
        json!({ "filename": "big.txt", "content": "a".repeat(max + 1) }),
    )
    .await;
    assert_eq!(
        (error_code(&body), error_field(&body)),
        ("BAD_USER_INPUT", "content")
    );
    assert_eq!(
        body["errors"][0]["message"],
        format!("the file is {} bytes; at most {max} are accepted", max + 1)
    );

    // More files than a request may carry.
    let files: Vec<(&str, Option<&str>, &[u8])> =
        (0..11).map(|_| ("a.txt", None, &b"a"[..])).collect();
    let (content_type, body) = multipart(json!({ "file": null }), &files);
    let (status, body) = send_multipart(app, &admin, content_type, body).await;
    assert_eq!(
        (status, error_code(&body)),
        (400, "BAD_REQUEST"),
        "{body:#}"
    );

    // A file mark forged in JSON variables is refused, and the server stays up.
    for forged in ["#__graphql_file__:x", "#__graphql_file__:0"] {
        let response = app
            .client
            .post(app.url("/graphql"))
            .bearer_auth(&admin)
            .json(&json!({ "query": UPLOAD, "variables": { "input": { "file": forged } } }))
            .send()
            .await
            .expect("request is sent");
        assert_eq!(response.status(), 400);
    }
    let inline = app
        .client
        .post(app.url("/graphql"))
        .bearer_auth(&admin)
        .json(&json!({ "query": "mutation { uploadDocument(input: { file: \"#__graphql_file__:y\" }) { document { id } } }" }))
        .send()
        .await
        .expect("request is sent");
    assert_eq!(inline.status(), 400);
    // Other media types stay refused.
    let response = app
        .client
        .post(app.url("/graphql"))
        .header("content-type", "text/plain")
        .body("{ __typename }")
        .send()
        .await
        .expect("request is sent");
    assert_eq!(response.status(), 415);
    let data = app
        .data(Some(&admin), "{ documents { totalCount } }", json!({}))
        .await;
    assert_eq!(
        data["documents"]["totalCount"], 3,
        "broken, uneven and exact"
    );

    // Text with more distinct words than PostgreSQL's search vector holds (1 MiB) is
    // refused there as the file's fault; SQLite's FTS5 index takes it.
    let mut words = String::new();
    let mut i = 0u32;
    while words.len() + 12 < max {
        words.push_str(&format!("w{i:x}q "));
        i += 1;
    }
    let body = create(
        app,
        &admin,
        json!({ "filename": "words.txt", "content": words }),
    )
    .await;
    match app.db.backend {
        common::Backend::Postgres => {
            assert_eq!(
                (error_code(&body), error_field(&body)),
                ("BAD_USER_INPUT", "content")
            );
        }
        common::Backend::Sqlite => {
            assert!(body.get("errors").is_none(), "{body:#}");
        }
    }
}

async fn search_ranks_highlights_and_isolates(app: &TestApp) {
    let admin = app.sign_up("acme").await;
    let other = app.sign_up("globex").await;
    create_ok(
        app,
        &admin,
        "launch.md",
        "# Rockets\n\nThe rocket stands. A rocket needs fuel. Every rocket launch is loud; rockets fly.",
    )
    .await;
    create_ok(
        app,
        &admin,
        "notes.txt",
        "Meeting notes: budgets, hiring, and one rocket question, plus lunch plans for Friday.",
    )
    .await;
    create_ok(app, &admin, "boats.txt", "Sailing boats on the lake.").await;
    create_ok(
        app,
        &admin,
        "page.txt",
        "<script>alert(1)</script> zeppelin & co",
    )
    .await;
    create_ok(
        app,
        &other,
        "globex-rocket.txt",
        "Globex rocket secrets, rocket rocket rocket.",
    )
    .await;

    let hits = search(app, &admin, "rocket").await;
    assert_eq!(
        names(&hits),
        ["launch.md", "notes.txt"],
        "many mentions rank first, and only the organization's documents match"
    );
    let ranks: Vec<f64> = hits
        .iter()
        .map(|h| h["rank"].as_f64().expect("rank"))
        .collect();
    assert!(
        ranks.windows(2).all(|w| w[0] >= w[1]),
        "best first: {ranks:?}"
    );
    assert!(ranks[0] > ranks[1], "{ranks:?}");
    assert!(
        ranks.iter().all(|r| *r > 0.0),
        "higher is better: {ranks:?}"
    );
    for hit in &hits {
        let snippet = hit["snippet"].as_str().expect("snippet");
        assert!(snippet.to_lowercase().contains("<mark>rocket"), "{snippet}");
        assert!(
            !snippet.contains("<script>"),
            "snippets are escaped: {snippet}"
        );
    }
    // Snippets are HTML with only the marks as markup (PostgreSQL's headline drops
    // tags, SQLite's snippet keeps them, escaped).
    let page = search(app, &admin, "zeppelin").await;
    let snippet = page[0]["snippet"].as_str().unwrap_or_default();
    assert!(snippet.contains("<mark>zeppelin</mark>"), "{snippet}");
    assert!(!snippet.contains("<script"), "{snippet}");
    if app.db.backend == common::Backend::Sqlite {
        assert!(
            snippet
                .contains("&lt;script&gt;alert(1)&lt;/script&gt; <mark>zeppelin</mark> &amp; co"),
            "{snippet}"
        );
    }
    // Stemming: the plural finds the singular; the name counts more than the text.
    assert_eq!(names(&search(app, &admin, "rockets").await).len(), 2);
    create_ok(
        app,
        &admin,
        "rocket-plan.txt",
        "A plan for lunch on Friday.",
    )
    .await;
    let hits = search(app, &admin, "rocket").await;
    let position = |name: &str| names(&hits).iter().position(|n| *n == name);
    assert!(
        position("rocket-plan.txt") < position("notes.txt"),
        "a name match ranks above one mention in the text: {hits:#?}"
    );
    // Words are all required; filters and `first` apply.
    assert_eq!(names(&search(app, &admin, "rocket lunch").await).len(), 2);
    let data = app
        .data(Some(&admin), SEARCH, json!({ "q": "rocket", "type": "MD" }))
        .await;
    assert_eq!(
        names(data["searchDocuments"].as_array().expect("hits")),
        ["launch.md"]
    );
    let data = app
        .data(Some(&admin), SEARCH, json!({ "q": "rocket", "first": 1 }))
        .await;
    assert_eq!(data["searchDocuments"].as_array().map(Vec::len), Some(1));

    // Search syntax in the user's text is taken as words, never an error.
    for q in [
        "\"foo AND (",
        "*",
        "NEAR(",
        "rocket*",
        "-",
        "a OR",
        "(rocket) AND \"",
        "title:rocket",
    ] {
        let body = app.gql(Some(&admin), SEARCH, json!({ "q": q })).await;
        assert!(body.get("errors").is_none(), "{q}: {body:#}");
    }
    for q in ["", "   "] {
        let body = app.gql(Some(&admin), SEARCH, json!({ "q": q })).await;
        assert_eq!(
            (error_code(&body), error_field(&body)),
            ("BAD_USER_INPUT", "query")
        );
    }
    // The other organization finds only its own.
    assert_eq!(
        names(&search(app, &other, "rocket").await),
        ["globex-rocket.txt"]
    );
    assert!(search(app, &other, "budgets").await.is_empty());
}

async fn changes_follow_into_search_and_audit(app: &TestApp) {
    let admin = app.sign_up("acme").await;
    let doc = create_ok(app, &admin, "notes.txt", "Notes about the rocket.").await;
    let id = doc["id"].clone();
    let update = "mutation($input: UpdateDocumentInput!) { updateDocument(input: $input) { \
        document { filename isSearchable metadata updatedAt } } }";

    let data = app
        .data(
            Some(&admin),
            update,
            json!({ "input": { "id": id, "isSearchable": false } }),
        )
        .await;
    assert_eq!(data["updateDocument"]["document"]["isSearchable"], false);
    assert!(
        search(app, &admin, "rocket").await.is_empty(),
        "hidden from search"
    );
    let data = app
        .data(
            Some(&admin),
            update,
            json!({ "input": { "id": id, "isSearchable": true, "filename": "zeppelin.txt",
                               "metadata": { "reviewed": true } } }),
        )
        .await;
    let changed = &data["updateDocument"]["document"];
    assert_eq!(changed["filename"], "zeppelin.txt");
    assert_eq!(changed["metadata"]["custom"], json!({ "reviewed": true }));
    assert_eq!(changed["metadata"]["words"], 4, "computed metadata stays");
    let hits = search(app, &admin, "zeppelin").await;
    assert_eq!(names(&hits), ["zeppelin.txt"], "the new name is searchable");
    assert!(
        hits[0]["snippet"]
            .as_str()
            .unwrap_or_default()
            .contains("<mark>")
    );
    assert_eq!(
        names(&search(app, &admin, "rocket").await),
        ["zeppelin.txt"]
    );
    // The name keeps the document's type.
    let body = app
        .gql(
            Some(&admin),
            update,
            json!({ "input": { "id": id, "filename": "zeppelin.csv" } }),
        )
        .await;
    assert_eq!(
        (error_code(&body), error_field(&body)),
        ("BAD_USER_INPUT", "filename")
    );

    let data = app
        .data(
            Some(&admin),
            "mutation($id: ID!) { deleteDocument(input: { id: $id }) { deletedDocumentId } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(data["deleteDocument"]["deletedDocumentId"], id);
    assert!(
        search(app, &admin, "zeppelin").await.is_empty(),
        "gone from search"
    );
    let again = app
        .gql(
            Some(&admin),
            "mutation($id: ID!) { deleteDocument(input: { id: $id }) { deletedDocumentId } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(error_code(&again), "NOT_FOUND");

    let (content_type, body) = multipart(
        json!({ "file": null }),
        &[("up.txt", None, &b"uploaded"[..])],
    );
    let (status, _) = send_multipart(app, &admin, content_type, body).await;
    assert_eq!(status, 200);
    let data = app
        .data(
            Some(&admin),
            "{ auditLogs(first: 20, filter: { resourceType: \"document\" }) { nodes { action success oldValues newValues } } }",
            json!({}),
        )
        .await;
    let rows = data["auditLogs"]["nodes"].as_array().expect("rows").clone();
    let mut actions: Vec<(&str, bool)> = rows
        .iter()
        .map(|r| (r["action"].as_str().expect("action"), r["success"] == true))
        .collect();
    actions.sort();
    assert_eq!(
        actions,
        [
            ("document.create", true),
            ("document.create", true),
            ("document.delete", false),
            ("document.delete", true),
            ("document.update", false),
            ("document.update", true),
            ("document.update", true),
        ]
    );
    // Facts, never the text.
    for row in &rows {
        assert!(!row.to_string().contains("Notes about"), "{row:#}");
    }
    let created = rows
        .iter()
        .find(|r| r["action"] == "document.create" && r["newValues"]["filename"] == "notes.txt")
        .expect("the creation is audited");
    assert_eq!(created["newValues"]["file_size"], 23);
    assert_eq!(created["newValues"]["processing_status"], "completed");
}

async fn viewers_read_and_members_write(app: &TestApp) {
    let admin = app.sign_up("acme").await;
    let org = app.organization_id(&admin).await;
    let viewer = app.add_user(org, "vera", OrgRole::Viewer).await;
    let member = app.add_user(org, "mia", OrgRole::Member).await;
    let doc = create_ok(app, &member, "member.txt", "A member's rocket note.").await;
    assert_eq!(names(&search(app, &viewer, "rocket").await), ["member.txt"]);
    let data = app
        .data(
            Some(&viewer),
            "query($id: ID!) { document(id: $id) { filename uploadedBy { username } } }",
            json!({ "id": doc["id"] }),
        )
        .await;
    assert_eq!(data["document"]["uploadedBy"]["username"], "mia");
    let member_id = app.user_id(&member).await;
    let data = app
        .data(
            Some(&viewer),
            "query($u: ID!) { documents(filter: { uploadedBy: $u }) { totalCount } }",
            json!({ "u": member_id }),
        )
        .await;
    assert_eq!(data["documents"]["totalCount"], 1);

    let body = create(
        app,
        &viewer,
        json!({ "filename": "v.txt", "content": "no" }),
    )
    .await;
    assert_eq!(error_code(&body), "FORBIDDEN");
    let body = upload(app, &viewer, "v.txt", None, b"no").await;
    assert_eq!(error_code(&body), "FORBIDDEN");
    let body = app
        .gql(
            Some(&viewer),
            "mutation($id: ID!) { updateDocument(input: { id: $id, filename: \"x.txt\" }) { document { id } } }",
            json!({ "id": doc["id"] }),
        )
        .await;
    assert_eq!(error_code(&body), "FORBIDDEN");
    let body = app
        .gql(
            Some(&viewer),
            "mutation($id: ID!) { deleteDocument(input: { id: $id }) { deletedDocumentId } }",
            json!({ "id": doc["id"] }),
        )
        .await;
    assert_eq!(error_code(&body), "FORBIDDEN");
    let anonymous = app
        .gql(None, "{ documents { totalCount } }", json!({}))
        .await;
    assert_eq!(error_code(&anonymous), "UNAUTHENTICATED");
}

backend_tests! {
    uploads_and_extraction => uploads_extract_each_type;
    failures => failures_and_refusals;
    search => search_ranks_highlights_and_isolates;
    changes => changes_follow_into_search_and_audit;
    access => viewers_read_and_members_write;
}
