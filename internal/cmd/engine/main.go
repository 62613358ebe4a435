// Command engine builds, starts and stops slipway's air-gapped Dagger
// engine; the Makefile's engine targets run it.
//
//	go run ./internal/cmd/engine up      # build what is not cached, start (or reuse) the engine
//	go run ./internal/cmd/engine down    # stop it; the host is left as it was
//	go run ./internal/cmd/engine prune   # bring the build cache under its cap (-cache-max, default 25GiB) while idle
//	go run ./internal/cmd/engine status  # running or not, and why
//	go run ./internal/cmd/engine env     # the environment to export
//
// `serve` runs the registry mirror and the module proxy; ns.sh starts it
// inside the engine's namespaces.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/slipway-ci/slipway/internal/engine"
	"github.com/slipway-ci/slipway/internal/hostport"
	"github.com/slipway-ci/slipway/internal/mirror"
)

const usage = `usage: engine [flags] up|down|prune|status|env
       engine serve -instance DIR -ready FILE [-host-netns-fd 3 -host-ports 16443]

flags:
`

func main() {
	fs := flag.NewFlagSet("engine", flag.ExitOnError)
	cache := fs.String("cache", "", "build cache (default ${XDG_CACHE_HOME:-$HOME/.cache}/slipway)")
	instance := fs.String("instance", "", "instance directory (default CACHE/engine/default)")
	repo := fs.String("repo", "", "slipway checkout (default: the module root above the working directory)")
	ready := fs.String("ready", "", "serve: file to create once the mirror is seeded")
	hostNetFD := fs.Int("host-netns-fd", -1, "serve: an inherited descriptor of the host's network namespace, where forwarded ports are dialled")
	hostPorts := fs.String("host-ports", "", "host loopback ports to forward into the namespace, comma-separated (up: default 16443; serve: as ns.sh passes them)")
	noApt := fs.Bool("no-apt", false, "do not install missing Debian packages; fail instead")
	cacheMax := fs.String("cache-max", "", "prune: how much the engine's build cache keeps, least recently used entries going first, as 25GiB, 40GB or bytes (default 25GiB)")
	force := fs.Bool("force", false, "up: restart a running engine that differs from this checkout's even while clients are connected (kills their sessions)")
	fs.Usage = func() { fmt.Fprint(os.Stderr, usage); fs.PrintDefaults() }
	args := os.Args[1:]
	// Accept flags after the subcommand too: `engine serve -instance X`.
	var sub string
	if len(args) > 0 && args[0] != "" && args[0][0] != '-' {
		sub, args = args[0], args[1:]
	}
	fs.Parse(args)
	if sub == "" && fs.NArg() > 0 {
		sub = fs.Arg(0)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	opts := []engine.Option{engine.WithLog(os.Stderr)}
	if *cache != "" {
		opts = append(opts, engine.WithCacheDir(*cache))
	}
	if *instance != "" {
		opts = append(opts, engine.WithInstanceDir(*instance))
	}
	if *repo != "" {
		opts = append(opts, engine.WithRepoDir(*repo))
	}
	if *noApt {
		opts = append(opts, engine.WithoutApt())
	}
	if *force {
		opts = append(opts, engine.WithForceRestart())
	}
	if *cacheMax != "" {
		n, err := engine.ParseSize(*cacheMax)
		if err != nil {
			fmt.Fprintf(os.Stderr, "engine: -cache-max: %v\n", err)
			os.Exit(2)
		}
		opts = append(opts, engine.WithCacheMax(n))
	}
	if sub != "serve" && *hostPorts != "" {
		ports, err := parsePorts(*hostPorts)
		if err != nil {
			fmt.Fprintln(os.Stderr, "engine: "+err.Error())
			os.Exit(2)
		}
		opts = append(opts, engine.WithHostPorts(ports...))
	}
	if sub == "serve" {
		if err := serve(ctx, *cache, *instance, *ready, *hostNetFD, *hostPorts); err != nil {
			fmt.Fprintln(os.Stderr, "engine serve: "+err.Error())
			os.Exit(1)
		}
		return
	}
	if err := run(ctx, sub, opts); err != nil {
		fmt.Fprintln(os.Stderr, "engine "+sub+": "+err.Error())
		os.Exit(1)
	}
}

func run(ctx context.Context, sub string, opts []engine.Option) error {
	e, err := engine.New(opts...)
	if err != nil {
		return err
	}
	switch sub {
	case "up":
		env, err := e.Up(ctx)
		if err != nil {
			return err
		}
		fmt.Printf("# engine running; env file: %s\n", e.EnvFile())
		fmt.Print(env.Script())
	case "down":
		return e.Down(ctx)
	case "prune":
		res, err := e.Prune(ctx)
		if err != nil {
			return err
		}
		fmt.Printf("engine cache: %s before, %s after (%s)\n", res.Before, res.After, res.Took.Round(time.Second))
	case "status":
		// Counted before Status, whose own probe would count while the
		// engine closes it.
		clients, err := e.Clients()
		if err != nil {
			return err
		}
		st := e.Status()
		if !st.Running {
			return errors.New(st.Reason)
		}
		fmt.Printf("running (pid %d), socket %s, %d client connection(s)\n", st.PID, e.SocketPath(), clients)
	case "env":
		fmt.Print(e.Env().Script())
	default:
		fmt.Fprint(os.Stderr, usage)
		return fmt.Errorf("unknown subcommand %q", sub)
	}
	return nil
}

// serve runs inside the engine's network namespace: the registry mirror on
// :5000 (the engine pulls from 127.0.0.1:5000, containers reach
// 10.87.0.1:5000), the file GOPROXY on :8081, and each forwarded host port
// (containers reach the host's 127.0.0.1:16443 at 10.87.0.1:16443).
func serve(ctx context.Context, cache, instance, ready string, hostNetFD int, hostPorts string) error {
	if instance == "" || cache == "" {
		return errors.New("serve needs -cache and -instance")
	}
	if err := forwardHostPorts(ctx, hostNetFD, hostPorts); err != nil {
		return err
	}
	return mirror.Serve(ctx, mirror.ServeConfig{
		RegistryAddr:  "0.0.0.0:5000",
		PushHost:      engine.MirrorAddr,
		GoProxyAddr:   engine.GoProxyAddr,
		BlobDir:       filepath.Join(cache, "registry", "blobs"),
		ManifestDir:   filepath.Join(instance, "registry"),
		SeedFile:      filepath.Join(instance, "etc", "seeds.txt"),
		GoModDownload: os.Getenv("SLIPWAY_GOMODCACHE_DOWNLOAD"),
		Ready:         ready,
		Listen:        engine.Listen,
		Log:           os.Stderr,
	})
}

// forwardHostPorts listens on each port in this namespace and dials the
// host's 127.0.0.1:PORT from the host's namespace (internal/hostport).
func forwardHostPorts(ctx context.Context, fd int, ports string) error {
	if ports == "" {
		return nil
	}
	if fd < 0 {
		return errors.New("-host-ports needs -host-netns-fd: the host's network namespace")
	}
	hostNet := os.NewFile(uintptr(fd), "host-netns")
	dial := hostport.DialerIn(hostNet)
	logf := func(format string, args ...any) { fmt.Fprintf(os.Stderr, "hostport: "+format+"\n", args...) }
	list, err := parsePorts(ports)
	if err != nil {
		return err
	}
	for _, port := range list {
		l, err := engine.Listen(fmt.Sprintf("0.0.0.0:%d", port))
		if err != nil {
			return fmt.Errorf("forwarding host port %d: %w", port, err)
		}
		target := fmt.Sprintf("127.0.0.1:%d", port)
		go func() {
			if err := hostport.Forward(ctx, l, target, dial, logf); err != nil {
				logf("%v", err)
			}
		}()
		logf("the host's %s is reachable at %s:%d", target, engine.BridgeIP, port)
	}
	return nil
}

// parsePorts reads -host-ports: "16443,8080".
func parsePorts(s string) ([]int, error) {
	var out []int
	for _, p := range strings.Split(s, ",") {
		port, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || port <= 0 || port > 65535 {
			return nil, fmt.Errorf("-host-ports: %q is not a port", p)
		}
		out = append(out, port)
	}
	return out, nil
}
