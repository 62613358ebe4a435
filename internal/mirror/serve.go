package mirror

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"time"
)

// ServeConfig says where the mirror listens and what it serves.
type ServeConfig struct {
	RegistryAddr  string // e.g. 0.0.0.0:5000
	PushHost      string // how to reach the registry for seeding, e.g. 127.0.0.1:5000
	GoProxyAddr   string // e.g. 0.0.0.0:8081; empty: no module proxy
	BlobDir       string
	ManifestDir   string
	SeedFile      string // empty: no seeding
	GoModDownload string // $GOMODCACHE/cache/download
	Ready         string // file created once seeded; empty: none
	// Listen opens a listener; it exists so that the caller can turn a
	// busy port into an error that says what to do.
	Listen func(addr string) (net.Listener, error)
	Log    io.Writer
}

// Serve runs the registry (and module proxy) until ctx ends: it replays the
// manifest journal, listens, pushes the seeds, then signals readiness.
func Serve(ctx context.Context, c ServeConfig) error {
	if c.Listen == nil {
		c.Listen = func(addr string) (net.Listener, error) { return net.Listen("tcp", addr) }
	}
	if c.Log == nil {
		c.Log = io.Discard
	}
	logger := log.New(c.Log, "mirror: ", log.LstdFlags)
	reg, err := NewRegistry(c.BlobDir, c.ManifestDir)
	if err != nil {
		return err
	}
	defer reg.Close()
	errc := make(chan error, 2)
	var servers []*http.Server
	listen := func(addr string, h http.Handler) error {
		l, err := c.Listen(addr)
		if err != nil {
			return err
		}
		srv := &http.Server{Handler: h, ReadHeaderTimeout: 30 * time.Second}
		servers = append(servers, srv)
		go func() {
			if err := srv.Serve(l); !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("serving %s: %w", addr, err)
			}
		}()
		return nil
	}
	defer func() {
		for _, s := range servers {
			s.Close()
		}
	}()
	if err := listen(c.RegistryAddr, reg); err != nil {
		return err
	}
	if c.GoProxyAddr != "" {
		if err := listen(c.GoProxyAddr, GoProxy(c.GoModDownload)); err != nil {
			return err
		}
	}
	if c.SeedFile != "" {
		seeds, err := ReadSeeds(c.SeedFile)
		if err != nil {
			return err
		}
		t0 := time.Now()
		if err := Push(ctx, c.PushHost, seeds); err != nil {
			return fmt.Errorf("seeding the mirror: %w", err)
		}
		logger.Printf("seeded %d references in %.1fs", len(seeds), time.Since(t0).Seconds())
	}
	if c.Ready != "" {
		if err := os.WriteFile(c.Ready, nil, 0o644); err != nil {
			return err
		}
	}
	select {
	case <-ctx.Done():
		return nil
	case err := <-errc:
		return err
	}
}
