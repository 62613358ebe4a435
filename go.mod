module github.com/slipway-ci/slipway

// Dagger v0.19.10 builds modules with Go 1.25: stay on 1.25 so that any
// module importing slipway still builds inside a real user's engine.
go 1.25.0
