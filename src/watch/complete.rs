//! Whether a file's bytes are all there: a structural check, made before a file is queued,
//! for the formats whose end can be verified without ever calling a complete file
//! incomplete.
//!
//! Quiet periods alone cannot tell a finished copy from a paused one (a camera or a slow
//! share pausing longer than `settle`, a writer that closes and reopens). The formats below
//! say where they end, so a truncated file is recognised from its header and its tail:
//!
//! - ISO-BMFF (MP4, MOV, M4V, 3GP, HEIC/HEIF, AVIF, CR3): the top-level boxes must tile
//!   the file; a box running past the end is a truncated file. Bytes after the last box
//!   that are no box header (too short, or a type that is no four-character code) are
//!   junk some tool appended, not missing data: unchecked.
//! - PNG: the `IEND` chunk is in the tail.
//! - RIFF (WebP, AVI): the top-level `RIFF` chunks tile the file; the first is at least
//!   as long as its header says, and so is every `RIFF AVIX` extension chunk of an
//!   OpenDML AVI over 1 GiB. Bytes after them that are no RIFF chunk are unchecked.
//! - BMP: the file is at least as long as the size field of its file header says, and
//!   holds the pixel data its info header places (offset, and image size or the size
//!   width × height × bit depth give for uncompressed rows).
//! - GIF: the blocks after the screen descriptor (extensions, images with their data
//!   sub-blocks) are walked to the trailer byte `3B`; whatever follows it is a trailer.
//!   Walked, not searched for: LZW data can hold any byte, so a `3B` near the end proves
//!   nothing. This reads the whole file through a small buffer, once (GIFs are small).
//! - JPEG: an end-of-image marker follows the first start-of-scan, in the last
//!   [`TAIL_WINDOW`]. Not "at the very end": phones append motion-photo videos and other
//!   trailers after it. Compressed scan data never holds `FF D9`, so a cut-off scan is
//!   recognised; a trailer's random bytes make a false "incomplete" practically impossible.
//!
//! Every other format is [`Completeness::Unchecked`]. Memory stays bounded: at most the
//! tail window is read, plus box and segment headers.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How much of a file's end is searched for an end marker.
pub const TAIL_WINDOW: u64 = 1024 * 1024;

/// Headers walked at most before giving up (then the file counts as unchecked).
const MAX_HEADERS: usize = 100_000;

const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";
/// The `IEND` chunk type and its CRC: the last 8 bytes of every PNG.
const PNG_END: &[u8] = b"IEND\xae\x42\x60\x82";
/// The RIFF forms checked: WebP and AVI.
const RIFF_FORMS: &[&[u8]] = &[b"WEBP", b"AVI "];
/// Top-level QuickTime atoms a `.mov` may start with instead of `ftyp`.
const QUICKTIME_FIRST: &[&[u8; 4]] = &[b"wide", b"free", b"skip", b"mdat", b"moov", b"pnot"];

/// What the structure of a file says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Completeness {
    /// The format's end is there.
    Complete,
    /// A format this module cannot verify (or a malformed file): nothing is held back.
    Unchecked,
    /// Bytes are missing; the reason says which.
    Incomplete(String),
}

/// Checks the file at `path`. Unreadable files are [`Completeness::Unchecked`]: reading
/// them fails later with its own clear reason.
pub fn check(path: &Path) -> Completeness {
    let Ok(mut file) = File::open(path) else {
        return Completeness::Unchecked;
    };
    let Ok(len) = file.metadata().map(|m| m.len()) else {
        return Completeness::Unchecked;
    };
    let mut head = [0u8; 16];
    let n = read_at(&mut file, 0, &mut head).unwrap_or(0);
    let head = &head[..n];
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    let result = if head.starts_with(PNG_SIGNATURE) {
        png(&mut file, len)
    } else if head.len() >= 12 && &head[..4] == b"RIFF" && RIFF_FORMS.contains(&&head[8..12]) {
        riff(&mut file, len)
    } else if head.starts_with(b"BM") && matches!(ext.as_str(), "bmp" | "dib") {
        bmp(&mut file, len)
    } else if head.starts_with(b"GIF87a") || head.starts_with(b"GIF89a") {
        gif(&mut file)
    } else if head.starts_with(&[0xff, 0xd8, 0xff]) {
        jpeg(&mut file, len)
    } else if head.len() >= 8 && is_iso_bmff(&head[4..8], &ext) {
        iso_bmff(&mut file, len)
    } else {
        Ok(Completeness::Unchecked)
    };
    result.unwrap_or(Completeness::Unchecked)
}

/// Why a file that is not queued yet waits, for `gphotosd status PATH`: `None` when it
/// looks complete, or is old enough to be uploaded as it is.
pub fn explain_wait(path: &Path, wait: Duration) -> Option<String> {
    let meta = std::fs::metadata(path).ok()?;
    let modified = meta.modified().ok()?;
    let age = SystemTime::now()
        .duration_since(modified)
        .unwrap_or_default();
    if age >= wait {
        return None;
    }
    match check(path) {
        Completeness::Incomplete(why) => Some(waiting_message(&why, wait)),
        _ => None,
    }
}

/// "looks incomplete: …; waiting until …", as status and logs show it.
pub fn waiting_message(why: &str, wait: Duration) -> String {
    format!(
        "looks incomplete: {why}; waiting until it is complete or unchanged for {}",
        humantime::format_duration(wait)
    )
}

/// Whether a file modified at `mtime_ns` (ns since the epoch) is still within `wait`.
pub fn is_recent(mtime_ns: i64, wait: Duration) -> bool {
    age(mtime_ns) < wait
}

/// How long ago `mtime_ns` (ns since the epoch) was; zero for a time in the future.
pub fn age(mtime_ns: i64) -> Duration {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    now.saturating_sub(Duration::from_nanos(u64::try_from(mtime_ns).unwrap_or(0)))
}

fn is_iso_bmff(first_type: &[u8], ext: &str) -> bool {
    first_type == b"ftyp"
        || (matches!(ext, "mov" | "qt" | "mp4" | "m4v")
            && QUICKTIME_FIRST.iter().any(|t| t.as_slice() == first_type))
}

/// Reads as much of `buf` as the file has from `offset`; returns the count.
fn read_at(file: &mut File, offset: u64, buf: &mut [u8]) -> std::io::Result<usize> {
    file.seek(SeekFrom::Start(offset))?;
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

/// Whether `needle` occurs in the last [`TAIL_WINDOW`] bytes, starting no earlier than
/// `from`. Searched from the end backwards in small blocks: an end marker is nearly always
/// in a file's last bytes, so one block is read instead of the whole window (which matters
/// for a scan of many large photos, above all on a network share).
fn tail_contains(file: &mut File, len: u64, from: u64, needle: &[u8]) -> std::io::Result<bool> {
    const BLOCK: u64 = 64 * 1024;
    let start = from.max(len.saturating_sub(TAIL_WINDOW));
    // Each block reaches `overlap` bytes into the next one, for a needle across the seam.
    let overlap = needle.len().saturating_sub(1) as u64;
    let mut buf = vec![0u8; usize::try_from(BLOCK + overlap).unwrap_or(0)];
    let mut end = len;
    while end > start {
        let block_start = end.saturating_sub(BLOCK).max(start);
        let block_end = (end + overlap).min(len);
        let want = usize::try_from(block_end - block_start).unwrap_or(0);
        let n = read_at(file, block_start, &mut buf[..want])?;
        if contains(&buf[..n], needle) {
            return Ok(true);
        }
        end = block_start;
    }
    Ok(false)
}

/// Whether `needle` occurs in `haystack`, looked for from the end (where end markers are)
/// and comparing the first byte before the rest.
fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    let Some((&first, rest)) = needle.split_first() else {
        return true;
    };
    haystack
        .windows(needle.len())
        .rev()
        .any(|w| w[0] == first && &w[1..] == rest)
}

fn png(file: &mut File, len: u64) -> std::io::Result<Completeness> {
    // Searched, not required at the very end: some tools append data after IEND.
    Ok(if tail_contains(file, len, 8, PNG_END)? {
        Completeness::Complete
    } else {
        Completeness::Incomplete("the PNG has no IEND chunk at its end".to_owned())
    })
}

/// Walks the top-level `RIFF` chunks: the first holds the whole file but for an OpenDML
/// AVI, whose later `RIFF AVIX` chunks follow it.
fn riff(file: &mut File, len: u64) -> std::io::Result<Completeness> {
    let mut offset = 0u64;
    for _ in 0..MAX_HEADERS {
        let mut header = [0u8; 12];
        let n = read_at(file, offset, &mut header)?;
        if offset > 0 && n < 12 && n > 0 && b"RIFF".starts_with(&header[..n.min(4)]) {
            return Ok(Completeness::Incomplete(format!(
                "the RIFF chunk at byte {offset} is cut off in its header"
            )));
        }
        if offset > 0 && (n < 12 || &header[..4] != b"RIFF") {
            return Ok(Completeness::Complete); // the end, or bytes some tool appended
        }
        let size = u64::from(u32::from_le_bytes([
            header[4], header[5], header[6], header[7],
        ]));
        if size < 4 {
            // A writer that fills in the size at the end: nothing to tell from it.
            return Ok(Completeness::Unchecked);
        }
        let form = String::from_utf8_lossy(&header[8..12])
            .trim_end()
            .to_owned();
        let declared = offset + 8 + size;
        if len < declared {
            return Ok(Completeness::Incomplete(format!(
                "the RIFF header of its {form} chunk at byte {offset} announces {} bytes, \
                 {} are there",
                size + 8,
                len - offset
            )));
        }
        offset = declared + (size & 1); // chunks are padded to an even length
    }
    Ok(Completeness::Unchecked)
}

/// The file header's size, then the pixel data the info header places.
fn bmp(file: &mut File, len: u64) -> std::io::Result<Completeness> {
    let mut h = [0u8; 54];
    let n = read_at(file, 0, &mut h)?;
    let u32_at = |i: usize| u64::from(u32::from_le_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]));
    let u16_at = |i: usize| u64::from(u16::from_le_bytes([h[i], h[i + 1]]));
    if n < 18 {
        return Ok(Completeness::Incomplete(
            "the BMP ends inside its file header".to_owned(),
        ));
    }
    let (declared, pixels_at, info_size) = (u32_at(2), u32_at(10), u32_at(14));
    let short = |what: &str, needed: u64| {
        Completeness::Incomplete(format!("{what} needs {needed} bytes, the file has {len}"))
    };
    // Some writers leave the size field 0: then the pixel data alone tells.
    if declared > 0 && len < declared {
        return Ok(short("the BMP file header", declared));
    }
    if n < 54 && info_size >= 40 || n < 26 {
        return Ok(short("the BMP info header", 14 + info_size));
    }
    // Width, height (negative: top-down), bits per pixel; compressed data (RLE, JPEG,
    // PNG) has a size only in `biSizeImage`.
    let (width, height, bits, compression, image_size) = match info_size {
        12 => (u16_at(18), u16_at(20), u16_at(24), 0, 0),
        40.. => {
            let signed = |i: usize| {
                u64::from(i32::from_le_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]).unsigned_abs())
            };
            (signed(18), signed(22), u16_at(28), u32_at(30), u32_at(34))
        }
        _ => return Ok(Completeness::Unchecked),
    };
    let pixel_bytes = if image_size > 0 {
        image_size
    } else if matches!(compression, 0 | 3 | 6) {
        // Uncompressed rows are padded to 4 bytes.
        width
            .saturating_mul(bits)
            .div_ceil(32)
            .saturating_mul(4)
            .saturating_mul(height)
    } else {
        0
    };
    let end = pixels_at.saturating_add(pixel_bytes);
    if pixels_at < 14 + info_size || (declared > 0 && end > declared.max(len)) {
        return Ok(Completeness::Unchecked); // inconsistent headers: Google decides
    }
    Ok(if end > len {
        short("its pixel data", end)
    } else if declared == 0 && pixel_bytes == 0 {
        Completeness::Unchecked
    } else {
        Completeness::Complete
    })
}

/// Walks a GIF's blocks to its trailer, reading the file once through a buffer.
fn gif(file: &mut File) -> std::io::Result<Completeness> {
    file.seek(SeekFrom::Start(0))?;
    let mut r = Blocks(std::io::BufReader::with_capacity(64 * 1024, file));
    let cut = |why: &str| Ok(Completeness::Incomplete(format!("the GIF ends {why}")));
    let color_table = |flags: u8| {
        if flags & 0x80 != 0 {
            3u64 << ((flags & 7) + 1)
        } else {
            0
        }
    };
    let mut screen = [0u8; 13];
    if !r.read(&mut screen)? {
        return cut("inside its header");
    }
    if !r.skip(color_table(screen[10]))? {
        return cut("inside its color table");
    }
    for _ in 0..MAX_HEADERS {
        let complete = match r.byte()? {
            None => false,
            Some(0x3b) => return Ok(Completeness::Complete),
            // Extension: a label, then sub-blocks.
            Some(0x21) => r.byte()?.is_some() && r.sub_blocks()?,
            // Image: descriptor, local color table, LZW code size, sub-blocks.
            Some(0x2c) => {
                let mut descriptor = [0u8; 9];
                r.read(&mut descriptor)?
                    && r.skip(color_table(descriptor[8]))?
                    && r.byte()?.is_some()
                    && r.sub_blocks()?
            }
            Some(_) => return Ok(Completeness::Unchecked), // malformed: Google decides
        };
        if !complete {
            return cut("before its trailer");
        }
    }
    Ok(Completeness::Unchecked)
}

/// A GIF's bytes, read in order; every method says whether the file had enough.
struct Blocks<R>(R);

impl<R: Read> Blocks<R> {
    fn byte(&mut self) -> std::io::Result<Option<u8>> {
        let mut b = [0u8];
        Ok(self.read(&mut b)?.then_some(b[0]))
    }

    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<bool> {
        match self.0.read_exact(buf) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn skip(&mut self, n: u64) -> std::io::Result<bool> {
        Ok(std::io::copy(&mut (&mut self.0).take(n), &mut std::io::sink())? == n)
    }

    /// Data sub-blocks: a length byte and that many bytes, until a length of 0.
    fn sub_blocks(&mut self) -> std::io::Result<bool> {
        loop {
            match self.byte()? {
                None => return Ok(false),
                Some(0) => return Ok(true),
                Some(n) if !self.skip(u64::from(n))? => return Ok(false),
                Some(_) => {}
            }
        }
    }
}

fn iso_bmff(file: &mut File, len: u64) -> std::io::Result<Completeness> {
    let mut offset = 0u64;
    for _ in 0..MAX_HEADERS {
        if offset == len {
            return Ok(Completeness::Complete);
        }
        let mut header = [0u8; 16];
        let n = read_at(file, offset, &mut header)?;
        if n < 8 || !is_fourcc(&header[4..8]) {
            return Ok(Completeness::Unchecked);
        }
        let kind = String::from_utf8_lossy(&header[4..8]).into_owned();
        let size = match u32::from_be_bytes([header[0], header[1], header[2], header[3]]) {
            0 => return Ok(Completeness::Complete), // the last box runs to the end
            1 if n < 16 => {
                return Ok(Completeness::Incomplete(format!(
                    "the header of the `{kind}` box at byte {offset} is cut off"
                )));
            }
            1 => u64::from_be_bytes(header[8..16].try_into().unwrap_or([0; 8])),
            s => u64::from(s),
        };
        if size < 8 {
            return Ok(Completeness::Unchecked); // malformed: Google decides
        }
        let end = offset.saturating_add(size);
        if end > len {
            return Ok(Completeness::Incomplete(format!(
                "the `{kind}` box at byte {offset} needs {size} bytes, {} are there",
                len - offset
            )));
        }
        offset = end;
    }
    Ok(Completeness::Unchecked)
}

/// Whether `t` can be a box type: letters, digits, spaces (and `©` of QuickTime atoms).
fn is_fourcc(t: &[u8]) -> bool {
    t.iter()
        .all(|&b| b.is_ascii_alphanumeric() || b == b' ' || b == 0xa9)
}

fn jpeg(file: &mut File, len: u64) -> std::io::Result<Completeness> {
    // Walk the segments before the first scan by their lengths: an EXIF thumbnail's own
    // end marker lies inside them and must not count.
    let mut offset = 2u64;
    for _ in 0..MAX_HEADERS {
        let mut header = [0u8; 4];
        let n = read_at(file, offset, &mut header)?;
        if n < 4 {
            return Ok(Completeness::Incomplete(
                "the JPEG ends before its image data".to_owned(),
            ));
        }
        if header[0] != 0xff {
            return Ok(Completeness::Unchecked);
        }
        match header[1] {
            0xff => offset += 1, // fill byte
            0xd9 => return Ok(Completeness::Complete),
            0x01 | 0xd0..=0xd7 => offset += 2, // markers without a length
            marker => {
                let length = u64::from(u16::from_be_bytes([header[2], header[3]]));
                let end = offset + 2 + length;
                if end > len {
                    return Ok(Completeness::Incomplete(
                        "the JPEG ends inside a header segment".to_owned(),
                    ));
                }
                if marker == 0xda {
                    return Ok(if tail_contains(file, len, end, &[0xff, 0xd9])? {
                        Completeness::Complete
                    } else {
                        Completeness::Incomplete(
                            "the JPEG has no end-of-image marker after its image data".to_owned(),
                        )
                    });
                }
                offset = end;
            }
        }
    }
    Ok(Completeness::Unchecked)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::watch::tests::fixture;

    const MEDIA: &[&str] = &[
        "GOPR0001.JPG",
        "IMG_0002.JPG",
        "IMG_0003.PNG",
        "IMG_0004.HEIC",
        "IMG_0005.WEBP",
        "GX010001.MP4",
        "GX020001.MP4",
        "MVI_0006.MOV",
        "GL010001.LRV",
        "GX010001.THM",
    ];

    #[test]
    fn every_media_fixture_is_complete() {
        for name in MEDIA {
            assert_eq!(check(&fixture(name)), Completeness::Complete, "{name}");
        }
        for name in ["CORRUPT.JPG", "EMPTY.JPG", "notes.txt"] {
            assert_eq!(check(&fixture(name)), Completeness::Unchecked, "{name}");
        }
    }

    #[test]
    fn truncated_copies_are_incomplete_and_trailers_are_fine() {
        let dir = tempfile::tempdir().unwrap();
        for name in MEDIA {
            let bytes = std::fs::read(fixture(name)).unwrap();
            for cut in [bytes.len() / 3, bytes.len() * 4 / 5, bytes.len() - 1] {
                let p = dir.path().join(name);
                std::fs::write(&p, &bytes[..cut]).unwrap();
                assert!(
                    matches!(check(&p), Completeness::Incomplete(_)),
                    "{name} cut at {cut} of {}",
                    bytes.len()
                );
            }
        }
        // Trailers after the end of a JPEG (motion photos), a PNG or a video are not
        // missing bytes.
        for name in [
            "GOPR0001.JPG",
            "IMG_0002.JPG",
            "IMG_0003.PNG",
            "GX010001.MP4",
        ] {
            let mut bytes = std::fs::read(fixture(name)).unwrap();
            bytes.extend_from_slice(b"\0\0\0\0");
            let p = dir.path().join(name);
            std::fs::write(&p, &bytes).unwrap();
            assert!(
                !matches!(check(&p), Completeness::Incomplete(_)),
                "{name} + 4 bytes"
            );
        }
    }

    #[test]
    fn an_end_marker_is_found_anywhere_in_the_tail_window_and_not_before_it() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.jpg");
        let scan_start: &[u8] = &[0xff, 0xd8, 0xff, 0xda, 0x00, 0x04, 0x01, 0x02];
        let window = usize::try_from(TAIL_WINDOW).unwrap();
        // End markers followed by trailers of every interesting length: none, across a
        // 64 KiB block seam, deep in the window, just inside it, just outside it.
        for (trailer, complete) in [
            (0, true),
            (64 * 1024 - 1, true),
            (64 * 1024, true),
            (300_000, true),
            (window - 2, true),
            (window - 1, false),
        ] {
            let mut bytes = scan_start.to_vec();
            bytes.resize(scan_start.len() + 2 * window, 0x11);
            bytes.extend_from_slice(&[0xff, 0xd9]);
            bytes.resize(bytes.len() + trailer, 0x22);
            std::fs::write(&p, &bytes).unwrap();
            let expected = if complete {
                Completeness::Complete
            } else {
                Completeness::Incomplete(
                    "the JPEG has no end-of-image marker after its image data".to_owned(),
                )
            };
            assert_eq!(check(&p), expected, "trailer of {trailer} bytes");
        }
    }

    /// Writes `bytes` as `name` in `dir` and checks it.
    fn check_bytes(dir: &Path, name: &str, bytes: &[u8]) -> Completeness {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        check(&p)
    }

    /// Asserts that `bytes` is complete, also with junk after it, and that every prefix
    /// of at least `from` bytes (enough to recognise the format) is incomplete.
    fn assert_end_is_checked(name: &str, bytes: &[u8], from: usize) {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(check_bytes(dir.path(), name, bytes), Completeness::Complete);
        let mut junk = bytes.to_vec();
        junk.extend_from_slice(b"\0\0\0\0junk");
        assert_eq!(
            check_bytes(dir.path(), name, &junk),
            Completeness::Complete,
            "+ junk"
        );
        for cut in from..bytes.len() {
            let got = check_bytes(dir.path(), name, &bytes[..cut]);
            assert!(
                matches!(got, Completeness::Incomplete(_)),
                "{name} cut at {cut} of {}: {got:?}",
                bytes.len()
            );
        }
    }

    /// A 4×2 BMP of 24 bits per pixel: 14 + 40 header bytes, two rows of 12 bytes.
    fn bmp_bytes(size_field: u32) -> Vec<u8> {
        let mut b = b"BM".to_vec();
        b.extend_from_slice(&size_field.to_le_bytes());
        b.extend_from_slice(&[0; 4]);
        b.extend_from_slice(&54u32.to_le_bytes());
        b.extend_from_slice(&40u32.to_le_bytes());
        b.extend_from_slice(&4i32.to_le_bytes());
        b.extend_from_slice(&(-2i32).to_le_bytes()); // top-down
        b.extend_from_slice(&1u16.to_le_bytes());
        b.extend_from_slice(&24u16.to_le_bytes());
        b.extend_from_slice(&[0; 24]); // BI_RGB, image size 0, resolution, colors
        b.extend_from_slice(&[0x7f; 24]);
        b
    }

    #[test]
    fn a_bmp_is_as_long_as_its_header_and_pixel_data_say() {
        assert_end_is_checked("a.bmp", &bmp_bytes(78), 2);
        // Without the size field, the pixel data still tells.
        assert_end_is_checked("a.bmp", &bmp_bytes(0), 54);
        let dir = tempfile::tempdir().unwrap();
        let got = check_bytes(dir.path(), "a.bmp", &bmp_bytes(78)[..70]);
        assert!(matches!(got, Completeness::Incomplete(m) if m.contains("78 bytes")));
    }

    /// A 1×1 GIF89a: global color table, graphic control extension, one image whose LZW
    /// data holds the trailer byte `3B`, then the trailer.
    const GIF: &[u8] = &[
        b'G', b'I', b'F', b'8', b'9', b'a', 1, 0, 1, 0, 0x80, 0, 0, // screen, 2 colors
        0, 0, 0, 0xff, 0xff, 0xff, // color table
        0x21, 0xf9, 4, 0, 0, 0, 0, 0, // graphic control extension
        0x2c, 0, 0, 0, 0, 1, 0, 1, 0, 0, // image descriptor
        2, 3, 0x3b, 0x44, 0x01, 0, // LZW code size, one sub-block, end of data
        0x3b,
    ];

    #[test]
    fn a_gif_is_walked_to_its_trailer() {
        assert_end_is_checked("a.gif", GIF, 6);
        // Cut right after the `3B` inside the image data: not mistaken for the trailer.
        let dir = tempfile::tempdir().unwrap();
        let at = GIF.len() - 4;
        assert_eq!(GIF[at - 1], 0x3b);
        let got = check_bytes(dir.path(), "a.gif", &GIF[..at]);
        assert_eq!(
            got,
            Completeness::Incomplete("the GIF ends before its trailer".into())
        );
        let mut malformed = GIF.to_vec();
        malformed[19] = 0x99;
        assert_eq!(
            check_bytes(dir.path(), "a.gif", &malformed),
            Completeness::Unchecked
        );
    }

    /// A RIFF chunk of `form` with `payload` bytes after the form type.
    fn riff_chunk(form: &[u8; 4], payload: usize) -> Vec<u8> {
        let mut b = b"RIFF".to_vec();
        b.extend_from_slice(&u32::try_from(payload + 4).unwrap().to_le_bytes());
        b.extend_from_slice(form);
        b.resize(b.len() + payload, 0x5a);
        b
    }

    #[test]
    fn an_avi_and_its_opendml_extension_chunks_are_as_long_as_they_say() {
        let avi = riff_chunk(b"AVI ", 100);
        assert_end_is_checked("a.avi", &avi, 12);
        // An odd first chunk is padded to an even length; the AVIX chunk follows.
        let mut large = riff_chunk(b"AVI ", 101);
        large.push(0);
        let second = large.len();
        large.extend_from_slice(&riff_chunk(b"AVIX", 52));
        assert_end_is_checked("a.avi", &large, second + 1);
        let dir = tempfile::tempdir().unwrap();
        let got = check_bytes(dir.path(), "a.avi", &large[..large.len() - 10]);
        assert!(matches!(got, Completeness::Incomplete(m) if m.contains("AVIX")));
        // A size still 0 (a writer that fills it in last) tells nothing.
        let mut open = avi.clone();
        open[4..8].copy_from_slice(&[0; 4]);
        assert_eq!(
            check_bytes(dir.path(), "a.avi", &open),
            Completeness::Unchecked
        );
    }

    #[test]
    fn a_box_of_64_bit_size_or_running_to_the_end_is_followed() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.mp4");
        let mut bytes = b"\0\0\0\x10ftypisom\0\0\0\0".to_vec();
        bytes.extend_from_slice(b"\0\0\0\x01mdat\0\0\0\0\0\0\0\x18");
        bytes.extend_from_slice(&[7; 8]);
        std::fs::write(&p, &bytes).unwrap();
        assert_eq!(check(&p), Completeness::Complete);
        std::fs::write(&p, &bytes[..bytes.len() - 2]).unwrap();
        assert!(matches!(check(&p), Completeness::Incomplete(m) if m.contains("mdat")));
        let mut open_ended = b"\0\0\0\x10ftypisom\0\0\0\0\0\0\0\0mdat".to_vec();
        open_ended.extend_from_slice(&[1; 100]);
        std::fs::write(&p, &open_ended).unwrap();
        assert_eq!(check(&p), Completeness::Complete);
    }
}
