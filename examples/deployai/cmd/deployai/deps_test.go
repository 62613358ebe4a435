package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestLinksNoKubernetesModule keeps k8s.io/* (and sigs.k8s.io/*) out of
// the service binary: they were a third of it and kept the image above a
// tenth of the seed's. The manifest package writes its objects with types
// of its own; only its tests use k8s.io/api, to check them.
func TestLinksNoKubernetesModule(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH to list the binary's packages")
	}
	out, err := exec.Command(goBin, "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	pkgs := strings.Fields(string(out))
	if len(pkgs) < 10 {
		t.Fatalf("go list -deps listed %d packages, too few to be the binary's:\n%s", len(pkgs), out)
	}
	for _, p := range pkgs {
		if strings.Contains(p, "k8s.io/") {
			t.Errorf("the service binary links %s", p)
		}
	}
}
