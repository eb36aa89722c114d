//! `gphotosd status [--json] [--watch] [PATH]`: what the daemon is doing, or what
//! happened to one file and why.

use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use bytesize::ByteSize;
use chrono::{DateTime, Utc};

use crate::config::Config;
use crate::paths::printable;
use crate::status::{self, FileReport, Report};
use crate::store::{FileState, unix_now};

use super::load_config;

pub(super) async fn status(
    config_path: &Path,
    json: bool,
    watch: bool,
    path: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    let config = load_config(config_path)?;
    let db = status::open(&config)?;
    if let Some(path) = path {
        let report = status::explain(&config, &db, path)?;
        if json {
            println!("{}", serde_json::to_string_pretty(&report)?);
        } else {
            print!("{}", render_file(&report));
        }
        return Ok(ExitCode::SUCCESS);
    }
    loop {
        let report = Report::collect(&config, &db)?;
        let text = if json {
            serde_json::to_string_pretty(&report)? + "\n"
        } else {
            render(&config, &report)
        };
        if !watch {
            print!("{text}");
            return Ok(ExitCode::SUCCESS);
        }
        // Redraw in place on a terminal; elsewhere, one report after another.
        if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
            print!("\x1b[2J\x1b[H{text}");
        } else {
            println!("{text}");
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = tokio::signal::ctrl_c() => return Ok(ExitCode::SUCCESS),
        }
    }
}

/// A moment, with how far it is from now in the right direction.
fn when(unix: i64) -> String {
    let at = DateTime::<Utc>::from_timestamp(unix, 0).unwrap_or_default();
    let from_now = unix - unix_now();
    let relative = if from_now >= 0 {
        format!("in {}", duration(from_now))
    } else {
        format!("{} ago", duration(-from_now))
    };
    format!("{} ({relative})", at.format("%Y-%m-%d %H:%M UTC"))
}

fn duration(secs: i64) -> String {
    let secs = u64::try_from(secs).unwrap_or(0);
    humantime::format_duration(Duration::from_secs(secs)).to_string()
}

fn bar(done: u64, total: u64, width: usize) -> String {
    let filled = if total == 0 {
        width
    } else {
        ((done as f64 / total as f64) * width as f64).round() as usize
    }
    .min(width);
    format!("[{}{}]", "#".repeat(filled), "-".repeat(width - filled))
}

/// The human form of a [`Report`].
pub fn render(config: &Config, r: &Report) -> String {
    let mut out = String::new();
    let d = &r.daemon;
    let _ = match (d.running, d.pid) {
        (true, Some(pid)) => writeln!(
            out,
            "gphotosd {}: running (pid {pid}, up {})",
            d.version.as_deref().unwrap_or("?"),
            duration(d.uptime_secs.unwrap_or(0))
        ),
        _ => writeln!(
            out,
            "gphotosd: not running (state in {})",
            config.state.dir.display()
        ),
    };
    if let Some(p) = &r.pause {
        let label = if d.running {
            "PAUSED"
        } else {
            "The last run ended PAUSED"
        };
        let _ = writeln!(out, "{label} ({}): {}", p.reason.as_str(), p.message);
        if let Some(until) = p.until {
            let _ = writeln!(out, "  lifts by itself at {}", when(until));
        }
    }
    let c = &r.counts;
    let _ = write!(
        out,
        "Files: {} done, {} uploading, {} uploaded, {} creating, {} pending, {} waiting to retry, {} failed, {} skipped",
        c.done, c.uploading, c.uploaded, c.creating, c.pending, c.waiting, c.failed, c.skipped
    );
    if c.gone > 0 {
        let _ = write!(
            out,
            "; {} more uploaded, since moved away or deleted",
            c.gone
        );
    }
    out.push('\n');
    if !r.in_flight.is_empty() {
        if d.running {
            let _ = writeln!(out, "Uploading:");
        } else {
            let _ = writeln!(
                out,
                "Interrupted uploads (they resume where the server stands at the next start):"
            );
        }
        for f in &r.in_flight {
            let pct = (f.bytes_sent * 100).checked_div(f.size).unwrap_or(100);
            let rate = f
                .rate
                .filter(|_| d.running)
                .map(|b| format!("  {}/s", ByteSize::b(b as u64)))
                .unwrap_or_default();
            let eta = f
                .eta_secs
                .filter(|_| d.running)
                .map(|s| format!("  ETA {}", duration(i64::try_from(s).unwrap_or(0))))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "  {} {} {pct:>3}%  {} / {}{rate}{eta}",
                printable(&f.path),
                bar(f.bytes_sent, f.size, 20),
                ByteSize::b(f.bytes_sent),
                ByteSize::b(f.size),
            );
        }
    }
    let q = &r.quota;
    let _ = writeln!(
        out,
        "Quota: {} of {} requests today; resets at {}",
        q.used_today,
        q.budget,
        when(q.resets_at)
    );
    let _ = writeln!(out, "Watching:");
    for w in &r.watch {
        let health = if w.healthy { "ok" } else { "NOT OK" };
        let _ = write!(out, "  {}  {}  {health}", printable(&w.path), w.mode);
        if let Some(m) = &w.message {
            let _ = write!(out, " ({m})");
        }
        out.push('\n');
    }
    if !r.failures.is_empty() {
        let _ = writeln!(
            out,
            "Recent failures (`gphotosd retry --all` queues them again):"
        );
        for f in &r.failures {
            let _ = writeln!(out, "  {}: {}", printable(&f.path), printable(&f.reason));
        }
    }
    if !r.after_upload_failures.is_empty() {
        let _ = writeln!(
            out,
            "In Google Photos, but the after-upload action failed (fix the cause, then \
             `gphotosd retry` the path):"
        );
        for f in &r.after_upload_failures {
            let _ = writeln!(out, "  {}: {}", printable(&f.path), printable(&f.reason));
        }
    }
    out
}

/// The human form of a [`FileReport`].
pub fn render_file(r: &FileReport) -> String {
    let mut out = format!("{}\n", printable(&r.path));
    let Some(row) = &r.row else {
        let _ = writeln!(
            out,
            "  not tracked: {}",
            r.untracked_reason.as_deref().unwrap_or("")
        );
        return out;
    };
    let _ = writeln!(out, "  state: {}", row.state.as_str());
    let explanation = match row.state {
        FileState::Done if row.alias_of.is_some() => {
            "in Google Photos (same content as another file; nothing was uploaded for this path)"
        }
        FileState::Done => "in Google Photos",
        FileState::Skipped => "not uploaded, on purpose",
        FileState::Failed => "gave up; fix the cause, then `gphotosd retry` this path",
        FileState::Waiting => "a transient error; it is tried again automatically",
        FileState::Pending => "queued for upload",
        FileState::Uploading if !r.daemon_running => {
            "interrupted mid-upload; it resumes where the server stands at the next start"
        }
        FileState::Uploading => "being uploaded",
        FileState::Uploaded => "bytes are with Google; the media item is created shortly",
        FileState::Creating => "the media item is being created",
    };
    let _ = writeln!(out, "  meaning: {explanation}");
    if let Some(at) = row.gone_at {
        let _ = writeln!(
            out,
            "  gone: no longer at this path since {} (moved away or deleted)",
            when(at)
        );
    }
    if let Some(reason) = &row.reason {
        let _ = writeln!(out, "  reason: {}", printable(reason));
    }
    if row.attempts > 0 {
        let _ = writeln!(out, "  attempts: {}", row.attempts);
    }
    if let Some(next) = row
        .next_attempt_at
        .filter(|_| row.state == FileState::Waiting)
    {
        let _ = writeln!(out, "  next attempt: {}", when(next));
    }
    let _ = writeln!(out, "  size: {}", ByteSize::b(row.size));
    match (&row.album_title, row.alias_of) {
        (Some(album), Some(_)) if row.state == FileState::Done => {
            // Nothing was created for this path, so nothing was added to its album.
            let _ = writeln!(
                out,
                "  album: {album} (not added: the item was created from another file with \
                 the same content, in that file's album)"
            );
        }
        (Some(album), _) => {
            let _ = writeln!(out, "  album: {album}");
        }
        (None, _) => {}
    }
    if let Some(id) = row.media_item_id.as_deref().filter(|id| !id.is_empty()) {
        let _ = writeln!(out, "  media item: {id}");
    }
    if let Some(url) = &row.product_url {
        let _ = writeln!(out, "  open: {url}");
    }
    out
}
