//! The command line: [`Cli`] and one module per subcommand.

mod auth;
mod demo;
mod progress;
mod retry;
mod run;
mod status;
mod sync;
mod verify;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;

use crate::config::Config;

/// Uploads camera folders to Google Photos, each file exactly once.
#[derive(Debug, Parser)]
#[command(name = "gphotosd", version, about)]
pub struct Cli {
    /// Configuration file [default: $CONFIGURATION_DIRECTORY/config.toml, else
    /// /etc/gphotosd/config.toml]
    #[arg(long, short, global = true, env = "GPHOTOSD_CONFIG")]
    pub config: Option<PathBuf>,
    /// More log output (-v debug, -vv trace); RUST_LOG overrides.
    #[arg(long, short, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

/// What to do.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Scan the watched folders once, upload everything new, exit when done.
    ///
    /// Exit status: 0 when nothing failed, 1 when some files failed (one line each on
    /// stderr), 75 when Google paused the work (quota, storage, authorization).
    Sync,
    /// Run as a daemon: upload, rescan periodically, stop on SIGTERM or SIGINT.
    Run,
    /// Connect a Google account: print a URL to open in a browser (on any computer), then
    /// save the token file once Google's answer arrives, by the browser's redirect or by
    /// pasting the address the browser ends up on.
    ///
    /// A running daemon picks up the new token by itself. Exit status: 0 when the token
    /// was saved (or, with --check, works), 1 otherwise.
    Auth {
        /// Only test the saved token: refresh it once and show which scopes it has.
        #[arg(long)]
        check: bool,
    },
    /// Show what the daemon is doing (works whether or not it runs), or what happened to
    /// one file and why.
    Status {
        /// Machine-readable output (the schema is documented in the README).
        #[arg(long)]
        json: bool,
        /// Refresh every second until interrupted.
        #[arg(long, conflicts_with = "path")]
        watch: bool,
        /// A file to explain.
        path: Option<PathBuf>,
    },
    /// Queue failed files again; run failed after-upload actions again.
    Retry {
        /// Every failed file and failed after-upload action.
        #[arg(long, conflicts_with = "paths")]
        all: bool,
        /// The files to retry.
        paths: Vec<PathBuf>,
    },
    /// Check that Google Photos still holds every uploaded file (or the given ones): a
    /// media item deleted in the Google Photos app is reported missing.
    ///
    /// Asks Google about 50 items per request, counted against the daily request budget.
    /// Needs the token to grant photoslibrary.readonly.appcreateddata (`gphotosd auth`
    /// asks for it). Without --requeue-missing nothing is changed. Works beside a running
    /// daemon. Exit status: 0 when every item is there, 1 when some are missing, 2 when
    /// some could not be checked (or a path is not an uploaded file), 75 when Google or
    /// the token stopped it (daily budget spent, read permission missing, `gphotosd auth`
    /// needed).
    Verify {
        /// Machine-readable output (the schema is documented in the README).
        #[arg(long)]
        json: bool,
        /// Queue the files of missing items again, to be uploaded as new items (into
        /// their album, if they had one).
        #[arg(long)]
        requeue_missing: bool,
        /// Uploaded files to check (default: all of them).
        paths: Vec<PathBuf>,
    },
    /// Run the whole pipeline offline against the bundled Google Photos emulator, on a
    /// generated camera folder. Touches no Google account.
    Demo {
        /// Keep the demo's folders, config and database here instead of a temporary folder.
        #[arg(long)]
        keep: Option<PathBuf>,
    },
    /// Print shell completions (bash, zsh, fish, elvish, powershell).
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff).
    Man,
}

/// Exit status of a sync that a pause ended (EX_TEMPFAIL: try again later).
pub const EXIT_PAUSED: u8 = 75;
/// Exit status of a verify that could not check everything it was asked to (as clap's
/// usage errors: the question could not be answered).
pub const EXIT_UNVERIFIED: u8 = 2;

/// Runs the parsed command.
pub async fn dispatch(cli: Cli) -> ExitCode {
    let result = match cli.command {
        Command::Sync => sync::sync(&config_path(cli.config)).await,
        Command::Run => run::run(&config_path(cli.config)).await,
        Command::Auth { check } => auth::auth(&config_path(cli.config), check).await,
        Command::Status { json, watch, path } => {
            status::status(&config_path(cli.config), json, watch, path.as_deref()).await
        }
        Command::Demo { keep } => demo::demo(keep).await,
        Command::Retry { all, paths } => retry::retry(&config_path(cli.config), all, &paths),
        Command::Verify {
            json,
            requeue_missing,
            paths,
        } => {
            let options = crate::verify::Options {
                paths,
                requeue_missing,
            };
            return verify::verify(&config_path(cli.config), json, &options).await;
        }
        Command::Completions { shell } => {
            use clap::CommandFactory;
            let mut out = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "gphotosd", &mut out);
            print_all(&out)
        }
        Command::Man => {
            use clap::CommandFactory;
            let mut out = Vec::new();
            match clap_mangen::Man::new(Cli::command()).render(&mut out) {
                Ok(()) => print_all(&out),
                Err(e) => Err(e.into()),
            }
        }
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("gphotosd: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Writes to stdout; a closed pipe (`| head`) is not an error.
fn print_all(bytes: &[u8]) -> anyhow::Result<ExitCode> {
    use std::io::Write;
    match std::io::stdout().lock().write_all(bytes) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(ExitCode::SUCCESS),
    }
}

fn config_path(explicit: Option<PathBuf>) -> PathBuf {
    explicit.unwrap_or_else(|| {
        std::env::var_os("CONFIGURATION_DIRECTORY")
            .map(|d| PathBuf::from(d).join("config.toml"))
            .unwrap_or_else(|| PathBuf::from("/etc/gphotosd/config.toml"))
    })
}

fn load_config(path: &std::path::Path) -> anyhow::Result<Config> {
    Ok(Config::load(path)?)
}

/// Logs to stderr; under systemd (journald reads stderr and stamps time) without our own
/// timestamps.
pub fn init_tracing(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let default = match verbose {
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new(format!(
            "gphotosd={default},warn,hyper=warn,reqwest=warn,rustls=warn"
        ))
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false);
    if std::env::var_os("JOURNAL_STREAM").is_some() {
        builder.without_time().init();
    } else {
        builder.init();
    }
}

/// A token cancelled by SIGTERM or SIGINT; a second SIGINT exits at once.
pub fn shutdown_on_signals() -> anyhow::Result<CancellationToken> {
    use tokio::signal::unix::{SignalKind, signal};
    let token = CancellationToken::new();
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let t = token.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        tracing::info!("stopping (signal received)");
        t.cancel();
        if int.recv().await.is_some() {
            tracing::warn!("second interrupt: exiting now");
            std::process::exit(130);
        }
    });
    Ok(token)
}
