//! Liar: a real-time Liar Game server. The binary (`main.rs`) is a thin CLI over this library.

pub mod app;
pub mod auth;
pub mod clock;
pub mod cluster;
pub mod config;
pub mod domain;
pub mod error;
pub mod http;
pub mod hub;
pub mod net;
pub mod outbox;
pub mod ratelimit;
pub mod room;
pub mod store;
pub mod telemetry;
pub mod topics;
pub mod ws;

pub use app::{AppState, Application};
pub use config::Config;
