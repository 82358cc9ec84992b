//! A bound on how long a rank waits for the others: a collective that has not returned after
//! the timeout means a rank died or a host vanished, and waiting longer helps no one.

use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// Watches the collectives of one rank from a thread of its own; `on_expire` runs (once) when
/// one has been waiting longer than the timeout.
pub struct Watchdog {
    state: Arc<(Mutex<State>, Condvar)>,
}

#[derive(Default)]
struct State {
    /// When the collective in progress started, and what it is.
    waiting: Option<(Instant, &'static str)>,
    stop: bool,
}

/// Marks a collective in progress until dropped.
pub struct Watching<'a>(&'a Watchdog);

impl Watchdog {
    /// Starts the watching thread; `on_expire` gets what was waited for and for how long.
    pub fn new(timeout: Duration, on_expire: impl Fn(&str, Duration) + Send + 'static) -> Self {
        let state = Arc::new((Mutex::new(State::default()), Condvar::new()));
        let watched = state.clone();
        std::thread::Builder::new()
            .name("clip-watchdog".into())
            .spawn(move || {
                let (lock, wake) = &*watched;
                let mut state = lock.lock().unwrap_or_else(|e| e.into_inner());
                loop {
                    if state.stop {
                        return;
                    }
                    let wait = match state.waiting {
                        Some((since, what)) if since.elapsed() >= timeout => {
                            on_expire(what, since.elapsed());
                            return;
                        }
                        Some((since, _)) => timeout - since.elapsed(),
                        None => timeout,
                    };
                    state = wake
                        .wait_timeout(state, wait)
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                }
            })
            .expect("spawning the watchdog thread");
        Watchdog { state }
    }

    /// Marks the start of collective `what`; its end when the guard drops.
    pub fn watch(&self, what: &'static str) -> Watching<'_> {
        self.set(Some((Instant::now(), what)));
        Watching(self)
    }

    fn set(&self, waiting: Option<(Instant, &'static str)>) {
        let (lock, wake) = &*self.state;
        lock.lock().unwrap_or_else(|e| e.into_inner()).waiting = waiting;
        wake.notify_one();
    }
}

impl Drop for Watching<'_> {
    fn drop(&mut self) {
        self.0.set(None);
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        let (lock, wake) = &*self.state;
        lock.lock().unwrap_or_else(|e| e.into_inner()).stop = true;
        wake.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc::channel;

    #[test]
    fn fires_only_for_a_wait_longer_than_the_timeout() {
        let (tx, rx) = channel();
        let dog = Watchdog::new(Duration::from_millis(200), move |what, waited| {
            tx.send((what.to_string(), waited)).ok();
        });
        for _ in 0..5 {
            let _quick = dog.watch("quick");
            std::thread::sleep(Duration::from_millis(50));
        }
        // Idle time between collectives does not count.
        std::thread::sleep(Duration::from_millis(300));
        assert!(rx.try_recv().is_err());
        let _stuck = dog.watch("all-reduce");
        let (what, waited) = rx.recv_timeout(Duration::from_secs(5)).expect("fired");
        assert_eq!(what, "all-reduce");
        assert!(waited >= Duration::from_millis(200));
    }
}
