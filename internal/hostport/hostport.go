// Package hostport forwards TCP ports of the host into another network
// namespace: a listener in the namespace, and for each connection a socket
// dialled in the host's namespace. It also creates single sockets in
// another namespace: DialerIn's connections and ListenIn's listeners.
//
// Why: slipway's engine runs in a private network namespace, so its
// containers cannot reach services on the host's loopback, such as the
// local control plane's API server on 127.0.0.1:16443. In CI the cluster is
// reachable over the network from the engine; on this machine the engine's
// serve process forwards the port, so the generated CI files' deploy jobs
// run unchanged (no tunnel argument) with a kubeconfig whose server is
// https://10.87.0.1:16443.
//
// The serve process runs inside the engine's namespace and inherits a file
// descriptor of the host's network namespace. A socket belongs to the
// namespace of the thread that created it, so the dialler creates it on a
// locked OS thread switched to the host namespace, and switches back.
package hostport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"sync"

	"golang.org/x/sys/unix"
)

// DialFunc dials addr.
type DialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// DialerIn returns a DialFunc whose sockets are created in the network
// namespace ns (an open /proc/PID/ns/net, or a descriptor inherited from
// the host). The calling process needs CAP_SYS_ADMIN.
func DialerIn(ns *os.File) DialFunc {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		return inNamespace(ns, func() (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		})
	}
}

// ListenIn listens on addr in the network namespace ns: the listening
// socket belongs to ns for its whole life, while Accept and the accepted
// connections work from any goroutine of this process. A test on the host
// uses it to serve something only the engine and its containers can reach,
// such as a registry that requires a password. The calling process needs
// CAP_SYS_ADMIN.
func ListenIn(ns *os.File, network, addr string) (net.Listener, error) {
	return inNamespace(ns, func() (net.Listener, error) {
		return net.Listen(network, addr)
	})
}

// inNamespace runs create on an OS thread switched to the network
// namespace ns, and switches the thread back before any other goroutine
// can run on it: only the socket create makes stays in ns.
func inNamespace[T io.Closer](ns *os.File, create func() (T, error)) (T, error) {
	type result struct {
		v   T
		err error
	}
	// A goroutine of its own: if restoring the thread's namespace fails,
	// it exits with its thread still locked, and the runtime then
	// discards the thread instead of reusing it in the wrong namespace.
	done := make(chan result, 1)
	go func() {
		var zero T
		runtime.LockOSThread()
		orig, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
		if err != nil {
			runtime.UnlockOSThread()
			done <- result{zero, fmt.Errorf("hostport: opening this thread's network namespace: %w", err)}
			return
		}
		defer orig.Close()
		if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			done <- result{zero, fmt.Errorf("hostport: entering the network namespace %s: %w", ns.Name(), err)}
			return
		}
		v, cerr := create()
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			// Thread stays locked: the runtime drops it at goroutine exit.
			if cerr == nil {
				v.Close()
			}
			done <- result{zero, fmt.Errorf("hostport: returning to the namespace: %w", err)}
			return
		}
		runtime.UnlockOSThread()
		done <- result{v, cerr}
	}()
	r := <-done
	return r.v, r.err
}

// Forward accepts connections on l until it is closed or ctx ends, and
// joins each to a connection dialled to target with dial. Connections that
// cannot be dialled are closed and reported to logf (the client sees a
// reset, as it would if the port were closed).
func Forward(ctx context.Context, l net.Listener, target string, dial DialFunc, logf func(format string, args ...any)) error {
	if dial == nil {
		var d net.Dialer
		dial = d.DialContext
	}
	if logf == nil {
		logf = func(string, ...any) {}
	}
	stop := context.AfterFunc(ctx, func() { l.Close() })
	defer stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		in, err := l.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("hostport: accepting on %s: %w", l.Addr(), err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer in.Close()
			out, err := dial(ctx, "tcp", target)
			if err != nil {
				logf("forward %s -> %s: %v", l.Addr(), target, err)
				return
			}
			defer out.Close()
			join(in, out)
		}()
	}
}

// join copies both ways until both directions end, half-closing so that a
// client's EOF reaches the server (TLS close_notify, HTTP/1.0 bodies).
func join(a, b net.Conn) {
	var wg sync.WaitGroup
	wg.Add(2)
	pipe := func(dst, src net.Conn) {
		defer wg.Done()
		io.Copy(dst, src)
		if cw, ok := dst.(interface{ CloseWrite() error }); ok {
			cw.CloseWrite()
		} else {
			dst.Close()
		}
	}
	go pipe(a, b)
	go pipe(b, a)
	wg.Wait()
}
