//! Structured logging. Tokens and passwords never reach a log: request bodies are not logged,
//! and the password type prints as `***`.

use tracing_subscriber::{EnvFilter, fmt};

/// Installs the global subscriber (`RUST_LOG` overrides the default `info` filter).
pub fn init(format: &str) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,tower_http=info,sqlx=warn"));
    let builder = fmt().with_env_filter(filter).with_target(true);
    let _ = if format == "json" {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.try_init()
    };
}
