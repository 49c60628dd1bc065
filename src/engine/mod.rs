//! The run engine: a pool of workers that claim pending runs and execute their steps
//! through an agent backend.

pub mod backend;
pub mod openai;
pub mod pricing;
pub mod prompt;
pub mod recurring;
mod scheduler;
pub mod simulated;
mod worker;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::{Args, ValueEnum};
use tokio::sync::{Notify, watch};

use self::backend::AgentBackend;
use crate::db::{Id, Pool};
use crate::events::{Event, EventBus};
use crate::runs::RunEventKind;

/// Which agent backend performs steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BackendKind {
    /// Deterministic answers, tokens and costs; no network.
    Simulated,
    /// An OpenAI-compatible chat-completions endpoint.
    Openai,
}

#[derive(Debug, Clone, Args)]
pub struct EngineConfig {
    /// Runs executed at once by this process; 0 leaves execution to other processes.
    #[arg(long, env = "RUN_WORKERS", default_value_t = 4)]
    pub run_workers: usize,
    /// Seconds a worker's claim on a run lasts without renewal; a run whose worker
    /// died is taken over after this.
    #[arg(long, env = "RUN_LEASE_SECONDS", default_value_t = 30)]
    pub run_lease_seconds: u64,
    /// How often idle workers look for runs started by other processes.
    #[arg(long, env = "RUN_POLL_MS", default_value_t = 1000)]
    pub run_poll_ms: u64,
    #[arg(long, env = "AGENT_BACKEND", value_enum, default_value_t = BackendKind::Simulated)]
    pub agent_backend: BackendKind,
    /// Time the simulated backend takes per step.
    #[arg(long, env = "SIMULATED_STEP_DELAY_MS", default_value_t = 1500)]
    pub simulated_step_delay_ms: u64,
    #[arg(
        long,
        env = "OPENAI_BASE_URL",
        default_value = "https://api.openai.com/v1"
    )]
    pub openai_base_url: String,
    #[arg(long, env = "OPENAI_API_KEY", hide_env_values = true)]
    pub openai_api_key: Option<String>,
    /// Role models to endpoint models, e.g. `gpt-4=gpt-4o,llama2:7b=llama2`.
    #[arg(long, env = "OPENAI_MODEL_MAP", default_value = "")]
    pub openai_model_map: String,
    /// Longest wait for one chat-completions reply.
    #[arg(long, env = "OPENAI_TIMEOUT_MS", default_value_t = 120_000)]
    pub openai_timeout_ms: u64,
    /// Retries after a 429, a 5xx, a timeout or a connection failure.
    #[arg(long, env = "OPENAI_MAX_RETRIES", default_value_t = 3)]
    pub openai_max_retries: u32,
    /// First retry backoff; doubles per retry, with jitter.
    #[arg(long, env = "OPENAI_RETRY_BACKOFF_MS", default_value_t = 500)]
    pub openai_retry_backoff_ms: u64,
    /// How often due run schedules are looked for; 0 leaves them to other processes.
    #[arg(long, env = "RUN_SCHEDULE_POLL_MS", default_value_t = 1000)]
    pub run_schedule_poll_ms: u64,
    /// How late an occurrence may start and still be on time; older ones were missed
    /// and follow the schedule's `missedPolicy`.
    #[arg(long, env = "RUN_SCHEDULE_GRACE_SECONDS", default_value_t = 60)]
    pub run_schedule_grace_seconds: i64,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            run_workers: 4,
            run_lease_seconds: 30,
            run_poll_ms: 1000,
            agent_backend: BackendKind::Simulated,
            simulated_step_delay_ms: 1500,
            openai_base_url: "https://api.openai.com/v1".into(),
            openai_api_key: None,
            openai_model_map: String::new(),
            openai_timeout_ms: 120_000,
            openai_max_retries: 3,
            openai_retry_backoff_ms: 500,
            run_schedule_poll_ms: 1000,
            run_schedule_grace_seconds: 60,
        }
    }
}

impl EngineConfig {
    pub fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.run_lease_seconds >= 1,
            "RUN_LEASE_SECONDS must be at least 1"
        );
        anyhow::ensure!(self.run_poll_ms >= 10, "RUN_POLL_MS must be at least 10");
        anyhow::ensure!(
            self.run_schedule_grace_seconds >= 0,
            "RUN_SCHEDULE_GRACE_SECONDS must not be negative"
        );
        openai::OpenAiBackend::parse_model_map(&self.openai_model_map)
            .map_err(|e| anyhow::anyhow!("OPENAI_MODEL_MAP: {e}"))?;
        Ok(())
    }

    pub fn backend(&self) -> anyhow::Result<Arc<dyn AgentBackend>> {
        Ok(match self.agent_backend {
            BackendKind::Simulated => Arc::new(simulated::SimulatedBackend {
                delay: Duration::from_millis(self.simulated_step_delay_ms),
            }),
            BackendKind::Openai => Arc::new(openai::OpenAiBackend::new(openai::OpenAiSettings {
                base_url: self.openai_base_url.clone(),
                api_key: self.openai_api_key.clone(),
                model_map: openai::OpenAiBackend::parse_model_map(&self.openai_model_map)
                    .map_err(anyhow::Error::msg)?,
                request_timeout: Duration::from_millis(self.openai_timeout_ms),
                max_retries: self.openai_max_retries,
                retry_backoff: Duration::from_millis(self.openai_retry_backoff_ms),
            })?),
        })
    }
}

/// What the API side uses to reach the workers of this process.
#[derive(Clone, Default)]
pub struct RunControl {
    inner: Arc<ControlInner>,
}

#[derive(Default)]
struct ControlInner {
    wake: Notify,
    /// Runs this process executes, each with a switch that abandons it.
    running: Mutex<HashMap<Id, watch::Sender<bool>>>,
}

impl RunControl {
    /// A run became claimable: let an idle worker look.
    pub fn wake(&self) {
        self.inner.wake.notify_one();
    }

    /// Stops this process's execution of a run at once (it was cancelled).
    pub fn abandon(&self, run_id: Id) {
        if let Ok(running) = self.inner.running.lock()
            && let Some(switch) = running.get(&run_id)
        {
            let _ = switch.send(true);
        }
    }

    fn register(&self, run_id: Id) -> (watch::Sender<bool>, watch::Receiver<bool>) {
        let (sender, receiver) = watch::channel(false);
        if let Ok(mut running) = self.inner.running.lock() {
            running.insert(run_id, sender.clone());
        }
        (sender, receiver)
    }

    fn unregister(&self, run_id: Id) {
        if let Ok(mut running) = self.inner.running.lock() {
            running.remove(&run_id);
        }
    }
}

/// The running workers of this process.
pub struct Engine {
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Engine {
    /// Starts `config.run_workers` workers on their own connection pool, so request
    /// traffic and execution never starve each other.
    pub fn start(
        config: &EngineConfig,
        pool: Pool,
        bus: EventBus,
        control: RunControl,
        settings: crate::settings::SettingsCipher,
    ) -> anyhow::Result<Engine> {
        let (stop, stop_rx) = watch::channel(false);
        let mut tasks = Vec::new();
        if config.run_workers > 0 {
            let shared = Arc::new(worker::Shared {
                pool,
                bus: bus.clone(),
                backend: config.backend()?,
                control: control.clone(),
                lease: Duration::from_secs(config.run_lease_seconds),
                poll: Duration::from_millis(config.run_poll_ms),
                instance: format!("{}", uuid::Uuid::new_v4().simple()),
                settings,
            });
            for index in 0..config.run_workers {
                tasks.push(tokio::spawn(worker::run(
                    shared.clone(),
                    index,
                    stop_rx.clone(),
                )));
            }
            // New runs, from this process or (through the listener) another, wake a worker.
            let mut events = bus.subscribe();
            let mut stop_rx = stop_rx.clone();
            tasks.push(tokio::spawn(async move {
                loop {
                    tokio::select! {
                        event = events.recv() => match event {
                            Ok(Event::Run(e)) if e.kind == RunEventKind::Created => control.wake(),
                            Ok(_) => {}
                            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => control.wake(),
                            Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                        },
                        _ = stop_rx.changed() => return,
                    }
                }
            }));
        }
        Ok(Engine { stop, tasks })
    }

    /// Stops the workers: each releases its run's lease so another process can take
    /// the run over at once.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}
