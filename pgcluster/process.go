package pgcluster

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
	"time"
)

// ProcessExists reports whether a process with id pid exists on this
// machine, whoever runs it (a zombie too).
func ProcessExists(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// ProcessEnded reports whether process pid has ended: it no longer exists,
// or it is a zombie, which only waits for its parent to reap it (init,
// for a server pg_ctl started). Where there is no /proc, a zombie counts
// as running.
func ProcessEnded(pid int) bool {
	if !ProcessExists(pid) {
		return true
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if errors.Is(err, os.ErrNotExist) {
		return !ProcessExists(pid) // gone in between, or no /proc
	}
	// The state follows the command name, which is in parentheses.
	_, state, ok := strings.Cut(string(stat), ") ")
	return ok && strings.HasPrefix(state, "Z")
}

// waitEnded waits until process pid has ended, for at most limit.
func waitEnded(pid int, limit time.Duration) error {
	for start := time.Now(); !ProcessEnded(pid); time.Sleep(10 * time.Millisecond) {
		if time.Since(start) > limit {
			return fmt.Errorf("process %d still runs %s later", pid, limit)
		}
	}
	return nil
}
