package manifest

import (
	"errors"
	"math/big"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/resource"
)

// quantitySeeds are the table of TestQuantityMatchesAPIMachinery and the
// seed corpus of FuzzQuantityMatchesAPIMachinery: canonical and
// non-canonical forms of every suffix, the inputs resource.Quantity reuses
// as written, fractions below a nano, the int64 edges, and malformed ones.
var quantitySeeds = []string{
	"0", "1", "2", "100m", "500m", "0.5", ".5", "1.", ".", "1.5", "1.500", "1.0", "1.000", "+1", "01", "-0", "+0", "00", "0.0",
	"128Mi", "256Mi", "512Mi", "2Gi", "4Gi", "8Gi", "1Ki", "8Ki", "1024Ki", "1025Ki", "1.5Ki", "0.5Ki", ".5Ki", "1.Ki", "0Ki", "05Ki", "+5Ki",
	"1023", "1024", "2048", "1000", "1500", "2000", "1500m", "1000m", "1000000u", "1n", "999n", "1000n", "0.1n", "1.0000000001",
	"1e3", "1E3", "1e+3", "1e-3", "1.5e3", "10e3", "1e-100", "1e100", "1e4294967296", "1e", "1ee3", "1E", "1P", "1Pi", "1Ei", "7Ei", "8Ei", "9Ei",
	"9223372036854775807", "9223372036854775808", "9223372036854775807Ki", "9223372036854775807m", "9.223372036854775807E", "9.3E",
	"-1", "-500m", "-1Gi", "-0.0000000001",
	"", "lots", "1mi", "1Ki5", "1 ", " 1", "1..2", "1.2.3", "Ki", "m", ".Ei", "+", "-", "1e3.5", "0x10", "١",
}

// checkQuantity holds parseQuantity to resource.ParseQuantity: the same
// verdict, and for an accepted value the same printed form and the same
// value; the only extra refusals are negative values and values above
// 2^63-1.
func checkQuantity(t *testing.T, s string) {
	t.Helper()
	got, err := parseQuantity(s)
	want, wantErr := resource.ParseQuantity(s)
	switch {
	case wantErr != nil:
		if err == nil || err.Error() != wantErr.Error() {
			t.Errorf("parseQuantity(%q) error = %v, want %v", s, err, wantErr)
		}
	case errors.Is(err, errQuantityNeg):
		if want.Sign() >= 0 {
			t.Errorf("parseQuantity(%q) refused as negative, resource.ParseQuantity reads %s", s, want.String())
		}
	case errors.Is(err, errQuantityRange):
		// resource.Quantity caps binary values at 2^63-1, so a refused value
		// reads as at least that. (The approximation first: an exact Cmp of
		// 1e4000000 takes long.)
		f := want.AsApproximateFloat64()
		max := resource.MustParse("9223372036854775807")
		if !wrapsExponent(s) && (f < 9e18 || f < 1e19 && want.Cmp(max) < 0) {
			t.Errorf("parseQuantity(%q) refused as out of range, resource.ParseQuantity reads %s", s, want.String())
		}
	case err != nil:
		t.Errorf("parseQuantity(%q) error = %v, resource.ParseQuantity reads %s", s, err, want.String())
	default:
		if got.String() != want.String() {
			t.Errorf("parseQuantity(%q) = %q, resource.Quantity prints %q", s, got.String(), want.String())
		}
		if value := want.AsDec(); value.UnscaledBig().Cmp(scaleToNanos(value.UnscaledBig(), int(value.Scale()), got.nanos)) != 0 {
			t.Errorf("parseQuantity(%q) = %s nanos, resource.ParseQuantity reads %s", s, got.nanos, value)
		}
	}
}

// scaleToNanos expresses nanos at the given decimal scale, so that it can
// be compared with an inf.Dec's unscaled value.
func scaleToNanos(unscaled *big.Int, scale int, nanos *big.Int) *big.Int {
	ten := big.NewInt(10)
	n := new(big.Int).Set(nanos)
	for ; scale < 9; scale++ {
		// A coarser scale: nanos must be a multiple; divide it down.
		q, r := new(big.Int).QuoRem(n, ten, new(big.Int))
		if r.Sign() != 0 {
			return new(big.Int).Add(unscaled, big.NewInt(1)) // differs
		}
		n = q
	}
	for ; scale > 9; scale-- {
		n.Mul(n, ten)
	}
	return n
}

// wrapsExponent reports whether s has a decimal exponent beyond 32 bits,
// which resource.Quantity truncates.
func wrapsExponent(s string) bool {
	i := strings.LastIndexAny(s, "eE")
	if i < 0 {
		return false
	}
	e, ok := new(big.Int).SetString(strings.TrimPrefix(s[i+1:], "+"), 10)
	return ok && (e.Cmp(big.NewInt(1<<31-1)) > 0 || e.Cmp(big.NewInt(-1<<31)) < 0)
}

// hugeExponent reports whether s has a decimal exponent beyond ±1000.
func hugeExponent(s string) bool {
	i := strings.LastIndexAny(s, "eE")
	if i < 0 {
		return false
	}
	e, ok := new(big.Int).SetString(strings.TrimPrefix(s[i+1:], "+"), 10)
	return ok && e.CmpAbs(big.NewInt(1000)) > 0
}

func TestQuantityMatchesAPIMachinery(t *testing.T) {
	for _, s := range quantitySeeds {
		checkQuantity(t, s)
	}
}

func TestQuantityRefusals(t *testing.T) {
	tests := []struct {
		in   string
		want error
	}{
		{"-1", errQuantityNeg},
		{"-500m", errQuantityNeg},
		{"9223372036854775808", errQuantityRange},
		{"8Ei", errQuantityRange},
		{"1e4294967296", errQuantityRange},
		{"1e999999999", errQuantityRange},
		{"lots", errQuantityFormat},
		{"1mi", errQuantitySuffix},
	}
	for _, tt := range tests {
		if _, err := parseQuantity(tt.in); !errors.Is(err, tt.want) {
			t.Errorf("parseQuantity(%q) error = %v, want %v", tt.in, err, tt.want)
		}
	}
}

func TestQuantityCmp(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"500m", "0.5", 0},
		{"1Gi", "1073741824", 0},
		{"1G", "1Gi", -1},
		{"2", "1999m", 1},
		{"1n", "0.0000000001", 0}, // rounded up to a nano
	}
	for _, tt := range tests {
		a, b := mustQuantity(t, tt.a), mustQuantity(t, tt.b)
		if got := a.Cmp(b); got != tt.want {
			t.Errorf("%s Cmp %s = %d, want %d", tt.a, tt.b, got, tt.want)
		}
		ka, kb := resource.MustParse(tt.a), resource.MustParse(tt.b)
		if got := ka.Cmp(kb); got != tt.want {
			t.Errorf("the table is wrong: resource.Quantity %s Cmp %s = %d", tt.a, tt.b, got)
		}
	}
}

func mustQuantity(t *testing.T, s string) quantity {
	t.Helper()
	q, err := parseQuantity(s)
	if err != nil {
		t.Fatalf("parseQuantity(%q): %v", s, err)
	}
	return q
}

// FuzzQuantityMatchesAPIMachinery: go test -run '^$' -fuzz FuzzQuantity ./examples/deployai/internal/manifest
func FuzzQuantityMatchesAPIMachinery(f *testing.F) {
	for _, s := range quantitySeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if len(s) > 64 {
			t.Skip("resource.Quantity is slow on long numbers; the catalog's are short")
		}
		if hugeExponent(s) {
			// resource.Quantity takes seconds to round 1e-4000000 to a
			// nano; parseQuantity must only answer, and at once.
			parseQuantity(s)
			return
		}
		checkQuantity(t, s)
	})
}
