module github.com/slipway-ci/slipway/examples/external

go 1.25.0

require (
	github.com/iancoleman/strcase v0.3.0 // indirect
	go.yaml.in/yaml/v3 v3.0.6 // indirect
)

require (
	github.com/pmezard/go-difflib v1.0.1-0.20181226105442-5d4384ee4fb2 // indirect
	github.com/slipway-ci/slipway v0.0.0
)

replace github.com/slipway-ci/slipway => ../..
