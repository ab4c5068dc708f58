package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/kubectl-audit/kubectl-audit/detectors"
	"github.com/kubectl-audit/kubectl-audit/report/sarif"
)

// jsonLines appends one report per line. A report already in the file
// (sent before a run was cut short) is not written again: the file's end
// is searched for the keys of what is to be written, and a last line
// without its newline (a write cut short) is removed first.
type jsonLines struct {
	named
	path string
	o    Options
}

func (s *jsonLines) Deliver(_ context.Context, reports, _ []Report) ([]string, error) {
	if len(reports) == 0 {
		return nil, nil
	}
	lines := make([][]byte, len(reports))
	size := 0
	for i, r := range reports {
		b, err := json.Marshal(r)
		if err != nil {
			return nil, err
		}
		lines[i] = append(b, '\n')
		size += len(lines[i])
	}
	f, err := os.OpenFile(s.path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.name, err)
	}
	defer func() { _ = f.Close() }()
	present, end, err := tailKeys(f, int64(2*size+64<<10))
	if err != nil {
		return nil, fmt.Errorf("%s: reading its end: %w", s.name, err)
	}
	if err := f.Truncate(end); err != nil {
		return nil, fmt.Errorf("%s: %w", s.name, err)
	}
	if _, err := f.Seek(end, io.SeekStart); err != nil {
		return nil, fmt.Errorf("%s: %w", s.name, err)
	}
	var out []byte
	var done []string
	for i, r := range reports {
		if !present[r.Key] {
			out = append(out, lines[i]...)
		}
		done = append(done, r.Key)
	}
	if _, err := f.Write(out); err != nil {
		return nil, fmt.Errorf("%s: %w", s.name, err)
	}
	if err := f.Sync(); err != nil {
		return nil, fmt.Errorf("%s: %w", s.name, err)
	}
	for _, k := range done {
		s.o.AfterSend(k)
	}
	return done, nil
}

// tailKeys reads at most the last n bytes of f and returns the
// idempotency keys of its whole lines, and the offset after its last
// newline (where the file should end).
func tailKeys(f *os.File, n int64) (map[string]bool, int64, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, 0, err
	}
	size := fi.Size()
	from := max(size-n, 0)
	buf := make([]byte, size-from)
	if _, err := f.ReadAt(buf, from); err != nil && err != io.EOF {
		return nil, 0, err
	}
	end := size
	if i := bytes.LastIndexByte(buf, '\n'); i < len(buf)-1 {
		end = from + int64(i+1) // a line cut short: dropped
		buf = buf[:i+1]
	}
	keys := map[string]bool{}
	if from > 0 {
		// The first line may be cut by the window.
		if i := bytes.IndexByte(buf, '\n'); i >= 0 {
			buf = buf[i+1:]
		}
	}
	for _, line := range bytes.Split(buf, []byte{'\n'}) {
		var k struct {
			Key string `json:"idempotencyKey"`
		}
		if len(line) > 0 && json.Unmarshal(line, &k) == nil && k.Key != "" {
			keys[k.Key] = true
		}
	}
	return keys, end, nil
}

// sarifFile rewrites a SARIF log of the incidents still active, whole,
// each time: code-scanning tools open an alert for each result and close
// those that are gone (an incident that ended). Written again it is the
// same file.
type sarifFile struct {
	named
	path string
	o    Options
}

func (s *sarifFile) Deliver(_ context.Context, reports, active []Report) ([]string, error) {
	res := &detectors.Result{}
	for _, r := range active {
		f := r.Finding
		f.Fingerprint = r.Incident
		res.Findings = append(res.Findings, f)
	}
	b, err := json.MarshalIndent(sarif.Of(res, s.o.Rules, s.o.Version), "", "  ")
	if err != nil {
		return nil, err
	}
	if err := WriteFileAtomic(s.path, append(b, '\n'), 0o644); err != nil {
		return nil, fmt.Errorf("%s: %w", s.name, err)
	}
	var done []string
	for _, r := range reports {
		done = append(done, r.Key)
		s.o.AfterSend(r.Key)
	}
	return done, nil
}

// ShowsActive: the file is rewritten at every run, reports or not.
func (s *sarifFile) ShowsActive() bool { return true }

// WriteFileAtomic writes a file whole or not at all: a temporary file in
// the same directory, synced, renamed over path, and the directory synced.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	return WriteFileAtomicSteps(path, data, perm, nil, nil)
}

// WriteFileAtomicSteps is WriteFileAtomic that calls synced once the
// temporary file is synced and renamed once it is renamed over path (nil:
// nothing), the points a fault test kills a run at.
func WriteFileAtomicSteps(path string, data []byte, perm os.FileMode, synced, renamed func()) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer func() { _ = os.Remove(tmp.Name()) }()
	if _, err := tmp.Write(data); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Chmod(perm); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if synced != nil {
		synced()
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	if renamed != nil {
		renamed()
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer func() { _ = d.Close() }()
	// Some filesystems (and Windows) cannot sync a directory; the rename
	// is done either way.
	_ = d.Sync()
	return nil
}
