//! [`AlbumTemplate`]: a `[[watch]] album` title, possibly with `{folder}`, `{year}` and
//! `{month}` filled in per file.
//!
//! The date is when the photo or video was taken where that is cheap to read (EXIF
//! `DateTimeOriginal` of JPEG and TIFF-based raw files, the QuickTime `mvhd` creation time
//! of MP4/MOV, see [`super::date`]), otherwise the file's mtime in local time. Titles are
//! cut to Google's 500 characters.

use std::path::Path;

/// Google's limit on album titles, in characters.
const MAX_TITLE_CHARS: usize = 500;

/// A parsed album title template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlbumTemplate {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Folder,
    Year,
    Month,
}

impl AlbumTemplate {
    /// Parses `text`; unknown `{placeholders}` and unclosed braces are errors.
    pub fn parse(text: &str) -> Result<AlbumTemplate, String> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find('{') {
            if open > 0 {
                parts.push(Part::Text(rest[..open].to_owned()));
            }
            let Some(close) = rest[open..].find('}') else {
                return Err(format!("`{text}` has a `{{` without its `}}`"));
            };
            parts.push(match &rest[open + 1..open + close] {
                "folder" => Part::Folder,
                "year" => Part::Year,
                "month" => Part::Month,
                other => {
                    return Err(format!(
                        "unknown placeholder `{{{other}}}` (known: {{folder}}, {{year}}, {{month}})"
                    ));
                }
            });
            rest = &rest[open + close + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_owned()));
        }
        Ok(AlbumTemplate { parts })
    }

    /// Whether rendering needs the capture date (which may cost a small read).
    pub fn needs_date(&self) -> bool {
        self.parts
            .iter()
            .any(|p| matches!(p, Part::Year | Part::Month))
    }

    /// Characters of fixed text.
    pub fn literal_len(&self) -> usize {
        self.parts
            .iter()
            .map(|p| match p {
                Part::Text(t) => t.chars().count(),
                _ => 0,
            })
            .sum()
    }

    /// The title for the file at `path`, taken in (`year`, `month`); `None` when the result
    /// is blank (the file then goes to the library only).
    pub fn render(&self, path: &Path, date: Option<(i32, u32)>) -> Option<String> {
        let mut title = String::new();
        for part in &self.parts {
            match part {
                Part::Text(t) => title.push_str(t),
                Part::Folder => {
                    let folder = path
                        .parent()
                        .and_then(Path::file_name)
                        .map(|n| n.to_string_lossy());
                    title.push_str(folder.as_deref().unwrap_or(""));
                }
                Part::Year => title.push_str(&date.map_or("0000".into(), |d| d.0.to_string())),
                Part::Month => {
                    title.push_str(&date.map_or("00".into(), |d| format!("{:02}", d.1)));
                }
            }
        }
        let title = title.trim();
        (!title.is_empty()).then(|| title.chars().take(MAX_TITLE_CHARS).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_filled_per_file() {
        let t = AlbumTemplate::parse("{folder} – {year}-{month}").unwrap();
        assert!(t.needs_date());
        assert_eq!(
            t.render(Path::new("/cam/Iceland/IMG.JPG"), Some((2024, 7)))
                .as_deref(),
            Some("Iceland – 2024-07")
        );
        let plain = AlbumTemplate::parse("Camera").unwrap();
        assert!(!plain.needs_date());
        assert_eq!(
            plain.render(Path::new("/x/y.jpg"), None).as_deref(),
            Some("Camera")
        );
        let long = AlbumTemplate::parse(&"é".repeat(400)).unwrap();
        let folder = format!("/{}/x.jpg", "f".repeat(300));
        let t = AlbumTemplate::parse(&format!("{}{{folder}}", "é".repeat(400))).unwrap();
        assert_eq!(
            t.render(Path::new(&folder), None).unwrap().chars().count(),
            500
        );
        assert_eq!(long.literal_len(), 400);
    }

    #[test]
    fn unknown_placeholders_are_errors() {
        assert!(AlbumTemplate::parse("{day}").unwrap_err().contains("{day}"));
        assert!(AlbumTemplate::parse("{year").is_err());
    }
}
