//! `troupe-host up`: runs a Spin application like `spin up`.
//! `troupe-host compose`: writes a component with its dependencies composed
//! in, as Spin composes them at load.
//!
//! ```text
//! troupe-host up [-f|--from spin.toml] [--listen 127.0.0.1:3000]
//!                [--state-dir .spin] [--runtime-config-file FILE]
//!                [--variable NAME=VALUE]...
//! troupe-host compose [-f|--from spin.toml] COMPONENT -o OUTPUT.wasm
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
    /// Write a component with its `dependencies` composed in, as Spin
    /// composes them (for hosts that do not, like Fermyon Cloud).
    Compose(ComposeArgs),
}

#[derive(Debug, clap::Args)]
struct ComposeArgs {
    /// The application manifest, or a folder containing `spin.toml`.
    #[arg(short = 'f', long = "from", default_value = "spin.toml")]
    from: PathBuf,
    /// The component's id in the manifest.
    component: String,
    /// Where to write the composed component.
    #[arg(short = 'o', long)]
    output: PathBuf,
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
    /// Spin's runtime configuration file: key-value stores (`spin`,
    /// `redis`) and SQLite databases (`spin`) by label.
    #[arg(long)]
    runtime_config_file: Option<PathBuf>,
    /// Set an application variable (NAME=VALUE); may be repeated.
    #[arg(long = "variable", value_parser = parse_variable)]
    variables: Vec<(String, String)>,
    /// Also append every log line to this file.
    #[arg(long)]
    log_file: Option<PathBuf>,
}

fn manifest_path(from: PathBuf) -> PathBuf {
    if from.is_dir() {
        from.join("spin.toml")
    } else {
        from
    }
}

fn compose(args: ComposeArgs) -> anyhow::Result<()> {
    let bytes = troupe_host::composed_component(&manifest_path(args.from), &args.component)?;
    if let Some(dir) = args.output.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(&args.output, &bytes).with_context(|| format!("writing {}", args.output.display()))?;
    println!("{}: `{}` composed, {} bytes", args.output.display(), args.component, bytes.len());
    Ok(())
}

fn parse_variable(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .ok_or_else(|| format!("expected NAME=VALUE, got {text:?}"))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = match Cli::parse().command {
        Command::Up(args) => args,
        Command::Compose(args) => return compose(args),
    };
    let manifest = manifest_path(args.from);
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
        runtime_config: args.runtime_config_file,
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
