// Command gitops builds, starts and stops Argo CD (internal/argocd) on
// slipway's local control plane, and the git server (internal/enginegit)
// that the engine's containers push promote commits to and Argo CD
// fetches them from, at the same URL; the Makefile's gitops targets run
// it.
//
//	go run ./internal/cmd/gitops up       # build what is not cached, start (or reuse) Argo CD and the git server
//	go run ./internal/cmd/gitops down     # stop every process it started
//	go run ./internal/cmd/gitops status   # running or not, and why
//	go run ./internal/cmd/gitops build    # only build (and cache) argocd, kustomize and helm
//	go run ./internal/cmd/gitops demo     # the demo's GitOps repository, Argo CD repository secret and Applications
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/slipway-ci/slipway/internal/argocd"
	"github.com/slipway-ci/slipway/internal/cluster"
	"github.com/slipway-ci/slipway/internal/enginegit"
)

// serveGit is the git server daemon's own subcommand (enginegit.Daemon.Up
// runs this program with it).
const serveGit = "serve-git"

func main() {
	fs := flag.NewFlagSet("gitops", flag.ExitOnError)
	kubeconfig := fs.String("kubeconfig", "", "admin kubeconfig of the cluster Argo CD manages (default: the local control plane's)")
	instance := fs.String("instance", "", "instance directory (default CACHE/argocd/default)")
	fs.Usage = func() { fmt.Fprintln(os.Stderr, "usage: gitops [flags] up|down|status|build|demo"); fs.PrintDefaults() }
	args := os.Args[1:]
	var sub string
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		sub, args = args[0], args[1:]
	}
	gitDir := fs.String("dir", "", serveGit+": the git server's directory")
	gitPort := fs.Int("port", enginegit.DefaultPort, serveGit+": its port")
	envFile := fs.String("env-file", ".slipway/gitops.env", "demo: where to write GIT_PASSWORD for the demo's deploy jobs")
	fs.Parse(args)
	if sub == serveGit {
		if err := enginegit.Serve(*gitDir, *gitPort); err != nil {
			fail(err)
		}
		return
	}
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
	git, err := enginegit.NewDaemon(os.Stderr)
	if err != nil {
		fail(err)
	}
	switch sub {
	case "up":
		if err = a.Up(ctx); err == nil {
			err = gitUp(git)
		}
	case "down":
		if err = git.Down(); err == nil {
			err = a.Down(ctx)
		}
	case "build":
		err = argocd.Build(ctx)
	case "demo":
		if st := a.Status(ctx); !st.Running {
			fail(fmt.Errorf("Argo CD is not running (%s): make gitops", st.Reason))
		}
		err = demo(ctx, git, *kubeconfig, *envFile)
	case "status":
		st := a.Status(ctx)
		gitOK, gitWhy := git.Status()
		if gitOK {
			fmt.Printf("the git server runs (%s)\n", git.Dir())
		} else {
			fmt.Println("the git server is not running:", gitWhy)
		}
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

// gitUp starts the git server the demo's GitOps deploys use; it needs the
// engine (its containers push there), so without one it only says so.
func gitUp(git *enginegit.Daemon) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	if err := git.Up(self, serveGit); err != nil {
		if ok, _ := git.Status(); !ok && errors.Is(err, enginegit.ErrNoEngine) {
			fmt.Fprintln(os.Stderr, "gitops: no git server for the demo:", err)
			return nil
		}
		return err
	}
	return nil
}
