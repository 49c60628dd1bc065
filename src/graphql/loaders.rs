//! Per-request dataloaders: every relation is fetched in one statement per batch.
//!
//! Loaders are built for one authenticated request and carry its organization, so each
//! batch is scoped to the tenant in SQL and no cache outlives the request.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use async_graphql::dataloader::{DataLoader, Loader};
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;

use crate::db::{Id, Pool};
use crate::error::AppError;
use crate::organizations::{Organization, queries as orgs};
use crate::pagination::Window;
use crate::runs::{Run, RunEvent, RunFilter, RunStep, StepLine, queries as runs};
use crate::scheduling::{Attendance, EmployeeProfile, Schedule, WorkEvent, queries as scheduling};
use crate::teams::{Role, Team, queries as teams};
use crate::users::{User, queries as users};

pub type LoadError = Arc<AppError>;

/// The loader of one request: one [`DataLoader`] batches each key type separately.
pub type Loaders = DataLoader<Db>;

/// Where a loader runs its batches.
#[derive(Clone)]
pub enum Batching {
    /// Inside the request's own future (see [`BatchScope`]): deterministic batches.
    Scoped(BatchScope),
    /// As runtime tasks after a short delay: for long-lived connections (subscriptions).
    Spawned,
}

/// A request's loader for `organization_id`.
pub fn loaders(pool: Pool, organization_id: Id, batching: Batching) -> Loaders {
    let db = Db {
        pool,
        org: organization_id,
    };
    match batching {
        Batching::Scoped(scope) => {
            DataLoader::new(db, move |task| scope.push(task)).delay(Duration::ZERO)
        }
        Batching::Spawned => DataLoader::new(db, tokio::spawn),
    }
}

type Task = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// Runs a request's batch loads inside the request's own future.
///
/// Resolvers of one level all ask their loader during one poll of the request; a batch
/// queued here is first polled only after that poll returns, so it always holds every
/// key of the level. That makes statement counts deterministic (one per level) and
/// spares the usual timer delay per level.
#[derive(Clone, Default)]
pub struct BatchScope {
    queue: Arc<Mutex<Vec<Task>>>,
}

impl BatchScope {
    fn push(&self, task: Task) {
        if let Ok(mut queue) = self.queue.lock() {
            queue.push(task);
        }
    }

    /// Drives `request` and the batches it queues until `request` completes.
    pub fn run<F: Future>(self, request: F) -> impl Future<Output = F::Output> {
        Scoped {
            request: Box::pin(request),
            tasks: FuturesUnordered::new(),
            scope: self,
        }
    }
}

struct Scoped<F: Future> {
    request: Pin<Box<F>>,
    tasks: FuturesUnordered<Task>,
    scope: BatchScope,
}

impl<F: Future> Future for Scoped<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<F::Output> {
        loop {
            if let Poll::Ready(output) = self.request.as_mut().poll(cx) {
                return Poll::Ready(output);
            }
            let queued: Vec<Task> = match self.scope.queue.lock() {
                Ok(mut queue) => queue.drain(..).collect(),
                Err(_) => Vec::new(),
            };
            let had_queued = !queued.is_empty();
            self.tasks.extend(queued);
            // Poll batches until none can progress; a finished batch wakes resolvers,
            // which the next turn of the loop polls.
            let mut finished_any = false;
            while let Poll::Ready(Some(())) = self.tasks.poll_next_unpin(cx) {
                finished_any = true;
            }
            if !had_queued && !finished_any {
                return Poll::Pending;
            }
        }
    }
}

/// Database access for one organization; one `Loader` impl per relation.
#[derive(Clone)]
pub struct Db {
    pool: Pool,
    org: Id,
}

macro_rules! with_conn {
    ($self:ident, |$conn:ident| $body:expr) => {{
        let mut pooled = $self
            .pool
            .get()
            .await
            .map_err(|e| Arc::new(AppError::from(e)))?;
        let mut $conn = pooled.conn();
        $body.await.map_err(|e| Arc::new(AppError::from(e)))
    }};
}

/// A loader of rows by their ids, scoped to the organization: one `$query(conn, org,
/// ids)` per batch, each row under `$key(row.$field)`.
macro_rules! by_id_loader {
    ($key:ident, $value:ty, $query:path, $field:ident) => {
        by_id_loader!($key, $value, $query, $field, |row| row);
    };
    ($key:ident, $value:ty, $query:path, $field:ident, |$row:ident| $wrap:expr) => {
        impl Loader<$key> for Db {
            type Value = $value;
            type Error = LoadError;

            async fn load(&self, keys: &[$key]) -> Result<HashMap<$key, $value>, LoadError> {
                let rows = with_conn!(self, |conn| $query(
                    &mut conn,
                    self.org,
                    &ids(keys, |k| k.0)
                ))?;
                Ok(rows
                    .into_iter()
                    .map(|$row| ($key($row.$field), $wrap))
                    .collect())
            }
        }
    };
}

/// Keys of the organization loader (wrapped so it differs from user and team ids).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OrganizationKey(pub Id);
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UserKey(pub Id);
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TeamKey(pub Id);
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RoleKey(pub Id);
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RunKey(pub Id);
/// A team's roles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TeamRolesKey(pub Id);
/// A run's steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RunStepsKey(pub Id);
/// A run's steps, only the columns of a listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RunStepLinesKey(pub Id);
/// A run's event log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RunEventsKey(pub Id);
/// One window of a team's runs, newest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TeamRunsKey {
    pub team_id: Id,
    pub filter: RunFilter,
    pub window: Window,
}
/// How many runs a team has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TeamRunCountKey {
    pub team_id: Id,
    pub filter: RunFilter,
}

/// Rows of a one-to-many relation under their parent's key; every key gets a list,
/// empty when the parent has no rows.
fn group<K, V>(
    keys: &[K],
    rows: impl IntoIterator<Item = V>,
    key_of: impl Fn(&V) -> K,
) -> HashMap<K, Vec<V>>
where
    K: Copy + Eq + std::hash::Hash,
{
    let mut grouped: HashMap<K, Vec<V>> = keys.iter().map(|k| (*k, Vec::new())).collect();
    for row in rows {
        grouped.entry(key_of(&row)).or_default().push(row);
    }
    grouped
}

fn ids<K: Copy>(keys: &[K], id: impl Fn(K) -> Id) -> Vec<Id> {
    keys.iter().map(|k| id(*k)).collect()
}

impl Loader<OrganizationKey> for Db {
    type Value = Organization;
    type Error = LoadError;

    async fn load(
        &self,
        keys: &[OrganizationKey],
    ) -> Result<HashMap<OrganizationKey, Organization>, LoadError> {
        // A request only ever sees its own organization.
        let wanted: Vec<Id> = ids(keys, |k| k.0)
            .into_iter()
            .filter(|id| *id == self.org)
            .collect();
        let rows = with_conn!(self, |conn| orgs::by_ids(&mut conn, &wanted))?;
        Ok(rows
            .into_iter()
            .map(|o| (OrganizationKey(o.id), o))
            .collect())
    }
}

by_id_loader!(UserKey, User, users::by_ids, id);

by_id_loader!(TeamKey, Team, teams::by_ids, id);

// Shared: every step of a page asks for its role, and the loader hands each asker
// its own copy of the value.
by_id_loader!(RoleKey, Arc<Role>, teams::roles_by_ids, id, |row| Arc::new(
    row
));

by_id_loader!(RunKey, Run, runs::by_ids, id);

// The relations a nested page reads by the hundred hold shared rows: the loader hands
// every asker a copy of its value, which is then a list of pointers, not of rows.
impl Loader<TeamRolesKey> for Db {
    type Value = Vec<Arc<Role>>;
    type Error = LoadError;

    async fn load(
        &self,
        keys: &[TeamRolesKey],
    ) -> Result<HashMap<TeamRolesKey, Vec<Arc<Role>>>, LoadError> {
        let rows = with_conn!(self, |conn| teams::roles_of_teams(
            &mut conn,
            self.org,
            &ids(keys, |k| k.0)
        ))?;
        Ok(group(keys, rows.into_iter().map(Arc::new), |role| {
            TeamRolesKey(role.team_id)
        }))
    }
}

impl Loader<RunStepsKey> for Db {
    type Value = Vec<Arc<RunStep>>;
    type Error = LoadError;

    async fn load(
        &self,
        keys: &[RunStepsKey],
    ) -> Result<HashMap<RunStepsKey, Vec<Arc<RunStep>>>, LoadError> {
        let rows = with_conn!(self, |conn| runs::steps_of_runs(
            &mut conn,
            self.org,
            &ids(keys, |k| k.0)
        ))?;
        Ok(group(keys, rows.into_iter().map(Arc::new), |step| {
            RunStepsKey(step.run_id)
        }))
    }
}

impl Loader<RunStepLinesKey> for Db {
    type Value = Vec<Arc<StepLine>>;
    type Error = LoadError;

    async fn load(
        &self,
        keys: &[RunStepLinesKey],
    ) -> Result<HashMap<RunStepLinesKey, Vec<Arc<StepLine>>>, LoadError> {
        let rows = with_conn!(self, |conn| runs::step_lines_of_runs(
            &mut conn,
            self.org,
            &ids(keys, |k| k.0)
        ))?;
        Ok(group(keys, rows.into_iter().map(Arc::new), |step| {
            RunStepLinesKey(step.run_id)
        }))
    }
}

impl Loader<RunEventsKey> for Db {
    type Value = Vec<RunEvent>;
    type Error = LoadError;

    async fn load(
        &self,
        keys: &[RunEventsKey],
    ) -> Result<HashMap<RunEventsKey, Vec<RunEvent>>, LoadError> {
        let rows = with_conn!(self, |conn| runs::events_of_runs(
            &mut conn,
            self.org,
            &ids(keys, |k| k.0)
        ))?;
        let events =
            crate::runs::events_from_rows(rows).map_err(|e| Arc::new(AppError::Internal(e)))?;
        Ok(group(keys, events, |event| RunEventsKey(event.run_id)))
    }
}

impl Loader<TeamRunsKey> for Db {
    type Value = Vec<Arc<Run>>;
    type Error = LoadError;

    async fn load(
        &self,
        keys: &[TeamRunsKey],
    ) -> Result<HashMap<TeamRunsKey, Vec<Arc<Run>>>, LoadError> {
        // Teams asking for the same window (the usual case) share one statement.
        let mut by_window: HashMap<(RunFilter, Window), Vec<TeamRunsKey>> = HashMap::new();
        for key in keys {
            by_window
                .entry((key.filter, key.window))
                .or_default()
                .push(*key);
        }
        let mut result = HashMap::with_capacity(keys.len());
        for ((filter, window), window_keys) in by_window {
            let team_ids = ids(&window_keys, |k| k.team_id);
            let rows = with_conn!(self, |conn| runs::recent_by_teams(
                &mut conn, self.org, &team_ids, filter, window
            ))?;
            result.extend(group(&window_keys, rows.into_iter().map(Arc::new), |run| {
                TeamRunsKey {
                    // Rows are selected by team, so every one has a team.
                    team_id: run.team_id.unwrap_or_default(),
                    filter,
                    window,
                }
            }));
        }
        Ok(result)
    }
}

impl Loader<TeamRunCountKey> for Db {
    type Value = i64;
    type Error = LoadError;

    async fn load(
        &self,
        keys: &[TeamRunCountKey],
    ) -> Result<HashMap<TeamRunCountKey, i64>, LoadError> {
        let mut by_filter: HashMap<RunFilter, Vec<Id>> = HashMap::new();
        for key in keys {
            by_filter.entry(key.filter).or_default().push(key.team_id);
        }
        let mut result = HashMap::new();
        for (filter, team_ids) in by_filter {
            let counts = with_conn!(self, |conn| runs::count_by_teams(
                &mut conn, self.org, &team_ids, filter
            ))?;
            for team_id in team_ids {
                let count = counts.get(&team_id).copied().unwrap_or(0);
                result.insert(TeamRunCountKey { team_id, filter }, count);
            }
        }
        Ok(result)
    }
}

/// A work event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WorkEventKey(pub Id);
/// A schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ScheduleKey(pub Id);
/// The active (not cancelled) schedules of a work event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EventSchedulesKey(pub Id);
/// A schedule's attendance record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AttendanceKey(pub Id);
/// A user's employee profile (absent until first edited).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EmployeeProfileKey(pub Id);

by_id_loader!(WorkEventKey, WorkEvent, scheduling::events_by_ids, id);

by_id_loader!(ScheduleKey, Schedule, scheduling::schedules_by_ids, id);

impl Loader<EventSchedulesKey> for Db {
    type Value = Vec<Schedule>;
    type Error = LoadError;

    async fn load(
        &self,
        keys: &[EventSchedulesKey],
    ) -> Result<HashMap<EventSchedulesKey, Vec<Schedule>>, LoadError> {
        let filter = scheduling::ScheduleFilter {
            work_event_ids: Some(ids(keys, |k| k.0)),
            ..Default::default()
        };
        let rows = with_conn!(self, |conn| scheduling::schedules_matching(
            &mut conn, self.org, &filter
        ))?;
        Ok(group(keys, rows, |s| EventSchedulesKey(s.work_event_id)))
    }
}

by_id_loader!(
    AttendanceKey,
    Attendance,
    scheduling::attendance_of,
    schedule_id
);

by_id_loader!(
    EmployeeProfileKey,
    EmployeeProfile,
    scheduling::profiles_of,
    user_id
);

/// A project.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProjectKey(pub Id);
/// A project's live teams.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProjectTeamsKey(pub Id);

by_id_loader!(
    ProjectKey,
    crate::projects::Project,
    crate::projects::queries::by_ids,
    id
);

impl Loader<ProjectTeamsKey> for Db {
    type Value = Vec<Team>;
    type Error = LoadError;

    async fn load(
        &self,
        keys: &[ProjectTeamsKey],
    ) -> Result<HashMap<ProjectTeamsKey, Vec<Team>>, LoadError> {
        let rows = with_conn!(self, |conn| crate::projects::queries::teams_of(
            &mut conn,
            self.org,
            &ids(keys, |k| k.0)
        ))?;
        Ok(group(keys, rows, |t| {
            ProjectTeamsKey(t.project_id.unwrap_or_default())
        }))
    }
}

/// A template the organization can use (its own or a public one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TemplateKey(pub Id);

by_id_loader!(
    TemplateKey,
    crate::templates::Template,
    crate::templates::queries::usable,
    id
);

/// A webhook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WebhookKey(pub Id);
/// A webhook delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WebhookDeliveryKey(pub Id);
/// A delivery's attempts, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DeliveryAttemptsKey(pub Id);

by_id_loader!(
    WebhookKey,
    crate::webhooks::Webhook,
    crate::webhooks::queries::by_ids,
    id
);

by_id_loader!(
    WebhookDeliveryKey,
    crate::webhooks::WebhookDelivery,
    crate::webhooks::queries::deliveries_by_ids,
    id
);

impl Loader<DeliveryAttemptsKey> for Db {
    type Value = Vec<crate::webhooks::WebhookAttempt>;
    type Error = LoadError;

    async fn load(
        &self,
        keys: &[DeliveryAttemptsKey],
    ) -> Result<HashMap<DeliveryAttemptsKey, Self::Value>, LoadError> {
        let rows = with_conn!(self, |conn| crate::webhooks::queries::attempts_of(
            &mut conn,
            self.org,
            &ids(keys, |k| k.0)
        ))?;
        Ok(group(keys, rows, |a| DeliveryAttemptsKey(a.delivery_id)))
    }
}

/// A recurring run schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RunScheduleKey(pub Id);

by_id_loader!(
    RunScheduleKey,
    crate::run_schedules::RunSchedule,
    crate::run_schedules::queries::by_ids,
    id
);

/// A conversation (visibility to the caller is checked where one is named by id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConversationKey(pub Id);
/// A conversation's message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MessageKey(pub Id);

by_id_loader!(
    ConversationKey,
    crate::conversations::Conversation,
    crate::conversations::queries::by_ids,
    id
);
by_id_loader!(
    MessageKey,
    crate::conversations::Message,
    crate::conversations::queries::messages_by_ids,
    id
);
