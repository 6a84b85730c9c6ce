//! linux.netDevices: host network devices moved into the container's
//! network namespace by the runtime, once the init has reported ready (its
//! network namespace exists, the program has not started), over rtnetlink.
//!
//! Moving a device to another namespace makes the kernel drop its
//! addresses: the permanent global ones are read first and added again
//! inside, then the device is set up. Nothing is done at delete: the
//! namespace's end returns physical devices to the host and destroys
//! virtual ones, as the spec describes.

use std::collections::BTreeSet;
use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use nix::sched::{CloneFlags, setns};
use nix::sys::socket::{AddressFamily, MsgFlags, SockFlag, SockProtocol, SockType};
use oci_spec::runtime::Spec;

use crate::error::{Error, Result};

const RTM_NEWLINK: u16 = 16;
const RTM_GETLINK: u16 = 18;
const RTM_NEWADDR: u16 = 20;
const RTM_GETADDR: u16 = 22;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_DUMP: u16 = 0x300;
const NLM_F_EXCL: u16 = 0x200;
const NLM_F_CREATE: u16 = 0x400;
const IFLA_IFNAME: u16 = 3;
const IFLA_NET_NS_FD: u16 = 28;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFA_BROADCAST: u16 = 4;
const IFA_FLAGS: u16 = 8;
const IFA_F_PERMANENT: u32 = 0x80;
const RT_SCOPE_UNIVERSE: u8 = 0;
const IFF_UP: u32 = 1;
/// nlmsghdr, ifinfomsg and ifaddrmsg sizes.
const NLMSG_HDR: usize = 16;
const IFINFOMSG: usize = 16;
const IFADDRMSG: usize = 8;

/// Checks the devices' names and that the container has a network
/// namespace of its own to move them into.
pub fn validate(spec: &Spec, own_netns: bool) -> Result<()> {
    let Some(devices) = spec.linux().as_ref().and_then(|l| l.net_devices().as_ref()) else {
        return Ok(());
    };
    if !devices.is_empty() && !own_netns {
        return Err(Error::config(
            "linux.netDevices",
            "needs a network namespace of the container's own (linux.namespaces)",
        ));
    }
    for (host, dev) in devices {
        check_name(&format!("linux.netDevices.{host}"), host)?;
        if let Some(name) = dev.name() {
            check_name(&format!("linux.netDevices.{host}.name"), name)?;
        }
    }
    Ok(())
}

/// What the kernel takes as an interface name (dev_valid_name).
fn check_name(field: &str, name: &str) -> Result<()> {
    let bad = name.is_empty()
        || name.len() > 15
        || name == "."
        || name == ".."
        || name
            .chars()
            .any(|c| c == '/' || c == ':' || c.is_whitespace());
    if bad {
        return Err(Error::config(
            field,
            format!("{name:?} is not a valid interface name"),
        ));
    }
    Ok(())
}

/// Moves every configured device into the network namespace of `pid`.
pub fn move_all(spec: &Spec, pid: i32) -> Result<()> {
    let Some(devices) = spec.linux().as_ref().and_then(|l| l.net_devices().as_ref()) else {
        return Ok(());
    };
    if devices.is_empty() {
        return Ok(());
    }
    let ns_path = format!("/proc/{pid}/ns/net");
    let target = File::open(&ns_path).map_err(|e| Error::path("open", &ns_path, e))?;
    let host = Netlink::open()?;
    let inside = Netlink::open_in(&target)?;
    // Sorted, so devices move in the same order on every run.
    let mut names: Vec<&String> = devices.keys().collect();
    names.sort();
    for host_name in names {
        let field = format!("linux.netDevices.{host_name}");
        let new_name = devices[host_name].name().as_deref().unwrap_or(host_name);
        move_one(&host, &inside, &target, host_name, new_name)
            .map_err(|reason| Error::config(&field, reason))?;
    }
    Ok(())
}

fn move_one(
    host: &Netlink,
    inside: &Netlink,
    target: &File,
    name: &str,
    new_name: &str,
) -> std::result::Result<(), String> {
    let index = host
        .links()?
        .into_iter()
        .find(|(_, n)| n == name)
        .map(|(i, _)| i)
        .ok_or_else(|| format!("no network device {name} in the runtime's network namespace"))?;
    let addresses = host.addresses(index)?;
    let inside_links = inside.links()?;
    // Checked before the move: the kernel moves the device first and
    // renames it after, so a clash would leave it moved under its old name.
    if !new_name.contains("%d") && inside_links.iter().any(|(_, n)| n == new_name) {
        return Err(exists(new_name));
    }
    let before: BTreeSet<i32> = inside_links.into_iter().map(|(i, _)| i).collect();
    let mut m = Message::new(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK);
    m.ifinfo(index, 0, 0);
    m.attr(IFLA_NET_NS_FD, &(target.as_raw_fd() as u32).to_ne_bytes());
    let mut ifname = new_name.as_bytes().to_vec();
    ifname.push(0);
    m.attr(IFLA_IFNAME, &ifname);
    host.request(&m).map_err(|e| match e {
        nix::errno::Errno::EEXIST => exists(new_name),
        e => format!("move {name} into the container's network namespace as {new_name}: {e}"),
    })?;
    // The device may get another index there, and with a %d template
    // another name: it is the one link that was not there before.
    let (new_index, final_name) = inside
        .links()?
        .into_iter()
        .find(|(i, _)| !before.contains(i))
        .ok_or_else(|| {
            format!("{name} is not in the container's network namespace after the move")
        })?;
    for a in &addresses {
        let mut m = Message::new(
            RTM_NEWADDR,
            NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
        );
        m.ifaddr(a.family, a.prefix_len, a.scope, new_index);
        for (kind, value) in &a.attrs {
            m.attr(*kind, value);
        }
        inside
            .request(&m)
            .map_err(|e| format!("add an address of {name} back on {final_name}: {e}"))?;
    }
    let mut m = Message::new(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK);
    m.ifinfo(new_index, IFF_UP, IFF_UP);
    inside
        .request(&m)
        .map_err(|e| format!("set {final_name} up: {e}"))
}

/// Sets the loopback device of a network namespace just made (ours) up,
/// as runc does: a process there expects to reach 127.0.0.1. The kernel
/// gives `lo` index 1 in every namespace.
pub fn loopback_up() -> Result<()> {
    const LOOPBACK_INDEX: i32 = 1;
    let mut m = Message::new(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK);
    m.ifinfo(LOOPBACK_INDEX, IFF_UP, IFF_UP);
    Netlink::open()?
        .request(&m)
        .map_err(|e| Error::sys("set lo up in the new network namespace", e))
}

fn exists(name: &str) -> String {
    format!(
        "a device named {name} already exists in the container's network namespace (end the name with %d for one the kernel numbers)"
    )
}

/// A permanent global address of a device, as RTM_NEWADDR takes it back.
struct Address {
    family: u8,
    prefix_len: u8,
    scope: u8,
    attrs: Vec<(u16, Vec<u8>)>,
}

/// A route netlink socket, bound to the network namespace it was made in.
struct Netlink(OwnedFd);

impl Netlink {
    fn open() -> Result<Netlink> {
        nix::sys::socket::socket(
            AddressFamily::Netlink,
            SockType::Raw,
            SockFlag::SOCK_CLOEXEC,
            SockProtocol::NetlinkRoute,
        )
        .map(Netlink)
        .map_err(|e| Error::sys("open a netlink socket", e))
    }

    /// A socket in the namespace `ns`: made after entering it, then the
    /// runtime goes back to its own (it is single-threaded here).
    fn open_in(ns: &File) -> Result<Netlink> {
        let own = File::open("/proc/self/ns/net")
            .map_err(|e| Error::path("open", "/proc/self/ns/net", e))?;
        setns(ns.as_fd(), CloneFlags::CLONE_NEWNET)
            .map_err(|e| Error::sys("enter the container's network namespace", e))?;
        let sock = Netlink::open();
        setns(own.as_fd(), CloneFlags::CLONE_NEWNET)
            .map_err(|e| Error::sys("return to the runtime's network namespace", e))?;
        sock
    }

    /// Sends one request and waits for its acknowledgement.
    fn request(&self, m: &Message) -> std::result::Result<(), nix::errno::Errno> {
        nix::sys::socket::send(self.0.as_raw_fd(), &m.finish(), MsgFlags::empty())?;
        let mut buf = vec![0u8; 8192];
        loop {
            let n = nix::sys::socket::recv(self.0.as_raw_fd(), &mut buf, MsgFlags::empty())?;
            for (kind, payload) in messages(&buf[..n]) {
                if kind == NLMSG_ERROR {
                    let code = payload
                        .get(..4)
                        .map_or(0, |b| i32::from_ne_bytes(b.try_into().unwrap_or_default()));
                    return if code == 0 {
                        Ok(())
                    } else {
                        Err(nix::errno::Errno::from_raw(-code))
                    };
                }
            }
        }
    }

    /// Sends a dump request; returns each answer's payload.
    fn dump(&self, m: &Message) -> std::result::Result<Vec<(u16, Vec<u8>)>, String> {
        nix::sys::socket::send(self.0.as_raw_fd(), &m.finish(), MsgFlags::empty())
            .map_err(|e| format!("netlink dump: {e}"))?;
        let mut out = Vec::new();
        let mut buf = vec![0u8; 32768];
        loop {
            let n = nix::sys::socket::recv(self.0.as_raw_fd(), &mut buf, MsgFlags::empty())
                .map_err(|e| format!("netlink dump: {e}"))?;
            for (kind, payload) in messages(&buf[..n]) {
                match kind {
                    NLMSG_DONE => return Ok(out),
                    NLMSG_ERROR => {
                        let code = payload
                            .get(..4)
                            .map_or(0, |b| i32::from_ne_bytes(b.try_into().unwrap_or_default()));
                        return Err(format!(
                            "netlink dump: {}",
                            nix::errno::Errno::from_raw(-code)
                        ));
                    }
                    _ => out.push((kind, payload.to_vec())),
                }
            }
        }
    }

    /// Every link of the namespace: index and name.
    fn links(&self) -> std::result::Result<Vec<(i32, String)>, String> {
        let mut m = Message::new(RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP);
        m.ifinfo(0, 0, 0);
        Ok(self
            .dump(&m)?
            .into_iter()
            .filter(|(kind, p)| *kind == RTM_NEWLINK && p.len() >= IFINFOMSG)
            .map(|(_, p)| {
                let index = i32::from_ne_bytes(p[4..8].try_into().unwrap_or_default());
                let name = attrs(&p[IFINFOMSG..])
                    .find(|(k, _)| *k == IFLA_IFNAME)
                    .map(|(_, v)| {
                        String::from_utf8_lossy(v.split(|b| *b == 0).next().unwrap_or_default())
                            .into_owned()
                    })
                    .unwrap_or_default();
                (index, name)
            })
            .collect())
    }

    /// The permanent addresses of global scope on link `index`.
    fn addresses(&self, index: i32) -> std::result::Result<Vec<Address>, String> {
        let mut m = Message::new(RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP);
        m.ifaddr(0, 0, 0, 0);
        let mut out = Vec::new();
        for (kind, p) in self.dump(&m)? {
            if kind != RTM_NEWADDR || p.len() < IFADDRMSG {
                continue;
            }
            let (family, prefix_len, flags, scope) = (p[0], p[1], p[2], p[3]);
            let link = u32::from_ne_bytes(p[4..8].try_into().unwrap_or_default());
            let mut all_flags = u32::from(flags);
            let mut keep = Vec::new();
            for (k, v) in attrs(&p[IFADDRMSG..]) {
                match k {
                    IFA_FLAGS if v.len() >= 4 => {
                        all_flags = u32::from_ne_bytes(v[..4].try_into().unwrap_or_default());
                    }
                    IFA_ADDRESS | IFA_LOCAL | IFA_BROADCAST => keep.push((k, v.to_vec())),
                    _ => {}
                }
            }
            if link == index as u32
                && scope == RT_SCOPE_UNIVERSE
                && all_flags & IFA_F_PERMANENT != 0
            {
                out.push(Address {
                    family,
                    prefix_len,
                    scope,
                    attrs: keep,
                });
            }
        }
        Ok(out)
    }
}

/// The messages in one datagram: type and payload.
fn messages(mut buf: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        if buf.len() < NLMSG_HDR {
            return None;
        }
        let len = u32::from_ne_bytes(buf[0..4].try_into().ok()?) as usize;
        let kind = u16::from_ne_bytes(buf[4..6].try_into().ok()?);
        if len < NLMSG_HDR || len > buf.len() {
            return None;
        }
        let payload = &buf[NLMSG_HDR..len];
        buf = &buf[align(len).min(buf.len())..];
        Some((kind, payload))
    })
}

/// The attributes (rtattr) in `buf`: type and value.
fn attrs(mut buf: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        if buf.len() < 4 {
            return None;
        }
        let len = u16::from_ne_bytes(buf[0..2].try_into().ok()?) as usize;
        let kind = u16::from_ne_bytes(buf[2..4].try_into().ok()?);
        if len < 4 || len > buf.len() {
            return None;
        }
        let value = &buf[4..len];
        buf = &buf[align(len).min(buf.len())..];
        Some((kind, value))
    })
}

fn align(n: usize) -> usize {
    (n + 3) & !3
}

/// One request being built: header, then the family message, then
/// attributes.
struct Message {
    bytes: Vec<u8>,
}

impl Message {
    fn new(kind: u16, flags: u16) -> Message {
        let mut bytes = vec![0u8; NLMSG_HDR];
        bytes[4..6].copy_from_slice(&kind.to_ne_bytes());
        bytes[6..8].copy_from_slice(&flags.to_ne_bytes());
        bytes[8..12].copy_from_slice(&1u32.to_ne_bytes());
        Message { bytes }
    }

    /// ifinfomsg: AF_UNSPEC, the link, flags and the mask of flags to change.
    fn ifinfo(&mut self, index: i32, flags: u32, change: u32) {
        let mut b = [0u8; IFINFOMSG];
        b[4..8].copy_from_slice(&index.to_ne_bytes());
        b[8..12].copy_from_slice(&flags.to_ne_bytes());
        b[12..16].copy_from_slice(&change.to_ne_bytes());
        self.bytes.extend_from_slice(&b);
    }

    /// ifaddrmsg: family, prefix length, scope and link.
    fn ifaddr(&mut self, family: u8, prefix_len: u8, scope: u8, index: i32) {
        let mut b = [0u8; IFADDRMSG];
        b[0] = family;
        b[1] = prefix_len;
        b[3] = scope;
        b[4..8].copy_from_slice(&(index as u32).to_ne_bytes());
        self.bytes.extend_from_slice(&b);
    }

    fn attr(&mut self, kind: u16, value: &[u8]) {
        let len = 4 + value.len();
        self.bytes.extend_from_slice(&(len as u16).to_ne_bytes());
        self.bytes.extend_from_slice(&kind.to_ne_bytes());
        self.bytes.extend_from_slice(value);
        self.bytes.resize(align(self.bytes.len()), 0);
    }

    /// The bytes to send, with the total length filled in.
    fn finish(&self) -> Vec<u8> {
        let mut b = self.bytes.clone();
        let len = b.len() as u32;
        b[0..4].copy_from_slice(&len.to_ne_bytes());
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_and_reads_messages() {
        let mut m = Message::new(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK);
        m.ifinfo(7, IFF_UP, IFF_UP);
        m.attr(IFLA_IFNAME, b"eth0\0");
        let bytes = m.finish();
        // header 16 + ifinfomsg 16 + attribute 4 + 5, padded to 8.
        assert_eq!(bytes.len(), 16 + 16 + 12);
        let all: Vec<_> = messages(&bytes).collect();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].0, RTM_NEWLINK);
        let a: Vec<_> = attrs(&all[0].1[IFINFOMSG..]).collect();
        assert_eq!(a, vec![(IFLA_IFNAME, &b"eth0\0"[..])]);
    }

    #[test]
    fn interface_names() {
        for ok in ["eth0", "net%d", "a-very-long-nam"] {
            check_name("f", ok).unwrap();
        }
        for bad in ["", "a/b", "a b", "a:b", "..", "sixteen-chars-xx"] {
            assert!(check_name("f", bad).is_err(), "{bad}");
        }
    }
}
