//! Generated sandbox names (`adjective_noun`), as Docker gives containers without `--name`.

const ADJECTIVES: &[&str] = &[
    "agile", "bold", "brave", "calm", "clever", "crisp", "eager", "fair", "fast", "gentle",
    "happy", "keen", "kind", "lucid", "merry", "nimble", "proud", "quick", "quiet", "sharp",
    "steady", "swift", "tidy", "vivid", "warm", "wise", "young", "zen",
];
const NOUNS: &[&str] = &[
    "anchor", "barge", "beacon", "buoy", "canal", "cove", "delta", "dock", "estuary", "harbor",
    "helm", "island", "jetty", "keel", "lagoon", "mast", "pier", "port", "quay", "raft", "reef",
    "rudder", "sail", "shoal", "skiff", "strait", "tide", "wharf",
];

/// A name from random bytes, e.g. `swift_harbor`; `n` > 0 appends a number to avoid a clash.
pub fn generate(random: [u8; 2], n: u32) -> String {
    let a = ADJECTIVES[random[0] as usize % ADJECTIVES.len()];
    let b = NOUNS[random[1] as usize % NOUNS.len()];
    if n == 0 {
        format!("{a}_{b}")
    } else {
        format!("{a}_{b}{n}")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_are_valid_object_names() {
        for x in 0..=255u8 {
            let n = super::generate([x, x.wrapping_mul(7)], u32::from(x % 3));
            ferry_types::validate::object_name("sandbox", &n).unwrap();
        }
    }
}
