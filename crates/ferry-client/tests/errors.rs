//! Failures become typed errors that keep the daemon's message and status, or their cause.
#![allow(clippy::unwrap_used)] // a test fails loudly; that is what unwrap does

mod fake_daemon;

use fake_daemon::{FakeDaemon, Reply};
use ferry_client::{Client, ClientError, Filters};
use std::error::Error;

#[tokio::test]
async fn refusals_keep_the_daemons_message_and_status() {
    let d = FakeDaemon::serve(vec![
        Reply::error(404, "network nope not found"),
        Reply::error(409, "network appnet is in use by sandbox web"),
        Reply::error(400, "invalid subnet \"x\""),
        Reply::error(403, "sandbox h is on the host network"),
        Reply::error(500, "nft failed"),
        Reply::Whole {
            status: 502,
            headers: Vec::new(),
            body: b"plain text".to_vec(),
        },
    ]);
    let c = d.client();

    let e = c.network_inspect("nope").await.unwrap_err();
    assert!(matches!(&e, ClientError::NotFound { message } if message == "network nope not found"));
    assert_eq!(e.to_string(), "network nope not found");
    assert_eq!(e.status(), Some(404));

    let e = c.network_remove("appnet").await.unwrap_err();
    assert!(matches!(e, ClientError::Conflict { .. }), "{e:?}");

    let e = c.network_list(&Filters::new()).await.unwrap_err();
    assert!(
        matches!(e, ClientError::Invalid { status: 400, .. }),
        "{e:?}"
    );
    assert_eq!(e.to_string(), "invalid subnet \"x\"");

    let e = c.sandbox_start("h").await.unwrap_err();
    assert!(
        matches!(e, ClientError::Invalid { status: 403, .. }),
        "{e:?}"
    );

    let e = c.info().await.unwrap_err();
    assert!(
        matches!(e, ClientError::Server { status: 500, .. }),
        "{e:?}"
    );
    assert_eq!(e.message(), Some("nft failed"));

    let e = c.version().await.unwrap_err();
    assert!(
        matches!(e, ClientError::Server { status: 502, .. }),
        "{e:?}"
    );
    assert_eq!(e.to_string(), "plain text");
}

#[tokio::test]
async fn no_daemon_is_a_connect_error_naming_the_socket() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("ferry.sock");
    let e = Client::new(&socket).info().await.unwrap_err();
    let ClientError::Connect { socket: s, source } = &e else {
        panic!("not a connect error: {e:?}");
    };
    assert_eq!(s, &socket);
    assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
    let text = e.to_string();
    assert!(
        text.starts_with(&format!(
            "cannot connect to the ferry daemon at unix://{}",
            socket.display()
        )),
        "{text}"
    );
    assert!(text.contains("ferry daemon`"), "{text}");
    assert!(e.source().is_some());
}

#[tokio::test]
async fn a_reply_not_in_the_apis_shape_names_the_request() {
    let d = FakeDaemon::serve(vec![Reply::json(200, serde_json::json!({"nope": 1}))]);
    let e = d.client().network_inspect("web").await.unwrap_err();
    assert!(matches!(e, ClientError::Decode { .. }), "{e:?}");
    assert_eq!(e.to_string(), "bad reply to GET /networks/web");
    assert!(e.source().is_some());
}

#[tokio::test]
async fn a_connection_closed_without_a_reply_is_a_transport_error() {
    let d = FakeDaemon::serve(vec![Reply::Hangup]);
    let e = d.client().service_list().await.unwrap_err();
    assert!(matches!(e, ClientError::Transport { .. }), "{e:?}");
    assert_eq!(e.to_string(), "talking to the ferry daemon");
    assert!(e.source().is_some());
}
