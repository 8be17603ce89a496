//! Black-box tests: the real `liar` server on port 0, driven over real HTTP.

mod auth;
mod errors;
mod helpers;
mod limits;
mod openapi;
mod pool;
mod process;
mod sessions;
mod tokens;
