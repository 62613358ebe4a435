// Command enginepod builds the Dagger engine of `make engine` as an OCI
// image (internal/enginepod), pushes it to the running engine's registry,
// where the local cluster's real node pulls from, and can write
// deploy/engine's DaemonSet for it.
//
//	go run ./internal/cmd/enginepod [-push] [-manifests FILE]
//
// It prints the image's layout directory, and with -push the reference
// the node pulls (10.87.0.1:5000/slipway/dagger-engine@sha256:...).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	deployengine "github.com/slipway-ci/slipway/deploy/engine"
	"github.com/slipway-ci/slipway/internal/engine"
	"github.com/slipway-ci/slipway/internal/enginepod"
)

func main() {
	push := flag.Bool("push", false, "push the image to the running engine's registry (the local cluster's node pulls from it)")
	repo := flag.String("repo", enginepod.DefaultRepository, "repository to push to")
	manifests := flag.String("manifests", "", "write the engine's DaemonSet for the pushed image here, for the local cluster's real node (needs -push)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *push, *repo, *manifests); err != nil {
		fmt.Fprintln(os.Stderr, "enginepod:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, push bool, repo, manifests string) error {
	wd, err := os.Getwd()
	if err != nil {
		return err
	}
	root, ok := engine.FindRepo(wd)
	if !ok {
		return fmt.Errorf("not inside the slipway checkout (%s)", wd)
	}
	e, err := engine.New(engine.WithLog(os.Stderr))
	if err != nil {
		return err
	}
	img, err := (&enginepod.Builder{Engine: e, Repo: root, Log: os.Stderr}).Build(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("layout %s\ndigest %s\n", img.Layout, img.Digest)
	if !push {
		if manifests != "" {
			return fmt.Errorf("-manifests needs -push: the DaemonSet names the pushed image")
		}
		return nil
	}
	ref, err := enginepod.Push(ctx, e.Env(), img.Image, repo)
	if err != nil {
		return err
	}
	fmt.Printf("image %s\n", ref)
	if manifests == "" {
		return nil
	}
	y, err := deployengine.YAML(ref, enginepod.LocalClusterOptions()...)
	if err != nil {
		return err
	}
	return os.WriteFile(manifests, y, 0o644)
}
