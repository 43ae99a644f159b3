//! The workspace on disk: its root, the shared fixtures in `tests/data/`, tools, and the workspace's
//! binaries, built once per test run the way `make build` builds them.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The binaries other crates' tests run as processes (`CARGO_BIN_EXE_*` only names a package's own).
pub const BINARIES: [&str; 3] = ["lambda-emulator", "lambda-mesh-extension", "mesh-proxy"];

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// `tests/data/NAME`: a fixture shared by every crate's tests.
pub fn data(name: &str) -> PathBuf {
    let path = root().join("tests/data").join(name);
    assert!(path.exists(), "{} is missing", path.display());
    path
}

/// A tool on PATH or in `<root>/.tools/bin` / `<root>/.venv/bin` (where `make deps` installs them).
pub fn find_tool(name: &str) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    dirs.push(root().join(".tools/bin"));
    dirs.push(root().join(".venv/bin"));
    dirs.into_iter().map(|d| d.join(name)).find(|p| p.is_file())
}

/// A workspace binary (one of [`BINARIES`]), up to date: the first call in a test process runs
/// `cargo build --workspace --locked --bin …` for all of them, into the target directory and
/// profile this test executable was built in, with the features `make build`
/// (`cargo build --workspace --bins --locked`) gives them. Cargo's own lock serialises test
/// processes that build at once; a build that is already fresh takes a second.
///
/// Only for binaries of *other* packages: a package's own tests use `env!("CARGO_BIN_EXE_…")`,
/// which cargo builds with the features of that test run (e.g. the extension's `br,zstd` run of
/// `compression_codecs`), and this rebuild must not replace it under them.
pub fn binary(name: &str) -> PathBuf {
    assert!(
        BINARIES.contains(&name),
        "{name} is not one of the workspace binaries {BINARIES:?}"
    );
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let dir = match BUILT.get_or_init(build) {
        Ok(dir) => dir,
        Err(error) => panic!("{error}"),
    };
    let path = dir.join(name);
    assert!(
        path.is_file(),
        "{} is missing after the build",
        path.display()
    );
    path
}

/// Where the test executable was built: `<target>[/<triple>]/<profile>/deps/<test>`.
struct Output {
    target_dir: PathBuf,
    triple: Option<String>,
    profile_dir: PathBuf,
}

fn output() -> Result<Output, String> {
    let exe = std::env::current_exe().map_err(|e| format!("current exe: {e}"))?;
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .ok_or_else(|| format!("{} is not in <target>/<profile>/deps", exe.display()))?
        .to_path_buf();
    let above = profile_dir
        .parent()
        .ok_or_else(|| format!("{} has no parent", profile_dir.display()))?;
    // Cargo tags the target directory itself; a `--target` build adds a triple directory below it.
    let (target_dir, triple) = match above.parent() {
        Some(top) if !above.join("CACHEDIR.TAG").exists() && top.join("CACHEDIR.TAG").exists() => (
            top.to_path_buf(),
            above.file_name().map(|t| t.to_string_lossy().into_owned()),
        ),
        _ => (above.to_path_buf(), None),
    };
    Ok(Output {
        target_dir,
        triple,
        profile_dir,
    })
}

fn build() -> Result<PathBuf, String> {
    let output = output()?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .args(["build", "--workspace", "--locked", "--manifest-path"])
        .arg(root().join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&output.target_dir);
    for name in BINARIES {
        command.args(["--bin", name]);
    }
    if let Some(triple) = &output.triple {
        command.args(["--target", triple]);
    }
    match output
        .profile_dir
        .file_name()
        .and_then(|p| p.to_str())
        .unwrap_or("debug")
    {
        "debug" => {}
        "release" => {
            command.arg("--release");
        }
        profile => {
            command.args(["--profile", profile]);
        }
    }
    eprintln!("lambda-mesh-tests: building {BINARIES:?}: {command:?}");
    let status = command
        .status()
        .map_err(|e| format!("{command:?} does not start: {e}"))?;
    if !status.success() {
        return Err(format!("{command:?} failed: {status}"));
    }
    Ok(output.profile_dir)
}
