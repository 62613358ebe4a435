// Command engine builds, starts and stops slipway's air-gapped Dagger
// engine; the Makefile's engine targets run it.
//
//	go run ./internal/cmd/engine up      # build what is not cached, start (or reuse) the engine
//	go run ./internal/cmd/engine down    # stop it; the host is left as it was
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
	"syscall"

	"github.com/slipway-ci/slipway/internal/engine"
	"github.com/slipway-ci/slipway/internal/mirror"
)

const usage = `usage: engine [flags] up|down|status|env
       engine serve -instance DIR -ready FILE

flags:
`

func main() {
	fs := flag.NewFlagSet("engine", flag.ExitOnError)
	cache := fs.String("cache", "", "build cache (default ${XDG_CACHE_HOME:-$HOME/.cache}/slipway)")
	instance := fs.String("instance", "", "instance directory (default CACHE/engine/default)")
	repo := fs.String("repo", "", "slipway checkout (default: the module root above the working directory)")
	ready := fs.String("ready", "", "serve: file to create once the mirror is seeded")
	noApt := fs.Bool("no-apt", false, "do not install missing Debian packages; fail instead")
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
	if err := run(ctx, sub, opts, *cache, *instance, *ready); err != nil {
		fmt.Fprintln(os.Stderr, "engine "+sub+": "+err.Error())
		os.Exit(1)
	}
}

func run(ctx context.Context, sub string, opts []engine.Option, cache, instance, ready string) error {
	if sub == "serve" {
		return serve(ctx, cache, instance, ready)
	}
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
	case "status":
		st := e.Status()
		if !st.Running {
			return errors.New(st.Reason)
		}
		fmt.Printf("running (pid %d), socket %s\n", st.PID, e.SocketPath())
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
// 10.87.0.1:5000) and the file GOPROXY on :8081.
func serve(ctx context.Context, cache, instance, ready string) error {
	if instance == "" || cache == "" {
		return errors.New("serve needs -cache and -instance")
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
