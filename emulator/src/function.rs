//! A configured function made runnable: merged layers (`/opt`), its command line and environment.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::config::FunctionConfig;

/// The region functions believe they run in, unless their environment says otherwise.
pub(crate) const REGION: &str = "us-east-1";
/// The account id in the ARNs the emulator makes up.
pub(crate) const ACCOUNT: &str = "123456789012";
/// The runtime ids that run `bootstrap` themselves.
const OS_ONLY_RUNTIMES: [&str; 3] = ["provided.al2023", "provided.al2", "provided"];
/// Where Lambda mounts the merged layers.
const OPT: &str = "/opt";

/// A function ready to get execution environments.
#[derive(Debug)]
pub(crate) struct FunctionSpec {
    pub(crate) config: FunctionConfig,
    /// The merged layers directory standing in for `/opt`.
    pub(crate) opt: PathBuf,
    /// The handler with `/opt/` mapped.
    pub(crate) handler: String,
    /// The extension executables in `opt/extensions`, in name order.
    pub(crate) extensions: Vec<PathBuf>,
    pub(crate) timeout: Duration,
    /// Keeps the merged layers directory alive.
    _opt_dir: tempfile::TempDir,
}

/// How the runtime process is started, or why it cannot be.
#[derive(Debug)]
pub(crate) struct Command {
    pub(crate) program: PathBuf,
    pub(crate) args: Vec<String>,
}

impl FunctionSpec {
    /// Merge the layers into a temporary `/opt` and find the extensions.
    pub(crate) fn prepare(mut config: FunctionConfig) -> std::io::Result<FunctionSpec> {
        // LAMBDA_TASK_ROOT must name the code directory from inside it too.
        config.code = std::path::absolute(&config.code)?;
        let opt_dir = tempfile::Builder::new()
            .prefix(&format!("lambda-emulator-{}-opt-", config.name))
            .tempdir()?;
        let opt = opt_dir.path().to_path_buf();
        for layer in &config.layers {
            merge_dir(layer, &opt)?;
        }
        let mut extensions = Vec::new();
        if let Ok(entries) = std::fs::read_dir(opt.join("extensions")) {
            for entry in entries.flatten() {
                let path = entry.path();
                if path.is_file() {
                    extensions.push(path);
                }
            }
        }
        extensions.sort();
        let handler = map_opt(&config.handler, &opt);
        Ok(FunctionSpec {
            timeout: Duration::from_secs(config.timeout),
            handler,
            extensions,
            opt,
            config,
            _opt_dir: opt_dir,
        })
    }

    /// The runtime's command line, as Lambda starts it for this runtime id.
    pub(crate) fn runtime_command(&self) -> Result<Command, String> {
        let runtime = self.config.runtime.as_str();
        if OS_ONLY_RUNTIMES.contains(&runtime) {
            let candidates = [
                self.config.bootstrap.clone(),
                Some(self.config.code.join("bootstrap")),
                Some(self.opt.join("bootstrap")),
            ];
            return candidates
                .into_iter()
                .flatten()
                .find(|p| p.is_file())
                .map(|program| Command {
                    program,
                    args: Vec::new(),
                })
                .ok_or_else(|| {
                    "Couldn't find valid bootstrap(s): [/var/task/bootstrap /opt/bootstrap]"
                        .to_owned()
                });
        }
        let managed: Vec<String> = if runtime.starts_with("python") {
            vec!["python3".into(), "-m".into(), "awslambdaric".into()]
        } else if runtime.starts_with("nodejs") {
            vec!["npx".into(), "aws-lambda-ric".into()]
        } else if runtime.starts_with("ruby") {
            vec!["aws_lambda_ric".into()]
        } else {
            return Err(format!(
                "runtime {runtime} is not supported by the emulator"
            ));
        };
        let mut line: Vec<String> = managed;
        line.push(self.handler.clone());
        if let Some(wrapper) = self.config.environment.get("AWS_LAMBDA_EXEC_WRAPPER") {
            line.insert(0, map_opt(wrapper, &self.opt));
        }
        let program = PathBuf::from(line.remove(0));
        Ok(Command {
            program,
            args: line,
        })
    }

    /// The version an invoke with `qualifier` executes, as Lambda reports it in
    /// `X-Amz-Executed-Version` and `AWS_LAMBDA_FUNCTION_VERSION`: a configured numeric
    /// qualifier is that version; `$LATEST`, no qualifier and aliases (which point at `$LATEST`
    /// here) execute `$LATEST`; `None` for a qualifier the function does not have.
    pub(crate) fn executed_version(&self, qualifier: Option<&str>) -> Option<String> {
        match qualifier {
            None | Some("$LATEST") => Some("$LATEST".to_owned()),
            Some(q) if self.config.qualifiers.iter().any(|c| c == q) => {
                Some(if q.bytes().all(|b| b.is_ascii_digit()) {
                    q.to_owned()
                } else {
                    "$LATEST".to_owned()
                })
            }
            Some(_) => None,
        }
    }

    /// The environment of every process of one execution environment of `version`, started on
    /// demand or provisioned ahead (`AWS_LAMBDA_INITIALIZATION_TYPE`).
    pub(crate) fn process_env(
        &self,
        runtime_api: &str,
        ports: &[(String, u16)],
        version: &str,
        on_demand: bool,
    ) -> BTreeMap<String, String> {
        let mut env = BTreeMap::new();
        for key in ["HOME", "TMPDIR", "RUST_LOG", "RUST_BACKTRACE", "PYTHONPATH"] {
            if let Ok(value) = std::env::var(key) {
                env.insert(key.to_owned(), value);
            }
        }
        let path = std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into());
        env.insert(
            "PATH".into(),
            format!("{}:{path}", self.opt.join("bin").display()),
        );
        env.insert(
            "LD_LIBRARY_PATH".into(),
            format!(
                "{}:{}",
                self.opt.join("lib").display(),
                self.config.code.join("lib").display()
            ),
        );
        let c = &self.config;
        let stream = format!(
            "{}/[{version}]{}",
            chrono_date(),
            uuid::Uuid::new_v4().simple()
        );
        let pairs = [
            ("AWS_LAMBDA_RUNTIME_API", runtime_api.to_owned()),
            ("AWS_LAMBDA_FUNCTION_NAME", c.name.clone()),
            ("AWS_LAMBDA_FUNCTION_VERSION", version.to_owned()),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", c.memory_mb.to_string()),
            (
                "AWS_LAMBDA_LOG_GROUP_NAME",
                format!("/aws/lambda/{}", c.name),
            ),
            ("AWS_LAMBDA_LOG_STREAM_NAME", stream),
            (
                "AWS_LAMBDA_INITIALIZATION_TYPE",
                if on_demand {
                    "on-demand"
                } else {
                    "provisioned-concurrency"
                }
                .to_owned(),
            ),
            ("AWS_REGION", REGION.to_owned()),
            ("AWS_DEFAULT_REGION", REGION.to_owned()),
            ("AWS_EXECUTION_ENV", format!("AWS_Lambda_{}", c.runtime)),
            ("LAMBDA_TASK_ROOT", c.code.display().to_string()),
            ("LAMBDA_RUNTIME_DIR", c.code.display().to_string()),
            ("_HANDLER", self.handler.clone()),
            ("TZ", ":UTC".to_owned()),
            ("LANG", "en_US.UTF-8".to_owned()),
            ("LAMBDA_EMULATOR_OPT", self.opt.display().to_string()),
        ];
        for (key, value) in pairs {
            env.insert(key.to_owned(), value);
        }
        for (key, value) in &c.environment {
            env.insert(key.clone(), value.clone());
        }
        if let Some(wrapper) = env.get_mut("AWS_LAMBDA_EXEC_WRAPPER") {
            *wrapper = map_opt(wrapper, &self.opt);
        }
        for (key, port) in ports {
            env.insert(key.clone(), port.to_string());
        }
        env
    }
}

/// `/opt/x` → `<merged layers>/x`; anything else unchanged.
pub(crate) fn map_opt(value: &str, opt: &Path) -> String {
    match value.strip_prefix(OPT) {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => {
            format!("{}{rest}", opt.display())
        }
        _ => value.to_owned(),
    }
}

/// Mirror `from` into `to` as symlinks to files; later layers replace earlier files.
fn merge_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let source = entry.path();
        let target = to.join(entry.file_name());
        if std::fs::metadata(&source)?.is_dir() {
            if target.is_symlink() || target.is_file() {
                std::fs::remove_file(&target)?;
            }
            std::fs::create_dir_all(&target)?;
            merge_dir(&source, &target)?;
        } else {
            if target.is_symlink() || target.is_file() {
                std::fs::remove_file(&target)?;
            }
            let source = std::path::absolute(&source)?;
            std::os::unix::fs::symlink(&source, &target)?;
        }
    }
    Ok(())
}

/// Today's date as `YYYY/MM/DD` (UTC), for log stream names.
fn chrono_date() -> String {
    let (year, month, day, _) = civil_now();
    format!("{year:04}/{month:02}/{day:02}")
}

/// Now as ISO 8601 with milliseconds (`2026-01-02T03:04:05.678Z`), for telemetry records.
pub(crate) fn iso_now() -> String {
    let (year, month, day, millis) = civil_now();
    let secs = millis / 1000;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
        millis % 1000
    )
}

/// (year, month, day, milliseconds into the day), UTC.
fn civil_now() -> (i64, i64, i64, u64) {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let days = (millis / 86_400_000) as i64;
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day, millis % 86_400_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opt_prefix_maps_to_merged_layers() {
        let opt = Path::new("/tmp/x-opt");
        assert_eq!(map_opt("/opt/bootstrap", opt), "/tmp/x-opt/bootstrap");
        assert_eq!(map_opt("/opt", opt), "/tmp/x-opt");
        assert_eq!(map_opt("/optional", opt), "/optional");
        assert_eq!(map_opt("index.handler", opt), "index.handler");
    }

    #[test]
    fn later_layers_override_and_extensions_are_sorted() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let code = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(a.path().join("extensions")).unwrap();
        std::fs::create_dir_all(b.path().join("extensions")).unwrap();
        std::fs::write(a.path().join("extensions/zeta"), "a").unwrap();
        std::fs::write(a.path().join("file"), "a").unwrap();
        std::fs::write(b.path().join("extensions/alpha"), "b").unwrap();
        std::fs::write(b.path().join("file"), "b").unwrap();
        let mut config = FunctionConfig::new("f", code.path());
        config.layers = vec![a.path().into(), b.path().into()];
        let spec = FunctionSpec::prepare(config).unwrap();
        assert_eq!(std::fs::read_to_string(spec.opt.join("file")).unwrap(), "b");
        let names: Vec<_> = spec
            .extensions
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["alpha", "zeta"]);
        assert!(spec.runtime_command().is_err());
    }

    #[test]
    fn versions_execute_as_themselves_and_aliases_as_latest() {
        let code = tempfile::tempdir().unwrap();
        let mut config = FunctionConfig::new("f", code.path());
        config.qualifiers = vec!["live".into(), "3".into()];
        let spec = FunctionSpec::prepare(config).unwrap();
        assert_eq!(spec.executed_version(None).unwrap(), "$LATEST");
        assert_eq!(spec.executed_version(Some("$LATEST")).unwrap(), "$LATEST");
        assert_eq!(spec.executed_version(Some("live")).unwrap(), "$LATEST");
        assert_eq!(spec.executed_version(Some("3")).unwrap(), "3");
        assert_eq!(spec.executed_version(Some("4")), None);
        let env = spec.process_env("127.0.0.1:1", &[], "3", true);
        assert_eq!(env["AWS_LAMBDA_FUNCTION_VERSION"], "3");
        assert!(env["AWS_LAMBDA_LOG_STREAM_NAME"].contains("/[3]"));
    }

    #[test]
    fn date_is_plausible() {
        let date = chrono_date();
        assert_eq!(date.len(), 10);
        assert!(date.starts_with("20"));
    }
}
