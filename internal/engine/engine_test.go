package engine

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
)

func TestPrereqMessagesNameProblemAndFix(t *testing.T) {
	tests := []struct {
		name    string
		err     error
		problem string
		fix     string
	}{
		{"not root", checkRoot(1000), "not root (uid 1000)", "sudo make engine"},
		{"arch", checkPlatform("linux", "riscv64"), "unsupported architecture riscv64", "amd64 or arm64"},
		{"os", checkPlatform("darwin", "arm64"), "unsupported operating system darwin", "Linux host"},
		{"overlay", checkOverlay("nodev\tsysfs\nnodev\ttmpfs\n"), "overlayfs is not available", "modprobe overlay"},
		{"disk", diskError("/var/cache", 1<<30, 12<<30), "too little disk: 1.0 GiB free at /var/cache, the engine needs 12.0 GiB", "XDG_CACHE_HOME"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var pe *PrereqError
			if !errors.As(tt.err, &pe) {
				t.Fatalf("got %v (%T), want a *PrereqError", tt.err, tt.err)
			}
			if !strings.Contains(pe.Problem, tt.problem) {
				t.Errorf("problem %q does not say %q", pe.Problem, tt.problem)
			}
			if !strings.Contains(pe.Fix, tt.fix) {
				t.Errorf("fix %q does not say %q", pe.Fix, tt.fix)
			}
			if !strings.Contains(pe.Error(), "\n  fix: ") {
				t.Errorf("Error() %q does not show the fix", pe.Error())
			}
		})
	}
}

func TestPrereqsPass(t *testing.T) {
	for _, err := range []error{
		checkRoot(0),
		checkPlatform("linux", "amd64"),
		checkPlatform("linux", "arm64"),
		checkOverlay("nodev\tsysfs\nnodev\toverlay\n"),
		checkDisk(t.TempDir(), 1),
	} {
		if err != nil {
			t.Errorf("unexpected error: %v", err)
		}
	}
	if err := checkDisk(t.TempDir(), 1<<62); err == nil || !strings.Contains(err.Error(), "too little disk") {
		t.Errorf("checkDisk with an impossible need: %v", err)
	}
}

func TestBusySocketAndPort(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "engine.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	err = checkSocketFree(sock)
	if err == nil || !strings.Contains(err.Error(), "is busy") || !strings.Contains(err.Error(), "engine-down") {
		t.Errorf("busy socket: %v", err)
	}
	l.Close()
	// A stale socket file (nobody listening) is removed, not reported.
	if err := os.WriteFile(sock, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := checkSocketFree(sock); err != nil {
		t.Errorf("stale socket: %v", err)
	}
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Errorf("stale socket not removed: %v", err)
	}

	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tcp.Close()
	_, err = Listen(tcp.Addr().String())
	if err == nil || !strings.Contains(err.Error(), "is busy") || !strings.Contains(err.Error(), "ss -ltnp") {
		t.Errorf("busy port: %v", err)
	}
}

func TestInstanceDirUnderOverlaidPathIsRefused(t *testing.T) {
	e, err := New(WithCacheDir(t.TempDir()), WithInstanceDir("/var/lib/slipway"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.Up(context.Background())
	if err == nil || !strings.Contains(err.Error(), "is under /var/lib") {
		t.Errorf("Up with an instance under /var/lib: %v", err)
	}
}

func TestMirrorPath(t *testing.T) {
	for ref, want := range map[string]string{
		"golang:1.25":          "library/golang:1.25",
		"aquasec/trivy:0.74.0": "aquasec/trivy:0.74.0",
		"gcr.io/distroless/static-debian12:nonroot": "distroless/static-debian12:nonroot",
		"ghcr.io/aquasecurity/trivy-db:2":           "aquasecurity/trivy-db:2",
		"localhost/x:1":                             "x:1",
		"127.0.0.1:5000/a/b:c":                      "a/b:c",
	} {
		if got := mirrorPath(ref); got != want {
			t.Errorf("mirrorPath(%q) = %q, want %q", ref, got, want)
		}
	}
}

func TestEngineConfigMirrorsEveryRegistry(t *testing.T) {
	e, err := New(WithCacheDir("/c"), WithInstanceDir("/i"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := e.engineConfig()
	for _, want := range []string{
		`root = "/i/state"`,
		`address = ["unix:///i/run/engine.sock"]`,
		`cniBinaryPath = "/i/cni-bin"`,
		`cniConfigPath = "/i/etc/cni.conflist"`,
		"[registry.\"docker.io\"]\n  mirrors = [\"127.0.0.1:5000\"]",
		"[registry.\"gcr.io\"]\n  mirrors = [\"127.0.0.1:5000\"]",
		"[registry.\"ghcr.io\"]\n  mirrors = [\"127.0.0.1:5000\"]",
		"[registry.\"127.0.0.1:5000\"]\n  http = true\n  insecure = true",
	} {
		if !strings.Contains(cfg, want) {
			t.Errorf("engine.toml lacks %q:\n%s", want, cfg)
		}
	}
}

// TestCNIConfigIsDaggersLessItsIptables checks the engine's network is
// Dagger's own (the bridge, subnet and dnsname settings containers and
// services rely on) with no plugin or option that writes iptables rules
// per container.
func TestCNIConfigIsDaggersLessItsIptables(t *testing.T) {
	var conf struct {
		Name    string           `json:"name"`
		Plugins []map[string]any `json:"plugins"`
	}
	if err := json.Unmarshal([]byte(cniConfig), &conf); err != nil {
		t.Fatalf("the CNI configuration does not parse: %v", err)
	}
	if conf.Name != "dagger" || len(conf.Plugins) != 2 {
		t.Fatalf("want the network dagger with bridge and dnsname, got %q with %d plugins", conf.Name, len(conf.Plugins))
	}
	bridge, dns := conf.Plugins[0], conf.Plugins[1]
	if bridge["type"] != "bridge" || bridge["bridge"] != "dagger0" || bridge["ipMasq"] != false || bridge["isDefaultGateway"] != true {
		t.Errorf("bridge plugin = %v, want dagger0, the default gateway, no masquerade", bridge)
	}
	if !strings.Contains(cniConfig, `"subnet": "10.87.0.0/16"`) || !strings.HasPrefix(MirrorBridgeAddr, "10.87.0.1:") {
		t.Errorf("the bridge's subnet is not the one the mirror's address (%s) is on:\n%s", MirrorBridgeAddr, cniConfig)
	}
	if dns["type"] != "dnsname" || dns["domainName"] != "dagger.local" {
		t.Errorf("dnsname plugin = %v, want Dagger's (service aliases resolve through it)", dns)
	}
	if strings.Contains(cniConfig, "firewall") {
		t.Errorf("the firewall plugin is back: it adds and deletes iptables rules around every exec")
	}
}

func TestEnvFileRoundTrip(t *testing.T) {
	e, err := New(WithCacheDir("/cache/slipway"), WithInstanceDir("/cache/slipway/engine/x"))
	if err != nil {
		t.Fatal(err)
	}
	env := e.Env()
	p := filepath.Join(t.TempDir(), "sub", "engine.env")
	if err := env.WriteFile(p); err != nil {
		t.Fatal(err)
	}
	got, err := ReadEnvFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if got != env {
		t.Errorf("read back %+v, wrote %+v", got, env)
	}
	bin := "/cache/slipway/dagger/" + DaggerVersion + "/bin-" + daggerPatchID()
	if env.RunnerHost != "unix:///cache/slipway/engine/x/run/engine.sock" || env.CLIBin != bin+"/dagger" {
		t.Errorf("unexpected env %+v", env)
	}
	vars := env.Environ([]string{"PATH=/usr/bin", "HOME=/root", "_EXPERIMENTAL_DAGGER_RUNNER_HOST=old"})
	joined := strings.Join(vars, "\n")
	for _, want := range []string{"PATH=" + bin + ":/usr/bin", "HOME=/root", "_EXPERIMENTAL_DAGGER_RUNNER_HOST=unix://"} {
		if !strings.Contains(joined, want) {
			t.Errorf("Environ lacks %q:\n%s", want, joined)
		}
	}
	if strings.Contains(joined, "=old") {
		t.Errorf("Environ kept the old runner host:\n%s", joined)
	}
	if err := (Env{RunnerHost: "unix:///a b", CLIBin: "/x"}).WriteFile(p); err == nil {
		t.Errorf("a path with a space was accepted")
	}
	if _, err := ReadEnvFile(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Errorf("reading a missing env file succeeded")
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{
		"25GiB": 25 << 30, "25gib": 25 << 30, "40GB": 40e9, "1.5TiB": 3 << 39,
		"2147483648": 2 << 30, " 3 GiB ": 3 << 30, "2048MiB": 2 << 30,
	} {
		got, err := ParseSize(in)
		if err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "GB", "-5GB", "lots", "512MiB", "25XB"} {
		if n, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) = %d, want an error", in, n)
		}
	}
}

func TestEngineConfigCapsTheCacheOnlyWhenPruning(t *testing.T) {
	e, err := New(WithCacheDir("/c"), WithInstanceDir("/i"), WithCacheMax(40<<30))
	if err != nil {
		t.Fatal(err)
	}
	// BurntSushi/toml reads it as BuildKit does: the keys sit in [worker.oci].
	type config struct {
		Worker struct {
			OCI struct {
				GC            *bool  `toml:"gc"`
				ReservedSpace string `toml:"reservedSpace"`
				MaxUsedSpace  string `toml:"maxUsedSpace"`
			} `toml:"oci"`
		} `toml:"worker"`
	}
	var serving, pruning config
	if _, err := toml.Decode(e.engineConfig(), &serving); err != nil {
		t.Fatalf("engine.toml does not parse: %v\n%s", err, e.engineConfig())
	}
	if oci := serving.Worker.OCI; oci.GC == nil || *oci.GC || oci.MaxUsedSpace != "" {
		t.Errorf("serving engine.toml [worker.oci] gc=%v maxUsedSpace=%q; want automatic GC off (it breaks concurrent sessions)", oci.GC, oci.MaxUsedSpace)
	}
	if _, err := toml.Decode(e.config(true), &pruning); err != nil {
		t.Fatalf("pruning engine.toml does not parse: %v\n%s", err, e.config(true))
	}
	oci := pruning.Worker.OCI
	if oci.GC == nil || !*oci.GC || oci.MaxUsedSpace != strconv.FormatInt(40<<30, 10) || oci.ReservedSpace != strconv.FormatInt(4<<30, 10) {
		t.Errorf("pruning engine.toml [worker.oci] gc=%v reservedSpace=%q maxUsedSpace=%q; want gc on, 4GiB reserved, 40GiB max", oci.GC, oci.ReservedSpace, oci.MaxUsedSpace)
	}
	d, _ := New(WithCacheDir("/c"), WithInstanceDir("/i"))
	if d.cacheMax != DefaultCacheMax {
		t.Errorf("default cache cap = %d, want DefaultCacheMax", d.cacheMax)
	}
}

func TestPruneRefusesAStoppedEngine(t *testing.T) {
	e, err := New(WithCacheDir(t.TempDir()), WithInstanceDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.Prune(context.Background())
	if err == nil || !strings.Contains(err.Error(), "the engine is not running") || !strings.Contains(err.Error(), "fix: start it with `make engine`") {
		t.Errorf("Prune on a stopped engine: %v; want the refusal naming `make engine`", err)
	}
	if _, err := os.Stat(e.path("etc", "engine.toml")); !os.IsNotExist(err) {
		t.Errorf("a refused Prune wrote engine.toml (stat: %v)", err)
	}
}

func TestPruneBusyErrorNamesTheFix(t *testing.T) {
	msg := (&PruneBusyError{PID: 42, Clients: 2, Socket: "/run/e.sock"}).Error()
	for _, want := range []string{"pid 42", "2 client connection(s)", "/run/e.sock", "kill every Dagger session", "fix: wait until they finish and run `make engine-prune` again"} {
		if !strings.Contains(msg, want) {
			t.Errorf("PruneBusyError = %q, want it to say %q", msg, want)
		}
	}
}
