// Command gitops builds, starts and stops Argo CD (internal/argocd) on
// slipway's local control plane; the Makefile's gitops targets run it.
//
//	go run ./internal/cmd/gitops up       # build what is not cached, start (or reuse) Argo CD
//	go run ./internal/cmd/gitops down     # stop every process it started
//	go run ./internal/cmd/gitops status   # running or not, and why
//	go run ./internal/cmd/gitops build    # only build (and cache) argocd, kustomize and helm
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/slipway-ci/slipway/internal/argocd"
	"github.com/slipway-ci/slipway/internal/cluster"
)

func main() {
	fs := flag.NewFlagSet("gitops", flag.ExitOnError)
	kubeconfig := fs.String("kubeconfig", "", "admin kubeconfig of the cluster Argo CD manages (default: the local control plane's)")
	instance := fs.String("instance", "", "instance directory (default CACHE/argocd/default)")
	fs.Usage = func() { fmt.Fprintln(os.Stderr, "usage: gitops [flags] up|down|status|build"); fs.PrintDefaults() }
	args := os.Args[1:]
	var sub string
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		sub, args = args[0], args[1:]
	}
	fs.Parse(args)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *kubeconfig == "" {
		c, err := cluster.New()
		if err != nil {
			fail(err)
		}
		*kubeconfig = c.KubeconfigPath()
	}
	opts := []argocd.Option{argocd.WithLog(os.Stderr)}
	if *instance != "" {
		opts = append(opts, argocd.WithInstanceDir(*instance))
	}
	a, err := argocd.New(*kubeconfig, opts...)
	if err != nil {
		fail(err)
	}
	switch sub {
	case "up":
		err = a.Up(ctx)
	case "down":
		err = a.Down(ctx)
	case "build":
		err = argocd.Build(ctx)
	case "status":
		st := a.Status(ctx)
		if st.Running {
			fmt.Printf("Argo CD %s runs against %s (logs: %s)\n", argocd.Version, *kubeconfig, a.LogDir())
			return
		}
		fmt.Println("Argo CD is not running:", st.Reason)
		os.Exit(1)
	default:
		fs.Usage()
		os.Exit(2)
	}
	if err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "gitops:", err)
	os.Exit(1)
}
