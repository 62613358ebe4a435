// Package runnerse2e proves the promise of slipway end to end: the committed
// CI files of the reference pipeline (.gitlab-ci.yml and
// .github/workflows/ci.yml), run by gitlab-ci-local and act with the real
// Dagger CLI on the local engine, registry and control plane, give the same
// results as `dagger call ci` from the command line, and no secret value
// reaches a log, a generated file, a report or an image.
//
// Only the CI's surroundings are local: the registry is the engine's mirror
// (10.87.0.1:5000 as containers see it), the clusters are the local control
// plane (https://10.87.0.1:16443, forwarded into the engine's network by
// internal/hostport), and the CI variables that point the files' defaults at
// them are set the way a team sets them: project variables on GitLab,
// repository variables on GitHub. The files themselves run as committed,
// with one exception: gitlab-ci-local cannot start service containers, so
// jobs that get their engine from Dagger's docker:dind recipe (the default,
// pipeline.DockerEngine) have the recipe's image, service and five DOCKER_*
// variables removed and use the local engine, as a runner-provided engine
// would serve them (shimrun.StandInDockerEngine, which refuses anything but
// the exact recipe).
//
// The tests need the engine (`make engine`), the control plane
// (`make cluster`) and the runners (`make tools`); they skip without them,
// and fail under SLIPWAY_REQUIRE_E2E=1.
package runnerse2e
