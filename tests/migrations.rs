//! Every migration applies, reverts and re-applies on both backends.

mod common;

use common::{Backend, TestDatabase};
use diesel_async::SimpleAsyncConnection;
use gateway::db::migrations::{self, Direction};
use gateway::db::{Pool, PoolOptions, StatementCounter};

const TABLES: [&str; 33] = [
    "conversations",
    "messages",
    "documents",
    "organization_settings",
    "api_usage",
    "plans",
    "subscriptions",
    "usage_records",
    "run_schedules",
    "webhooks",
    "webhook_deliveries",
    "webhook_attempts",
    "orchestration_templates",
    "projects",
    "employee_profiles",
    "work_events",
    "schedules",
    "availability_rules",
    "availability_overrides",
    "time_off_requests",
    "rotation_assignments",
    "schedule_proposals",
    "schedule_exceptions",
    "attendance",
    "organizations",
    "users",
    "api_keys",
    "teams",
    "roles",
    "runs",
    "run_steps",
    "run_events",
    "audit_logs",
];

fn options() -> PoolOptions {
    PoolOptions {
        max_size: 1,
        acquire_timeout: std::time::Duration::from_secs(5),
        statement_timeout: std::time::Duration::from_secs(5),
    }
}

/// Whether a table exists: selecting from a missing table fails on both backends.
async fn table_exists(url: &str, table: &str) -> bool {
    let pool = Pool::new(url, &options(), StatementCounter::default()).expect("pool");
    let mut pooled = pool.get().await.expect("connection");
    let mut conn = pooled.conn();
    let sql = format!("SELECT 1 FROM {table} WHERE 1 = 0");
    gateway::dispatch!(&mut conn, |c| c.batch_execute(&sql).await).is_ok()
}

/// Every model selects from its table: the migrations and `schema.rs` agree on column
/// names. (The tables are empty here; values and their types are read back by the API
/// tests on both backends.)
async fn models_match_tables(url: &str) {
    use diesel::prelude::*;
    use diesel_async::RunQueryDsl;
    use gateway::db::schema::*;
    let pool = Pool::new(url, &options(), StatementCounter::default()).expect("pool");
    let mut pooled = pool.get().await.expect("connection");
    let mut conn = pooled.conn();
    gateway::dispatch!(&mut conn, |c| {
        organizations::table
            .select(gateway::organizations::Organization::as_select())
            .load(c)
            .await
            .expect("organizations");
        users::table
            .select(gateway::users::User::as_select())
            .load(c)
            .await
            .expect("users");
        teams::table
            .select(gateway::teams::Team::as_select())
            .load(c)
            .await
            .expect("teams");
        roles::table
            .select(gateway::teams::Role::as_select())
            .load(c)
            .await
            .expect("roles");
        runs::table
            .select(gateway::runs::Run::as_select())
            .load(c)
            .await
            .expect("runs");
        run_steps::table
            .select(gateway::runs::RunStep::as_select())
            .load(c)
            .await
            .expect("run_steps");
        audit_logs::table
            .select(gateway::audit::AuditLog::as_select())
            .load(c)
            .await
            .expect("audit_logs");
        api_keys::table
            .select(api_keys::all_columns)
            .limit(0)
            .execute(c)
            .await
            .expect("api_keys");
        macro_rules! model {
            ($table:ident, $model:ty) => {
                $table::table
                    .select(<$model>::as_select())
                    .load(c)
                    .await
                    .expect(stringify!($table));
            };
        }
        use gateway::scheduling as s;
        model!(employee_profiles, s::EmployeeProfile);
        model!(work_events, s::WorkEvent);
        model!(schedules, s::Schedule);
        model!(availability_rules, s::AvailabilityRule);
        model!(availability_overrides, s::AvailabilityOverride);
        model!(time_off_requests, s::TimeOffRequest);
        model!(rotation_assignments, s::RotationAssignment);
        model!(schedule_proposals, s::ScheduleProposal);
        model!(schedule_exceptions, s::ScheduleException);
        model!(attendance, s::Attendance);
        model!(projects, gateway::projects::Project);
        model!(orchestration_templates, gateway::templates::Template);
        model!(webhooks, gateway::webhooks::Webhook);
        model!(webhook_deliveries, gateway::webhooks::WebhookDelivery);
        model!(webhook_attempts, gateway::webhooks::WebhookAttempt);
        model!(run_schedules, gateway::run_schedules::RunSchedule);
        model!(conversations, gateway::conversations::Conversation);
        model!(messages, gateway::conversations::Message);
        model!(usage_records, gateway::billing::UsageRecord);
        model!(documents, gateway::documents::Document);
        run_events::table
            .select(run_events::all_columns)
            .limit(0)
            .execute(c)
            .await
            .expect("run_events");
    });
}

async fn round_trip(backend: Backend) {
    let Some(db) = TestDatabase::create(backend).await else {
        return;
    };
    let applied = migrations::run(&db.url, Direction::Up).await.expect("up");
    assert_eq!(applied.len(), 18);
    for table in TABLES {
        assert!(
            table_exists(&db.url, table).await,
            "{table} exists after up"
        );
    }
    let reverted = migrations::run(&db.url, Direction::DownAll)
        .await
        .expect("down");
    assert_eq!(reverted.len(), 18);
    for table in TABLES {
        assert!(
            !table_exists(&db.url, table).await,
            "{table} is gone after down"
        );
    }
    let reapplied = migrations::run(&db.url, Direction::Up)
        .await
        .expect("up again");
    assert_eq!(reapplied, applied);
    models_match_tables(&db.url).await;
    assert!(
        migrations::run(&db.url, Direction::Up)
            .await
            .expect("idempotent")
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_up_down_up() {
    round_trip(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_up_down_up() {
    round_trip(Backend::Postgres).await;
}
