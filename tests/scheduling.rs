//! Employee scheduling end to end: profiles, work events and imports, availability
//! and time off, every booking rule, concurrent bookings, rotations, attendance, the
//! live calendar feed, and the auto-scheduler as a streamed run whose output an
//! independent checker verifies.

mod common;

use std::collections::HashMap;

use chrono::{Duration, NaiveDate};
use common::roster::{self, Person, parse};
use common::ws::{connect, next, next_within, send};
use common::{TestApp, error_code, error_field};
use gateway::auth::permissions::OrgRole;
use serde_json::{Value, json};

const UPDATE_EMPLOYEE: &str = "mutation($input: UpdateEmployeeInput!) { updateEmployee(input: $input) { \
    employee { id active skills hireDate terminationDate phone notes } } }";
const CREATE_EVENT: &str = "mutation($input: CreateWorkEventInput!) { createWorkEvent(input: $input) { \
    workEvent { id name condition startAt dueAt estimatedMinutes eventType requiredSkills } } }";
const UPDATE_EVENT: &str = "mutation($input: UpdateWorkEventInput!) { updateWorkEvent(input: $input) { \
    workEvent { id name condition location } } }";
const SCHEDULE: &str = "mutation($input: ScheduleEmployeeInput!) { scheduleEmployee(input: $input) { \
    schedule { id status scheduledAt endsAt user { id } } workEvent { id condition } \
    exceptions { exceptionType severity message } } }";
const ADD_RULE: &str = "mutation($input: AddAvailabilityRuleInput!) { addAvailabilityRule(input: $input) { \
    availabilityRule { id dayOfWeek startTime endTime } } }";
const REQUEST_TIME_OFF: &str = "mutation($input: RequestTimeOffInput!) { requestTimeOff(input: $input) { \
    timeOffRequest { id status startDate endDate user { id } } } }";
const DECIDE_TIME_OFF: &str = "mutation($input: DecideTimeOffInput!) { decideTimeOff(input: $input) { \
    timeOffRequest { id status decidedAt decidedBy { id } } exceptions { exceptionType } } }";

/// Monday 2030-01-07, in the organization's time zone (UTC unless set).
fn monday() -> NaiveDate {
    NaiveDate::from_ymd_opt(2030, 1, 7).expect("date")
}

fn instant(day: NaiveDate, hour: u32, minute: u32) -> String {
    day.and_hms_opt(hour, minute, 0)
        .expect("time")
        .and_utc()
        .to_rfc3339()
}

fn rule(body: &Value) -> &str {
    body["errors"][0]["extensions"]["rule"]
        .as_str()
        .unwrap_or_else(|| panic!("no rule in {body:#}"))
}

async fn member(app: &TestApp, token: &str, name: &str) -> (String, String) {
    let org = app.organization_id(token).await;
    let member = app.add_user(org, name, OrgRole::Member).await;
    let id = app.user_id(&member).await;
    (member, id)
}

async fn set_skills(app: &TestApp, token: &str, user: &str, skills: Value) {
    app.data(
        Some(token),
        UPDATE_EMPLOYEE,
        json!({ "input": { "userId": user, "skills": skills } }),
    )
    .await;
}

async fn create_event(
    app: &TestApp,
    token: &str,
    name: &str,
    window: (String, String),
    minutes: i32,
    extra: Value,
) -> String {
    let mut event = json!({
        "name": name, "startAt": window.0, "dueAt": window.1, "estimatedMinutes": minutes
    });
    if let (Some(e), Some(x)) = (event.as_object_mut(), extra.as_object()) {
        e.extend(x.clone());
    }
    let data = app
        .data(
            Some(token),
            CREATE_EVENT,
            json!({ "input": { "event": event } }),
        )
        .await;
    data["createWorkEvent"]["workEvent"]["id"]
        .as_str()
        .expect("id")
        .to_string()
}

async fn add_rule(app: &TestApp, token: &str, user: &str, day: i32, start: &str, end: &str) {
    app.data(
        Some(token),
        ADD_RULE,
        json!({ "input": { "userId": user, "dayOfWeek": day, "startTime": start, "endTime": end,
                            "effectiveFrom": "2029-12-01" } }),
    )
    .await;
}

async fn book(
    app: &TestApp,
    token: &str,
    event: &str,
    user: &str,
    at: String,
    force: bool,
) -> Value {
    app.gql(
        Some(token),
        SCHEDULE,
        json!({ "input": { "workEventId": event, "userId": user, "scheduledAt": at, "force": force } }),
    )
    .await
}

async fn approved_time_off(app: &TestApp, admin: &str, member: &str, day: NaiveDate) {
    let data = app
        .data(
            Some(member),
            REQUEST_TIME_OFF,
            json!({ "input": { "startDate": day, "endDate": day, "reason": "Vacation" } }),
        )
        .await;
    let id = data["requestTimeOff"]["timeOffRequest"]["id"].clone();
    app.data(
        Some(admin),
        DECIDE_TIME_OFF,
        json!({ "input": { "id": id, "approve": true } }),
    )
    .await;
}

async fn employees_have_profiles(app: &TestApp) {
    let admin = app.sign_up("staffing").await;
    let (member_token, ann) = member(app, &admin, "ann").await;
    let (_, bob) = member(app, &admin, "bob").await;
    let data = app
        .data(
            Some(&admin),
            UPDATE_EMPLOYEE,
            json!({ "input": { "userId": ann, "phone": "+1 555 0100", "hireDate": "2029-06-01",
                               "skills": ["Forklift", " demo ", "forklift"], "notes": "<b>Lead</b>" } }),
        )
        .await;
    let employee = &data["updateEmployee"]["employee"];
    assert_eq!(
        employee["skills"],
        json!(["Forklift", "demo"]),
        "trimmed, deduplicated"
    );
    assert_eq!(employee["hireDate"], "2029-06-01");
    assert_eq!(employee["notes"], "Lead", "tags stripped");
    assert_eq!(employee["active"], true);

    let body = app
        .gql(
            Some(&member_token),
            UPDATE_EMPLOYEE,
            json!({ "input": { "userId": bob, "active": false } }),
        )
        .await;
    assert_eq!(error_code(&body), "FORBIDDEN");
    let body = app
        .gql(
            Some(&admin),
            UPDATE_EMPLOYEE,
            json!({ "input": { "userId": ann, "terminationDate": "2029-01-01" } }),
        )
        .await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT");
    assert_eq!(error_field(&body), "terminationDate");

    app.data(
        Some(&admin),
        UPDATE_EMPLOYEE,
        json!({ "input": { "userId": bob, "active": false } }),
    )
    .await;
    // Bob works no Tuesdays (he has a rule only on Mondays); Ann has no rules at all.
    add_rule(app, &admin, &ann, 0, "08:00:00", "16:00:00").await;
    add_rule(app, &admin, &ann, 1, "08:00:00", "16:00:00").await;
    let query = "query($f: EmployeeFilterInput) { employees(filter: $f) { totalCount \
                 edges { node { id fullName active skills } } } }";
    let names = |data: &Value| -> Vec<String> {
        data["employees"]["edges"]
            .as_array()
            .expect("edges")
            .iter()
            .map(|e| {
                e["node"]["fullName"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            })
            .collect()
    };
    let all = app.data(Some(&admin), query, json!({})).await;
    assert_eq!(all["employees"]["totalCount"], 3);
    let skilled = app
        .data(Some(&admin), query, json!({ "f": { "skill": "FORKLIFT" } }))
        .await;
    assert_eq!(names(&skilled), vec!["ann"]);
    let inactive = app
        .data(Some(&admin), query, json!({ "f": { "active": false } }))
        .await;
    assert_eq!(names(&inactive), vec!["bob"]);
    // Wednesday: Ann's rules do not cover it, Bob is inactive, the admin has no rules.
    let wednesday = app
        .data(
            Some(&admin),
            query,
            json!({ "f": { "availableOn": monday() + Duration::days(2) } }),
        )
        .await;
    assert_eq!(names(&wednesday), vec!["Admin"]);
    let viewer = app
        .data(
            Some(&member_token),
            "{ viewer { user { employee { skills phone } } } }",
            json!({}),
        )
        .await;
    assert_eq!(viewer["viewer"]["user"]["employee"]["phone"], "+1 555 0100");
}

async fn work_events_and_imports(app: &TestApp) {
    let admin = app.sign_up("events").await;
    let (member_token, _) = member(app, &admin, "ann").await;
    let day = monday();
    let body = app
        .gql(
            Some(&admin),
            CREATE_EVENT,
            json!({ "input": { "event": { "name": "Demo", "startAt": instant(day, 12, 0),
                                          "dueAt": instant(day, 8, 0) } } }),
        )
        .await;
    assert_eq!(error_field(&body), "dueAt");
    let body = app
        .gql(
            Some(&admin),
            CREATE_EVENT,
            json!({ "input": { "event": { "name": "Demo", "startAt": instant(day, 8, 0),
                                          "dueAt": instant(day, 9, 0), "estimatedMinutes": 90 } } }),
        )
        .await;
    assert_eq!(error_field(&body), "estimatedMinutes");
    let body = app
        .gql(
            Some(&member_token),
            CREATE_EVENT,
            json!({ "input": { "event": { "name": "Demo", "startAt": instant(day, 8, 0),
                                          "dueAt": instant(day, 9, 0) } } }),
        )
        .await;
    assert_eq!(error_code(&body), "FORBIDDEN");

    let import = "mutation($input: ImportWorkEventsInput!) { importWorkEvents(input: $input) { \
                  created updated unchanged workEvents { id externalRef name condition eventType } } }";
    let batch = |name_of_2: &str| {
        json!({ "input": { "events": [
            { "externalRef": "CM-1", "name": "Setup store 12", "startAt": instant(day, 8, 0),
              "dueAt": instant(day, 18, 0), "eventType": "SETUP", "estimatedMinutes": 60 },
            { "externalRef": "CM-2", "name": name_of_2, "startAt": instant(day + Duration::days(1), 8, 0),
              "dueAt": instant(day + Duration::days(1), 18, 0), "eventType": "DEMO",
              "requiredSkills": ["demo"] },
            { "externalRef": "CM-3", "name": "Juicing", "startAt": instant(day + Duration::days(2), 8, 0),
              "dueAt": instant(day + Duration::days(2), 18, 0), "eventType": "JUICER" }
        ] } })
    };
    let first = app.data(Some(&admin), import, batch("Demo store 7")).await;
    assert_eq!(
        (
            &first["importWorkEvents"]["created"],
            &first["importWorkEvents"]["updated"],
            &first["importWorkEvents"]["unchanged"]
        ),
        (&json!(3), &json!(0), &json!(0))
    );
    let again = app.data(Some(&admin), import, batch("Demo store 7")).await;
    assert_eq!(again["importWorkEvents"]["unchanged"], 3);
    let changed = app.data(Some(&admin), import, batch("Demo store 8")).await;
    assert_eq!(changed["importWorkEvents"]["updated"], 1);
    assert_eq!(changed["importWorkEvents"]["unchanged"], 2);
    assert_eq!(
        changed["importWorkEvents"]["workEvents"][1]["id"],
        first["importWorkEvents"]["workEvents"][1]["id"],
        "upserted by externalRef"
    );
    let duplicate = json!({ "input": { "events": [
        { "externalRef": "X", "name": "a", "startAt": instant(day, 8, 0), "dueAt": instant(day, 18, 0) },
        { "externalRef": "X", "name": "b", "startAt": instant(day, 8, 0), "dueAt": instant(day, 18, 0) }
    ] } });
    let body = app.gql(Some(&admin), import, duplicate).await;
    assert_eq!(error_field(&body), "events.1.externalRef");

    let list = "query($f: WorkEventFilterInput) { workEvents(filter: $f) { totalCount \
                edges { node { externalRef } } } }";
    let refs = |data: &Value| -> Vec<String> {
        data["workEvents"]["edges"]
            .as_array()
            .expect("edges")
            .iter()
            .map(|e| {
                e["node"]["externalRef"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            })
            .collect()
    };
    let tuesday = app
        .data(
            Some(&admin),
            list,
            json!({ "f": { "from": instant(day + Duration::days(1), 0, 0),
                           "to": instant(day + Duration::days(2), 0, 0) } }),
        )
        .await;
    assert_eq!(refs(&tuesday), vec!["CM-2"]);
    let juicers = app
        .data(
            Some(&admin),
            list,
            json!({ "f": { "eventType": "JUICER" } }),
        )
        .await;
    assert_eq!(refs(&juicers), vec!["CM-3"]);
    let id = first["importWorkEvents"]["workEvents"][2]["id"].clone();
    app.data(
        Some(&admin),
        UPDATE_EVENT,
        json!({ "input": { "id": id, "condition": "PAUSED", "location": "Store 3" } }),
    )
    .await;
    let paused = app
        .data(
            Some(&admin),
            list,
            json!({ "f": { "condition": "PAUSED" } }),
        )
        .await;
    assert_eq!(paused["workEvents"]["totalCount"], 1);
    let delete = "mutation($input: DeleteWorkEventInput!) { deleteWorkEvent(input: $input) { deletedWorkEventId } }";
    app.data(Some(&admin), delete, json!({ "input": { "id": id } }))
        .await;
    let body = app
        .gql(
            Some(&admin),
            "query($id: ID!) { workEvent(id: $id) { id } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(error_code(&body), "NOT_FOUND");
}

async fn availability_combines_rules_overrides_and_time_off(app: &TestApp) {
    let admin = app.sign_up("avail").await;
    let (ann_token, ann) = member(app, &admin, "ann").await;
    let (_, bob) = member(app, &admin, "bob").await;
    add_rule(app, &ann_token, &ann, 0, "09:00:00", "12:00:00").await;
    add_rule(app, &ann_token, &ann, 0, "13:00:00", "17:00:00").await;
    add_rule(app, &ann_token, &ann, 2, "10:00:00", "14:00:00").await;
    let body = app
        .gql(
            Some(&ann_token),
            ADD_RULE,
            json!({ "input": { "userId": bob, "dayOfWeek": 0, "startTime": "09:00:00", "endTime": "10:00:00" } }),
        )
        .await;
    assert_eq!(
        error_code(&body),
        "FORBIDDEN",
        "members edit only their own"
    );
    let body = app
        .gql(
            Some(&ann_token),
            ADD_RULE,
            json!({ "input": { "userId": ann, "dayOfWeek": 7, "startTime": "09:00:00", "endTime": "10:00:00" } }),
        )
        .await;
    assert_eq!(error_field(&body), "dayOfWeek");
    let set_override = "mutation($input: SetAvailabilityOverrideInput!) { setAvailabilityOverride(input: $input) { \
                        availabilityOverride { id date available startTime endTime reason } } }";
    // Wednesday's hours change; Friday she is available though she has no rule.
    app.data(
        Some(&ann_token),
        set_override,
        json!({ "input": { "userId": ann, "date": monday() + Duration::days(2), "available": true,
                           "startTime": "15:00:00", "endTime": "18:00:00", "reason": "swap" } }),
    )
    .await;
    app.data(
        Some(&ann_token),
        set_override,
        json!({ "input": { "userId": ann, "date": monday() + Duration::days(4), "available": true } }),
    )
    .await;
    // Time off on Tuesday and Monday: Monday's is denied.
    let data = app
        .data(
            Some(&ann_token),
            REQUEST_TIME_OFF,
            json!({ "input": { "startDate": monday() + Duration::days(1), "endDate": monday() + Duration::days(1),
                               "reason": "Vacation" } }),
        )
        .await;
    let request = data["requestTimeOff"]["timeOffRequest"].clone();
    assert_eq!(request["status"], "PENDING");
    assert_eq!(request["user"]["id"], ann);
    let body = app
        .gql(
            Some(&ann_token),
            REQUEST_TIME_OFF,
            json!({ "input": { "startDate": monday(), "endDate": monday() + Duration::days(3) } }),
        )
        .await;
    assert_eq!(
        error_code(&body),
        "CONFLICT",
        "overlaps the pending request"
    );
    let body = app
        .gql(
            Some(&ann_token),
            REQUEST_TIME_OFF,
            json!({ "input": { "userId": bob, "startDate": monday(), "endDate": monday() } }),
        )
        .await;
    assert_eq!(error_code(&body), "FORBIDDEN");
    let body = app
        .gql(
            Some(&ann_token),
            DECIDE_TIME_OFF,
            json!({ "input": { "id": request["id"], "approve": true } }),
        )
        .await;
    assert_eq!(error_code(&body), "FORBIDDEN", "members do not approve");
    let decided = app
        .data(
            Some(&admin),
            DECIDE_TIME_OFF,
            json!({ "input": { "id": request["id"], "approve": true } }),
        )
        .await;
    let decided = &decided["decideTimeOff"]["timeOffRequest"];
    assert_eq!(decided["status"], "APPROVED");
    assert_eq!(decided["decidedBy"]["id"], app.user_id(&admin).await);
    assert!(decided["decidedAt"].is_string());
    let body = app
        .gql(
            Some(&admin),
            DECIDE_TIME_OFF,
            json!({ "input": { "id": request["id"], "approve": false } }),
        )
        .await;
    assert_eq!(error_code(&body), "CONFLICT", "decided once");

    let data = app
        .data(
            Some(&admin),
            "query($u: ID!, $from: NaiveDate!, $to: NaiveDate!) { availability(userId: $u, from: $from, to: $to) { \
             date available source reason windows { start end } } }",
            json!({ "u": ann, "from": monday(), "to": monday() + Duration::days(4) }),
        )
        .await;
    let days = data["availability"].as_array().expect("days");
    assert_eq!(days.len(), 5);
    assert_eq!(
        days[0]["windows"],
        json!([{ "start": "09:00", "end": "12:00" }, { "start": "13:00", "end": "17:00" }])
    );
    assert_eq!(days[0]["source"], "WEEKLY");
    assert_eq!(days[1]["available"], false);
    assert_eq!(days[1]["source"], "TIME_OFF");
    assert_eq!(days[1]["reason"], "Vacation");
    assert_eq!(
        days[2]["windows"],
        json!([{ "start": "15:00", "end": "18:00" }])
    );
    assert_eq!(days[2]["source"], "OVERRIDE");
    assert_eq!(days[3]["available"], false, "no rule on Thursdays");
    assert_eq!(
        days[4]["windows"],
        json!([{ "start": "00:00", "end": "24:00" }])
    );
    let list = app
        .data(
            Some(&admin),
            "query($u: ID) { timeOffRequests(filter: { userId: $u, status: APPROVED }) { totalCount edges { node { id } } } }",
            json!({ "u": ann }),
        )
        .await;
    assert_eq!(list["timeOffRequests"]["totalCount"], 1);
}

async fn every_booking_rule_names_itself(app: &TestApp) {
    let admin = app.sign_up("rules").await;
    let (_, ann) = member(app, &admin, "ann").await;
    let (_, bob) = member(app, &admin, "bob").await;
    set_skills(app, &admin, &ann, json!(["forklift"])).await;
    add_rule(app, &admin, &ann, 0, "08:00:00", "16:00:00").await;
    let day = monday();
    let window = (instant(day, 8, 0), instant(day, 18, 0));
    let demo = create_event(
        app,
        &admin,
        "Demo",
        window.clone(),
        120,
        json!({ "requiredSkills": ["forklift"] }),
    )
    .await;
    let core = create_event(app, &admin, "Core", window.clone(), 60, json!({})).await;

    let body = book(app, &admin, &demo, &ann, instant(day, 17, 0), false).await;
    assert_eq!(
        (error_code(&body), rule(&body)),
        ("BAD_USER_INPUT", "event_window")
    );
    let body = book(app, &admin, &demo, &ann, instant(day, 7, 0), false).await;
    assert_eq!(rule(&body), "event_window");
    let body = book(app, &admin, &demo, &ann, instant(day, 15, 0), false).await;
    assert_eq!(
        (error_code(&body), rule(&body)),
        ("CONFLICT", "availability")
    );
    let body = book(app, &admin, &demo, &bob, instant(day, 9, 0), false).await;
    assert_eq!(
        (error_code(&body), rule(&body)),
        ("BAD_USER_INPUT", "skills")
    );

    let body = book(app, &admin, &demo, &ann, instant(day, 9, 0), false).await;
    assert!(body.get("errors").is_none(), "{body:#}");
    let booked = &body["data"]["scheduleEmployee"];
    assert_eq!(
        booked["workEvent"]["condition"], "SCHEDULED",
        "Unstaffed -> Scheduled"
    );
    assert_eq!(
        parse(&booked["schedule"]["endsAt"]) - parse(&booked["schedule"]["scheduledAt"]),
        Duration::minutes(120)
    );
    let ann_demo = booked["schedule"]["id"].clone();

    let body = book(app, &admin, &demo, &bob, instant(day, 9, 0), true).await;
    assert_eq!((error_code(&body), rule(&body)), ("CONFLICT", "event_slot"));
    let body = book(app, &admin, &core, &ann, instant(day, 10, 0), false).await;
    assert_eq!(
        (error_code(&body), rule(&body)),
        ("CONFLICT", "double_booking")
    );

    app.data(
        Some(&admin),
        "mutation($input: UpdateOrganizationInput!) { updateOrganization(input: $input) { organization { id } } }",
        json!({ "input": { "settings": { "scheduling": { "maxEventsPerEmployeePerDay": 1 } } } }),
    )
    .await;
    let body = book(app, &admin, &core, &ann, instant(day, 12, 0), false).await;
    assert_eq!(
        (error_code(&body), rule(&body)),
        ("CONFLICT", "daily_limit")
    );
    let body = app
        .gql(
            Some(&admin),
            "mutation($input: UpdateOrganizationInput!) { updateOrganization(input: $input) { organization { id } } }",
            json!({ "input": { "settings": { "timezone": "Mars/Olympus" } } }),
        )
        .await;
    assert_eq!(error_field(&body), "settings.timezone");
    app.data(
        Some(&admin),
        "mutation($input: UpdateOrganizationInput!) { updateOrganization(input: $input) { organization { id } } }",
        json!({ "input": { "settings": { "scheduling": { "maxEventsPerEmployeePerDay": 2 } } } }),
    )
    .await;
    let body = book(app, &admin, &core, &ann, instant(day, 12, 0), false).await;
    assert!(body.get("errors").is_none(), "{body:#}");

    // A manager may force a booking despite missing skills: it is kept with a warning.
    let body = book(app, &admin, &demo, &bob, instant(day, 11, 0), true).await;
    assert!(body.get("errors").is_none(), "{body:#}");
    let forced = &body["data"]["scheduleEmployee"];
    assert_eq!(forced["exceptions"][0]["exceptionType"], "SKILL_MISMATCH");
    assert_eq!(forced["exceptions"][0]["severity"], "WARNING");
    let bob_demo = forced["schedule"]["id"].clone();

    let tuesday = day + Duration::days(1);
    let (ann_login, ann2) = member(app, &admin, "ann2").await;
    approved_time_off(app, &admin, &ann_login, tuesday).await;
    let later = create_event(
        app,
        &admin,
        "Later",
        (instant(tuesday, 8, 0), instant(tuesday, 18, 0)),
        60,
        json!({}),
    )
    .await;
    let body = book(app, &admin, &later, &ann2, instant(tuesday, 9, 0), false).await;
    assert_eq!((error_code(&body), rule(&body)), ("CONFLICT", "time_off"));

    app.data(
        Some(&admin),
        UPDATE_EMPLOYEE,
        json!({ "input": { "userId": bob, "active": false } }),
    )
    .await;
    let body = book(app, &admin, &later, &bob, instant(tuesday, 9, 0), false).await;
    assert_eq!(
        (error_code(&body), rule(&body)),
        ("BAD_USER_INPUT", "employment")
    );

    app.data(
        Some(&admin),
        UPDATE_EVENT,
        json!({ "input": { "id": later, "condition": "PAUSED" } }),
    )
    .await;
    let admin_id = app.user_id(&admin).await;
    let body = book(
        app,
        &admin,
        &later,
        &admin_id,
        instant(tuesday, 9, 0),
        false,
    )
    .await;
    assert_eq!(
        (error_code(&body), rule(&body)),
        ("CONFLICT", "event_condition")
    );

    // The event's window and duration cannot change under its schedules.
    let body = app
        .gql(
            Some(&admin),
            UPDATE_EVENT,
            json!({ "input": { "id": demo, "estimatedMinutes": 60 } }),
        )
        .await;
    assert_eq!(error_code(&body), "CONFLICT", "{body:#}");
    assert_eq!(error_field(&body), "startAt");
    let body = app
        .gql(
            Some(&admin),
            UPDATE_EVENT,
            json!({ "input": { "id": demo, "startAt": instant(day, 10, 0) } }),
        )
        .await;
    assert_eq!(error_code(&body), "CONFLICT", "Ann starts at 09:00");
    app.data(
        Some(&admin),
        UPDATE_EVENT,
        json!({ "input": { "id": demo, "dueAt": instant(day, 19, 0), "name": "Demo (long)" } }),
    )
    .await;

    // Moving a schedule passes every rule again.
    let update = "mutation($input: UpdateScheduleInput!) { updateSchedule(input: $input) { \
                  schedule { id scheduledAt status } workEvent { condition } } }";
    let body = app
        .gql(
            Some(&admin),
            update,
            json!({ "input": { "id": ann_demo, "scheduledAt": instant(day, 15, 0) } }),
        )
        .await;
    assert_eq!(rule(&body), "availability");
    let moved = app
        .data(
            Some(&admin),
            update,
            json!({ "input": { "id": ann_demo, "scheduledAt": instant(day, 13, 0), "status": "CONFIRMED" } }),
        )
        .await;
    assert_eq!(moved["updateSchedule"]["schedule"]["status"], "CONFIRMED");

    let cancel = "mutation($input: CancelScheduleInput!) { cancelSchedule(input: $input) { \
                  schedule { status } workEvent { condition } } }";
    let first = app
        .data(Some(&admin), cancel, json!({ "input": { "id": ann_demo } }))
        .await;
    assert_eq!(
        first["cancelSchedule"]["workEvent"]["condition"], "SCHEDULED",
        "Bob is still on it"
    );
    let second = app
        .data(Some(&admin), cancel, json!({ "input": { "id": bob_demo } }))
        .await;
    assert_eq!(second["cancelSchedule"]["schedule"]["status"], "CANCELLED");
    assert_eq!(
        second["cancelSchedule"]["workEvent"]["condition"],
        "UNSTAFFED"
    );
    // The cancelled slot is free again.
    let body = book(app, &admin, &demo, &ann, instant(day, 9, 0), false).await;
    assert!(body.get("errors").is_none(), "{body:#}");

    let audit = app
        .data(
            Some(&admin),
            "{ auditLogs(filter: { resourceType: \"schedule\" }) { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(
        audit["auditLogs"]["totalCount"], 7,
        "4 bookings, 1 move, 2 cancels"
    );
}

async fn concurrent_bookings_have_one_winner(app: &TestApp) {
    let admin = app.sign_up("race").await;
    let org = app.organization_id(&admin).await;
    let day = monday();
    let window = (instant(day, 8, 0), instant(day, 18, 0));
    let mut people = Vec::new();
    for i in 0..8 {
        let token = app.add_user(org, &format!("p{i}"), OrgRole::Member).await;
        people.push(app.user_id(&token).await);
    }
    let mut events = Vec::new();
    for i in 0..8 {
        events
            .push(create_event(app, &admin, &format!("E{i}"), window.clone(), 60, json!({})).await);
    }
    // One person, eight events at the same time.
    let same_person = futures_util::future::join_all(
        events
            .iter()
            .map(|e| book(app, &admin, e, &people[0], instant(day, 9, 0), false)),
    )
    .await;
    let wins = same_person
        .iter()
        .filter(|b| b.get("errors").is_none())
        .count();
    assert_eq!(wins, 1, "{same_person:#?}");
    for body in same_person.iter().filter(|b| b.get("errors").is_some()) {
        assert_eq!(
            (error_code(body), rule(body)),
            ("CONFLICT", "double_booking")
        );
    }
    // One slot of one event, eight people.
    let same_slot = futures_util::future::join_all(
        people
            .iter()
            .skip(1)
            .map(|p| book(app, &admin, &events[1], p, instant(day, 12, 0), false)),
    )
    .await;
    let wins = same_slot
        .iter()
        .filter(|b| b.get("errors").is_none())
        .count();
    assert_eq!(wins, 1, "{same_slot:#?}");
    for body in same_slot.iter().filter(|b| b.get("errors").is_some()) {
        assert_eq!((error_code(body), rule(body)), ("CONFLICT", "event_slot"));
    }
    let calendar = app
        .data(
            Some(&admin),
            "query($from: DateTime!, $to: DateTime!) { schedule(from: $from, to: $to) { id } }",
            json!({ "from": window.0, "to": window.1 }),
        )
        .await;
    assert_eq!(calendar["schedule"].as_array().map(Vec::len), Some(2));
}

async fn rotations_and_attendance(app: &TestApp) {
    let admin = app.sign_up("rota").await;
    let (ann_token, ann) = member(app, &admin, "ann").await;
    let (bob_token, bob) = member(app, &admin, "bob").await;
    let assign = "mutation($input: AssignRotationInput!) { assignRotation(input: $input) { \
                  rotationAssignment { id date rotationType user { id } } } }";
    let day = monday();
    app.data(
        Some(&admin),
        assign,
        json!({ "input": { "date": day, "rotationType": "JUICER", "userId": ann } }),
    )
    .await;
    app.data(
        Some(&admin),
        assign,
        json!({ "input": { "date": day, "rotationType": "JUICER", "userId": bob } }),
    )
    .await;
    app.data(
        Some(&admin),
        assign,
        json!({ "input": { "date": day, "rotationType": "PRIMARY_LEAD", "userId": ann } }),
    )
    .await;
    let body = app
        .gql(
            Some(&ann_token),
            assign,
            json!({ "input": { "date": day, "rotationType": "JUICER", "userId": ann } }),
        )
        .await;
    assert_eq!(error_code(&body), "FORBIDDEN");
    let rotations = app
        .data(
            Some(&admin),
            "query($d: NaiveDate!) { rotations(from: $d, to: $d) { rotationType user { id } } }",
            json!({ "d": day }),
        )
        .await;
    assert_eq!(
        rotations["rotations"],
        json!([
            { "rotationType": "JUICER", "user": { "id": bob } },
            { "rotationType": "PRIMARY_LEAD", "user": { "id": ann } }
        ]),
        "one person per rotation per day: the second assignment replaced the first"
    );

    let event = create_event(
        app,
        &admin,
        "Shift",
        (instant(day, 8, 0), instant(day, 18, 0)),
        60,
        json!({}),
    )
    .await;
    let body = book(app, &admin, &event, &ann, instant(day, 9, 0), false).await;
    let schedule = body["data"]["scheduleEmployee"]["schedule"]["id"].clone();
    let check_in = "mutation($input: CheckInInput!) { checkIn(input: $input) { attendance { status method checkInAt checkOutAt } } }";
    let check_out = "mutation($input: CheckOutInput!) { checkOut(input: $input) { attendance { status method checkInAt checkOutAt recordedBy { id } } } }";
    let body = app
        .gql(
            Some(&ann_token),
            check_out,
            json!({ "input": { "scheduleId": schedule } }),
        )
        .await;
    assert_eq!(error_code(&body), "CONFLICT", "check in first");
    let body = app
        .gql(
            Some(&bob_token),
            check_in,
            json!({ "input": { "scheduleId": schedule } }),
        )
        .await;
    assert_eq!(error_code(&body), "FORBIDDEN", "not Bob's schedule");
    let data = app
        .data(
            Some(&ann_token),
            check_in,
            json!({ "input": { "scheduleId": schedule, "method": "QR_CODE" } }),
        )
        .await;
    assert_eq!(data["checkIn"]["attendance"]["status"], "PRESENT");
    assert_eq!(data["checkIn"]["attendance"]["method"], "QR_CODE");
    let data = app
        .data(
            Some(&ann_token),
            check_out,
            json!({ "input": { "scheduleId": schedule } }),
        )
        .await;
    let attendance = &data["checkOut"]["attendance"];
    assert!(parse(&attendance["checkOutAt"]) >= parse(&attendance["checkInAt"]));
    assert_eq!(attendance["recordedBy"]["id"], ann);
    let record = "mutation($input: RecordAttendanceInput!) { recordAttendance(input: $input) { attendance { status notes } } }";
    let body = app
        .gql(
            Some(&ann_token),
            record,
            json!({ "input": { "scheduleId": schedule, "status": "EXCUSED" } }),
        )
        .await;
    assert_eq!(error_code(&body), "FORBIDDEN");
    let data = app
        .data(
            Some(&admin),
            record,
            json!({ "input": { "scheduleId": schedule, "status": "EXCUSED", "notes": "left early, approved" } }),
        )
        .await;
    assert_eq!(data["recordAttendance"]["attendance"]["status"], "EXCUSED");
    let calendar = app
        .data(
            Some(&admin),
            "query($from: DateTime!, $to: DateTime!, $u: ID) { schedule(from: $from, to: $to, userId: $u) { \
             attendance { status } workEvent { name } } }",
            json!({ "from": instant(day, 0, 0), "to": instant(day + Duration::days(1), 0, 0), "u": ann }),
        )
        .await;
    assert_eq!(
        calendar["schedule"],
        json!([{ "attendance": { "status": "EXCUSED" }, "workEvent": { "name": "Shift" } }])
    );
}

async fn schedules_stream_to_the_calendar(app: &TestApp) {
    let admin = app.sign_up("live").await;
    let other = app.sign_up("elsewhere").await;
    let (_, ann) = member(app, &admin, "ann").await;
    let day = monday();
    let event = create_event(
        app,
        &admin,
        "Shift",
        (instant(day, 8, 0), instant(day, 18, 0)),
        60,
        json!({}),
    )
    .await;
    let mut socket = connect(app, "graphql-transport-ws").await;
    send(&mut socket, json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {admin}") } })).await;
    assert_eq!(next(&mut socket).await["type"], "connection_ack");
    send(&mut socket, json!({ "id": "s", "type": "subscribe", "payload": {
        "query": "subscription { schedulesChanged { kind schedule { id user { id } workEvent { name } } } }" } }))
    .await;
    let mut foreign = connect(app, "graphql-transport-ws").await;
    send(&mut foreign, json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {other}") } })).await;
    assert_eq!(next(&mut foreign).await["type"], "connection_ack");
    send(
        &mut foreign,
        json!({ "id": "f", "type": "subscribe", "payload": {
        "query": "subscription { schedulesChanged { kind } }" } }),
    )
    .await;
    // The protocol does not acknowledge a subscription: book until the feed answers.
    let mut message = None;
    for minute in 0..20 {
        let body = book(
            app,
            &admin,
            &event,
            &ann,
            instant(day, 8, minute * 20),
            false,
        )
        .await;
        if body.get("errors").is_none() {
            let id = body["data"]["scheduleEmployee"]["schedule"]["id"].clone();
            app.data(
                Some(&admin),
                "mutation($input: CancelScheduleInput!) { cancelSchedule(input: $input) { schedule { id } } }",
                json!({ "input": { "id": id } }),
            )
            .await;
        }
        if let Some(m) = next_within(&mut socket, std::time::Duration::from_millis(300)).await {
            message = Some(m);
            break;
        }
    }
    let message = message.expect("a schedule change arrives");
    let change = &message["payload"]["data"]["schedulesChanged"];
    assert_eq!(change["kind"], "CREATED");
    assert_eq!(change["schedule"]["user"]["id"], ann);
    assert_eq!(change["schedule"]["workEvent"]["name"], "Shift");
    let cancelled = next(&mut socket).await;
    assert_eq!(
        cancelled["payload"]["data"]["schedulesChanged"]["kind"],
        "DELETED"
    );
    assert!(
        next_within(&mut foreign, std::time::Duration::from_millis(300))
            .await
            .is_none(),
        "another organization hears nothing"
    );
}

/// Name, skills, daily hours (UTC) and whether Tuesday is taken off.
type Spec = (&'static str, Vec<&'static str>, (u32, u32), bool);

async fn auto_scheduler_plans_within_every_rule(app: &TestApp) {
    let admin = app.sign_up("auto").await;
    let org = app.organization_id(&admin).await;
    let admin_id = app.user_id(&admin).await;
    app.data(
        Some(&admin),
        UPDATE_EMPLOYEE,
        json!({ "input": { "userId": admin_id, "active": false } }),
    )
    .await;
    let day = monday();
    let mut people = Vec::new();
    let specs: [Spec; 5] = [
        ("p1", vec!["forklift"], (8, 16), false),
        ("p2", vec!["forklift", "demo"], (12, 20), false),
        ("p3", vec!["demo"], (0, 24), false),
        ("p4", vec![], (8, 12), true),
        ("p5", vec!["demo", "forklift"], (8, 20), false),
    ];
    for (name, skills, (from, to), takes_tuesday_off) in specs {
        let token = app.add_user(org, name, OrgRole::Member).await;
        let id = app.user_id(&token).await;
        set_skills(app, &admin, &id, json!(skills)).await;
        let mut hours = HashMap::new();
        if (from, to) != (0, 24) {
            for weekday in 0..3 {
                add_rule(
                    app,
                    &admin,
                    &id,
                    weekday as i32,
                    &format!("{from:02}:00:00"),
                    &format!("{to:02}:00:00"),
                )
                .await;
                hours.insert(weekday, (from, to));
            }
        } else {
            for weekday in 0..7 {
                hours.insert(weekday, (0, 24));
            }
        }
        let mut off = Vec::new();
        if takes_tuesday_off {
            approved_time_off(app, &admin, &token, day + Duration::days(1)).await;
            off.push(day + Duration::days(1));
        }
        people.push(Person {
            id,
            skills: skills.iter().map(|s| s.to_string()).collect(),
            hours,
            off,
        });
    }
    // p5 is inactive: never proposed.
    app.data(
        Some(&admin),
        UPDATE_EMPLOYEE,
        json!({ "input": { "userId": people[4].id, "active": false } }),
    )
    .await;
    let juicer = people[2].id.clone();
    app.data(
        Some(&admin),
        "mutation($input: AssignRotationInput!) { assignRotation(input: $input) { rotationAssignment { id } } }",
        json!({ "input": { "date": day, "rotationType": "JUICER", "userId": juicer } }),
    )
    .await;

    let kinds = [
        ("DEMO", json!(["demo"])),
        ("SETUP", json!([])),
        ("CORE", json!(["forklift"])),
        ("JUICER", json!([])),
        ("OTHER", json!([])),
    ];
    let mut events = Vec::new();
    for d in 0..3 {
        let date = day + Duration::days(d);
        for i in 0..6 {
            let (kind, skills) = &kinds[i % kinds.len()];
            events.push(json!({
                "externalRef": format!("E-{d}-{i}"), "name": format!("{kind} {d}-{i}"),
                "startAt": instant(date, 8, 0), "dueAt": instant(date, 20, 0),
                "estimatedMinutes": 90, "eventType": kind, "requiredSkills": skills
            }));
        }
    }
    events.push(json!({
        "externalRef": "WELD", "name": "Welding", "startAt": instant(day, 8, 0),
        "dueAt": instant(day, 20, 0), "estimatedMinutes": 60, "requiredSkills": ["welding"]
    }));
    let imported = app
        .data(
            Some(&admin),
            "mutation($input: ImportWorkEventsInput!) { importWorkEvents(input: $input) { \
             workEvents { id externalRef startAt dueAt estimatedMinutes eventType requiredSkills } } }",
            json!({ "input": { "events": events } }),
        )
        .await;
    let by_id: HashMap<String, Value> = imported["importWorkEvents"]["workEvents"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| (e["id"].as_str().unwrap_or_default().to_string(), e.clone()))
        .collect();
    // One event is already staffed by hand: the auto-scheduler leaves it alone and
    // plans around p1's booking.
    let staffed = imported["importWorkEvents"]["workEvents"][1]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let body = book(
        app,
        &admin,
        &staffed,
        &people[0].id,
        instant(day, 8, 0),
        false,
    )
    .await;
    assert!(body.get("errors").is_none(), "{body:#}");

    let started = app
        .data(
            Some(&admin),
            "mutation($input: RunAutoSchedulerInput!) { runAutoScheduler(input: $input) { \
             run { id kind status totalSteps team { id } steps { name } } } }",
            json!({ "input": { "from": day, "to": day + Duration::days(2) } }),
        )
        .await;
    let run = &started["runAutoScheduler"]["run"];
    assert_eq!(run["kind"], "SCHEDULER");
    assert_eq!(run["totalSteps"], 3, "one step per day");
    assert!(run["team"].is_null());
    assert_eq!(run["steps"][0]["name"], day.to_string());
    let run_id = run["id"].as_str().expect("id").to_string();

    // Its progress streams on runUpdates like any run.
    let mut socket = connect(app, "graphql-transport-ws").await;
    send(&mut socket, json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {admin}") } })).await;
    assert_eq!(next(&mut socket).await["type"], "connection_ack");
    send(&mut socket, json!({ "id": "r", "type": "subscribe", "payload": {
        "query": "subscription($id: ID!) { runUpdates(runId: $id) { seq kind teamId progress { completedSteps } } }",
        "variables": { "id": run_id } } }))
    .await;
    let mut kinds_seen = Vec::new();
    loop {
        let message = next(&mut socket).await;
        if message["type"] == "complete" {
            break;
        }
        assert!(message["payload"]["errors"].is_null(), "{message}");
        let event = &message["payload"]["data"]["runUpdates"];
        assert!(event["teamId"].is_null());
        kinds_seen.push(event["kind"].as_str().unwrap_or_default().to_string());
    }
    assert_eq!(
        kinds_seen,
        vec![
            "CREATED",
            "STARTED",
            "STEP_COMPLETED",
            "STEP_COMPLETED",
            "STEP_COMPLETED",
            "COMPLETED"
        ]
    );

    let data = app
        .data(
            Some(&admin),
            "query($id: ID!) { run(id: $id) { status schedulerReport { from to eventsProcessed eventsAssigned eventsFailed durationMs settings } \
             steps { output } } \
             scheduleProposals(runId: $id) { id workEventId scheduledAt endsAt confidence reason reviewed user { id } } \
             scheduleConflicts(filter: { runId: $id }) { totalCount edges { node { exceptionType severity workEvent { externalRef } } } } }",
            json!({ "id": run_id }),
        )
        .await;
    assert_eq!(data["run"]["status"], "COMPLETED");
    let report = &data["run"]["schedulerReport"];
    let proposals = data["scheduleProposals"]
        .as_array()
        .expect("proposals")
        .clone();
    assert_eq!(report["eventsAssigned"], proposals.len());
    assert_eq!(
        report["eventsProcessed"].as_i64(),
        Some(proposals.len() as i64 + report["eventsFailed"].as_i64().unwrap_or(-1))
    );
    assert_eq!(report["settings"]["maxEventsPerEmployeePerDay"], 2);
    assert_eq!(report["from"], day.to_string());
    // 18 regular events + welding - 1 staffed by hand: the welding one cannot be staffed.
    assert_eq!(report["eventsProcessed"], 18);
    let conflicts = &data["scheduleConflicts"]["edges"];
    assert!(
        conflicts.as_array().expect("edges").iter().any(|e| {
            e["node"]["workEvent"]["externalRef"] == "WELD"
                && e["node"]["exceptionType"] == "SKILL_MISMATCH"
        }),
        "{conflicts:#}"
    );
    assert!(
        proposals.len() >= 15,
        "most events are staffed: {}",
        proposals.len()
    );

    // The independent checker; p1's hand-made booking counts against them.
    let by_id: HashMap<String, Value> = by_id;
    let booked = vec![(
        people[0].id.clone(),
        (
            parse(&json!(instant(day, 8, 0))),
            parse(&json!(instant(day, 9, 30))),
        ),
    )];
    let schedulable: Vec<Person> = people.into_iter().take(4).collect();
    roster::check(&schedulable, &by_id, &proposals, &booked, 2);
    for p in &proposals {
        assert_ne!(
            p["workEventId"],
            json!(staffed),
            "staffed events are left alone"
        );
        let event = &by_id[p["workEventId"].as_str().unwrap_or_default()];
        if event["eventType"] == "JUICER" && parse(&p["scheduledAt"]).date_naive() == day {
            assert_eq!(
                p["user"]["id"],
                json!(juicer),
                "the day's Juicer takes its Juicer events"
            );
        }
    }

    // Meanwhile a manager books the first proposal's person at its time elsewhere:
    // approving re-checks the rules, so that one proposal is refused.
    let first = &proposals[0];
    let clash = create_event(
        app,
        &admin,
        "Clash",
        (
            first["scheduledAt"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            first["endsAt"].as_str().unwrap_or_default().to_string(),
        ),
        90,
        json!({}),
    )
    .await;
    let body = book(
        app,
        &admin,
        &clash,
        first["user"]["id"].as_str().unwrap_or_default(),
        first["scheduledAt"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        false,
    )
    .await;
    assert!(body.get("errors").is_none(), "{body:#}");
    let approved = app
        .data(
            Some(&admin),
            "mutation($input: ApproveAllProposalsInput!) { approveAllProposals(input: $input) { \
             approved { id reviewed approved schedule { id } } schedules { id } refused { proposal { id } rule message } } }",
            json!({ "input": { "runId": run_id } }),
        )
        .await;
    let result = &approved["approveAllProposals"];
    assert_eq!(
        result["refused"].as_array().map(Vec::len),
        Some(1),
        "{result:#}"
    );
    assert_eq!(result["refused"][0]["proposal"]["id"], first["id"]);
    assert_eq!(result["refused"][0]["rule"], "double_booking");
    assert_eq!(
        result["approved"].as_array().map(Vec::len),
        Some(proposals.len() - 1)
    );
    assert!(
        result["approved"]
            .as_array()
            .expect("approved")
            .iter()
            .all(|p| p["approved"] == true && p["schedule"]["id"].is_string())
    );
    let reject = app
        .data(
            Some(&admin),
            "mutation($input: RejectProposalInput!) { rejectProposal(input: $input) { proposal { reviewed approved } } }",
            json!({ "input": { "id": first["id"] } }),
        )
        .await;
    assert_eq!(reject["rejectProposal"]["proposal"]["approved"], false);
    let again = app
        .gql(
            Some(&admin),
            "mutation($input: ApproveProposalInput!) { approveProposal(input: $input) { proposal { id } } }",
            json!({ "input": { "id": first["id"] } }),
        )
        .await;
    assert_eq!(error_code(&again), "CONFLICT", "already reviewed");

    let coverage = app
        .data(
            Some(&admin),
            "query($from: NaiveDate!, $to: NaiveDate!) { coverage(from: $from, to: $to) { date totalEvents staffedEvents unstaffedEvents { externalRef } } }",
            json!({ "from": day, "to": day + Duration::days(2) }),
        )
        .await;
    let days = coverage["coverage"].as_array().expect("days");
    let unstaffed: usize = days
        .iter()
        .map(|d| d["unstaffedEvents"].as_array().map(Vec::len).unwrap_or(0))
        .sum();
    let failed = report["eventsFailed"].as_u64().unwrap_or(0) as usize;
    assert_eq!(
        unstaffed,
        failed + 1,
        "the failed events and the refused proposal's"
    );
    assert_eq!(
        days[0]["totalEvents"], 8,
        "Monday: six events, welding, and the clash"
    );
}

async fn approvals_keep_the_runs_settings(app: &TestApp) {
    let admin = app.sign_up("approve").await;
    let admin_id = app.user_id(&admin).await;
    app.data(
        Some(&admin),
        UPDATE_EMPLOYEE,
        json!({ "input": { "userId": admin_id, "active": false } }),
    )
    .await;
    let (_, pat) = member(app, &admin, "pat").await;
    let (_, sam) = member(app, &admin, "sam").await;
    app.data(
        Some(&admin),
        UPDATE_EMPLOYEE,
        json!({ "input": { "userId": sam, "active": false } }),
    )
    .await;
    // The organization allows 1 event a day; the run allows 3 and proposes people
    // without a required skill.
    app.data(
        Some(&admin),
        "mutation($input: UpdateOrganizationInput!) { updateOrganization(input: $input) { organization { id } } }",
        json!({ "input": { "settings": { "scheduling": { "maxEventsPerEmployeePerDay": 1 } } } }),
    )
    .await;
    let day = monday();
    let window = (instant(day, 8, 0), instant(day, 18, 0));
    let mut events = Vec::new();
    for (name, skills) in [
        ("One", json!([])),
        ("Two", json!([])),
        ("Weld", json!(["welding"])),
    ] {
        events.push(
            create_event(
                app,
                &admin,
                name,
                window.clone(),
                60,
                json!({ "requiredSkills": skills }),
            )
            .await,
        );
    }
    let data = app
        .data(
            Some(&admin),
            "mutation($input: RunAutoSchedulerInput!) { runAutoScheduler(input: $input) { run { id } } }",
            json!({ "input": { "from": day, "to": day,
                               "settings": { "maxEventsPerEmployeePerDay": 3, "requireSkills": false } } }),
        )
        .await;
    let run = data["runAutoScheduler"]["run"]["id"].clone();
    let mut proposals = Vec::new();
    for _ in 0..200 {
        let data = app
            .data(
                Some(&admin),
                "query($id: ID!) { run(id: $id) { status } scheduleProposals(runId: $id) { id workEventId user { id } } }",
                json!({ "id": run }),
            )
            .await;
        if data["run"]["status"] == "COMPLETED" {
            proposals = data["scheduleProposals"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert_eq!(
        proposals.len(),
        3,
        "all three for Pat under the run's limit: {proposals:#?}"
    );
    assert!(proposals.iter().all(|p| p["user"]["id"] == json!(pat)));
    // Meanwhile Sam becomes available and is booked on event One by hand: its
    // proposal now finds the event staffed.
    app.data(
        Some(&admin),
        UPDATE_EMPLOYEE,
        json!({ "input": { "userId": sam, "active": true } }),
    )
    .await;
    let body = book(app, &admin, &events[0], &sam, instant(day, 16, 0), false).await;
    assert!(body.get("errors").is_none(), "{body:#}");
    let approved = app
        .data(
            Some(&admin),
            "mutation($input: ApproveAllProposalsInput!) { approveAllProposals(input: $input) { \
             approved { workEventId } refused { proposal { workEventId } rule } } }",
            json!({ "input": { "runId": run } }),
        )
        .await;
    let result = &approved["approveAllProposals"];
    assert_eq!(
        result["refused"].as_array().map(Vec::len),
        Some(1),
        "{result:#}"
    );
    assert_eq!(result["refused"][0]["rule"], "event_staffed");
    assert_eq!(
        result["refused"][0]["proposal"]["workEventId"],
        json!(events[0])
    );
    assert_eq!(
        result["approved"].as_array().map(Vec::len),
        Some(2),
        "two for Pat in one day under the run's limit, the skill mismatch kept as a warning"
    );
    let warnings = app
        .data(
            Some(&admin),
            "{ scheduleConflicts(filter: { resolved: false }) { edges { node { exceptionType severity schedule { id } } } } }",
            json!({}),
        )
        .await;
    assert!(
        warnings["scheduleConflicts"]["edges"]
            .as_array()
            .expect("edges")
            .iter()
            .any(|e| e["node"]["exceptionType"] == "SKILL_MISMATCH"
                && e["node"]["schedule"]["id"].is_string()),
        "{warnings:#}"
    );
    // Dates far outside any calendar are refused, not computed with.
    let body = app
        .gql(
            Some(&admin),
            "{ coverage(from: \"+262143-12-31\", to: \"+262143-12-31\") { date } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT");
    let body = app
        .gql(
            Some(&admin),
            CREATE_EVENT,
            json!({ "input": { "event": { "name": "Far", "startAt": "9999-01-01T00:00:00Z",
                                          "dueAt": "9999-01-02T00:00:00Z" } } }),
        )
        .await;
    assert_eq!(error_field(&body), "startAt");
}

backend_tests! {
    employees => employees_have_profiles;
    work_events => work_events_and_imports;
    availability => availability_combines_rules_overrides_and_time_off;
    booking_rules => every_booking_rule_names_itself;
    concurrent_bookings => concurrent_bookings_have_one_winner;
    rotations_attendance => rotations_and_attendance;
    schedules_changed => schedules_stream_to_the_calendar;
    auto_scheduler => auto_scheduler_plans_within_every_rule;
    approvals => approvals_keep_the_runs_settings;
}
