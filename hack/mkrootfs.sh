#!/bin/sh
# Builds a busybox root filesystem in DIR from Debian's busybox-static:
# the static binary, one symlink per applet, and the few /etc files that
# user lookups in the container expect. Idempotent.
set -eu
dir=${1:?usage: hack/mkrootfs.sh DIR}
bb=/bin/busybox
if ! dpkg -s busybox-static >/dev/null 2>&1; then
    echo "mkrootfs: $bb is not the static busybox: apt-get install busybox-static" >&2
    exit 1
fi
mkdir -p "$dir/bin" "$dir/etc" "$dir/proc" "$dir/sys" "$dir/dev" "$dir/tmp" "$dir/root" "$dir/home"
cp "$bb" "$dir/bin/busybox.new" && mv "$dir/bin/busybox.new" "$dir/bin/busybox"
for applet in $("$bb" --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$dir/bin/$applet"
done
chmod 1777 "$dir/tmp"
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n' >"$dir/etc/passwd"
printf 'root:x:0:\ntty:x:5:\nnogroup:x:65534:\n' >"$dir/etc/group"
echo "127.0.0.1 localhost" >"$dir/etc/hosts"
