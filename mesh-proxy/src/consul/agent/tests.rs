//! The agent client against the Consul API stand-in (`lambda_mesh_tests::consul_agent`): the
//! token and scoping parameters, blocking on `X-Consul-Index` (held until a write, released when
//! `wait` passes), 404 for a missing entry, 403 without the token, and the watcher's reports.

use std::time::{Duration, Instant};

use http::StatusCode;
use lambda_mesh_tests::consul_agent::ConsulAgent as StandIn;
use serde_json::json;

use super::entries::{Observed, INTENTIONS_PATH};
use super::watcher::Watchers;
use super::AgentClient;
use crate::config::{AclToken, ConsulAgent};

const TOKEN: &str = "t0ken";

fn settings(stand_in: &StandIn, token: Option<&str>) -> ConsulAgent {
    ConsulAgent {
        scheme: http::uri::Scheme::HTTP,
        authority: stand_in.addr().to_string().parse().unwrap(),
        token: token.map(|t| AclToken::new(t.to_owned())),
        namespace: None,
        partition: None,
        datacenter: Some("dc1".to_owned()),
    }
}

fn intention(action: &str) -> serde_json::Value {
    json!({"Kind": "service-intentions", "Name": "billing",
           "Sources": [{"Name": "web", "Action": action}]})
}

#[tokio::test]
async fn a_blocking_query_is_held_until_a_write() {
    let stand_in = StandIn::start(Some(TOKEN)).await;
    let client = AgentClient::new(&settings(&stand_in, Some(TOKEN)));
    let path = "/v1/config/service-intentions/billing";
    let first = client.get(path, 0, Duration::from_secs(5)).await.unwrap();
    assert_eq!(first.status, StatusCode::NOT_FOUND);
    let index = first.index.unwrap();

    let held = tokio::spawn({
        let client = client.clone();
        async move {
            let started = Instant::now();
            let answer = client.get(path, index, Duration::from_secs(10)).await;
            (answer, started.elapsed())
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !held.is_finished(),
        "a blocking query returned before any change"
    );
    stand_in.write(intention("allow"));
    let (answer, took) = held.await.unwrap();
    let answer = answer.unwrap();
    assert_eq!(answer.status, StatusCode::OK);
    assert!(answer.index.unwrap() > index);
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_secs(5),
        "{took:?}"
    );
    let body: serde_json::Value = serde_json::from_slice(&answer.body).unwrap();
    assert_eq!(body["Sources"][0]["Action"], "allow");
    assert_eq!(body["ModifyIndex"], answer.index.unwrap());

    let seen = stand_in.seen();
    assert!(
        seen.iter()
            .all(|s| s.authorized && s.query.contains("dc=dc1")),
        "{seen:?}"
    );
    assert!(
        seen.iter()
            .any(|s| s.query.contains(&format!("index={index}&wait=10s"))),
        "{seen:?}"
    );
}

#[tokio::test]
async fn a_blocking_query_returns_when_wait_passes_with_the_same_index() {
    let stand_in = StandIn::start(None).await;
    let client = AgentClient::new(&settings(&stand_in, None));
    let index = stand_in.index();
    let started = Instant::now();
    let answer = client
        .get(INTENTIONS_PATH, index, Duration::from_secs(1))
        .await
        .unwrap();
    let took = started.elapsed();
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.index, Some(index));
    assert_eq!(&answer.body[..], b"[]");
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(5),
        "{took:?}"
    );
}

#[tokio::test]
async fn without_the_token_the_agent_answers_403_and_the_error_has_no_token() {
    let stand_in = StandIn::start(Some(TOKEN)).await;
    let client = AgentClient::new(&settings(&stand_in, Some("wrong-one")));
    let answer = client
        .get(INTENTIONS_PATH, 0, Duration::from_secs(1))
        .await
        .unwrap();
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    // A refused connection: the error names the path, not the token.
    drop(stand_in);
    let gone = StandIn::start(None).await;
    let mut agent = settings(&gone, Some("s3cr3t-value"));
    let port = gone.addr().port();
    drop(gone);
    agent.authority = format!("127.0.0.1:{port}").parse().unwrap();
    let error = AgentClient::new(&agent)
        .get(INTENTIONS_PATH, 0, Duration::from_secs(1))
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(error.contains(INTENTIONS_PATH), "{error}");
    assert!(!error.contains("s3cr3t-value"), "{error}");
}

async fn next(watchers: &mut Watchers) -> Vec<super::watcher::Update> {
    tokio::time::timeout(Duration::from_secs(5), watchers.changed())
        .await
        .expect("an update within 5 s")
}

#[tokio::test]
async fn the_watcher_reports_each_change_and_a_deletion_once() {
    let stand_in = StandIn::start(None).await;
    let mut watchers = Watchers::new(
        AgentClient::new(&settings(&stand_in, None)),
        Duration::from_secs(10),
    );
    let path = "/v1/config/service-intentions/billing".to_owned();
    watchers.follow(std::slice::from_ref(&path));
    let updates = next(&mut watchers).await;
    assert_eq!(updates.len(), 1);
    assert_eq!(updates[0].observed, Observed::Missing);

    stand_in.write(intention("allow"));
    let updates = next(&mut watchers).await;
    assert!(
        matches!(&updates[0].observed, Observed::Found(body) if String::from_utf8_lossy(body).contains("allow"))
    );

    // A write elsewhere moves the index but not this entry: no report.
    stand_in.write(json!({"Kind": "service-defaults", "Name": "other"}));
    let quiet = tokio::time::timeout(Duration::from_millis(500), watchers.changed()).await;
    assert!(quiet.is_err(), "reported an unchanged entry: {quiet:?}");

    stand_in.delete("service-intentions", "billing");
    let updates = next(&mut watchers).await;
    assert_eq!(updates[0].observed, Observed::Missing);
}

#[tokio::test]
async fn after_a_restore_sets_the_index_back_the_watcher_starts_over_and_sees_the_old_state() {
    let stand_in = StandIn::start(None).await;
    for action in ["deny", "allow", "deny", "allow"] {
        stand_in.write(intention(action));
    }
    let before = stand_in.index();
    let mut watchers = Watchers::new(
        AgentClient::new(&settings(&stand_in, None)),
        Duration::from_secs(30),
    );
    let path = "/v1/config/service-intentions/billing".to_owned();
    watchers.follow(std::slice::from_ref(&path));
    let updates = next(&mut watchers).await;
    assert!(matches!(&updates[0].observed, Observed::Found(_)));
    // Held at `before` now; the restore releases it with a smaller index.
    tokio::time::sleep(Duration::from_millis(200)).await;
    stand_in.restore(2);
    // Written again after the restore: index 3, still below what the watcher last saw. Only a
    // watcher that started over from 0 sees it before its 30 s wait ends.
    tokio::time::sleep(Duration::from_millis(200)).await;
    stand_in.write(intention("deny"));
    assert!(stand_in.index() < before);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let updates = next(&mut watchers).await;
        let last = &updates[updates.len() - 1].observed;
        if matches!(last, Observed::Found(body) if String::from_utf8_lossy(body).contains("deny") && String::from_utf8_lossy(body).contains("\"ModifyIndex\":3"))
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "never saw the restored state: {last:?}"
        );
    }
}
