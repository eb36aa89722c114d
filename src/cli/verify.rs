//! `gphotosd verify [--json] [--requeue-missing] [PATH…]`: the terminal around
//! [`crate::verify`] — the summary, the missing files, and an exit status a script can act
//! on. Every failure exits 2 (or 75), never 1, which means "missing"; with `--json` a
//! failure prints `{"error": "…"}`.

use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;

use crate::paths::shown;
use crate::store::Requeued;
use crate::verify::{Options, Report};

use super::{EXIT_PAUSED, EXIT_UNVERIFIED, load_config};

pub(super) async fn verify(config_path: &Path, json: bool, options: &Options) -> ExitCode {
    match run(config_path, json, options).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("gphotosd: {e:#}");
            // A script reading stdout gets JSON either way.
            if json {
                println!("{}", serde_json::json!({ "error": format!("{e:#}") }));
            }
            ExitCode::from(EXIT_UNVERIFIED)
        }
    }
}

async fn run(config_path: &Path, json: bool, options: &Options) -> anyhow::Result<ExitCode> {
    let config = load_config(config_path)?;
    let report = crate::verify::verify(&config, options).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", render(&report, options.requeue_missing));
    }
    if let Some(stop) = &report.stopped {
        eprintln!(
            "gphotosd: verify stopped ({}): {}",
            stop.reason.as_str(),
            stop.message
        );
    }
    Ok(exit_code(&report))
}

/// 1 for missing items comes first: it is the finding a script most needs to see.
fn exit_code(report: &Report) -> ExitCode {
    if !report.missing.is_empty() {
        ExitCode::FAILURE
    } else if report.stopped.is_some() {
        ExitCode::from(EXIT_PAUSED)
    } else if !report.errors.is_empty() {
        ExitCode::from(EXIT_UNVERIFIED)
    } else {
        ExitCode::SUCCESS
    }
}

/// The human form of a [`Report`].
pub fn render(r: &Report, requeue_asked: bool) -> String {
    let mut out = String::new();
    let copies = if r.media_items == r.files {
        String::new()
    } else {
        format!(" ({} media items)", r.media_items)
    };
    let _ = writeln!(
        out,
        "Checked {} file(s){copies} with {} request(s); quota today: {} of {}.",
        r.files - r.unchecked,
        r.requests,
        r.quota.used_today,
        r.quota.budget
    );
    let _ = writeln!(out, "  present: {}", r.present);
    let _ = writeln!(out, "  missing: {}", r.missing.len());
    let _ = writeln!(out, "  errors:  {}", r.errors.len());
    if r.unchecked > 0 {
        let _ = writeln!(out, "  not checked: {} (verify stopped early)", r.unchecked);
    }
    if !r.missing.is_empty() {
        let _ = writeln!(out, "Missing from Google Photos (deleted in the app?):");
        for m in &r.missing {
            let album = m
                .album_title
                .as_deref()
                .map(|t| format!(" (album {t:?})"))
                .unwrap_or_default();
            let _ = writeln!(out, "  {}{album}", shown(&m.path));
        }
        if !requeue_asked {
            let _ = writeln!(
                out,
                "Nothing was changed. `gphotosd verify --requeue-missing` queues them to be \
                 uploaded again."
            );
        }
    }
    if !r.errors.is_empty() {
        let _ = writeln!(out, "Could not check:");
        for e in &r.errors {
            let _ = writeln!(out, "  {}: {}", shown(&e.path), e.message);
        }
    }
    let group = |outcome: Requeued| r.requeued.iter().filter(move |f| f.outcome == outcome);
    let sections = [
        (
            Requeued::Queued,
            "Queued again (a running daemon uploads them now; otherwise run `gphotosd sync`):",
        ),
        (
            Requeued::NotOnDisk,
            "Not queued: the file is no longer on disk either (now marked skipped):",
        ),
        (
            Requeued::ActionPending,
            "Not changed: the file's after-upload action is still due; verify again in a \
             minute:",
        ),
    ];
    for (outcome, title) in sections {
        if group(outcome).next().is_some() {
            let _ = writeln!(out, "{title}");
            for f in group(outcome) {
                let _ = writeln!(out, "  {}", shown(&f.path));
            }
        }
    }
    out
}
