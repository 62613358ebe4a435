package secretscan

// WithChunk returns a copy of s that reads n bytes at a time, so tests can
// put matches across read boundaries without megabytes of input.
func WithChunk(s *Scanner, n int) *Scanner {
	c := *s
	c.chunk = n
	return &c
}
