//! `_X_AMZN_TRACE_ID` for the current invocation, without glibc's setenv leak.
//!
//! glibc's `setenv` never frees a `NAME=value` string it allocated (it keeps
//! every distinct one, so that a pointer `getenv` returned stays valid), so
//! `std::env::set_var` with a new trace id per invocation grows a long-lived
//! worker by about the value's size each time (2.1 -> 14.6 MB RSS over 100k
//! invocations). Instead the adapter owns two buffers holding
//! `_X_AMZN_TRACE_ID=value\0` and `putenv(3)`s them in turn: `putenv` puts the
//! buffer itself into `environ`, copying and allocating nothing. The buffer an
//! invocation writes is never the one `environ` holds at that moment, so a
//! reader that took the previous value (C code keeping a `getenv` pointer, a
//! thread still reading) sees it whole and unchanged through the next
//! invocation. A value that does not fit gets a bigger buffer (double the size); the
//! old one is leaked on purpose, as glibc would, since a `getenv` pointer into
//! it may still be held: the leak is bounded by the growth steps.
//!
//! What the handler observes is what `set_var`/`remove_var` gave: `std::env`,
//! C's `getenv` and child processes see the current invocation's value, and
//! no variable when the invocation has none. Thread safety is the same
//! stance as `std::env::set_var`: the run loop changes the variable on its
//! own thread before the handler runs; `run_concurrent` never sets it.
//! Unlike `set_var` this does not take std's private environment lock, only
//! glibc's (which `putenv`, `setenv` and `unsetenv` share), so a thread the
//! handler left running that reads the environment at that instant races as
//! it would with C's `setenv`. Code that sets the variable itself (set_var,
//! putenv) is fine: the next invocation's `putenv` replaces its entry.

use std::sync::Mutex;

const PREFIX: &[u8] = b"_X_AMZN_TRACE_ID=";
const NAME_C: &[u8] = b"_X_AMZN_TRACE_ID\0";
/// Room for a usual trace header (about 80 bytes, more with Lineage).
const FIRST_CAPACITY: usize = 256;

struct Slots {
    /// `PREFIX value \0`, each with its capacity in full; `None` until used.
    bufs: [Option<Box<[u8]>>; 2],
    /// The buffer written last: the next value goes into the other one.
    last: usize,
}

static SLOTS: Mutex<Slots> = Mutex::new(Slots {
    bufs: [None, None],
    last: 1,
});

/// Sets `_X_AMZN_TRACE_ID` to an invocation's trace header, or unsets it
/// for an invocation without one (skipped when it is already absent:
/// unsetting scans and rewrites the environment).
pub(crate) fn set(trace: Option<&str>) {
    let mut slots = match SLOTS.lock() {
        Ok(slots) => slots,
        Err(poisoned) => poisoned.into_inner(),
    };
    match trace {
        // std's message for a NUL (it panics): this one cannot be put in a C string.
        Some(value) if value.as_bytes().contains(&0) => {
            std::env::set_var("_X_AMZN_TRACE_ID", value)
        }
        Some(value) => slots.put(value.as_bytes()),
        None => {
            // SAFETY: NAME_C is NUL-terminated; getenv only reads.
            if unsafe { !libc::getenv(NAME_C.as_ptr().cast()).is_null() } {
                // SAFETY: as above; unsetenv removes the entry (ours or not).
                unsafe { libc::unsetenv(NAME_C.as_ptr().cast()) };
            }
        }
    }
}

impl Slots {
    fn put(&mut self, value: &[u8]) {
        let index = 1 - self.last;
        self.last = index;
        let needed = PREFIX.len() + value.len() + 1;
        let slot = &mut self.bufs[index];
        if slot.as_ref().map_or(true, |buf| buf.len() < needed) {
            let capacity = needed.max(FIRST_CAPACITY).next_power_of_two();
            let mut buf = vec![0u8; capacity].into_boxed_slice();
            buf[..PREFIX.len()].copy_from_slice(PREFIX);
            if let Some(old) = slot.replace(buf) {
                // Not in environ (it is not the current entry), but a getenv
                // pointer into it may still be held: never freed, as glibc's.
                Box::leak(old);
            }
        }
        let buf = slot.as_mut().expect("the slot was just filled");
        let end = PREFIX.len() + value.len();
        buf[PREFIX.len()..end].copy_from_slice(value);
        buf[end] = 0;
        // SAFETY: the buffer is NUL-terminated and lives as long as the
        // process (it is dropped or freed never while it may be in environ).
        if unsafe { libc::putenv(buf.as_mut_ptr().cast()) } != 0 {
            // Out of memory growing environ: set_var reports it the std way.
            std::env::set_var("_X_AMZN_TRACE_ID", String::from_utf8_lossy(value).as_ref());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;

    fn c_getenv() -> Option<String> {
        let p = unsafe { libc::getenv(NAME_C.as_ptr().cast()) };
        (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_str().unwrap().to_string())
    }

    // One test, as the environment is process-wide and tests run in threads.
    #[test]
    fn set_replace_grow_unset_and_foreign_values() {
        set(Some("Root=1-a"));
        assert_eq!(std::env::var("_X_AMZN_TRACE_ID").unwrap(), "Root=1-a");
        set(Some("Root=1-bb"));
        assert_eq!(c_getenv().as_deref(), Some("Root=1-bb"));
        let long = "x".repeat(1000);
        set(Some(&long));
        assert_eq!(c_getenv().as_deref(), Some(long.as_str()));
        set(Some("short"));
        assert_eq!(c_getenv().as_deref(), Some("short"));
        set(None);
        assert_eq!(c_getenv(), None);
        set(None);
        assert_eq!(std::env::var_os("_X_AMZN_TRACE_ID"), None);
        set(Some("again"));
        assert_eq!(std::env::var("_X_AMZN_TRACE_ID").unwrap(), "again");
        // The handler sets it itself; the next invocation's value still wins.
        std::env::set_var("_X_AMZN_TRACE_ID", "from the handler");
        set(Some("next"));
        assert_eq!(c_getenv().as_deref(), Some("next"));
        std::env::remove_var("_X_AMZN_TRACE_ID");
        set(Some("after remove"));
        assert_eq!(c_getenv().as_deref(), Some("after remove"));
        set(None);
        assert_eq!(c_getenv(), None);
    }
}
