//! An answer given before the request's body was read to its end (a 401, 403, 413 or
//! 429 decided from the headers, or a body cut off at its limit) says
//! `Connection: close`. The unread rest of the body is still on the connection: hyper
//! then closes it after the answer anyway, and a client that was not told so may send
//! its next request on it and lose it.

use std::{
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    task::{Context, Poll},
};

use axum::{
    body::{Body, Bytes, HttpBody},
    extract::Request,
    http::{HeaderValue, header::CONNECTION},
    response::Response,
};
use hyper::body::{Frame, SizeHint};

/// Whether a request's body has been read to its end.
#[derive(Debug, Default)]
pub struct Read(AtomicBool);

/// `request` with a body that notes when it has been read to its end.
pub fn watch(request: Request) -> (Request, Arc<Read>) {
    let read = Arc::new(Read::default());
    let watched = read.clone();
    let request = request.map(|body| {
        if body.is_end_stream() {
            watched.0.store(true, Ordering::SeqCst);
        }
        Body::new(Watched {
            body,
            read: watched,
        })
    });
    (request, read)
}

/// `response`, with `Connection: close` if the request's body was left unread.
pub fn close_if_unread(mut response: Response, read: &Read) -> Response {
    if !read.0.load(Ordering::SeqCst) {
        response
            .headers_mut()
            .insert(CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

struct Watched {
    body: Body,
    read: Arc<Read>,
}

impl HttpBody for Watched {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let polled = Pin::new(&mut self.body).poll_frame(cx);
        if matches!(polled, Poll::Ready(None)) || self.body.is_end_stream() {
            self.read.0.store(true, Ordering::SeqCst);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
