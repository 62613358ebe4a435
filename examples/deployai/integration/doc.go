// Package integration holds deployai's black-box tests, behind the build tag
// "integration":
//
//	go test -tags integration ./examples/deployai/...
//
// They speak HTTP only: to the service named by DEPLOYAI_URL (API and
// probes, e.g. http://deployai:8080) and DEPLOYAI_METRICS_URL (e.g.
// http://deployai:9090), which is how the pipeline's test-integration stage
// runs them against the built image served as a Dagger service. With both
// unset they start the service in-process on free ports, so the same tests
// pass on a laptop with nothing running.
package integration
