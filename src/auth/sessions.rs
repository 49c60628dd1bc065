//! The users and organizations behind recently seen session tokens, so a busy client's
//! requests do not each read them again.
//!
//! A cached entry is used only while every change to a user or an organization reaches
//! this process at once: on PostgreSQL, triggers on both tables send a notification on
//! commit, whichever process (or `psql` session) made the change, and the event
//! listener forgets the entries it names; a mutation executed here forgets its
//! organization's entries before its response leaves. While the listener is not
//! connected nothing is cached, and no entry outlives [`MAX_AGE`]. On SQLite (one
//! process, and the read costs microseconds) nothing is cached.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::db::Id;
use crate::organizations::Organization;
use crate::users::User;

/// The longest an entry is used, should a notification ever go missing.
pub const MAX_AGE: Duration = Duration::from_secs(30);

/// The most users remembered; beyond it the cache starts over.
const CAPACITY: usize = 100_000;

struct Entry {
    user: Arc<User>,
    organization: Arc<Organization>,
    fetched: Instant,
}

#[derive(Default)]
struct Inner {
    entries: Mutex<HashMap<Id, Entry>>,
    /// Bumped by every forget, so a read that started before it is not stored after it.
    generation: AtomicU64,
    /// Whether changes are being received (the listener is connected).
    live: AtomicBool,
}

/// Cloned into every part of the process that authenticates or changes identities.
#[derive(Clone, Default)]
pub struct SessionCache {
    inner: Arc<Inner>,
}

/// Taken before reading a user, handed back to [`SessionCache::store`] with the row.
#[derive(Debug, Clone, Copy)]
pub struct Ticket(u64);

impl SessionCache {
    /// The cached user and organization, if they may still be used.
    pub fn get(&self, user_id: Id) -> Option<(Arc<User>, Arc<Organization>)> {
        if !self.inner.live.load(Ordering::Acquire) {
            return None;
        }
        let entries = self.inner.entries.lock().ok()?;
        let entry = entries.get(&user_id)?;
        (entry.fetched.elapsed() < MAX_AGE)
            .then(|| (Arc::clone(&entry.user), Arc::clone(&entry.organization)))
    }

    /// Marks the start of a read whose result may be stored.
    pub fn ticket(&self) -> Ticket {
        Ticket(self.inner.generation.load(Ordering::Acquire))
    }

    /// Stores a read, unless something was forgotten since its ticket was taken (the
    /// row may predate that change) or changes are not being received.
    pub fn store(&self, ticket: Ticket, user: Arc<User>, organization: Arc<Organization>) {
        if !self.inner.live.load(Ordering::Acquire) {
            return;
        }
        let Ok(mut entries) = self.inner.entries.lock() else {
            return;
        };
        // Checked under the lock, which every forget takes after bumping the generation.
        if self.inner.generation.load(Ordering::Acquire) != ticket.0 {
            return;
        }
        if entries.len() >= CAPACITY {
            entries.clear();
        }
        entries.insert(
            user.id,
            Entry {
                user,
                organization,
                fetched: Instant::now(),
            },
        );
    }

    /// A user changed (or was deleted).
    pub fn forget_user(&self, user_id: Id) {
        self.forget(|id, _| *id == user_id);
    }

    /// An organization changed (or was deleted): its users' entries carry it.
    pub fn forget_organization(&self, organization_id: Id) {
        self.forget(|_, entry| entry.organization.id == organization_id);
    }

    /// Forgets everything (changes may have been missed).
    pub fn forget_all(&self) {
        self.forget(|_, _| true);
    }

    fn forget(&self, matches: impl Fn(&Id, &Entry) -> bool) {
        self.inner.generation.fetch_add(1, Ordering::AcqRel);
        if let Ok(mut entries) = self.inner.entries.lock() {
            entries.retain(|id, entry| !matches(id, entry));
        }
    }

    /// Whether changes are being received; entries are kept only while they are.
    pub fn set_live(&self, live: bool) {
        if !live {
            self.inner.live.store(false, Ordering::Release);
            self.forget_all();
        } else {
            self.forget_all();
            self.inner.live.store(true, Ordering::Release);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::permissions::OrgRole;
    use crate::db::{Json, Timestamp};
    use crate::organizations::Plan;

    fn user(id: Id, organization_id: Id) -> Arc<User> {
        Arc::new(User {
            id,
            organization_id,
            email: format!("{id}@example.com"),
            username: id.to_string(),
            full_name: None,
            password_hash: None,
            org_role: OrgRole::Admin,
            permissions: Json(serde_json::json!([])),
            preferences: Json(serde_json::json!({})),
            is_active: true,
            email_verified_at: None,
            last_login_at: None,
            created_at: Timestamp::now(),
            updated_at: Timestamp::now(),
            deleted_at: None,
        })
    }

    fn organization(id: Id) -> Arc<Organization> {
        Arc::new(Organization {
            id,
            name: "Acme".into(),
            slug: "acme".into(),
            plan: Plan::Free,
            api_quota_limit: 1000,
            api_quota_used: 0,
            max_users: 5,
            max_projects: 3,
            settings: Json(serde_json::json!({})),
            created_at: Timestamp::now(),
            updated_at: Timestamp::now(),
            deleted_at: None,
            api_quota_period_start: None,
        })
    }

    #[test]
    fn nothing_is_kept_until_changes_are_received() {
        let cache = SessionCache::default();
        let (u, o) = (Id::new(), Id::new());
        cache.store(cache.ticket(), user(u, o), organization(o));
        assert!(cache.get(u).is_none());
        cache.set_live(true);
        cache.store(cache.ticket(), user(u, o), organization(o));
        assert!(cache.get(u).is_some());
        cache.set_live(false);
        assert!(cache.get(u).is_none());
    }

    #[test]
    fn a_read_started_before_a_change_is_not_stored() {
        let cache = SessionCache::default();
        cache.set_live(true);
        let (u, o) = (Id::new(), Id::new());
        let ticket = cache.ticket();
        cache.forget_user(Id::new());
        cache.store(ticket, user(u, o), organization(o));
        assert!(cache.get(u).is_none());
    }

    #[test]
    fn changes_forget_the_users_they_touch() {
        let cache = SessionCache::default();
        cache.set_live(true);
        let (a, b, o, other) = (Id::new(), Id::new(), Id::new(), Id::new());
        cache.store(cache.ticket(), user(a, o), organization(o));
        cache.store(cache.ticket(), user(b, other), organization(other));
        cache.forget_user(a);
        assert!(cache.get(a).is_none());
        assert!(cache.get(b).is_some());
        cache.store(cache.ticket(), user(a, o), organization(o));
        cache.forget_organization(other);
        assert!(cache.get(a).is_some());
        assert!(cache.get(b).is_none());
    }
}
