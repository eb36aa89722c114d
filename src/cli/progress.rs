//! Progress of a foreground `sync` or `demo`: in a terminal, a block redrawn in place with
//! a bar per upload; otherwise a plain line whenever the counts change (log-friendly).

use std::io::{IsTerminal, Write};
use std::time::Duration;

use bytesize::ByteSize;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::status::{Report, summary_line};
use crate::store::Db;

/// Prints progress until `stop` fires.
pub async fn show(config: Config, stop: CancellationToken) {
    let tty = std::io::stderr().is_terminal();
    let mut last_plain = String::new();
    let mut drawn_lines = 0usize;
    loop {
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(if tty { 250 } else { 1000 })) => {}
            () = stop.cancelled() => break,
        }
        let c = config.clone();
        let report = tokio::task::spawn_blocking(move || {
            let db = Db::open_read_only(&c.database_path()).ok()?;
            Report::collect(&c, &db).ok()
        })
        .await
        .ok()
        .flatten();
        let Some(report) = report else { continue };
        let mut err = std::io::stderr().lock();
        if tty {
            let block = render(&report);
            // Move up over the previous block and clear it.
            for _ in 0..drawn_lines {
                let _ = write!(err, "\x1b[1A\x1b[2K");
            }
            let _ = write!(err, "{block}");
            drawn_lines = block.lines().count();
        } else {
            let line = summary_line(&report.counts, report.pause.as_ref());
            if line != last_plain {
                let _ = writeln!(err, "progress: {line}");
                last_plain = line;
            }
        }
    }
}

fn render(r: &Report) -> String {
    let mut out = format!("{}\n", summary_line(&r.counts, r.pause.as_ref()));
    for f in r.in_flight.iter().take(8) {
        let width = 24usize;
        let filled = if f.size == 0 {
            width
        } else {
            (f.bytes_sent as f64 / f.size as f64 * width as f64) as usize
        }
        .min(width);
        let name = std::path::Path::new(&f.path)
            .file_name()
            .map_or_else(|| f.path.clone(), |n| n.to_string_lossy().into_owned());
        out.push_str(&format!(
            "  [{}{}] {} / {}  {name}\n",
            "=".repeat(filled),
            " ".repeat(width - filled),
            ByteSize::b(f.bytes_sent),
            ByteSize::b(f.size),
        ));
    }
    out
}
