package cmd

import (
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"sync"

	"github.com/spf13/pflag"
)

// profileFlags are kubectl's --profile and --profile-output: a Go profile
// of the whole command, for reports of slow runs.
type profileFlags struct {
	name   string
	output string
	file   *os.File
}

func (p *profileFlags) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&p.name, "profile", "none", "name of profile to capture: one of none, cpu, heap, allocs, goroutine, threadcreate, block, mutex")
	fs.StringVar(&p.output, "profile-output", "profile.pprof", "name of the file to write the profile to")
}

var (
	finalizeOnce sync.Once
	profileMu    sync.Mutex
	active       *profileFlags
)

// stopActiveProfile writes the profile the running command started.
func stopActiveProfile() {
	profileMu.Lock()
	p := active
	active = nil
	profileMu.Unlock()
	if p == nil {
		return
	}
	if err := p.stop(); err != nil {
		fmt.Fprintln(os.Stderr, "warning: profile:", err)
	}
}

// start begins a CPU profile, or checks that the named one exists.
func (p *profileFlags) start() error {
	if p.name != "none" {
		profileMu.Lock()
		active = p
		profileMu.Unlock()
	}
	switch p.name {
	case "none":
		return nil
	case "cpu":
		f, err := os.Create(p.output)
		if err != nil {
			return fmt.Errorf("--profile-output: %w", err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			_ = f.Close()
			return fmt.Errorf("--profile cpu: %w", err)
		}
		p.file = f
		return nil
	case "block":
		runtime.SetBlockProfileRate(1)
	case "mutex":
		runtime.SetMutexProfileFraction(1)
	}
	if pprof.Lookup(p.name) == nil {
		return fmt.Errorf("--profile %q: not one of none, cpu, heap, allocs, goroutine, threadcreate, block, mutex", p.name)
	}
	return nil
}

// stop ends the CPU profile, or writes the named one.
func (p *profileFlags) stop() error {
	switch p.name {
	case "none":
		return nil
	case "cpu":
		if p.file == nil {
			return nil
		}
		pprof.StopCPUProfile()
		err := p.file.Close()
		p.file = nil
		return err
	}
	prof := pprof.Lookup(p.name)
	if prof == nil {
		return nil
	}
	if p.name == "heap" || p.name == "allocs" {
		runtime.GC()
	}
	f, err := os.Create(p.output)
	if err != nil {
		return fmt.Errorf("--profile-output: %w", err)
	}
	if err := prof.WriteTo(f, 0); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}
