//! `liar`: serve (the default), apply migrations, print the API document, or grant and revoke
//! admin rights.

use clap::{Parser, Subcommand};
use std::path::PathBuf;

use liar_server::domain::Email;
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
    /// Grant or revoke admin rights (admins edit topics and words through the API).
    #[command(subcommand)]
    Admin(AdminCommand),
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Make the member registered with this email an admin.
    Grant { email: String },
    /// Take admin rights away from the member registered with this email.
    Revoke { email: String },
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
        Command::Admin(command) => admin(&config, command).await?,
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

/// `liar admin grant|revoke <email>`: changes the member's rights in the database; an unknown
/// email is an error (exit status 1).
async fn admin(config: &Config, command: AdminCommand) -> anyhow::Result<()> {
    let (raw, admin) = match command {
        AdminCommand::Grant { email } => (email, true),
        AdminCommand::Revoke { email } => (email, false),
    };
    let email = Email::parse(&raw).map_err(|e| anyhow::anyhow!("{raw:?}: {}", e.message))?;
    let store = store::connect(&config.database_url, 1, std::time::Duration::from_secs(10)).await?;
    let changed = store.set_admin(&email, admin).await;
    store.close().await;
    if !changed? {
        anyhow::bail!("no member is registered with the email {}", email.as_str());
    }
    let done = if admin {
        "is now an admin"
    } else {
        "is no longer an admin"
    };
    println!("{} {done}", email.as_str());
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
