//! The audit writer: one task that appends whatever records arrived together
//! in one transaction (group commit), so under load one commit serves many
//! requests. The server waits for each record before it answers, so nothing
//! is handed out unrecorded; `aspen bulk` queues records without waiting and
//! learns of any failure when it finishes.

use super::Store;
use crate::audit::Record;
use crate::error::{Error, Result};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// Records committed in one transaction at most.
const BATCH: usize = 1024;
/// Records waiting for the writer at most; senders wait beyond it, so a
/// fast producer cannot fill memory.
const QUEUE: usize = 8192;

type Ack = oneshot::Sender<Result<()>>;

enum Job {
    /// Boxed: a record is large, a flush small, and the queue holds many.
    Record(Box<Record>, Option<Ack>),
    /// Answered once everything queued before it is committed.
    Flush(Ack),
}

/// A handle on the writer task. Dropping every handle ends the task once
/// the queue is drained.
pub struct Recorder {
    queue: mpsc::Sender<Job>,
    task: tokio::task::JoinHandle<Result<()>>,
}

impl Recorder {
    /// Starts the writer on the current tokio runtime.
    pub fn start(store: Arc<dyn Store>) -> Recorder {
        let (queue, jobs) = mpsc::channel(QUEUE);
        let task = tokio::spawn(write(store, jobs));
        Recorder { queue, task }
    }

    /// Records `record` and waits until it is committed.
    pub async fn record(&self, record: Record) -> Result<()> {
        let (ack, done) = oneshot::channel();
        self.queue
            .send(Job::Record(Box::new(record), Some(ack)))
            .await
            .map_err(|_| stopped())?;
        done.await.map_err(|_| stopped())?
    }

    /// Queues `record` from a thread outside the runtime (bulk), waiting
    /// only while the queue is full. A failure to commit it is reported by
    /// [`Recorder::finish`].
    pub fn queue_blocking(&self, record: Record) -> Result<()> {
        self.queue
            .blocking_send(Job::Record(Box::new(record), None))
            .map_err(|_| stopped())
    }

    /// Waits until everything queued so far is committed.
    pub async fn flush(&self) -> Result<()> {
        let (ack, done) = oneshot::channel();
        self.queue
            .send(Job::Flush(ack))
            .await
            .map_err(|_| stopped())?;
        done.await.map_err(|_| stopped())?
    }

    /// Commits what is queued and stops the writer: the first error of its
    /// whole run, if any (for queued records nobody waited for).
    pub async fn finish(self) -> Result<()> {
        let Recorder { queue, task } = self;
        drop(queue);
        task.await
            .map_err(|e| Error::invalid(format!("the audit writer failed: {e}")))?
    }
}

fn stopped() -> Error {
    Error::invalid("the audit writer stopped")
}

async fn write(store: Arc<dyn Store>, mut jobs: mpsc::Receiver<Job>) -> Result<()> {
    let mut first_error: Option<Error> = None;
    let mut batch = Vec::with_capacity(BATCH);
    while jobs.recv_many(&mut batch, BATCH).await > 0 {
        let mut rows = Vec::with_capacity(batch.len());
        let mut acks = Vec::new();
        for job in batch.drain(..) {
            match job {
                Job::Record(record, ack) => {
                    rows.push(*record);
                    acks.extend(ack);
                }
                Job::Flush(ack) => acks.push(ack),
            }
        }
        let result = store.append(rows, crate::audit::now()).await;
        for ack in acks {
            let _ = ack.send(match &result {
                Ok(()) => Ok(()),
                Err(e) => Err(Error::invalid(e.to_string())),
            });
        }
        if let Err(e) = result {
            first_error.get_or_insert(e);
        }
    }
    first_error.map_or(Ok(()), Err)
}
