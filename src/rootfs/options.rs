//! Mount options as the runtime-spec and mount(8) spell them, split into
//! what each kernel interface takes: mount(2) flags, propagation changes,
//! recursive attributes (mount_setattr) and the filesystem's data string.

use nix::mount::MsFlags;

/// MOUNT_ATTR_* values (linux/mount.h).
pub mod attr {
    pub const RDONLY: u64 = 0x1;
    pub const NOSUID: u64 = 0x2;
    pub const NODEV: u64 = 0x4;
    pub const NOEXEC: u64 = 0x8;
    pub const ATIME_MASK: u64 = 0x70;
    pub const RELATIME: u64 = 0x0;
    pub const NOATIME: u64 = 0x10;
    pub const STRICTATIME: u64 = 0x20;
    pub const NODIRATIME: u64 = 0x80;
    pub const NOSYMFOLLOW: u64 = 0x200000;
}

/// Every option name berth understands (reported by `berth features`);
/// anything else is passed to the filesystem as data.
pub const NAMES: &[&str] = &[
    "async",
    "atime",
    "bind",
    "defaults",
    "dev",
    "diratime",
    "dirsync",
    "exec",
    "idmap",
    "iversion",
    "lazytime",
    "loud",
    "mand",
    "noatime",
    "nodev",
    "nodiratime",
    "noexec",
    "noiversion",
    "nolazytime",
    "nomand",
    "norelatime",
    "nostrictatime",
    "nosuid",
    "nosymfollow",
    "private",
    "ratime",
    "rbind",
    "rdev",
    "rdiratime",
    "relatime",
    "remount",
    "rexec",
    "ridmap",
    "rnoatime",
    "rnodev",
    "rnodiratime",
    "rnoexec",
    "rnorelatime",
    "rnostrictatime",
    "rnosuid",
    "rnosymfollow",
    "ro",
    "rprivate",
    "rrelatime",
    "rro",
    "rrw",
    "rshared",
    "rslave",
    "rstrictatime",
    "rsuid",
    "rsymfollow",
    "runbindable",
    "rw",
    "shared",
    "silent",
    "slave",
    "strictatime",
    "suid",
    "symfollow",
    "sync",
    "unbindable",
];

#[derive(Debug, PartialEq, Eq)]
pub struct Options {
    /// Flags for mount(2).
    pub flags: MsFlags,
    /// Flags the options explicitly cleared (rw, suid, ...): a bind remount
    /// must not re-add them from the source mount.
    pub cleared: MsFlags,
    /// Propagation changes, applied one by one after the mount.
    pub propagation: Vec<MsFlags>,
    /// Recursive attributes to set and clear with mount_setattr.
    pub attr_set: u64,
    pub attr_clr: u64,
    /// Options the filesystem itself parses, comma-joined.
    pub data: String,
    /// "idmap"/"ridmap": an idmapped bind mount (recursive for ridmap).
    pub idmap: Option<bool>,
    /// "tmpcopyup": the tmpfs starts with what it hides (see copyup).
    pub copy_up: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            flags: MsFlags::empty(),
            cleared: MsFlags::empty(),
            propagation: Vec::new(),
            attr_set: 0,
            attr_clr: 0,
            data: String::new(),
            idmap: None,
            copy_up: false,
        }
    }
}

impl Options {
    pub fn is_bind(&self) -> bool {
        self.flags.contains(MsFlags::MS_BIND)
    }
}

pub fn parse<S: AsRef<str>>(options: &[S]) -> Options {
    let mut o = Options::default();
    for opt in options {
        let opt = opt.as_ref();
        if let Some((set, flag)) = flag(opt) {
            if set {
                o.flags |= flag;
                o.cleared -= flag;
            } else {
                o.flags -= flag;
                o.cleared |= flag;
            }
        } else if let Some(p) = propagation(opt) {
            o.propagation.push(p);
        } else if let Some(r) = recursive(opt) {
            match r {
                // The kernel takes the atime mode as one field: clearing the
                // whole field and setting the new value replaces it.
                Recursive::Atime(a) => {
                    o.attr_clr |= attr::ATIME_MASK;
                    o.attr_set = (o.attr_set & !attr::ATIME_MASK) | a;
                }
                Recursive::Set(a) => {
                    o.attr_set |= a;
                    o.attr_clr &= !a;
                }
                Recursive::Clear(a) => {
                    o.attr_clr |= a;
                    o.attr_set &= !a;
                }
            }
        } else if opt == "idmap" || opt == "ridmap" {
            o.idmap = Some(opt == "ridmap");
        } else if opt == "tmpcopyup" {
            o.copy_up = true;
        } else if !opt.is_empty() && !userspace_only(opt) {
            if !o.data.is_empty() {
                o.data.push(',');
            }
            o.data.push_str(opt);
        }
    }
    o
}

/// Options mount(8) reads itself (fstab and libmount's own) and never
/// passes to the kernel: a filesystem would refuse them as data.
fn userspace_only(opt: &str) -> bool {
    matches!(opt, "auto" | "noauto" | "nofail" | "_netdev" | "nouser")
        || opt.starts_with("x-")
        || opt.starts_with("X-")
        || opt.starts_with("comment=")
}

/// mount(8) flag options: (true, F) sets F, (false, F) clears it.
fn flag(opt: &str) -> Option<(bool, MsFlags)> {
    use MsFlags as F;
    Some(match opt {
        "defaults" => (true, F::empty()),
        "ro" => (true, F::MS_RDONLY),
        "rw" => (false, F::MS_RDONLY),
        "nosuid" => (true, F::MS_NOSUID),
        "suid" => (false, F::MS_NOSUID),
        "nodev" => (true, F::MS_NODEV),
        "dev" => (false, F::MS_NODEV),
        "noexec" => (true, F::MS_NOEXEC),
        "exec" => (false, F::MS_NOEXEC),
        "sync" => (true, F::MS_SYNCHRONOUS),
        "async" => (false, F::MS_SYNCHRONOUS),
        "dirsync" => (true, F::MS_DIRSYNC),
        "remount" => (true, F::MS_REMOUNT),
        "mand" => (true, F::MS_MANDLOCK),
        "nomand" => (false, F::MS_MANDLOCK),
        "atime" => (false, F::MS_NOATIME),
        "noatime" => (true, F::MS_NOATIME),
        "diratime" => (false, F::MS_NODIRATIME),
        "nodiratime" => (true, F::MS_NODIRATIME),
        "relatime" => (true, F::MS_RELATIME),
        "norelatime" => (false, F::MS_RELATIME),
        "strictatime" => (true, F::MS_STRICTATIME),
        "nostrictatime" => (false, F::MS_STRICTATIME),
        "iversion" => (true, F::MS_I_VERSION),
        "noiversion" => (false, F::MS_I_VERSION),
        "lazytime" => (true, F::MS_LAZYTIME),
        "nolazytime" => (false, F::MS_LAZYTIME),
        "silent" => (true, F::MS_SILENT),
        "loud" => (false, F::MS_SILENT),
        "bind" => (true, F::MS_BIND),
        "rbind" => (true, F::MS_BIND | F::MS_REC),
        "nosymfollow" => (true, F::from_bits_retain(libc::MS_NOSYMFOLLOW)),
        "symfollow" => (false, F::from_bits_retain(libc::MS_NOSYMFOLLOW)),
        _ => return None,
    })
}

fn propagation(opt: &str) -> Option<MsFlags> {
    use MsFlags as F;
    Some(match opt {
        "private" => F::MS_PRIVATE,
        "rprivate" => F::MS_PRIVATE | F::MS_REC,
        "shared" => F::MS_SHARED,
        "rshared" => F::MS_SHARED | F::MS_REC,
        "slave" => F::MS_SLAVE,
        "rslave" => F::MS_SLAVE | F::MS_REC,
        "unbindable" => F::MS_UNBINDABLE,
        "runbindable" => F::MS_UNBINDABLE | F::MS_REC,
        _ => return None,
    })
}

enum Recursive {
    Set(u64),
    Clear(u64),
    Atime(u64),
}

/// The recursive ("r"-prefixed) options, applied with mount_setattr.
fn recursive(opt: &str) -> Option<Recursive> {
    use Recursive::*;
    Some(match opt {
        "rro" => Set(attr::RDONLY),
        "rrw" => Clear(attr::RDONLY),
        "rnosuid" => Set(attr::NOSUID),
        "rsuid" => Clear(attr::NOSUID),
        "rnodev" => Set(attr::NODEV),
        "rdev" => Clear(attr::NODEV),
        "rnoexec" => Set(attr::NOEXEC),
        "rexec" => Clear(attr::NOEXEC),
        "rnodiratime" => Set(attr::NODIRATIME),
        "rdiratime" => Clear(attr::NODIRATIME),
        "rnosymfollow" => Set(attr::NOSYMFOLLOW),
        "rsymfollow" => Clear(attr::NOSYMFOLLOW),
        "rrelatime" | "ratime" | "rnorelatime" | "rnostrictatime" => Atime(attr::RELATIME),
        "rnoatime" => Atime(attr::NOATIME),
        "rstrictatime" => Atime(attr::STRICTATIME),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_flags_propagation_recursive_and_data() {
        let o = parse(&[
            "rbind",
            "ro",
            "nosuid",
            "rslave",
            "rnoexec",
            "mode=755",
            "size=65536k",
        ]);
        assert_eq!(
            o.flags,
            MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_RDONLY | MsFlags::MS_NOSUID
        );
        assert_eq!(o.propagation, [MsFlags::MS_SLAVE | MsFlags::MS_REC]);
        assert_eq!(o.attr_set, attr::NOEXEC);
        assert_eq!(o.data, "mode=755,size=65536k");
        assert!(o.is_bind());
    }

    #[test]
    fn every_reported_name_is_understood() {
        for name in NAMES {
            let o = parse(&[name]);
            assert!(o.data.is_empty(), "{name} fell through to data");
        }
    }

    #[test]
    fn mount8_userspace_options_are_not_data() {
        let o = parse(&[
            "nofail",
            "x-systemd.automount",
            "X-mount.mkdir",
            "_netdev",
            "size=1m",
        ]);
        assert_eq!(o.data, "size=1m");
        assert_eq!(o.flags, MsFlags::empty());
        let o = parse(&["iversion"]);
        assert_eq!(o.flags, MsFlags::MS_I_VERSION);
    }

    #[test]
    fn later_options_override_earlier_ones() {
        let o = parse(&["ro", "rw", "nodev", "dev"]);
        assert_eq!(o.flags, MsFlags::empty());
        assert!(o.cleared.contains(MsFlags::MS_RDONLY | MsFlags::MS_NODEV));
        let o = parse(&["rro", "rrw"]);
        assert_eq!((o.attr_set, o.attr_clr), (0, attr::RDONLY));
    }

    #[test]
    fn atime_attributes_replace_the_whole_atime_field() {
        let o = parse(&["rnoatime"]);
        assert_eq!((o.attr_set, o.attr_clr), (attr::NOATIME, attr::ATIME_MASK));
        let o = parse(&["ridmap"]);
        assert_eq!(o.idmap, Some(true));
    }
}
