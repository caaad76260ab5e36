//! Black-box API tests: the real `.wasm` components, served by
//! `troupe-host` from the repository's `spin.toml`, driven over HTTP.
//!
//! Run through the README's test command, which builds the components first.

mod audit;
mod auth;
mod deploy;
mod docs;
mod edge;
mod email;
mod health;
mod limits;
mod mfa;
mod openapi;
mod protection;
mod scale_out;
mod users;
