package manifest

import (
	"errors"
	"math"
	"math/big"
	"strconv"
	"strings"
)

// quantity is a Kubernetes resource quantity ("500m", "2Gi"), read and
// printed the way k8s.io/apimachinery's resource.Quantity reads and prints
// it, so that the catalog's values reach the manifest in the form the API
// server itself would write back.
//
// It exists so that the service binary does not link k8s.io/apimachinery
// (a quarter of its size) for four numbers. The package's tests hold it to
// resource.ParseQuantity, String and Cmp on a table and under fuzzing.
//
// Two things resource.Quantity accepts are refused, because no resource
// request or limit the API server admits has them: negative values, and
// values above 2^63-1 (which resource.Quantity caps or, with an exponent
// beyond 32 bits, wraps).
type quantity struct {
	// s is the quantity as resource.Quantity.String prints it.
	s string
	// nanos is the value in units of 10^-9, the finest resource.Quantity
	// keeps (it rounds finer values up).
	nanos *big.Int
}

// The errors resource.ParseQuantity returns, with its texts, and the two
// refusals of its own.
var (
	errQuantityFormat  = errors.New("quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")
	errQuantityNumeric = errors.New("unable to parse numeric part of quantity")
	errQuantitySuffix  = errors.New("unable to parse quantity's suffix")
	errQuantityNeg     = errors.New("a resource quantity must not be negative")
	errQuantityRange   = errors.New("a resource quantity must not exceed 2^63-1")
)

// quantityFormat is how a quantity is printed: resource.Quantity keeps the
// kind of suffix it was written with.
type quantityFormat int

const (
	decimalSI       quantityFormat = iota // 12M, 500m
	binarySI                              // 12Mi
	decimalExponent                       // 12e6
)

var (
	decimalSuffixes = map[string]int{"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
	binarySuffixes  = map[string]int{"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
	maxQuantity     = new(big.Int).Mul(big.NewInt(math.MaxInt64), big.NewInt(1e9)) // in nanos
)

// String returns the quantity as the Kubernetes API prints it.
func (q quantity) String() string { return q.s }

// Cmp compares q and o by value: -1, 0 or +1.
func (q quantity) Cmp(o quantity) int { return q.nanos.Cmp(o.nanos) }

// parseQuantity reads s as resource.ParseQuantity does.
func parseQuantity(s string) (quantity, error) {
	if s == "" {
		return quantity{}, errQuantityFormat
	}
	if s == "0" {
		return quantity{s: "0", nanos: new(big.Int)}, nil
	}
	sc, err := scanQuantity(s)
	if err != nil {
		return quantity{}, err
	}
	base, exp, format, ok := quantitySuffix(sc.suffix)
	if !ok {
		return quantity{}, errQuantitySuffix
	}

	// resource.ParseQuantity keeps values that fit an int64 at a scale of
	// at least 10^-9 as they are, and then reuses the input as the printed
	// form when it is already canonical by its (loose) test; everything
	// else goes through inf.Dec and is rounded up to 10^-9.
	fast, reuse := false, false
	scale := 0
	switch format {
	case decimalSI, decimalExponent:
		if 18-len(sc.num)-len(sc.denom) >= 0 {
			scale = exp - len(sc.denom)
			if scale >= -9 {
				shifted := sc.num + sc.denom
				fast = true
				reuse = scale%3 == 0 && !strings.HasSuffix(shifted, "000") && shifted[0] != '0'
			}
		}
	case binarySI:
		if len(sc.denom) == 0 && 15-len(sc.num)-exp*3/10-1 >= 0 {
			v, err := strconv.ParseInt(sc.num, 10, 64)
			if err != nil {
				return quantity{}, errQuantityNumeric
			}
			if v <= math.MaxInt64>>exp {
				fast = true
				reuse = v&7 != 0
			}
		}
	}
	if !fast && !strings.ContainsAny(sc.value, "0123456789") {
		// inf.Dec, which reads the slow path's number, wants a digit where
		// the scanner does not.
		return quantity{}, errQuantityNumeric
	}
	digits, ok := new(big.Int).SetString(sc.num+sc.denom, 10)
	if !ok {
		return quantity{}, errQuantityNumeric
	}
	if digits.Sign() == 0 {
		return quantity{s: "0", nanos: new(big.Int)}, nil
	}
	if !sc.positive {
		return quantity{}, errQuantityNeg
	}

	nanos, ok := toNanos(digits, len(sc.denom), base, exp)
	if !ok || nanos.Cmp(maxQuantity) > 0 {
		return quantity{}, errQuantityRange
	}
	if reuse {
		return quantity{s: s, nanos: nanos}, nil
	}
	return quantity{s: canonicalQuantity(nanos, format), nanos: nanos}, nil
}

// scanned is a quantity's text split the way resource.Quantity's scanner
// splits it.
type scanned struct {
	positive bool
	value    string // sign, digits and point: the numeric part as written
	num      string // integer digits without leading zeros ("0" if none)
	denom    string // fraction digits
	suffix   string
}

// scanQuantity splits s into its parts; it accepts exactly what
// resource.Quantity's scanner accepts ("1.", ".5", "+01" and even ".").
func scanQuantity(s string) (scanned, error) {
	r := scanned{positive: true}
	pos, end := 0, len(s)
	if pos < end {
		switch s[0] {
		case '-':
			r.positive = false
			pos++
		case '+':
			pos++
		}
	}
	for pos < end && s[pos] == '0' {
		pos++
	}
	if pos == end {
		r.num, r.value = "0", "0"
		return r, nil
	}
	start := pos
	for pos < end && isDigit(s[pos]) {
		pos++
	}
	r.num = s[start:pos]
	if pos == end {
		r.value = s
		return r, nil
	}
	if r.num == "" {
		r.num = "0"
	}
	if s[pos] == '.' {
		pos++
		start = pos
		for pos < end && isDigit(s[pos]) {
			pos++
		}
		r.denom = s[start:pos]
		if pos == end {
			r.value = s
			return r, nil
		}
	}
	r.value = s[:pos]
	start = pos
	for pos < end && strings.IndexByte("eEinumkKMGTP", s[pos]) >= 0 {
		pos++
	}
	if pos < end && (s[pos] == '-' || s[pos] == '+') {
		pos++
	}
	for pos < end && isDigit(s[pos]) {
		pos++
	}
	if pos < end {
		return scanned{}, errQuantityFormat
	}
	r.suffix = s[start:]
	return r, nil
}

// quantitySuffix interprets a suffix as resource.Quantity does: base,
// exponent and the format it prints the value in.
func quantitySuffix(suffix string) (base, exp int, format quantityFormat, ok bool) {
	if e, ok := decimalSuffixes[suffix]; ok {
		return 10, e, decimalSI, true
	}
	if e, ok := binarySuffixes[suffix]; ok {
		return 2, e, binarySI, true
	}
	if len(suffix) > 1 && (suffix[0] == 'e' || suffix[0] == 'E') {
		e, err := strconv.ParseInt(suffix[1:], 10, 64)
		if err != nil {
			return 0, 0, decimalExponent, false
		}
		if e < math.MinInt32 || e > math.MaxInt32 {
			// resource.Quantity truncates the exponent to 32 bits; its
			// value then is not the one written, so refuse it.
			return 10, math.MaxInt32, decimalExponent, true
		}
		return 10, int(e), decimalExponent, true
	}
	return 0, 0, decimalExponent, false
}

// toNanos returns digits × 10^-denom × base^exp in units of 10^-9, rounded
// up, or false when it is far beyond any quantity (so that "1e999999999"
// costs nothing).
func toNanos(digits *big.Int, denom, base, exp int) (*big.Int, bool) {
	n := new(big.Int).Set(digits)
	pow10 := 9 - denom // n × 10^pow10 (× 2^exp) nanos
	if base == 10 {
		pow10 += exp
	} else {
		n.Lsh(n, uint(exp))
	}
	switch {
	case pow10 > 40:
		return nil, false
	case pow10 >= 0:
		return n.Mul(n, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(pow10)), nil)), true
	case -pow10 > len(n.String()):
		// Less than one nano: rounded up to one.
		return big.NewInt(1), true
	default:
		d := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(-pow10)), nil)
		q, m := new(big.Int).QuoRem(n, d, new(big.Int))
		if m.Sign() != 0 {
			q.Add(q, big.NewInt(1))
		}
		return q, true
	}
}

// canonicalQuantity prints a positive value of nanos as
// resource.Quantity.String does: no fraction digits, the largest suffix of
// the format that keeps the value exact; binary units only for whole
// numbers of at least 1024.
func canonicalQuantity(nanos *big.Int, format quantityFormat) string {
	if nanos.Sign() == 0 {
		return "0"
	}
	if format == binarySI {
		whole, frac := new(big.Int).QuoRem(nanos, big.NewInt(1e9), new(big.Int))
		if frac.Sign() != 0 || whole.Cmp(big.NewInt(1024)) < 0 {
			format = decimalSI
		} else {
			exp := 0
			k := big.NewInt(1024)
			for m := new(big.Int); exp < 6; exp++ {
				if m.Mod(whole, k).Sign() != 0 {
					break
				}
				whole.Quo(whole, k)
			}
			return whole.String() + [...]string{"", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"}[exp]
		}
	}
	m, exp := new(big.Int).Set(nanos), -9
	ten := big.NewInt(10)
	for r := new(big.Int); ; {
		q, _ := new(big.Int).QuoRem(m, ten, r)
		if r.Sign() != 0 {
			break
		}
		m, exp = q, exp+1
	}
	for exp%3 != 0 {
		m.Mul(m, ten)
		exp--
	}
	if format == decimalExponent {
		if exp == 0 {
			return m.String()
		}
		return m.String() + "e" + strconv.Itoa(exp)
	}
	for suffix, e := range decimalSuffixes {
		if e == exp {
			return m.String() + suffix
		}
	}
	// Unreachable below 2^63-1: exponents run from -9 to 18.
	return m.String() + "e" + strconv.Itoa(exp)
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// MarshalText writes the quantity as the Kubernetes API does, a string.
func (q quantity) MarshalText() ([]byte, error) { return []byte(q.s), nil }
