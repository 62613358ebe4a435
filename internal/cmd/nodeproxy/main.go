// Command nodeproxy runs inside the real node's network namespace
// (internal/cluster, node.sh) and gives the node the two services it needs
// but has no route to:
//
//   - the API server on the host's loopback: -api 127.0.0.1:16443=127.0.0.1:16443
//     listens on the node's loopback and dials the host's, from the host's
//     network namespace (an inherited descriptor, -host-netns-fd);
//   - the registry the pipeline pushes to, slipway's engine mirror inside
//     the engine's network namespace: -registry 127.0.0.1:5000=127.0.0.1:5000
//     dials inside the namespace of the process whose pid -registry-pidfile
//     holds, looked up for each connection, so an engine restart does not
//     break the node. containerd's hosts.toml sends pulls of
//     10.87.0.1:5000/... there.
//
// Both go through internal/hostport. It writes -ready once it listens.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/slipway-ci/slipway/internal/hostport"
)

func main() {
	fs := flag.NewFlagSet("nodeproxy", flag.ExitOnError)
	hostFD := fs.Int("host-netns-fd", -1, "an inherited descriptor of the host's network namespace")
	api := fs.String("api", "", "LISTEN=TARGET: listen here, dial TARGET in the host's network namespace")
	reg := fs.String("registry", "", "LISTEN=TARGET: listen here, dial TARGET in the registry's network namespace")
	pidFile := fs.String("registry-pidfile", "", "file holding the pid of a process in the registry's network namespace")
	proc := fs.String("proc", "/proc", "the procfs where -registry-pidfile's pid is found (the host's, when this runs in a PID namespace of its own)")
	ready := fs.String("ready", "", "file to create once listening")
	fs.Parse(os.Args[1:])
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *hostFD, *api, *reg, *pidFile, *proc, *ready); err != nil {
		fmt.Fprintln(os.Stderr, "nodeproxy: "+err.Error())
		os.Exit(1)
	}
}

func run(ctx context.Context, hostFD int, api, reg, pidFile, proc, ready string) error {
	if hostFD < 0 || api == "" || reg == "" || pidFile == "" {
		return errors.New("need -host-netns-fd, -api, -registry and -registry-pidfile")
	}
	logf := func(format string, args ...any) { fmt.Fprintf(os.Stderr, "nodeproxy: "+format+"\n", args...) }
	hostNet := os.NewFile(uintptr(hostFD), "host-netns")
	errc := make(chan error, 2)
	for _, f := range []struct {
		spec string
		dial hostport.DialFunc
		what string
	}{
		{api, hostport.DialerIn(hostNet), "the host's network namespace"},
		{reg, dialerInPIDNamespace(pidFile, proc), "the registry's network namespace (" + pidFile + ")"},
	} {
		listen, target, ok := strings.Cut(f.spec, "=")
		if !ok {
			return fmt.Errorf("%q: want LISTEN=TARGET", f.spec)
		}
		l, err := net.Listen("tcp", listen)
		if err != nil {
			return err
		}
		logf("%s forwards to %s in %s", listen, target, f.what)
		go func() { errc <- hostport.Forward(ctx, l, target, f.dial, logf) }()
	}
	if ready != "" {
		if err := os.WriteFile(ready, nil, 0o644); err != nil {
			return err
		}
	}
	select {
	case <-ctx.Done():
		return nil
	case err := <-errc:
		return err
	}
}

// dialerInPIDNamespace dials inside the network namespace of the process
// named by pidFile (a pid as proc shows it), read anew for each connection.
func dialerInPIDNamespace(pidFile, proc string) hostport.DialFunc {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		b, err := os.ReadFile(pidFile)
		if err != nil {
			return nil, fmt.Errorf("no registry namespace: %w (is the engine running? `make engine`)", err)
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil {
			return nil, fmt.Errorf("%s: %q is not a pid", pidFile, b)
		}
		ns, err := os.Open(fmt.Sprintf("%s/%d/ns/net", proc, pid))
		if err != nil {
			return nil, fmt.Errorf("the registry's namespace (pid %d from %s): %w (is the engine running? `make engine`)", pid, pidFile, err)
		}
		defer ns.Close()
		return hostport.DialerIn(ns)(ctx, network, addr)
	}
}
