//! How long a connection may make the server wait for it, as nginx bounds it: a new
//! connection has `header_read` to send its first request's headers; after a response,
//! a kept-alive connection may stay silent for `idle`, and once the next request's
//! first byte arrives its headers get `header_read` again. While a request is in hand
//! (its body read, its answer written) no bound applies here: the router's own request
//! timeout does. A connection past its bound is closed.
//!
//! hyper's `header_read_timeout` alone cannot say this: it starts when the connection
//! turns idle, so the idle wait would be the header bound (10 s), shorter than a load
//! balancer's keep-alive.

use std::{
    io,
    pin::Pin,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    task::{Context, Poll, Waker},
};

use axum::body::Body;
use http_body_util::BodyExt;
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    time::{Instant, Sleep},
};

use super::ConnectionLimits;

/// How many of a connection's requests are in hand, and who last waited to read.
#[derive(Debug, Default)]
pub struct Activity {
    open: AtomicUsize,
    reader: Mutex<Option<Waker>>,
}

impl Activity {
    pub fn begin(self: &Arc<Self>) -> Open {
        self.open.fetch_add(1, Ordering::SeqCst);
        Open(self.clone())
    }

    fn busy(&self) -> bool {
        self.open.load(Ordering::SeqCst) > 0
    }

    fn waiting(&self, waker: &Waker) {
        let mut reader = self.reader.lock().unwrap_or_else(|e| e.into_inner());
        if !reader.as_ref().is_some_and(|known| known.will_wake(waker)) {
            *reader = Some(waker.clone());
        }
    }
}

/// A request in hand; dropped once its answer is sent.
#[derive(Debug)]
pub struct Open(Arc<Activity>);

impl Drop for Open {
    fn drop(&mut self) {
        if self.0.open.fetch_sub(1, Ordering::SeqCst) == 1 {
            // The connection turns idle. hyper, done writing, may not read again until
            // the client sends something: wake its read so the idle deadline starts.
            let reader = self
                .0
                .reader
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take();
            if let Some(reader) = reader {
                reader.wake();
            }
        }
    }
}

/// A response body that keeps its request [`Open`] until hyper has sent it all (and
/// dropped it): the closure that passes each frame through owns the guard.
pub fn held_open(body: Body, open: Open) -> Body {
    Body::new(body.map_frame(move |frame| {
        let _held: &Open = &open;
        frame
    }))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for the end of a request's headers, until the deadline.
    Headers,
    /// Between requests, until the deadline.
    Idle,
    /// A request in hand: no deadline.
    Busy,
}

/// A connection's stream, ending reads with `TimedOut` once the wait it is in has
/// lasted too long.
pub struct Deadlines<S> {
    stream: S,
    limits: ConnectionLimits,
    activity: Arc<Activity>,
    phase: Phase,
    deadline: Pin<Box<Sleep>>,
}

impl<S> Deadlines<S> {
    pub fn new(stream: S, limits: ConnectionLimits, activity: Arc<Activity>) -> Self {
        Self {
            stream,
            limits,
            activity,
            phase: Phase::Headers,
            deadline: Box::pin(tokio::time::sleep(limits.header_read)),
        }
    }

    fn enter(&mut self, phase: Phase) {
        self.phase = phase;
        let wait = match phase {
            Phase::Headers => self.limits.header_read,
            Phase::Idle => self.limits.idle,
            Phase::Busy => return,
        };
        self.deadline.as_mut().reset(Instant::now() + wait);
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Deadlines<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.activity.busy() {
            this.phase = Phase::Busy;
        } else if this.phase == Phase::Busy {
            this.enter(Phase::Idle);
        }
        let before = buf.filled().len();
        match Pin::new(&mut this.stream).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if this.phase == Phase::Idle && buf.filled().len() > before {
                    this.enter(Phase::Headers);
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending if this.phase == Phase::Busy => {
                this.activity.waiting(cx.waker());
                Poll::Pending
            }
            Poll::Pending => match this.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    match this.phase {
                        Phase::Idle => "idle keep-alive connection timed out",
                        _ => "request headers not received in time",
                    },
                ))),
                Poll::Pending => Poll::Pending,
            },
            other => other,
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Deadlines<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
