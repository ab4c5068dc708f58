package sources

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/bzip2"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// Input is one audit log to read: a file or standard input.
type Input struct {
	// Name is what messages call it: the path, or "-" for stdin.
	Name string
	// Stream names the log this input is a part of: inputs of one stream
	// (a rotated set, oldest first) are read one after the other; inputs
	// of different streams (several apiservers' logs) overlap in time and
	// are merged by time. Empty means the rotated set of Name (its
	// directory and file stem).
	Stream string
	// Open opens the raw (possibly compressed) bytes.
	Open func() (io.ReadCloser, error)
	// Size is the raw size in bytes when known (a file's, a listed
	// object's), 0 otherwise; progress bars use it.
	Size int64

	// Start is the offset in the decompressed stream where reading
	// begins (a checkpoint of an earlier run): bytes before it are not
	// read again. Offsets in stats, problems and evidence count from the
	// input's beginning, not from Start.
	Start int64
	// Seeked says Open already returns the stream from Start (a plain
	// file seeked, a node file fetched with a Range request); otherwise
	// the reader decompresses and discards the first Start bytes.
	Seeked bool
	// Growing marks an input still being written (a live audit.log): a
	// last line without its newline is left for the next read, not
	// delivered, and InputStats.End stops before it.
	Growing bool
	// Origin is the source package's description of the input
	// (nodes.File, bucket.Object, cloudwatch.Object), nil for local files
	// and stdin; checkpoints read it.
	Origin any
}

// StdinName is the name of standard input in messages.
const StdinName = "-"

// ResolveInputs expands -f values: files, directories (every regular,
// non-hidden file in them), globs and "-" for stdin. Files of a rotated set
// (audit.log, audit-2026-11-24T10-00-00.000.log.gz, audit.log.1, ...) are
// ordered oldest first so that events are read in time order.
func ResolveInputs(args []string, stdin io.Reader) ([]Input, error) {
	var paths []string
	seen := map[string]bool{}
	useStdin := false
	for _, arg := range args {
		if arg == StdinName {
			if useStdin {
				return nil, errors.New(`"-" (stdin) given more than once`)
			}
			useStdin = true
			continue
		}
		matches, err := expandArg(arg)
		if err != nil {
			return nil, err
		}
		for _, m := range matches {
			if !seen[m] {
				seen[m] = true
				paths = append(paths, m)
			}
		}
	}
	sortRotated(paths)
	var inputs []Input
	if useStdin {
		if stdin == nil {
			return nil, errors.New("no standard input to read")
		}
		inputs = append(inputs, Input{Name: StdinName, Open: func() (io.ReadCloser, error) {
			return io.NopCloser(stdin), nil
		}})
	}
	for _, p := range paths {
		in := Input{Name: p, Open: func() (io.ReadCloser, error) { return os.Open(p) }}
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			in.Size = fi.Size()
		}
		inputs = append(inputs, in)
	}
	if len(inputs) == 0 {
		return nil, errors.New("no input: give audit log files with -f (or -f - for stdin)")
	}
	return inputs, nil
}

func expandArg(arg string) ([]string, error) {
	fi, err := os.Stat(arg)
	if err != nil {
		if strings.ContainsAny(arg, "*?[") {
			m, gerr := filepath.Glob(arg)
			if gerr != nil {
				return nil, fmt.Errorf("%s: bad pattern: %w", arg, gerr)
			}
			if len(m) == 0 {
				return nil, fmt.Errorf("%s: no files match", arg)
			}
			var files []string
			for _, p := range m {
				sub, err := expandArg(p)
				if err != nil {
					return nil, err
				}
				files = append(files, sub...)
			}
			return files, nil
		}
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%s: no such file or directory", arg)
		}
		// Exists but cannot be inspected: let the read report it as
		// unreadable with the others.
		return []string{arg}, nil
	}
	if !fi.IsDir() {
		return []string{arg}, nil
	}
	entries, err := os.ReadDir(arg)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", arg, err)
	}
	var files []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") || e.IsDir() {
			continue
		}
		if e.Type().IsRegular() || e.Type()&os.ModeSymlink != 0 {
			files = append(files, filepath.Join(arg, e.Name()))
		}
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%s: directory holds no files", arg)
	}
	return files, nil
}

var (
	// lumberjack backups, as kube-apiserver's --audit-log-maxbackups writes:
	// audit-2026-11-24T10-00-00.000.log[.gz]
	rotatedStamp = regexp.MustCompile(`^(.*)-(\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}(?:\.\d+)?)(\.[^.]+)?(\.gz|\.zst)?$`)
	// logrotate style: audit.log.1[.gz]
	rotatedNum = regexp.MustCompile(`^(.*?)\.(\d+)(\.gz|\.zst)?$`)
)

type rotationKey struct {
	dir, stem string
	class     int // 0 numbered backups, 1 timestamped backups, 2 current file
	num       int
	stamp     string
	name      string
}

func rotationKeyOf(path string) rotationKey {
	dir, base := filepath.Split(path)
	k := rotationKey{dir: dir, name: base, class: 2}
	if m := rotatedStamp.FindStringSubmatch(base); m != nil {
		k.stem, k.class, k.stamp = m[1], 1, m[2]
		return k
	}
	if m := rotatedNum.FindStringSubmatch(base); m != nil {
		n, _ := strconv.Atoi(m[2])
		k.stem, k.class, k.num = stemOf(m[1]), 0, n
		return k
	}
	k.stem = stemOf(strings.TrimSuffix(strings.TrimSuffix(base, ".gz"), ".zst"))
	return k
}

func stemOf(name string) string {
	if ext := filepath.Ext(name); ext != "" {
		return strings.TrimSuffix(name, ext)
	}
	return name
}

func sortRotated(paths []string) {
	keys := make(map[string]rotationKey, len(paths))
	for _, p := range paths {
		keys[p] = rotationKeyOf(p)
	}
	sort.SliceStable(paths, func(i, j int) bool {
		a, b := keys[paths[i]], keys[paths[j]]
		if a.dir != b.dir {
			return a.dir < b.dir
		}
		if a.stem != b.stem {
			return a.stem < b.stem
		}
		if a.class != b.class {
			return a.class < b.class
		}
		switch a.class {
		case 0:
			if a.num != b.num {
				return a.num > b.num // audit.log.2 is older than audit.log.1
			}
		case 1:
			if a.stamp != b.stamp {
				return a.stamp < b.stamp
			}
		}
		return a.name < b.name
	})
}

// Compression of an input, detected from its first bytes.
const (
	CompressionNone = "none"
	CompressionGzip = "gzip"
	CompressionZstd = "zstd"
	// CompressionBzip2 is bzip2, which some archives of old logs use.
	CompressionBzip2 = "bzip2"
	// CompressionTar is a tar archive, read as its files one after the
	// other (after the compression around it: "gzip+tar").
	CompressionTar = "tar"
)

// unsupported are the archive and compression formats an input may be in
// that are not read, by their first bytes: such an input is named with
// what to do, rather than read as lines of binary.
var unsupported = []struct {
	magic []byte
	what  string
}{
	{[]byte{0xfd, '7', 'z', 'X', 'Z', 0}, "xz-compressed (decompress it first: xz -d)"},
	{[]byte{0x04, 0x22, 0x4d, 0x18}, "lz4-compressed (decompress it first: lz4 -d)"},
	{[]byte("PK\x03\x04"), "a zip archive (unzip it, and read the logs inside)"},
	{[]byte{'7', 'z', 0xbc, 0xaf, 0x27, 0x1c}, "a 7z archive (extract it, and read the logs inside)"},
}

type decompressor struct {
	io.Reader
	closers []io.Closer
}

func (d *decompressor) Close() error {
	var first error
	for i := len(d.closers) - 1; i >= 0; i-- {
		if err := d.closers[i].Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// openDecompressed opens an input and detects its compression from the
// content, not the name: rotated audit logs keep their .log name when
// compressed by other tools, and gzip files get renamed. A tar archive
// (a support bundle of /var/log/kube-apiserver, compressed or not) reads
// as its files one after the other, each decompressed as its content says.
func openDecompressed(in Input) (io.ReadCloser, string, error) {
	raw, err := in.Open()
	if err != nil {
		return nil, "", err
	}
	r, comp, closers, err := decompress(raw, 256<<10)
	if err != nil {
		_ = raw.Close()
		return nil, comp, err
	}
	closers = append([]io.Closer{raw}, closers...)
	br, ok := r.(*bufio.Reader) // plain input: decompress's own buffer
	if !ok {
		br = bufio.NewReaderSize(r, 256<<10)
	}
	if head, _ := br.Peek(262); len(head) == 262 && string(head[257:262]) == "ustar" {
		if comp == CompressionNone {
			comp = CompressionTar
		} else {
			comp += "+" + CompressionTar
		}
		return &decompressor{Reader: &tarFiles{tr: tar.NewReader(br)}, closers: closers}, comp, nil
	}
	return &decompressor{Reader: br, closers: closers}, comp, nil
}

// decompress wraps r, read through a buffer of size bytes, in the
// decompressor its first bytes call for; uncompressed, it returns the
// buffered reader.
func decompress(r io.Reader, size int) (io.Reader, string, []io.Closer, error) {
	br := bufio.NewReaderSize(r, size)
	magic, err := br.Peek(6)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, "", nil, err
	}
	switch {
	case len(magic) >= 2 && magic[0] == 0x1f && magic[1] == 0x8b:
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, CompressionGzip, nil, fmt.Errorf("gzip: %w", err)
		}
		return zr, CompressionGzip, []io.Closer{zr}, nil
	case bytes.HasPrefix(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(false))
		if err != nil {
			return nil, CompressionZstd, nil, fmt.Errorf("zstd: %w", err)
		}
		return zr, CompressionZstd, []io.Closer{zstdCloser{zr}}, nil
	case len(magic) >= 4 && magic[0] == 'B' && magic[1] == 'Z' && magic[2] == 'h' && magic[3] >= '1' && magic[3] <= '9':
		return bzip2.NewReader(br), CompressionBzip2, nil, nil
	}
	for _, u := range unsupported {
		if bytes.HasPrefix(magic, u.magic) {
			return nil, CompressionNone, nil, fmt.Errorf("%s", u.what)
		}
	}
	return br, CompressionNone, nil, nil
}

// tarFiles reads a tar archive's regular files one after the other, each
// decompressed as its content says and ended by a newline, so that no
// line joins the next file's first.
type tarFiles struct {
	tr      *tar.Reader
	cur     io.Reader
	closers []io.Closer
	last    byte // the last byte the current file gave
}

func (t *tarFiles) Read(p []byte) (int, error) {
	for {
		if t.cur == nil {
			h, err := t.tr.Next()
			if err != nil {
				return 0, err // io.EOF at the end of the archive
			}
			if h.Typeflag != tar.TypeReg || h.Size == 0 {
				continue
			}
			r, _, closers, err := decompress(t.tr, 64<<10)
			if err != nil {
				return 0, fmt.Errorf("%s in the archive: %w", h.Name, err)
			}
			t.cur, t.closers, t.last = r, closers, '\n'
		}
		n, err := t.cur.Read(p)
		if n > 0 {
			t.last = p[n-1]
			return n, nil
		}
		if err == nil {
			continue
		}
		if !errors.Is(err, io.EOF) {
			return 0, err
		}
		for _, c := range t.closers {
			_ = c.Close()
		}
		t.cur, t.closers = nil, nil
		if t.last != '\n' && len(p) > 0 {
			p[0], t.last = '\n', '\n'
			return 1, nil
		}
	}
}

type zstdCloser struct{ d *zstd.Decoder }

func (z zstdCloser) Close() error { z.d.Close(); return nil }

// OpenDecompressed opens a file and decompresses it (gzip, zstd, bzip2) as its
// content says.
func OpenDecompressed(path string) (io.ReadCloser, error) {
	rc, _, err := openDecompressed(Input{Name: path, Open: func() (io.ReadCloser, error) { return os.Open(path) }})
	return rc, err
}

// OpenInput opens an input and decompresses it as its content says,
// returning the compression found (CompressionNone, CompressionGzip,
// CompressionZstd, CompressionBzip2). Start and Seeked are not applied.
func OpenInput(in Input) (io.ReadCloser, string, error) {
	return openDecompressed(in)
}

// StreamOf names the stream (rotated set, or Input.Stream) an input
// belongs to, as Streams groups them.
func StreamOf(in Input) string { return streamOf(in) }

// streamOf is the stream an input belongs to.
func streamOf(in Input) string {
	if in.Stream != "" {
		return in.Stream
	}
	if in.Name == StdinName {
		return StdinName
	}
	k := rotationKeyOf(in.Name)
	return k.dir + "\x00" + k.stem
}

// Streams groups inputs (by index) into streams, each in input order, the
// streams in the order their first input comes.
func Streams(inputs []Input) [][]int {
	var out [][]int
	at := map[string]int{}
	for i, in := range inputs {
		s := streamOf(in)
		g, ok := at[s]
		if !ok {
			g = len(out)
			at[s] = g
			out = append(out, nil)
		}
		out[g] = append(out[g], i)
	}
	return out
}

// MaxMergedStreams is the most streams Read merges by time; beyond, it
// reads them one after the other (and TimeOrdered is false).
const MaxMergedStreams = 64

// TimeOrdered reports whether Read delivers the inputs in time order (up
// to a few seconds of disorder, as one apiserver's log has): one stream,
// or several that Read merges by time. A consumer with windows (detect)
// can then close them as time passes.
func TimeOrdered(inputs []Input) bool {
	for _, in := range inputs {
		if isTarName(in.Name) {
			return false // its files come in the archive's order, not time's
		}
	}
	n := len(Streams(inputs))
	return n >= 1 && n <= MaxMergedStreams
}

// isTarName reports a tar archive's name (.tar, .tgz, .tar.gz, .tar.zst,
// .tar.bz2).
func isTarName(name string) bool {
	n := strings.ToLower(name)
	for _, ext := range []string{".tar", ".tgz", ".tar.gz", ".tar.zst", ".tar.bz2"} {
		if strings.HasSuffix(n, ext) {
			return true
		}
	}
	return false
}
