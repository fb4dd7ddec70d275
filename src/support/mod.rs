//! Small helpers every part of the crate shares: the clock, private files and
//! locks, random identifiers. One implementation each, so they cannot drift apart.

// Some helpers serve only the sandbox or the CLI.
#![cfg_attr(not(feature = "cli"), allow(dead_code))]

pub(crate) mod clock;
pub(crate) mod failpoint;
pub(crate) mod files;
pub(crate) mod limits;
pub(crate) mod offload;
pub(crate) mod pipes;
pub(crate) mod random;
