//! Time-driven work: starts the runs of recurring schedules when their occurrences
//! come, and renews or expires subscriptions whose billing period ended. Every process
//! may look; the claims in the database let only one act on each.

use std::time::Duration;

use tokio::sync::watch;

use super::RunControl;
use crate::clock::Clock;
use crate::db::{Id, Pool, Timestamp};
use crate::error::AppResult;
use crate::events::EventBus;
use crate::run_schedules::{queries, service};

/// Most schedules fired per look.
const BATCH: i64 = 100;

/// What a look needs.
#[derive(Clone)]
pub struct Recurring {
    pub pool: Pool,
    pub bus: EventBus,
    pub control: RunControl,
    pub clock: Clock,
    /// How late an occurrence may fire and still count as on time.
    pub grace: chrono::Duration,
}

impl Recurring {
    /// Fires every due occurrence as of the clock's now (one instant for the whole
    /// look, so a long backlog does not make on-time occurrences look missed); returns
    /// how many runs started.
    pub async fn tick(&self) -> AppResult<usize> {
        let now = self.clock.now();
        if let Err(e) = self.renew(now).await {
            tracing::warn!(error = %e, "renewing subscriptions failed");
        }
        let mut started = 0;
        loop {
            let due = {
                let mut pooled = self.pool.get().await?;
                queries::due(&mut pooled.conn(), now, BATCH).await?
            };
            let full = due.len() as i64 == BATCH;
            let (fired, claimed) = self.fire_all(due, now).await;
            started += fired;
            // A full batch may hide more; one that claimed nothing (all failing or taken
            // by another process) would only repeat itself.
            if !full || claimed == 0 {
                return Ok(started);
            }
        }
    }

    async fn renew(&self, now: Timestamp) -> AppResult<usize> {
        let mut pooled = self.pool.get().await?;
        crate::billing::service::sweep(&mut pooled.conn(), now).await
    }

    /// Fires `due` schedules; returns how many runs started and how many occurrences
    /// this process claimed.
    async fn fire_all(&self, due: Vec<(Id, Id, Timestamp)>, now: Timestamp) -> (usize, usize) {
        let (mut started, mut claimed) = (0, 0);
        for (org, id, at) in due {
            let mut pooled = match self.pool.get().await {
                Ok(pooled) => pooled,
                Err(e) => {
                    tracing::warn!(error = %e, "no connection to fire run schedules");
                    break;
                }
            };
            let fired = service::fire(
                &mut pooled.conn(),
                &self.bus,
                org,
                id,
                at,
                now.0,
                self.grace,
            )
            .await;
            match fired {
                Ok(Some(outcome)) => {
                    claimed += 1;
                    if let Some((_, events)) = outcome.started {
                        self.bus.publish_runs(events);
                        self.control.wake();
                        started += 1;
                    } else if let Some(error) = &outcome.schedule.last_error {
                        tracing::warn!(schedule = %id, error = %error, "a scheduled run could not start");
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(schedule = %id, error = %e, "firing a run schedule failed")
                }
            }
        }
        (started, claimed)
    }

    /// Looks every `poll` until `stop`.
    pub fn spawn(
        self,
        poll: Duration,
        mut stop: watch::Receiver<bool>,
    ) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            loop {
                if let Err(e) = self.tick().await {
                    tracing::warn!(error = %e, "reading due run schedules failed");
                }
                tokio::select! {
                    _ = tokio::time::sleep(poll) => {}
                    _ = stop.changed() => return,
                }
            }
        })
    }
}
