package deploy

import "testing"

// TestJudge: what the smoke test accepts from one endpoint, with the exact
// message for what it refuses.
func TestJudge(t *testing.T) {
	for _, tc := range []struct {
		path, body string
		code       int
		want       string
	}{
		{"/health", "ok\n", 200, ""},
		{"/ready", "", 204, ""},
		{"/ready", "not ready\n", 503, `503 Service Unavailable: "not ready"`},
		{"/health", "moved", 301, `301 Moved Permanently: "moved"`},
		{"/metrics", "# TYPE x counter\nx 1\n", 200, ""},
		{"/metrics", "<html>hello</html>", 200, `200, but not Prometheus text: text format parsing error in line 1: invalid metric name`},
		{"/metrics", "", 200, "200, but no metrics at all"},
		{"/metrics", "boom", 500, `500 Internal Server Error: "boom"`},
	} {
		err := judge(tc.path, tc.code, []byte(tc.body))
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tc.want {
			t.Errorf("judge(%s, %d, %q) = %q, want %q", tc.path, tc.code, tc.body, got, tc.want)
		}
	}
}

func TestCheckPaths(t *testing.T) {
	if err := CheckPaths(DefaultVerifyPaths); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"health", "/a b", "/x?y=1", ""} {
		if err := CheckPaths([]string{p}); err == nil || err.Error() != `verify path "`+p+`" is not an absolute URL path such as /health` {
			t.Errorf("CheckPaths(%q) = %v", p, err)
		}
	}
}
