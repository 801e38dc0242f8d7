//! A `gumgate` process under test: its JSON log is read as it runs (so a full pipe never
//! blocks it), its addresses come from the "gumgate listening" line, and a stop is a SIGTERM
//! followed by the exit status and the whole log.

use std::net::SocketAddr;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;

/// How long a start or a stop may take on a busy machine.
const WITHIN: Duration = Duration::from_secs(20);

pub struct Running {
    pub child: Child,
    pub api: SocketAddr,
    pub ops: SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
    reader: JoinHandle<()>,
}

impl Running {
    /// Spawns `cmd` with JSON logs on a piped stderr and waits until it listens; panics with
    /// the log if it exits first.
    pub async fn start(mut cmd: Command) -> Self {
        cmd.env("GUMGATE__LOG__FORMAT", "json")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn().expect("gumgate starts");
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = tokio::sync::oneshot::channel();
        let sink = log.clone();
        let reader = tokio::spawn(async move {
            let mut tx = Some(tx);
            while let Ok(Some(line)) = lines.next_line().await {
                let v: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
                sink.lock().unwrap().push(line);
                if v["message"] == "gumgate listening"
                    && let Some(tx) = tx.take()
                {
                    let addr = |k: &str| v[k].as_str().unwrap().parse().unwrap();
                    let _ = tx.send((addr("api"), addr("ops")));
                }
            }
        });
        let listening = tokio::time::timeout(WITHIN, rx).await;
        let Ok(Ok((api, ops))) = listening else {
            panic!("gumgate did not start: {:?}", log.lock().unwrap());
        };
        Self {
            child,
            api,
            ops,
            log,
            reader,
        }
    }

    /// The log so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    pub async fn sigterm(&self) {
        let pid = self.child.id().unwrap().to_string();
        let killed = Command::new("kill").args(["-TERM", &pid]).status().await;
        assert!(killed.unwrap().success());
    }

    /// SIGTERM, then the exit status and the whole log (panics if it does not exit in time).
    pub async fn stop(mut self) -> (ExitStatus, String) {
        self.sigterm().await;
        let status = tokio::time::timeout(WITHIN, self.child.wait()).await;
        let status = status
            .unwrap_or_else(|_| panic!("no exit after SIGTERM:\n{}", self.log()))
            .unwrap();
        // The pipe closes with the process: the reader has the last line soon after.
        let _ = tokio::time::timeout(WITHIN, &mut self.reader).await;
        (status, self.log())
    }
}
