//! `liar`: serve (the default) or apply migrations.

use clap::{Parser, Subcommand};
use std::path::PathBuf;

use liar_server::{Application, Config, store, telemetry};

#[derive(Parser)]
#[command(
    name = "liar",
    version,
    about = "Liar: a real-time Liar Game (라이어 게임) server.\n\n\
Settings come from built-in defaults, then liar.toml (or --config), then LIAR_* environment \
variables, e.g. LIAR_BIND=0.0.0.0:8080, LIAR_DATABASE_URL=sqlite://liar.db, \
LIAR_TRUSTED_PROXIES=10.0.0.0/8. See docs/operations.md for every setting."
)]
struct Cli {
    /// Configuration file (default: ./liar.toml when it exists).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API, the WebSocket and the web client (the default).
    Serve,
    /// Create or upgrade the database schema, then exit.
    Migrate,
    /// Print the OpenAPI 3.1 document of the REST API (the same as `GET /openapi.json`).
    Openapi,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = Config::load(cli.config.as_deref())?;
    telemetry::init(&config.log_format);
    match cli.command.unwrap_or(Command::Serve) {
        Command::Migrate => {
            store::connect(&config.database_url, 1, std::time::Duration::from_secs(10)).await?;
            tracing::info!("migrations applied");
        }
        Command::Openapi => {
            println!("{}", liar_server::http::api().1.to_pretty_json()?);
        }
        Command::Serve => {
            let app = Application::build(config).await?;
            tracing::info!(address = %app.local_addr(), "liar listening");
            app.run_until(shutdown_signal()).await?;
            tracing::info!("stopped");
        }
    }
    Ok(())
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
