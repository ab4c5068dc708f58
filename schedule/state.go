// Package schedule runs detect on a schedule: each run reads only what is
// new since the last one (per input, how far it read), finishes the windows
// the last run left open, and reports each incident once — when it starts,
// and when it ends (and while it goes on, when asked) — to the sinks of
// package notify, losing none and repeating none as new when a run is
// killed at any point.
//
// The state (State) is kept in a file or a ConfigMap (Store). A run
// commits what it found, and what it is about to send, before sending
// (an outbox): a run killed before that commit did nothing, and the next
// one does it again the same way; a run killed after it sends what the
// state says is still to be sent. Only a kill between a send and the
// state write that records it makes a report go out twice, with the same
// idempotency key.
//
// It imports detectors, notify, cluster (links), rules and sources (with
// sources/nodes, sources/bucket, sources/cloudwatch for their inputs'
// identities); never cmd.
package schedule

import (
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/kubectl-audit/kubectl-audit/cluster"
	"github.com/kubectl-audit/kubectl-audit/detectors"
	"github.com/kubectl-audit/kubectl-audit/notify"
)

// StateVersion is the format of State.
const StateVersion = 1

// State is what a run leaves for the next one.
type State struct {
	Version int `json:"version"`
	// SavedAt is when the run that saved it started; SavedBy names the
	// host (or pod) it ran on.
	SavedAt time.Time `json:"savedAt"`
	SavedBy string    `json:"savedBy,omitempty"`
	// Files are how far each file read so far was read (local files and
	// files on nodes).
	Files []FileEntry `json:"files,omitempty"`
	// Objects are the bucket objects read, by name.
	Objects map[string]ObjectEntry `json:"objects,omitempty"`
	// LogStreams are where each CloudWatch Logs stream was read up to,
	// by name.
	LogStreams map[string]LogStreamEntry `json:"logStreams,omitempty"`
	// Streams is each log's (sources.StreamOf) latest event time, so that
	// a log not read in one run (a node that did not answer) holds the
	// windows open until it is read again.
	Streams map[string]time.Time `json:"streams,omitempty"`
	// OpenRequests are long-running requests counted at their
	// ResponseStarted whose end is still to come.
	OpenRequests map[string]int64 `json:"openRequests,omitempty"`
	// Engine is the windows left open.
	Engine *detectors.Snapshot `json:"engine,omitempty"`
	// Incidents are the incidents reported and not yet ended, by ID.
	Incidents []*Incident `json:"incidents,omitempty"`
	// Pending are the reports still to be delivered, per sink, in order.
	Pending []Pending `json:"pending,omitempty"`
}

// FileEntry is one file read: what it is (device and inode, and a hash of
// its first bytes, so that a reused inode or a file renamed or compressed
// by rotation is told apart and found again), and where the next read of
// it starts.
type FileEntry struct {
	// Node is the node of a file read through the node proxy; "" for a
	// local file.
	Node string `json:"node,omitempty"`
	// Path is where it was last seen.
	Path string `json:"path"`
	Dev  uint64 `json:"dev,omitempty"`
	Ino  uint64 `json:"ino,omitempty"`
	// Size is its size as stored when last read.
	Size        int64  `json:"size"`
	Compression string `json:"compression,omitempty"`
	// HeadLen and HeadHash are the length and SHA-256 of the first bytes
	// of its decompressed content (at most HeadSize).
	HeadLen  int    `json:"headLen"`
	HeadHash string `json:"headHash"`
	// Offset is where the next read starts, in the decompressed stream:
	// just after the last whole line read.
	Offset int64 `json:"offset"`
	// Seen is when a run last saw it.
	Seen time.Time `json:"seen"`
}

// ObjectEntry is one bucket object read: its version (ETag) and size as
// listed, and how far it was read (objects that grow, like AKS's append
// blobs, are read on from there).
type ObjectEntry struct {
	Version string    `json:"version"`
	Size    int64     `json:"size"`
	Offset  int64     `json:"offset"`
	Time    time.Time `json:"time,omitzero"`
	Seen    time.Time `json:"seen"`
}

// LogStreamEntry is where a CloudWatch Logs stream was read up to: the
// timestamp (ms) of the last event read and how many events with that
// timestamp were read.
type LogStreamEntry struct {
	Millis int64     `json:"millis"`
	AtLast int       `json:"atLast"`
	Seen   time.Time `json:"seen"`
}

// Incident is an incident reported and not ended.
type Incident struct {
	// ID is the fingerprint of its first window (for whole-input rules,
	// with the time of its first event), the idempotency key of its first
	// report.
	ID   string `json:"id"`
	Rule string `json:"rule"`
	Key  string `json:"key"`
	// Whole marks a whole-input rule's incident.
	Whole bool `json:"whole,omitempty"`
	// WindowEnd is the end of its latest window; Size the rule's window
	// size: the incident has ended once the windows up to WindowEnd+Size
	// are closed without firing.
	WindowEnd time.Time     `json:"windowEnd,omitzero"`
	Size      time.Duration `json:"size,omitempty"`
	Sliding   bool          `json:"sliding,omitempty"`
	// Latest is the incident's latest report: the finding as last seen
	// (counts summed over its windows, the busiest window's values).
	Latest notify.Report `json:"latest"`
	// Links are the live objects it was linked to when first reported.
	Links []cluster.Link `json:"links,omitempty"`
	// Reported is when it was first reported.
	Reported time.Time `json:"reported"`
}

// Pending is a report still to be delivered to one sink.
type Pending struct {
	Sink   string        `json:"sink"`
	Report notify.Report `json:"report"`
}

// decodeState reads a state; empty data is a first run's.
func decodeState(b []byte) (*State, error) {
	st := &State{Version: StateVersion}
	if len(b) == 0 {
		return st, nil
	}
	if err := json.Unmarshal(b, st); err != nil {
		return nil, fmt.Errorf("the state is not readable (%v): move it away to start afresh (everything still in the logs is then read and reported again)", err)
	}
	if st.Version != StateVersion {
		return nil, fmt.Errorf("the state is in format %d, this version reads %d: move it away to start afresh", st.Version, StateVersion)
	}
	return st, nil
}

// encode writes a state, its lists sorted so that equal states are equal
// bytes.
func (st *State) encode() ([]byte, error) {
	sort.Slice(st.Files, func(i, j int) bool {
		a, b := st.Files[i], st.Files[j]
		if a.Node != b.Node {
			return a.Node < b.Node
		}
		return a.Path < b.Path
	})
	sort.Slice(st.Incidents, func(i, j int) bool { return st.Incidents[i].ID < st.Incidents[j].ID })
	return json.Marshal(st)
}

// Summary is a one-line account of a state.
func (st *State) Summary() string {
	return fmt.Sprintf("%d files, %d objects, %d log streams, %d open groups, %d active incidents, %d reports pending",
		len(st.Files), len(st.Objects), len(st.LogStreams), st.Engine.Groups(), len(st.Incidents), len(st.Pending))
}
