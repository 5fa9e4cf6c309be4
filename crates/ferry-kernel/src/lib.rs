//! ferry-kernel
