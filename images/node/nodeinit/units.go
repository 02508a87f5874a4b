package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// unit is an enabled systemd service of the config, in the subset a worker needs: ExecStartPre, ExecStart,
// Environment, EnvironmentFile, Restart, RestartSec. Units start in the config's order (containerd before kubelet).
type unit struct {
	name        string
	pre, start  [][]string
	env         []string
	restart     bool
	restartWait time.Duration
}

func loadUnits() ([]unit, error) {
	var units []unit
	for _, config := range configUnits {
		if config.Enabled == nil || !*config.Enabled || config.Contents == nil {
			continue
		}
		if strings.HasSuffix(config.Name, ".mount") {
			if err := mountUnit(config.Name, *config.Contents); err != nil {
				return nil, err
			}
			continue
		}
		u, err := parseUnit(config.Name, *config.Contents)
		if err != nil {
			return nil, err
		}
		units = append(units, u)
	}
	return units, nil
}

func parseUnit(name, contents string) (unit, error) {
	u := unit{name: name, env: []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/opt/bin"},
		restartWait: 100 * time.Millisecond}
	section := ""
	scanner := bufio.NewScanner(strings.NewReader(strings.ReplaceAll(contents, "\\\n", " ")))
	scanner.Buffer(make([]byte, 64*1024), 1024*1024)
	for scanner.Scan() {
		line := strings.TrimSpace(scanner.Text())
		if strings.HasPrefix(line, "[") {
			section = strings.Trim(line, "[]")
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		if !ok || section != "Service" {
			continue
		}
		switch strings.TrimSpace(key) {
		case "ExecStartPre":
			u.pre = append(u.pre, strings.Fields(strings.TrimPrefix(value, "-")))
		case "ExecStart":
			u.start = append(u.start, strings.Fields(value))
		case "Environment":
			u.env = append(u.env, strings.Fields(strings.ReplaceAll(value, "\"", ""))...)
		case "EnvironmentFile":
			u.env = append(u.env, readEnvironmentFile(strings.TrimPrefix(value, "-"))...)
		case "Restart":
			u.restart = value == "always" || value == "on-failure"
		case "RestartSec":
			if d, err := time.ParseDuration(value); err == nil {
				u.restartWait = d
			} else if d, err := time.ParseDuration(value + "s"); err == nil {
				u.restartWait = d
			}
		}
	}
	if len(u.start) != 1 {
		return u, fmt.Errorf("unit %s: exactly one ExecStart, found %d", name, len(u.start))
	}
	return u, scanner.Err()
}

// mountUnit mounts what a .mount unit says ([Mount] What, Where, Type, Options), before any service starts.
func mountUnit(name, contents string) error {
	values := map[string]string{}
	section := ""
	for _, line := range strings.Split(contents, "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "[") {
			section = strings.Trim(line, "[]")
		} else if key, value, ok := strings.Cut(line, "="); ok && section == "Mount" {
			values[strings.TrimSpace(key)] = strings.TrimSpace(value)
		}
	}
	what, where := values["What"], values["Where"]
	if what == "" || where == "" {
		return fmt.Errorf("unit %s: [Mount] needs What= and Where=", name)
	}
	device, err := waitForDevice(what, 20*time.Second)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(where, 0o755); err != nil {
		return err
	}
	if err := syscall.Mount(device, where, values["Type"], 0, values["Options"]); err != nil {
		return fmt.Errorf("unit %s: mount %s on %s: %w", name, device, where, err)
	}
	logf("%s: %s mounted on %s", name, what, where)
	return nil
}

func readEnvironmentFile(path string) []string {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var env []string
	for _, line := range strings.Split(string(data), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			env = append(env, strings.ReplaceAll(line, "\"", ""))
		}
	}
	return env
}

type supervisor struct {
	units       []unit
	mu          sync.Mutex
	pids        map[string]int
	stopping    bool
	wg          sync.WaitGroup
	gates       map[string]<-chan struct{} // set before start
	gateTimeout time.Duration
}

func newSupervisor(units []unit) *supervisor {
	return &supervisor{units: units, pids: map[string]int{}, gates: map[string]<-chan struct{}{}}
}

// gate holds the first start of unit name until open is closed, or timeout passed.
func (s *supervisor) gate(name string, open <-chan struct{}, timeout time.Duration) {
	s.gates[name] = open
	s.gateTimeout = timeout
}

func (s *supervisor) start() {
	for _, u := range s.units {
		s.wg.Add(1)
		go s.keep(u)
	}
}

// keep runs one unit, again after RestartSec when it exits and Restart= asks for it.
func (s *supervisor) keep(u unit) {
	defer s.wg.Done()
	if open, ok := s.gates[u.name]; ok {
		select {
		case <-open:
		case <-time.After(s.gateTimeout):
			logf("%s: starting without waiting any longer for its gate", u.name)
		}
	}
	for {
		for _, pre := range u.pre {
			if err := s.runOnce(u, pre); err != nil {
				logf("%s: ExecStartPre %v", u.name, err)
			}
		}
		pid, done, err := spawn(resolve(u.start[0]), u.env)
		if err != nil {
			logf("%s: %v", u.name, err)
		} else {
			s.mu.Lock()
			s.pids[u.name] = pid
			s.mu.Unlock()
			logf("%s: started (pid %d)", u.name, pid)
			status := <-done
			logf("%s: exited (%d)", u.name, status.ExitStatus())
		}
		s.mu.Lock()
		delete(s.pids, u.name)
		stopping := s.stopping
		s.mu.Unlock()
		if stopping || !u.restart {
			return
		}
		time.Sleep(u.restartWait)
	}
}

func (s *supervisor) runOnce(u unit, argv []string) error {
	_, done, err := spawn(resolve(argv), u.env)
	if err != nil {
		return err
	}
	if status := <-done; status.ExitStatus() != 0 {
		return fmt.Errorf("exit %d", status.ExitStatus())
	}
	return nil
}

// stop sends SIGTERM to the units in reverse order (kubelet before containerd) and waits up to timeout.
func (s *supervisor) stop(timeout time.Duration) {
	s.mu.Lock()
	s.stopping = true
	s.mu.Unlock()
	for i := len(s.units) - 1; i >= 0; i-- {
		s.mu.Lock()
		pid, ok := s.pids[s.units[i].name]
		s.mu.Unlock()
		if ok {
			_ = syscall.Kill(pid, syscall.SIGTERM)
		}
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		logf("all units stopped")
	case <-time.After(timeout):
		logf("units still running after %s", timeout)
	}
}

// resolve finds argv[0] on the units' PATH, like systemd does for a bare name.
func resolve(argv []string) []string {
	if strings.Contains(argv[0], "/") {
		return argv
	}
	for _, dir := range []string{"/usr/local/bin", "/usr/bin", "/usr/sbin", "/bin", "/sbin", "/opt/bin"} {
		if _, err := os.Stat(filepath.Join(dir, argv[0])); err == nil {
			return append([]string{filepath.Join(dir, argv[0])}, argv[1:]...)
		}
	}
	return argv
}
