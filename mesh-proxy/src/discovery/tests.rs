//! Syncs against moto's Lambda (`moto_server`, installed by `make deps`): functions appear when
//! tagged, gain alias services, and disappear when untagged or deleted.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use aws_sdk_lambda::config::{BehaviorVersion, Credentials, Region};

use super::{Discovered, Syncer, PREFIX_FOR_TESTS as PREFIX, TAG_REFRESH_SYNCS};

/// moto's server on a free port of 127.0.0.1, killed on drop.
struct Moto {
    child: Child,
    url: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn venv() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin")
}

impl Moto {
    fn start() -> Moto {
        let server = venv().join("moto_server");
        assert!(
            server.is_file(),
            "{} is missing: run `make deps` (it installs moto[server] into .venv)",
            server.display()
        );
        // moto_server takes port 0 and prints the port it bound.
        let mut child = Command::new(&server)
            .args(["-H", "127.0.0.1", "-p", "0"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("moto_server starts");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(at) = line.find("http://127.0.0.1:") {
                    let _ = tx.send(line[at..].trim().to_owned());
                }
            }
        });
        let url = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("moto_server prints its address within 30 s");
        Moto { child, url }
    }

    fn run(&self, args: &[&str]) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/moto_lambda.py");
        let status = Command::new(venv().join("python"))
            .arg(script)
            .arg(&self.url)
            .args(args)
            .status()
            .expect("python runs");
        assert!(status.success(), "moto_lambda.py {args:?} failed");
    }

    fn client(&self) -> aws_sdk_lambda::Client {
        let config = aws_sdk_lambda::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(&self.url)
            .credentials_provider(Credentials::new("test", "test", None, None, "test"))
            .build();
        aws_sdk_lambda::Client::from_conf(config)
    }
}

fn tag(key: &str, value: &str) -> String {
    format!("{PREFIX}{key}={value}")
}

fn names(found: &Discovered) -> Vec<&str> {
    found.keys().map(String::as_str).collect()
}

/// Sync until `want` holds, at most a full tag refresh's worth of syncs.
async fn sync_until(
    syncer: &mut Syncer,
    client: &aws_sdk_lambda::Client,
    want: impl Fn(&Discovered) -> bool,
) -> Discovered {
    let mut last = Discovered::new();
    for _ in 0..=TAG_REFRESH_SYNCS {
        last = syncer.sync(client).await.expect("sync");
        if want(&last) {
            return last;
        }
    }
    panic!("not seen within {TAG_REFRESH_SYNCS} syncs; last: {last:?}");
}

#[tokio::test]
async fn tagged_functions_appear_change_and_disappear() {
    let moto = Moto::start();
    let client = moto.client();
    moto.run(&["create", "billing", &tag("enabled", "true")]);
    moto.run(&["create", "orders", &tag("enabled", "True")]);
    moto.run(&[
        "create",
        "odd",
        &tag("enabled", "true"),
        &tag("invocation-mode", "sometimes"),
    ]);
    let mut syncer = Syncer::new(None);
    let found = syncer.sync(&client).await.expect("first sync");
    assert_eq!(
        names(&found),
        ["billing"],
        "only the exact `true`, bad mode skipped"
    );
    let billing = &found["billing"];
    assert!(
        billing.arn.ends_with(":function:billing"),
        "{}",
        billing.arn
    );
    assert_eq!(billing.qualifier, None);

    moto.run(&["tag", "billing", &tag("aliases", "prod+dev")]);
    let found = sync_until(&mut syncer, &client, |f| f.len() == 3).await;
    assert_eq!(names(&found), ["billing", "billing-dev", "billing-prod"]);
    assert_eq!(found["billing-prod"].qualifier.as_deref(), Some("prod"));

    moto.run(&["untag", "billing", &format!("{PREFIX}enabled")]);
    moto.run(&["tag", "orders", &tag("enabled", "true")]);
    let found = sync_until(&mut syncer, &client, |f| !f.contains_key("billing")).await;
    assert_eq!(names(&found), ["orders"]);

    moto.run(&["delete", "orders"]);
    let found = syncer.sync(&client).await.expect("sync after delete");
    assert!(
        found.is_empty(),
        "a deleted function is gone at the next sync: {found:?}"
    );
}

#[tokio::test]
async fn datacenter_tag_must_match_ours() {
    let moto = Moto::start();
    let client = moto.client();
    moto.run(&[
        "create",
        "here",
        &tag("enabled", "true"),
        &tag("datacenter", "dc1"),
    ]);
    moto.run(&[
        "create",
        "there",
        &tag("enabled", "true"),
        &tag("datacenter", "dc2"),
    ]);
    moto.run(&["create", "anywhere", &tag("enabled", "true")]);
    let found = Syncer::new(Some("dc1".into())).sync(&client).await.unwrap();
    assert_eq!(names(&found), ["here"]);
    let found = Syncer::new(None).sync(&client).await.unwrap();
    assert_eq!(names(&found), ["anywhere", "here", "there"]);
}

#[tokio::test]
async fn a_failed_sync_is_an_error_not_an_empty_set() {
    let moto = Moto::start();
    let client = moto.client();
    moto.run(&["create", "billing", &tag("enabled", "true")]);
    let mut syncer = Syncer::new(None);
    assert_eq!(names(&syncer.sync(&client).await.unwrap()), ["billing"]);
    drop(moto);
    assert!(syncer.sync(&client).await.is_err());
}
