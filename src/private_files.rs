//! Files only this user may read: created 0600 whatever the umask, and never
//! opened through a symbolic link (a link planted in the config directory must not
//! redirect a write to another file).

use std::fs::{File, OpenOptions};
use std::path::Path;

/// Opens (creating it if needed) a private read-write file under the config
/// directory: mode 0600 whatever the umask, and never through a symbolic link.
pub fn open_private(path: &Path, truncate: bool) -> std::io::Result<File> {
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
