//! Request bodies streamed from disk: a fixed-size buffer per request whatever the file
//! size, hashed (BLAKE3) on the way out so the file is read once, counted for `status`,
//! and paced by the bandwidth limiter.

use std::io::SeekFrom;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use crate::limits::{Limits, MAX_BYTES_PER_PERMIT};

/// Running content hash of one upload, shared with its body streams.
#[derive(Clone, Default)]
pub struct ContentHasher(Arc<Mutex<blake3::Hasher>>);

impl ContentHasher {
    fn update(&self, bytes: &[u8]) {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .update(bytes);
    }

    /// The hash of everything fed so far.
    pub fn finalize(&self) -> Vec<u8> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .finalize()
            .as_bytes()
            .to_vec()
    }
}

/// Feeds the first `len` bytes of `path` to `hasher` (when resuming at a server offset,
/// the hash must still cover the whole file).
pub async fn hash_prefix(path: &Path, len: u64, hasher: &ContentHasher) -> std::io::Result<()> {
    let path = path.to_owned();
    let hasher = hasher.clone();
    tokio::task::spawn_blocking(move || {
        use std::io::Read;
        let mut file = std::fs::File::open(&path)?.take(len);
        let mut buf = vec![0; 1 << 20];
        let mut total = 0;
        loop {
            let n = file.read(&mut buf)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            total += n as u64;
        }
        if total < len {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the file shrank while being read",
            ));
        }
        Ok(())
    })
    .await
    .map_err(std::io::Error::other)?
}

/// BLAKE3 of a whole file, read on a blocking thread.
pub async fn hash_file(path: &Path) -> std::io::Result<Vec<u8>> {
    let hasher = ContentHasher::default();
    let len = tokio::fs::metadata(path).await?.len();
    hash_prefix(path, len, &hasher).await?;
    Ok(hasher.finalize())
}

struct Reader {
    path: PathBuf,
    file: Option<tokio::fs::File>,
    offset: u64,
    remaining: u64,
    hasher: ContentHasher,
    sent: Arc<AtomicU64>,
    limits: Arc<Limits>,
}

/// A body of `len` bytes of `path` from `offset`. `sent` is set to the file offset reached.
pub fn file_body(
    path: &Path,
    offset: u64,
    len: u64,
    hasher: ContentHasher,
    sent: Arc<AtomicU64>,
    limits: Arc<Limits>,
) -> reqwest::Body {
    let reader = Reader {
        path: path.to_owned(),
        file: None,
        offset,
        remaining: len,
        hasher,
        sent,
        limits,
    };
    let stream = futures_util::stream::try_unfold(reader, |mut r| async move {
        if r.remaining == 0 {
            return Ok(None);
        }
        let file = match &mut r.file {
            Some(f) => f,
            None => {
                let mut f = tokio::fs::File::open(&r.path).await?;
                f.seek(SeekFrom::Start(r.offset)).await?;
                r.file.insert(f)
            }
        };
        let want = r.remaining.min(u64::from(MAX_BYTES_PER_PERMIT)) as usize;
        let mut buf = vec![0; want];
        let mut filled = 0;
        while filled < want {
            let n = file.read(&mut buf[filled..]).await?;
            if n == 0 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "the file shrank during the upload",
                ));
            }
            filled += n;
        }
        r.limits.before_bytes(want).await;
        r.hasher.update(&buf);
        r.offset += want as u64;
        r.remaining -= want as u64;
        r.sent.store(r.offset, Ordering::Relaxed);
        Ok::<_, std::io::Error>(Some((Bytes::from(buf), r)))
    });
    reqwest::Body::wrap_stream(stream)
}
