//go:build unix

package cloudwatch

import (
	"os"
	"os/exec"
	"syscall"
)

// newProcessGroup starts cmd in a process group of its own, so that
// signalGroup reaches the emulator's children too.
func newProcessGroup(cmd *exec.Cmd) { cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} }

// signalGroup asks p's process group to stop (SIGTERM), or kills it.
func signalGroup(p *os.Process, kill bool) {
	sig := syscall.SIGTERM
	if kill {
		sig = syscall.SIGKILL
	}
	_ = syscall.Kill(-p.Pid, sig)
}
