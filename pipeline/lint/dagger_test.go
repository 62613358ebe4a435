package lint

import (
	"slices"
	"testing"
)

func TestFindCalls(t *testing.T) {
	setup := `command -v dagger >/dev/null 2>&1 && dagger version | grep -q "dagger v0.19.10 " || curl -fsSL https://dl.dagger.io/dagger/install.sh | BIN_DIR="$HOME/.local/bin" DAGGER_VERSION=0.19.10 sh`
	for _, tc := range []struct {
		script string
		want   []daggerCall
	}{
		{setup, nil},
		{`echo "$HOME/.local/bin" >> "$GITHUB_PATH"`, nil},
		{"dagger call build", []daggerCall{{function: "build", text: "dagger call build"}}},
		{"dagger -m ci call test-unit --source=.", []daggerCall{{function: "test-unit", module: "ci", text: "dagger -m ci call test-unit"}}},
		{"dagger --mod='my ci' --progress plain call -s build", []daggerCall{{function: "build", module: "my ci", text: "dagger --mod=my ci --progress plain call -s build"}}},
		{`IMAGE_REF="$(dagger call publish --source=.)"`, []daggerCall{{function: "publish", text: "dagger call publish"}}},
		{"x=`dagger call publish`", []daggerCall{{function: "publish", text: "dagger call publish"}}},
		{"for a in 1 2; do dagger call deploy --m=1 && break; sleep 1; done", []daggerCall{{function: "deploy", text: "dagger call deploy"}}},
		{"FOO=bar dagger call build\ndagger call test", []daggerCall{{function: "build", text: "dagger call build"}, {function: "test", text: "dagger call test"}}},
		{"dagger call", []daggerCall{{text: "dagger call"}}},
		{"dagger call; echo build", []daggerCall{{text: "dagger call"}}},
		{"notdagger call build", nil},
		{"dagger functions", nil},
		{"dagger-call build", nil},
	} {
		if got := findCalls(tc.script); !slices.Equal(got, tc.want) {
			t.Errorf("findCalls(%q) = %+v, want %+v", tc.script, got, tc.want)
		}
	}
}
