package engine

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// daggerPatchFS holds backports of upstream Dagger fixes that the pinned
// DaggerVersion lacks. Each file says which upstream commit it is and why
// slipway needs it; buildDagger applies them in name order.
//
//go:embed patches/*.patch
var daggerPatchFS embed.FS

// daggerPatch is one embedded patch.
type daggerPatch struct {
	name string
	body []byte
}

// daggerPatches returns the embedded patches in name order.
func daggerPatches() []daggerPatch {
	names, err := fs.Glob(daggerPatchFS, "patches/*.patch")
	if err != nil {
		panic(err) // the pattern is constant
	}
	sort.Strings(names)
	out := make([]daggerPatch, 0, len(names))
	for _, n := range names {
		b, err := daggerPatchFS.ReadFile(n)
		if err != nil {
			panic(err) // embedded
		}
		out = append(out, daggerPatch{name: filepath.Base(n), body: b})
	}
	return out
}

// daggerPatchID identifies the patch set: a short hash of the names and
// contents, or "" when there is none. It is part of BinDir, so that a new
// or changed patch builds new binaries instead of reusing unpatched ones.
func daggerPatchID() string {
	ps := daggerPatches()
	if len(ps) == 0 {
		return ""
	}
	h := sha256.New()
	for _, p := range ps {
		fmt.Fprintf(h, "%s\x00%d\x00", p.name, len(p.body))
		h.Write(p.body)
	}
	return hex.EncodeToString(h.Sum(nil))[:12]
}

// patchNote is the log's mention of the patches.
func patchNote() string {
	ps := daggerPatches()
	if len(ps) == 0 {
		return ""
	}
	names := make([]string, len(ps))
	for i, p := range ps {
		names[i] = strings.TrimSuffix(p.name, ".patch")
	}
	return " with slipway's backports (" + strings.Join(names, ", ") + ")"
}

// applyDaggerPatches applies every patch to the Dagger source copy in src.
// git apply refuses a patch that does not apply exactly, so a DaggerVersion
// bump that makes a backport obsolete fails loudly here rather than
// building something half-patched.
func (e *Engine) applyDaggerPatches(ctx context.Context, src string) error {
	dir := filepath.Join(filepath.Dir(src), "patches")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, p := range daggerPatches() {
		f := filepath.Join(dir, p.name)
		if err := os.WriteFile(f, p.body, 0o644); err != nil {
			return err
		}
		// GIT_CEILING_DIRECTORIES: src is a plain directory; if the cache
		// lives inside some git work tree, git must not apply the paths
		// relative to that tree's root.
		err := e.command(ctx, "dagger-patch-"+strings.TrimSuffix(p.name, ".patch"), src,
			[]string{"GIT_CEILING_DIRECTORIES=" + filepath.Dir(src)}, "git", "apply", "-p1", "--whitespace=nowarn", f)
		if err != nil {
			return fmt.Errorf("applying %s to Dagger %s (does it still apply after a version bump? upstream may have the fix already): %w", p.name, DaggerVersion, err)
		}
	}
	return nil
}
