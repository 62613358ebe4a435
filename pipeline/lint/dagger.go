package lint

import (
	"regexp"
	"strings"
)

// daggerCall is one `dagger call` found in a shell command.
type daggerCall struct {
	// function is the first function called, "" when none is named.
	function string
	// next is the word after function, "" when none: the function of a
	// toolchain named function.
	next string
	// module is the -m/--mod value, "" for the default module.
	module string
	// text is the command up to and including the function name.
	text string
}

// Flags of the dagger CLI that take their value as the next word. Knowing
// them keeps `dagger -m ci call build` from being read as the function "ci".
var daggerValueFlags = map[string]bool{
	"-m": true, "--mod": true, "--progress": true, "-o": true, "--output": true,
	"--interactive-command": true, "-W": true, "--workdir": true,
}

var kebabRE = regexp.MustCompile(`^[a-z][a-z0-9]*(-[a-z0-9]+)*$`)

// findCalls returns every `dagger call` in script. A `dagger` word counts
// when it starts a command: at the start, or after white space, ;, &, |, (
// or a backquote, as in NAME="$(dagger call ...)". Other dagger commands,
// such as the `dagger version` of the CLI set-up, are not calls.
func findCalls(script string) []daggerCall {
	var out []daggerCall
	for i := 0; ; {
		j := strings.Index(script[i:], "dagger")
		if j < 0 {
			return out
		}
		at := i + j
		i = at + len("dagger")
		if at > 0 && !strings.ContainsRune(" \t\n;&|(`", rune(script[at-1])) {
			continue
		}
		if i < len(script) && !strings.ContainsRune(" \t", rune(script[i])) {
			continue
		}
		if c, ok := parseCall(shellWords(script[at:])); ok {
			out = append(out, c)
		}
	}
}

// parseCall reads words that start with "dagger" and says whether they are
// a `dagger call`, and of which function.
func parseCall(words []string) (daggerCall, bool) {
	var c daggerCall
	called := false
	for i := 1; i < len(words); i++ {
		w := words[i]
		switch {
		case daggerValueFlags[w]:
			if i+1 < len(words) {
				i++
				if w == "-m" || w == "--mod" {
					c.module = words[i]
				}
			}
		case strings.HasPrefix(w, "-m=") || strings.HasPrefix(w, "--mod="):
			c.module = w[strings.IndexByte(w, '=')+1:]
		case strings.HasPrefix(w, "-"):
			// A boolean flag or --flag=value.
		case !called && w == "call":
			called = true
		case !called:
			return daggerCall{}, false // another dagger command
		default:
			c.function = w
			c.text = strings.Join(words[:i+1], " ")
			if i+1 < len(words) && !strings.HasPrefix(words[i+1], "-") {
				c.next = words[i+1]
			}
			return c, true
		}
	}
	if !called {
		return daggerCall{}, false
	}
	c.text = strings.Join(words, " ")
	return c, true
}

// shellWords splits the start of a POSIX shell command into words, honouring
// quotes and backslashes, and stops at the first unquoted end of the command
// (newline, ;, &, |, ) or a backquote). It is enough to find the words
// before a function name; it does not expand anything.
func shellWords(s string) []string {
	var words []string
	var b strings.Builder
	inWord := false
	flush := func() {
		if inWord {
			words = append(words, b.String())
			b.Reset()
			inWord = false
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\'':
			end := strings.IndexByte(s[i+1:], '\'')
			if end < 0 {
				end = len(s) - i - 1
			}
			b.WriteString(s[i+1 : i+1+end])
			inWord = true
			i += end + 1
		case c == '"':
			inWord = true
			for i++; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) {
					i++
				}
				b.WriteByte(s[i])
			}
		case c == '\\' && i+1 < len(s):
			if s[i+1] != '\n' {
				b.WriteByte(s[i+1])
				inWord = true
			}
			i++
		case c == ' ' || c == '\t':
			flush()
		case strings.IndexByte("\n;&|)`", c) >= 0:
			flush()
			return words
		default:
			b.WriteByte(c)
			inWord = true
		}
	}
	flush()
	return words
}
