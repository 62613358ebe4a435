package pipeline

import (
	"fmt"
	"regexp"
	"regexp/syntax"
	"strings"
)

// PatternKind says how a ref pattern matches.
type PatternKind int

// The kinds of ref pattern.
const (
	// ExactPattern is a name, such as "main".
	ExactPattern PatternKind = iota
	// PrefixPattern is a prefix followed by one "*", such as "release/*".
	PrefixPattern
	// GlobPattern has "*" elsewhere, such as "release/*-rc" or "v*.x";
	// each "*" matches any run of characters, slashes included.
	GlobPattern
	// RegexpPattern is a regular expression (RE2) between slashes, such as
	// "/^v[0-9]+\.[0-9]+\.[0-9]+$/", as GitLab writes them.
	RegexpPattern
)

// Pattern is a parsed ref pattern of any kind; see Rule.Refs.
type Pattern struct {
	// Source is the pattern as written.
	Source string
	// Kind is how it matches.
	Kind PatternKind
	// Parts are, for an exact, prefix or glob pattern, the fixed texts
	// around the "*"s: one for an exact name, two for "a*b", and so on.
	Parts []string
	re    *regexp.Regexp
}

// ParsePattern parses a ref pattern: an exact name, a glob with "*", or a
// regular expression between slashes. It says what is wrong with an invalid
// one: characters git forbids in ref names, "**" (one "*" already matches
// slashes), or a regular expression RE2 cannot compile.
func ParsePattern(s string) (Pattern, error) {
	if len(s) >= 2 && strings.HasPrefix(s, "/") && strings.HasSuffix(s, "/") {
		re, err := regexp.Compile(s[1 : len(s)-1])
		if err != nil {
			return Pattern{}, fmt.Errorf("%q is not a regular expression RE2 compiles: %v", s, err)
		}
		if strings.HasPrefix(s, "//") {
			return Pattern{}, fmt.Errorf("%q is an empty regular expression", s)
		}
		return Pattern{Source: s, Kind: RegexpPattern, re: re}, nil
	}
	if strings.Contains(s, "**") {
		return Pattern{}, fmt.Errorf("%q has \"**\"; one \"*\" already matches any characters, slashes included", s)
	}
	if rp, err := ParseRefPattern(s); err == nil {
		if rp.Wildcard {
			return Pattern{Source: s, Kind: PrefixPattern, Parts: []string{rp.Prefix, ""}}, nil
		}
		return Pattern{Source: s, Kind: ExactPattern, Parts: []string{rp.Prefix}}, nil
	} else if !strings.Contains(strings.TrimSuffix(s, "*"), "*") {
		return Pattern{}, err
	}
	// A glob: the text with every "*" continued by a letter must be a
	// valid ref.
	if err := checkRefChars(strings.ReplaceAll(s, "*", "x"), false); err != nil {
		return Pattern{}, fmt.Errorf("%q is not a valid git ref pattern: %v", s, err)
	}
	return Pattern{Source: s, Kind: GlobPattern, Parts: strings.Split(s, "*")}, nil
}

// Regexp returns an RE2 regular expression matching exactly the refs the
// pattern matches, anchored at both ends unless the pattern is a regular
// expression, which is returned as written.
func (p Pattern) Regexp() string {
	if p.Kind == RegexpPattern {
		return p.re.String()
	}
	quoted := make([]string, len(p.Parts))
	for i, part := range p.Parts {
		quoted[i] = regexp.QuoteMeta(part)
	}
	return "^" + strings.Join(quoted, ".*") + "$"
}

// Any reports whether the pattern matches every ref ("*").
func (p Pattern) Any() bool {
	return p.Kind == PrefixPattern && p.Parts[0] == ""
}

// Match reports whether ref matches the pattern.
func (p Pattern) Match(ref string) bool {
	switch p.Kind {
	case RegexpPattern:
		return p.re.MatchString(ref)
	case ExactPattern:
		return ref == p.Parts[0]
	}
	rest := ref
	for i, part := range p.Parts {
		switch {
		case i == 0:
			if !strings.HasPrefix(rest, part) {
				return false
			}
			rest = rest[len(part):]
		case i == len(p.Parts)-1:
			return strings.HasSuffix(rest, part)
		default:
			k := strings.Index(rest, part)
			if k < 0 {
				return false
			}
			rest = rest[k+len(part):]
		}
	}
	return true
}

// Sample returns a ref the pattern matches, for checking which jobs can
// run together. A regular expression gets the shortest string its simplest
// branches produce; "" when none is found.
func (p Pattern) Sample() string {
	if p.Kind != RegexpPattern {
		return strings.Join(p.Parts, "x")
	}
	re, err := syntax.Parse(p.re.String(), syntax.Perl)
	if err != nil {
		return ""
	}
	var b strings.Builder
	sample(&b, re.Simplify())
	if p.re.MatchString(b.String()) {
		return b.String()
	}
	return ""
}

func sample(b *strings.Builder, re *syntax.Regexp) {
	switch re.Op {
	case syntax.OpLiteral:
		b.WriteString(string(re.Rune))
	case syntax.OpCharClass:
		if len(re.Rune) > 0 {
			b.WriteRune(re.Rune[0])
		}
	case syntax.OpAnyCharNotNL, syntax.OpAnyChar:
		b.WriteByte('x')
	case syntax.OpCapture, syntax.OpPlus:
		sample(b, re.Sub[0])
	case syntax.OpRepeat:
		for range re.Min {
			sample(b, re.Sub[0])
		}
	case syntax.OpConcat:
		for _, s := range re.Sub {
			sample(b, s)
		}
	case syntax.OpAlternate:
		sample(b, re.Sub[0])
	}
}
