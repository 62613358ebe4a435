package lint

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// printer renders the validator's messages; English, like every other message here.
var printer = message.NewPrinter(language.English)

// The schemas are unmodified upstream copies; schemas/SOURCES.md says where
// each came from and schemas/NOTICE carries their licence notices.
//
//go:embed schemas/gitlab-ci.json schemas/github-workflow.json schemas/SOURCES.md schemas/NOTICE
var schemaFS embed.FS

// compiled schemas, compiled once per process: the GitLab schema takes tens
// of milliseconds to compile, which a fuzz test would otherwise pay per input.
var (
	gitlabSchema = sync.OnceValues(func() (*jsonschema.Schema, error) { return compile("gitlab-ci.json") })
	githubSchema = sync.OnceValues(func() (*jsonschema.Schema, error) { return compile("github-workflow.json") })
)

func compile(file string) (*jsonschema.Schema, error) {
	data, err := schemaFS.ReadFile("schemas/" + file)
	if err != nil {
		return nil, err
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("schema %s: %w", file, err)
	}
	// A local URL: the schemas' own $id values point at the network, and
	// nothing here may load from it.
	url := "file:///slipway/lint/schemas/" + file
	c := jsonschema.NewCompiler()
	if err := c.AddResource(url, doc); err != nil {
		return nil, fmt.Errorf("schema %s: %w", file, err)
	}
	s, err := c.Compile(url)
	if err != nil {
		return nil, fmt.Errorf("schema %s: %w", file, err)
	}
	return s, nil
}

// validateSchema validates v and reports each failing leaf of the schema
// tree. jobOf maps an instance location to the job it lies in ("" for none),
// lineOf to a line in the file.
func (r *report) validateSchema(s *jsonschema.Schema, v any, name, docs string, jobOf func([]string) string, lineOf func([]string) int) {
	err := s.Validate(v)
	if err == nil {
		return
	}
	var verr *jsonschema.ValidationError
	if !errors.As(err, &verr) {
		r.add("", 0, "", "validating against the %s schema: %v", name, err)
		return
	}
	type found struct {
		loc []string
		msg string
	}
	var all []found
	seen := map[string]bool{}
	for _, leaf := range leaves(verr) {
		msg := fmt.Sprintf("/%s: %s", strings.Join(leaf.InstanceLocation, "/"), leaf.ErrorKind.LocalizedString(printer))
		if !seen[msg] {
			seen[msg] = true
			all = append(all, found{leaf.InstanceLocation, msg})
		}
	}
	// The validator visits object properties in map order: sort for stable messages.
	slices.SortFunc(all, func(a, b found) int { return strings.Compare(a.msg, b.msg) })
	for _, f := range all {
		loc := "/" + strings.Join(f.loc, "/")
		r.add(jobOf(f.loc), lineOf(f.loc),
			fmt.Sprintf("fix the value at %s; the keywords are described at %s", loc, docs),
			"does not match the %s schema at %s", name, f.msg)
	}
}

// leaves returns the errors with no causes that explain e. Where a oneOf or
// anyOf failed, only the branch that got deepest into the value is kept (the
// one with the fewest failures among equals): that branch is nearly always
// the one the author meant, and the others only add noise such as "want
// array" next to "want object".
func leaves(e *jsonschema.ValidationError) []*jsonschema.ValidationError {
	if len(e.Causes) == 0 {
		return []*jsonschema.ValidationError{e}
	}
	switch e.ErrorKind.(type) {
	case *kind.OneOf, *kind.AnyOf:
		var best []*jsonschema.ValidationError
		bestDepth := -1
		for _, c := range e.Causes {
			sub := leaves(c)
			d := 0
			for _, l := range sub {
				d = max(d, len(l.InstanceLocation))
			}
			if d > bestDepth || d == bestDepth && len(sub) < len(best) {
				best, bestDepth = sub, d
			}
		}
		return best
	}
	var out []*jsonschema.ValidationError
	for _, c := range e.Causes {
		out = append(out, leaves(c)...)
	}
	return out
}
