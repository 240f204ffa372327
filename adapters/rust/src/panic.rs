//! Turning a panic in user code into an [`Error`] instead of a dead worker.
//!
//! `catch_unwind` gives only the panic payload; where it happened is known
//! only to the panic hook. So a hook installed once records the location
//! (and a backtrace when `RUST_BACKTRACE` asks for one) in a thread-local,
//! but only while [`catch`] is running on that thread: panics elsewhere (a
//! thread the handler spawned, the adapter itself) go to the previous hook,
//! which prints them as usual. Needs `panic = "unwind"` (the default).

use std::backtrace::{Backtrace, BacktraceStatus};
use std::cell::{Cell, RefCell};
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

use crate::error::{panic_message, Error, PANIC};

thread_local! {
    static CATCHING: Cell<bool> = const { Cell::new(false) };
    static CAPTURED: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

static INSTALL: Once = Once::new();

fn install_hook() {
    INSTALL.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if !CATCHING.with(Cell::get) {
                return previous(info);
            }
            let mut lines = Vec::new();
            if let Some(loc) = info.location() {
                lines.push(format!("at {}:{}:{}", loc.file(), loc.line(), loc.column()));
            }
            let trace = Backtrace::capture();
            if trace.status() == BacktraceStatus::Captured {
                lines.extend(user_frames(&trace.to_string()));
            }
            CAPTURED.with(|c| *c.borrow_mut() = lines);
        }));
    });
}

/// The frames of a std backtrace between the panic machinery and
/// [`catch`], one line each (`symbol at file:line:col`): the user's code,
/// without the hook, `core::panicking` or the adapter's loop around it.
fn user_frames(backtrace: &str) -> Vec<String> {
    // std prints "  N: symbol" lines, each followed by "at file:line" lines.
    let mut frames: Vec<String> = Vec::new();
    for line in backtrace.lines().map(str::trim) {
        match (line.strip_prefix("at "), frames.last_mut()) {
            (Some(place), Some(frame)) => {
                frame.push_str(" at ");
                frame.push_str(place);
            }
            _ => frames.push(
                line.split_once(": ")
                    .map_or(line, |(_, symbol)| symbol)
                    .to_string(),
            ),
        }
    }
    let is_machinery = |f: &String| {
        [
            "core::panicking::",
            "std::panicking::",
            "rust_begin_unwind",
            "__rust_end_short_backtrace",
            "panic::install_hook",
        ]
        .iter()
        .any(|m| f.contains(m))
    };
    let start = frames.iter().rposition(is_machinery).map_or(0, |i| i + 1);
    let end = frames
        .iter()
        .position(|f| f.starts_with("dispatcher_worker::panic::catch"))
        .unwrap_or(frames.len());
    frames.drain(start..end.max(start)).collect()
}

/// Runs `f`; a panic becomes an `Error` of type `Panic` whose message is the
/// panic message and whose stack starts with the panic's location.
pub fn catch<T>(f: impl FnOnce() -> Result<T, Error>) -> Result<T, Error> {
    install_hook();
    // A panic the user caught themselves inside `f` may have left lines here.
    CAPTURED.with(|c| c.borrow_mut().clear());
    CATCHING.with(|c| c.set(true));
    // AssertUnwindSafe: after a panic, the handler's captured state is the
    // user's to judge, as with any Rust program that catches panics; the
    // adapter's own state is not touched inside.
    let outcome = panic::catch_unwind(AssertUnwindSafe(f));
    CATCHING.with(|c| c.set(false));
    outcome.unwrap_or_else(|payload| {
        let lines = CAPTURED.with(|c| std::mem::take(&mut *c.borrow_mut()));
        Err(Error::new(PANIC, panic_message(payload.as_ref())).with_stack_trace(lines))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panics_become_errors_with_a_location() {
        let err = catch::<()>(|| panic!("boom {}", 7)).unwrap_err();
        assert_eq!(
            (err.error_type.as_str(), err.message.as_str()),
            ("Panic", "boom 7")
        );
        assert!(
            err.stack_trace[0].starts_with("at src/panic.rs:"),
            "{:?}",
            err.stack_trace
        );
    }

    #[test]
    fn backtraces_keep_only_the_user_frames() {
        let std_output = "   0: dispatcher_worker::panic::install_hook::{{closure}}::{{closure}}
   1: std::panicking::panic_with_hook
   2: __rustc::rust_begin_unwind
   3: core::panicking::panic_fmt
   4: app::parse
             at ./src/main.rs:7:5
   5: app::handle
             at ./src/main.rs:12:9
   6: dispatcher_worker::panic::catch
   7: dispatcher_worker::worker::serve
   8: main";
        assert_eq!(
            user_frames(std_output),
            vec![
                "app::parse at ./src/main.rs:7:5",
                "app::handle at ./src/main.rs:12:9"
            ]
        );
        assert_eq!(user_frames("   0: main"), vec!["main"]);
    }

    #[test]
    fn values_and_errors_pass_through() {
        assert_eq!(catch(|| Ok(5)), Ok(5));
        assert_eq!(
            catch::<()>(|| Err(Error::new("T", "m"))),
            Err(Error::new("T", "m"))
        );
        // The hook is left in place but idle: the next catch still works.
        assert!(catch::<()>(|| panic!("again")).is_err());
    }
}
