package cluster

import (
	"context"
	"crypto/x509"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"
)

func TestKubeWrapperGoMod(t *testing.T) {
	upstream := `module k8s.io/kubernetes

go 1.23.0

godebug default=go1.23

require (
	k8s.io/api v0.0.0
	github.com/foo/bar v1.2.3
)

replace (
	k8s.io/api => ./staging/src/k8s.io/api
	k8s.io/client-go => ./staging/src/k8s.io/client-go
	github.com/foo/bar => github.com/foo/bar v1.2.4
)
`
	got, err := kubeWrapperGoMod(upstream)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"godebug default=go1.23\n", "require k8s.io/kubernetes " + KubernetesVersion, "\tk8s.io/api => k8s.io/api v0.32.9\n", "\tk8s.io/client-go => k8s.io/client-go v0.32.9\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("wrapper go.mod lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "foo/bar") {
		t.Errorf("non-staging replace copied:\n%s", got)
	}
	if _, err := kubeWrapperGoMod("module k8s.io/kubernetes\n"); err == nil {
		t.Error("a go.mod without staging replaces was accepted")
	}
}

func TestKubeLDFlags(t *testing.T) {
	got := kubeLDFlags("v1.32.9")
	for _, want := range []string{"k8s.io/component-base/version.gitVersion=v1.32.9", "version.gitMinor=32", "k8s.io/client-go/pkg/version.gitMajor=1"} {
		if !strings.Contains(got, want) {
			t.Errorf("ldflags %q lack %q", got, want)
		}
	}
}

func TestPKI(t *testing.T) {
	dir := t.TempDir()
	c, err := New(WithCacheDir(dir), WithSANs("host.tunnel.internal", "10.87.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.ensurePKI(); err != nil {
		t.Fatal(err)
	}
	ca, _, err := loadPair(c.pkiDir(), "ca")
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	srv, _, err := loadPair(c.pkiDir(), "apiserver")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"127.0.0.1", "localhost", "host.tunnel.internal", "10.87.0.1", "kubernetes.default.svc"} {
		if _, err := srv.Verify(x509.VerifyOptions{Roots: pool, DNSName: name}); err != nil {
			t.Errorf("server certificate not valid for %s: %v", name, err)
		}
	}
	if _, err := srv.Verify(x509.VerifyOptions{Roots: pool, DNSName: "evil.example"}); err == nil {
		t.Error("server certificate valid for a name it was not given")
	}
	admin, _, err := loadPair(c.pkiDir(), "admin")
	if err != nil {
		t.Fatal(err)
	}
	if admin.Subject.Organization[0] != "system:masters" {
		t.Errorf("admin organization %v", admin.Subject.Organization)
	}

	// A new SAN re-issues the server certificate from the same CA.
	c2, _ := New(WithCacheDir(dir), WithSANs("another.name"))
	if err := c2.ensurePKI(); err != nil {
		t.Fatal(err)
	}
	ca2, _, _ := loadPair(c.pkiDir(), "ca")
	srv2, _, _ := loadPair(c.pkiDir(), "apiserver")
	if !ca2.Equal(ca) {
		t.Error("adding a SAN replaced the CA: every kubeconfig handed out would break")
	}
	for _, name := range []string{"another.name", "host.tunnel.internal"} {
		if _, err := srv2.Verify(x509.VerifyOptions{Roots: pool, DNSName: name}); err != nil {
			t.Errorf("re-issued certificate (names are only added): %v", err)
		}
	}

	kc, err := c2.Kubeconfig("admin", c2.Server())
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.RESTConfigFromKubeConfig(kc)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Host != "https://127.0.0.1:16443" || len(cfg.CAData) == 0 || len(cfg.CertData) == 0 {
		t.Errorf("kubeconfig host %q, embedded CA %d bytes, cert %d bytes", cfg.Host, len(cfg.CAData), len(cfg.CertData))
	}
}

func TestCheckPort(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	err = checkPort("127.0.0.1", port, "kube-apiserver")
	var pe *PrereqError
	if !errors.As(err, &pe) || !strings.Contains(err.Error(), "port 127.0.0.1:"+strconv.Itoa(port)+" for kube-apiserver is busy") || !strings.Contains(pe.Fix, "ss -ltnp") {
		t.Fatalf("busy port: %v", err)
	}
	l.Close()
	if err := checkPort("127.0.0.1", port, "kube-apiserver"); err != nil {
		t.Fatalf("free port: %v", err)
	}
}

func TestCheckDisk(t *testing.T) {
	if err := checkDisk(filepath.Join(t.TempDir(), "not", "yet"), 1); err != nil {
		t.Fatalf("1 byte: %v", err)
	}
	err := checkDisk(t.TempDir(), 1<<62)
	if err == nil || !strings.Contains(err.Error(), "too little disk") || !strings.Contains(err.Error(), "XDG_CACHE_HOME") {
		t.Fatalf("4 EiB: %v", err)
	}
}

func TestAliveAndStop(t *testing.T) {
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep binary")
	}
	cmd := exec.Command(sleep, "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go cmd.Wait()
	p := proc{Name: "sleep", PID: cmd.Process.Pid, Args: []string{sleep, "60"}}
	// Right after Start the child may not have exec'd yet: its cmdline is
	// still the test binary's. Give it a moment.
	for deadline := time.Now().Add(5 * time.Second); !alive(p) && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if !alive(p) {
		t.Fatal("a running process is not alive")
	}
	if alive(proc{Name: "x", PID: cmd.Process.Pid, Args: []string{"/other/binary"}}) {
		t.Fatal("a pid running another binary counts as alive")
	}
	if err := stop(p, 0); err != nil {
		t.Fatal(err)
	}
	if alive(p) {
		t.Fatal("still alive after stop")
	}
}

func TestStatusWithoutInstance(t *testing.T) {
	c, err := New(WithCacheDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	st := c.Status(context.Background())
	if st.Running || !strings.Contains(st.Reason, "run `make cluster`") {
		t.Fatalf("status %+v", st)
	}
	if err := c.Down(context.Background()); err != nil {
		t.Fatalf("down with nothing running: %v", err)
	}
}

func TestWriteStages(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command")
	}
	c, err := New(WithCacheDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(c.BuildDir(), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := c.writeStages(context.Background()); err != nil {
		t.Skipf("kwok module source not available: %v", err)
	}
	b, err := os.ReadFile(c.stagesFile())
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, want := range []string{"name: pod-ready", "name: node-initialize", "name: pod-complete", "name: pod-delete", "name: node-heartbeat-with-lease"} {
		if !strings.Contains(s, want) {
			t.Errorf("stages lack %q", want)
		}
	}
	// Failures are the real node's: no image-name rule fakes them.
	for _, unwanted := range []string{"ImagePullBackOff", "bad@sha256", ":bad"} {
		if strings.Contains(s, unwanted) {
			t.Errorf("stages still fake failures (%q)", unwanted)
		}
	}
	if n := strings.Count(s, "\n---\n"); n != 4 {
		t.Errorf("%d separators, want 4 (5 stages)", n)
	}
}
