//! The `gumgate` command line: parses arguments and hands over to the library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use gumgate::commands;
#[cfg(feature = "sandbox")]
use gumgate_sandbox::SandboxConfig;

/// mimalloc, not glibc's malloc: a full answer cache is a million small long-lived allocations
/// interleaved with every request's short-lived ones, which glibc fragments (see Cargo.toml).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A license gateway for software sold on Gumroad, in front of Maton's managed-OAuth proxy.
#[derive(Parser)]
#[command(name = "gumgate", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway. Needs MATON_API_KEY and GUMGATE_ADMIN_TOKEN unless --sandbox.
    Serve {
        /// A TOML file overriding the built-in defaults (see config/default.toml).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Use an in-process sandbox as the upstream: a working demo with no account.
        #[arg(long)]
        sandbox: bool,
    },
    /// Run the sandbox alone: a local stand-in for Maton and Gumroad with seeded licenses.
    #[cfg(feature = "sandbox")]
    Sandbox {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8099")]
        listen: std::net::SocketAddr,
        /// The Maton API key the sandbox accepts.
        #[arg(long, env = "SANDBOX_API_KEY", default_value = gumgate_sandbox::DEFAULT_API_KEY, hide_env_values = true)]
        api_key: String,
        /// Requests per second allowed per API key before 429 (Maton's limit is 10); 0 = none.
        #[arg(long, default_value_t = 10)]
        rate_limit: u32,
        /// Send `Retry-After: N` with rate-limit 429s (Maton's behaviour here is unknown).
        #[arg(long, value_name = "SECONDS")]
        retry_after: Option<u64>,
        /// Add N computed one-time licenses for load tests: key i (0 <= i < N) is
        /// EB000000-{i}-{FFFFFFFF-i}-{i}, 8 upper-case hex digits a group (verify only).
        #[arg(long, value_name = "N", default_value_t = 0)]
        extra_licenses: u32,
    },
    /// Check the configuration and secrets as `serve` would, then exit.
    CheckConfig {
        /// A TOML file overriding the built-in defaults.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Check as for `serve --sandbox` (no secrets required).
        #[arg(long)]
        sandbox: bool,
    },
    /// Manage token signing keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Subscribe, list or unsubscribe the webhook receiver at Gumroad (through Maton).
    Webhooks {
        #[command(subcommand)]
        command: WebhooksCommand,
        /// A TOML file overriding the built-in defaults (for upstream.base_url).
        #[arg(long, value_name = "FILE", global = true)]
        config: Option<PathBuf>,
    },
    /// The activation database.
    Db {
        #[command(subcommand)]
        command: DbCommand,
        /// The TOML file `serve` is given (for storage.database_url).
        #[arg(long, value_name = "FILE", global = true)]
        config: Option<PathBuf>,
    },
    /// Exit 0 when the server's /livez answers 200 (for container health checks). Probes the
    /// ops listener (server.metrics_listen) of the same configuration `serve` reads.
    Healthcheck {
        /// The TOML file `serve` is given (with the same environment).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// The URL to check instead of the configured ops listener's /livez.
        #[arg(long)]
        url: Option<String>,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Write a new Ed25519 signing key (PKCS#8 PEM, mode 0600) and print its config lines.
    Generate {
        /// Where to write the key; an existing file is never overwritten.
        #[arg(long, value_name = "PATH")]
        out: PathBuf,
        /// The key id to publish it under (e.g. the month it starts signing).
        #[arg(long, default_value = "key-1")]
        kid: String,
    },
}

#[derive(Subcommand)]
enum DbCommand {
    /// Copy the database (`VACUUM INTO`), also while `serve` runs on it.
    Backup {
        /// A new file (never overwritten, mode 0600), or `-` for standard output.
        #[arg(long, value_name = "PATH")]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
enum WebhooksCommand {
    /// Subscribe {public-url}/webhooks/gumroad/{GUMGATE_WEBHOOK_SECRET} to every resource;
    /// existing subscriptions are kept, not duplicated.
    Register {
        /// Where this Gumgate is reachable from the internet, e.g. https://licenses.example.com
        #[arg(long, value_name = "URL")]
        public_url: url::Url,
    },
    /// List every resource subscription (receiver secrets masked).
    List,
    /// Delete the subscriptions that call this receiver.
    Unregister {
        #[arg(long, value_name = "URL")]
        public_url: url::Url,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Serve { config, sandbox } => {
            match commands::serve(config.as_deref(), sandbox).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail(&e),
            }
        }
        #[cfg(feature = "sandbox")]
        Command::Sandbox {
            listen,
            api_key,
            rate_limit,
            retry_after,
            extra_licenses,
        } => {
            let config = SandboxConfig {
                api_key,
                rate_limit,
                rate_limit_retry_after: retry_after,
                extra_licenses,
            };
            match commands::run_sandbox(listen, config).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail(&e),
            }
        }
        Command::CheckConfig { config, sandbox } => {
            match commands::check_config(config.as_deref(), sandbox) {
                Ok(summary) => {
                    println!("{summary}");
                    ExitCode::SUCCESS
                }
                Err(e) => fail(&e),
            }
        }
        Command::Keys {
            command: KeysCommand::Generate { out, kid },
        } => match commands::generate_key(&out, &kid) {
            Ok(summary) => {
                print!("{summary}");
                ExitCode::SUCCESS
            }
            Err(e) => fail(&e),
        },
        Command::Webhooks { command, config } => {
            let action = match command {
                WebhooksCommand::Register { public_url } => {
                    commands::WebhooksAction::Register(public_url)
                }
                WebhooksCommand::List => commands::WebhooksAction::List,
                WebhooksCommand::Unregister { public_url } => {
                    commands::WebhooksAction::Unregister(public_url)
                }
            };
            match commands::webhooks(config.as_deref(), action).await {
                Ok(report) => {
                    print!("{report}");
                    ExitCode::SUCCESS
                }
                Err(e) => fail(&e),
            }
        }
        Command::Db {
            command: DbCommand::Backup { out },
            config,
        } => match commands::db_backup(config.as_deref(), &out).await {
            Ok(report) => {
                eprint!("{report}");
                ExitCode::SUCCESS
            }
            Err(e) => fail(&e),
        },
        Command::Healthcheck { config, url } => {
            let url = match url.map_or_else(|| commands::healthcheck_url(config.as_deref()), Ok) {
                Ok(url) => url,
                Err(e) => return fail(&e),
            };
            if commands::healthcheck(&url).await {
                ExitCode::SUCCESS
            } else {
                eprintln!("gumgate: {url} did not answer 200");
                ExitCode::FAILURE
            }
        }
    }
}

/// One clear line on stderr and exit code 2 (a configuration or start-up problem).
fn fail(e: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("gumgate: {e}");
    ExitCode::from(2)
}
