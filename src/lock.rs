//! One daemon per state directory: an exclusive lock on `gphotosd.lock`, held for the
//! life of the process. The kernel drops it when the process dies, so a `kill -9` never
//! leaves a stale lock behind. The file holds the holder's pid for the error message and
//! for `status`.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// The held lock; released on drop.
#[derive(Debug)]
pub struct StateLock {
    _file: File,
}

/// Why the lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "another gphotosd{holder} is already using the state directory {dir}; stop it first \
         (`systemctl stop gphotosd`) or give this one another [state] dir"
    )]
    Held { dir: PathBuf, holder: String },
    #[error("cannot use the lock file {path}: {cause}")]
    Io {
        path: PathBuf,
        cause: std::io::Error,
    },
}

impl StateLock {
    /// Takes the lock in `dir`, or says who holds it.
    pub fn acquire(lock_path: &Path) -> Result<StateLock, LockError> {
        let io = |cause| LockError::Io {
            path: lock_path.to_owned(),
            cause,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(lock_path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let holder =
                    holder_pid(lock_path).map_or_else(String::new, |pid| format!(" (pid {pid})"));
                return Err(LockError::Held {
                    dir: lock_path
                        .parent()
                        .map(Path::to_path_buf)
                        .unwrap_or_default(),
                    holder,
                });
            }
            Err(TryLockError::Error(e)) => return Err(io(e)),
        }
        file.set_len(0).map_err(io)?;
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        writeln!(file, "{}", std::process::id()).map_err(io)?;
        file.sync_all().map_err(io)?;
        Ok(StateLock { _file: file })
    }
}

/// The pid of the process holding the lock, if one does.
pub fn holder_pid(lock_path: &Path) -> Option<u32> {
    let file = File::open(lock_path).ok()?;
    match file.try_lock_shared() {
        Ok(()) => None,
        Err(_) => {
            let mut text = String::new();
            (&file).read_to_string(&mut text).ok()?;
            text.trim().parse().ok()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_and_told_the_pid() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gphotosd.lock");
        let lock = StateLock::acquire(&path).unwrap();
        let err = StateLock::acquire(&path).unwrap_err();
        assert!(
            err.to_string()
                .contains(&format!("pid {}", std::process::id())),
            "{err}"
        );
        drop(lock);
        assert!(StateLock::acquire(&path).is_ok());
    }
}
