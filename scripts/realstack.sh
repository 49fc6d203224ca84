#!/usr/bin/env bash
# Builds the real-stack tier's images (tests/real_stack.rs): a Debian
# bookworm rootfs made with debootstrap from the mirror apt already uses on
# this machine, with PostgreSQL 15, Django, gunicorn, psycopg2 and nginx
# preinstalled once, imported as a base image; then thin images per role
# (tests/realstack/*/Dockerfile). Everything is cached: the rootfs tarball
# under target/realstack/, each image by a content-hash label, so a warm run
# only compares hashes. Prints `role=image` lines (what the tests deploy).
#
#   bash scripts/realstack.sh            # build what is missing
#   REALSTACK_MIRROR=URL bash scripts/realstack.sh   # another Debian mirror
set -euo pipefail
cd "$(dirname "$0")/.."

out=target/realstack
mkdir -p "$out"
# One build at a time: test processes call this concurrently.
exec 9>"$out/.lock"
flock 9

suite=bookworm
packages=postgresql-15,python3-django,gunicorn,python3-psycopg2,nginx,ca-certificates
say() { echo "realstack: $*" >&2; }

# The Debian mirror of the `bookworm` suite in apt's own sources: one-line
# (`deb [opts] URI bookworm main`) and deb822 (`.sources`) formats. Never
# written into the repository: it is whatever this machine uses.
mirror() {
  if [[ -n "${REALSTACK_MIRROR:-}" ]]; then
    echo "$REALSTACK_MIRROR"
    return
  fi
  local files=() f
  [[ -f /etc/apt/sources.list ]] && files+=(/etc/apt/sources.list)
  for f in /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [[ -f "$f" ]] && files+=("$f")
  done
  ((${#files[@]})) || { say "no apt sources found"; return 1; }
  awk -v suite="$suite" '
    # one-line format
    /^[ \t]*deb[ \t]/ {
      n = split($0, w, /[ \t]+/); i = 2
      if (w[i] ~ /^\[/) { while (i <= n && w[i] !~ /\]$/) i++; i++ }
      if (w[i + 1] == suite) { print w[i]; found = 1; exit }
      next
    }
    # deb822: stanzas separated by blank lines
    /^[ \t]*$/ { if (types ~ /(^| )deb( |$)/ && (" " suites " ") ~ (" " suite " ") && uri != "") { print uri; found = 1; exit }
                 types = suites = uri = ""; next }
    /^Types:/  { sub(/^Types:[ \t]*/, ""); types = $0 }
    /^Suites:/ { sub(/^Suites:[ \t]*/, ""); suites = $0 }
    /^URIs:/   { sub(/^URIs:[ \t]*/, ""); split($0, u, /[ \t]+/); uri = u[1] }
    END { if (!found && types ~ /(^| )deb( |$)/ && (" " suites " ") ~ (" " suite " ") && uri != "") print uri }
  ' "${files[@]}" | head -n1
}

hash_of() { sha256sum | cut -c1-16; }

# Removes a rootfs being built, after unmounting what debootstrap mounted
# in it (/proc, …) should it have been stopped: never through a mount.
remove_rootfs() {
  [[ -e "$1" ]] || return 0
  local dir m
  dir="$(realpath "$1")"
  findmnt -rn -o TARGET | { grep -F "$dir/" || true; } | sort -r |
    while read -r m; do umount -l "$m"; done
  rm -rf --one-file-system "$dir"
}

# 1. The rootfs: keyed by the suite, the packages and this step's recipe.
rootfs_recipe=2
rootfs_key="$(printf '%s\n' "$suite" "$packages" "$rootfs_recipe" | hash_of)"
# The imported base carries what every role shares: /role/run as entrypoint.
import_changes=('ENV LANG=C.UTF-8 PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1'
  'WORKDIR /role' 'ENTRYPOINT ["/role/run"]')
base="pitwall-realstack/base:$rootfs_key-$(printf '%s\n' "${import_changes[@]}" | hash_of)"
tarball="$out/rootfs-$rootfs_key.tar"

if ! docker image inspect "$base" >/dev/null 2>&1; then
  if [[ ! -f "$tarball" ]]; then
    command -v debootstrap >/dev/null || apt-get install -y -q debootstrap >&2
    url="$(mirror)"
    [[ -n "$url" ]] || { say "no Debian $suite mirror in apt's sources"; exit 1; }
    root="$out/rootfs.tmp"
    remove_rootfs "$root"
    trap 'remove_rootfs "$root"' EXIT
    say "debootstrap --variant=minbase $suite (mirror from apt's sources) with $packages"
    start=$SECONDS
    debootstrap --variant=minbase --include="$packages" "$suite" "$root" "$url" >"$out/debootstrap.log" 2>&1 ||
      { tail -20 "$out/debootstrap.log" >&2; exit 1; }
    # The packaged cluster and downloaded archives are not part of any role:
    # the db image makes its own cluster on first start.
    rm -rf "$root"/var/lib/postgresql/15 "$root"/etc/postgresql/15 \
      "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*_Packages
    tar -C "$root" --numeric-owner --one-file-system -cf "$tarball.tmp" .
    mv "$tarball.tmp" "$tarball"
    remove_rootfs "$root"
    trap - EXIT
    say "rootfs built in $((SECONDS - start)) s: $tarball"
  fi
  changes=()
  for c in "${import_changes[@]}"; do changes+=(--change "$c"); done
  docker import "${changes[@]}" "$tarball" "$base" >/dev/null
  say "imported $base"
fi

# 2. The role images: tests/realstack/Dockerfile (one COPY) on a context
# directory. Each is also tagged NAME:TAG-HASH, HASH of its base and its
# context: a present hash tag means it is up to date (a tag costs nothing;
# a LABEL would be a build step).
image() { # NAME:TAG CONTEXT BASE
  local tag="$1" dir="$2" from="$3" key
  key="$( (echo "$from"; tar -C "$dir" --sort=name --mtime=@0 --owner=0 --group=0 -cf - .) | hash_of)"
  if ! docker image inspect "$tag-$key" >/dev/null 2>&1; then
    docker build --quiet --file tests/realstack/Dockerfile --build-arg "BASE=$from" \
      --tag "$tag-$key" "$dir" >"$out/build.log" 2>&1 || { cat "$out/build.log" >&2; exit 1; }
    say "built $tag"
  fi
  docker tag "$tag-$key" "$tag"
  echo "$tag-$key"
}

ctx=tests/realstack
db="$(image pitwall-realstack/postgres:15 "$ctx/postgres" "$base")"
web="$(image pitwall-realstack/nginx:1.22 "$ctx/nginx" "$base")"
app="$(image pitwall-realstack/app:src "$ctx/app/src" "$base")"
echo "db=${db%-*}"
echo "web=${web%-*}"
# Releases of the app: a thin layer each on the same source.
for release in 1.0 1.1 broken badmigration; do
  tag="$(image "pitwall-realstack/app:$release" "$ctx/app/releases/$release" "$app")"
  echo "app-$release=${tag%-*}"
done
