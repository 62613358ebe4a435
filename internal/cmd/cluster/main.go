// Command cluster builds, starts and stops slipway's local Kubernetes
// control plane (internal/cluster); the Makefile's cluster targets run it.
//
//	go run ./internal/cmd/cluster up       # build what is not cached, start (or reuse) the control plane and the real node
//	go run ./internal/cmd/cluster down     # stop every process it started
//	go run ./internal/cmd/cluster status   # running or not, and why
//	go run ./internal/cmd/cluster build    # only build (and cache) the binaries
//	go run ./internal/cmd/cluster env      # the KUBECONFIG line to export
//	go run ./internal/cmd/cluster kubeconfig -server https://kubernetes:16443
//	                                       # the admin kubeconfig naming another server address
//	                                       # (a tunnel); the address must be one of the TLS names
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/slipway-ci/slipway/internal/cluster"
)

const usage = `usage: cluster [flags] up|down|status|build|env|kubeconfig

flags:
`

func main() {
	fs := flag.NewFlagSet("cluster", flag.ExitOnError)
	cache := fs.String("cache", "", "build cache (default ${XDG_CACHE_HOME:-$HOME/.cache}/slipway)")
	instance := fs.String("instance", "", "instance directory (default CACHE/cluster/default)")
	repo := fs.String("repo", "", "slipway checkout to copy the kubeconfig into (default: the module root above the working directory)")
	san := fs.String("san", "", "extra TLS names for the API server certificate, comma-separated (also $SLIPWAY_CLUSTER_SANS)")
	bind := fs.String("bind", "", "address every component listens on (default 127.0.0.1)")
	ports := fs.String("ports", "", "six ports: apiserver,etcd,etcd-peer,controller-manager,scheduler,kwok (default 16443,23791,23801,20257,20259,20247); a second instance also needs its own -instance")
	server := fs.String("server", "", "kubeconfig: the server URL to write (default the local address)")
	node := fs.Bool("node", true, "up: also run the real node (kubelet + containerd; needs root); -node=false starts kwok's nodes only, untainted")
	nodeNet := fs.String("node-net", "", "up: the real node's IPv4 /16 (default "+cluster.DefaultNodeNetwork.String()+"); a second instance also needs its own")
	fs.Usage = func() { fmt.Fprint(os.Stderr, usage); fs.PrintDefaults() }
	args := os.Args[1:]
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

	opts := []cluster.Option{cluster.WithLog(os.Stderr)}
	if *cache != "" {
		opts = append(opts, cluster.WithCacheDir(*cache))
	}
	if *instance != "" {
		opts = append(opts, cluster.WithInstanceDir(*instance))
	}
	// Only the default instance owns the checkout's .slipway/cluster/kubeconfig.
	if r := *repo; r != "" {
		opts = append(opts, cluster.WithRepoDir(r))
	} else if r := findRepo(); r != "" && *instance == "" {
		opts = append(opts, cluster.WithRepoDir(r))
	}
	if *san != "" {
		opts = append(opts, cluster.WithSANs(strings.Split(*san, ",")...))
	}
	if *ports != "" {
		p, err := parsePorts(*ports)
		if err != nil {
			fmt.Fprintln(os.Stderr, "cluster: "+err.Error())
			os.Exit(2)
		}
		opts = append(opts, cluster.WithPorts(p))
	}
	if *bind != "" {
		opts = append(opts, cluster.WithBindAddress(*bind))
	}
	if !*node {
		opts = append(opts, cluster.WithoutNode())
	}
	if *nodeNet != "" {
		n, err := cluster.ParseNodeNetwork(*nodeNet)
		if err != nil {
			fmt.Fprintln(os.Stderr, "cluster: -node-net: "+err.Error())
			os.Exit(2)
		}
		opts = append(opts, cluster.WithNodeNetwork(n))
	}
	if err := run(ctx, sub, opts, *server); err != nil {
		fmt.Fprintln(os.Stderr, "cluster "+sub+": "+err.Error())
		os.Exit(1)
	}
}

func run(ctx context.Context, sub string, opts []cluster.Option, server string) error {
	c, err := cluster.New(opts...)
	if err != nil {
		return err
	}
	switch sub {
	case "up":
		if err := c.Up(ctx); err != nil {
			return err
		}
		names, err := c.CertNames()
		if err != nil {
			return err
		}
		fmt.Printf("# control plane running at %s; TLS names %s\n", c.Server(), strings.Join(names, ","))
		if st := c.Status(ctx); st.Node != "" {
			fmt.Printf("# real node %s (label %s=%s); kwok nodes are tainted %s:NoSchedule\n", st.Node, cluster.NodeLabel, cluster.NodeLabelValue, cluster.KwokTaintKey)
		}
		printEnv(c)
	case "down":
		return c.Down(ctx)
	case "build":
		return c.Build(ctx)
	case "status":
		st := c.Status(ctx)
		if !st.Running {
			return errors.New(st.Reason)
		}
		fmt.Printf("running at %s, kubeconfig %s, pids %v\n", st.Server, st.Kubeconfig, st.PIDs)
		if st.Node != "" {
			fmt.Printf("real node %s\n", st.Node)
		}
	case "env":
		printEnv(c)
	case "kubeconfig":
		if server == "" {
			server = c.Server()
		}
		names, err := c.CertNames()
		if err != nil {
			return err
		}
		if err := checkServerName(server, names); err != nil {
			return err
		}
		kc, err := c.Kubeconfig("admin", server)
		if err != nil {
			return err
		}
		os.Stdout.Write(kc)
	default:
		fmt.Fprint(os.Stderr, usage)
		return fmt.Errorf("unknown subcommand %q", sub)
	}
	return nil
}

func printEnv(c *cluster.Cluster) {
	fmt.Printf("export KUBECONFIG=%s\n", c.KubeconfigPath())
	if p := c.RepoKubeconfigPath(); p != "" {
		fmt.Printf("# the same kubeconfig is copied to %s\n", p)
	}
	p := c.EngineKubeconfigPath()
	if rp := c.RepoEngineKubeconfigPath(); rp != "" {
		p = rp
	}
	fmt.Printf("# as the local Dagger engine's containers reach it (%s): %s\n", c.EngineServer(), p)
}

func parsePorts(s string) (cluster.Ports, error) {
	f := strings.Split(s, ",")
	if len(f) != 6 {
		return cluster.Ports{}, fmt.Errorf("-ports %q: want six comma-separated ports (apiserver,etcd,etcd-peer,controller-manager,scheduler,kwok)", s)
	}
	n := make([]int, 6)
	for i, x := range f {
		v, err := strconv.Atoi(strings.TrimSpace(x))
		if err != nil || v <= 0 || v > 65535 {
			return cluster.Ports{}, fmt.Errorf("-ports %q: %q is not a port", s, x)
		}
		n[i] = v
	}
	return cluster.Ports{APIServer: n[0], Etcd: n[1], EtcdPeer: n[2], ControllerManager: n[3], Scheduler: n[4], Kwok: n[5]}, nil
}

// checkServerName refuses a server URL whose host the certificate does not
// name: the client would fail TLS verification later, less clearly.
func checkServerName(server string, names []string) error {
	u, err := url.Parse(server)
	if err != nil || u.Hostname() == "" {
		return fmt.Errorf("-server %q is not a URL like https://HOST:PORT", server)
	}
	if !slices.Contains(names, u.Hostname()) {
		return fmt.Errorf("-server host %q is not a TLS name of the API server certificate (%s): add it with `make cluster CLUSTER_FLAGS=-san=%s` (or SLIPWAY_CLUSTER_SANS)", u.Hostname(), strings.Join(names, ","), u.Hostname())
	}
	return nil
}

// findRepo is the slipway checkout above the working directory, if any.
func findRepo() string {
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && strings.HasPrefix(string(b), "module github.com/slipway-ci/slipway\n") {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}
