//! Sandboxes: the files they see and how their processes are named.

pub mod etc_files;
pub mod names;
