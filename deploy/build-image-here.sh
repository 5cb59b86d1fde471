#!/usr/bin/env bash
# Builds deploy/Dockerfile's image on a machine with a Docker Engine and no registry: the
# same two binaries, the same entrypoint script and user, but FROM scratch with the files
# taken from this machine (the binaries as cargo built them, the shared libraries `ldd`
# names, bash and the few tools the entrypoint uses) instead of the rust and debian base
# images, which cannot be pulled here.
#
#   deploy/build-image-here.sh [TAG] [BIN_DIR]
#
# TAG defaults to testfn:dev, BIN_DIR to target/release (built with
# `cargo build --release -p harness -p sink` first). The image runs as deploy/Dockerfile's
# does: `docker run -e TESTFN_VERSION=A -e TESTFN_SINK=http://... TAG [ARGS...]`.
set -euo pipefail
cd "$(dirname "$0")/.."
tag=${1:-testfn:dev}
bin_dir=${2:-target/release}
[[ -x "$bin_dir/harness" ]] || { echo "$0: no $bin_dir/harness: cargo build --release -p harness -p sink" >&2; exit 1; }
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
root="$ctx/rootfs"
mkdir -p "$root/usr/local/bin" "$root/tmp" "$root/etc"
# The files and the libraries each loads, at the paths the loader looks them up.
copy_with_libs() {
  local file=$1 dest=$2
  install -D -m 0755 "$file" "$root$dest"
  ldd "$file" 2>/dev/null | grep -o '/[^ ]*' | while read -r lib; do
    [[ -e "$root$lib" ]] || install -D -m 0755 "$(readlink -f "$lib")" "$root$lib"
  done
}
copy_with_libs "$bin_dir/harness" /usr/local/bin/harness
# The sink too, when it was built (deploy/Dockerfile's image holds both).
if [[ -x "$bin_dir/sink" ]]; then copy_with_libs "$bin_dir/sink" /usr/local/bin/sink; fi
copy_with_libs "$(readlink -f /bin/bash)" /usr/bin/bash
copy_with_libs "$(readlink -f /bin/cat)" /usr/bin/cat
copy_with_libs "$(readlink -f /usr/bin/env)" /usr/bin/env
install -D -m 0755 deploy/docker-entrypoint.sh "$root/usr/local/bin/docker-entrypoint.sh"
# deploy/Dockerfile's user, by number (runAsNonRoot can only verify a numeric USER).
echo 'root:x:0:0::/root:/usr/sbin/nologin' > "$root/etc/passwd"
echo 'testfn:x:10001:10001::/nonexistent:/usr/sbin/nologin' >> "$root/etc/passwd"
printf 'root:x:0:\ntestfn:x:10001:\n' > "$root/etc/group"
cat > "$ctx/Dockerfile" <<'DOCKERFILE'
FROM scratch
COPY rootfs/ /
USER 10001:10001
EXPOSE 8080
ENV TESTFN_LISTEN=0.0.0.0:8080 PATH=/usr/local/bin:/usr/bin
ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]
DOCKERFILE
docker build -q -t "$tag" --label io.update-harness.image=deploy "$ctx"
