package smoke_test

import (
	"testing"

	"github.com/slipway-ci/slipway/stage/smoke"
)

func TestParseProbe(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want smoke.Probe
		err  string
	}{
		{in: "8080/health=200", want: smoke.Probe{Port: 8080, Path: "/health", Status: 200}},
		{in: "9090/=404", want: smoke.Probe{Port: 9090, Path: "/", Status: 404}},
		{in: "9115/-/healthy=200", want: smoke.Probe{Port: 9115, Path: "/-/healthy", Status: 200}},
		{in: "8080/health", err: `smoke probe "8080/health": want PORT/PATH=STATUS, such as 8080/health=200`},
		{in: "http/health=200", err: `smoke probe "http/health=200": want PORT/PATH=STATUS, such as 8080/health=200`},
		{in: "70000/=200", err: `smoke probe "70000/=200": want PORT/PATH=STATUS, such as 8080/health=200`},
		{in: "8080/x=ok", err: `smoke probe "8080/x=ok": "ok" is not an HTTP status`},
		{in: "8080/x=99", err: `smoke probe "8080/x=99": "99" is not an HTTP status`},
	} {
		got, err := smoke.ParseProbe(tc.in)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("ParseProbe(%q) err = %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseProbe(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
		if back, _ := smoke.ParseProbe(got.String()); back != got {
			t.Errorf("String() of %+v = %q does not parse back", got, got.String())
		}
	}
}
