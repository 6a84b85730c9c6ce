//! Which JSON field a parse error is about. serde_json tells where in the
//! text it stopped (line and column); this walks the text up to there and
//! names the field (`process.user.uid`, `mounts[2].destination`).
//!
//! serde_path_to_error does this by wrapping the deserializer, which
//! stamps a second copy of every oci-spec type's parsing code into the
//! binary (a tenth of it, paid at every exec of the runtime), to serve
//! only the error path. Walking the text again after a failure costs
//! nothing until then.

use serde::de::DeserializeOwned;

/// Parses `bytes` as a T; on failure, the path of the field the error is
/// about ("." for the document itself) and serde_json's error.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, (String, serde_json::Error)> {
    serde_json::from_slice(bytes).map_err(|e| {
        // A document cut short is the file's fault, not the field it
        // happened to end in.
        let path = if e.is_eof() {
            ".".to_string()
        } else {
            path_at(bytes, offset(bytes, &e))
        };
        (path, e)
    })
}

/// The byte offset of the error's line and column (both counted from 1;
/// the column is the last byte serde_json read).
fn offset(bytes: &[u8], e: &serde_json::Error) -> usize {
    let line_start = if e.line() <= 1 {
        0
    } else {
        bytes
            .iter()
            .enumerate()
            .filter(|(_, b)| **b == b'\n')
            .nth(e.line() - 2)
            .map_or(bytes.len(), |(i, _)| i + 1)
    };
    (line_start + e.column()).saturating_sub(1).min(bytes.len())
}

/// One open object or array on the way to the error.
enum Frame {
    /// An object, with the key of its member being read.
    Object(Option<String>),
    /// An array, with the index of its element being read.
    Array(usize),
}

/// The path of the value being read at byte `at`: the innermost value that
/// contains it, or the one that ended there (serde_json reports a type
/// error after reading the value, a missing field after the closing brace).
fn path_at(bytes: &[u8], at: usize) -> String {
    let mut stack: Vec<Frame> = Vec::new();
    // The path of the last value completed before `at`.
    let mut ended: Option<String> = None;
    let mut i = 0;
    while i < bytes.len() && i <= at {
        let b = bytes[i];
        match b {
            // An error at an opening bracket is about the container itself
            // (an array where an object belongs, say).
            b'{' | b'[' if i >= at => return render(&stack),
            b'{' => {
                stack.push(Frame::Object(None));
                ended = None;
            }
            b'[' => {
                stack.push(Frame::Array(0));
                ended = None;
            }
            b'}' | b']' => {
                stack.pop();
                ended = Some(render(&stack));
            }
            b',' => {
                if let Some(Frame::Array(n)) = stack.last_mut() {
                    *n += 1;
                } else if let Some(Frame::Object(key)) = stack.last_mut() {
                    *key = None;
                }
                ended = None;
            }
            b'"' => {
                let (s, end) = string(bytes, i);
                i = end;
                match stack.last_mut() {
                    Some(Frame::Object(key @ None)) => *key = Some(s),
                    _ => ended = Some(render(&stack)),
                }
            }
            b if b.is_ascii_whitespace() || b == b':' => {}
            _ => {
                // A number, true, false or null: up to its last byte.
                while i + 1 < bytes.len() && !b",}] \t\r\n".contains(&bytes[i + 1]) {
                    i += 1;
                }
                if i >= at {
                    return render(&stack);
                }
                ended = Some(render(&stack));
            }
        }
        if i >= at {
            return ended.unwrap_or_else(|| render(&stack));
        }
        i += 1;
    }
    ended.unwrap_or_else(|| render(&stack))
}

/// The string starting at the quote at `start`: its text (escapes kept as
/// written, which a field name never has) and the index of its last byte.
fn string(bytes: &[u8], start: usize) -> (String, usize) {
    let mut i = start + 1;
    while i < bytes.len() && bytes[i] != b'"' {
        i += if bytes[i] == b'\\' { 2 } else { 1 };
    }
    let end = i.min(bytes.len());
    let text = String::from_utf8_lossy(&bytes[start + 1..end]).into_owned();
    (text, end)
}

fn render(stack: &[Frame]) -> String {
    let mut path = String::new();
    for f in stack {
        match f {
            Frame::Object(Some(key)) => {
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(key);
            }
            Frame::Object(None) => {}
            Frame::Array(n) => path.push_str(&format!("[{n}]")),
        }
    }
    if path.is_empty() { ".".into() } else { path }
}

#[cfg(test)]
mod tests {
    use oci_spec::runtime::Spec;

    fn path_of(json: &str) -> String {
        match super::parse::<Spec>(json.as_bytes()) {
            Ok(_) => panic!("{json} parsed"),
            Err((path, _)) => path,
        }
    }

    #[test]
    fn names_the_field_of_a_wrong_value() {
        let cases = [
            (r#"{"ociVersion": 1}"#, "ociVersion"),
            (
                r#"{"ociVersion":"1.0.0","process":{"cwd":"/","user":{"uid":"x","gid":0}}}"#,
                "process.user.uid",
            ),
            (
                "{\n \"ociVersion\": \"1.0.0\",\n \"process\": {\n  \"cwd\": \"/\",\n  \"user\": {\"uid\": -1, \"gid\": 0}\n }\n}",
                "process.user.uid",
            ),
            (
                r#"{"ociVersion":"1.0.0","mounts":[{"destination":"/a"},{"destination":7}]}"#,
                "mounts[1].destination",
            ),
            (
                r#"{"ociVersion":"1.0.0","linux":{"namespaces":[{"type":"bogus"}]}}"#,
                "linux.namespaces[0].type",
            ),
            (
                r#"{"ociVersion":"1.0.0","linux":{"resources":{"memory":{"limit":"1g"}}}}"#,
                "linux.resources.memory.limit",
            ),
            (
                r#"{"ociVersion":"1.0.0","mounts":[{"type":"bind"}]}"#,
                "mounts[0]",
            ),
            (r#"{"ociVersion":"1.0.0","#, "."),
            // A struct may come as an array of its fields, in order.
            (r#"[1]"#, "[0]"),
            (r#"{"ociVersion":"1.0.0","mounts":{}}"#, "mounts"),
            ("", "."),
        ];
        for (json, want) in cases {
            assert_eq!(path_of(json), want, "{json}");
        }
    }

    #[test]
    fn a_truncated_string_or_a_stray_byte_is_no_panic() {
        for json in [
            r#"{"a"#,
            r#"{"a\"#,
            "{\"a\":\"\\",
            "\"",
            "{]",
            "]]]",
            "{\"a\":tru",
        ] {
            let _ = path_of(json);
        }
    }
}
