//! The event bus behind subscriptions.
//!
//! Within a process, events fan out through a tokio broadcast channel. On PostgreSQL,
//! run events also travel to the other gateway processes on the same database: the
//! transaction that stores an event sends a `NOTIFY` carrying only a reference (it is
//! delivered on commit, atomically with the rows), and each process's listener reads
//! the referenced rows once and broadcasts them locally. The `run_events` table stays
//! the source of truth; subscribers that notice a gap read it.

use std::sync::Arc;
use std::time::Duration;

use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use futures_util::StreamExt;
use tokio::sync::broadcast;

use crate::auth::sessions::SessionCache;
use crate::db::{Conn, Id, Pool};
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
        /// The team as it is after the change, read once for all subscribers.
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
pub struct SharedRead<T>(tokio::sync::OnceCell<T>);

impl<T> Default for SharedRead<T> {
    fn default() -> Self {
        SharedRead(tokio::sync::OnceCell::new())
    }
}

impl<T> std::fmt::Debug for SharedRead<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.initialized() {
            "SharedRead(read)"
        } else {
            "SharedRead(unread)"
        })
    }
}

impl<T: Clone> SharedRead<T> {
    /// The shared answer, reading it with `read` if no subscriber has yet.
    pub async fn get_or_read<E, F>(&self, read: impl FnOnce() -> F) -> Result<T, E>
    where
        F: Future<Output = Result<T, E>>,
    {
        self.0.get_or_try_init(read).await.cloned()
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
}

impl EventBus {
    pub fn new(capacity: usize) -> EventBus {
        let (sender, _) = broadcast::channel(capacity);
        EventBus {
            sender,
            id: uuid::Uuid::new_v4(),
            committed: Arc::default(),
        }
    }

    /// Publishes to current subscribers of this process; with none listening the
    /// event is dropped.
    pub fn publish(&self, event: Event) {
        let _ = self.sender.send(event);
    }

    /// Publishes run events after the transaction that stored them committed. A run's
    /// start and end also change its team's status, so team subscribers hear of them.
    pub fn publish_runs(&self, events: Vec<RunEvent>) {
        {
            let mut committed = self
                .committed
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            for event in &events {
                *committed.entry(event.kind.as_str()).or_default() += 1;
            }
        }
        self.relay_runs(events);
    }

    /// Run events this process committed so far, by kind.
    pub fn committed_run_events(&self) -> Vec<(&'static str, u64)> {
        self.committed
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
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
