//! The `log` crate's records as Lambda log records (`docs/logging.md`).
//!
//! [`run`](crate::run) installs a logger (unless the program set its own
//! first) so that `log::info!` and friends write one record each to stderr,
//! which the supervisor forwards. There is no AWS runtime for Rust with its
//! own format, so the records are those of AWS's Node.js runtime:
//!
//! - Text: `<RFC 3339 time>\t<request id>\t<LEVEL>\t<message>`;
//! - JSON (`AWS_LAMBDA_LOG_FORMAT=JSON`): `{"timestamp","level","requestId","message","target"}`.
//!
//! `AWS_LAMBDA_LOG_LEVEL` sets `log::max_level` (default: everything). A
//! newline inside a record is written as `\r`, so that the supervisor keeps
//! the record whole. `eprintln!`/`println!` lines are forwarded as they are
//! (wrapped as INFO records by the supervisor under JSON format). A handler
//! error or panic is logged at ERROR before it is answered.

use std::io::Write;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use log::{Level, LevelFilter, Log, Metadata, Record};

use crate::error::Error;

/// The current request id, when `.0`; the String keeps its allocation
/// from one invocation to the next.
static REQUEST_ID: Mutex<(bool, String)> = Mutex::new((false, String::new()));

struct LambdaLogger {
    json: bool,
}

static TEXT: LambdaLogger = LambdaLogger { json: false };
static JSON: LambdaLogger = LambdaLogger { json: true };

fn is_json() -> bool {
    std::env::var("AWS_LAMBDA_LOG_FORMAT").map_or(false, |v| v.eq_ignore_ascii_case("json"))
}

/// Installs the logger from `AWS_LAMBDA_LOG_FORMAT` / `AWS_LAMBDA_LOG_LEVEL`.
/// A logger the program installed before is kept.
pub(crate) fn install() {
    let logger = if is_json() { &JSON } else { &TEXT };
    if log::set_logger(logger).is_ok() {
        let level = std::env::var("AWS_LAMBDA_LOG_LEVEL").unwrap_or_default();
        log::set_max_level(level_filter(&level));
    }
}

/// `AWS_LAMBDA_LOG_LEVEL` as a filter; anything else lets every record through.
pub fn level_filter(name: &str) -> LevelFilter {
    match name.to_ascii_uppercase().as_str() {
        "ERROR" | "FATAL" => LevelFilter::Error,
        "WARN" => LevelFilter::Warn,
        "INFO" => LevelFilter::Info,
        "DEBUG" => LevelFilter::Debug,
        _ => LevelFilter::Trace,
    }
}

/// The invocation whose records follow (`None` between invocations).
pub(crate) fn set_request(id: Option<&str>) {
    if let Ok(mut guard) = REQUEST_ID.lock() {
        guard.0 = id.is_some();
        guard.1.clear();
        guard.1.push_str(id.unwrap_or_default());
    }
}

fn request_id() -> Option<String> {
    REQUEST_ID
        .lock()
        .ok()
        .and_then(|g| g.0.then(|| g.1.clone()))
}

fn level_name(level: Level) -> &'static str {
    match level {
        Level::Error => "ERROR",
        Level::Warn => "WARN",
        Level::Info => "INFO",
        Level::Debug => "DEBUG",
        Level::Trace => "TRACE",
    }
}

/// RFC 3339 UTC with milliseconds for a time since the Unix epoch.
pub fn timestamp(millis: u128) -> String {
    let secs = (millis / 1000) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        millis % 1000
    )
}

fn now() -> String {
    timestamp(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis()),
    )
}

fn json_str(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

/// One record as a line (without the newline): Text or JSON.
pub fn format_record(
    json: bool,
    time: &str,
    request_id: Option<&str>,
    level: &str,
    message: &str,
    target: &str,
) -> String {
    let line = if json {
        let rid = request_id
            .map(|r| format!(",\"requestId\":{}", json_str(r)))
            .unwrap_or_default();
        format!(
            "{{\"timestamp\":\"{time}\",\"level\":\"{level}\"{rid},\"message\":{},\"target\":{}}}",
            json_str(message),
            json_str(target)
        )
    } else {
        format!(
            "{time}\t{}\t{level}\t{message}",
            request_id.unwrap_or("undefined")
        )
    };
    line.replace('\n', "\r")
}

fn write_line(line: String) {
    let mut out = std::io::stderr().lock();
    let _ = out.write_all(line.as_bytes());
    let _ = out.write_all(b"\n");
}

impl Log for LambdaLogger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let message = record.args().to_string();
        let rid = request_id();
        write_line(format_record(
            self.json,
            &now(),
            rid.as_deref(),
            level_name(record.level()),
            &message,
            record.target(),
        ));
    }

    fn flush(&self) {
        let _ = std::io::stderr().flush();
    }
}

/// A handler error about to be answered, logged at ERROR (the Node runtime's
/// "Invoke Error" record: the error as JSON).
pub(crate) fn log_error(err: &Error) {
    if log::max_level() < LevelFilter::Error {
        return;
    }
    let json = is_json();
    let doc = format!(
        "{{\"errorType\":{},\"errorMessage\":{},\"stackTrace\":{}}}",
        json_str(&err.error_type),
        json_str(&err.message),
        serde_json::to_string(&err.stack_trace).unwrap_or_else(|_| "[]".into())
    );
    let rid = request_id();
    let line = if json {
        let rid = rid
            .as_deref()
            .map(|r| format!(",\"requestId\":{}", json_str(r)))
            .unwrap_or_default();
        format!(
            "{{\"timestamp\":\"{}\",\"level\":\"ERROR\"{rid},\"message\":{doc}}}",
            now()
        )
    } else {
        format_record(
            false,
            &now(),
            rid.as_deref(),
            "ERROR",
            &format!("Invoke Error \t{doc}"),
            "",
        )
    };
    write_line(line);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_with_milliseconds() {
        assert_eq!(timestamp(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(timestamp(1_767_225_600_250), "2026-01-01T00:00:00.250Z");
        assert_eq!(timestamp(951_782_400_000 + 1), "2000-02-29T00:00:00.001Z");
    }

    #[test]
    fn records_in_both_formats() {
        let t = "2026-01-01T00:00:00.250Z";
        assert_eq!(
            format_record(false, t, Some("r1"), "WARN", "a\nb", "app"),
            "2026-01-01T00:00:00.250Z\tr1\tWARN\ta\rb"
        );
        assert_eq!(
            format_record(true, t, Some("r1"), "INFO", "say \"hi\"", "app"),
            "{\"timestamp\":\"2026-01-01T00:00:00.250Z\",\"level\":\"INFO\",\"requestId\":\"r1\",\"message\":\"say \\\"hi\\\"\",\"target\":\"app\"}"
        );
        assert!(!format_record(true, t, None, "INFO", "x", "app").contains("requestId"));
    }

    #[test]
    fn levels_from_the_environment_value() {
        assert_eq!(level_filter("warn"), LevelFilter::Warn);
        assert_eq!(level_filter("FATAL"), LevelFilter::Error);
        assert_eq!(level_filter(""), LevelFilter::Trace);
    }
}
