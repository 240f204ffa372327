//! What a failed handler or init reports: an error type name, a message and
//! stack lines, as the `error` / `init_error` frames carry them.
//!
//! Any `std::error::Error` converts into [`Error`] (so `?` works in handlers)
//! and keeps the Rust name of its concrete type (`my_crate::MyError`); the
//! supervisor derives the `Function.MyError` header from it. [`HandlerError`]
//! picks the type name explicitly. Panics are turned into errors in `panic.rs`.

use std::any::{type_name, Any};
use std::fmt;

/// `error_type` of an event that is not valid JSON for the handler's input type.
pub const UNMARSHAL_ERROR: &str = "Runtime.UnmarshalError";
/// `error_type` of a handler value that serde_json cannot serialise.
pub const MARSHAL_ERROR: &str = "Runtime.MarshalError";
/// `error_type` of a panic in a handler or init.
pub const PANIC: &str = "Panic";
/// `error_type` of an error whose concrete type was erased (`Box<dyn Error>`).
pub const OPAQUE: &str = "Error";

/// An error as reported to the supervisor. Returned by handlers and inits.
///
/// It deliberately does not implement `std::error::Error` itself: that is what
/// allows `impl<E: std::error::Error> From<E> for Error` (as in `anyhow`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub error_type: String,
    pub message: String,
    pub stack_trace: Vec<String>,
}

impl Error {
    /// An error with an explicit type name, e.g. `Error::new("InvalidOrder", "no items")`.
    pub fn new(error_type: impl Into<String>, message: impl Into<String>) -> Self {
        Error {
            error_type: error_type.into(),
            message: message.into(),
            stack_trace: Vec::new(),
        }
    }

    /// Replaces the stack lines.
    pub fn with_stack_trace(mut self, lines: Vec<String>) -> Self {
        self.stack_trace = lines;
        self
    }

    fn from_dyn(error_type: String, err: &(dyn std::error::Error + 'static)) -> Self {
        if let Some(explicit) = err.downcast_ref::<HandlerError>() {
            return Error::new(explicit.error_type.clone(), explicit.message.clone())
                .with_stack_trace(source_chain(err));
        }
        Error {
            error_type,
            message: err.to_string(),
            stack_trace: source_chain(err),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.error_type, self.message)
    }
}

impl<E: std::error::Error + 'static> From<E> for Error {
    fn from(err: E) -> Self {
        Error::from_dyn(rust_type_name::<E>(), &err)
    }
}

/// A boxed error has lost its concrete type; only a [`HandlerError`] inside
/// keeps its name, anything else is reported as [`OPAQUE`].
pub fn from_boxed(err: &(dyn std::error::Error + 'static)) -> Error {
    Error::from_dyn(OPAQUE.to_string(), err)
}

/// An error with a type name chosen by the handler, usable wherever a
/// `std::error::Error` is expected (e.g. inside `Box<dyn Error>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandlerError {
    pub error_type: String,
    pub message: String,
}

impl HandlerError {
    pub fn new(error_type: impl Into<String>, message: impl Into<String>) -> Self {
        HandlerError {
            error_type: error_type.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for HandlerError {}

/// `std::any::type_name` without generic arguments: `my_crate::Wrapper`
/// rather than `my_crate::Wrapper<alloc::string::String>`, whose last
/// identifier would name the argument instead of the error.
pub fn rust_type_name<T: ?Sized>() -> String {
    let full = type_name::<T>();
    full.split('<').next().unwrap_or(full).to_string()
}

/// The `source()` chain below `err`, one "caused by" line each: the nearest
/// thing a Rust error has to a stack trace.
fn source_chain(err: &(dyn std::error::Error + 'static)) -> Vec<String> {
    let mut lines = Vec::new();
    let mut next = err.source();
    while let Some(cause) = next {
        lines.push(format!("caused by: {cause}"));
        next = cause.source();
    }
    lines
}

/// The message of a panic payload (`panic!("...")` gives `&str` or `String`).
pub fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Outer(std::num::ParseIntError);
    impl fmt::Display for Outer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("bad order number")
        }
    }
    impl std::error::Error for Outer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    fn parse(text: &str) -> Result<u32, Error> {
        Ok(text.parse::<u32>()?)
    }

    #[test]
    fn question_mark_keeps_the_concrete_type_name() {
        let err = parse("x").unwrap_err();
        assert_eq!(err.error_type, "core::num::error::ParseIntError");
        assert_eq!(err.message, "invalid digit found in string");
        assert!(err.stack_trace.is_empty());
    }

    #[test]
    fn sources_become_stack_lines() {
        let inner = "x".parse::<u32>().unwrap_err();
        let err = Error::from(Outer(inner));
        assert!(err.error_type.ends_with("::Outer"), "{}", err.error_type);
        assert_eq!(
            err.stack_trace,
            vec!["caused by: invalid digit found in string"]
        );
    }

    #[test]
    fn handler_error_keeps_its_chosen_type_even_boxed() {
        let err = Error::from(HandlerError::new("InvalidOrder", "no items"));
        assert_eq!(
            (err.error_type.as_str(), err.message.as_str()),
            ("InvalidOrder", "no items")
        );
        let boxed: Box<dyn std::error::Error + Send + Sync> = Box::new(HandlerError::new("T", "m"));
        assert_eq!(from_boxed(boxed.as_ref()).error_type, "T");
        let opaque: Box<dyn std::error::Error> = "plain".into();
        assert_eq!(from_boxed(opaque.as_ref()), Error::new(OPAQUE, "plain"));
    }

    #[test]
    fn generic_arguments_are_dropped() {
        assert_eq!(rust_type_name::<Vec<String>>(), "alloc::vec::Vec");
    }

    #[test]
    fn panic_messages() {
        assert_eq!(panic_message(&"static"), "static");
        assert_eq!(panic_message(&String::from("owned")), "owned");
        assert_eq!(panic_message(&42u8), "panic with a non-string payload");
    }
}
