//! Allocations whose size PHP code decides (its data, the bodies made from it, the log it
//! reads), made so that the allocator's refusal is an error. Rust's own response to a refused
//! allocation is to abort the process, and PHP code can make the allocator refuse at will: it
//! may lower RLIMIT_AS (posix_setrlimit()) to just above what the process uses, and then pass
//! a large event. Fixed, small allocations (a delivery's id, a header) are left ordinary.

use std::alloc::Layout;

/// An allocation of `bytes` that the allocator refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutOfMemory {
    pub bytes: usize,
}

impl std::fmt::Display for OutOfMemory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "out of memory: {} bytes could not be allocated (the address space is limited, RLIMIT_AS, or exhausted)",
            self.bytes
        )
    }
}

impl std::error::Error for OutOfMemory {}

impl OutOfMemory {
    /// What Rust does for an ordinary allocation, for callers that cannot report an error
    /// (tests, fuzz targets, the smartcode renderer's text of an array).
    pub fn abort(self) -> ! {
        std::alloc::handle_alloc_error(Layout::array::<u8>(self.bytes).unwrap_or(Layout::new::<u8>()))
    }
}

/// Room for `additional` more items in `vec` (growing as `push` would, by doubling), or the
/// error. The capacity is asked for exactly, so that the error names the allocation refused:
/// named after `additional`, a JSON buffer of 8 MB that could not double was "12 bytes could
/// not be allocated".
pub fn reserve<T>(vec: &mut Vec<T>, additional: usize) -> Result<(), OutOfMemory> {
    let Some(capacity) = grown::<T>(vec.len(), vec.capacity(), additional) else { return Ok(()) };
    vec.try_reserve_exact(capacity - vec.len())
        .map_err(|_| OutOfMemory { bytes: capacity.saturating_mul(size_of::<T>()) })
}

/// [`reserve`] for a `String`.
pub fn reserve_text(text: &mut String, additional: usize) -> Result<(), OutOfMemory> {
    let Some(capacity) = grown::<u8>(text.len(), text.capacity(), additional) else { return Ok(()) };
    text.try_reserve_exact(capacity - text.len()).map_err(|_| OutOfMemory { bytes: capacity })
}

/// The capacity a buffer of `len` items of `T` in `capacity` grows to for `additional` more,
/// as Vec's own growth (twice the capacity, what is needed if more, and a few items at
/// least), or none when it has the room.
fn grown<T>(len: usize, capacity: usize, additional: usize) -> Option<usize> {
    let needed = len.saturating_add(additional);
    let least = match size_of::<T>() {
        1 => 8,
        size if size <= 1024 => 4,
        _ => 1,
    };
    (needed > capacity).then(|| needed.max(capacity.saturating_mul(2)).max(least))
}

/// A copy of `bytes`.
pub fn copy(bytes: &[u8]) -> Result<Vec<u8>, OutOfMemory> {
    let mut copy = Vec::new();
    copy.try_reserve_exact(bytes.len()).map_err(|_| OutOfMemory { bytes: bytes.len() })?;
    copy.extend_from_slice(bytes);
    Ok(copy)
}

/// A copy of `text`.
pub fn copy_text(text: &str) -> Result<String, OutOfMemory> {
    let mut copy = String::new();
    copy.try_reserve_exact(text.len()).map_err(|_| OutOfMemory { bytes: text.len() })?;
    copy.push_str(text);
    Ok(copy)
}

/// Whether `bytes` more could be allocated now: a block of that size is asked for and given
/// back. For work that copies its input in many ordinary allocations (a feed's settings,
/// parsed and validated), which would each abort: asked first, the refusal is an error. Not a
/// promise (another thread may take the room meanwhile), but address space given back is
/// there again for the copies that follow.
pub fn room_for(bytes: usize) -> Result<(), OutOfMemory> {
    let mut probe: Vec<u8> = Vec::new();
    probe.try_reserve_exact(bytes).map_err(|_| OutOfMemory { bytes })?;
    // A block never used may otherwise be left out by the compiler, and the probe with it.
    std::hint::black_box(&mut probe);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_is_an_error_that_names_its_size() {
        let mut vec = vec![0u8; 8];
        let refused = reserve(&mut vec, usize::MAX / 2).unwrap_err();
        assert_eq!(refused.bytes, usize::MAX / 2 + 8, "the whole buffer asked for");
        assert!(refused.to_string().starts_with("out of memory: "), "{refused}");
        assert!(room_for(usize::MAX / 2).is_err());
        assert!(reserve_text(&mut String::new(), usize::MAX / 2).is_err());
        assert_eq!(copy(b"abc").unwrap(), b"abc");
        assert_eq!(copy_text("abc").unwrap(), "abc");
        room_for(1 << 20).unwrap();
    }

    #[test]
    fn a_buffer_grows_as_push_would() {
        let mut vec: Vec<u8> = Vec::new();
        reserve(&mut vec, 1).unwrap();
        assert_eq!(vec.capacity(), 8);
        vec.resize(8, 0);
        reserve(&mut vec, 1).unwrap();
        assert_eq!(vec.capacity(), 16, "doubled");
        reserve(&mut vec, 100).unwrap();
        assert_eq!(vec.capacity(), 108, "what is needed");
        reserve(&mut vec, 100).unwrap();
        assert_eq!(vec.capacity(), 108, "room already");
    }
}
