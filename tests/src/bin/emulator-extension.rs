//! Test support: a lambda-extension external extension that appends `INVOKE <request id>` and
//! `SHUTDOWN <reason>` lines to the file `EXT_LOG` names; `EXT_INIT_SLEEP_MS` delays registration,
//! `EXT_INVOKE_SLEEP_MS` its return to `event/next` after each INVOKE.

use std::io::Write;
use std::time::Duration;

use lambda_extension::{service_fn, Error, Extension, LambdaEvent, NextEvent};

fn append(line: &str) {
    if let Ok(path) = std::env::var("EXT_LOG") {
        if let Ok(mut file) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            // One `write` per line: `writeln!` on a `File` writes the text and the newline
            // separately, and two environments appending at once interleave them.
            let _ = file.write_all(format!("{line}\n").as_bytes());
        }
    }
}

async fn on_event(event: LambdaEvent) -> Result<(), Error> {
    match event.next {
        NextEvent::Invoke(invoke) => {
            append(&format!("INVOKE {}", invoke.request_id));
            let delay = std::env::var("EXT_INVOKE_SLEEP_MS")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        NextEvent::Shutdown(shutdown) => append(&format!("SHUTDOWN {}", shutdown.shutdown_reason)),
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let delay = std::env::var("EXT_INIT_SLEEP_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    tokio::time::sleep(Duration::from_millis(delay)).await;
    append("REGISTER");
    Extension::new()
        .with_events(&["INVOKE", "SHUTDOWN"])
        .with_events_processor(service_fn(on_event))
        .run()
        .await
}
