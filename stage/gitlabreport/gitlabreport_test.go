package gitlabreport_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/slipway-ci/slipway/stage/gitlabreport"
)

func TestNewScan(t *testing.T) {
	tool := gitlabreport.Tool{ID: "gosec", Name: "gosec", Version: "2.29.0", Vendor: gitlabreport.Vendor{Name: "securego"}}
	start := time.Date(2026, 11, 26, 17, 0, 0, 123, time.FixedZone("X", 3600))
	got, err := json.Marshal(gitlabreport.NewScan("sast", tool, start, start.Add(90*time.Second)))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"analyzer":{"id":"gosec","name":"gosec","version":"2.29.0","vendor":{"name":"securego"}},` +
		`"scanner":{"id":"gosec","name":"gosec","version":"2.29.0","vendor":{"name":"securego"}},` +
		`"type":"sast","start_time":"2026-11-26T16:00:00","end_time":"2026-11-26T16:01:30","status":"success"}`
	if string(got) != want {
		t.Errorf("scan:\n got %s\nwant %s", got, want)
	}
}
