package main

import (
	"bytes"
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"
)

// echoServer answers every connection with what it reads, uppercased, and
// hangs up when the client's write half closes: as the engine's gRPC
// server ends a connection whose client went away.
func echoServer(t *testing.T) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "engine.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				b, _ := io.ReadAll(c)
				c.Write(bytes.ToUpper(b))
			}()
		}
	}()
	return "unix://" + sock
}

func TestDialStdio(t *testing.T) {
	addr := echoServer(t)
	for _, args := range [][]string{{"dial-stdio", "--addr", addr}, {"--addr", addr, "dial-stdio"}} {
		var out bytes.Buffer
		if err := run(args, strings.NewReader("hello engine"), &out); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		if out.String() != "HELLO ENGINE" {
			t.Errorf("%v: stdout %q", args, out.String())
		}
	}
}

// TestProbe is the readiness probe: no input, exit 0 once the engine hung
// up; an error when nothing listens.
func TestProbe(t *testing.T) {
	var out bytes.Buffer
	if err := run([]string{"dial-stdio", "--addr", echoServer(t)}, strings.NewReader(""), &out); err != nil {
		t.Fatal(err)
	}
	if err := run([]string{"dial-stdio", "--addr", "unix://" + filepath.Join(t.TempDir(), "none.sock")}, strings.NewReader(""), &out); err == nil {
		t.Error("no engine: no error")
	}
	if err := run([]string{"build"}, strings.NewReader(""), &out); err == nil || !strings.Contains(err.Error(), "only has dial-stdio") {
		t.Errorf("unknown command: %v", err)
	}
}
