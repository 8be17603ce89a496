//! Black-box tests: the real `liar` server on port 0, driven over real HTTP.

mod auth;
mod cluster;
mod cluster_rooms;
mod connections;
mod durable;
mod errors;
mod failover;
mod game;
mod helpers;
mod limits;
mod openapi;
mod outage;
mod pool;
mod process;
mod realtime;
#[path = "../common/redis.rs"]
mod redis_server;
mod results;
mod room_defects;
mod rooms;
mod server;
mod sessions;
#[path = "../common/testdb.rs"]
mod testdb;
mod tokens;
mod topics;
mod ws_client;
