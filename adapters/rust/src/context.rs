//! The invocation context handed to a handler: the `invoke` frame's fields
//! plus the function's settings from the Lambda environment, read once.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::protocol::Invoke;

/// Everything a handler may want to know about the current invocation.
///
/// To unit-test a handler, start from `Context::default()` and set the
/// fields it reads (the struct is `non_exhaustive`, so later fields can be
/// added without breaking you).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Context {
    /// `Lambda-Runtime-Aws-Request-Id`.
    pub request_id: String,
    /// Deadline, Unix epoch milliseconds.
    pub deadline_ms: u64,
    pub invoked_function_arn: String,
    /// X-Ray trace header; also in the `_X_AMZN_TRACE_ID` environment variable.
    pub xray_trace_id: Option<String>,
    /// Mobile SDK client context, JSON text (parse it with serde_json if needed).
    pub client_context: Option<String>,
    /// Cognito identity, JSON text `{"cognitoIdentityId", "cognitoIdentityPoolId"}`.
    pub identity: Option<String>,
    pub tenant_id: Option<String>,
    pub function_name: String,
    pub function_version: String,
    pub memory_limit_in_mb: u32,
    pub log_group_name: String,
    pub log_stream_name: String,
}

impl Context {
    /// Builds the context of `invoke` (used by the worker loop; public for tests).
    pub fn new(invoke: &Invoke<'_>, function: &FunctionEnv) -> Self {
        Context {
            request_id: invoke.id.to_string(),
            // A negative deadline is nonsense; treat it as already passed.
            deadline_ms: u64::try_from(invoke.deadline_ms.max(0)).unwrap_or(u64::MAX),
            invoked_function_arn: invoke.function_arn.to_string(),
            xray_trace_id: invoke.trace_id.map(str::to_string),
            client_context: invoke.client_context.map(str::to_string),
            identity: invoke.cognito_identity.map(str::to_string),
            tenant_id: invoke.tenant_id.map(str::to_string),
            function_name: function.function_name.clone(),
            function_version: function.function_version.clone(),
            memory_limit_in_mb: function.memory_limit_in_mb,
            log_group_name: function.log_group_name.clone(),
            log_stream_name: function.log_stream_name.clone(),
        }
    }

    /// The deadline as a point in time.
    pub fn deadline(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(self.deadline_ms)
    }

    /// Time left before the deadline (zero once it has passed).
    pub fn remaining_time(&self) -> Duration {
        self.deadline()
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO)
    }
}

/// The function's settings, from the variables Lambda sets (inherited by the
/// worker through the supervisor). Absent variables read as empty / 0, as
/// when the worker runs outside Lambda.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FunctionEnv {
    pub function_name: String,
    pub function_version: String,
    pub memory_limit_in_mb: u32,
    pub log_group_name: String,
    pub log_stream_name: String,
}

impl FunctionEnv {
    /// Reads the settings through `var` (the process environment in production).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Self {
        let get = |name: &str| var(name).unwrap_or_default();
        FunctionEnv {
            function_name: get("AWS_LAMBDA_FUNCTION_NAME"),
            function_version: get("AWS_LAMBDA_FUNCTION_VERSION"),
            memory_limit_in_mb: get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
                .trim()
                .parse()
                .unwrap_or(0),
            log_group_name: get("AWS_LAMBDA_LOG_GROUP_NAME"),
            log_stream_name: get("AWS_LAMBDA_LOG_STREAM_NAME"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invoke(deadline_ms: i128) -> Invoke<'static> {
        Invoke {
            id: "req",
            payload: b"{}",
            deadline_ms,
            function_arn: "arn:aws:lambda:eu-west-1:1:function:f",
            trace_id: Some("Root=1-x"),
            client_context: None,
            cognito_identity: Some("{}"),
            tenant_id: None,
        }
    }

    #[test]
    fn fields_come_from_the_frame_and_the_environment() {
        let env = FunctionEnv::from_vars(|name| match name {
            "AWS_LAMBDA_FUNCTION_NAME" => Some("f".into()),
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE" => Some("512".into()),
            _ => None,
        });
        let ctx = Context::new(&invoke(1_700_000_000_000), &env);
        assert_eq!(ctx.request_id, "req");
        assert_eq!(ctx.xray_trace_id.as_deref(), Some("Root=1-x"));
        assert_eq!(ctx.identity.as_deref(), Some("{}"));
        assert_eq!(
            (ctx.function_name.as_str(), ctx.memory_limit_in_mb),
            ("f", 512)
        );
        assert_eq!(ctx.function_version, "");
    }

    #[test]
    fn remaining_time_counts_down_to_zero() {
        let env = FunctionEnv::default();
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as i128;
        let ctx = Context::new(&invoke(now_ms + 60_000), &env);
        let left = ctx.remaining_time();
        assert!(
            left > Duration::from_secs(55) && left <= Duration::from_secs(60),
            "{left:?}"
        );
        assert_eq!(
            Context::new(&invoke(now_ms - 1), &env).remaining_time(),
            Duration::ZERO
        );
        assert_eq!(Context::new(&invoke(-5), &env).deadline(), UNIX_EPOCH);
    }
}
