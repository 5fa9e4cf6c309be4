//! Each operation sends the request the daemon's routes expect: method, path (names
//! percent-encoded), query and body; and reads the reply into its type.
#![allow(clippy::unwrap_used)] // a test fails loudly; that is what unwrap does

mod fake_daemon;

use fake_daemon::{FakeDaemon, Reply};
use ferry_client::{Filters, LogsOptions, WaitCondition};
use ferry_types::api::{NetworkConnectRequest, NetworkCreateRequest, SandboxCreateRequest};
use ferry_types::service::ServiceUpdateRequest;
use serde_json::json;
use std::time::Duration;

#[tokio::test]
async fn network_create_posts_the_request_as_json() {
    let mut d = FakeDaemon::serve(vec![Reply::json(
        201,
        json!({"Id": "abc123", "Warning": ""}),
    )]);
    let req = NetworkCreateRequest {
        name: "appnet".into(),
        internal: true,
        ..Default::default()
    };
    let created = d.client().network_create(&req).await.unwrap();
    assert_eq!(created.id, "abc123");
    let seen = d.request().await;
    assert_eq!(seen.request_line, "POST /networks/create HTTP/1.1");
    assert_eq!(seen.header("content-type"), Some("application/json"));
    assert_eq!(seen.header("host"), Some("ferry"));
    assert_eq!(seen.json(), serde_json::to_value(&req).unwrap());
}

#[tokio::test]
async fn names_are_percent_encoded_path_segments() {
    let mut d = FakeDaemon::serve(vec![
        Reply::json(200, json!({})),
        Reply::empty(204),
        Reply::empty(200),
        Reply::json(200, json!([])),
    ]);
    let c = d.client();
    c.network_inspect_raw("a/b c?x=1#y").await.unwrap();
    assert_eq!(
        d.request().await.request_line,
        "GET /networks/a%2Fb%20c%3Fx%3D1%23y HTTP/1.1"
    );
    c.sandbox_remove("..", true).await.unwrap();
    assert_eq!(
        d.request().await.request_line,
        "DELETE /containers/%2E%2E?force=1 HTTP/1.1"
    );
    let req = NetworkConnectRequest {
        container: "web".into(),
        endpoint_config: None,
    };
    c.network_connect("front/../x", &req).await.unwrap();
    let seen = d.request().await;
    assert_eq!(
        seen.request_line,
        "POST /networks/front%2F..%2Fx/connect HTTP/1.1"
    );
    assert_eq!(
        seen.json(),
        json!({"Container": "web", "EndpointConfig": null})
    );
    c.service_tasks("élan").await.unwrap();
    assert_eq!(
        d.request().await.request_line,
        "GET /services/%C3%A9lan/tasks HTTP/1.1"
    );
}

#[tokio::test]
async fn list_filters_and_flags_go_in_the_query() {
    let mut d = FakeDaemon::serve(vec![
        Reply::json(200, json!([])),
        Reply::json(200, json!([])),
        Reply::json(200, json!([])),
        Reply::json(200, json!({"NetworksDeleted": ["old"]})),
        Reply::json(200, json!([])),
    ]);
    let c = d.client();
    c.network_list(&Filters::new()).await.unwrap();
    assert_eq!(d.request().await.request_line, "GET /networks HTTP/1.1");
    let f = Filters::new().with("label", "a=b");
    c.network_list(&f).await.unwrap();
    assert_eq!(
        d.request().await.request_line,
        "GET /networks?filters=%7B%22label%22%3A%7B%22a%3Db%22%3Atrue%7D%7D HTTP/1.1"
    );
    c.sandbox_list(true, &f).await.unwrap();
    assert_eq!(
        d.request().await.request_line,
        "GET /containers/json?all=1&filters=%7B%22label%22%3A%7B%22a%3Db%22%3Atrue%7D%7D HTTP/1.1"
    );
    let pruned = c.network_prune(&Filters::new()).await.unwrap();
    assert_eq!(pruned.networks_deleted, ["old"]);
    assert_eq!(
        d.request().await.request_line,
        "POST /networks/prune HTTP/1.1"
    );
    c.service_list_filtered(&f).await.unwrap();
    assert_eq!(
        d.request().await.request_line,
        "GET /services?filters=%7B%22label%22%3A%7B%22a%3Db%22%3Atrue%7D%7D HTTP/1.1"
    );
}

#[tokio::test]
async fn sandbox_lifecycle_requests() {
    let mut d = FakeDaemon::serve(vec![
        Reply::json(201, json!({"Id": "f00d", "Warning": "careful"})),
        Reply::empty(204),
        Reply::empty(204),
        Reply::empty(204),
        Reply::empty(204),
        Reply::empty(204),
    ]);
    let c = d.client();
    let req = SandboxCreateRequest {
        name: "web".into(),
        cmd: vec!["sleep".into(), "1".into()],
        ..Default::default()
    };
    let created = c.sandbox_create(&req).await.unwrap();
    assert_eq!(
        (created.id.as_str(), created.warning.as_str()),
        ("f00d", "careful")
    );
    let seen = d.request().await;
    assert_eq!(seen.request_line, "POST /containers/create HTTP/1.1");
    assert_eq!(seen.json()["Name"], "web");

    c.sandbox_start("web").await.unwrap();
    let seen = d.request().await;
    assert_eq!(seen.request_line, "POST /containers/web/start HTTP/1.1");
    assert!(seen.body.is_empty());
    assert_eq!(seen.header("content-type"), None);

    c.sandbox_stop("web", Some(Duration::from_secs(3)))
        .await
        .unwrap();
    assert_eq!(
        d.request().await.request_line,
        "POST /containers/web/stop?t=3 HTTP/1.1"
    );
    c.sandbox_restart("web", Some(Duration::from_millis(10_900)))
        .await
        .unwrap();
    assert_eq!(
        d.request().await.request_line,
        "POST /containers/web/restart?t=10 HTTP/1.1"
    );
    c.sandbox_stop("web", None).await.unwrap();
    assert_eq!(
        d.request().await.request_line,
        "POST /containers/web/stop HTTP/1.1"
    );
    c.sandbox_remove("web", false).await.unwrap();
    assert_eq!(
        d.request().await.request_line,
        "DELETE /containers/web?force=0 HTTP/1.1"
    );
}

#[tokio::test]
async fn logs_stream_and_wait_delivers_the_exit_later() {
    let mut d = FakeDaemon::serve(vec![
        Reply::Chunked(vec![b"hello ".to_vec(), b"world\n".to_vec()]),
        Reply::Chunked(vec![br#"{"StatusCode":3}"#.to_vec()]),
        Reply::Chunked(vec![b"all at once\n".to_vec()]),
    ]);
    let c = d.client();
    let options = LogsOptions {
        follow: true,
        next_exit: true,
    };
    let mut logs = c.sandbox_logs("web", options).await.unwrap();
    assert_eq!(
        d.request().await.request_line,
        "GET /containers/web/logs?follow=1&condition=next-exit HTTP/1.1"
    );
    let mut out = Vec::new();
    while let Some(chunk) = logs.chunk().await.unwrap() {
        out.extend_from_slice(&chunk);
    }
    assert_eq!(out, b"hello world\n");

    let waiter = c
        .sandbox_wait("web", WaitCondition::NextExit)
        .await
        .unwrap();
    assert_eq!(
        d.request().await.request_line,
        "POST /containers/web/wait?condition=next-exit HTTP/1.1"
    );
    let exit = waiter.exit().await.unwrap();
    assert_eq!(exit.status_code, 3);
    assert!(exit.error.is_none());

    let logs = c.sandbox_logs("web", LogsOptions::default()).await.unwrap();
    assert_eq!(
        d.request().await.request_line,
        "GET /containers/web/logs?follow=0 HTTP/1.1"
    );
    assert_eq!(&logs.read_to_end().await.unwrap()[..], b"all at once\n");
}

#[tokio::test]
async fn service_update_returns_the_service() {
    let view = json!({
        "ID": "s1", "Version": {"Index": 2}, "CreatedAt": "", "UpdatedAt": "",
        "Spec": {"Name": "web", "Labels": {}, "TaskTemplate": {}, "Mode": {},
                 "TaskNetworks": [], "EndpointSpec": {"Mode": "vip", "Ports": []}},
        "Endpoint": {"Ports": [], "VirtualIPs": []},
        "ServiceStatus": {"RunningTasks": 1, "DesiredTasks": 3}
    });
    let mut d = FakeDaemon::serve(vec![Reply::json(200, view)]);
    let req = ServiceUpdateRequest {
        replicas: Some(3),
        ..Default::default()
    };
    let s = d.client().service_update("web", &req).await.unwrap();
    assert_eq!(s.service_status.desired_tasks, 3);
    let seen = d.request().await;
    assert_eq!(seen.request_line, "POST /services/web/update HTTP/1.1");
    // The request as it is: what is not given goes as its empty value.
    assert_eq!(seen.json(), serde_json::to_value(&req).unwrap());
    assert_eq!(seen.json()["Replicas"], 3);
}

#[tokio::test]
async fn ping_returns_the_api_version() {
    let mut d = FakeDaemon::serve(vec![Reply::Whole {
        status: 200,
        headers: vec![("API-Version", "1.50")],
        body: b"OK".to_vec(),
    }]);
    assert_eq!(d.client().ping().await.unwrap(), "1.50");
    assert_eq!(d.request().await.request_line, "GET /_ping HTTP/1.1");
}

#[tokio::test]
async fn network_attachments_reads_the_list() {
    let mut d = FakeDaemon::serve(vec![Reply::json(
        200,
        json!([{"id": "ctr1", "netns": "/run/netns/x", "netns_live": true, "ifname": "eth0",
                "ipv4_address": "10.0.0.2/24", "labels": {"io.ferry.cni.network": "n"}}]),
    )]);
    let got = d.client().network_attachments("n/1").await.unwrap();
    assert_eq!(
        d.request().await.request_line,
        "GET /networks/n%2F1/attachments HTTP/1.1"
    );
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].id, "ctr1");
    assert!(got[0].netns_live);
    assert_eq!(got[0].labels["io.ferry.cni.network"], "n");
    assert_eq!(got[0].mac_address, "");
}
