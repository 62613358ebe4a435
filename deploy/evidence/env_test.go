package evidence_test

import (
	"testing"

	"github.com/slipway-ci/slipway/deploy/evidence"
)

func TestRegistryOptionsFromEnv(t *testing.T) {
	tests := []struct {
		env  map[string]string
		want int
	}{
		{map[string]string{}, 0},
		{map[string]string{"REGISTRY_USERNAME": "ci"}, 1},
		{map[string]string{"REGISTRY_PASSWORD": "token"}, 1},
		{map[string]string{"REGISTRY_USERNAME": "ci", "REGISTRY_PASSWORD": "token"}, 1},
	}
	for _, tt := range tests {
		if got := len(evidence.RegistryOptionsFromEnv(func(k string) string { return tt.env[k] })); got != tt.want {
			t.Errorf("RegistryOptionsFromEnv(%v): %d options, want %d", tt.env, got, tt.want)
		}
	}
}
