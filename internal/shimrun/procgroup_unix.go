//go:build unix

package shimrun

import (
	"os/exec"
	"syscall"
)

// killGroupOnCancel puts the runner in its own process group and makes
// cancellation kill the group, because the runners start job shells that
// would otherwise outlive them.
func killGroupOnCancel(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
}
