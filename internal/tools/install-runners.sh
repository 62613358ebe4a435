#!/bin/sh
# install-runners.sh installs the local CI runners that the runner tests in
# internal/shimrun drive: gitlab-ci-local (npm) and act (Go), plus rsync,
# which gitlab-ci-local needs to copy the repository for each job in shell
# isolation mode. `make tools` runs it.
#
# Each tool goes into a directory named by its version under the tool cache
# ($SLIPWAY_TOOLS_DIR, else $SLIPWAY_CACHE/tools, else
# ${XDG_CACHE_HOME:-$HOME/.cache}/slipway/tools), so a second run finds it
# there and does nothing (well under a second), and a version bump installs
# beside the old one instead of over it. The tests find the binaries by the
# same versioned paths; the PATH additions are also written to
# .slipway/tools.env, for a shell:
#
#   . .slipway/tools.env
#
# To bump gitlab-ci-local: change GITLAB_CI_LOCAL_VERSION here, the version in
# internal/tools/gitlab-ci-local/package.json and shimrun.GitLabCILocalVersion,
# then run `npm install --package-lock-only` in internal/tools/gitlab-ci-local.
#
# Needs: sh, go (for act), and npm with Node >= 20, or apt to install them.
# Debian 12's own Node is 18, too old for the dependencies gitlab-ci-local
# pulls in (globby 16 needs Node 20): Node 20 then comes from the npm
# registry's "node" package. Networks used: the Go module proxy, apt, npm.
set -eu

GITLAB_CI_LOCAL_VERSION=4.65.1
ACT_VERSION=v0.2.89
NODE_MAJOR=20
# The Node.js installed from npm when the system has none >= $NODE_MAJOR.
NODE_VERSION=20.20.2

cache=${SLIPWAY_TOOLS_DIR:-${SLIPWAY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/slipway}/tools}
glci_dir=$cache/gitlab-ci-local-$GITLAB_CI_LOCAL_VERSION
act_dir=$cache/act-$ACT_VERSION
node_dir=$cache/node-$NODE_VERSION
root=$(cd "$(dirname "$0")/../.." && pwd)
env_file=${SLIPWAY_TOOLS_ENV:-$root/.slipway/tools.env}

log() { printf 'tools: %s\n' "$*" >&2; }

# as_root runs a command as root, through sudo when we are not root, because
# apt-get needs it and the script must also work in a developer's shell.
as_root() {
	if [ "$(id -u)" = 0 ]; then
		"$@"
	else
		sudo "$@"
	fi
}

apt_install() {
	# A fresh machine has no package lists yet: update only when the
	# install fails, so a machine that has them stays fast and offline-ish.
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" ||
		{ as_root apt-get update && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@"; }
}

# shellcheck: actionlint runs it over the generated workflow's run: scripts
# (lint.WithShellcheck), so a script mistake fails the tests, not a user's CI.
if ! command -v shellcheck >/dev/null 2>&1; then
	log "installing shellcheck (apt)"
	apt_install shellcheck
fi

# rsync: gitlab-ci-local copies the repository with it under --shell-isolation.
if ! command -v rsync >/dev/null 2>&1; then
	log "installing rsync (apt)"
	apt_install rsync
fi

# Node >= 20 and npm for gitlab-ci-local.
node_path=
if ! command -v npm >/dev/null 2>&1; then
	log "installing nodejs and npm (apt)"
	apt_install nodejs npm
fi
node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt "$NODE_MAJOR" ]; then
	if [ ! -x "$node_dir/node_modules/.bin/node" ]; then
		log "node $node_major is older than $NODE_MAJOR: installing node@$NODE_VERSION into $node_dir (npm)"
		rm -rf "$node_dir.tmp"
		npm install --prefix "$node_dir.tmp" --no-audit --no-fund --loglevel=error "node@$NODE_VERSION" >&2
		rm -rf "$node_dir"
		mv "$node_dir.tmp" "$node_dir"
	fi
	node_path=$node_dir/node_modules/.bin
	PATH=$node_path:$PATH
	export PATH
fi

# gitlab-ci-local with its whole dependency tree pinned by the committed
# package-lock.json (its own dependencies are "1.x.x" ranges, which would
# otherwise drift to releases that need a newer Node). It is installed into a
# temporary prefix and renamed, so that an interrupted install is never
# mistaken for a cached one; the lock's checksum, kept beside it, makes a
# changed lock reinstall.
if ! grep -q "\"gitlab-ci-local\": \"$GITLAB_CI_LOCAL_VERSION\"" "$root/internal/tools/gitlab-ci-local/package.json"; then
	log "internal/tools/gitlab-ci-local/package.json does not pin gitlab-ci-local $GITLAB_CI_LOCAL_VERSION: bump both, then run npm install --package-lock-only there"
	exit 1
fi
lock_sum=$(cksum <"$root/internal/tools/gitlab-ci-local/package-lock.json")
if [ ! -x "$glci_dir/node_modules/.bin/gitlab-ci-local" ] || [ "$(cat "$glci_dir/.lock-cksum" 2>/dev/null)" != "$lock_sum" ]; then
	log "installing gitlab-ci-local $GITLAB_CI_LOCAL_VERSION into $glci_dir (npm ci)"
	rm -rf "$glci_dir.tmp"
	mkdir -p "$glci_dir.tmp"
	cp "$root/internal/tools/gitlab-ci-local/package.json" "$root/internal/tools/gitlab-ci-local/package-lock.json" "$glci_dir.tmp/"
	npm ci --prefix "$glci_dir.tmp" --no-audit --no-fund --loglevel=error >&2
	echo "$lock_sum" >"$glci_dir.tmp/.lock-cksum"
	rm -rf "$glci_dir"
	mv "$glci_dir.tmp" "$glci_dir"
fi

# act, built from the Go module proxy. GOFLAGS=-modfile etc. from the caller
# must not leak in, and go install pkg@version ignores the current module.
if [ ! -x "$act_dir/bin/act" ]; then
	log "installing act $ACT_VERSION into $act_dir (go install)"
	rm -rf "$act_dir.tmp"
	mkdir -p "$act_dir.tmp/bin"
	GOBIN=$act_dir.tmp/bin GOFLAGS=-trimpath go install "github.com/nektos/act@$ACT_VERSION"
	rm -rf "$act_dir"
	mv "$act_dir.tmp" "$act_dir"
fi

path_add=$glci_dir/node_modules/.bin:$act_dir/bin
if [ -n "$node_path" ]; then
	path_add=$node_path:$path_add
fi
mkdir -p "$(dirname "$env_file")"
{
	echo "# Written by internal/tools/install-runners.sh (make tools); source it to get the runners on PATH."
	echo "export SLIPWAY_TOOLS_DIR='$cache'"
	echo "export PATH='$path_add':\"\$PATH\""
} >"$env_file"
log "gitlab-ci-local $GITLAB_CI_LOCAL_VERSION: $glci_dir/node_modules/.bin/gitlab-ci-local"
log "act $ACT_VERSION: $act_dir/bin/act"
log "PATH additions written to $env_file"
# stdout is only this line, so `eval "$(sh internal/tools/install-runners.sh)"` works.
echo "export PATH='$path_add':\"\$PATH\""
