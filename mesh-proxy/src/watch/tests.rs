use std::time::Duration;

use super::*;

fn sources(files: &[&Path], dirs: &[&Path]) -> Sources {
    Sources {
        files: files.iter().map(|p| p.to_path_buf()).collect(),
        dirs: dirs.iter().map(|p| p.to_path_buf()).collect(),
    }
}

/// Whether `watch.changed()` resolves within `wait`, and the paths it names.
async fn changed_within(watch: &mut Watch, wait: Duration) -> Option<Vec<PathBuf>> {
    tokio::time::timeout(wait, watch.changed())
        .await
        .ok()
        .map(|(_, paths)| paths)
}

#[test]
fn a_snapshot_sees_contents_and_listings_not_timestamps() {
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("leaf.pem");
    let entries = dir.path().join("entries");
    std::fs::create_dir(&entries).unwrap();
    std::fs::write(&cert, "one").unwrap();
    let sources = sources(&[&cert], &[&entries]);
    let before = Snapshot::take(&sources);

    std::fs::write(&cert, "one").unwrap();
    assert!(Snapshot::take(&sources).differing(&before).is_empty());

    std::fs::write(&cert, "two").unwrap();
    assert_eq!(
        Snapshot::take(&sources).differing(&before),
        vec![cert.clone()]
    );

    std::fs::write(&cert, "one").unwrap();
    std::fs::write(entries.join("new.hcl"), "").unwrap();
    assert_eq!(
        Snapshot::take(&sources).differing(&before),
        vec![entries.clone()]
    );

    std::fs::remove_file(&cert).unwrap();
    std::fs::remove_file(entries.join("new.hcl")).unwrap();
    assert_eq!(Snapshot::take(&sources).differing(&before), vec![cert]);
}

#[tokio::test]
async fn a_rename_over_a_source_is_a_change_and_a_rewrite_of_the_same_bytes_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("leaf.pem");
    std::fs::write(&cert, "one").unwrap();
    let sources = sources(&[&cert], &[]);
    let mut watch = Watch::new(&sources, Snapshot::take(&sources));

    // The same bytes, and a neighbour: events, but nothing to reload.
    std::fs::write(&cert, "one").unwrap();
    std::fs::write(dir.path().join("unrelated.log"), "x").unwrap();
    assert_eq!(changed_within(&mut watch, QUIET * 4).await, None);

    // As `mv` and editors save: a new file renamed over the old one.
    let staged = dir.path().join(".leaf.pem.tmp");
    std::fs::write(&staged, "two").unwrap();
    std::fs::rename(&staged, &cert).unwrap();
    let changed = changed_within(&mut watch, Duration::from_secs(10)).await;
    assert_eq!(changed, Some(vec![cert.clone()]));

    // Until it is applied, the change stays reported; once applied, it is not.
    let (now, _) = watch.changed().await;
    watch.set_applied(now);
    assert_eq!(changed_within(&mut watch, QUIET * 4).await, None);
}

#[tokio::test]
async fn a_kubernetes_style_symlink_swap_is_a_change() {
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("..2026_12_01");
    let second = dir.path().join("..2026_12_04");
    std::fs::create_dir(&first).unwrap();
    std::fs::create_dir(&second).unwrap();
    std::fs::write(first.join("tls.crt"), "old").unwrap();
    std::fs::write(second.join("tls.crt"), "new").unwrap();
    std::os::unix::fs::symlink("..2026_12_01", dir.path().join("..data")).unwrap();
    let cert = dir.path().join("tls.crt");
    std::os::unix::fs::symlink("..data/tls.crt", &cert).unwrap();
    let sources = sources(&[&cert], &[]);
    let mut watch = Watch::new(&sources, Snapshot::take(&sources));

    // What the kubelet does: a new `..data` link renamed over the old one.
    std::os::unix::fs::symlink("..2026_12_04", dir.path().join("..data_tmp")).unwrap();
    std::fs::rename(dir.path().join("..data_tmp"), dir.path().join("..data")).unwrap();
    let changed = changed_within(&mut watch, Duration::from_secs(10)).await;
    assert_eq!(changed, Some(vec![cert]));
}

#[tokio::test]
async fn a_new_file_in_a_pattern_directory_is_a_change() {
    let dir = tempfile::tempdir().unwrap();
    let sources = sources(&[], &[dir.path()]);
    let mut watch = Watch::new(&sources, Snapshot::take(&sources));
    std::fs::write(
        dir.path().join("intentions.hcl"),
        "Kind = \"service-intentions\"",
    )
    .unwrap();
    let changed = changed_within(&mut watch, Duration::from_secs(10)).await;
    assert_eq!(changed, Some(vec![dir.path().to_path_buf()]));
}
