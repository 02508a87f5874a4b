package main

import (
	"os"
	"sync"
	"syscall"
	"time"
)

// As PID 1 every orphan becomes ours: one goroutine waits for any child and hands the supervised ones' exit to
// whoever started them (os/exec's Wait would race with it for the same pids).
var (
	exitsMu sync.Mutex
	exits   = map[int]chan syscall.WaitStatus{}
)

// spawn starts argv with env and returns its pid and a channel that receives its exit status.
func spawn(argv []string, env []string) (int, <-chan syscall.WaitStatus, error) {
	exitsMu.Lock()
	defer exitsMu.Unlock()
	pid, err := syscall.ForkExec(argv[0], argv, &syscall.ProcAttr{
		Env:   env,
		Files: []uintptr{os.Stdin.Fd(), os.Stdout.Fd(), os.Stderr.Fd()},
		Sys:   &syscall.SysProcAttr{Setpgid: true},
	})
	if err != nil {
		return 0, nil, err
	}
	done := make(chan syscall.WaitStatus, 1)
	exits[pid] = done
	return pid, done, nil
}

func reapForever() {
	for {
		var status syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &status, 0, nil)
		if err == syscall.ECHILD {
			time.Sleep(200 * time.Millisecond) // no children yet: poll (PID 1 only, not synchronisation)
			continue
		}
		if err != nil || pid <= 0 {
			continue
		}
		exitsMu.Lock()
		if done, ok := exits[pid]; ok {
			done <- status
			delete(exits, pid)
		}
		exitsMu.Unlock()
	}
}
