//! The write side of `[serve] request_timeout`: a request's time runs from
//! its complete head to the last byte of its answer written to the socket,
//! so a client that asks and then never reads (pinning the answer in
//! kernel and server buffers for as long as it likes) is closed when its
//! time is up. Two small wrappers tell the connection's [`Conn`] where a
//! request stands: [`Answered`] around the answer's body (handed over
//! whole when it ends or is dropped), [`Watched`] around the connection's
//! stream (everything written has reached the socket when a flush
//! completes). Each socket's send buffer is also bounded
//! ([`SEND_BUFFER_BYTES`]), so what a non-reader pins is small.

use super::connections::Conn;
use http_body::Frame;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Each connection's socket send buffer (the kernel doubles it for its
/// bookkeeping). Answers are a few KiB to a few tens; more buffer would
/// only hold more for clients that do not read.
pub const SEND_BUFFER_BYTES: usize = 64 * 1024;

/// Bounds `stream`'s send buffer to [`SEND_BUFFER_BYTES`] (which also turns
/// off the kernel's growing of it).
pub fn bound_send_buffer(stream: &tokio::net::TcpStream) {
    #[cfg(unix)]
    {
        use std::os::fd::AsRawFd;
        let size = libc::c_int::try_from(SEND_BUFFER_BYTES).unwrap_or(libc::c_int::MAX);
        // SAFETY: setsockopt reads `size` (a c_int, of the length given)
        // for the socket `stream` owns and keeps open for this call.
        let rc = unsafe {
            libc::setsockopt(
                stream.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_SNDBUF,
                (&raw const size).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            tracing::debug!(
                "bounding a socket's send buffer: {}",
                io::Error::last_os_error()
            );
        }
    }
    #[cfg(not(unix))]
    let _ = stream;
}

/// An answer's body that tells its connection when it has been handed over
/// whole.
pub struct Answered<B> {
    inner: B,
    conn: Arc<Conn>,
}

impl<B> Answered<B> {
    pub fn new(inner: B, conn: Arc<Conn>) -> Answered<B> {
        Answered { inner, conn }
    }
}

impl<B> Drop for Answered<B> {
    fn drop(&mut self) {
        self.conn.answered();
    }
}

impl<B: http_body::Body + Unpin> http_body::Body for Answered<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// A connection's stream that tells the connection when what was written
/// has reached the socket.
pub struct Watched<S> {
    inner: S,
    conn: Arc<Conn>,
}

impl<S> Watched<S> {
    pub fn new(inner: S, conn: Arc<Conn>) -> Watched<S> {
        Watched { inner, conn }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let done = Pin::new(&mut self.inner).poll_flush(cx);
        if let Poll::Ready(Ok(())) = done {
            self.conn.flushed();
        }
        done
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
