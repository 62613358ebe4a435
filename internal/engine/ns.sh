#!/bin/bash
# PID 1 of the engine's private PID namespace, also in private mount and
# network namespaces (see Engine.start, which runs it under unshare). It
# gives the engine the host paths it hard-codes, as overlays that vanish with
# the namespace, starts the mirror and then the engine. SIGTERM stops both;
# when this process exits the kernel kills whatever is left in the namespace,
# and the mounts, interfaces and iptables rules go with it.
set -euo pipefail
I=$1
log() { echo "ns: $*"; }

ip link set lo up
# A network namespace needs its own sysfs (the engine reads
# /sys/class/net), but the cgroup mounts under /sys must stay.
mount --rbind /sys/fs/cgroup "$I/ns/cg"
mount -t sysfs sysfs /sys
mount --rbind "$I/ns/cg" /sys/fs/cgroup
umount -l "$I/ns/cg"
# The engine writes /usr/local/bin/runc, /usr/local/bin/dagger-init,
# /usr/local/share/dagger/content, /etc, /var/lib/cni and /run: overlays
# keep those writes in the instance directory.
for pair in usrlocal:/usr/local etc:/etc varlib:/var/lib; do
	name=${pair%%:*} dir=${pair#*:}
	mount -t overlay overlay -o "lowerdir=$dir,upperdir=$I/ns/$name-upper,workdir=$I/ns/$name-work" "$dir"
done
mount -t tmpfs tmpfs /run
# Dagger copies the CA certificates it finds in /usr/local/share/ca-certificates
# into every container, running update-ca-certificates before and after each
# exec: two more containers per exec, two thirds of an exec's cost on a host
# that has any (a bare exec took 1.5 s instead of 0.5 s). Nothing a container
# reaches from this namespace is signed by a host CA (the mirror and module
# proxy are plain HTTP, the cluster has its own CA), so the engine sees an
# empty directory. The engine's own TLS keeps the host's bundle in /etc/ssl.
if [ -d /usr/local/share/ca-certificates ]; then
	mount -t tmpfs -o size=1m,mode=0755 tmpfs /usr/local/share/ca-certificates
fi
ulimit -n "$(ulimit -Hn)" || true

rm -f "$I/run/mirror.ready"
# Descriptor 3 is the host's network namespace (Engine.start): serve dials
# the forwarded host ports (SLIPWAY_HOST_PORTS) there.
"$SLIPWAY_MIRROR_BIN" serve -cache "$SLIPWAY_CACHE" -instance "$I" -ready "$I/run/mirror.ready" \
	-host-netns-fd 3 -host-ports "${SLIPWAY_HOST_PORTS:-}" &
mirror=$!
trap 'kill -TERM $mirror 2>/dev/null; exit 0' TERM INT
for _ in $(seq 1200); do
	[ -e "$I/run/mirror.ready" ] && break
	kill -0 $mirror 2>/dev/null || { log "mirror exited before it was ready"; exit 1; }
	sleep 0.1
done
[ -e "$I/run/mirror.ready" ] || { log "mirror not ready after 120s"; exit 1; }
log "mirror ready"

# The engine gets no handle on the host's network namespace.
"$SLIPWAY_ENGINE_BIN" --config "$I/etc/engine.toml" 3<&- &
engine=$!
trap 'log "stopping"; kill -TERM $engine 2>/dev/null; wait $engine; kill -TERM $mirror 2>/dev/null; wait $mirror; exit 0' TERM INT
wait $engine
