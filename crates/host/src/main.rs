//! `troupe-host up`: runs a Spin application like `spin up`.
//!
//! ```text
//! troupe-host up [-f|--from spin.toml] [--listen 127.0.0.1:3000]
//!                [--state-dir .spin] [--variable NAME=VALUE]...
//! ```

use std::{collections::HashMap, net::SocketAddr, path::PathBuf};

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use troupe_host::{App, HostConfig};

#[derive(Debug, Parser)]
#[command(name = "troupe-host", version, about = "Runs a Spin application's components on wasmtime, like `spin up`.")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the application (like `spin up`).
    Up(UpArgs),
}

#[derive(Debug, clap::Args)]
struct UpArgs {
    /// The application manifest, or a folder containing `spin.toml`.
    #[arg(short = 'f', long = "from", default_value = "spin.toml")]
    from: PathBuf,
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1:3000")]
    listen: SocketAddr,
    /// Where the default key-value store and SQLite database live. Defaults
    /// to `.spin` next to the manifest; an empty value keeps them in memory.
    #[arg(long)]
    state_dir: Option<String>,
    /// Set an application variable (NAME=VALUE); may be repeated.
    #[arg(long = "variable", value_parser = parse_variable)]
    variables: Vec<(String, String)>,
    /// Also append every log line to this file.
    #[arg(long)]
    log_file: Option<PathBuf>,
}

fn parse_variable(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .ok_or_else(|| format!("expected NAME=VALUE, got {text:?}"))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let Command::Up(args) = Cli::parse().command;
    let manifest = if args.from.is_dir() { args.from.join("spin.toml") } else { args.from };
    let state_dir = match args.state_dir {
        // Like Spin: `--state-dir ""` means no state directory.
        Some(dir) if dir.is_empty() => None,
        Some(dir) => Some(PathBuf::from(dir)),
        None => Some(manifest.parent().unwrap_or(std::path::Path::new(".")).join(".spin")),
    };
    let config = HostConfig {
        manifest,
        state_dir,
        variables: args.variables.into_iter().collect::<HashMap<_, _>>(),
        log_file: args.log_file,
    };
    let app = App::load(config).await?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("Unable to listen on {}", args.listen))?;
    let base_url = format!("http://{}", listener.local_addr()?);
    println!("\nServing {base_url}");
    println!("Available Routes:");
    for route in app.routes() {
        println!("  {}: {base_url}{}", route.component, route.route);
        if let Some(description) = route.description {
            println!("    {description}");
        }
    }
    // Ctrl-C, or SIGTERM from a service manager (or the test suite): stop
    // accepting and exit normally.
    let mut terminate =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).context("listening for SIGTERM")?;
    tokio::select! {
        result = app.serve(listener) => result,
        signal = tokio::signal::ctrl_c() => signal.context("waiting for Ctrl-C"),
        _ = terminate.recv() => Ok(()),
    }
}
