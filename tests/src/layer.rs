//! Lambda layers and code directories assembled from binaries, as the emulator mounts them at
//! `/opt` and `LAMBDA_TASK_ROOT`.

use std::path::{Path, PathBuf};

use tempfile::TempDir;

use crate::workspace::root;

/// The lambda-mesh layer: `extension` (the extension binary) as `extensions/lambda-mesh`, and the
/// layer's `bootstrap` (extension/layer/bootstrap).
pub fn mesh_layer(extension: &Path) -> TempDir {
    layer_with(extension, "lambda-mesh")
}

/// A layer holding `binary` (copied) as `extensions/NAME`, plus the lambda-mesh `bootstrap`.
pub fn layer_with(binary: &Path, name: &str) -> TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let extensions = dir.path().join("extensions");
    std::fs::create_dir_all(&extensions).expect("mkdir extensions");
    std::fs::copy(binary, extensions.join(name))
        .unwrap_or_else(|e| panic!("copy {}: {e}", binary.display()));
    std::fs::copy(
        root().join("extension/layer/bootstrap"),
        dir.path().join("bootstrap"),
    )
    .expect("copy bootstrap");
    dir
}

/// A layer directory `DIR/layer-NAME` holding only `extensions/NAME`, a link to `binary`.
pub fn extension_layer(dir: &Path, name: &str, binary: &Path) -> PathBuf {
    let layer = dir.join(format!("layer-{name}"));
    std::fs::create_dir_all(layer.join("extensions")).expect("mkdir extensions");
    std::os::unix::fs::symlink(binary, layer.join("extensions").join(name)).expect("symlink");
    layer
}

/// A code directory whose handler `wait.sh` only waits (the service runs in the test).
pub fn waiting_code() -> TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    executable(&dir.path().join("wait.sh"), "#!/bin/sh\nexec sleep 600\n");
    dir
}

/// Writes `text` to `path` (and its directories) as an executable file.
pub fn executable(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("mkdir");
    }
    std::fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}
