//! One invocation in an environment: handed to the runtime, answered (or failed), reported, and
//! finished once the runtime and the extensions are ready for the next.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::oneshot;

use super::{lock, Dispatched, Environment, Job, Outcome};
use crate::failure::{exit_payload, oom_payload, timeout_payload};
use crate::sandbox::{Current, Invocation, RuntimeResult};

impl Environment {
    /// Hand one invocation to the runtime and wait for its answer (or its failure).
    pub(crate) async fn dispatch(&self, job: Job) -> (Outcome, Dispatched) {
        let started = Instant::now();
        let deadline = tokio::time::Instant::now() + self.spec.timeout;
        let deadline_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| (d + self.spec.timeout).as_millis())
            .unwrap_or(0);
        let trace_id = match job.trace_id.as_deref() {
            Some(caller) => continued_trace(caller, &job.request_id),
            None => trace_id(&job.request_id),
        };
        self.sandbox.logs.begin();
        self.sandbox.logs.platform(&format!(
            "START RequestId: {} Version: {}",
            job.request_id, self.version
        ));
        self.meter.begin();
        let (result_tx, result_rx) = oneshot::channel();
        let (done_tx, done) = oneshot::channel();
        *self.sandbox.current() = Some(Current {
            request_id: job.request_id.clone(),
            result: Some(result_tx),
            done: Some(done_tx),
            stream: None,
        });
        self.sandbox.send_event(
            &serde_json::json!({
                "eventType": "INVOKE",
                "deadlineMs": deadline_ms,
                "requestId": job.request_id,
                "invokedFunctionArn": job.invoked_arn,
                "tracing": { "type": "X-Amzn-Trace-Id", "value": trace_id },
            }),
            true,
        );
        let invocation = Invocation {
            request_id: job.request_id.clone(),
            deadline_ms,
            invoked_arn: job.invoked_arn,
            trace_id,
            client_context: job.client_context,
            payload: job.payload,
        };
        let sender = lock(&self.invocations).clone();
        let outcome = match sender {
            Some(sender) if sender.send(invocation).await.is_ok() => {
                self.await_result(&job.request_id, result_rx, deadline)
                    .await
            }
            _ => Outcome::Failed(
                exit_payload(&job.request_id, "the environment shut down"),
                "failure",
            ),
        };
        let failure = match &outcome {
            Outcome::Failed(_, reason) => Some(*reason),
            Outcome::Undelivered(..) => Some("failure"),
            Outcome::Result(_) => None,
        };
        let dispatched = Dispatched {
            request_id: job.request_id,
            failure,
            started,
            deadline,
            done: Some(done),
        };
        (outcome, dispatched)
    }

    async fn await_result(
        &self,
        request_id: &str,
        result: oneshot::Receiver<RuntimeResult>,
        deadline: tokio::time::Instant,
    ) -> Outcome {
        let runtime_exit = lock(&self.runtime).as_ref().map(|p| p.exit.clone());
        let exited = async {
            match runtime_exit {
                Some(mut exit) => exit
                    .wait_for(|e| e.is_some())
                    .await
                    .map(|e| e.clone().unwrap_or_default())
                    .unwrap_or_default(),
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            result = result => match result {
                Ok(result) => Outcome::Result(result),
                Err(_) => Outcome::Failed(exit_payload(request_id, "the environment shut down"), "failure"),
            },
            status = exited => {
                let payload = if self.meter.exceeded() {
                    oom_payload(request_id)
                } else {
                    exit_payload(request_id, &status)
                };
                match self.take_undelivered(request_id) {
                    Some(job) => Outcome::Undelivered(job, payload),
                    None => Outcome::Failed(payload, "failure"),
                }
            }
            _ = tokio::time::sleep_until(deadline) => Outcome::Failed(timeout_payload(request_id, self.spec.timeout), "timeout"),
        }
    }

    /// The invocation the runtime died on, if it never took it out of the queue (it died while
    /// idle, just before the handoff): it can run elsewhere, as Lambda would run it.
    fn take_undelivered(&self, request_id: &str) -> Option<Job> {
        // A `next` still waiting holds the lock and would have taken the event: delivered.
        let invocation = self.sandbox.invocations.try_lock().ok()?.try_recv().ok()?;
        (invocation.request_id == request_id).then(|| Job {
            request_id: invocation.request_id,
            payload: invocation.payload,
            client_context: invocation.client_context,
            invoked_arn: invocation.invoked_arn,
            trace_id: Some(invocation.trace_id),
            version: self.version.clone(),
        })
    }

    /// Log the invocation's END and REPORT lines (`Max Memory Used` is the highest sample, capped
    /// at the memory size as Lambda's is).
    pub(crate) fn report(&self, dispatched: &Dispatched) {
        let id = &dispatched.request_id;
        let ms = dispatched.started.elapsed().as_secs_f64() * 1000.0;
        let size = self.spec.config.memory_mb;
        let used = self.meter.peak_mb().min(u64::from(size));
        let init = lock(&self.init_duration)
            .take()
            .map(|took| format!("\tInit Duration: {:.2} ms", took.as_secs_f64() * 1000.0))
            .unwrap_or_default();
        let status = if self.meter.exceeded() {
            "\tStatus: error\tError Type: Runtime.OutOfMemory"
        } else {
            ""
        };
        self.sandbox.logs.platform(&format!("END RequestId: {id}"));
        self.sandbox.logs.platform(&format!(
            "REPORT RequestId: {id}\tDuration: {ms:.2} ms\tBilled Duration: {} ms\tMemory Size: {size} MB\tMax Memory Used: {used} MB{init}{status}",
            ms.ceil() as u64,
        ));
    }

    /// After the answer: wait for the runtime to be back in `next` and the extensions in
    /// `event/next` (a runtime that exits instead, even right after answering, fails the
    /// environment, as on Lambda: it is shut down and never handed another invocation).
    /// True when the environment can take the next invocation; otherwise it has been shut down.
    pub(crate) async fn finish_with(&self, mut dispatched: Dispatched, report: bool) -> bool {
        let reusable = self.finish(&mut dispatched).await;
        self.meter.end();
        if report {
            self.report(&dispatched);
        }
        reusable
    }

    async fn finish(&self, dispatched: &mut Dispatched) -> bool {
        if let Some(reason) = dispatched.failure {
            self.shutdown(reason).await;
            return false;
        }
        let deadline = dispatched.deadline;
        let done = dispatched.done.take();
        let mut status = self.sandbox.status.subscribe();
        let ready = async {
            if let Some(done) = done {
                let _ = done.await;
            }
            let _ = status
                .wait_for(|s| s.runtime_waiting && s.extensions_waiting())
                .await;
        };
        let runtime_exit = lock(&self.runtime).as_ref().map(|p| p.exit.clone());
        let exited = async {
            if let Some(mut exit) = runtime_exit {
                let _ = exit.wait_for(|e| e.is_some()).await;
            } else {
                std::future::pending::<()>().await;
            }
        };
        let reason = tokio::select! {
            _ = ready => None,
            _ = exited => Some("failure"),
            _ = tokio::time::sleep_until(deadline) => Some("timeout"),
        };
        let stream = self
            .sandbox
            .current()
            .as_mut()
            .and_then(|c| c.stream.take());
        // An extension that reported exit/error takes the environment down with it.
        let reason = reason.or_else(|| {
            self.sandbox
                .status
                .borrow()
                .exit_error
                .is_some()
                .then_some("failure")
        });
        match reason {
            None => true,
            Some(reason) => {
                if let Some(stream) = stream {
                    let (code, payload) = if reason == "timeout" {
                        let payload = timeout_payload(&dispatched.request_id, self.spec.timeout);
                        ("Sandbox.Timedout", payload)
                    } else if self.meter.exceeded() {
                        ("Runtime.OutOfMemory", oom_payload(&dispatched.request_id))
                    } else {
                        let status = lock(&self.runtime)
                            .as_ref()
                            .and_then(|p| p.exited())
                            .unwrap_or_else(|| "an extension failed".to_owned());
                        (
                            "Runtime.ExitError",
                            exit_payload(&dispatched.request_id, &status),
                        )
                    };
                    let _ = stream.try_send(Err(crate::invoke::StreamError {
                        error_code: code.into(),
                        error_details: String::from_utf8_lossy(&payload).into_owned(),
                    }));
                }
                self.shutdown(reason).await;
                false
            }
        }
    }
}

/// An X-Ray trace header derived from the request id (one random draw per invocation, not three).
fn trace_id(request_id: &str) -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let hex: String = request_id.chars().filter(char::is_ascii_hexdigit).collect();
    let root = hex.get(..24).unwrap_or("000000000000000000000000");
    let parent = hex.get(16..32).unwrap_or("0000000000000000");
    format!("Root=1-{secs:08x}-{root};Parent={parent};Sampled=0")
}

/// The caller's trace header as the runtime gets it: as sent when it names a `Parent`; else (a
/// trace the caller started without a segment of its own) the function's segment becomes the
/// parent, as Lambda's does, and an absent sampling decision is `Sampled=0`.
fn continued_trace(caller: &str, request_id: &str) -> String {
    let has = |key: &str| caller.split(';').any(|field| field.trim().starts_with(key));
    if has("Parent=") {
        return caller.to_owned();
    }
    let mut fields: Vec<String> = caller
        .split(';')
        .map(|f| f.trim().to_owned())
        .filter(|f| !f.is_empty())
        .collect();
    let hex: String = request_id.chars().filter(char::is_ascii_hexdigit).collect();
    let segment = hex.get(16..32).unwrap_or("0000000000000001");
    fields.insert(1.min(fields.len()), format!("Parent={segment}"));
    if !has("Sampled=") {
        fields.insert(2.min(fields.len()), "Sampled=0".to_owned());
    }
    fields.join(";")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_callers_trace_continues() {
        let id = "0f8c2c3e-7d2b-4f6a-9d0e-1a2b3c4d5e6f";
        let full = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
        assert_eq!(continued_trace(full, id), full);
        assert_eq!(
            continued_trace("Root=1-5759e988-bd862e3fe1be46a994272793;Lineage=a87bd80c:1", id),
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=9d0e1a2b3c4d5e6f;Sampled=0;Lineage=a87bd80c:1"
        );
        assert_eq!(
            continued_trace("Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1", id),
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=9d0e1a2b3c4d5e6f;Sampled=1"
        );
    }

    #[test]
    fn timeout_message_is_lambdas() {
        let payload = timeout_payload("abc", std::time::Duration::from_secs(3));
        let v: serde_json::Value = serde_json::from_slice(&payload).unwrap();
        assert_eq!(v["errorType"], "Sandbox.Timedout");
        assert_eq!(
            v["errorMessage"],
            "RequestId: abc Error: Task timed out after 3.00 seconds"
        );
    }

    #[test]
    fn trace_id_has_lambdas_shape() {
        let id = trace_id("0f8c2c3e-7d2b-4f6a-9d0e-1a2b3c4d5e6f");
        assert!(id.starts_with("Root=1-"));
        assert!(
            id.contains("-0f8c2c3e7d2b4f6a9d0e1a2b;Parent=9d0e1a2b3c4d5e6f;"),
            "{id}"
        );
        assert!(id.contains(";Parent="));
    }
}
