// Package handover passes Dagger objects between a Dagger module's
// generated bindings and the Go SDK (dagger.io/dagger), which slipway's
// stage packages are written against.
//
// A Go module's bindings are a private copy of Dagger's API, so a module
// cannot hand its *dagger.Directory to a library function directly. Both
// clients talk to the same session, though (the SDK's Connect finds it
// through the DAGGER_SESSION_PORT and DAGGER_SESSION_TOKEN that the engine
// gives every module runtime), and an object's ID names the same object in
// both. To is the one generic function that makes the trip, either way:
//
//	c, err := handover.Client(ctx)
//	src, err := handover.To(ctx, source, c.LoadDirectoryFromID)      // module -> SDK
//	out, err := handover.To(ctx, res.Reports, dag.LoadDirectoryFromID) // SDK -> module
package handover

import (
	"context"
	"fmt"
	"os"
	"reflect"
	"sync"

	"dagger.io/dagger"
)

var (
	once      sync.Once
	sdkClient *dagger.Client
	sdkErr    error
)

// Client returns the SDK client on the calling module's session. It
// connects once per process: a module runtime serves every function call
// of a session, and the connection outlives the first call's context.
func Client(ctx context.Context) (*dagger.Client, error) {
	once.Do(func() {
		sdkClient, sdkErr = dagger.Connect(context.WithoutCancel(ctx), dagger.WithLogOutput(os.Stderr))
		if sdkErr != nil {
			sdkErr = fmt.Errorf("connecting the Dagger SDK to the module's session: %w", sdkErr)
		}
	})
	return sdkClient, sdkErr
}

// Identified is any Dagger object, of the SDK or of a module's bindings:
// its ID method returns a string-typed ID.
type Identified[I ~string] interface {
	ID(ctx context.Context) (I, error)
}

// To hands obj to the other client through its ID, with load, that
// client's LoadXFromID method, such as (*dagger.Client).LoadDirectoryFromID
// of the SDK or the module's dag.LoadSecretFromID. A nil obj (an optional
// argument not given) gives the zero T and no error.
func To[T any, To ~string, From ~string](ctx context.Context, obj Identified[From], load func(To) T) (T, error) {
	var zero T
	if obj == nil {
		return zero, nil
	}
	if v := reflect.ValueOf(obj); v.Kind() == reflect.Pointer && v.IsNil() {
		return zero, nil
	}
	id, err := obj.ID(ctx)
	if err != nil {
		return zero, fmt.Errorf("handing a %T over by ID: %w", obj, err)
	}
	return load(To(id)), nil
}
