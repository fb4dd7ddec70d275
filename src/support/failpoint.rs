//! Test failpoints: named moments where a test makes the process die as a kill
//! would (`BX_EVENTS_TEST_FAILPOINT=NAME` or `NAME:N` for the Nth time it is
//! reached). They exist only in builds with the `failpoints` feature, which
//! `make test` turns on; any other build ignores the variable.

/// The variable that names the failpoint to stop at.
pub(crate) const VARIABLE: &str = "BX_EVENTS_TEST_FAILPOINT";

/// Whether failpoint `name` is due now. (One count per process: a test arms a
/// single failpoint.)
#[cfg(feature = "failpoints")]
pub(crate) fn due(name: &str) -> bool {
    use std::sync::atomic::{AtomicU64, Ordering};
    static REACHED: AtomicU64 = AtomicU64::new(0);
    let Ok(value) = std::env::var(VARIABLE) else {
        return false;
    };
    let at = match value.strip_prefix(name) {
        Some("") => 1,
        Some(rest) => match rest.strip_prefix(':').and_then(|n| n.parse().ok()) {
            Some(at) => at,
            None => return false,
        },
        None => return false,
    };
    REACHED.fetch_add(1, Ordering::SeqCst) + 1 >= at
}

/// Without the `failpoints` feature no moment is ever due.
#[cfg(not(feature = "failpoints"))]
pub(crate) fn due(_name: &str) -> bool {
    false
}
