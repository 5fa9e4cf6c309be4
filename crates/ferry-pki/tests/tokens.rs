//! Join tokens: format, parsing, CA pinning and rotation.
#![allow(clippy::unwrap_used)] // a test fails loudly; that is what unwrap does

use std::time::{Duration, UNIX_EPOCH};

use ferry_pki::{
    verify_ca, CaDigest, ClusterCa, JoinToken, JoinTokens, PkiError, Role, Validity,
    DEFAULT_CA_LIFETIME, DIGEST_LEN, SECRET_LEN,
};

fn new_ca() -> ClusterCa {
    let t0 = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    ClusterCa::generate(Validity::new(t0, DEFAULT_CA_LIFETIME)).unwrap()
}

/// The example token in Docker's documentation (`docker swarm join-token`).
const DOCKER_TOKEN: &str =
    "SWMTKN-1-3pu6hszjas19xyp7ghgosyx9k8atbfcr8p2is99znpy26u2lkl-1awxwuwd3z9j1z3puu7rcgdbx";

#[test]
fn token_has_dockers_shape_and_round_trips() {
    let ca = new_ca();
    let token = JoinToken::generate(ca.digest()).unwrap();
    let text = token.to_string();
    let parts: Vec<&str> = text.split('-').collect();
    assert_eq!(parts[..2], ["SWMTKN", "1"]);
    assert_eq!(parts[2].len(), DIGEST_LEN);
    assert_eq!(parts[3].len(), SECRET_LEN);
    assert!(text[9..]
        .chars()
        .all(|c| c == '-' || c.is_ascii_digit() || c.is_ascii_lowercase()));
    let parsed: JoinToken = text.parse().unwrap();
    assert_eq!(parsed, token);
    assert_eq!(parsed.ca_digest(), ca.digest());
    assert_eq!(parsed.to_string(), text);
}

#[test]
fn dockers_own_token_parses_and_prints_back_unchanged() {
    let token = JoinToken::parse(DOCKER_TOKEN).unwrap();
    assert_eq!(token.to_string(), DOCKER_TOKEN);
}

#[test]
fn digest_is_sha256_of_the_ca_der() {
    let ca = new_ca();
    let pem = x509_parser::pem::parse_x509_pem(ca.cert_pem().as_bytes())
        .unwrap()
        .1;
    let expected = CaDigest::of_der(&pem.contents);
    assert_eq!(ca.digest(), expected);
    assert_eq!(CaDigest::of_pem(ca.cert_pem()).unwrap(), expected);
    // Line endings do not change it.
    let crlf = ca.cert_pem().replace('\n', "\r\n");
    assert_eq!(CaDigest::of_pem(&crlf).unwrap(), expected);
}

#[test]
fn verify_ca_accepts_the_pinned_ca_and_refuses_another() {
    let ca = new_ca();
    let other = new_ca();
    let token = JoinToken::generate(ca.digest()).unwrap();
    verify_ca(&token, ca.cert_pem()).unwrap();
    token.verify_ca(ca.cert_pem()).unwrap();

    let err = verify_ca(&token, other.cert_pem()).unwrap_err();
    match &err {
        PkiError::CaDigestMismatch { pinned, actual } => {
            assert_eq!(pinned, &ca.digest().to_string());
            assert_eq!(actual, &other.digest().to_string());
        }
        e => panic!("wrong error: {e}"),
    }
    let msg = err.to_string();
    assert!(msg.contains("another cluster"), "{msg}");
    assert!(msg.contains("ferry swarm join-token"), "{msg}");

    assert!(matches!(
        verify_ca(&token, "nonsense"),
        Err(PkiError::InvalidPem { .. })
    ));
}

/// `text` with the character at `pos` replaced by a different base36 digit.
fn flip(text: &str, pos: usize) -> String {
    let mut bytes = text.as_bytes().to_vec();
    bytes[pos] = if bytes[pos] == b'1' { b'2' } else { b'1' };
    String::from_utf8(bytes).unwrap()
}

#[test]
fn tampered_token_is_refused() {
    let ca = new_ca();
    let tokens = JoinTokens::generate(ca.digest()).unwrap();
    let good = tokens.get(Role::Worker).to_string();

    // A changed secret parses, but admits no one.
    let bad_secret = JoinToken::parse(&flip(&good, good.len() - 3)).unwrap();
    assert_eq!(tokens.role_of(&bad_secret), None);
    bad_secret.verify_ca(ca.cert_pem()).unwrap();

    // A changed digest no longer pins this CA, and admits no one.
    let bad_digest = JoinToken::parse(&flip(&good, 20)).unwrap();
    assert!(matches!(
        bad_digest.verify_ca(ca.cert_pem()),
        Err(PkiError::CaDigestMismatch { .. })
    ));
    assert_eq!(tokens.role_of(&bad_digest), None);
}

#[test]
fn token_for_another_ca_is_refused() {
    let ca = new_ca();
    let other = new_ca();
    let tokens = JoinTokens::generate(ca.digest()).unwrap();
    let foreign = JoinTokens::generate(other.digest()).unwrap();
    let token = foreign.get(Role::Manager);
    assert!(token.verify_ca(ca.cert_pem()).is_err());
    assert_eq!(tokens.role_of(token), None);
}

#[test]
fn roles_have_different_secrets_and_are_told_apart() {
    let ca = new_ca();
    let tokens = JoinTokens::generate(ca.digest()).unwrap();
    let worker = tokens.get(Role::Worker);
    let manager = tokens.get(Role::Manager);
    assert_ne!(worker.secret(), manager.secret());
    assert_ne!(worker.to_string(), manager.to_string());
    assert_eq!(tokens.role_of(worker), Some(Role::Worker));
    assert_eq!(tokens.role_of(manager), Some(Role::Manager));
    let reparsed = JoinToken::parse(&manager.to_string()).unwrap();
    assert_eq!(tokens.role_of(&reparsed), Some(Role::Manager));
}

#[test]
fn rotation_retires_the_old_token_only_for_that_role() {
    let ca = new_ca();
    let mut tokens = JoinTokens::generate(ca.digest()).unwrap();
    let old_worker = tokens.get(Role::Worker).clone();
    let manager = tokens.get(Role::Manager).clone();
    tokens.rotate(Role::Worker).unwrap();
    let new_worker = tokens.get(Role::Worker).clone();

    assert_ne!(old_worker.to_string(), new_worker.to_string());
    assert_ne!(old_worker.secret(), new_worker.secret());
    assert_eq!(new_worker.ca_digest(), old_worker.ca_digest());
    assert_eq!(tokens.role_of(&old_worker), None);
    assert_eq!(tokens.role_of(&new_worker), Some(Role::Worker));
    assert_eq!(tokens.role_of(&manager), Some(Role::Manager));
}

#[test]
fn debug_never_shows_the_secret() {
    let token = JoinToken::parse(DOCKER_TOKEN).unwrap();
    let debug = format!("{token:?}");
    assert!(!debug.contains("1awxwuwd3z9j1z3puu7rcgdbx"), "{debug}");
    assert!(debug.contains("JoinSecret(..)"), "{debug}");
}

/// Whether an error is the one a case expects.
type Expect = fn(&PkiError) -> bool;

#[test]
fn parse_names_what_is_wrong() {
    let digest = "3pu6hszjas19xyp7ghgosyx9k8atbfcr8p2is99znpy26u2lkl";
    let secret = "1awxwuwd3z9j1z3puu7rcgdbx";
    let cases: Vec<(String, Expect)> = vec![
        (
            format!("TOKEN-1-{digest}-{secret}"),
            |e| matches!(e, PkiError::TokenPrefix { found } if found == "TOKEN-1"),
        ),
        (String::new(), |e| matches!(e, PkiError::TokenPrefix { .. })),
        (format!(" SWMTKN-1-{digest}-{secret}"), |e| {
            matches!(e, PkiError::TokenPrefix { .. })
        }),
        (
            format!("SWMTKN-2-{digest}-{secret}"),
            |e| matches!(e, PkiError::TokenVersion { found } if found == "2"),
        ),
        (format!("SWMTKN-1-{digest}"), |e| {
            matches!(e, PkiError::TokenParts { found: 3 })
        }),
        (format!("SWMTKN-1-{digest}-{secret}-f"), |e| {
            matches!(e, PkiError::TokenParts { found: 5 })
        }),
        (format!("SWMTKN-1-{}-{secret}", &digest[1..]), |e| {
            matches!(
                e,
                PkiError::TokenDigestLength {
                    found: 49,
                    expected: 50
                }
            )
        }),
        (
            format!("SWMTKN-1-{}-{secret}", digest.replace('h', "H")),
            |e| {
                matches!(
                    e,
                    PkiError::TokenDigestCharacter {
                        ch: 'H',
                        position: 4
                    }
                )
            },
        ),
        (format!("SWMTKN-1-{}-{secret}", "z".repeat(50)), |e| {
            matches!(e, PkiError::TokenDigestOverflow)
        }),
        (format!("SWMTKN-1-{digest}-{secret}x"), |e| {
            matches!(
                e,
                PkiError::TokenSecretLength {
                    found: 26,
                    expected: 25
                }
            )
        }),
        (format!("SWMTKN-1-{digest}-{secret}\n"), |e| {
            matches!(e, PkiError::TokenSecretLength { found: 26, .. })
        }),
        (
            format!("SWMTKN-1-{digest}-{}", secret.replace('w', "_")),
            |e| {
                matches!(
                    e,
                    PkiError::TokenSecretCharacter {
                        ch: '_',
                        position: 2
                    }
                )
            },
        ),
        (format!("SWMTKN-1-{digest}-{}", "z".repeat(25)), |e| {
            matches!(e, PkiError::TokenSecretOverflow)
        }),
    ];
    for (text, is_expected) in cases {
        let err = JoinToken::parse(&text).unwrap_err();
        assert!(is_expected(&err), "{text:?} gave: {err}");
        assert!(!err.to_string().is_empty());
        if let PkiError::TokenDigestCharacter { .. } = err {
            assert!(err.to_string().contains("'H' as character 5"), "{err}");
        }
    }
}

#[test]
fn largest_values_still_parse() {
    // 2^128-1 and the largest 50-digit value below 2^256 are valid.
    let max_secret = "f5lxx1zz5pnorynqglhzmsp33";
    let digest = "3pu6hszjas19xyp7ghgosyx9k8atbfcr8p2is99znpy26u2lkl";
    let token = JoinToken::parse(&format!("SWMTKN-1-{digest}-{max_secret}")).unwrap();
    assert!(token.to_string().ends_with(max_secret));
}
