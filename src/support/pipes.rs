//! What can be known about the reader at the other end of a stdout pipe: whether
//! it has closed its end, and whether it has taken what was written.

/// Whether stdout is a pipe.
#[cfg(unix)]
pub(crate) fn stdout_is_pipe() -> bool {
    use std::os::fd::AsRawFd;
    let fd = std::io::stdout().as_raw_fd();
    // SAFETY: fstat fills the zeroed struct for a valid descriptor.
    let mut stat: libc::stat = unsafe { std::mem::zeroed() };
    (unsafe { libc::fstat(fd, &mut stat) }) == 0 && stat.st_mode & libc::S_IFMT == libc::S_IFIFO
}

#[cfg(not(unix))]
pub(crate) fn stdout_is_pipe() -> bool {
    false
}

/// Waits up to `timeout` for stdout's reader to close the pipe; true once it
/// has (a pipe's write end reports POLLERR when its read end is closed). False
/// at once for anything but a pipe. The wait has the kernel's timer resolution
/// (`ppoll`), not whole milliseconds, so short waits can be chained cheaply.
#[cfg(unix)]
pub(crate) fn reader_closes_within(timeout: std::time::Duration) -> bool {
    use std::os::fd::AsRawFd;
    if !stdout_is_pipe() {
        return false;
    }
    let mut poll = libc::pollfd {
        fd: std::io::stdout().as_raw_fd(),
        events: 0,
        revents: 0,
    };
    let ready = poll_for(&mut poll, timeout);
    ready > 0 && poll.revents & (libc::POLLERR | libc::POLLHUP) != 0
}

/// `ppoll`, to the kernel timer's resolution, where the system has it.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn poll_for(poll: &mut libc::pollfd, timeout: std::time::Duration) -> libc::c_int {
    let timeout = libc::timespec {
        tv_sec: libc::time_t::try_from(timeout.as_secs()).unwrap_or(libc::time_t::MAX),
        // Below one billion: fits every platform's `c_long`.
        tv_nsec: timeout.subsec_nanos() as libc::c_long,
    };
    // SAFETY: one valid pollfd, a valid timespec, and no signal mask.
    unsafe { libc::ppoll(poll, 1, &timeout, std::ptr::null()) }
}

/// `poll` in whole milliseconds (a non-zero wait rounds up to one) elsewhere:
/// macOS has no `ppoll`.
#[cfg(all(unix, not(any(target_os = "linux", target_os = "android"))))]
fn poll_for(poll: &mut libc::pollfd, timeout: std::time::Duration) -> libc::c_int {
    let millis = i32::try_from(timeout.as_micros().div_ceil(1000)).unwrap_or(i32::MAX);
    // SAFETY: one valid pollfd.
    unsafe { libc::poll(poll, 1, millis) }
}

#[cfg(not(unix))]
pub(crate) fn reader_closes_within(_timeout: std::time::Duration) -> bool {
    false
}

/// Whether stdout is a pipe whose reader has gone, looked at without waiting.
pub(crate) fn stdout_reader_gone() -> bool {
    reader_closes_within(std::time::Duration::ZERO)
}

/// Bytes written to the stdout pipe that its reader has not read yet (0 for
/// anything but a pipe, or when it cannot be told).
#[cfg(unix)]
pub(crate) fn stdout_unread() -> usize {
    use std::os::fd::AsRawFd;
    let mut unread: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int, the bytes still in the pipe.
    if unsafe { libc::ioctl(std::io::stdout().as_raw_fd(), libc::FIONREAD, &mut unread) } != 0 {
        return 0;
    }
    usize::try_from(unread).unwrap_or(0)
}

#[cfg(not(unix))]
pub(crate) fn stdout_unread() -> usize {
    0
}
