//! `gateway seed --bench`: the peer benchmark's data set (`db/seed.sql` of the
//! comparison harness) written through the gateway's own tables, so the SQLite default
//! can be measured on the same rows the PostgreSQL peers read.
//!
//! Every id is the md5 of a stable key read as a uuid (`md5(key)::uuid`) and every
//! value a pure function of the series indexes, exactly as the SQL seed computes them:
//! 20 organizations (`org-1`..`org-20`), 5 users, 25 teams, 5 roles per team, 20 runs
//! per team and 5 steps per run.

use bigdecimal::BigDecimal;
use chrono::{DateTime, Duration, TimeZone, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use md5::{Digest, Md5};

use crate::db::schema::{organizations, roles, run_steps, runs, teams, users};
use crate::db::{Conn, Decimal, Id, Json, Pool, Timestamp};
use crate::error::{AppError, AppResult};
use crate::{dispatch, insert_rows, transaction};

pub const ORGANIZATIONS: i64 = 20;
const USERS: i64 = 5;
const TEAMS: i64 = 25;
const ROLES: i64 = 5;
const RUNS: i64 = 20;
const STEPS: i64 = 5;
/// Rows per INSERT: well under both backends' bound-parameter limits.
const BATCH: usize = 1_000;

/// `md5(key)::uuid`.
fn did(key: &str) -> Id {
    let digest: [u8; 16] = Md5::digest(key.as_bytes()).into();
    Id(uuid::Uuid::from_bytes(digest))
}

fn at(base: &str, offset: Duration) -> Timestamp {
    let base = DateTime::parse_from_rfc3339(base)
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|_| Utc.timestamp_opt(0, 0).single().unwrap_or_default());
    Timestamp(base + offset)
}

/// `units / 10^scale + extra / 10^4`, the seed's decimal arithmetic done exactly.
fn decimal(units: i64, scale: i64, extra_ten_thousandths: i64) -> Decimal {
    Decimal(BigDecimal::new(units.into(), scale) + BigDecimal::new(extra_ten_thousandths.into(), 4))
}

/// What `seed --bench` wrote.
pub struct BenchSeed {
    pub organizations: i64,
    pub users: i64,
    pub teams: i64,
    pub roles: i64,
    pub runs: i64,
    pub steps: i64,
}

/// Writes the benchmark data set; refuses when `org-1` already exists.
pub async fn bench(pool: &Pool) -> AppResult<BenchSeed> {
    let mut pooled = pool.get().await?;
    let mut conn = pooled.conn();
    let existing: i64 = dispatch!(&mut conn, |c| organizations::table
        .filter(organizations::slug.eq("org-1"))
        .count()
        .get_result(c)
        .await)?;
    if existing > 0 {
        return Err(AppError::Conflict {
            field: None,
            message: "the benchmark data set is already there (organization org-1 exists)".into(),
        });
    }
    transaction!(&mut conn, |tx| -> AppResult<()> {
        insert_organizations(tx).await?;
        insert_users(tx).await?;
        insert_teams(tx).await?;
        insert_roles(tx).await?;
        insert_runs(tx).await?;
        insert_steps(tx).await?;
        Ok(())
    })?;
    Ok(BenchSeed {
        organizations: ORGANIZATIONS,
        users: ORGANIZATIONS * USERS,
        teams: ORGANIZATIONS * TEAMS,
        roles: ORGANIZATIONS * TEAMS * ROLES,
        runs: ORGANIZATIONS * TEAMS * RUNS,
        steps: ORGANIZATIONS * TEAMS * RUNS * STEPS,
    })
}

/// `ARRAY[...][1 + n % len]`.
fn pick<'a>(values: &[&'a str], n: i64) -> &'a str {
    let len = values.len() as i64;
    values[n.rem_euclid(len) as usize]
}

async fn insert_organizations(conn: &mut Conn<'_>) -> AppResult<()> {
    let rows: Vec<_> = (1..=ORGANIZATIONS)
        .map(|o| {
            let stamp = at("2025-01-01T00:00:00Z", Duration::days(o));
            (
                organizations::id.eq(did(&format!("org-{o}"))),
                organizations::name.eq(format!("Organization {o}")),
                organizations::slug.eq(format!("org-{o}")),
                organizations::plan.eq(pick(&["free", "pro", "enterprise"], o).to_string()),
                organizations::api_quota_limit.eq((1000 * o) as i32),
                organizations::api_quota_used.eq((10 * o) as i32),
                organizations::settings.eq(Json(serde_json::json!({ "seed": o }))),
                organizations::created_at.eq(stamp),
                organizations::updated_at.eq(stamp),
            )
        })
        .collect();
    insert_rows!(conn, organizations::table, &rows)?;
    Ok(())
}

async fn insert_users(conn: &mut Conn<'_>) -> AppResult<()> {
    let mut rows = Vec::new();
    for o in 1..=ORGANIZATIONS {
        for u in 1..=USERS {
            let stamp = at("2025-01-02T00:00:00Z", Duration::minutes(o * 10 + u));
            let role = match u {
                1 => "admin",
                2 => "manager",
                5 => "viewer",
                _ => "member",
            };
            rows.push((
                users::id.eq(did(&format!("user-{o}-{u}"))),
                users::organization_id.eq(did(&format!("org-{o}"))),
                users::email.eq(format!("user{u}@org{o}.example")),
                users::username.eq(format!("org{o}_user{u}")),
                users::full_name.eq(Some(format!("User {u} of Org {o}"))),
                users::org_role.eq(role.to_string()),
                users::created_at.eq(stamp),
                users::updated_at.eq(stamp),
            ));
        }
    }
    insert_rows!(conn, users::table, &rows)?;
    Ok(())
}

async fn insert_teams(conn: &mut Conn<'_>) -> AppResult<()> {
    let mut rows = Vec::new();
    for o in 1..=ORGANIZATIONS {
        for t in 1..=TEAMS {
            let stamp = at("2025-01-03T00:00:00Z", Duration::minutes(o * 100 + t));
            rows.push((
                teams::id.eq(did(&format!("team-{o}-{t}"))),
                teams::organization_id.eq(did(&format!("org-{o}"))),
                teams::name.eq(format!("Team {t:02}")),
                teams::description.eq(Some(format!("Team {t} of org {o}"))),
                teams::monthly_budget.eq(decimal(100 + (o * 37 + t * 11) % 900, 0, 5000)),
                teams::current_spend.eq(decimal((o * 13 + t * 7) % 100, 0, 2500)),
                teams::status
                    .eq(pick(&["IDLE", "RUNNING", "COMPLETED", "FAILED"], o + t).to_string()),
                teams::last_executed_at.eq(Some(at(
                    "2025-03-01T00:00:00Z",
                    Duration::minutes(o * 100 + t),
                ))),
                teams::created_at.eq(stamp),
                teams::updated_at.eq(stamp),
            ));
        }
    }
    insert_rows!(conn, teams::table, &rows)?;
    Ok(())
}

async fn insert_roles(conn: &mut Conn<'_>) -> AppResult<()> {
    let mut rows = Vec::new();
    for o in 1..=ORGANIZATIONS {
        for t in 1..=TEAMS {
            for r in 1..=ROLES {
                let stamp = at(
                    "2025-01-04T00:00:00Z",
                    Duration::seconds((o * 100 + t) * 10 + r),
                );
                rows.push((
                    roles::id.eq(did(&format!("role-{o}-{t}-{r}"))),
                    roles::organization_id.eq(did(&format!("org-{o}"))),
                    roles::team_id.eq(did(&format!("team-{o}-{t}"))),
                    roles::title.eq(pick(
                        &["Planner", "Researcher", "Writer", "Reviewer", "Publisher"],
                        r - 1,
                    )
                    .to_string()),
                    roles::description.eq(Some(format!("Role {r} of team {t} in org {o}"))),
                    roles::expertise.eq(pick(
                        &["junior", "intermediate", "senior", "expert"],
                        t + r,
                    )
                    .to_string()),
                    roles::llm_model.eq(pick(
                        &["gpt-4", "gpt-4-turbo", "gpt-3.5-turbo", "claude-3-haiku"],
                        o + t + r,
                    )
                    .to_string()),
                    roles::llm_config.eq(Some(Json(
                        serde_json::json!({ "temperature": (r % 5) as f64 / 10.0 }),
                    ))),
                    roles::position.eq(r as i32),
                    roles::is_active.eq(true),
                    roles::created_at.eq(stamp),
                    roles::updated_at.eq(stamp),
                ));
            }
        }
    }
    for chunk in rows.chunks(BATCH) {
        insert_rows!(&mut *conn, roles::table, chunk)?;
    }
    Ok(())
}

async fn insert_runs(conn: &mut Conn<'_>) -> AppResult<()> {
    let mut rows = Vec::new();
    for o in 1..=ORGANIZATIONS {
        for t in 1..=TEAMS {
            for n in 1..=RUNS {
                let minute = Duration::minutes((o * 100 + t) * 100 + n);
                let started = at("2025-02-01T00:00:00Z", minute);
                let completed = at("2025-02-01T00:00:01Z", minute);
                let spread = (o * 131 + t * 17 + n * 7) % 5000;
                rows.push((
                    runs::id.eq(did(&format!("run-{o}-{t}-{n}"))),
                    runs::organization_id.eq(did(&format!("org-{o}"))),
                    runs::team_id.eq(Some(did(&format!("team-{o}-{t}")))),
                    runs::status.eq(pick(
                        &["COMPLETED", "COMPLETED", "COMPLETED", "FAILED", "RUNNING"],
                        o + t + n,
                    )
                    .to_string()),
                    runs::inputs.eq(Json(serde_json::json!({ "prompt": format!("run {n}") }))),
                    runs::result.eq(Some(format!("result {n}"))),
                    runs::total_steps.eq(STEPS as i32),
                    runs::completed_steps.eq(STEPS as i32),
                    runs::tokens_used.eq(1000 + spread),
                    runs::cost.eq(decimal(spread, 3, 123)),
                    runs::duration_ms.eq(Some(1000 + n * 10)),
                    runs::created_at.eq(started),
                    runs::updated_at.eq(completed),
                    runs::started_at.eq(Some(started)),
                    runs::completed_at.eq(Some(completed)),
                ));
            }
        }
    }
    for chunk in rows.chunks(BATCH) {
        insert_rows!(&mut *conn, runs::table, chunk)?;
    }
    Ok(())
}

async fn insert_steps(conn: &mut Conn<'_>) -> AppResult<()> {
    for o in 1..=ORGANIZATIONS {
        // One organization at a time: 2,500 steps, not all 50,000 held at once.
        let mut rows = Vec::new();
        for t in 1..=TEAMS {
            for n in 1..=RUNS {
                let minute = Duration::minutes((o * 100 + t) * 100 + n);
                for s in 1..=STEPS {
                    let spread = (o * 53 + t * 29 + n * 11 + s * 3) % 900;
                    rows.push((
                        run_steps::id.eq(did(&format!("step-{o}-{t}-{n}-{s}"))),
                        run_steps::organization_id.eq(did(&format!("org-{o}"))),
                        run_steps::run_id.eq(did(&format!("run-{o}-{t}-{n}"))),
                        run_steps::role_id
                            .eq(Some(did(&format!("role-{o}-{t}-{}", 1 + (s - 1) % ROLES)))),
                        run_steps::position.eq(s as i32),
                        run_steps::name.eq(pick(
                            &["plan", "research", "draft", "review", "publish"],
                            s - 1,
                        )
                        .to_string()),
                        run_steps::status.eq("COMPLETED".to_string()),
                        run_steps::output.eq(Some(Json(serde_json::json!({ "step": s })))),
                        run_steps::tokens_used.eq(100 + spread),
                        run_steps::cost.eq(decimal(spread, 4, 1)),
                        run_steps::duration_ms.eq(Some(100 + s * 10)),
                        run_steps::started_at.eq(Some(at(
                            "2025-02-01T00:00:00Z",
                            minute + Duration::seconds(s),
                        ))),
                        run_steps::completed_at.eq(Some(at(
                            "2025-02-01T00:00:00Z",
                            minute + Duration::seconds(s + 1),
                        ))),
                        run_steps::created_at.eq(at("2025-02-01T00:00:00Z", minute)),
                        run_steps::updated_at.eq(at("2025-02-01T00:00:00Z", minute)),
                    ));
                }
            }
        }
        for chunk in rows.chunks(BATCH) {
            insert_rows!(&mut *conn, run_steps::table, chunk)?;
        }
    }
    Ok(())
}
