package manifest

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/util/validation"
)

// nameSeeds are the table of TestValidationMatchesAPIMachinery and the seed
// corpus of its fuzz test.
var nameSeeds = []string{
	"", "a", "web", "my-name", "123-abc", "-a", "a-", "A", "Web_1", "kube system", "a.b", "a..b", ".a", "a.", "a.-b",
	strings.Repeat("a", 63), strings.Repeat("a", 64), strings.Repeat("a.", 40) + "a", strings.Repeat("-", 70),
	"ALPHA", "MY_ENV.NAME", "my.env-name", "1BAD", "_x", "-x", ".", "..", "..x", "./x", ".x", "A=B", "é", "a\n", "\na",
}

// checkValidation holds the three checks to apimachinery's on one value.
func checkValidation(t *testing.T, s string) {
	t.Helper()
	if diff := cmp.Diff(validation.IsDNS1123Label(s), isDNS1123Label(s)); diff != "" {
		t.Errorf("isDNS1123Label(%q) differs from validation.IsDNS1123Label (-want +got):\n%s", s, diff)
	}
	if diff := cmp.Diff(validation.IsEnvVarName(s), isEnvVarName(s)); diff != "" {
		t.Errorf("isEnvVarName(%q) differs from validation.IsEnvVarName (-want +got):\n%s", s, diff)
	}
}

func TestValidationMatchesAPIMachinery(t *testing.T) {
	for _, s := range nameSeeds {
		checkValidation(t, s)
	}
	for _, port := range []int{-1, 0, 1, 80, 8080, 65535, 65536, 70000} {
		if diff := cmp.Diff(validation.IsValidPortNum(port), isValidPortNum(port)); diff != "" {
			t.Errorf("isValidPortNum(%d) differs from validation.IsValidPortNum (-want +got):\n%s", port, diff)
		}
	}
}

// FuzzValidationMatchesAPIMachinery: go test -run '^$' -fuzz FuzzValidation ./examples/deployai/internal/manifest
func FuzzValidationMatchesAPIMachinery(f *testing.F) {
	for _, s := range nameSeeds {
		f.Add(s)
	}
	f.Fuzz(checkValidation)
}
