package main

// The stage logic lives in slipway's pipeline packages, written against
// Dagger's Go SDK (dagger.io/dagger). A module's generated bindings are a
// separate copy of that API, so each function hands its arguments over by
// ID: both clients talk to the same session (the SDK's Connect finds it
// through DAGGER_SESSION_PORT and DAGGER_SESSION_TOKEN, which the engine
// gives every module runtime), and an ID names the same object in both.

import (
	"context"
	"fmt"
	"os"
	"sync"

	sdk "dagger.io/dagger"

	"github.com/slipway-ci/slipway/ci/internal/dagger"
)

var (
	sdkOnce   sync.Once
	sdkClient *sdk.Client
	sdkErr    error
)

// client returns the SDK client on this function call's session.
func client(ctx context.Context) (*sdk.Client, error) {
	sdkOnce.Do(func() {
		// context.Background: the client outlives the first call's ctx.
		sdkClient, sdkErr = sdk.Connect(context.Background(), sdk.WithLogOutput(os.Stderr))
		if sdkErr != nil {
			sdkErr = fmt.Errorf("connecting the Dagger SDK to the module's session: %w", sdkErr)
		}
	})
	return sdkClient, sdkErr
}

// toDir hands a module Directory to the SDK.
func toDir(ctx context.Context, c *sdk.Client, d *dagger.Directory) (*sdk.Directory, error) {
	id, err := d.ID(ctx)
	if err != nil {
		return nil, err
	}
	return c.LoadDirectoryFromID(sdk.DirectoryID(id)), nil
}

// toSecret hands a module Secret to the SDK.
func toSecret(ctx context.Context, c *sdk.Client, s *dagger.Secret) (*sdk.Secret, error) {
	id, err := s.ID(ctx)
	if err != nil {
		return nil, err
	}
	return c.LoadSecretFromID(sdk.SecretID(id)), nil
}

// toFile hands a module File to the SDK.
func toFile(ctx context.Context, c *sdk.Client, f *dagger.File) (*sdk.File, error) {
	id, err := f.ID(ctx)
	if err != nil {
		return nil, err
	}
	return c.LoadFileFromID(sdk.FileID(id)), nil
}

// fromDir hands an SDK Directory back to the module.
func fromDir(ctx context.Context, d *sdk.Directory) (*dagger.Directory, error) {
	id, err := d.ID(ctx)
	if err != nil {
		return nil, err
	}
	return dag.LoadDirectoryFromID(dagger.DirectoryID(id)), nil
}

// fromContainer hands an SDK Container back to the module.
func fromContainer(ctx context.Context, ctr *sdk.Container) (*dagger.Container, error) {
	id, err := ctr.ID(ctx)
	if err != nil {
		return nil, err
	}
	return dag.LoadContainerFromID(dagger.ContainerID(id)), nil
}

// goEnvNames are the Go settings that say where modules come from. The
// module runtime was itself built with them, so passing them on lets the
// stages' Go containers reach the same module proxy, also where the only
// proxy is an internal one; unset, Go's defaults apply.
var goEnvNames = []string{"GOPROXY", "GOSUMDB", "GONOSUMDB", "GOPRIVATE", "GONOPROXY", "GOINSECURE"}

// goEnv returns the module runtime's Go settings among goEnvNames.
func goEnv() map[string]string {
	env := map[string]string{}
	for _, k := range goEnvNames {
		if v, ok := os.LookupEnv(k); ok && v != "" {
			env[k] = v
		}
	}
	return env
}
