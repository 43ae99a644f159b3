//! Init: the extensions start and register, then the runtime starts and reaches `next`.

use std::sync::Arc;

use super::{lock, Environment, InitFailure};
use crate::process::spawn;
use crate::sandbox::Status;

/// How often exits are checked while waiting for init.
const POLL: std::time::Duration = std::time::Duration::from_millis(20);

impl Environment {
    pub(super) async fn init(
        &self,
        runtime_api: &str,
        deadline: tokio::time::Instant,
    ) -> Result<(), InitFailure> {
        let started = tokio::time::Instant::now();
        let port =
            free_port().map_err(|e| InitFailure::Entrypoint(format!("no free port: {e}")))?;
        let ports: Vec<(String, u16)> = self
            .spec
            .config
            .port_env
            .iter()
            .map(|k| (k.clone(), port))
            .collect();
        let env = self
            .spec
            .process_env(runtime_api, &ports, &self.version, self.on_demand);
        for path in &self.spec.extensions {
            let process = spawn(
                &self.sandbox.logs,
                &self.spec.config.code,
                path.as_os_str(),
                &[],
                &env,
            )
            .map_err(|e| InitFailure::ExtensionExit(format!("{}: {e}", path.display())))?;
            lock(&self.extensions).push(Arc::new(process));
        }
        // The runtime starts, and `next` is let through, once every extension has registered.
        let count = self.spec.extensions.len();
        self.wait_init(deadline, started, |s| s.extensions.len() >= count)
            .await
            .map_err(|e| {
                let status = self.sandbox.status.borrow();
                e.name_unregistered(&status.extensions, &self.sandbox.external_names)
            })?;
        self.sandbox
            .status
            .send_modify(|s| s.registration_done = true);
        let command = self
            .spec
            .runtime_command()
            .map_err(InitFailure::Entrypoint)?;
        let args: Vec<&std::ffi::OsStr> = command.args.iter().map(|a| a.as_ref()).collect();
        let logs = &self.sandbox.logs;
        let code = &self.spec.config.code;
        let runtime = spawn(logs, code, command.program.as_os_str(), &args, &env).map_err(|e| {
            InitFailure::Entrypoint(format!("cannot start {}: {e}", command.program.display()))
        })?;
        *lock(&self.runtime) = Some(Arc::new(runtime));
        self.wait_init(deadline, started, |s| {
            s.runtime_waiting && s.extensions_waiting()
        })
        .await?;
        if self.on_demand {
            // Lambda's REPORT after a cold start: the first invocation's shows the init.
            *lock(&self.init_duration) = Some(started.elapsed());
        }
        Ok(())
    }

    /// Wait until `ready` holds, failing on init errors, process exits and the deadline.
    async fn wait_init(
        &self,
        deadline: tokio::time::Instant,
        started: tokio::time::Instant,
        ready: impl Fn(&Status) -> bool,
    ) -> Result<(), InitFailure> {
        let mut status = self.sandbox.status.subscribe();
        loop {
            {
                let s = status.borrow_and_update();
                if let Some((_, payload)) = &s.init_error {
                    return Err(InitFailure::Posted(payload.clone()));
                }
                if ready(&s) {
                    return Ok(());
                }
            }
            if let Some(exit) = lock(&self.runtime).as_ref().and_then(|p| p.exited()) {
                return Err(InitFailure::RuntimeExit(exit));
            }
            let extension_exit = lock(&self.extensions)
                .iter()
                .zip(&self.spec.extensions)
                .find_map(|(p, path)| p.exited().map(|e| (e, path.clone())));
            if let Some((exit, path)) = extension_exit {
                return Err(InitFailure::ExtensionExit(format!(
                    "{}: {exit}",
                    path.display()
                )));
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(InitFailure::Timeout(deadline - started, None));
            }
            tokio::select! {
                _ = status.changed() => {}
                _ = tokio::time::sleep(POLL) => {}
                _ = tokio::time::sleep_until(deadline) => {}
            }
        }
    }
}

fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}
