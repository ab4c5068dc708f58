package nodes

import (
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// lumberjackLayout is how kube-apiserver's log rotation (lumberjack, UTC)
// stamps a backup: audit-2026-11-24T10-00-00.000.log. The stamp is the
// moment of rotation, so it is the END of the backup's time range.
const lumberjackLayout = "2006-01-02T15-04-05.000"

var (
	// audit-2026-11-24T10-00-00.000.log[.gz]: stem "audit", ext ".log".
	stampedName = regexp.MustCompile(`^(.+)-(\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}\.\d{3})(\.[^.]+)?(\.gz|\.zst)?$`)
	// logrotate's audit.log.1[.gz].
	numberedName = regexp.MustCompile(`^(.+)\.(\d+)(\.gz|\.zst)?$`)
)

// Name classes, in the order a rotated set is read.
const (
	classNumbered = iota // audit.log.3, audit.log.2, audit.log.1
	classStamped         // audit-<older>.log, audit-<newer>.log
	classLive            // audit.log
)

// logName is one file name of a directory, parsed as a member of a rotated
// set. The set is named by its live file ("audit.log").
type logName struct {
	name    string
	set     string
	class   int
	num     int
	rotated time.Time // classStamped only
}

func parseLogName(name string) logName {
	if m := stampedName.FindStringSubmatch(name); m != nil {
		if t, err := time.Parse(lumberjackLayout, m[2]); err == nil {
			return logName{name: name, set: m[1] + m[3], class: classStamped, rotated: t}
		}
	}
	if m := numberedName.FindStringSubmatch(name); m != nil {
		n, err := strconv.Atoi(m[2])
		if err == nil {
			return logName{name: name, set: m[1], class: classNumbered, num: n}
		}
	}
	set := strings.TrimSuffix(strings.TrimSuffix(name, ".gz"), ".zst")
	return logName{name: name, set: set, class: classLive}
}

// orderRotated sorts the names of one directory set by set, each set
// oldest first: numbered backups from the highest number, then stamped
// backups by their rotation time, then the live file.
func orderRotated(names []logName) {
	sort.SliceStable(names, func(i, j int) bool {
		a, b := names[i], names[j]
		if a.set != b.set {
			return a.set < b.set
		}
		if a.class != b.class {
			return a.class < b.class
		}
		switch a.class {
		case classNumbered:
			if a.num != b.num {
				return a.num > b.num
			}
		case classStamped:
			if !a.rotated.Equal(b.rotated) {
				return a.rotated.Before(b.rotated)
			}
		}
		return a.name < b.name
	})
}

// stampSlack widens the pruning of a stamped backup's START: an event is
// written when its request ends, and a watch can stay open for up to twice
// kube-apiserver's --min-request-timeout (30 min by default), so a file may
// hold events received up to an hour before it began.
const stampSlack = time.Hour

// stampPrecision covers the stamp's truncation to milliseconds.
const stampPrecision = time.Second

// pruneByName drops, from names already ordered by orderRotated, the
// backups whose time range (known from the rotation stamps of the set)
// lies wholly outside [since, until). Zero bounds do not prune. Numbered
// backups carry no time and are always kept. It returns the kept names and
// the pruned ones.
func pruneByName(names []logName, since, until time.Time) (kept, pruned []logName) {
	for i, n := range names {
		start, end, known := rangeOf(names, i)
		if !known {
			kept = append(kept, n)
			continue
		}
		// Every event of the file was written, so received, before end.
		if !since.IsZero() && !end.IsZero() && end.Add(stampPrecision).Before(since) {
			pruned = append(pruned, n)
			continue
		}
		if !until.IsZero() && !start.IsZero() && !start.Add(-stampSlack).Before(until) {
			pruned = append(pruned, n)
			continue
		}
		kept = append(kept, n)
	}
	return kept, pruned
}

// rangeOf returns the time range of names[i] within its set: a stamped
// backup ends at its stamp and starts at the previous backup's stamp (zero:
// unknown); the live file starts at the newest backup's stamp and has no
// end. known is false when nothing is known (numbered sets, a lone file).
func rangeOf(names []logName, i int) (start, end time.Time, known bool) {
	n := names[i]
	var prev *logName
	for j := i - 1; j >= 0 && names[j].set == n.set; j-- {
		if names[j].class == classStamped {
			prev = &names[j]
			break
		}
	}
	switch n.class {
	case classStamped:
		if prev != nil {
			start = prev.rotated
		}
		return start, n.rotated, true
	case classLive:
		if prev != nil {
			return prev.rotated, time.Time{}, true
		}
	}
	return time.Time{}, time.Time{}, false
}
