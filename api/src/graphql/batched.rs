//! When a request's DataLoader batches start.
//!
//! async-graphql starts a batch after a 1 ms timer, so on a slow or busy machine a level's keys
//! arrive in several batches. Here the batch is started when it is complete instead: the
//! loaders' spawner only queues it, and [`Batched`], wrapped around the request's execution,
//! starts the queued batches each time the execution can make no more progress, i.e. when every
//! resolver of the level has asked for its keys.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll, Wake, Waker};
use std::time::Duration;

use async_graphql::dataloader::{DataLoader, HashMapCache, Loader};

type Task = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// The batches a request's loaders have queued, started by [`Batched`].
#[derive(Clone, Default)]
pub struct Dispatcher {
    queue: Arc<Mutex<Vec<Task>>>,
}

impl Dispatcher {
    fn queue(&self, task: Task) {
        if let Ok(mut queue) = self.queue.lock() {
            queue.push(task);
        }
    }

    fn start_queued(&self) {
        let tasks: Vec<Task> = self
            .queue
            .lock()
            .map(|mut q| q.drain(..).collect())
            .unwrap_or_default();
        for task in tasks {
            tokio::spawn(task);
        }
    }

    /// A loader for this request whose batches wait for [`Batched`].
    pub(super) fn loader<T>(&self, loader: T) -> DataLoader<T> {
        let dispatcher = self.clone();
        DataLoader::new(loader, move |task| dispatcher.queue(task)).delay(Duration::ZERO)
    }

    /// [`Dispatcher::loader`] with a cache that a resolver can fill with values it already has.
    pub(super) fn cached_loader<T: Loader<String>>(
        &self,
        loader: T,
    ) -> DataLoader<T, HashMapCache> {
        let dispatcher = self.clone();
        DataLoader::with_cache(
            loader,
            move |task| dispatcher.queue(task),
            HashMapCache::default(),
        )
        .delay(Duration::ZERO)
    }
}

/// A request's execution that starts its loaders' batches whenever it is stalled: pending without
/// having woken itself. (async-graphql resolves long lists through `FuturesUnordered`, which
/// yields cooperatively by waking itself and returning pending while work is still ready.)
pub struct Batched<F> {
    inner: Pin<Box<F>>,
    dispatcher: Dispatcher,
}

impl<F: Future> Batched<F> {
    pub fn new(inner: F, dispatcher: Dispatcher) -> Self {
        Self {
            inner: Box::pin(inner),
            dispatcher,
        }
    }
}

/// Forwards wakes to the task's waker and remembers that one happened.
struct WakeFlag {
    woken: AtomicBool,
    waker: Waker,
}

impl Wake for WakeFlag {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::SeqCst);
        self.waker.wake_by_ref();
    }
}

impl<F: Future> Future for Batched<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<F::Output> {
        let flag = Arc::new(WakeFlag {
            woken: AtomicBool::new(false),
            waker: cx.waker().clone(),
        });
        let waker = Waker::from(flag.clone());
        let poll = self
            .inner
            .as_mut()
            .poll(&mut TaskContext::from_waker(&waker));
        if poll.is_pending() && !flag.woken.load(Ordering::SeqCst) {
            self.dispatcher.start_queued();
        }
        poll
    }
}
