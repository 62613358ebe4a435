package local

import (
	"regexp"
	"strings"
)

// Failure is what the dagger CLI reported about a call that failed, read
// from its output (ParseFailure): the error chain the engine returned, and,
// when that chain ends in a container's exit code, which command it was
// and what it printed last on stderr.
type Failure struct {
	// Error is the error chain of the CLI's "Error:" line, without the
	// trace id: a function's own error ("test-unit: 3 of 315 tests
	// failed"), or the engine's ("failed to serve module: ...").
	Error string
	// Exec is the failing withExec's command, when Error is a container's
	// exit code ("exit code: 2").
	Exec string
	// Stderr is the last lines (at most ten) the CLI printed under
	// "Stderr:" after the error: the failing process's own words.
	Stderr []string
	// Detail is the failing process's last meaningful words: the last
	// lines of Stderr that are neither log lines nor a bare exit status,
	// joined on one line ("go: ... cannot find module providing package
	// ..."). Empty when Stderr has none.
	Detail string
	// ModuleLoad is true when the CLI failed while loading the module,
	// before any function ran: such a failure changed nothing, so a retry
	// is safe.
	ModuleLoad bool
}

// String is the failure on one line: the error chain, then the failing
// command and its last line of stderr when the chain is only an exit code.
func (f Failure) String() string {
	s := f.Error
	if f.Exec != "" {
		s += " (withExec " + f.Exec + ")"
	}
	if f.Detail != "" && exitCodeOnly.MatchString(f.Error) {
		s += ": " + f.Detail
	}
	return s
}

var (
	ansi = regexp.MustCompile(`\x1b\[[0-9;?]*[ -/]*[@-~]`)
	// traceparent ends the CLI's error line: an id for Dagger Cloud.
	traceparent = regexp.MustCompile(`\s*\[traceparent:[0-9a-f-]+\]\s*$`)
	// exitCodeOnly is an error chain that says no more than a process's
	// exit code.
	exitCodeOnly = regexp.MustCompile(`(^|: )(process "[^"]*" did not complete successfully: )?exit code: \d+$`)
	// span is a line of the plain progress output: "12  : text".
	span = regexp.MustCompile(`^(\d+)\s*: (.*)$`)
	// exitStatus is a process's own last words that say nothing but how
	// it exited: Go's "exit status 1", codegen's post-command failure.
	exitStatus = regexp.MustCompile(`(?i)^(error: )?exit (status|code):? \d+$|error="exit status \d+"$`)
	// codegenLog is the first line the Go SDK's codegen logs.
	codegenLog = regexp.MustCompile(`^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d INFO generating module `)
	// logLine is a Go log line that is not an error: progress, not cause.
	logLine = regexp.MustCompile(`^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d (INFO|DEBUG|WARN) `)
)

// ParseFailure reads the output of a failed dagger CLI call (plain
// progress, which is what the CLI prints when its output is not a
// terminal) and returns what Dagger reported. ok is false when the output
// holds no "Error:" line of the CLI, such as when the command was not
// dagger at all. Where several calls ran, the last error counts.
func ParseFailure(output string) (f Failure, ok bool) {
	lines := strings.Split(ansi.ReplaceAllString(output, ""), "\n")
	// The CLI's own error line carries the trace id; a process's stderr
	// printed after it may have "Error:" lines of its own (codegen's
	// "Error: exit status 1"), which are not Dagger's error.
	at := -1
	for i := len(lines) - 1; i >= 0 && at < 0; i-- {
		if strings.HasPrefix(lines[i], "Error: ") && strings.Contains(lines[i], "[traceparent:") {
			at = i
		}
	}
	for i := len(lines) - 1; i >= 0 && at < 0; i-- {
		if strings.HasPrefix(lines[i], "Error: ") {
			at = i
		}
	}
	if at < 0 {
		return Failure{}, false
	}
	// The message may span lines; the trace id ends it, or the process's
	// output sections follow it.
	msg := []string{strings.TrimPrefix(lines[at], "Error: ")}
	i := at + 1
	for !traceparent.MatchString(msg[len(msg)-1]) && i < len(lines) && i < at+20 &&
		lines[i] != "Stdout:" && lines[i] != "Stderr:" && strings.TrimSpace(lines[i]) != "" {
		msg = append(msg, lines[i])
		i++
	}
	f.Error = strings.TrimSpace(traceparent.ReplaceAllString(strings.Join(msg, "\n"), ""))
	var stderr []string
	inStderr := false
	for _, l := range lines[i:] {
		switch {
		case l == "Stderr:":
			inStderr = true
		case l == "Stdout:":
			inStderr = false
		case inStderr && strings.TrimSpace(l) != "":
			stderr = append(stderr, strings.TrimRight(l, " \t\r"))
			// The Go SDK generates the module's code when it builds the
			// function's runtime: if that failed, no function ran.
			if codegenLog.MatchString(l) {
				f.ModuleLoad = true
			}
		}
	}
	f.Detail = detail(stderr)
	if len(stderr) > 10 {
		stderr = stderr[len(stderr)-10:]
	}
	f.Stderr = stderr
	var loadFailed bool
	f.Exec, loadFailed = progress(lines[:at])
	f.ModuleLoad = f.ModuleLoad || loadFailed
	if f.Exec != "" && !exitCodeOnly.MatchString(f.Error) {
		// The chain says more than the exit code: it is the message.
		f.Exec = ""
	}
	if strings.HasPrefix(f.Error, "failed to serve module") || strings.HasPrefix(f.Error, "failed to load module") {
		f.ModuleLoad = true
	}
	return f, true
}

// progress reads the plain progress lines before the error: the command
// of the last withExec span that ended in ERROR, and whether the
// "load module" span failed. The exec's error is not always reported on
// its own span: when the command failed while the call that read its
// result (Container.stdout, sync, ...) was already waiting, the withExec
// span ends DONE and that call's span ends in ERROR. Then the command is
// the last withExec started before it.
func progress(lines []string) (exec string, moduleLoad bool) {
	cmds := map[string]string{} // span id -> its withExec command
	var last, readFailed string
	for _, l := range lines {
		m := span.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		id, text := m[1], strings.TrimLeft(m[2], "┆ ")
		switch {
		case strings.HasPrefix(text, "withExec ") && cmds[id] == "":
			cmds[id] = strings.TrimSuffix(strings.TrimPrefix(text, "withExec "), " (")
			last = cmds[id]
		case strings.HasPrefix(text, "Container.withExec ERROR") && cmds[id] != "":
			exec = cmds[id]
		case containerReadError.MatchString(text) && last != "":
			readFailed = last
		case strings.HasPrefix(text, "load module") && strings.Contains(text, " ERROR"):
			moduleLoad = true
		}
	}
	if exec == "" {
		exec = readFailed
	}
	return exec, moduleLoad
}

// containerReadError is a span of a call that evaluates a container (its
// output, or the container itself) ending in ERROR.
var containerReadError = regexp.MustCompile(`^Container\.(stdout|stderr|sync|exitCode|combinedOutput) ERROR`)

// detail is the last meaningful lines of a process's stderr on one line:
// trailing bare exit statuses are dropped, then up to four lines are kept
// back to the previous log line.
func detail(stderr []string) string {
	end := len(stderr)
	for end > 0 && exitStatus.MatchString(strings.TrimSpace(stderr[end-1])) {
		end--
	}
	start := end
	for start > 0 && end-start < 4 && !logLine.MatchString(stderr[start-1]) {
		start--
	}
	parts := make([]string, 0, end-start)
	for _, l := range stderr[start:end] {
		parts = append(parts, strings.TrimSpace(l))
	}
	return strings.Join(parts, " ")
}
