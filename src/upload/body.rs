//! Request bodies streamed from disk: a few reused buffers per request whatever the file
//! size, hashed (BLAKE3) on the way out so the file is read once, counted for `status`,
//! and paced by the bandwidth limiter. Reading and hashing run on the blocking pool, one
//! chunk at a time.
//!
//! Each body also feeds its request's stall watchdog ([`Activity`]): the connection asking
//! for the next chunk is movement, and the time spent producing it (limiter, disk) is ours,
//! never a stall of the server or the network.

use std::io::SeekFrom;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;

use crate::api::Activity;
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

/// Bytes read from disk per body chunk: big enough that what each chunk costs besides
/// copying its bytes (a hop to the blocking pool, a socket write) stays small.
const CHUNK: usize = 1 << 20;
/// Chunk buffers kept for reuse by all uploads of the process. The HTTP client holds one
/// or two chunks per upload at a time, so a few per worker suffice; a fresh buffer per
/// chunk (or per photo) would cost a page fault per 4 KiB and zeroing it.
const POOL: usize = 8;

/// Buffers of [`CHUNK`] bytes waiting to be read into again.
type Pool = Arc<Mutex<Vec<Vec<u8>>>>;

fn shared_pool() -> &'static Pool {
    static SHARED: std::sync::OnceLock<Pool> = std::sync::OnceLock::new();
    SHARED.get_or_init(Pool::default)
}

/// A chunk's memory on its way to the socket; back to the pool once the client drops it.
struct Pooled {
    buf: Vec<u8>,
    len: usize,
    pool: Pool,
}

impl AsRef<[u8]> for Pooled {
    fn as_ref(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        let mut pool = self
            .pool
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if pool.len() < POOL {
            pool.push(std::mem::take(&mut self.buf));
        }
    }
}

struct Reader {
    path: PathBuf,
    file: Option<std::fs::File>,
    offset: u64,
    remaining: u64,
    hasher: ContentHasher,
    sent: Arc<AtomicU64>,
    limits: Arc<Limits>,
    pool: Pool,
    activity: Activity,
}

/// Reads the next `len` bytes of the body into `buf` and hashes them, on the calling
/// (blocking) thread; opens the file at `offset` the first time.
fn read_chunk(
    file: Option<std::fs::File>,
    path: &Path,
    offset: u64,
    buf: &mut [u8],
    hasher: &ContentHasher,
) -> std::io::Result<std::fs::File> {
    use std::io::{Read, Seek};
    let mut file = match file {
        Some(f) => f,
        None => {
            let mut f = std::fs::File::open(path)?;
            f.seek(SeekFrom::Start(offset))?;
            f
        }
    };
    file.read_exact(buf).map_err(|e| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            std::io::Error::new(e.kind(), "the file shrank during the upload")
        } else {
            e
        }
    })?;
    hasher.update(buf);
    Ok(file)
}

/// A body of `len` bytes of `path` from `offset`. `sent` is set to the file offset reached;
/// `activity` sees every chunk the connection takes.
pub fn file_body(
    path: &Path,
    offset: u64,
    len: u64,
    hasher: ContentHasher,
    sent: Arc<AtomicU64>,
    limits: Arc<Limits>,
    activity: Activity,
) -> reqwest::Body {
    let reader = Reader {
        path: path.to_owned(),
        file: None,
        offset,
        remaining: len,
        hasher,
        sent,
        limits,
        pool: Arc::clone(shared_pool()),
        activity,
    };
    let stream = futures_util::stream::try_unfold(reader, |mut r| async move {
        // Being asked for more means the connection took what it had.
        r.activity.touch();
        if r.remaining == 0 {
            return Ok(None);
        }
        // Until the chunk is handed over, the request waits for us (the bandwidth cap,
        // the disk), not for the network.
        let ours = r.activity.busy();
        let want = usize::try_from(r.remaining.min(CHUNK as u64)).unwrap_or(CHUNK);
        let mut paced = 0;
        while paced < want {
            let piece = (want - paced).min(MAX_BYTES_PER_PERMIT as usize);
            r.limits.before_bytes(piece).await;
            paced += piece;
        }
        let mut buf = r
            .pool
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .pop()
            .unwrap_or_else(|| vec![0; CHUNK]);
        let (file, path, offset, hasher) =
            (r.file.take(), r.path.clone(), r.offset, r.hasher.clone());
        let (file, buf) = tokio::task::spawn_blocking(move || {
            read_chunk(file, &path, offset, &mut buf[..want], &hasher).map(|f| (f, buf))
        })
        .await
        .map_err(std::io::Error::other)??;
        r.file = Some(file);
        r.offset += want as u64;
        r.remaining -= want as u64;
        r.sent.store(r.offset, Ordering::Relaxed);
        drop(ours);
        let chunk = Bytes::from_owner(Pooled {
            buf,
            len: want,
            pool: Arc::clone(&r.pool),
        });
        Ok::<_, std::io::Error>(Some((chunk, r)))
    });
    reqwest::Body::wrap_stream(stream)
}
