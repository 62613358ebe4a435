// Package pipeline is slipway's typed model of a CI/CD pipeline.
//
// A Pipeline is a set of Jobs grouped into ordered stages. Every Job does one
// thing: it calls one Dagger function of a module, with typed arguments. The
// same Pipeline value is turned into a GitLab CI file by package
// pipeline/gitlab and into a GitHub Actions workflow by package
// pipeline/github, so a team writes its pipeline once and runs it with
// `dagger call` on a laptop, in GitLab CI and in GitHub Actions alike.
//
// Pipelines are built with functional options and validated by New. A value
// returned by New is immutable: accessors hand out copies, so a generator
// cannot change what another generator sees.
//
//	p, err := pipeline.New("service",
//		pipeline.Stages("build", "test"),
//		pipeline.Job("build",
//			pipeline.Stage("build"),
//			pipeline.Calls(pipeline.Fn("build", pipeline.Dir("source", "."))),
//		),
//		pipeline.Job("test",
//			pipeline.Stage("test"),
//			pipeline.Needs("build"),
//			pipeline.Calls(pipeline.Fn("test", pipeline.Dir("source", "."))),
//		),
//	)
//
// Inside a Dagger module the link from a job to its function can be checked
// by the compiler: FuncOf((*Ci).TestUnit) names the function "test-unit", so
// renaming the method breaks the build instead of CI.
package pipeline
