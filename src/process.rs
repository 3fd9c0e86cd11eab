//! This process's id, without a system call each time. `dispatch()` compares it with the id
//! its engine and its random bytes were made in, to tell a forked child from its parent;
//! `getpid()` is a system call (glibc no longer caches it), and it took 3 % of `dispatch()`.
//!
//! The cached id is forgotten by a handler that glibc's `fork()` runs in the child (which is
//! what `pcntl_fork()` calls). A child made another way and then running PHP (a raw `clone` or
//! `vfork` through FFI) would keep its parent's id, and with it the parent's engine and random
//! bytes; nothing in PHP or WordPress does that.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Once;

/// 0 until asked, and again in a child just forked.
static PID: AtomicU32 = AtomicU32::new(0);
static WATCHING: AtomicBool = AtomicBool::new(false);
static WATCH: Once = Once::new();

/// This process's id.
pub fn id() -> u32 {
    // The library stays loaded until the process ends (crate::php::lifecycle pins it), so the
    // handler stays valid for every later fork.
    WATCH.call_once(|| {
        // SAFETY: registers a function that only writes an atomic, which a child of a
        // multithreaded process may do.
        let registered = unsafe { libc::pthread_atfork(None, None, Some(forgotten_in_child)) } == 0;
        WATCHING.store(registered, Ordering::Relaxed);
    });
    match PID.load(Ordering::Relaxed) {
        // Without the handler a child would keep its parent's id: ask every time.
        _ if !WATCHING.load(Ordering::Relaxed) => std::process::id(),
        0 => {
            let pid = std::process::id();
            PID.store(pid, Ordering::Relaxed);
            pid
        }
        pid => pid,
    }
}

extern "C" fn forgotten_in_child() {
    PID.store(0, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_forked_child_has_its_own_id() {
        let parent = super::id();
        assert_eq!(parent, std::process::id());
        let mut pipe = [0; 2];
        // SAFETY: the child only calls id(), writes four bytes to a pipe and exits.
        unsafe {
            assert_eq!(libc::pipe(pipe.as_mut_ptr()), 0);
            let child = libc::fork();
            assert!(child >= 0);
            if child == 0 {
                let seen = super::id().to_ne_bytes();
                let right = u32::from_ne_bytes(seen) == libc::getpid() as u32;
                libc::write(pipe[1], seen.as_ptr().cast(), 4);
                libc::_exit(i32::from(!right));
            }
            let mut seen = [0u8; 4];
            assert_eq!(libc::read(pipe[0], seen.as_mut_ptr().cast(), 4), 4);
            let mut status = 0;
            libc::waitpid(child, &mut status, 0);
            assert_eq!(u32::from_ne_bytes(seen), child as u32, "the child's own pid, not the parent's");
            assert_eq!(libc::WEXITSTATUS(status), 0);
        }
        assert_eq!(super::id(), parent);
    }
}
