package handover_test

import (
	"context"
	"errors"
	"testing"

	"github.com/slipway-ci/slipway/stage/handover"
)

// Two clients' ID types and objects, as a module's bindings and the SDK
// each declare their own.
type (
	moduleDirID string
	sdkDirID    string
	moduleDir   struct {
		id  moduleDirID
		err error
	}
	sdkDir struct{ id sdkDirID }
)

func (d *moduleDir) ID(context.Context) (moduleDirID, error) { return d.id, d.err }

func loadSDK(id sdkDirID) *sdkDir { return &sdkDir{id: id} }

func TestTo(t *testing.T) {
	ctx := context.Background()
	got, err := handover.To(ctx, &moduleDir{id: "dir-1"}, loadSDK)
	if err != nil || got == nil || got.id != "dir-1" {
		t.Fatalf("To = %+v, %v; want the SDK object with ID dir-1", got, err)
	}
	var none *moduleDir
	if got, err := handover.To(ctx, none, loadSDK); err != nil || got != nil {
		t.Errorf("To(nil) = %+v, %v; want nil, nil", got, err)
	}
	boom := errors.New("session gone")
	if _, err := handover.To(ctx, &moduleDir{err: boom}, loadSDK); !errors.Is(err, boom) {
		t.Errorf("To with a failing ID: err = %v, want it to wrap %v", err, boom)
	}
}
