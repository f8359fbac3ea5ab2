//! A listening socket handed over instead of bound here: `--listen-fd N`
//! (a supervisor, or a test harness that bound port 0 itself and so knows
//! the port before the server starts — no window for another process to
//! take it), or systemd socket activation (`LISTEN_FDS`, `LISTEN_PID`;
//! sd_listen_fds(3): the first socket is descriptor 3).

use crate::error::{Error, Result};
use std::net::TcpListener;
use std::os::fd::FromRawFd;

/// The first descriptor systemd passes.
const SD_LISTEN_FDS_START: i32 = 3;

/// The socket systemd activated this process with, if it did.
pub fn systemd_socket() -> Option<i32> {
    let pid: u32 = std::env::var("LISTEN_PID").ok()?.parse().ok()?;
    let fds: u32 = std::env::var("LISTEN_FDS").ok()?.parse().ok()?;
    (pid == std::process::id() && fds >= 1).then_some(SD_LISTEN_FDS_START)
}

/// The TCP listening socket open at `fd`, after checking that it is one:
/// a descriptor that is not a listening stream socket is refused, never
/// taken over.
pub fn listener_from_fd(fd: i32) -> Result<TcpListener> {
    let bad = |why: &str| Error::invalid(format!("--listen-fd {fd}: {why}"));
    if fd < 0 {
        return Err(bad("is not a file descriptor"));
    }
    let mut accepting: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `accepting`.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_ACCEPTCONN,
            (&mut accepting as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(bad("is not an open socket"));
    }
    if accepting == 0 {
        return Err(bad("is a socket that is not listening"));
    }
    // SAFETY: `fd` is an open listening socket this process was given to
    // serve on; from here the listener owns it.
    let listener = unsafe { TcpListener::from_raw_fd(fd) };
    match listener.local_addr() {
        Ok(std::net::SocketAddr::V4(_) | std::net::SocketAddr::V6(_)) => Ok(listener),
        Err(_) => Err(bad("is not a TCP socket")),
    }
}
