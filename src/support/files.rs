//! Files only this user may read (created 0600 whatever the umask, never opened
//! through a symbolic link, so a link planted in the config directory cannot
//! redirect a write), the exclusive locks kept on them, and file names made from
//! free text.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Opens (creating it if needed) a private read-write file under the config
/// directory: mode 0600 whatever the umask, and never through a symbolic link.
pub(crate) fn open_private(path: &Path, truncate: bool) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options
        .create(true)
        .truncate(truncate)
        .read(true)
        .write(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600).custom_flags(libc::O_NOFOLLOW);
    }
    let file = options.open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if file.metadata()?.permissions().mode() & 0o077 != 0 {
            file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        }
    }
    Ok(file)
}

/// Creates a new private file (0600, never through a link) holding `text`; fails
/// when the file already exists.
pub(crate) fn create_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600).custom_flags(libc::O_NOFOLLOW);
    }
    options.open(path)?.write_all(text.as_bytes())
}

/// An exclusive lock on a private lock file, held until dropped. The file itself
/// stays usable (the shared rate-limit bucket keeps its state in it).
#[derive(Debug)]
pub(crate) struct FileLock {
    file: File,
}

impl FileLock {
    /// Blocks until the exclusive lock on `path` is held.
    pub(crate) fn acquire(path: &Path) -> std::io::Result<Self> {
        let file = open_private(path, false)?;
        file.lock()?;
        Ok(Self { file })
    }

    /// Takes the lock on `path` if no one holds it; `Ok(None)` when another
    /// process does.
    pub(crate) fn try_acquire(path: &Path) -> std::io::Result<Option<Self>> {
        let file = open_private(path, false)?;
        match file.try_lock() {
            Ok(()) => Ok(Some(Self { file })),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(error)) => Err(error),
        }
    }

    /// The locked file, to read and write state kept in it.
    pub(crate) fn file(&mut self) -> &mut File {
        &mut self.file
    }
}

/// A file name part made from free text (profile, connector and event names):
/// ASCII letters, digits, `-` and `_` stay, everything else becomes `_`.
pub(crate) fn safe_file_name(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Writes `contents` to `path` atomically: a temp file in the same directory with
/// the given mode, fsync, rename over the target, fsync the directory. A crash at
/// any point leaves either the old file or the new one, never a mix.
pub(crate) fn write_atomic(path: &Path, contents: &str, mode: u32) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let temp = temp_path(path);
    let result = (|| {
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(mode);
        }
        #[cfg(not(unix))]
        let _ = mode;
        let mut file = options.open(&temp)?;
        let bytes = contents.as_bytes();
        if path.ends_with("credentials.toml")
            && crate::support::failpoint::due("credentials-mid-write")
        {
            file.write_all(&bytes[..bytes.len() / 2])?;
            file.sync_all()?;
            std::process::abort();
        }
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&temp, path)?;
        if let Ok(dir_handle) = File::open(dir) {
            let _ = dir_handle.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}

fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let unique: u32 = rand::random();
    path.with_file_name(format!(".{name}.tmp-{}-{unique:08x}", std::process::id()))
}

/// Reads a text file, or `None` when there is none. Only a regular file is read:
/// a FIFO or device in its place would block the read (and signals) for ever.
pub(crate) fn read_optional_text(path: &Path) -> std::io::Result<Option<String>> {
    match fs::metadata(path) {
        Ok(meta) if !meta.is_file() => {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("{} is not a regular file", path.display()),
            ))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        _ => {}
    }
    let bytes = fs::read(path)?;
    String::from_utf8(bytes).map(Some).map_err(|_| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{} is not UTF-8 text", path.display()),
        )
    })
}
