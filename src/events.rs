//! The event bus behind subscriptions.
//!
//! Within a process, events fan out through a tokio broadcast channel. On PostgreSQL,
//! run events also travel to the other gateway processes on the same database: the
//! transaction that stores an event sends a `NOTIFY` carrying only a reference (it is
//! delivered on commit, atomically with the rows), and each process's listener reads
//! the referenced rows once and broadcasts them locally. The `run_events` table stays
//! the source of truth; subscribers that notice a gap read it.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use futures_util::StreamExt;
use tokio::sync::broadcast;

use crate::auth::sessions::SessionCache;
use crate::db::{Conn, Id, Pool};
use crate::metrics::locked;
use crate::runs::{RunEvent, RunEventKind, queries as run_queries};

/// The PostgreSQL notification channel.
pub const CHANNEL: &str = "gateway_events";

/// How an entity changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, async_graphql::Enum)]
pub enum ChangeKind {
    /// The entity is new.
    Created,
    /// The entity changed.
    Updated,
    /// The entity is gone (for a schedule: cancelled).
    Deleted,
}

/// Something that happened in an organization.
#[derive(Debug, Clone)]
pub enum Event {
    TeamChanged {
        organization_id: Id,
        team_id: Id,
        kind: ChangeKind,
        /// The team as it is after the change, read once for all subscribers (see
        /// [`SharedRead`]).
        team: Arc<SharedRead<Option<crate::teams::Team>>>,
    },
    /// A committed run event.
    Run(Arc<SharedRunEvent>),
    /// A row was appended to an organization's audit trail.
    Audit(Arc<crate::audit::AuditLog>),
    /// A schedule was created, changed or cancelled.
    ScheduleChanged {
        organization_id: Id,
        schedule: Arc<crate::scheduling::Schedule>,
        kind: ChangeKind,
    },
    /// A conversation's message was stored, or a reply's text was generated.
    Message(Arc<MessageEvent>),
    /// Events may have been missed (the listener reconnected): subscribers re-read
    /// the event log.
    Resync,
}

impl Event {
    /// A team changed: its subscribers read it at most once between them.
    pub fn team_changed(organization_id: Id, team_id: Id, kind: ChangeKind) -> Event {
        Event::TeamChanged {
            organization_id,
            team_id,
            kind,
            team: Arc::default(),
        }
    }
}

/// A read made for every subscriber of one published event: the first subscriber that
/// needs it reads, the others wait for that answer and share it, so an event costs one
/// read however many subscribers watch it. A failed read is not kept: the next asker
/// tries again. Subscriptions deliver an event only within its organization, so every
/// sharer may see what the first one read.
///
/// The answer is kept only while it is among the bus's [`RETAINED_READS`] most recently
/// filled ones: an event can sit in the bus's buffer long after its subscribers moved
/// on, and the rows it carries must not stay with it. A subscriber that falls that far
/// behind reads the row again, as it is then.
pub struct SharedRead<T> {
    slot: Arc<Slot<T>>,
    /// Set when the event is published: the bus that bounds how many answers are kept.
    retention: OnceLock<Retention>,
}

struct Slot<T> {
    state: std::sync::Mutex<SlotState<T>>,
    /// Wakes the waiters when a read ends, filled or not.
    read_ended: tokio::sync::Notify,
}

struct SlotState<T> {
    value: Option<T>,
    reading: bool,
}

impl<T> Slot<T> {
    fn state(&self) -> std::sync::MutexGuard<'_, SlotState<T>> {
        locked(&self.state)
    }
}

/// Something kept that the bus may drop to bound its memory.
trait Forget: Send + Sync {
    fn forget(&self);
}

impl<T: Send> Forget for Slot<T> {
    fn forget(&self) {
        self.state().value = None;
    }
}

/// Clears a slot's `reading` mark however its read ends (done, failed, or the reader
/// dropped mid-read), so a waiter takes over.
struct ReadEnds<'a, T>(&'a Slot<T>);

impl<T> Drop for ReadEnds<'_, T> {
    fn drop(&mut self) {
        self.0.state().reading = false;
        self.0.read_ended.notify_waiters();
    }
}

impl<T> Default for SharedRead<T> {
    fn default() -> Self {
        SharedRead {
            slot: Arc::new(Slot {
                state: std::sync::Mutex::new(SlotState {
                    value: None,
                    reading: false,
                }),
                read_ended: tokio::sync::Notify::new(),
            }),
            retention: OnceLock::new(),
        }
    }
}

impl<T> std::fmt::Debug for SharedRead<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.slot.state().value.is_some() {
            "SharedRead(read)"
        } else {
            "SharedRead(unread)"
        })
    }
}

impl<T: Clone + Send + 'static> SharedRead<T> {
    /// The shared answer, reading it with `read` if no subscriber has (or it was
    /// forgotten since).
    pub async fn get_or_read<E, F>(&self, read: impl FnOnce() -> F) -> Result<T, E>
    where
        F: Future<Output = Result<T, E>>,
    {
        loop {
            let mut read_ended = std::pin::pin!(self.slot.read_ended.notified());
            {
                let mut state = self.slot.state();
                if let Some(value) = &state.value {
                    return Ok(value.clone());
                }
                if !state.reading {
                    state.reading = true;
                    break;
                }
                // Registered before the lock is released, so the reader's wake-up
                // cannot be missed.
                read_ended.as_mut().enable();
            }
            read_ended.await;
        }
        let _ends = ReadEnds(&self.slot);
        let result = read().await;
        if let Ok(value) = &result {
            self.slot.state().value = Some(value.clone());
            if let Some(retention) = self.retention.get() {
                let slot: Arc<dyn Forget> = self.slot.clone();
                retention.keep(Arc::downgrade(&slot));
            }
        }
        result
    }

    fn retained_by(&self, retention: &Retention) {
        let _ = self.retention.set(retention.clone());
    }
}

/// How many filled shared reads the bus keeps at once, across all events.
pub const RETAINED_READS: usize = 256;

/// The most recently filled shared reads, oldest first; beyond the bound the oldest is
/// forgotten.
#[derive(Clone)]
struct Retention {
    kept: Arc<std::sync::Mutex<std::collections::VecDeque<std::sync::Weak<dyn Forget>>>>,
    bound: usize,
}

impl Retention {
    fn new(bound: usize) -> Retention {
        Retention {
            kept: Arc::default(),
            bound,
        }
    }

    fn keep(&self, slot: std::sync::Weak<dyn Forget>) {
        // One in, so at most one out.
        let dropped = {
            let mut kept = locked(&self.kept);
            kept.push_back(slot);
            if kept.len() > self.bound {
                kept.pop_front()
            } else {
                None
            }
        };
        // Outside the lock: forgetting takes the slot's own.
        if let Some(slot) = dropped.as_ref().and_then(std::sync::Weak::upgrade) {
            slot.forget();
        }
    }
}

/// A run event as subscribers receive it, with the run read once for all of them.
#[derive(Debug)]
pub struct SharedRunEvent {
    pub event: RunEvent,
    /// The run as it is after the event.
    pub run: SharedRead<Option<crate::runs::Run>>,
}

impl From<RunEvent> for SharedRunEvent {
    fn from(event: RunEvent) -> Self {
        SharedRunEvent {
            event,
            run: SharedRead::default(),
        }
    }
}

impl std::ops::Deref for SharedRunEvent {
    type Target = RunEvent;

    fn deref(&self) -> &RunEvent {
        &self.event
    }
}

/// What happened to a conversation's message.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, async_graphql::Enum, serde::Serialize, serde::Deserialize,
)]
pub enum MessageEventKind {
    /// A user's message was stored.
    UserMessage,
    /// More of the agent's reply was generated (`delta`).
    Delta,
    /// The agent's reply was stored.
    Completed,
    /// The agent backend failed; the failed reply was stored.
    Failed,
}

/// A conversation event, as subscribers of `messageStream` receive it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct MessageEvent {
    pub organization_id: Id,
    pub conversation_id: Id,
    pub message_id: Id,
    pub kind: MessageEventKind,
    /// 1, 2, ... for the deltas of one reply, in order.
    pub index: i32,
    pub delta: Option<String>,
}

/// What a notification carries besides run notices: a conversation event itself
/// (deltas are stored nowhere, so the event travels whole).
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct MessageNotice {
    from: uuid::Uuid,
    message: MessageEvent,
}

/// Any notification on the channel.
#[derive(Debug, serde::Deserialize)]
#[serde(untagged)]
enum Wire {
    Run(Notice),
    Message(MessageNotice),
    Identity(IdentityNotice),
}

/// A user or organization row changed: sent by the database's own triggers (migration
/// `identity_notifications`), whoever changed it.
#[derive(Debug, serde::Deserialize)]
struct IdentityNotice {
    identity: IdentityKind,
    id: Id,
}

#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
enum IdentityKind {
    User,
    Organization,
}

/// The most text one notification carries; longer deltas are split (PostgreSQL
/// refuses payloads of 8000 bytes or more, and escaping can grow text).
pub const MAX_NOTIFIED_DELTA_CHARS: usize = 1000;

/// What a notification carries: which events of which run to read.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Notice {
    /// The sending bus, which has already broadcast the events itself.
    from: uuid::Uuid,
    org: Id,
    run: Id,
    first: i64,
    last: i64,
}

/// Fan-out of events to every subscriber of this process (and, on PostgreSQL, of the
/// other processes on the same database).
#[derive(Clone)]
pub struct EventBus {
    sender: broadcast::Sender<Event>,
    id: uuid::Uuid,
    /// Run events this process committed (not those heard from others), by kind.
    committed: Arc<std::sync::Mutex<std::collections::BTreeMap<&'static str, u64>>>,
    /// Bounds the rows that published events keep for their subscribers.
    retention: Retention,
}

impl EventBus {
    pub fn new(capacity: usize) -> EventBus {
        EventBus::with_retained_reads(capacity, RETAINED_READS)
    }

    /// A bus that keeps at most `reads` filled shared reads.
    fn with_retained_reads(capacity: usize, reads: usize) -> EventBus {
        let (sender, _) = broadcast::channel(capacity);
        EventBus {
            sender,
            id: uuid::Uuid::new_v4(),
            committed: Arc::default(),
            retention: Retention::new(reads),
        }
    }

    /// Publishes to current subscribers of this process; with none listening the
    /// event is dropped.
    pub fn publish(&self, event: Event) {
        match &event {
            Event::Run(run) => run.run.retained_by(&self.retention),
            Event::TeamChanged { team, .. } => team.retained_by(&self.retention),
            _ => {}
        }
        let _ = self.sender.send(event);
    }

    /// Publishes run events after the transaction that stored them committed. A run's
    /// start and end also change its team's status, so team subscribers hear of them.
    pub fn publish_runs(&self, events: Vec<RunEvent>) {
        {
            let mut committed = locked(&self.committed);
            for event in &events {
                *committed.entry(event.kind.as_str()).or_default() += 1;
            }
        }
        self.relay_runs(events);
    }

    /// Run events this process committed so far, by kind.
    pub fn committed_run_events(&self) -> Vec<(&'static str, u64)> {
        locked(&self.committed)
            .iter()
            .map(|(kind, n)| (*kind, *n))
            .collect()
    }

    /// Publishes run events to this process's subscribers: another process's, or ours.
    fn relay_runs(&self, events: Vec<RunEvent>) {
        for event in events {
            let team_change = event
                .payload
                .team_id
                .filter(|_| event.kind == RunEventKind::Created || event.kind.is_terminal())
                .map(|team_id| {
                    Event::team_changed(event.organization_id, team_id, ChangeKind::Updated)
                });
            self.publish(Event::Run(Arc::new(event.into())));
            if let Some(change) = team_change {
                self.publish(change);
            }
        }
    }

    /// Publishes a conversation event here and, on PostgreSQL, to the other processes
    /// (a failure to notify them is logged: their subscribers miss the event).
    pub async fn publish_message(&self, pool: &Pool, event: MessageEvent) {
        let event = Arc::new(event);
        self.publish(Event::Message(Arc::clone(&event)));
        if !matches!(pool, Pool::Pg(_)) {
            return;
        }
        let notice = MessageNotice {
            from: self.id,
            message: (*event).clone(),
        };
        let Ok(payload) = serde_json::to_string(&notice) else {
            return;
        };
        let sent = async {
            let mut pooled = pool.get().await.map_err(|e| e.to_string())?;
            let Conn::Pg(c) = pooled.conn() else {
                return Ok(());
            };
            diesel::sql_query("SELECT pg_notify($1, $2)")
                .bind::<diesel::sql_types::Text, _>(CHANNEL)
                .bind::<diesel::sql_types::Text, _>(payload)
                .execute(c)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        };
        if let Err(error) = sent.await {
            tracing::warn!(%error, "could not tell other processes of a conversation event");
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.sender.subscribe()
    }

    /// Inside the transaction storing `events` (all of one run, in order): tells the
    /// other processes about them on commit. Nothing to do on SQLite, which is never
    /// shared between processes.
    pub async fn notify_in_tx(
        &self,
        conn: &mut Conn<'_>,
        events: &[RunEvent],
    ) -> diesel::QueryResult<()> {
        let Conn::Pg(c) = conn else {
            return Ok(());
        };
        let Some(payload) = self.notice(events) else {
            return Ok(());
        };
        diesel::sql_query("SELECT pg_notify($1, $2)")
            .bind::<diesel::sql_types::Text, _>(CHANNEL)
            .bind::<diesel::sql_types::Text, _>(payload)
            .execute(*c)
            .await?;
        Ok(())
    }

    /// The notification payload announcing `events` (all of one run, in order).
    pub fn notice(&self, events: &[RunEvent]) -> Option<String> {
        let (first, last) = (events.first()?, events.last()?);
        let notice = Notice {
            from: self.id,
            org: first.organization_id,
            run: first.run_id,
            first: first.seq,
            last: last.seq,
        };
        serde_json::to_string(&notice).ok()
    }

    /// Listens for other processes' notifications on a dedicated connection until
    /// `stop` fires, reconnecting (and telling subscribers to resync) after a failure.
    /// `sessions` caches identities only while this listener is connected, since it is
    /// what tells the cache of their changes.
    pub async fn listen(
        self,
        url: String,
        pool: Pool,
        sessions: SessionCache,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) {
        let mut backoff = Duration::from_millis(200);
        loop {
            let session = self.listen_once(&url, &pool, &sessions);
            tokio::select! {
                result = session => {
                    sessions.set_live(false);
                    if let Err(error) = result {
                        tracing::warn!(%error, "event listener lost its connection; reconnecting");
                    }
                }
                _ = stop.changed() => {
                    sessions.set_live(false);
                    return;
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = stop.changed() => return,
            }
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    }

    async fn listen_once(
        &self,
        url: &str,
        pool: &Pool,
        sessions: &SessionCache,
    ) -> Result<(), String> {
        let mut conn = AsyncPgConnection::establish(url)
            .await
            .map_err(|e| e.to_string())?;
        conn.batch_execute(&format!("LISTEN {CHANNEL}"))
            .await
            .map_err(|e| e.to_string())?;
        sessions.set_live(true);
        // Anything sent while this process was not listening is only in the tables.
        self.publish(Event::Resync);
        let mut notifications = std::pin::pin!(conn.notifications_stream());
        while let Some(notification) = notifications.next().await {
            let notification = notification.map_err(|e| e.to_string())?;
            let notice = match serde_json::from_str::<Wire>(&notification.payload) {
                Ok(Wire::Run(notice)) => notice,
                Ok(Wire::Message(notice)) => {
                    if notice.from != self.id {
                        self.publish(Event::Message(Arc::new(notice.message)));
                    }
                    continue;
                }
                Ok(Wire::Identity(notice)) => {
                    match notice.identity {
                        IdentityKind::User => sessions.forget_user(notice.id),
                        IdentityKind::Organization => sessions.forget_organization(notice.id),
                    }
                    continue;
                }
                Err(_) => {
                    tracing::warn!(payload = %notification.payload, "ignoring a malformed notification");
                    continue;
                }
            };
            if notice.from == self.id {
                continue;
            }
            match self.read(pool, &notice).await {
                Ok(events) => self.relay_runs(events),
                Err(error) => {
                    tracing::warn!(%error, "could not read notified run events");
                    self.publish(Event::Resync);
                }
            }
        }
        Err("notification stream ended".into())
    }

    async fn read(&self, pool: &Pool, notice: &Notice) -> Result<Vec<RunEvent>, String> {
        let mut pooled = pool.get().await.map_err(|e| e.to_string())?;
        let rows = run_queries::events_between(
            &mut pooled.conn(),
            notice.org,
            notice.run,
            notice.first - 1,
            notice.last,
        )
        .await
        .map_err(|e| e.to_string())?;
        crate::runs::events_from_rows(rows)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::{ChangeKind, Event, EventBus, SharedRead, SharedRunEvent};
    use crate::db::Id;

    /// Asks `shared` for its answer, counting the reads it makes in `reads`.
    async fn ask(shared: &SharedRead<u32>, reads: &AtomicUsize, answer: u32) -> u32 {
        let result: Result<u32, ()> = shared
            .get_or_read(|| async {
                reads.fetch_add(1, Ordering::SeqCst);
                tokio::task::yield_now().await;
                Ok(answer)
            })
            .await;
        result.unwrap_or_default()
    }

    #[tokio::test]
    async fn concurrent_askers_share_one_read() {
        let shared = SharedRead::default();
        let reads = AtomicUsize::new(0);
        let answers = futures_util::future::join_all((0..8).map(|n| ask(&shared, &reads, n))).await;
        assert_eq!(reads.load(Ordering::SeqCst), 1);
        assert!(answers.iter().all(|answer| *answer == answers[0]));
    }

    #[tokio::test]
    async fn a_failed_or_abandoned_read_is_not_kept() {
        let shared = SharedRead::<u32>::default();
        let failed: Result<u32, &str> = shared.get_or_read(|| async { Err("down") }).await;
        assert_eq!(failed, Err("down"));
        // A reader dropped mid-read hands over to the next asker.
        let abandoned = tokio::time::timeout(
            Duration::from_millis(20),
            shared.get_or_read(std::future::pending::<Result<u32, ()>>),
        )
        .await;
        assert!(abandoned.is_err());
        let reads = AtomicUsize::new(0);
        assert_eq!(ask(&shared, &reads, 7).await, 7);
        assert_eq!(ask(&shared, &reads, 8).await, 7);
        assert_eq!(reads.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn the_bus_forgets_the_oldest_answers_beyond_its_bound() {
        let bus = EventBus::with_retained_reads(16, 2);
        let reads = AtomicUsize::new(0);
        let mut shared = Vec::new();
        for n in 0..3 {
            let read = SharedRead::<u32>::default();
            read.retained_by(&bus.retention);
            assert_eq!(ask(&read, &reads, n).await, n);
            shared.push(read);
        }
        assert_eq!(reads.load(Ordering::SeqCst), 3);
        // The two most recent answers are kept; the first was forgotten and is read
        // again, as it is now.
        assert_eq!(ask(&shared[2], &reads, 99).await, 2);
        assert_eq!(ask(&shared[1], &reads, 99).await, 1);
        assert_eq!(reads.load(Ordering::SeqCst), 3);
        assert_eq!(ask(&shared[0], &reads, 10).await, 10);
        assert_eq!(reads.load(Ordering::SeqCst), 4);
    }

    #[test]
    fn published_team_changes_are_bounded_by_the_bus() {
        let bus = EventBus::new(16);
        let event = Event::team_changed(
            Id(uuid::Uuid::nil()),
            Id(uuid::Uuid::nil()),
            ChangeKind::Updated,
        );
        let Event::TeamChanged { team, .. } = &event else {
            unreachable!("team_changed makes a team change");
        };
        let team = Arc::clone(team);
        assert!(team.retention.get().is_none());
        bus.publish(event);
        assert!(team.retention.get().is_some());
    }

    #[test]
    fn published_run_events_are_bounded_by_the_bus() {
        let bus = EventBus::new(16);
        let shared = Arc::new(SharedRunEvent::from(crate::runs::RunEvent {
            organization_id: Id(uuid::Uuid::nil()),
            run_id: Id(uuid::Uuid::nil()),
            seq: 1,
            kind: crate::runs::RunEventKind::Started,
            payload: crate::runs::EventPayload {
                team_id: None,
                status: crate::runs::RunStatus::Running,
                progress: crate::runs::Progress {
                    completed_steps: 0,
                    total_steps: 1,
                    tokens_used: 0,
                    cost: "0.0000".to_owned(),
                },
                step: None,
                message: None,
            },
            created_at: crate::db::Timestamp::now(),
        }));
        assert!(shared.run.retention.get().is_none());
        bus.publish(Event::Run(Arc::clone(&shared)));
        assert!(shared.run.retention.get().is_some());
    }
}
