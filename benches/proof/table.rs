//! The closing table: every figure with its target and whether it was met. A missed
//! target is printed as MISS, with the note that explains it when there is one.

/// How a figure compares with its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    Miss,
    /// Reported, no target.
    Info,
}

impl Verdict {
    pub fn at_least(value: f64, target: f64) -> Verdict {
        if value >= target {
            Verdict::Pass
        } else {
            Verdict::Miss
        }
    }

    pub fn at_most(value: f64, target: f64) -> Verdict {
        if value <= target {
            Verdict::Pass
        } else {
            Verdict::Miss
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Miss => "MISS",
            Verdict::Info => "—",
        }
    }
}

/// One line of the table.
pub struct Row {
    pub figure: String,
    pub gphotosd: String,
    pub baseline: String,
    pub ratio: String,
    pub target: String,
    pub verdict: Verdict,
    /// Printed under the table, referenced by number.
    pub note: Option<String>,
}

#[derive(Default)]
pub struct Table {
    rows: Vec<Row>,
}

impl Table {
    pub fn push(&mut self, row: Row) {
        self.rows.push(row);
    }

    /// Prints the table as Markdown, so it can be pasted into the README as it is.
    pub fn print(&self) {
        println!("\n## Results\n");
        println!("| figure | gphotosd | baseline | ratio | target | result |");
        println!("|---|---|---|---|---|---|");
        let mut notes = Vec::new();
        for row in &self.rows {
            let mut verdict = row.verdict.as_str().to_owned();
            if let Some(note) = &row.note {
                notes.push(note.as_str());
                verdict.push_str(&format!(" [{}]", notes.len()));
            }
            println!(
                "| {} | {} | {} | {} | {} | {} |",
                row.figure, row.gphotosd, row.baseline, row.ratio, row.target, verdict
            );
        }
        println!();
        for (i, note) in notes.iter().enumerate() {
            println!("[{}] {note}", i + 1);
        }
        println!(
            "Baseline: serial, one raw POST per photo / one resumable session (start + one \
             `upload, finalize`) per video, batchCreate per 50 items (so it also creates every \
             item); same emulator process, same files, same run."
        );
        println!(
            "gphotosd: phases 1–3 set `[upload] requests_per_second = 1000` (default 10, which \
             would cap photos at 10/s); everything else is the default configuration."
        );
        let misses = self
            .rows
            .iter()
            .filter(|r| r.verdict == Verdict::Miss)
            .count();
        println!("{misses} target(s) missed.");
    }
}
