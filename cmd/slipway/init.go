package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/mod/modfile"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/slipway-ci/slipway/deploy/manifest"
	"github.com/slipway-ci/slipway/pipeline"
	"github.com/slipway-ci/slipway/pipeline/generate"
	"github.com/slipway-ci/slipway/pipeline/goservice"
)

// modulePath is slipway's own Go module and Dagger module address.
const modulePath = "github.com/slipway-ci/slipway"

// listFlag collects a repeatable flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// initOptions are init's flags.
type initOptions struct {
	dir, name, registry, pipelineDir string
	main                             listFlag
	slipway, slipwayVersion, replace string
	engine                           string
	runnerTags                       listFlag
	dryRun                           bool
}

// file is one file init writes.
type file struct {
	path string // relative to the repository
	data []byte
}

func runInit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var o initOptions
	fs := flag.NewFlagSet("init", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Var(&o.main, "main", "a main package to build, such as ./cmd/server (repeat for more binaries; the first is the entrypoint). Default: the module's only main package")
	fs.StringVar(&o.name, "name", "", "the service's name. Default: the first main package's directory name")
	fs.StringVar(&o.registry, "registry", "", "the image repository, such as registry.example.com/team/NAME (a CI variable overrides it). Default: registry.example.com/NAME")
	fs.StringVar(&o.pipelineDir, "pipeline-dir", "ci", "where the pipeline definition (a small Go module) goes")
	fs.StringVar(&o.slipway, "slipway", "", "slipway's Dagger module for dagger.json. Default: "+modulePath+"@VERSION")
	fs.StringVar(&o.slipwayVersion, "slipway-version", "", "the slipway version the definition requires. Default: this command's version")
	fs.StringVar(&o.replace, "slipway-replace", "", "a local slipway checkout the definition's go.mod replaces slipway with (for slipway's own development and tests)")
	fs.StringVar(&o.engine, "engine", "docker", "where CI jobs find a Dagger engine: docker (Dagger's docker:dind recipe: GitLab.com shared runners, GitHub-hosted runners), runner (runners that bring one, selected by -runner-tag) or cloud (Dagger Cloud)")
	fs.Var(&o.runnerTags, "runner-tag", "with -engine=runner: a GitLab runner tag that selects runners with an engine (repeat; default dagger)")
	fs.BoolVar(&o.dryRun, "dry-run", false, "print the files it would write, and write nothing")
	fs.Usage = func() {
		fmt.Fprint(stderr, "usage: slipway init [flags] [DIR]\n\nSets up slipway in the Go module at DIR (default .): dagger.json with slipway's\nDagger module as the toolchain \"slipway\" and the settings it finds, the pipeline\ndefinition in Go (ci/main.go, its own small Go module), and the generated\n.gitlab-ci.yml and .github/workflows/ci.yml. It never overwrites a file it did not\ngenerate.\n\nflags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return fmt.Errorf("init: %w", errUsage)
	}
	switch o.engine {
	case "docker", "cloud":
		if len(o.runnerTags) > 0 {
			return fmt.Errorf("init: -runner-tag goes with -engine=runner: %w", errUsage)
		}
	case "runner":
		if len(o.runnerTags) == 0 {
			o.runnerTags = listFlag{"dagger"}
		}
	default:
		return fmt.Errorf("init: -engine=%q: docker, runner or cloud: %w", o.engine, errUsage)
	}
	switch fs.NArg() {
	case 0:
		o.dir = "."
	case 1:
		o.dir = fs.Arg(0)
	default:
		return fmt.Errorf("init: one directory at most, got %q: %w", fs.Args(), errUsage)
	}
	files, notes, err := plan(ctx, o)
	if err != nil {
		return fmt.Errorf("init: %w", err)
	}
	if o.dryRun {
		for _, f := range files {
			fmt.Fprintf(stdout, "--- %s (%d lines)\n%s", f.path, bytes.Count(f.data, []byte("\n")), f.data)
		}
	} else {
		for _, f := range files {
			p := filepath.Join(o.dir, filepath.FromSlash(f.path))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return fmt.Errorf("init: %w", err)
			}
			if err := os.WriteFile(p, f.data, 0o644); err != nil {
				return fmt.Errorf("init: %w", err)
			}
			fmt.Fprintf(stdout, "wrote %s\n", f.path)
		}
		if err := tidy(ctx, filepath.Join(o.dir, o.pipelineDir), stderr); err != nil {
			return fmt.Errorf("init: the files are written, but the definition's go.sum is not: %w; run `go mod tidy` in %s", err, o.pipelineDir)
		}
	}
	for _, n := range notes {
		fmt.Fprintln(stdout, "note:", n)
	}
	if !o.dryRun {
		fmt.Fprintf(stdout, "next: commit them, then `dagger call slipway test-unit check` runs a stage here; `slipway generate` rewrites the CI files after you edit %s/main.go\n", o.pipelineDir)
	}
	return nil
}

// plan works out the files init writes and what it could not decide.
func plan(ctx context.Context, o initOptions) ([]file, []string, error) {
	var notes []string
	goModPath := filepath.Join(o.dir, "go.mod")
	raw, err := os.ReadFile(goModPath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, fmt.Errorf("no go.mod in %s: run slipway init at the root of the service's Go module (the directory with go.mod)", o.dir)
	}
	if err != nil {
		return nil, nil, err
	}
	mod, err := modfile.ParseLax(goModPath, raw, nil)
	if err != nil || mod.Module == nil {
		return nil, nil, fmt.Errorf("%s: not a go.mod with a module line: %v", goModPath, err)
	}
	mains := []string(o.main)
	if len(mains) == 0 {
		found, err := mainPackages(ctx, o.dir)
		if err != nil {
			return nil, nil, err
		}
		switch len(found) {
		case 0:
			return nil, nil, fmt.Errorf("the module %s has no main package: slipway builds commands; pass --main=./cmd/NAME", mod.Module.Mod.Path)
		case 1:
			mains = found
		default:
			return nil, nil, fmt.Errorf("the module has %d main packages (%s): choose the service's with --main (repeat it for more binaries; the first is the entrypoint)", len(found), strings.Join(found, ", "))
		}
	}
	name := o.name
	if name == "" {
		name = binaryName(mains[0], mod.Module.Mod.Path)
	}
	if !regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`).MatchString(name) {
		return nil, nil, fmt.Errorf("the service's name %q is not a DNS label (lower-case letters, digits and -): pass --name", name)
	}
	registry := o.registry
	if registry == "" {
		registry = "registry.example.com/" + name
		notes = append(notes, fmt.Sprintf("the image goes to %s by default: pass --registry, or set the CI variable IMAGE_REPOSITORY", registry))
	}

	var cust []goservice.Customization
	add := func(setting string, value any) error {
		c, err := goservice.Customize(setting, value)
		if err == nil {
			cust = append(cust, c)
		}
		return err
	}
	if err := add("name", name); err != nil {
		return nil, nil, err
	}
	if err := add("main", mains); err != nil {
		return nil, nil, err
	}
	src, err := readSources(o.dir, mains)
	if err != nil {
		return nil, nil, err
	}
	mf := findManifests(o.dir)
	var fromManifests deployment
	if mf.staging != "" {
		fromManifests, notes = readDeployment(filepath.Join(o.dir, mf.staging), name, notes)
	}
	ports := fromManifests.ports
	for _, p := range src.ports() {
		if !slices.Contains(ports, p) {
			ports = append(ports, p)
		}
	}
	if len(ports) > 0 {
		if err := add("ports", ports); err != nil {
			return nil, nil, err
		}
	} else {
		notes = append(notes, "no listen port found in the main packages or the manifests: set ports in dagger.json")
	}
	probes := fromManifests.probes
	if len(probes) == 0 {
		probes = src.probes(ports)
	}
	if len(probes) > 0 {
		if err := add("smoke", probes); err != nil {
			return nil, nil, err
		}
	} else {
		notes = append(notes, "no health endpoint found: set smoke (PORT/PATH=STATUS) or integrationPackage in dagger.json, or test-integration has nothing to run")
	}
	if pkgs := src.integration; len(pkgs) > 0 {
		notes = append(notes, fmt.Sprintf("%s holds integration tests (build tag integration): set integrationPackage and integrationEnv (NAME=PORT) in dagger.json to run them against the image", strings.Join(pkgs, ", ")))
	}
	if err := add("repository", registry); err != nil {
		return nil, nil, err
	}
	for _, env := range []struct{ name, ns, path string }{
		{"staging", name + "-staging", mf.staging},
		{"production", name, mf.production},
	} {
		if env.path == "" {
			notes = append(notes, fmt.Sprintf("no Kubernetes manifests found for %s: set %sManifests (a directory of YAML or a kustomize overlay) in dagger.json before deploying", env.name, env.name))
			continue
		}
		if err := add(env.name+"Namespace", env.ns); err != nil {
			return nil, nil, err
		}
		if err := add(env.name+"Manifests", env.path); err != nil {
			return nil, nil, err
		}
	}
	if fromManifests.container != "" {
		if err := add("container", fromManifests.container); err != nil {
			return nil, nil, err
		}
	}

	source := o.slipway
	if source == "" {
		v := o.slipwayVersion
		if v == "" {
			v = version()
		}
		if v == "(devel)" {
			return nil, nil, fmt.Errorf("this slipway is a development build, which names no version to install: pass --slipway (the module's address, such as %s@v0.5.0) and --slipway-version or --slipway-replace", modulePath)
		}
		source = modulePath + "@" + v
	}
	dj := goservice.DaggerJSON{Name: name, EngineVersion: pipeline.DefaultDaggerVersion,
		Toolchains: []goservice.InstalledToolchain{{Name: goservice.DefaultToolchain, Source: source, Customizations: cust}}}

	def, goMod, err := definition(o, name, registry, mod.Module.Mod.Path)
	if err != nil {
		return nil, nil, err
	}
	p, err := goservice.Pipeline(name, append([]goservice.Option{goservice.Registry(registry)}, engineOptions(o)...)...)
	if err != nil {
		return nil, nil, err
	}
	ciFiles, err := generate.Files(p)
	if err != nil {
		return nil, nil, err
	}
	files := []file{
		{"dagger.json", dj.Marshal()},
		{path.Join(o.pipelineDir, "go.mod"), goMod},
		{path.Join(o.pipelineDir, "main.go"), def},
	}
	for _, f := range ciFiles {
		files = append(files, file{f.Path, f.Data})
	}
	if err := refuseOverwrite(o.dir, o.pipelineDir, files); err != nil {
		return nil, nil, err
	}
	return files, notes, nil
}

// definition writes the pipeline definition and its go.mod.
func definition(o initOptions, name, registry, servicePath string) (main, goMod []byte, err error) {
	v := o.slipwayVersion
	if v == "" {
		v = version()
	}
	if v == "(devel)" {
		if o.replace == "" {
			return nil, nil, fmt.Errorf("this slipway is a development build: pass --slipway-version (a released version) or --slipway-replace (a local checkout)")
		}
		v = "v0.0.0"
	}
	var m bytes.Buffer
	fmt.Fprintf(&m, "module %s/%s\n\ngo 1.25.0\n\nrequire %s %s\n", servicePath, strings.Trim(filepath.ToSlash(o.pipelineDir), "/"), modulePath, v)
	if o.replace != "" {
		abs, err := filepath.Abs(o.replace)
		if err != nil {
			return nil, nil, err
		}
		fmt.Fprintf(&m, "\nreplace %s => %s\n", modulePath, abs)
	}
	main = []byte(fmt.Sprintf(`// Command %[3]s is this repository's CI/CD pipeline, written with slipway:
// which jobs run, when, and what they pass (see pipeline/goservice for its
// options). The service's settings (main packages, ports, manifests) are in
// dagger.json. After editing this file, run `+"`slipway generate`"+`.
package main

import (
%[5]s	"github.com/slipway-ci/slipway/pipeline/command"
	"github.com/slipway-ci/slipway/pipeline/goservice"
)

func main() {
	command.Main(goservice.Define(%[1]q,
		goservice.Registry(%[2]q),%[4]s
	))
}
`, name, registry, path.Base(filepath.ToSlash(o.pipelineDir)), engineLines(o), map[bool]string{true: "\t\"github.com/slipway-ci/slipway/pipeline\"\n", false: ""}[o.engine == "cloud"]))
	return main, m.Bytes(), nil
}

// generatedHeader starts every CI file slipway writes.
var generatedHeader = []byte("# Code generated by slipway")

// refuseOverwrite fails when a file init would write exists and is not
// one slipway generated, or when the pipeline directory is already a
// package of the service's module.
func refuseOverwrite(dir, pipelineDir string, files []file) error {
	var clash []string
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(f.path)))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		if bytes.HasPrefix(data, generatedHeader) {
			continue
		}
		clash = append(clash, f.path)
	}
	if len(clash) > 0 {
		return fmt.Errorf("%s already exist and slipway did not generate them: it overwrites nothing else; move them aside, or choose another --pipeline-dir for the definition", strings.Join(clash, ", "))
	}
	if goFiles, _ := filepath.Glob(filepath.Join(dir, pipelineDir, "*.go")); len(goFiles) > 0 {
		return fmt.Errorf("%s holds Go files of its own: the definition needs a directory to itself; pass --pipeline-dir", pipelineDir)
	}
	return nil
}

// mainPackages lists the module's main packages, as ./relative paths,
// without loading their dependencies; testdata and example directories
// are left out.
func mainPackages(ctx context.Context, dir string) ([]string, error) {
	cmd := exec.CommandContext(ctx, "go", "list", "-find", "-e", "-f", `{{if eq .Name "main"}}{{.Dir}}{{end}}`, "./...")
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("listing the main packages (go list): %v: %s", err, strings.TrimSpace(stderr.String()))
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	var pkgs []string
	for _, d := range strings.Fields(string(out)) {
		rel, err := filepath.Rel(abs, d)
		if err != nil {
			continue
		}
		rel = filepath.ToSlash(rel)
		if slices.ContainsFunc(strings.Split(rel, "/"), func(e string) bool {
			return e == "testdata" || e == "examples" || e == "example"
		}) {
			continue
		}
		if rel == "." {
			pkgs = append(pkgs, ".")
		} else {
			pkgs = append(pkgs, "./"+rel)
		}
	}
	sort.Strings(pkgs)
	return pkgs, nil
}

// binaryName names a main package's binary as go build does.
func binaryName(pkg, module string) string {
	if b := path.Base(path.Clean(pkg)); b != "." && b != "/" {
		return strings.ToLower(strings.ReplaceAll(b, "_", "-"))
	}
	b := path.Base(module)
	if len(b) > 1 && b[0] == 'v' && strings.Trim(b[1:], "0123456789") == "" {
		b = path.Base(path.Dir(module))
	}
	return strings.ToLower(strings.ReplaceAll(b, "_", "-"))
}

// sources is what init reads of the module's Go files.
type sources struct {
	mainText    string   // the main packages' non-test Go files
	allText     string   // every non-test Go file outside testdata
	integration []string // packages with files built only with the integration tag
}

var (
	// portRE finds listen addresses in string literals: ":8080",
	// "0.0.0.0:9115", "localhost:3000".
	portRE = regexp.MustCompile(`"(?:[a-z0-9.\-]*|\[::\]):([0-9]{2,5})"`)
	// healthPaths are the endpoints a smoke test probes, in order.
	healthPaths = []string{"/health", "/healthz", "/-/healthy", "/livez", "/ready", "/readyz", "/-/ready"}
)

func readSources(dir string, mains []string) (*sources, error) {
	s := &sources{}
	var mainText, allText strings.Builder
	mainDirs := map[string]bool{}
	for _, m := range mains {
		mainDirs[filepath.Clean(filepath.Join(dir, m))] = true
	}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			n := d.Name()
			if p != dir && (strings.HasPrefix(n, ".") || n == "testdata" || n == "vendor" || n == "node_modules") {
				return filepath.SkipDir
			}
			if p != dir {
				if _, err := os.Stat(filepath.Join(p, "go.mod")); err == nil {
					return filepath.SkipDir // another module
				}
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if integrationOnly(data) {
			rel, _ := filepath.Rel(dir, filepath.Dir(p))
			pkg := "./" + filepath.ToSlash(rel)
			if !slices.Contains(s.integration, pkg) {
				s.integration = append(s.integration, pkg)
			}
			return nil
		}
		allText.Write(data)
		if mainDirs[filepath.Dir(p)] {
			mainText.Write(data)
		}
		return nil
	})
	s.mainText, s.allText = mainText.String(), allText.String()
	return s, err
}

// integrationOnly reports whether a Go file builds only with the
// integration tag.
func integrationOnly(data []byte) bool {
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "//go:build") {
			return strings.Contains(line, "integration") && !strings.Contains(line, "!integration")
		}
		if strings.HasPrefix(line, "package ") {
			return false
		}
	}
	return false
}

// ports returns the listen ports the main packages name, in order of
// appearance.
func (s *sources) ports() []int {
	var out []int
	for _, m := range portRE.FindAllStringSubmatch(s.mainText, -1) {
		p, err := strconv.Atoi(m[1])
		if err != nil || p < 1 || p > 65535 || slices.Contains(out, p) {
			continue
		}
		out = append(out, p)
	}
	return out
}

// probes returns smoke probes of the health endpoints the source names, on
// the first port.
func (s *sources) probes(ports []int) []string {
	if len(ports) == 0 {
		return nil
	}
	var out []string
	for _, h := range healthPaths {
		if strings.Contains(s.allText, `"`+h+`"`) {
			out = append(out, fmt.Sprintf("%d%s=200", ports[0], h))
		}
	}
	return out
}

// manifests is where init found the service's Kubernetes objects.
type manifests struct {
	staging, production string // paths in the repository
}

// findManifests looks for kustomize overlays named staging and production,
// or else one kustomization or directory of YAML with a Deployment, used
// for both.
func findManifests(dir string) manifests {
	var m manifests
	var plain []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		if p != dir && (strings.HasPrefix(d.Name(), ".") || d.Name() == "vendor" || d.Name() == "testdata" || strings.Count(rel, string(filepath.Separator)) > 4) {
			return filepath.SkipDir
		}
		rel = filepath.ToSlash(rel)
		if manifest.IsKustomization(p) {
			switch d.Name() {
			case "staging", "stage":
				if m.staging == "" {
					m.staging = rel
				}
			case "production", "prod":
				if m.production == "" {
					m.production = rel
				}
			case "base":
			default:
				plain = append(plain, rel)
			}
			return filepath.SkipDir
		}
		yamls, _ := filepath.Glob(filepath.Join(p, "*.yaml"))
		ymls, _ := filepath.Glob(filepath.Join(p, "*.yml"))
		for _, y := range append(yamls, ymls...) {
			if data, err := os.ReadFile(y); err == nil && bytes.Contains(data, []byte("kind: Deployment")) {
				plain = append(plain, rel)
				break
			}
		}
		return nil
	})
	if m.staging == "" && m.production == "" && len(plain) == 1 {
		m.staging, m.production = plain[0], plain[0]
	}
	return m
}

// deployment is what init reads of the manifests' Deployment.
type deployment struct {
	ports     []int    // its containers' ports
	probes    []string // its readiness and liveness HTTP probes, as smoke probes
	container string   // the container that gets the image, when there are several
}

// readDeployment reads the service's Deployment in the manifests at dir:
// its ports and HTTP probes say what a smoke test should ask of the image,
// and with several containers, the one named as the service gets it.
func readDeployment(dir, name string, notes []string) (deployment, []string) {
	var d deployment
	objs, err := manifest.Load(dir)
	if err != nil {
		return d, append(notes, fmt.Sprintf("the manifests in %s do not load (%v): fix them before deploying", dir, err))
	}
	for _, o := range objs {
		if o.GetKind() != "Deployment" {
			continue
		}
		cts, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
		var names []string
		var ct map[string]any
		for _, c := range cts {
			m, _ := c.(map[string]any)
			n, _ := m["name"].(string)
			names = append(names, n)
			if len(cts) == 1 || n == name {
				ct = m
			}
		}
		if len(cts) > 1 {
			if ct == nil {
				return d, append(notes, fmt.Sprintf("the Deployment %s has containers %v: set container in dagger.json to the one that gets the image", o.GetName(), names))
			}
			d.container = name
		}
		if ct == nil {
			return d, notes
		}
		named := map[string]int{}
		ports, _, _ := unstructured.NestedSlice(ct, "ports")
		for _, p := range ports {
			m, _ := p.(map[string]any)
			n, ok := m["containerPort"].(int64)
			if !ok {
				continue
			}
			if pn, _ := m["name"].(string); pn != "" {
				named[pn] = int(n)
			}
			if !slices.Contains(d.ports, int(n)) {
				d.ports = append(d.ports, int(n))
			}
		}
		for _, probe := range []string{"readinessProbe", "livenessProbe"} {
			path, _, _ := unstructured.NestedString(ct, probe, "httpGet", "path")
			port, _, _ := unstructured.NestedFieldNoCopy(ct, probe, "httpGet", "port")
			n := 0
			switch v := port.(type) {
			case int64:
				n = int(v)
			case string:
				n = named[v]
			}
			if path == "" || n == 0 {
				continue
			}
			p := fmt.Sprintf("%d%s=200", n, path)
			if !slices.Contains(d.probes, p) {
				d.probes = append(d.probes, p)
			}
		}
		return d, notes
	}
	return d, append(notes, fmt.Sprintf("the manifests in %s have no Deployment: deploys need one", dir))
}

// tidy writes the definition's go.sum.
func tidy(ctx context.Context, dir string, stderr io.Writer) error {
	cmd := exec.CommandContext(ctx, "go", "mod", "tidy")
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go mod tidy: %v: %s", err, strings.TrimSpace(out.String()))
	}
	return nil
}

// engineOptions are the pipeline options of init's -engine and -runner-tag.
func engineOptions(o initOptions) []goservice.Option {
	switch o.engine {
	case "runner":
		return []goservice.Option{goservice.RunnerTags(o.runnerTags...)}
	case "cloud":
		return []goservice.Option{goservice.Engine(pipeline.CloudEngine())}
	}
	return nil
}

// engineLines are engineOptions as the definition spells them.
func engineLines(o initOptions) string {
	switch o.engine {
	case "runner":
		q := make([]string, len(o.runnerTags))
		for i, t := range o.runnerTags {
			q[i] = strconv.Quote(t)
		}
		return "\n\t\tgoservice.RunnerTags(" + strings.Join(q, ", ") + "),"
	case "cloud":
		return "\n\t\tgoservice.Engine(pipeline.CloudEngine()),"
	}
	return ""
}
