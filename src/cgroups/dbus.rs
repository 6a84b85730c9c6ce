//! One SetUnitProperties call to systemd for the scope's properties that
//! libcgroups cannot send (its D-Bus client is private and its variants
//! have no "ay" or "a(ss)"): a few hundred bytes of D-Bus wire format over
//! the bus socket, little-endian, with the SASL EXTERNAL handshake.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

/// A property value, in the three D-Bus types systemd wants here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// "s"
    Str(String),
    /// "ay" (AllowedCPUs, AllowedMemoryNodes: a bitmask, bit n for CPU n)
    Bytes(Vec<u8>),
    /// "a(ss)" (DeviceAllow: path, access)
    Pairs(Vec<(String, String)>),
}

impl Value {
    fn signature(&self) -> &'static str {
        match self {
            Value::Str(_) => "s",
            Value::Bytes(_) => "ay",
            Value::Pairs(_) => "a(ss)",
        }
    }
}

#[derive(Default)]
struct Enc {
    buf: Vec<u8>,
}

impl Enc {
    fn pad(&mut self, align: usize) {
        while self.buf.len() % align != 0 {
            self.buf.push(0);
        }
    }

    fn u32(&mut self, v: u32) {
        self.pad(4);
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    fn str(&mut self, s: &str) {
        self.u32(s.len() as u32);
        self.buf.extend_from_slice(s.as_bytes());
        self.buf.push(0);
    }

    fn sig(&mut self, s: &str) {
        self.buf.push(s.len() as u8);
        self.buf.extend_from_slice(s.as_bytes());
        self.buf.push(0);
    }

    /// An array whose elements align to `align`: the length counts from
    /// the first element, past the padding that follows the length.
    fn array(&mut self, align: usize, items: impl FnOnce(&mut Enc)) {
        self.u32(0);
        let at = self.buf.len() - 4;
        self.pad(align);
        let start = self.buf.len();
        items(self);
        let len = (self.buf.len() - start) as u32;
        self.buf[at..at + 4].copy_from_slice(&len.to_le_bytes());
    }

    fn value(&mut self, v: &Value) {
        self.sig(v.signature());
        match v {
            Value::Str(s) => self.str(s),
            Value::Bytes(b) => self.array(1, |e| e.buf.extend_from_slice(b)),
            Value::Pairs(p) => self.array(8, |e| {
                for (a, b) in p {
                    e.pad(8);
                    e.str(a);
                    e.str(b);
                }
            }),
        }
    }
}

const CALL: u8 = 1;
const RETURN: u8 = 2;
const ERROR: u8 = 3;

/// A method call message; `body` holds the arguments of `signature`.
fn call(serial: u32, dest: &str, path: &str, iface: &str, member: &str, sig: &str, body: &[u8]) -> Vec<u8> {
    let mut e = Enc::default();
    e.buf.extend_from_slice(&[b'l', CALL, 0, 1]);
    e.u32(body.len() as u32);
    e.u32(serial);
    e.array(8, |e| {
        let field = |e: &mut Enc, code: u8, t: &str, v: &str| {
            e.pad(8);
            e.buf.push(code);
            e.sig(t);
            if t == "g" { e.sig(v) } else { e.str(v) }
        };
        field(e, 1, "o", path);
        field(e, 2, "s", iface);
        field(e, 3, "s", member);
        field(e, 6, "s", dest);
        if !sig.is_empty() {
            field(e, 8, "g", sig);
        }
    });
    e.pad(8);
    e.buf.extend_from_slice(body);
    e.buf
}

/// SetUnitProperties(unit, runtime=true, properties) as a message.
pub fn set_unit_properties(serial: u32, unit: &str, props: &[(&str, Value)]) -> Vec<u8> {
    let mut body = Enc::default();
    body.str(unit);
    body.u32(1);
    body.array(8, |e| {
        for (name, v) in props {
            e.pad(8);
            e.str(name);
            e.value(v);
        }
    });
    call(
        serial,
        "org.freedesktop.systemd1",
        "/org/freedesktop/systemd1",
        "org.freedesktop.systemd1.Manager",
        "SetUnitProperties",
        "sba(sv)",
        &body.buf,
    )
}

/// Where a reply stands: its type, the serial it answers, and for an error
/// its name and message.
#[derive(Debug, PartialEq, Eq)]
struct Reply {
    kind: u8,
    reply_to: Option<u32>,
    error: String,
}

/// Reads one message's header fields (REPLY_SERIAL, ERROR_NAME) and, for
/// an error with a string body, its text. None when malformed.
fn parse(msg: &[u8]) -> Option<Reply> {
    let le = match msg.first()? {
        b'l' => true,
        b'B' => false,
        _ => return None,
    };
    let u32_at = |at: usize| -> Option<u32> {
        let b: [u8; 4] = msg.get(at..at + 4)?.try_into().ok()?;
        Some(if le { u32::from_le_bytes(b) } else { u32::from_be_bytes(b) })
    };
    let align = |at: usize, n: usize| at.div_ceil(n) * n;
    let kind = *msg.get(1)?;
    let fields_end = 16usize.checked_add(u32_at(12)? as usize)?;
    let (mut reply_to, mut name, mut sig) = (None, String::new(), String::new());
    let mut at = 16;
    while at < fields_end {
        at = align(at, 8);
        let code = *msg.get(at)?;
        let tlen = *msg.get(at + 1)? as usize;
        let t = msg.get(at + 2..at + 2 + tlen)?.to_vec();
        at += 3 + tlen;
        match t.as_slice() {
            b"s" | b"o" => {
                at = align(at, 4);
                let len = u32_at(at)? as usize;
                let s = String::from_utf8_lossy(msg.get(at + 4..at + 4 + len)?).into_owned();
                if code == 4 {
                    name = s;
                }
                at += 5 + len;
            }
            b"g" => {
                let len = *msg.get(at)? as usize;
                let s = String::from_utf8_lossy(msg.get(at + 1..at + 1 + len)?).into_owned();
                if code == 8 {
                    sig = s;
                }
                at += 2 + len;
            }
            b"u" => {
                at = align(at, 4);
                if code == 5 {
                    reply_to = Some(u32_at(at)?);
                }
                at += 4;
            }
            _ => return None,
        }
    }
    let mut error = name;
    if kind == ERROR && sig.starts_with('s') {
        let body = align(fields_end, 8);
        let len = u32_at(body)? as usize;
        let text = msg.get(body + 4..body + 4 + len)?;
        error = format!("{error}: {}", String::from_utf8_lossy(text));
    }
    Some(Reply { kind, reply_to, error })
}

/// Sends `props` to the system manager (`system`) or the user's own, and
/// waits for systemd's answer. Errors are one line.
pub fn set_properties(system: bool, unit: &str, props: &[(&str, Value)]) -> Result<(), String> {
    let (path, uid, hello) = address(system)?;
    let mut sock = UnixStream::connect(&path).map_err(|e| format!("connect {path}: {e}"))?;
    let timeout = Some(Duration::from_secs(10));
    let io = |e: std::io::Error| format!("{path}: {e}");
    sock.set_read_timeout(timeout).map_err(io)?;
    let hex: String = uid.to_string().bytes().map(|b| format!("{b:02x}")).collect();
    sock.write_all(format!("\0AUTH EXTERNAL {hex}\r\n").as_bytes())
        .map_err(io)?;
    let mut reader = BufReader::new(sock.try_clone().map_err(io)?);
    let mut line = String::new();
    reader.read_line(&mut line).map_err(io)?;
    if !line.starts_with("OK ") {
        return Err(format!("{path}: authentication as uid {uid} refused: {}", line.trim()));
    }
    let mut out = b"BEGIN\r\n".to_vec();
    if hello {
        out.extend(call(1, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "Hello", "", &[]));
    }
    out.extend(set_unit_properties(2, unit, props));
    sock.write_all(&out).map_err(io)?;
    loop {
        let mut head = [0u8; 16];
        reader.read_exact(&mut head).map_err(io)?;
        let le = head[0] == b'l';
        let num = |b: &[u8]| {
            let b: [u8; 4] = b.try_into().unwrap_or_default();
            (if le { u32::from_le_bytes(b) } else { u32::from_be_bytes(b) }) as usize
        };
        let (body, fields) = (num(&head[4..8]), num(&head[12..16]));
        let total = (16 + fields).div_ceil(8) * 8 + body;
        if total > 1 << 20 {
            return Err(format!("{path}: a message of {total} bytes"));
        }
        let mut msg = head.to_vec();
        msg.resize(total, 0);
        reader.read_exact(&mut msg[16..]).map_err(io)?;
        let reply = parse(&msg).ok_or_else(|| format!("{path}: a malformed message"))?;
        match (reply.kind, reply.reply_to) {
            (ERROR, Some(_)) => return Err(reply.error),
            (RETURN, Some(2)) => return Ok(()),
            _ => {}
        }
    }
}

/// The socket, the uid to authenticate as, and whether it is a bus (which
/// wants Hello first) rather than systemd's own private socket.
fn address(system: bool) -> Result<(String, u32, bool), String> {
    let from_env = |var: &str| {
        std::env::var(var).ok().and_then(|a| {
            a.split(';').find_map(|one| one.strip_prefix("unix:path=").map(|p| p.split(',').next().unwrap_or(p).to_string()))
        })
    };
    if system {
        let bus = from_env("DBUS_SYSTEM_BUS_ADDRESS").unwrap_or_else(|| "/run/dbus/system_bus_socket".into());
        if std::path::Path::new(&bus).exists() {
            return Ok((bus, 0, true));
        }
        return Ok(("/run/systemd/private".into(), 0, false));
    }
    let bus = match from_env("DBUS_SESSION_BUS_ADDRESS") {
        Some(bus) => bus,
        None => {
            let dir = std::env::var("XDG_RUNTIME_DIR")
                .map_err(|_| "neither DBUS_SESSION_BUS_ADDRESS nor XDG_RUNTIME_DIR is set".to_string())?;
            format!("{dir}/bus")
        }
    };
    Ok((bus, outer_uid()?, true))
}

/// Our uid as the bus sees it: the kernel reports the peer's uid in the
/// bus's user namespace, so in ours (rootless podman) it is the outer one.
fn outer_uid() -> Result<u32, String> {
    let uid = nix::unistd::geteuid().as_raw();
    let map = std::fs::read_to_string("/proc/self/uid_map")
        .map_err(|e| format!("/proc/self/uid_map: {e}"))?;
    map_uid(&map, uid).ok_or_else(|| format!("/proc/self/uid_map does not map uid {uid}"))
}

fn map_uid(map: &str, uid: u32) -> Option<u32> {
    map.lines().find_map(|l| {
        let f: Vec<u64> = l.split_whitespace().filter_map(|n| n.parse().ok()).collect();
        let [inside, outside, count] = f[..] else {
            return None;
        };
        let uid = u64::from(uid);
        (uid >= inside && uid - inside < count).then(|| u32::try_from(outside + uid - inside).ok())?
    })
}

/// "0-2,5" as systemd's CPU bitmask (bit n of byte n/8 for CPU n); None
/// for a malformed list or a CPU past 8191 (the kernel's NR_CPUS limit).
pub fn cpu_mask(list: &str) -> Option<Vec<u8>> {
    let mut mask = Vec::new();
    for part in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let (a, b): (usize, usize) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
        if a > b || b > 8191 {
            return None;
        }
        if mask.len() <= b / 8 {
            mask.resize(b / 8 + 1, 0);
        }
        for n in a..=b {
            mask[n / 8] |= 1 << (n % 8);
        }
    }
    Some(mask)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_set_unit_properties() {
        let props = [
            ("Description", Value::Str("x".into())),
            ("AllowedCPUs", Value::Bytes(vec![3])),
            ("DeviceAllow", Value::Pairs(vec![("/dev/null".into(), "rw".into())])),
        ];
        let msg = set_unit_properties(7, "a.scope", &props);
        assert_eq!(&msg[..4], &[b'l', CALL, 0, 1]);
        assert_eq!(u32::from_le_bytes(msg[8..12].try_into().unwrap()), 7);
        let fields = u32::from_le_bytes(msg[12..16].try_into().unwrap()) as usize;
        let body_at = (16 + fields).div_ceil(8) * 8;
        let body_len = u32::from_le_bytes(msg[4..8].try_into().unwrap()) as usize;
        assert_eq!(msg.len(), body_at + body_len);
        let body = &msg[body_at..];
        // "a.scope", true, then the array's length and its first entry.
        assert_eq!(&body[..16], b"\x07\0\0\0a.scope\0\x01\0\0\0");
        let array_len = u32::from_le_bytes(body[16..20].try_into().unwrap()) as usize;
        assert_eq!(body.len(), 24 + array_len, "the length excludes the padding to 8");
        assert_eq!(&body[24..40], b"\x0b\0\0\0Description\0");
        assert_eq!(&body[40..48], b"\x01s\0\0\x01\0\0\0");
        let text = String::from_utf8_lossy(body);
        assert!(text.contains("\x02ay\0\x01\0\0\0\x03"), "{text:?}");
        assert!(text.contains("\x05a(ss)\0"), "{text:?}");
        assert!(msg.windows(17).any(|w| w == b"SetUnitProperties"));
        // The header fields parse back, and the reply parser reads our own.
        let r = parse(&msg).unwrap();
        assert_eq!((r.kind, r.reply_to), (CALL, None));
    }

    #[test]
    fn parses_an_error_reply() {
        let mut e = Enc::default();
        e.buf.extend_from_slice(&[b'l', ERROR, 1, 1]);
        let body = {
            let mut b = Enc::default();
            b.str("no such unit");
            b.buf
        };
        e.u32(body.len() as u32);
        e.u32(9);
        e.array(8, |e| {
            e.pad(8);
            e.buf.push(4);
            e.sig("s");
            e.str("org.freedesktop.systemd1.NoSuchUnit");
            e.pad(8);
            e.buf.push(5);
            e.sig("u");
            e.u32(2);
            e.pad(8);
            e.buf.push(8);
            e.sig("g");
            e.sig("s");
        });
        e.pad(8);
        e.buf.extend(body);
        let r = parse(&e.buf).unwrap();
        assert_eq!(r.kind, ERROR);
        assert_eq!(r.reply_to, Some(2));
        assert_eq!(r.error, "org.freedesktop.systemd1.NoSuchUnit: no such unit");
        assert!(parse(&e.buf[..20]).is_none());
        assert!(parse(b"x").is_none());
    }

    #[test]
    fn cpu_lists_become_masks() {
        assert_eq!(cpu_mask("0"), Some(vec![1]));
        assert_eq!(cpu_mask("0-2,9"), Some(vec![7, 2]));
        assert_eq!(cpu_mask(""), Some(vec![]));
        assert_eq!(cpu_mask(" 1 , 3 "), Some(vec![10]));
        for bad in ["a", "3-1", "0-", "99999", "1-4294967296"] {
            assert_eq!(cpu_mask(bad), None, "{bad}");
        }
    }

    #[test]
    fn maps_the_uid_outward() {
        assert_eq!(map_uid("0 1000 1\n1 100000 65536\n", 0), Some(1000));
        assert_eq!(map_uid("0 1000 1\n1 100000 65536\n", 5), Some(100004));
        assert_eq!(map_uid("0 0 4294967295\n", 0), Some(0));
        assert_eq!(map_uid("0 1000 1\n", 1), None);
    }
}
