package stagese2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/slipway-ci/slipway/deploy/attest"
	"github.com/slipway-ci/slipway/internal/daggertest"
	"github.com/slipway-ci/slipway/internal/e2e"
	"github.com/slipway-ci/slipway/internal/engine"
	"github.com/slipway-ci/slipway/internal/enginetest"
)

// PythonSlimCompressedBytes is the seed's base image, python:3.11-slim
// (Debian 12, linux/amd64), as Docker Hub lists its compressed size: about
// 41 MB. The seed's image adds its pip dependencies on top, so this is a
// lower bound of the image slipway's replaces.
const PythonSlimCompressedBytes = 41 << 20

// ciArgs run the whole pipeline with the engine's mirror of the Trivy DB.
var ciArgs = []string{"-m", "ci", "call", "slipway", "ci", "--db-repository=" + daggertest.Registry + "/aquasecurity/trivy-db:2", "--db-insecure", "summary"}

func timeDagger(b *testing.B, e *enginetest.Engine, dir string, args ...string) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	if out, err := e.Dagger(ctx, dir, args...); err != nil {
		b.Fatalf("%v\n%s", err, out)
	}
}

// copyRepo copies the checkout (without .git and .slipway) into a temporary
// directory, so that a benchmark can change a file without touching it.
func copyRepo(b *testing.B) string {
	b.Helper()
	dst := b.TempDir()
	// A git work tree of its own: Dagger loads a module's context from the
	// root of its git repository, and ci/dagger.json installs slipway from
	// "..", which must not escape it.
	cmd := exec.Command("sh", "-c", `tar -C "$1" --exclude=./.git --exclude=./.slipway --exclude=./reports -cf - . | tar -C "$2" -xf - && git -C "$2" init -q`, "sh", repo, dst)
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("copying the checkout: %v\n%s", err, out)
	}
	return dst
}

// The cold engine: a throwaway engine with an empty state (its own
// instance directory; the shared build cache of binaries and images), for
// the module's first load and the first whole pipeline run. Started by the
// first benchmark that needs it, stopped by TestMain.
var (
	coldOnce sync.Once
	cold     *enginetest.Engine
	coldStop func()
	coldErr  error
	coldMu   sync.Mutex // guards coldStop and coldErr after coldOnce
)

func coldEngine(b *testing.B) *enginetest.Engine {
	b.Helper()
	enginetest.Require(b)
	coldOnce.Do(func() { cold, coldStop, coldErr = startColdEngine() })
	coldMu.Lock()
	err := coldErr
	coldMu.Unlock()
	if err != nil {
		e2e.Unavailable(b, err)
	}
	return cold
}

// releaseColdEngine stops the cold engine and removes its state (several
// GB after the cold pipeline run), if it was started. The benchmarks that
// start a fresh engine per job call it first: they come after every
// benchmark that uses the cold engine (source order), and on this 2-core,
// small-disk machine the two states together ran the disk full (ENOSPC in
// the test:unit job's compile).
func releaseColdEngine() {
	coldMu.Lock()
	defer coldMu.Unlock()
	if coldStop != nil {
		coldStop()
		coldStop = nil
		coldErr = errors.New("the cold engine was released for the fresh-engine benchmarks (run the cold benchmarks before them)")
	}
}

// minFreeForEngine is the free space a fresh engine's job needs in the
// temporary directory: the one-job run's engine state peaked at 5.5 GB,
// test:unit's race-instrumented compile is the largest of the jobs'.
const minFreeForEngine = 8 << 30

// needDisk fails the benchmark before a fresh engine starts when the
// temporary directory has less than minFreeForEngine free, naming the
// space and the fix, instead of an ENOSPC deep in a job's log.
func needDisk(b *testing.B) {
	b.Helper()
	var st syscall.Statfs_t
	dir := os.TempDir()
	if err := syscall.Statfs(dir, &st); err != nil {
		b.Fatalf("free space of %s: %v", dir, err)
	}
	if free := st.Bavail * uint64(st.Bsize); free < minFreeForEngine {
		b.Fatalf("%s has %.1f GiB free; a job on a fresh engine needs about %d GiB: free some (make engine-prune brings the shared engine's cache under its cap)",
			dir, float64(free)/(1<<30), minFreeForEngine>>30)
	}
}

// startColdEngine starts a throwaway engine with an empty state and
// returns it with the function that stops it and removes its state.
func startColdEngine() (*enginetest.Engine, func(), error) {
	return startColdEngineWith("")
}

// startColdEngineWith is startColdEngine whose registry (the manifests
// pushed to 10.87.0.1:5000; the blobs are shared by every engine) is kept
// in registry when it is not empty: copied in before the engine starts,
// copied back when it stops. An engine's registry lives in its instance
// directory, which a fresh engine starts without; on hosted runners the
// registry is the CI's own, which outlives each job's engine, and later
// jobs pull what the build job pushed.
func startColdEngineWith(registry string) (*enginetest.Engine, func(), error) {
	if os.Geteuid() != 0 {
		return nil, nil, errNotRoot
	}
	inst, err := os.MkdirTemp("", "slipway-bench-engine-")
	if err != nil {
		return nil, nil, err
	}
	if registry != "" {
		if err := copyTree(registry, filepath.Join(inst, "registry")); err != nil {
			os.RemoveAll(inst)
			return nil, nil, err
		}
	}
	abs, _ := filepath.Abs(repo)
	eng, err := engine.New(engine.WithInstanceDir(inst), engine.WithRepoDir(abs))
	if err == nil {
		err = eng.Cached()
	}
	if err != nil {
		os.RemoveAll(inst)
		return nil, nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	env, err := eng.Up(ctx)
	if err != nil {
		os.RemoveAll(inst)
		return nil, nil, fmt.Errorf("starting a throwaway engine: %w", err)
	}
	stop := func() {
		eng.Down(context.Background())
		if registry != "" {
			if err := os.RemoveAll(registry); err == nil {
				copyTree(filepath.Join(inst, "registry"), registry)
			}
		}
		os.RemoveAll(inst)
	}
	return &enginetest.Engine{Env: env}, stop, nil
}

// copyTree copies the directory src to dst (created), as cp -a does; a
// missing src copies nothing.
func copyTree(src, dst string) error {
	if _, err := os.Stat(src); err != nil {
		return nil
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	if out, err := exec.Command("cp", "-a", src+"/.", dst+"/").CombinedOutput(); err != nil {
		return fmt.Errorf("copying %s: %v: %s", src, err, out)
	}
	return nil
}

func TestMain(m *testing.M) {
	code := m.Run()
	releaseColdEngine()
	os.Exit(code)
}

// BenchmarkColdModuleLoad is the module's first load on an engine with an
// empty state: `dagger functions` (target <= 60 s).
func BenchmarkColdModuleLoad(b *testing.B) {
	e := coldEngine(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		timeDagger(b, e, repo, "functions")
	}
}

// BenchmarkColdTrivialModuleLoad is the baseline of
// BenchmarkColdModuleLoad: the first load of a Go module with one function
// returning a string (testdata/trivialmodule), on its own throwaway engine
// with an empty state. What the Go SDK costs every module: its image, the
// codegen, and its own dependencies (gRPC, OpenTelemetry) compiled once.
func BenchmarkColdTrivialModuleLoad(b *testing.B) {
	enginetest.Require(b)
	e, stop, err := startColdEngine()
	if err != nil {
		e2e.Unavailable(b, err)
	}
	defer stop()
	dir, err := filepath.Abs(filepath.Join("testdata", "trivialmodule"))
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		timeDagger(b, e, dir, "functions")
	}
}

// BenchmarkPipelineCold is the first whole pipeline run on the cold engine,
// right after the module's first load: every image pull, module download,
// compilation and scan happens for the first time.
func BenchmarkPipelineCold(b *testing.B) {
	e := coldEngine(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		timeDagger(b, e, repo, ciArgs...)
	}
}

// BenchmarkTrivialCall is the baseline: a cached call of a function that
// does nothing but return (the module is loaded, its result cached).
func BenchmarkTrivialCall(b *testing.B) {
	e := enginetest.Require(b)
	// The same call once untimed: the timed ones find the module loaded
	// and the result cached, whatever ran before.
	timeDagger(b, e, repo, "-m", "ci", "call", "slipway", "generate", "entries")
	b.ResetTimer()
	mean(b, func() { timeDagger(b, e, repo, "-m", "ci", "call", "slipway", "generate", "entries") })
}

// mean runs f at least three times whatever b.N (make bench gives this
// package -benchtime=1x) and reports the mean as ns/op: the warm and
// trivial calls take a second or two, and one sample of either is mostly
// the machine's noise (1.46x and 1.88x in two single-sample runs).
func mean(b *testing.B, f func()) {
	n := max(b.N, 3)
	start := time.Now()
	for range n {
		f()
	}
	b.ReportMetric(float64(time.Since(start).Nanoseconds())/float64(n), "ns/op")
}

// BenchmarkPipelineWarm runs `dagger call ci` with nothing changed since
// the previous run.
func BenchmarkPipelineWarm(b *testing.B) {
	e := enginetest.Require(b)
	timeDagger(b, e, repo, ciArgs...)
	b.ResetTimer()
	mean(b, func() { timeDagger(b, e, repo, ciArgs...) })
}

// BenchmarkPipelineOneFileChange changes one Go file of the service (a new
// comment line, so the build and the tests of its package rerun) before
// each run.
func BenchmarkPipelineOneFileChange(b *testing.B) {
	e := enginetest.Require(b)
	dir := copyRepo(b)
	timeDagger(b, e, dir, ciArgs...)
	file := filepath.Join(dir, "examples/deployai/internal/server/server.go")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		f, err := os.OpenFile(file, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			b.Fatal(err)
		}
		f.WriteString("\n// bench " + time.Now().Format(time.RFC3339Nano) + "\n")
		f.Close()
		b.StartTimer()
		timeDagger(b, e, dir, ciArgs...)
	}
}

type notRoot struct{}

func (notRoot) Error() string { return "a throwaway engine needs root (sudo make bench)" }

var errNotRoot = notRoot{}

// BenchmarkImageSize reports the service image's compressed size (the sum
// of its layers, as a registry stores and a node pulls it) as its "bytes"
// metric, which make bench sets against PythonSlimCompressedBytes (reported
// the same way by BenchmarkPythonSlimSize). The export runs once: b.Loop
// keeps any -benchtime from running it again.
func BenchmarkImageSize(b *testing.B) {
	e := enginetest.Require(b)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	dir := b.TempDir()
	if out, err := e.Dagger(ctx, repo, "-m", "ci", "call", "slipway", "build", "as-tarball", "--media-types=OCIMediaTypes", "export", "--path="+filepath.Join(dir, "image.tar")); err != nil {
		b.Fatalf("%v\n%s", err, out)
	}
	size, err := compressedSize(filepath.Join(dir, "image.tar"), dir)
	if err != nil {
		b.Fatal(err)
	}
	// A size, not a time: benchratio compares the "bytes" metric
	// (make bench's ratio names the unit).
	for b.Loop() {
	}
	b.ReportMetric(float64(size)/(1<<20), "MB")
	b.ReportMetric(float64(size), "bytes")
}

// BenchmarkPythonSlimSize reports PythonSlimCompressedBytes the way
// BenchmarkImageSize reports the service image.
func BenchmarkPythonSlimSize(b *testing.B) {
	b.ReportMetric(float64(PythonSlimCompressedBytes)/(1<<20), "MB")
	b.ReportMetric(float64(PythonSlimCompressedBytes), "bytes")
}

// compressedSize sums the layer sizes of the image in an OCI tarball.
func compressedSize(tarball, dir string) (int64, error) {
	out := filepath.Join(dir, "x")
	if err := os.MkdirAll(out, 0o755); err != nil {
		return 0, err
	}
	if b, err := exec.Command("tar", "-xf", tarball, "-C", out).CombinedOutput(); err != nil {
		return 0, &exec.ExitError{Stderr: b}
	}
	var index struct {
		Manifests []struct{ Digest string } `json:"manifests"`
	}
	if err := readJSON(filepath.Join(out, "index.json"), &index); err != nil {
		return 0, err
	}
	var man struct {
		Layers []struct{ Size int64 } `json:"layers"`
	}
	if len(index.Manifests) == 0 {
		return 0, os.ErrNotExist
	}
	if err := readJSON(filepath.Join(out, "blobs", "sha256", strings.TrimPrefix(index.Manifests[0].Digest, "sha256:")), &man); err != nil {
		return 0, err
	}
	var total int64
	for _, l := range man.Layers {
		total += l.Size
	}
	return total, nil
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// Issue 11, item 12: the reference pipeline the way hosted runners run it.
// A hosted runner (GitLab.com's shared runners with docker:dind, GitHub's
// hosted runners) starts every job on an engine with an empty state, so
// each job loads the module and builds what it needs from nothing. The
// benchmarks below run the committed .gitlab-ci.yml's jobs, script line by
// script line, the way a runner does:
//
//   - BenchmarkReferenceJobsEphemeral: each job on a fresh throwaway engine
//     (started inside the timing, as a runner starts dind inside the job);
//   - BenchmarkReferenceJobsWarm: the same jobs, one after the other, on the
//     shared warm engine, after one untimed run;
//   - BenchmarkReferenceOneJobEphemeral: the lower bound slipway offers, the
//     whole pipeline as one job (`dagger -m ci call slipway ci`, every
//     stage's reports exported, then its verdict) on one fresh engine: one
//     module load and one build instead of one per job.
//
// The deploy jobs are left out (they need the control plane and only talk
// to it); the jobs run sequentially in stage order in all three, so the
// ratios compare like with like. They need root, like every throwaway
// engine (sudo make bench).

// ciJob is one job of the committed .gitlab-ci.yml.
type ciJob struct {
	name   string
	script []string
}

// referenceJobs reads the non-deploy jobs of the committed .gitlab-ci.yml in
// file order (stage order), with its pipeline variables' defaults.
func referenceJobs(b *testing.B) ([]ciJob, map[string]string) {
	b.Helper()
	data, err := os.ReadFile(filepath.Join(repo, ".gitlab-ci.yml"))
	if err != nil {
		b.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		b.Fatal(err)
	}
	root := doc.Content[0]
	vars := map[string]string{}
	var jobs []ciJob
	for i := 0; i+1 < len(root.Content); i += 2 {
		key, val := root.Content[i].Value, root.Content[i+1]
		switch {
		case key == "variables":
			var m map[string]any
			if err := val.Decode(&m); err != nil {
				b.Fatal(err)
			}
			for k, v := range m {
				if s, ok := v.(string); ok {
					vars[k] = s
				} else if mm, ok := v.(map[string]any); ok {
					vars[k], _ = mm["value"].(string)
				}
			}
		case val.Kind == yaml.MappingNode && !slices.Contains([]string{"stages", "workflow", "default", "include"}, key):
			var j struct {
				Stage  string   `yaml:"stage"`
				Script []string `yaml:"script"`
			}
			if err := val.Decode(&j); err != nil {
				b.Fatal(err)
			}
			if j.Stage == "deploy" || strings.HasPrefix(key, "deploy") {
				continue
			}
			jobs = append(jobs, ciJob{name: key, script: j.Script})
		}
	}
	if len(jobs) < 2 {
		b.Fatalf("the committed .gitlab-ci.yml has %d non-deploy jobs", len(jobs))
	}
	return jobs, vars
}

// benchRevision is the commit the jobs build (CI_COMMIT_SHA).
const benchRevision = "0123456789abcdef0123456789abcdef01234567"

// runJobs runs jobs' scripts in dir on e, as a runner does: sh -e, the
// pipeline's variables and the CI's, the dotenv report of a job (its
// IMAGE_REF) in the environment of the later ones. fresh, when not nil,
// gives each job its own engine.
func runJobs(b *testing.B, e *enginetest.Engine, fresh func() (*enginetest.Engine, func()), dir, repository string, jobs []ciJob, vars map[string]string) {
	b.Helper()
	env := map[string]string{}
	for k, v := range vars {
		env[k] = v
	}
	// The jobs sign what they publish and scan (--signing-key=env://SIGNING_KEY),
	// as the committed file's do: a key of the benchmark's own.
	key, _, err := attest.GenerateKeyPair()
	if err != nil {
		b.Fatal(err)
	}
	env["SIGNING_KEY"] = string(key)
	// Random: Dagger masks a secret's value wherever it appears in the
	// output, and a password such as "bench" would mask the repository
	// slipway-bench in the IMAGE_REF that later jobs read.
	password := fmt.Sprintf("pw-%d", time.Now().UnixNano())
	for k, v := range map[string]string{
		"CI_COMMIT_SHA": benchRevision, "CI_JOB_NAME": "", "IMAGE_REPOSITORY": repository, "REGISTRY_INSECURE": "true",
		"REGISTRY_PASSWORD": password, "TRIVY_DB_REPOSITORY": daggertest.Registry + "/aquasecurity/trivy-db:2", "TRIVY_DB_INSECURE": "true",
	} {
		env[k] = v
	}
	for _, j := range jobs {
		eng, stop := e, func() {}
		if fresh != nil {
			eng, stop = fresh()
		}
		env["CI_JOB_NAME"] = j.name
		os.Remove(filepath.Join(dir, "slipway.env"))
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
		cmd := exec.CommandContext(ctx, "sh", "-ec", strings.Join(j.script, "\n"))
		cmd.Dir = dir
		cmd.Env = eng.Env.Environ(os.Environ())
		cmd.Env = append(cmd.Env, "PATH="+filepath.Dir(eng.Env.CLIBin)+string(os.PathListSeparator)+os.Getenv("PATH"))
		for k, v := range env {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
		start := time.Now()
		out, err := cmd.CombinedOutput()
		cancel()
		b.StopTimer()
		log := keepLog(b, j.name, out)
		b.Logf("job %s: %s (log: %s)", j.name, time.Since(start).Round(100*time.Millisecond), log)
		stop()
		if err != nil {
			b.Fatalf("job %s: %v\n%s", j.name, err, tail(string(out)))
		}
		// The dotenv report: what later jobs get in their environment.
		if dotenv, err := os.ReadFile(filepath.Join(dir, "slipway.env")); err == nil {
			for _, line := range strings.Split(strings.TrimSpace(string(dotenv)), "\n") {
				if k, v, ok := strings.Cut(line, "="); ok {
					env[k] = v
				}
			}
		}
		b.StartTimer()
	}
	if env["IMAGE_REF"] == "" {
		b.Fatal("no job printed IMAGE_REF: the jobs did not run as the file says")
	}
}

// keepLog writes a job's whole output (Dagger's plain progress, with each
// span's time) under .slipway/bench/logs/<benchmark>/, so that a slow job
// can be read after the run; it returns the file's path.
func keepLog(b *testing.B, job string, out []byte) string {
	b.Helper()
	dir := filepath.Join(repo, ".slipway", "bench", "logs", strings.ReplaceAll(b.Name(), "/", "_"))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Logf("keeping the log of job %s: %v", job, err)
		return "(not kept)"
	}
	path := filepath.Join(dir, strings.ReplaceAll(job, ":", "_")+".log")
	if err := os.WriteFile(path, out, 0o644); err != nil {
		b.Logf("keeping the log of job %s: %v", job, err)
		return "(not kept)"
	}
	abs, _ := filepath.Abs(path)
	return abs
}

// freshEngine starts a throwaway engine with an empty state for each job;
// its start is part of the timing, as a runner starts dind inside the job.
// The jobs' registry outlives each engine, as a CI's registry does.
func freshEngine(b *testing.B) func() (*enginetest.Engine, func()) {
	registry := b.TempDir()
	return func() (*enginetest.Engine, func()) {
		needDisk(b)
		e, stop, err := startColdEngineWith(registry)
		if err != nil {
			e2e.Unavailable(b, err)
		}
		return e, stop
	}
}

// BenchmarkReferenceJobsEphemeral runs every non-deploy job of the committed
// .gitlab-ci.yml on its own fresh engine: the reference pipeline on hosted
// runners.
func BenchmarkReferenceJobsEphemeral(b *testing.B) {
	enginetest.Require(b)
	if os.Geteuid() != 0 {
		e2e.Unavailable(b, errNotRoot)
	}
	releaseColdEngine()
	jobs, vars := referenceJobs(b)
	dir := copyRepo(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		runJobs(b, nil, freshEngine(b), dir, fmt.Sprintf("%s/slipway-bench/ephemeral-%d", daggertest.Registry, time.Now().UnixNano()), jobs, vars)
	}
}

// BenchmarkReferenceJobsWarm runs the same jobs on the shared engine, warm
// from an untimed run of them: the baseline of the ephemeral benchmarks.
func BenchmarkReferenceJobsWarm(b *testing.B) {
	e := enginetest.Require(b)
	jobs, vars := referenceJobs(b)
	dir := copyRepo(b)
	repository := daggertest.Registry + "/slipway-bench/warm"
	runJobs(b, e, nil, dir, repository, jobs, vars)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		runJobs(b, e, nil, dir, repository, jobs, vars)
	}
}

// BenchmarkReferenceOneJobEphemeral runs the whole pipeline as one job on
// one fresh engine: `dagger -m ci call slipway ci`, exporting every stage's
// reports, then the same call's verdict, as a one-job CI file would.
func BenchmarkReferenceOneJobEphemeral(b *testing.B) {
	enginetest.Require(b)
	if os.Geteuid() != 0 {
		e2e.Unavailable(b, errNotRoot)
	}
	releaseColdEngine()
	dir := copyRepo(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		call := []string{"-m", "ci", "call", "slipway", "ci", "--revision=" + benchRevision,
			"--repository=" + fmt.Sprintf("%s/slipway-bench/one-job-%d", daggertest.Registry, time.Now().UnixNano()), "--insecure",
			"--db-repository=" + daggertest.Registry + "/aquasecurity/trivy-db:2", "--db-insecure",
			"--govuln-db-image=" + engine.MirrorBridgeAddr + "/" + engine.VulnDBRef, "--signing-key=env://SIGNING_KEY"}
		runJobs(b, nil, freshEngine(b), dir, "", []ciJob{{name: "ci", script: []string{
			"dagger " + strings.Join(call, " ") + " reports export --path=reports",
			"test -f reports/unit/junit.xml && test -f reports/integration/junit.xml && test -f reports/trivy/trivy.json && test -f reports/sast/gosec.json && test -f reports/sbom/gl-sbom-image.cdx.json && test -f reports/govulncheck/govulncheck.sarif",
			// The verdict ends with the image's reference, which the deploy
			// jobs read, as they read build's.
			`out="$(dagger ` + strings.Join(call, " ") + ` check)" && printf '%s\n' "$out" | grep '^IMAGE_REF=' > slipway.env`,
		}}}, nil)
	}
}
