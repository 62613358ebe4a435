// Command dialstdio is the `buildctl` of slipway's engine image
// (internal/engine PodImage): the one command Dagger's kube-pod://,
// docker-container:// and podman-container:// drivers run inside the engine's
// container, `buildctl dial-stdio`, which joins the command's stdin and
// stdout to the engine's gRPC socket. Dagger's own image ships the same
// proxy (cmd/dialstdio in the dagger module) under that name; this one is
// built from slipway's module because dagger's cannot be built outside its
// repository (its go.mod replaces modules the proxy does not serve).
//
// With no input it connects, hangs up and exits 0: deploy/engine's
// readiness probe (`buildctl dial-stdio </dev/null`) so checks that the
// engine answers, in Dagger's image and in slipway's alike.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"time"
)

// defaultAddr is where the engine listens inside its container: Dagger's
// DefaultEngineSockAddr, and what deploy/engine's engine.toml sets.
const defaultAddr = "unix:///run/dagger/engine.sock"

func main() {
	if err := run(os.Args[1:], os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "buildctl:", err)
		os.Exit(1)
	}
}

func run(args []string, stdin io.Reader, stdout io.Writer) error {
	// The drivers put the subcommand first ("buildctl dial-stdio"), and
	// buildctl takes --addr before or after it; accept both.
	sub := ""
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		sub, args = args[0], args[1:]
	}
	fs := flag.NewFlagSet("buildctl", flag.ContinueOnError)
	addr := fs.String("addr", defaultAddr, "the engine's address (unix://PATH)")
	timeout := fs.Duration("timeout", 5*time.Second, "how long to wait for the engine to accept the connection")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if sub == "" && fs.NArg() > 0 {
		sub = fs.Arg(0)
	}
	if sub != "dial-stdio" {
		return fmt.Errorf("unknown command %q: this buildctl only has dial-stdio", sub)
	}
	conn, err := dial(*addr, *timeout)
	if err != nil {
		return err
	}
	defer conn.Close()
	return proxy(conn, stdin, stdout)
}

func dial(addr string, timeout time.Duration) (*net.UnixConn, error) {
	path, ok := strings.CutPrefix(addr, "unix://")
	if !ok {
		return nil, fmt.Errorf("address %q: only unix:// sockets are served", addr)
	}
	c, err := net.DialTimeout("unix", path, timeout)
	if err != nil {
		return nil, fmt.Errorf("connecting to the engine: %w", err)
	}
	return c.(*net.UnixConn), nil
}

// proxy copies stdin to the engine and the engine to stdout. When the
// engine closes its side the command ends at once, as buildctl's does:
// kubectl exec's stdin may never reach EOF. When stdin ends, the write half
// is closed so that the engine sees the client hang up, and the answer is
// still copied out.
func proxy(conn *net.UnixConn, stdin io.Reader, stdout io.Writer) error {
	var once sync.Once
	done := make(chan error, 2)
	go func() {
		_, err := io.Copy(conn, stdin)
		once.Do(func() { conn.CloseWrite() })
		if err != nil {
			done <- fmt.Errorf("stdin to the engine: %w", err)
		}
	}()
	go func() {
		_, err := io.Copy(stdout, conn)
		if err != nil && !errors.Is(err, net.ErrClosed) {
			err = fmt.Errorf("the engine to stdout: %w", err)
		} else {
			err = nil
		}
		done <- err
	}()
	return <-done
}
