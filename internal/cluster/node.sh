#!/bin/bash
# PID 1 of the real node's private PID, mount, network and UTS namespaces
# (Cluster.startNode runs it under unshare; descriptor 3 is the host's
# network namespace). It wires the node's network namespace to the host
# with one veth pair, hides the host paths the kubelet and containerd insist
# on writing behind mounts that vanish with the namespace, then runs the node
# proxy, containerd and the kubelet. SIGTERM stops them in reverse order;
# when this process exits the kernel kills whatever is left in the PID
# namespace (shims, containers), and the namespaces' mounts, interfaces and
# iptables rules go with them. The veth's host end dies with its peer.
set -euo pipefail
N=$SLIPWAY_NODE_DIR
log() { echo "node: $*"; }

# This namespace's own /proc; the host's stays visible to the node proxy
# only, which finds the registry's namespace by a host pid.
mount --rbind /proc "$N/mnt/hostproc"
mount -t proc proc /proc
hostname "$SLIPWAY_NODE_NAME"
ip link set lo up
# The node's only link: eth0 here, $HOST_IF on the host. The host routes the
# pod network through it, so the API server reaches kubelet and pods.
ip link add eth0 type veth peer name "$SLIPWAY_HOST_IF" netns /proc/self/fd/3
ip addr add "$SLIPWAY_NODE_IP/30" dev eth0
ip link set eth0 up
nsenter --net=/proc/self/fd/3 ip addr add "$SLIPWAY_HOST_IP/30" dev "$SLIPWAY_HOST_IF"
nsenter --net=/proc/self/fd/3 ip link set "$SLIPWAY_HOST_IF" up
nsenter --net=/proc/self/fd/3 ip route add "$SLIPWAY_POD_CIDR" via "$SLIPWAY_NODE_IP" dev "$SLIPWAY_HOST_IF"
# Forward between eth0 and the pods' bridge; this namespace's setting only.
echo 1 >/proc/sys/net/ipv4/ip_forward

# A network namespace needs its own sysfs (/sys/class/net), but the cgroup
# mounts under /sys must stay.
mount --rbind /sys/fs/cgroup "$N/mnt/cg"
mount -t sysfs sysfs /sys
mount --rbind "$N/mnt/cg" /sys/fs/cgroup
umount -l "$N/mnt/cg"
# containerd's shim sockets and pod network namespaces (/run/containerd,
# /run/netns), CNI's cache (/var/lib/cni) and the kubelet's pod logs
# (/var/log/pods, /var/log/containers) are at fixed host paths.
mount -t tmpfs tmpfs /run
mount -t overlay overlay -o "lowerdir=/var/lib,upperdir=$N/mnt/varlib-upper,workdir=$N/mnt/varlib-work" /var/lib
mount --bind "$N/log" /var/log
# The kubelet checks six kernel settings (vm.overcommit_memory, kernel.panic,
# ...) and, unless protectKernelDefaults is set, rewrites them for the
# whole host; with it set, it refuses to start when they differ. The node
# sees the values it wants, the host keeps its own.
for f in "$N"/etc/sysctl/*; do
	mount --bind "$f" "/proc/sys/$(basename "$f" | tr . /)"
done

pids=()
stop() {
	log "stopping"
	for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
		kill -TERM "${pids[i]}" 2>/dev/null || true
		wait "${pids[i]}" 2>/dev/null || true
	done
	exit "$1"
}
trap 'stop 0' TERM INT

# The API server on the host's loopback and the registry in the engine's
# network namespace, both reached on this namespace's loopback.
rm -f "$N/run/proxy.ready"
"$N/bin/nodeproxy" -host-netns-fd 3 -api "$SLIPWAY_API_FORWARD" \
	-registry "$SLIPWAY_REGISTRY_FORWARD" -registry-pidfile "$SLIPWAY_REGISTRY_PIDFILE" -proc "$N/mnt/hostproc" \
	-ready "$N/run/proxy.ready" >>"$SLIPWAY_LOG_DIR/nodeproxy.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
	[ -e "$N/run/proxy.ready" ] && break
	sleep 0.1
done
[ -e "$N/run/proxy.ready" ] || { log "node proxy not ready after 10s (see nodeproxy.log)"; exit 1; }

# Nothing else gets a handle on the host's network namespace.
exec 3<&-
containerd --config "$N/etc/containerd.toml" >>"$SLIPWAY_LOG_DIR/containerd.log" 2>&1 &
pids+=($!)
for _ in $(seq 300); do
	ctr version >/dev/null 2>&1 && break
	kill -0 "${pids[-1]}" 2>/dev/null || { log "containerd exited (see containerd.log)"; exit 1; }
	sleep 0.1
done
ctr -n k8s.io images import --no-unpack "$SLIPWAY_PAUSE_TAR" >/dev/null
log "containerd ready, sandbox image imported"

"$SLIPWAY_KUBELET" "$@" >>"$SLIPWAY_LOG_DIR/kubelet.log" 2>&1 &
pids+=($!)
log "kubelet started"
# The sandbox image exists only here (nothing can pull it back), and the
# kubelet's eviction manager deletes unused images when the disk runs low:
# after such a spell no pod could start again. Put it back when it goes.
(
	while sleep 5; do
		ctr -n k8s.io images ls -q 2>/dev/null | grep -qxF "$SLIPWAY_PAUSE_IMAGE" && continue
		ctr -n k8s.io images import --no-unpack "$SLIPWAY_PAUSE_TAR" >/dev/null 2>&1 &&
			log "the sandbox image had been deleted (disk pressure?): imported it again"
	done
) &
# Any of the three ending ends the node: Status then reports it.
set +e
wait -n
rc=$?
log "a node process exited ($rc): stopping the node"
stop 1
