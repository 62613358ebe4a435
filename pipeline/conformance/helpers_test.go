package conformance_test

import (
	"fmt"
	"slices"
)

func seedName(seed int64, opt string) string {
	if opt == "" {
		return fmt.Sprintf("pipelinetest.Random(%d)", seed)
	}
	return fmt.Sprintf("pipelinetest.Random(%d, pipelinetest.%s())", seed, opt)
}

// toStrings reads a YAML value that is a string or a list of strings.
func toStrings(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, e := range v {
			if s, ok := e.(string); ok {
				out = append(out, s)
			} else if m, ok := e.(map[string]any); ok {
				if s, ok := m["job"].(string); ok {
					out = append(out, s)
				}
			}
		}
		return out
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func sorted(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}
