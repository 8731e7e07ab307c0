//! Ctrl-C and SIGTERM (CI cancellation, `docker stop`, Kubernetes) stop a
//! run the same way: the first starts nothing new, ends the waits at once
//! and lets the calls in flight finish and be recorded; the second quits at
//! once. Signals are process-wide, and so is this state: waits deep in a
//! provider see it without it being passed down to every retry loop.

use std::sync::OnceLock;
use tokio::sync::watch;

/// The exit code of an interrupted run (128 + the signal's number), 0 until
/// a signal came.
static CODE: OnceLock<watch::Receiver<u8>> = OnceLock::new();

/// Installs the handlers on `rt` now (not when a task first runs), so a
/// signal that comes before the first AWS call is already handled. Later
/// calls do nothing. `say` is printed at the first signal.
pub fn install(rt: &tokio::runtime::Runtime, say: impl Fn(&str) + Send + 'static) {
    use tokio::signal::unix::{signal, SignalKind};
    if CODE.get().is_some() {
        return;
    }
    let _entered = rt.enter();
    let (Ok(mut int), Ok(mut term)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) else {
        return;
    };
    let (tx, rx) = watch::channel(0u8);
    if CODE.set(rx).is_err() {
        return;
    }
    rt.spawn(async move {
        let (code, name) = tokio::select! {
            _ = int.recv() => (130, "Ctrl-C"),
            _ = term.recv() => (143, "SIGTERM"),
        };
        tx.send_replace(code);
        say(name);
        let code = tokio::select! {
            _ = int.recv() => 130,
            _ = term.recv() => 143,
        };
        std::process::exit(code);
    });
}

/// The exit code when the run was interrupted.
pub fn code() -> Option<u8> {
    CODE.get().map(|rx| *rx.borrow()).filter(|c| *c != 0)
}

pub fn is_set() -> bool {
    code().is_some()
}

/// Resolves when the run is interrupted; never without a handler.
pub async fn signalled() {
    match CODE.get() {
        Some(rx) => {
            let mut rx = rx.clone();
            if rx.wait_for(|c| *c != 0).await.is_err() {
                std::future::pending::<()>().await;
            }
        }
        None => std::future::pending().await,
    }
}
