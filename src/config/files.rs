//! Safe file primitives: private directories, atomic writes and the exclusive lock.

use std::fs;
use std::path::Path;

use super::error::ConfigError;

/// Creates the directory with mode 0700 if needed; an existing one must be safe
/// to keep secrets in ([`check_private_dir`]).
pub(crate) fn ensure_private_dir(dir: &Path) -> Result<(), ConfigError> {
    if dir.exists() {
        return check_private_dir(dir);
    }
    create_private_dir(dir)
}

/// [`ensure_private_dir`] for `<config dir>/state` and the directories under it,
/// which must not be symbolic links: a link would send journals, locks and kept
/// token pairs wherever it points.
pub(crate) fn ensure_state_dir(dir: &Path) -> Result<(), ConfigError> {
    if fs::symlink_metadata(dir).is_ok_and(|meta| meta.file_type().is_symlink()) {
        return Err(ConfigError::Unsafe {
            path: dir.to_path_buf(),
            detail: "is a symbolic link".into(),
            fix: format!(
                "remove the link (bx-events creates {} itself, mode 0700)",
                dir.display()
            ),
        });
    }
    ensure_private_dir(dir)
}

/// Creates the directory (and its parents) with mode 0700 if needed, checking
/// nothing: for directories the user chose for other files (`listen --save`).
pub(crate) fn create_private_dir(dir: &Path) -> Result<(), ConfigError> {
    if dir.exists() {
        return Ok(());
    }
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(|cause| ConfigError::Write {
        path: dir.to_path_buf(),
        cause,
    })
}

/// Refuses a directory that someone else could change, as ssh refuses such a
/// `~/.ssh`: one owned by another user (root excepted), or writable by its group
/// or by others. Whoever can write it can replace `config.toml` (and with it the
/// portal every secret is sent to), or the journal that decides what is confirmed.
pub(crate) fn check_private_dir(dir: &Path) -> Result<(), ConfigError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let Ok(meta) = fs::metadata(dir) else {
            return Ok(());
        };
        check_owner(dir, meta.uid())?;
        let mode = meta.permissions().mode();
        if mode & 0o022 != 0 {
            return Err(ConfigError::Unsafe {
                path: dir.to_path_buf(),
                detail: format!("can be written by other users (mode {:o})", mode & 0o7777),
                fix: format!("run: chmod 700 '{}'", dir.display()),
            });
        }
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Refuses a file or directory owned by another user than this process's (or root).
#[cfg(unix)]
fn check_owner(path: &Path, owner: u32) -> Result<(), ConfigError> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    if owner == me || owner == 0 {
        return Ok(());
    }
    Err(ConfigError::Unsafe {
        path: path.to_path_buf(),
        detail: format!("belongs to another user (uid {owner})"),
        fix: "use a config directory of your own (--config-dir or BX_EVENTS_CONFIG_DIR), or take it over: chown -R $(id -u) DIR".into(),
    })
}

/// What identifies one version of a file without reading it: its inode, size
/// and change times. Every atomic write makes a new inode; an edit in place
/// changes the times, though two within one tick of the clock may not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FileStamp {
    len: u64,
    modified: Option<std::time::SystemTime>,
    #[cfg(unix)]
    inode: (u64, u64, i64, i64),
}

/// The stamp of a regular file of ours, or `None` when there is none; refuses
/// what [`read_optional`] would.
pub(crate) fn stamp_of(path: &Path) -> Result<Option<FileStamp>, ConfigError> {
    let meta = match fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(cause) => {
            return Err(ConfigError::Read {
                path: path.to_path_buf(),
                cause,
            })
        }
    };
    if !meta.is_file() {
        return Err(ConfigError::Corrupt {
            path: path.to_path_buf(),
            detail: "it is not a regular file".into(),
            kind: kind_of(path),
        });
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        check_owner(path, meta.uid())?;
        Ok(Some(FileStamp {
            len: meta.len(),
            modified: meta.modified().ok(),
            inode: (meta.dev(), meta.ino(), meta.ctime(), meta.ctime_nsec()),
        }))
    }
    #[cfg(not(unix))]
    Ok(Some(FileStamp {
        len: meta.len(),
        modified: meta.modified().ok(),
    }))
}

/// Memory a file without secrets was read into, for the next read to reuse:
/// a command reads `config.toml`, then `credentials.toml`, and reading the
/// second into the first one's pages spares a fresh allocation's page faults
/// (over five hundred for a 10,000-profile store, about a tenth of the
/// command's time on a virtual machine).
static SPARE: std::sync::Mutex<Vec<u8>> = std::sync::Mutex::new(Vec::new());

/// Hands the text of a file without secrets, read by [`read_optional`] and no
/// longer needed, to the next read.
pub(crate) fn recycle(text: String) {
    let mut spare = SPARE.lock().unwrap_or_else(|p| p.into_inner());
    if text.capacity() > spare.capacity() {
        *spare = text.into_bytes();
    }
}

/// Reads a file, or `None` when it does not exist.
pub(crate) fn read_optional(path: &Path) -> Result<Option<String>, ConfigError> {
    // A FIFO or device in place of a config file would block the read for ever
    // (and with it any signal handling): only regular files are read.
    match fs::metadata(path) {
        Ok(meta) if !meta.is_file() => {
            return Err(ConfigError::Corrupt {
                path: path.to_path_buf(),
                detail: "it is not a regular file".into(),
                kind: kind_of(path),
            })
        }
        #[cfg(unix)]
        Ok(meta) => check_owner(path, std::os::unix::fs::MetadataExt::uid(&meta))?,
        _ => {}
    }
    let mut bytes = std::mem::take(&mut *SPARE.lock().unwrap_or_else(|p| p.into_inner()));
    bytes.clear();
    match fs::File::open(path).and_then(|mut file| {
        use std::io::Read;
        file.read_to_end(&mut bytes)
    }) {
        Ok(_) => String::from_utf8(bytes)
            .map(Some)
            .map_err(|_| ConfigError::Corrupt {
                path: path.to_path_buf(),
                detail: "it is not UTF-8 text".into(),
                kind: kind_of(path),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(cause) => Err(ConfigError::Read {
            path: path.to_path_buf(),
            cause,
        }),
    }
}

fn kind_of(path: &Path) -> super::error::FileKind {
    if path
        .file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with("credentials"))
    {
        super::error::FileKind::Credentials
    } else {
        super::error::FileKind::Config
    }
}

/// [`crate::support::files::write_atomic`], failing with the file named.
pub(crate) fn write_atomic(path: &Path, contents: &str, mode: u32) -> Result<(), ConfigError> {
    crate::support::files::write_atomic(path, contents, mode).map_err(|cause| ConfigError::Write {
        path: path.to_path_buf(),
        cause,
    })
}

pub(crate) use crate::support::files::FileLock;

/// Takes the exclusive lock on `path`, creating its private directory first.
pub(crate) fn lock_in_private_dir(path: &Path) -> Result<FileLock, ConfigError> {
    if let Some(dir) = path.parent() {
        ensure_private_dir(dir)?;
    }
    FileLock::acquire(path).map_err(|cause| ConfigError::Write {
        path: path.to_path_buf(),
        cause,
    })
}

/// A warning when a secrets file can be read by other users (the caller prints it).
pub(crate) fn shared_file_warning(path: &Path) -> Option<String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = fs::metadata(path).ok()?;
        if meta.permissions().mode() & 0o077 != 0 {
            return Some(format!(
                "{} can be read by other users; run: chmod 600 '{}'",
                path.display(),
                path.display()
            ));
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_and_sets_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("credentials.toml");
        write_atomic(&path, "a = 1\n", 0o600).unwrap();
        write_atomic(&path, "a = 2\n", 0o600).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "a = 2\n");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        let leftovers = fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(leftovers, 1, "temp files must not remain");
    }
}
