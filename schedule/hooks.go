package schedule

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
)

// PauseEnv names a point where a run stops and waits to be killed, for
// tests that kill runs at chosen points: POINT or POINT:N (the Nth time
// the run gets there). Points: "read:BYTES" (after that many bytes of
// input were read; N is the byte count), "planned" (the reports made, the
// state not saved), "state-temp" (a state file written and synced, not yet
// renamed), "state-renamed" (renamed, the directory not synced), "saved"
// (the state with the reports to send saved), "sent" (a report delivered,
// the state not yet saying so). A paused run prints "kubectl-audit: paused
// at POINT" on stderr.
const PauseEnv = "KUBECTL_AUDIT_PAUSE_AT"

type pauser struct {
	point string
	n     int
	mu    sync.Mutex
	seen  map[string]int
}

var pause = newPauser(os.Getenv(PauseEnv))

func newPauser(spec string) *pauser {
	p := &pauser{seen: map[string]int{}}
	if spec == "" {
		return p
	}
	point, n, ok := strings.Cut(spec, ":")
	p.point, p.n = point, 1
	if ok {
		if v, err := strconv.Atoi(n); err == nil && v > 0 {
			p.n = v
		}
	}
	return p
}

// at pauses forever when the run reaches the chosen point.
func (p *pauser) at(point string) {
	if p.point == "" || p.point != point {
		return
	}
	p.mu.Lock()
	p.seen[point]++
	hit := p.seen[point] == p.n
	p.mu.Unlock()
	if hit {
		p.stop(point)
	}
}

// readBytes is the "read" point's byte count, 0 when not chosen.
func (p *pauser) readBytes() int64 {
	if p.point != "read" {
		return 0
	}
	return int64(p.n)
}

func (p *pauser) stop(point string) {
	fmt.Fprintf(os.Stderr, "kubectl-audit: paused at %s\n", point)
	select {}
}

// AfterSend is notify.Options.AfterSend for the "sent" pause point.
func AfterSend(string) { pause.at("sent") }
