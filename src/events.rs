//! The in-process event bus behind subscriptions.

use tokio::sync::broadcast;

use crate::db::Id;

/// How an entity changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, async_graphql::Enum)]
pub enum ChangeKind {
    Created,
    Updated,
    Deleted,
}

/// Something that happened in an organization.
#[derive(Debug, Clone)]
pub enum Event {
    TeamChanged {
        organization_id: Id,
        team_id: Id,
        kind: ChangeKind,
    },
}

/// Fan-out of events to every subscriber of this process.
#[derive(Clone)]
pub struct EventBus {
    sender: broadcast::Sender<Event>,
}

impl EventBus {
    pub fn new(capacity: usize) -> EventBus {
        let (sender, _) = broadcast::channel(capacity);
        EventBus { sender }
    }

    /// Publishes to current subscribers; with none listening the event is dropped.
    pub fn publish(&self, event: Event) {
        let _ = self.sender.send(event);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.sender.subscribe()
    }
}
