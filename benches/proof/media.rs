//! Test media made at run time, real enough for both sides: the emulator accepts content
//! by its magic bytes, and gphotosd holds back files whose structure looks cut off
//! (`src/watch/complete.rs`), so every file here is structurally complete.
//!
//! - Photos: the real 640×480 JPEG fixture `IMG_0002.JPG` whose entropy-coded scan is
//!   lengthened by pseudo-random bytes up to the wanted size (with no `FF` byte among them,
//!   as encoders stuff those, so no marker appears). Its structure is a camera JPEG's: a
//!   few header segments, one long scan, the end marker last. The pixels mean nothing, which
//!   neither side looks at. Every photo has distinct bytes (no one may deduplicate them).
//! - Videos: an MP4 of two top-level boxes, `ftyp` and an `mdat` with a 64-bit size that
//!   holds the pseudo-random payload, so the boxes tile the file exactly.
//!
//! Every file is fsynced, so no dirty page is written back while a measurement runs.

use std::io::Write;
use std::path::{Path, PathBuf};

const JPEG: &[u8] = include_bytes!("../../tests/fixtures/IMG_0002.JPG");
const FTYP: &[u8] = b"\0\0\0\x18ftypmp42\0\0\0\0mp42isom";

/// xorshift64: cheap, seedable, not periodic over the sizes used here.
pub struct Noise(u64);

impl Noise {
    pub fn new(seed: u64) -> Noise {
        // Zero is xorshift's fixed point.
        Noise(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let v = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

/// Where the fixture's entropy-coded data starts: after the start-of-scan segment.
fn scan_data_start(jpeg: &[u8]) -> usize {
    let mut at = 2;
    while at + 4 <= jpeg.len() && jpeg[at] == 0xff {
        let len = usize::from(u16::from_be_bytes([jpeg[at + 2], jpeg[at + 3]]));
        if jpeg[at + 1] == 0xda {
            return at + 2 + len;
        }
        at += 2 + len;
    }
    panic!("the JPEG fixture has no start-of-scan segment");
}

/// A complete JPEG of `size` bytes (at least the fixture's) with content seeded by `seed`.
pub fn photo_bytes(size: usize, seed: u64) -> Vec<u8> {
    let split = scan_data_start(JPEG);
    let mut out = Vec::with_capacity(size.max(JPEG.len()));
    out.extend_from_slice(&JPEG[..split]);
    let start = out.len();
    out.resize(start + size.saturating_sub(JPEG.len()), 0);
    Noise::new(seed).fill(&mut out[start..]);
    for b in &mut out[start..] {
        if *b == 0xff {
            *b = 0xfe;
        }
    }
    out.extend_from_slice(&JPEG[split..]);
    out
}

/// Writes `count` photos of seeded sizes in `[min, max]` bytes into `dir`; returns their
/// paths and total bytes.
pub fn write_photos(dir: &Path, count: usize, min: usize, max: usize) -> (Vec<PathBuf>, u64) {
    std::fs::create_dir_all(dir).expect("photo folder");
    let mut sizes = Noise::new(2026);
    let mut paths = Vec::with_capacity(count);
    let mut total = 0;
    for i in 0..count {
        let span = (max - min + 1) as u64;
        let size = min + usize::try_from(sizes.next_u64() % span).unwrap_or(0);
        let bytes = photo_bytes(size, 1_000_000 + i as u64);
        let path = dir.join(format!("IMG_{i:05}.JPG"));
        write_synced(&path, &[&bytes]);
        total += bytes.len() as u64;
        paths.push(path);
    }
    (paths, total)
}

/// Writes an MP4 of exactly `size` bytes at `path`, content seeded by `seed`.
pub fn write_video(path: &Path, size: u64, seed: u64) {
    let mdat_len = size - FTYP.len() as u64;
    let mut file = std::fs::File::create(path).expect("create video");
    file.write_all(FTYP).expect("write");
    file.write_all(b"\0\0\0\x01mdat").expect("write");
    file.write_all(&mdat_len.to_be_bytes()).expect("write");
    let mut left = mdat_len - 16;
    let mut noise = Noise::new(seed);
    let mut block = vec![0u8; 1 << 20];
    while left > 0 {
        let n = usize::try_from(left.min(block.len() as u64)).unwrap_or(block.len());
        noise.fill(&mut block[..n]);
        file.write_all(&block[..n]).expect("write video");
        left -= n as u64;
    }
    finished_copy(&file);
    file.sync_all().expect("fsync video");
}

/// Dates `file` a minute back, as a copy that keeps the camera's times (`cp -p`, a card
/// reader's import) would be: older than `[scan] settle`, so `gphotosd sync` takes it at
/// once instead of leaving it for the next run as possibly still being written.
fn finished_copy(file: &std::fs::File) {
    let then = std::time::SystemTime::now() - std::time::Duration::from_secs(60);
    file.set_modified(then).expect("set the modification time");
}

/// Writes `parts` to `path` as a finished copy and fsyncs it.
pub fn write_synced(path: &Path, parts: &[&[u8]]) {
    let mut file = std::fs::File::create(path).expect("create file");
    for p in parts {
        file.write_all(p).expect("write file");
    }
    finished_copy(&file);
    file.sync_all().expect("fsync");
}
