#!/usr/bin/env bash
# Builds the HAProxy image the blue-green tests put in front of the stack:
# Debian bookworm's haproxy 2.6 (the package, fetched with `apt-get download`
# from the mirror apt already uses, unpacked, never installed), its binary
# and the libraries `ldd` lists, in a `FROM scratch` image (~19 MB, < 1 s
# once the packages are cached under target/haproxy/). Users run the
# upstream image; this is only the test tier's stand-in, since no public
# registry is reachable here. Prints the image reference.
#
#   bash scripts/haproxy-image.sh          # build if missing, print its name
set -euo pipefail
cd "$(dirname "$0")/.."

out=target/haproxy
image=pitwall-test/haproxy:2.6
mkdir -p "$out/debs"
exec 9>"$out/.lock"
flock 9

say() { echo "haproxy-image: $*" >&2; }

if docker image inspect "$image" >/dev/null 2>&1; then
  echo "$image"
  exit 0
fi

packages=(haproxy liblua5.3-0 libopentracing-c-wrapper0 libopentracing1)
if ! ls "$out"/debs/haproxy_*.deb >/dev/null 2>&1; then
  say "fetching ${packages[*]}"
  # `_apt` cannot write into a directory it does not own; root fetches.
  (cd "$out/debs" && apt-get download -o APT::Sandbox::User=root "${packages[@]}" >&2) || {
    say "apt lists may be missing: apt-get update, then again"
    apt-get update >&2
    (cd "$out/debs" && apt-get download -o APT::Sandbox::User=root "${packages[@]}" >&2)
  }
fi

ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
mkdir -p "$ctx/unpacked" "$ctx/root/usr/sbin" "$ctx/root/etc" "$ctx/root/run/haproxy" "$ctx/root/tmp"
for deb in "$out"/debs/*.deb; do dpkg -x "$deb" "$ctx/unpacked"; done
cp "$ctx/unpacked/usr/sbin/haproxy" "$ctx/root/usr/sbin/haproxy"
libs=$(LD_LIBRARY_PATH="$ctx/unpacked/usr/lib/x86_64-linux-gnu" ldd "$ctx/unpacked/usr/sbin/haproxy")
if grep -q "not found" <<<"$libs"; then
  say "libraries missing: $(grep 'not found' <<<"$libs" | tr -s ' \t' ' ')"
  exit 1
fi
# Each library at the path the loader looks for it.
awk '/=>/ {print $3} /^[ \t]*\/.*ld-linux/ {print $1}' <<<"$libs" | while read -r lib; do
  [[ -n "$lib" ]] || continue
  dest="$ctx/root/lib/x86_64-linux-gnu/$(basename "$lib")"
  [[ "$lib" == */ld-linux* ]] && dest="$ctx/root/lib64/$(basename "$lib")"
  mkdir -p "$(dirname "$dest")"
  cp -L "$lib" "$dest"
done
echo "root:x:0:0:root:/:/nonexistent" >"$ctx/root/etc/passwd"
echo "root:x:0:" >"$ctx/root/etc/group"
cat >"$ctx/Dockerfile" <<'EOF'
FROM scratch
COPY root/ /
ENTRYPOINT ["/usr/sbin/haproxy", "-W", "-db", "-f", "/usr/local/etc/haproxy/haproxy.cfg"]
EOF
say "building $image"
docker build -q -t "$image" "$ctx" >&2
echo "$image"
