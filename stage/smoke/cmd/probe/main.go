// Command probe is stage/smoke's tool: it sends HTTP GETs to a service
// under test until each answers with the status expected of it or a
// deadline passes, and writes what it saw as JSON and JUnit XML.
//
//	probe -deadline=60s -out=/reports HOST PORT/PATH=STATUS...
//
// It uses only the standard library, so it builds from the embedded source
// alone, with no module proxy.
package main

import (
	"encoding/json"
	"encoding/xml"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Probe is one expectation and what the service answered.
type Probe struct {
	Port     int     `json:"port"`
	Path     string  `json:"path"`
	Want     int     `json:"want"`
	Got      int     `json:"got"`
	Error    string  `json:"error,omitempty"`
	Attempts int     `json:"attempts"`
	Seconds  float64 `json:"seconds"`
}

func main() {
	deadline := flag.Duration("deadline", time.Minute, "how long a probe may retry before it fails")
	out := flag.String("out", "", "the directory for probes.json and junit.xml")
	flag.Parse()
	if flag.NArg() < 2 || *out == "" {
		fmt.Fprintln(os.Stderr, "usage: probe -deadline=60s -out=DIR HOST PORT/PATH=STATUS...")
		os.Exit(2)
	}
	host := flag.Arg(0)
	var probes []Probe
	for _, spec := range flag.Args()[1:] {
		p, err := parse(spec)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		probes = append(probes, p)
	}
	client := &http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for i := range probes {
		run(client, host, &probes[i], *deadline)
	}
	if err := write(*out, host, probes); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// parse reads PORT/PATH=STATUS.
func parse(spec string) (Probe, error) {
	target, status, ok := strings.Cut(spec, "=")
	port, path, ok2 := strings.Cut(target, "/")
	p := Probe{Path: "/" + path}
	var err error
	if p.Port, err = strconv.Atoi(port); !ok || !ok2 || err != nil {
		return p, fmt.Errorf("probe %q: want PORT/PATH=STATUS, such as 8080/health=200", spec)
	}
	if p.Want, err = strconv.Atoi(status); err != nil {
		return p, fmt.Errorf("probe %q: the status %q is not a number", spec, status)
	}
	return p, nil
}

// run retries p until it answers with the wanted status or the deadline
// passes: a service takes a moment to listen after it starts.
func run(client *http.Client, host string, p *Probe, deadline time.Duration) {
	start := time.Now()
	url := fmt.Sprintf("http://%s:%d%s", host, p.Port, p.Path)
	for {
		p.Attempts++
		resp, err := client.Get(url)
		if err == nil {
			io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
			resp.Body.Close()
			p.Got, p.Error = resp.StatusCode, ""
			if p.Got == p.Want {
				break
			}
		} else {
			p.Error = err.Error()
		}
		if time.Since(start) > deadline {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	p.Seconds = time.Since(start).Seconds()
}

type testsuites struct {
	XMLName xml.Name    `xml:"testsuites"`
	Suites  []testsuite `xml:"testsuite"`
}

type testsuite struct {
	Name     string     `xml:"name,attr"`
	Tests    int        `xml:"tests,attr"`
	Failures int        `xml:"failures,attr"`
	Cases    []testcase `xml:"testcase"`
}

type testcase struct {
	Name      string   `xml:"name,attr"`
	Classname string   `xml:"classname,attr"`
	Time      string   `xml:"time,attr"`
	Failure   *failure `xml:"failure,omitempty"`
}

type failure struct {
	Message string `xml:"message,attr"`
}

// write saves the probes as probes.json and a JUnit report.
func write(dir, host string, probes []Probe) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	j, err := json.MarshalIndent(probes, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "probes.json"), append(j, '\n'), 0o644); err != nil {
		return err
	}
	suite := testsuite{Name: "smoke " + host, Tests: len(probes)}
	for _, p := range probes {
		tc := testcase{Name: fmt.Sprintf("GET :%d%s = %d", p.Port, p.Path, p.Want), Classname: "smoke", Time: fmt.Sprintf("%.3f", p.Seconds)}
		if p.Got != p.Want {
			suite.Failures++
			msg := fmt.Sprintf("got %d", p.Got)
			if p.Error != "" {
				msg = p.Error
			}
			tc.Failure = &failure{Message: msg}
		}
		suite.Cases = append(suite.Cases, tc)
	}
	x, err := xml.MarshalIndent(testsuites{Suites: []testsuite{suite}}, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "junit.xml"), append([]byte(xml.Header), append(x, '\n')...), 0o644)
}
