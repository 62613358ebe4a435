//go:build !unix

package shimrun

import "os/exec"

// killGroupOnCancel kills only the runner where process groups do not exist.
func killGroupOnCancel(*exec.Cmd) {}
