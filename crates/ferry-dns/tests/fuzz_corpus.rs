//! Replays the fuzzer's corpus (`fuzz/corpus/respond/`, kept by `cargo fuzz run respond` and
//! minimised with `cargo fuzz cmin respond`) through the same invariants, so every input the
//! fuzzer found interesting is checked on every test run.
#![allow(clippy::unwrap_used)] // a test fails loudly; that is what unwrap does

#[test]
fn the_fuzz_corpus_passes() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/respond");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).expect("the corpus directory") {
        let data = std::fs::read(entry.expect("corpus entry").path()).expect("corpus file");
        ferry_dns::fuzzing::check_packet(&data);
        n += 1;
    }
    assert!(n >= 100, "the corpus has only {n} inputs");
}
