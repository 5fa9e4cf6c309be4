//! Sandboxes: the files they see and how their processes are named.

pub mod confine;
pub mod etc_files;
pub mod init_binary;
pub mod log_times;
pub mod names;
pub mod ready_pool;
