package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
)

// CacheUsage is the engine's build cache as the engine itself counts it.
type CacheUsage struct {
	// Bytes is the disk the cache's entries hold.
	Bytes int64
	// Entries is how many entries it holds.
	Entries int
}

// String reads like "38.2 GiB in 5120 entries".
func (u CacheUsage) String() string {
	return fmt.Sprintf("%.1f GiB in %d entries", float64(u.Bytes)/(1<<30), u.Entries)
}

// PruneResult is the cache before and after Prune, and how long it took.
type PruneResult struct {
	Before, After CacheUsage
	Took          time.Duration
}

// PruneBusyError is Prune refusing to run while clients are connected.
type PruneBusyError struct {
	// PID is the running engine's namespace holder.
	PID int
	// Clients is how many connections its socket had.
	Clients int
	// Socket is the engine's socket.
	Socket string
}

// Error says why Prune did not run and what to do.
func (e *PruneBusyError) Error() string {
	return fmt.Sprintf("not pruning the engine's cache (pid %d): %d client connection(s) are open on %s, "+
		"and pruning restarts the engine, which would kill every Dagger session in flight.\n"+
		"  fix: wait until they finish and run `make engine-prune` again", e.PID, e.Clients, e.Socket)
}

// Prune brings the running engine's build cache down to its cap
// (WithCacheMax, default DefaultCacheMax), least recently used entries
// first. It needs the engine idle: it restarts it with automatic GC on and
// the cap as its policy, has it collect with no session running (see
// engineConfig for why the serving engine never collects on its own), and
// restarts it as it was. The engine is left running whatever happens; an
// engine that is not running, or has clients, is refused before anything
// changes.
func (e *Engine) Prune(ctx context.Context) (PruneResult, error) {
	var res PruneResult
	unlock, err := e.lock()
	if err != nil {
		return res, err
	}
	defer unlock()
	// Counted before Status, whose own probe would count while the engine
	// closes it.
	clients, err := e.Clients()
	if err != nil {
		return res, err
	}
	st := e.Status()
	if !st.Running {
		return res, fmt.Errorf("the engine is not running (%s)\n  fix: start it with `make engine`, then prune", st.Reason)
	}
	if clients > 0 {
		return res, &PruneBusyError{PID: st.PID, Clients: clients, Socket: e.SocketPath()}
	}
	cfgPath := e.path("etc", "engine.toml")
	serving, err := os.ReadFile(cfgPath)
	if err != nil {
		return res, fmt.Errorf("reading the engine's configuration: %w", err)
	}
	restart := func(cfg []byte) error {
		if err := e.down(ctx); err != nil {
			return err
		}
		if err := os.WriteFile(cfgPath, cfg, 0o644); err != nil {
			return fmt.Errorf("writing the engine's configuration: %w", err)
		}
		return e.start(ctx)
	}
	t0 := time.Now()
	err = restart([]byte(e.config(true)))
	if err == nil {
		err = e.collect(ctx, &res)
	}
	// Back as it was, even when collecting failed or was interrupted.
	if rerr := restart(serving); rerr != nil {
		err = errors.Join(err, fmt.Errorf("restarting the engine as it was: %w\n  fix: `make engine`", rerr))
	}
	res.Took = time.Since(t0)
	return res, err
}

// collect measures the cache, prunes it by the engine's policy, and
// measures it again.
func (e *Engine) collect(ctx context.Context, res *PruneResult) error {
	var err error
	if res.Before, err = e.cacheUsage(ctx); err != nil {
		return err
	}
	e.logf("engine cache: %s; pruning to %.1f GiB (least recently used first)", res.Before, float64(e.cacheMax)/(1<<30))
	if _, err := e.query(ctx, `{ engine { localCache { prune(useDefaultPolicy: true) } } }`); err != nil {
		return fmt.Errorf("pruning the engine's cache: %w", err)
	}
	if res.After, err = e.cacheUsage(ctx); err != nil {
		return err
	}
	return nil
}

// cacheUsage asks the engine what its cache holds.
func (e *Engine) cacheUsage(ctx context.Context) (CacheUsage, error) {
	out, err := e.query(ctx, `{ engine { localCache { entrySet { diskSpaceBytes entryCount } } } }`)
	if err != nil {
		return CacheUsage{}, fmt.Errorf("reading the engine's cache usage: %w", err)
	}
	var r struct {
		Engine struct {
			LocalCache struct {
				EntrySet struct {
					DiskSpaceBytes int64 `json:"diskSpaceBytes"`
					EntryCount     int   `json:"entryCount"`
				} `json:"entrySet"`
			} `json:"localCache"`
		} `json:"engine"`
	}
	if err := json.Unmarshal(out, &r); err != nil {
		return CacheUsage{}, fmt.Errorf("reading the engine's cache usage: %w (output %q)", err, out)
	}
	s := r.Engine.LocalCache.EntrySet
	return CacheUsage{Bytes: s.DiskSpaceBytes, Entries: s.EntryCount}, nil
}

// query runs a GraphQL query on the engine with its own dagger CLI, outside
// any module, and returns the JSON result.
func (e *Engine) query(ctx context.Context, q string) ([]byte, error) {
	env := e.Env()
	cmd := exec.CommandContext(ctx, env.CLIBin, "query", "--no-mod", "--progress=plain")
	cmd.Dir = os.TempDir()
	cmd.Env = env.Environ(os.Environ())
	cmd.Stdin = strings.NewReader(q)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("dagger query: %w\n%s", err, tailString(stderr.String(), 20))
	}
	return stdout.Bytes(), nil
}

// tailString is the last n lines of s.
func tailString(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
