package nodes

import (
	"context"
	"errors"
	"io"
	"strings"
)

// nodeDiscovery finds one node's audit files.
type nodeDiscovery struct {
	ctx   context.Context
	c     *proxyClient
	node  string
	o     Options
	paths []string // --node-path, normalized; empty: KnownDirs
}

// candidate is a file found in a listing, before pruning.
type candidate struct {
	dir  string // relative to /var/log/, with its trailing slash ("" for /var/log/)
	name logName
	size int64 // -1 until probed
	// gz is the name of the file's gzip'd copy being written beside it:
	// kube-apiserver compresses a backup after rotating it, then removes
	// the uncompressed one. The copy is read if the file is gone.
	gz string
}

func (d *nodeDiscovery) run() ([]File, NodeReport) {
	rep := NodeReport{Node: d.node}
	root, err := d.c.list(d.ctx, d.node, "")
	if err != nil {
		rep.Err = err
		return nil, rep
	}
	var sets [][]candidate
	var searched []string
	if len(d.paths) > 0 {
		for _, p := range d.paths {
			searched = append(searched, logPath(p))
			set, err := d.explicit(p)
			if err != nil {
				rep.Err = err
				return nil, rep
			}
			sets = append(sets, set)
		}
	} else {
		for _, dir := range KnownDirs {
			searched = append(searched, logPath(dir))
			top, _, _ := strings.Cut(dir, "/")
			if !hasDir(root, top) {
				continue
			}
			set, err := d.dir(dir, isAuditName)
			if err != nil {
				rep.Err = err
				return nil, rep
			}
			sets = append(sets, set)
		}
	}
	var files []File
	for _, set := range sets {
		kept, pruned := d.prune(set)
		for _, p := range pruned {
			rep.Pruned = append(rep.Pruned, logPath(p.dir+p.name.name))
		}
		for _, k := range kept {
			f, ok, err := d.file(k)
			if err != nil {
				rep.Err = err
				return nil, rep
			}
			if ok {
				files = append(files, f)
				rep.Files = append(rep.Files, f.Path)
				rep.Bytes += max(f.Size, 0)
			}
		}
	}
	if len(files) == 0 {
		rep.Err = &NoAuditFilesError{Node: d.node, Searched: searched, Listing: listingNames(root)}
		return nil, rep
	}
	return files, rep
}

func hasDir(es []entry, name string) bool {
	for _, e := range es {
		if e.dir && e.name == name {
			return true
		}
	}
	return false
}

// isAuditName keeps the audit logs of a directory: every file of an audit
// directory (Talos's audit/kube/kube-apiserver.log), else the logs named
// audit (OpenShift's kube-apiserver/ also holds termination.log).
func isAuditName(dir, name string) bool {
	if strings.Contains(dir, "audit") {
		return true
	}
	lower := strings.ToLower(name)
	return strings.Contains(lower, "audit") && strings.Contains(lower, ".log")
}

func anyName(string, string) bool { return true }

// dir lists one directory; a missing one is empty.
func (d *nodeDiscovery) dir(dir string, keep func(dir, name string) bool) ([]candidate, error) {
	es, err := d.c.list(d.ctx, d.node, dir)
	if errors.Is(err, errNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	names := map[string]bool{}
	for _, e := range es {
		names[e.name] = !e.dir
	}
	var out []candidate
	for _, e := range es {
		if e.dir || strings.HasPrefix(e.name, ".") || strings.HasSuffix(e.name, ".lock") || !keep(dir, e.name) {
			continue
		}
		if plain, ok := strings.CutSuffix(e.name, ".gz"); ok && names[plain] {
			continue // a compression in progress: read the whole file beside it
		}
		c := candidate{dir: dir, name: parseLogName(e.name), size: -1}
		if names[e.name+".gz"] {
			c.gz = e.name + ".gz"
		}
		out = append(out, c)
	}
	return out, nil
}

// explicit resolves one --node-path: a directory (every file in it) or a
// file. A missing path is empty.
func (d *nodeDiscovery) explicit(p string) ([]candidate, error) {
	if p == "" || strings.HasSuffix(p, "/") {
		return d.dir(p, anyName)
	}
	kind, size, err := d.c.probe(d.ctx, d.node, p)
	if err != nil {
		return nil, err
	}
	switch kind {
	case kindDir:
		return d.dir(p+"/", anyName)
	case kindFile:
		dir, name := "", p
		if i := strings.LastIndex(p, "/"); i >= 0 {
			dir, name = p[:i+1], p[i+1:]
		}
		return []candidate{{dir: dir, name: parseLogName(name), size: size}}, nil
	}
	return nil, nil
}

// prune orders one directory's files as rotated sets and drops the
// backups outside --since/--until by their name.
func (d *nodeDiscovery) prune(set []candidate) (kept, pruned []candidate) {
	if len(set) == 0 {
		return nil, nil
	}
	dir := set[0].dir
	names := make([]logName, len(set))
	byName := map[string]candidate{}
	for i, c := range set {
		names[i] = c.name
		byName[c.name.name] = c
	}
	orderRotated(names)
	k, p := pruneByName(names, d.o.Since, d.o.Until)
	for _, n := range k {
		c := byName[n.name]
		c.dir, c.name = dir, n
		kept = append(kept, c)
	}
	for _, n := range p {
		c := byName[n.name]
		c.dir, c.name = dir, n
		pruned = append(pruned, c)
	}
	return kept, pruned
}

// file probes a kept candidate's size and makes its File; ok is false when
// it has gone since the listing (a backup removed by rotation).
func (d *nodeDiscovery) file(c candidate) (File, bool, error) {
	rel, gz := c.dir+c.name.name, ""
	if c.gz != "" {
		gz = c.dir + c.gz
	}
	size := c.size
	if size < 0 {
		kind, n, err := d.c.probe(d.ctx, d.node, rel)
		if err == nil && kind == kindMissing && gz != "" {
			// Compressed and removed since the listing.
			rel, gz = gz, ""
			kind, n, err = d.c.probe(d.ctx, d.node, rel)
		}
		if err != nil {
			return File{}, false, err
		}
		if kind != kindFile {
			return File{}, false, nil
		}
		size = n
	}
	ctx, client, node := d.ctx, d.c, d.node
	return File{
		Node: node,
		Path: logPath(rel),
		Name: "node/" + node + ":" + logPath(rel),
		Size: size,
		Open: func() (io.ReadCloser, error) {
			s := &stream{ctx: ctx, c: client, node: node, path: rel}
			err := s.open()
			if errors.Is(err, errNotFound) && gz != "" {
				s = &stream{ctx: ctx, c: client, node: node, path: gz}
				err = s.open()
			}
			if err != nil {
				return nil, err
			}
			return s, nil
		},
		OpenAt: func(off int64) (io.ReadCloser, error) {
			s := &stream{ctx: ctx, c: client, node: node, path: rel, off: off}
			if err := s.open(); err != nil {
				return nil, err
			}
			return s, nil
		},
	}, true, nil
}
