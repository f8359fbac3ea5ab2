//! Reading untrusted bytes off the runtime's workers, behind a bounded
//! queue. A request body from anyone (a device's `MachineInfo`, a CA's
//! webhook call) is parsed on the blocking pool, so a costly body cannot
//! stall the workers every other request needs; at most one parse per core
//! runs at once, and at most [`WAITING_PER_CORE`] per core wait behind them.
//! Past that the caller is told to come back later (`503`), which bounds
//! both the CPU and the memory a flood of such bodies can take.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::Semaphore;

/// Parses allowed to wait per core, beyond those running. A `MachineInfo`
/// takes well under a millisecond to read, so a queue this long drains in
/// a few milliseconds; it must hold a burst of real devices (the
/// enrollment benchmark sends 128 at once: 32 per core refused some of
/// them), while bodies of at most 64 KiB keep what waits small (2 cores:
/// 512 × 64 KiB = 32 MiB at most).
const WAITING_PER_CORE: usize = 256;

pub struct Offload {
    running: Arc<Semaphore>,
    /// Parses running or waiting.
    admitted: Arc<AtomicUsize>,
    max_admitted: usize,
}

/// The queue is full: answered `503` with `Retry-After`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Busy;

impl IntoResponse for Busy {
    fn into_response(self) -> Response {
        let mut res = (
            StatusCode::SERVICE_UNAVAILABLE,
            "aspen: too many requests are being read; try again shortly\n",
        )
            .into_response();
        res.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        res
    }
}

/// A place in the queue, given back however the call ends (also when the
/// request is dropped while it waits).
struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Offload {
    /// One parse per core at once, [`WAITING_PER_CORE`] per core waiting.
    pub fn per_core() -> Offload {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Offload::new(cores, cores * WAITING_PER_CORE)
    }

    pub fn new(running: usize, waiting: usize) -> Offload {
        Offload {
            running: Arc::new(Semaphore::new(running)),
            admitted: Arc::new(AtomicUsize::new(0)),
            max_admitted: running + waiting,
        }
    }

    /// Runs `work` on the blocking pool when a turn is free, or refuses at
    /// once when the queue is full.
    pub async fn run<T, F>(&self, work: F) -> Result<T, Busy>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        if self.admitted.fetch_add(1, Ordering::AcqRel) >= self.max_admitted {
            self.admitted.fetch_sub(1, Ordering::AcqRel);
            return Err(Busy);
        }
        let slot = Slot(self.admitted.clone());
        let turn = self
            .running
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| Busy)?;
        let done = tokio::task::spawn_blocking(move || {
            let _turn = turn;
            let _slot = slot;
            work()
        })
        .await;
        done.map_err(|_| Busy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    /// One running, one waiting: a third caller is refused at once, and
    /// once the first finishes there is room again.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_queue_refuses_instead_of_growing() {
        let offload = Arc::new(Offload::new(1, 1));
        let (release, hold) = mpsc::channel::<()>();
        let hold = Arc::new(std::sync::Mutex::new(hold));
        let first = {
            let (o, h) = (offload.clone(), hold.clone());
            tokio::spawn(async move {
                o.run(move || {
                    let _ = h.lock().unwrap().recv();
                    1
                })
                .await
            })
        };
        let second = {
            let (o, h) = (offload.clone(), hold.clone());
            tokio::spawn(async move {
                o.run(move || {
                    let _ = h.lock().unwrap().recv();
                    2
                })
                .await
            })
        };
        // Both are admitted (one running, one waiting) before the third.
        while offload.admitted.load(Ordering::Acquire) < 2 {
            tokio::task::yield_now().await;
        }
        assert_eq!(offload.run(|| 3).await, Err(Busy));
        release.send(()).unwrap();
        release.send(()).unwrap();
        assert_eq!(first.await.unwrap(), Ok(1));
        assert_eq!(second.await.unwrap(), Ok(2));
        assert_eq!(offload.admitted.load(Ordering::Acquire), 0);
        assert_eq!(offload.run(|| 4).await, Ok(4));
    }
}
