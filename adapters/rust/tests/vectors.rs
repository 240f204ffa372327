//! The shared wire-protocol vectors (`tests/vectors/` at the repository
//! root, written by `generate.py`) run through this adapter's codec:
//! every `to_worker` vector is read through a `Channel` fed whole and one
//! byte at a time; every `to_supervisor` message this adapter can produce is
//! re-encoded and compared with the vector.

use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use dispatcher_worker::channel::{Channel, ReadError};
use dispatcher_worker::msgpack::{self, Value};
use dispatcher_worker::protocol::{self, ToSupervisor, ToWorker, DEFAULT_MAX_FRAME};
use serde_json::Value as Json;

fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/vectors")
}

struct Vector {
    name: String,
    bin: Vec<u8>,
    spec: Json,
}

fn vectors(direction: &str) -> Vec<Vector> {
    let dir = vectors_dir();
    let entries = fs::read_dir(&dir).unwrap_or_else(|e| {
        panic!(
            "cannot read {}: {e} (the shared vectors come from tests/vectors/generate.py)",
            dir.display()
        )
    });
    let mut out: Vec<Vector> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with(direction)
        })
        .map(|p| Vector {
            name: p.file_stem().unwrap().to_str().unwrap().to_string(),
            bin: fs::read(p.with_extension("bin")).unwrap(),
            spec: serde_json::from_slice(&fs::read(&p).unwrap()).unwrap(),
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    assert!(
        out.len() >= 10,
        "only {} {direction} vectors in {}",
        out.len(),
        dir.display()
    );
    out
}

/// A reader that hands out at most `chunk` bytes per call, to split frames
/// at every byte boundary.
struct Trickle<'a> {
    data: &'a [u8],
    chunk: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.chunk.min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

fn base64(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for c in text.bytes().filter(|&c| c != b'=') {
        let v = ALPHABET.iter().position(|&a| a == c).expect("base64 digit") as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

/// Whether a decoded msgpack value is the vector's JSON description of it.
fn matches(value: &Value<'_>, json: &Json) -> bool {
    match (value, json) {
        (Value::Bin(b), Json::Object(o)) if o.len() == 1 && o.contains_key("$bin") => {
            *b == base64(o["$bin"].as_str().unwrap()).as_slice()
        }
        (Value::Nil, Json::Null) => true,
        (Value::Bool(a), Json::Bool(b)) => a == b,
        (Value::Int(a), Json::Number(n)) => {
            n.as_i64().map(i128::from).or(n.as_u64().map(i128::from)) == Some(*a)
        }
        (Value::Float(a), Json::Number(n)) => n.as_f64() == Some(*a),
        (Value::Str(a), Json::String(b)) => a == b,
        (Value::Array(a), Json::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| matches(x, y))
        }
        (Value::Map(pairs), Json::Object(o)) => {
            pairs.len() == o.len()
                && pairs.iter().all(
                    |(k, v)| matches!(k, Value::Str(k) if o.get(*k).is_some_and(|j| matches(v, j))),
                )
        }
        _ => false,
    }
}

fn max_frame(spec: &Json) -> usize {
    spec.get("max_frame")
        .and_then(Json::as_u64)
        .map_or(DEFAULT_MAX_FRAME, |n| n as usize)
}

/// Reads one frame through a channel and decodes it: the body, or the error code.
fn read_one(bin: &[u8], chunk: usize, max_frame: usize) -> Result<Vec<u8>, &'static str> {
    let mut channel = Channel::new(Trickle { data: bin, chunk }, io::sink(), max_frame);
    let body = match channel.read_frame() {
        Ok(Some(body)) => body,
        Ok(None) => return Err("eof"),
        Err(ReadError::Protocol(err)) => return Err(err.code),
        Err(ReadError::Io(err)) => panic!("I/O error from a slice: {err}"),
    };
    protocol::decode_to_worker(body).map_err(|e| e.code)?;
    Ok(body.to_vec())
}

#[test]
fn to_worker_vectors_decode_or_fail_as_described() {
    for v in vectors("to_worker") {
        let max = max_frame(&v.spec);
        for chunk in [usize::MAX, 1, 3] {
            let outcome = read_one(&v.bin, chunk, max);
            if v.spec["valid"].as_bool().unwrap() {
                let body = outcome.unwrap_or_else(|code| panic!("{}: rejected as {code}", v.name));
                let value = msgpack::decode_one(&body).unwrap();
                assert!(
                    matches(&value, &v.spec["message"]),
                    "{}: decoded {value:?}",
                    v.name
                );
            } else {
                let expected = v.spec["error"].as_str().unwrap();
                assert_eq!(outcome.err(), Some(expected), "{} (chunk {chunk})", v.name);
            }
        }
    }
}

#[test]
fn to_worker_valid_vectors_become_typed_messages() {
    for v in vectors("to_worker")
        .into_iter()
        .filter(|v| v.spec["valid"] == Json::Bool(true))
    {
        let m = &v.spec["message"];
        match protocol::decode_to_worker(&v.bin[4..]).unwrap() {
            ToWorker::Shutdown => assert_eq!(m["type"], "shutdown", "{}", v.name),
            ToWorker::Invoke(inv) => {
                assert_eq!(inv.id, m["id"], "{}", v.name);
                assert_eq!(
                    inv.payload,
                    base64(m["payload"]["$bin"].as_str().unwrap()),
                    "{}",
                    v.name
                );
                assert_eq!(
                    Some(inv.deadline_ms),
                    m["deadline_ms"].as_u64().map(i128::from),
                    "{}",
                    v.name
                );
                assert_eq!(inv.function_arn, m["function_arn"], "{}", v.name);
                for (got, key) in [
                    (inv.trace_id, "trace_id"),
                    (inv.client_context, "client_context"),
                    (inv.cognito_identity, "cognito_identity"),
                    (inv.tenant_id, "tenant_id"),
                ] {
                    assert_eq!(got, m[key].as_str(), "{}: {key}", v.name);
                }
            }
        }
    }
}

/// The message as this adapter would build it, or None when the vector
/// holds something the adapter never sends (extra keys, a non-bin payload).
fn as_adapter_message<'a>(
    m: &'a Json,
    stack: &'a mut Vec<String>,
    payload: &'a mut Vec<u8>,
) -> Option<ToSupervisor<'a>> {
    let obj = m.as_object()?;
    let keys = |allowed: &[&str]| {
        obj.keys()
            .all(|k| k == "type" || allowed.contains(&k.as_str()))
    };
    let s = |key: &str| obj.get(key).and_then(Json::as_str);
    if let Some(lines) = obj.get("stack_trace").and_then(Json::as_array) {
        *stack = lines
            .iter()
            .map(|l| l.as_str().unwrap().to_string())
            .collect();
    }
    match s("type")? {
        "ready" if keys(&["protocol", "features"]) && obj["features"] == Json::Array(vec![]) => {
            Some(ToSupervisor::Ready {
                protocol: obj["protocol"].as_u64()? as u32,
                features: &[],
            })
        }
        "ready"
            if keys(&["protocol", "features"])
                && obj["features"] == serde_json::json!(["stream"]) =>
        {
            Some(ToSupervisor::Ready {
                protocol: obj["protocol"].as_u64()? as u32,
                features: protocol::FEATURES,
            })
        }
        "stream_open" if keys(&["id", "content_type"]) && obj.contains_key("content_type") => {
            Some(ToSupervisor::StreamOpen {
                id: s("id")?,
                content_type: s("content_type"),
            })
        }
        "stream_chunk" if keys(&["id", "data"]) => {
            *payload = base64(obj["data"].get("$bin")?.as_str()?);
            Some(ToSupervisor::StreamChunk {
                id: s("id")?,
                data: payload,
            })
        }
        "stream_end" if keys(&["id"]) => Some(ToSupervisor::StreamEnd { id: s("id")? }),
        "init_error" if keys(&["error_type", "error_message", "stack_trace"]) => {
            Some(ToSupervisor::InitError {
                error_type: s("error_type")?,
                error_message: s("error_message")?,
                stack_trace: stack,
            })
        }
        "error" if keys(&["id", "error_type", "error_message", "stack_trace"]) => {
            Some(ToSupervisor::Error {
                id: s("id")?,
                error_type: s("error_type")?,
                error_message: s("error_message")?,
                stack_trace: stack,
            })
        }
        "result" if keys(&["id", "payload"]) => {
            *payload = base64(obj["payload"].get("$bin")?.as_str()?);
            Some(ToSupervisor::Result {
                id: s("id")?,
                payload,
            })
        }
        _ => None,
    }
}

#[test]
fn to_supervisor_messages_reencode_identically() {
    let mut checked = Vec::new();
    for v in vectors("to_supervisor")
        .into_iter()
        .filter(|v| v.spec["valid"] == Json::Bool(true))
    {
        let (mut stack, mut payload) = (Vec::new(), Vec::new());
        let Some(msg) = as_adapter_message(&v.spec["message"], &mut stack, &mut payload) else {
            continue;
        };
        let frame = protocol::encode(&msg);
        let ours = msgpack::decode_one(&frame[4..]).unwrap();
        assert!(
            matches(&ours, &v.spec["message"]),
            "{}: we encode {ours:?}",
            v.name
        );
        if v.spec["canonical"] == Json::Bool(true) {
            assert_eq!(frame, v.bin, "{}: canonical bytes differ", v.name);
        }
        checked.push(v.name);
    }
    for kind in [
        "ready",
        "ready_stream",
        "init_error",
        "result_bin",
        "error",
        "stream_open",
        "stream_open_nil_content_type",
        "stream_chunk_binary",
        "stream_end",
    ] {
        assert!(
            checked.iter().any(|n| n.contains(kind)),
            "no {kind} vector was re-encoded: {checked:?}"
        );
    }
}
