//! A thread that owns an engine's state and serves the messages its handles send, one at a time
//! (the state database's `store::owner` and the process inventory's `inventory::owner`). The
//! thread ends when the last handle is dropped, and the drop waits for it, so what the thread
//! owned (an open database and its lock file) is released when its owner is gone.

#![forbid(unsafe_code)]

use std::sync::mpsc;

/// The sending side of an owner thread and the thread itself.
pub struct OwnerThread<M: Send + 'static> {
    messages: Option<mpsc::Sender<M>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl<M: Send + 'static> std::fmt::Debug for OwnerThread<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OwnerThread")
            .field(
                "thread",
                &self.thread.as_ref().and_then(|t| t.thread().name()),
            )
            .finish()
    }
}

impl<M: Send + 'static> OwnerThread<M> {
    /// Starts the thread `name`, running `serve` over the messages sent to it.
    pub fn spawn(
        name: &str,
        serve: impl FnOnce(mpsc::Receiver<M>) + Send + 'static,
    ) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || serve(rx))?;
        Ok(OwnerThread {
            messages: Some(tx),
            thread: Some(thread),
        })
    }

    /// Queues `message`; false when the thread is gone.
    pub fn send(&self, message: M) -> bool {
        self.messages
            .as_ref()
            .is_some_and(|m| m.send(message).is_ok())
    }
}

impl<M: Send + 'static> Drop for OwnerThread<M> {
    fn drop(&mut self) {
        // Closing the channel ends the thread's loop; wait for it (unless this is that thread).
        self.messages.take();
        if let Some(thread) = self.thread.take()
            && thread.thread().id() != std::thread::current().id()
        {
            let _ = thread.join();
        }
    }
}

/// Runs one message's `work`, catching a panic so that the owner goes on serving (the message's
/// caller sees its reply channel closed); `what` names the owner in the log.
pub fn guarded(what: &'static str, work: impl FnOnce()) {
    if std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)).is_err() {
        tracing::error!(
            owner = what,
            "A request panicked; its caller gets no answer"
        );
    }
}
