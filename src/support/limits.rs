//! Process limits that serving or calling many portals at once runs into.

/// Raises this process's limit on open files to the most it may have. One port
/// per sandbox portal, and one connection per portal a fleet command talks to,
/// pass the common default of 1,024 well before the hard limit.
pub(crate) fn raise_open_file_limit() {
    #[cfg(unix)]
    {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit and setrlimit only read and write the struct passed.
        unsafe {
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0
                && limit.rlim_cur < limit.rlim_max
            {
                // macOS refuses more than OPEN_MAX for RLIM_INFINITY hard limits.
                let wanted = if cfg!(target_os = "macos") {
                    limit.rlim_max.min(10_240)
                } else {
                    limit.rlim_max
                };
                limit.rlim_cur = wanted;
                let _ = libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
            }
        }
    }
}

/// Makes a write past the file-size limit (`ulimit -f`) an error instead of a
/// signal. By default SIGXFSZ kills the process without a word; ignored, the write
/// fails with EFBIG and the consumer says it cannot write its journal, as it does
/// for a full disk, before it reserves or confirms anything more.
pub(crate) fn ignore_file_size_signal() {
    #[cfg(unix)]
    // SAFETY: setting a signal's disposition to SIG_IGN installs no handler code.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
}
