//! The process signals: SIGTERM and SIGINT stop the process (a second one during shutdown stops
//! it at once); SIGHUP reloads the configuration (where the command has one to reload); SIGUSR1
//! is logged and otherwise ignored.
//!
//! SIGHUP and SIGUSR1 are listened for only so that they do not kill the process: their default
//! action is to terminate it, and `kill -HUP` (the usual way to ask a daemon to reload) used to
//! stop the exporter. Listening replaces the default action for the life of the process.

use tokio::signal::unix::{Signal, SignalKind, signal};

/// The signals the process listens to, registered once at startup.
pub struct Signals {
    terminate: Option<Signal>,
    interrupt: Option<Signal>,
    hangup: Option<Signal>,
    user1: Option<Signal>,
}

impl Signals {
    /// Registers the handlers. A signal that cannot be listened for keeps its default action,
    /// with a warning (the exporter still runs; only that signal's handling is lost).
    pub fn install() -> Signals {
        Signals {
            terminate: listen(SignalKind::terminate(), "SIGTERM"),
            interrupt: listen(SignalKind::interrupt(), "SIGINT"),
            hangup: listen(SignalKind::hangup(), "SIGHUP"),
            user1: listen(SignalKind::user_defined1(), "SIGUSR1"),
        }
    }

    /// The next SIGTERM/SIGINT or SIGHUP, logging (and otherwise ignoring) SIGUSR1 meanwhile.
    pub async fn next(&mut self) -> Received {
        loop {
            tokio::select! {
                () = next(&mut self.terminate) => return Received::Terminate,
                () = next(&mut self.interrupt) => return Received::Terminate,
                () = next(&mut self.hangup) => return Received::Reload,
                () = next(&mut self.user1) => tracing::info!("SIGUSR1 received; ignored"),
            }
        }
    }

    /// Resolves on SIGTERM or SIGINT; for commands with nothing to reload, SIGHUP is logged and
    /// ignored.
    pub async fn terminated(&mut self) {
        while self.next().await == Received::Reload {
            tracing::warn!("SIGHUP received: nothing to reload in this command; ignored");
        }
    }
}

/// What a signal asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Received {
    /// SIGTERM or SIGINT.
    Terminate,
    /// SIGHUP.
    Reload,
}

fn listen(kind: SignalKind, name: &str) -> Option<Signal> {
    match signal(kind) {
        Ok(sig) => Some(sig),
        Err(err) => {
            tracing::warn!(signal = name, error = %err, "cannot listen for a signal");
            None
        }
    }
}

/// The next delivery of `sig`; never, if it is not listened for (or its stream ended, which
/// tokio does not do while the runtime runs).
async fn next(sig: &mut Option<Signal>) {
    let delivered = match sig {
        Some(s) => s.recv().await.is_some(),
        None => false,
    };
    if !delivered {
        std::future::pending::<()>().await;
    }
}

/// Resolves on SIGTERM or SIGINT (for commands that install nothing else).
pub async fn shutdown_signal() {
    Signals::install().terminated().await;
}
