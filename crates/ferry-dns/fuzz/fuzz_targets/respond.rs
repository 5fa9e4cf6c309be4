//! Arbitrary packets through the resolver's query handler and forward cache
//! (`ferry_dns::fuzzing::check_packet` holds the invariants).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ferry_dns::fuzzing::check_packet(data);
});
