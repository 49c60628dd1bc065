use clap::{Parser, Subcommand};
use gateway::config::{Config, LogFormat};
use gateway::db::migrations::{self, Direction};
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

// Large responses are built as value trees on many threads at once; glibc's per-thread
// arenas kept hundreds of megabytes after such load and spent a quarter of the CPU in
// malloc/free.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `mi_option_purge_delay` (the same index in the v2 and v3 option enums).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// How long freed memory stays with the allocator before it goes back to the system.
/// The bundled mimalloc keeps it a second, and memory of a load that had just ended
/// stayed resident. Right after the peer benchmark's 32 connections the process held
/// 79-95 MB (median 89 of seven runs); with 100 ms, 56-75 MB (median 62 of nine), at the
/// same throughput (median 105 req/s both). Shorter delays cost throughput in page
/// faults: 10 ms measured 86-91 req/s, 0 measured 76.
/// `MIMALLOC_PURGE_DELAY` in the environment still decides when it is set.
const PURGE_DELAY_MS: std::ffi::c_long = 100;

fn tune_allocator() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: setting an option is allowed at any time.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, PURGE_DELAY_MS) }
    }
}

/// GraphQL API gateway for a multi-tenant AI-workforce platform.
#[derive(Parser)]
#[command(name = "gateway", version)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    config: Config,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API (the default).
    Serve,
    /// Apply pending database migrations (or, with --down-all, revert them all).
    Migrate {
        #[arg(long)]
        down_all: bool,
    },
    /// Print the GraphQL schema (SDL).
    Schema,
    /// Fill the database with data to explore.
    Seed {
        /// A demo organization with an admin, a manager, a viewer and three teams.
        #[arg(long, required_unless_present = "bench", conflicts_with = "bench")]
        demo: bool,
        /// The peer benchmark's data set: organizations org-1..org-20, 500 teams, 10,000
        /// runs, 50,000 steps (no passwords: use `gateway token --user`).
        #[arg(long)]
        bench: bool,
    },
    /// Print a session token for a user, without their password (for scripts, load
    /// tests and first access to an organization seeded by SQL).
    Token {
        /// The user's email.
        #[arg(long)]
        user: String,
    },
}

/// Logs to stderr, and exports spans over OTLP when the `OTEL_*` variables ask for it;
/// the returned provider is shut down (flushing its spans) when the command ends.
fn init_logging(format: LogFormat) -> anyhow::Result<Option<SdkTracerProvider>> {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,tower_http=info"));
    let (json, pretty) = match format {
        LogFormat::Json => (
            Some(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_current_span(true)
                    .with_writer(std::io::stderr),
            ),
            None,
        ),
        LogFormat::Pretty => (
            None,
            Some(tracing_subscriber::fmt::layer().with_writer(std::io::stderr)),
        ),
    };
    // The exporter's HTTP client blocks: it is built outside the async runtime.
    let provider = std::thread::spawn(gateway::telemetry::provider)
        .join()
        .map_err(|_| anyhow::anyhow!("setting up trace export panicked"))??;
    let exported = provider.as_ref().map(gateway::telemetry::layer);
    tracing_subscriber::registry()
        .with(filter)
        .with(json)
        .with(pretty)
        .with(exported)
        .init();
    Ok(provider)
}

/// Flushes and stops trace export.
async fn shutdown_telemetry(provider: Option<SdkTracerProvider>) {
    if let Some(provider) = provider {
        let stopped = tokio::task::spawn_blocking(move || provider.shutdown()).await;
        if let Ok(Err(error)) = stopped {
            eprintln!("trace export did not shut down cleanly: {error}");
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tune_allocator();
    let cli = Cli::parse();
    if let Some(Command::Schema) = cli.command {
        print!("{}", gateway::graphql::sdl());
        return Ok(());
    }
    let telemetry = init_logging(cli.config.log_format)?;
    let result = run(cli).await;
    shutdown_telemetry(telemetry).await;
    result
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    cli.config.validate()?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(cli.config).await,
        Command::Migrate { down_all } => {
            let direction = if down_all {
                Direction::DownAll
            } else {
                Direction::Up
            };
            let versions = migrations::run(&cli.config.database_url(), direction).await?;
            let verb = if down_all { "reverted" } else { "applied" };
            println!(
                "{verb} {} migration(s){}",
                versions.len(),
                if versions.is_empty() { "" } else { ":" }
            );
            for version in versions {
                println!("  {version}");
            }
            Ok(())
        }
        Command::Seed { bench: true, .. } => {
            let state = gateway::server::open(&cli.config, gateway::clock::Clock::system()).await?;
            let seeded = gateway::seed::bench::bench(&state.pool).await?;
            println!(
                "Benchmark data written: {} organizations, {} users, {} teams, {} roles, {} runs, {} steps.\n\
                 A token for the admin of org-7: gateway token --user user1@org7.example",
                seeded.organizations,
                seeded.users,
                seeded.teams,
                seeded.roles,
                seeded.runs,
                seeded.steps
            );
            Ok(())
        }
        Command::Seed { .. } => {
            let state = gateway::server::open(&cli.config, gateway::clock::Clock::system()).await?;
            let logins = gateway::seed::demo(&state.pool, &state.keys).await?;
            println!(
                "Demo organization `{}` created. Log in with any of:",
                logins.organization_slug
            );
            for (email, role) in logins.emails {
                println!(
                    "  {email} ({role}), password: {}",
                    gateway::seed::DEMO_PASSWORD
                );
            }
            println!(
                "\nmutation {{ login(input: {{email: \"admin@demo.example\", password: \"{}\"}}) {{ token }} }}",
                gateway::seed::DEMO_PASSWORD
            );
            Ok(())
        }
        Command::Token { user } => {
            let state = gateway::server::open(&cli.config, gateway::clock::Clock::system()).await?;
            let mut pooled = state.pool.get().await?;
            let token =
                gateway::auth::service::operator_token(&mut pooled.conn(), &state.keys, &user)
                    .await?;
            println!("{token}");
            Ok(())
        }
        Command::Schema => Ok(()),
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    tracing::info!(config = %config, "starting");
    let running = gateway::server::start(&config).await?;
    tracing::info!(
        "serving GraphQL on http://{addr}/graphql (playground: http://{addr}/)",
        addr = running.addr
    );
    shutdown_signal().await;
    tracing::info!("shutting down: finishing in-flight requests");
    running.stop().await
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn purge_delay() -> std::ffi::c_long {
        // SAFETY: reading an option is allowed at any time.
        unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) }
    }

    #[test]
    fn the_allocator_purges_after_the_delay_set_here_unless_the_environment_sets_one() {
        match std::env::var("MIMALLOC_PURGE_DELAY") {
            Ok(chosen) => {
                tune_allocator();
                assert_eq!(purge_delay().to_string(), chosen.trim());
            }
            Err(_) => {
                // The bundled mimalloc's own default for purge_delay: an index naming
                // another option would read another value.
                assert_eq!(purge_delay(), 1000);
                tune_allocator();
                assert_eq!(purge_delay(), PURGE_DELAY_MS);
            }
        }
    }
}
