package manifest

import (
	"fmt"
	"strings"
)

// The checks below are k8s.io/apimachinery/pkg/util/validation's
// IsDNS1123Label, IsValidPortNum and IsEnvVarName, with their messages, so
// that a request is refused here for what the API server would refuse it
// for, without linking apimachinery. The package's tests hold them to the
// originals on a table and under fuzzing.

const (
	dns1123LabelMaxLength = 63
	dns1123LabelMsg       = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
	envVarNameMsg         = "a valid environment variable name must consist of alphabetic characters, digits, '_', '-', or '.', and must not start with a digit (e.g. 'my.env-name',  or 'MY_ENV.NAME',  or 'MyEnvName1', regex used for validation is '[-._a-zA-Z][-._a-zA-Z0-9]*')"
)

// isDNS1123Label returns why value is not a DNS-1123 label (a Kubernetes
// name or namespace), or nothing.
func isDNS1123Label(value string) []string {
	var errs []string
	if len(value) > dns1123LabelMaxLength {
		errs = append(errs, fmt.Sprintf("must be no more than %d characters", dns1123LabelMaxLength))
	}
	if !dns1123Label(value) {
		if dns1123Subdomain(value) {
			// A valid subdomain but not a label: the length is checked
			// above, so it has dots.
			errs = append(errs, "must not contain dots")
		} else {
			errs = append(errs, dns1123LabelMsg)
		}
	}
	return errs
}

// dns1123Label matches [a-z0-9]([-a-z0-9]*[a-z0-9])? without a length limit.
func dns1123Label(s string) bool {
	if s == "" || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(lowerAlnum(c) || c == '-') {
			return false
		}
	}
	return true
}

// dns1123Subdomain matches labels joined by dots, without a length limit.
func dns1123Subdomain(s string) bool {
	for _, label := range strings.Split(s, ".") {
		if !dns1123Label(label) {
			return false
		}
	}
	return true
}

// isValidPortNum returns why port is not a TCP or UDP port number, or
// nothing.
func isValidPortNum(port int) []string {
	if 1 <= port && port <= 65535 {
		return nil
	}
	return []string{"must be between 1 and 65535, inclusive"}
}

// isEnvVarName returns why value is not an environment variable name the
// API server accepts, or nothing.
func isEnvVarName(value string) []string {
	var errs []string
	if !envVarName(value) {
		errs = append(errs, envVarNameMsg)
	}
	switch {
	case value == ".":
		errs = append(errs, `must not be '.'`)
	case value == "..":
		errs = append(errs, `must not be '..'`)
	case strings.HasPrefix(value, ".."):
		errs = append(errs, `must not start with '..'`)
	}
	return errs
}

// envVarName matches [-._a-zA-Z][-._a-zA-Z0-9]*.
func envVarName(s string) bool {
	if s == "" || isDigit(s[0]) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(isDigit(c) || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '-' || c == '.' || c == '_') {
			return false
		}
	}
	return true
}

func lowerAlnum(c byte) bool { return isDigit(c) || 'a' <= c && c <= 'z' }
