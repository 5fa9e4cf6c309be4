//! ferry's embedded resolver, the pure part: parsing a query off the wire (`wire`), and
//! answering names the sandbox's networks know, or saying that the query must be forwarded
//! (`respond`), and a cache of upstream replies honouring their TTLs (`cache`). Nothing here
//! does I/O; the daemon owns the sockets and the clock.
//!
//! The parser is written for the one shape a stub resolver sends (one question, perhaps an
//! EDNS OPT record) and never panics or allocates per query beyond the reply buffer: every
//! length is checked, and label compression pointers are followed a bounded number of times.

pub mod cache;
pub mod fuzzing;
pub mod respond;
pub mod wire;

pub use cache::Cache;
pub use respond::{respond, Names, Outcome};
pub use wire::{ParseError, Query};
