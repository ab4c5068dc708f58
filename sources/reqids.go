package sources

// requestTimes maps auditIDs to times. kube-apiserver's auditIDs are
// UUIDs: those are kept as their 16 bytes (a third of a string key's
// memory, and nothing for the collector to follow), other IDs (a client's
// own Audit-ID header) as strings.
type requestTimes struct {
	uuids uuidTable
	other map[string]int64
}

func newRequestTimes() *requestTimes {
	return &requestTimes{other: map[string]int64{}}
}

// reqKey is an auditID parsed once for the lookups of one record.
type reqKey struct {
	id   string
	u    [16]byte
	uuid bool
}

func keyOf(id string) reqKey {
	u, ok := parseUUID(id)
	return reqKey{id: id, u: u, uuid: ok}
}

func (r *requestTimes) get(k reqKey) (int64, bool) {
	if k.uuid {
		return r.uuids.get(k.u)
	}
	t, ok := r.other[k.id]
	return t, ok
}

// put keeps a copy of the ID.
func (r *requestTimes) put(k reqKey, t int64) {
	if k.uuid {
		r.uuids.put(k.u, t)
		return
	}
	id := k.id
	if _, ok := r.other[id]; !ok {
		id = string([]byte(id))
	}
	r.other[id] = t
}

func (r *requestTimes) del(k reqKey) {
	if k.uuid {
		r.uuids.del(k.u)
		return
	}
	delete(r.other, k.id)
}

func (r *requestTimes) len() int { return r.uuids.len() + len(r.other) }

// deleteBefore forgets the requests of times before limit.
func (r *requestTimes) deleteBefore(limit int64) {
	r.uuids.deleteBefore(limit)
	for id, t := range r.other {
		if t < limit {
			delete(r.other, id)
		}
	}
}

// strings returns the requests keyed by their auditIDs as the log wrote
// them.
func (r *requestTimes) strings() map[string]int64 {
	out := make(map[string]int64, r.len())
	r.uuids.each(func(u [16]byte, t int64) { out[formatUUID(u)] = t })
	for id, t := range r.other {
		out[id] = t
	}
	return out
}

const hexDigits = "0123456789abcdef"

// parseUUID reads a UUID in its canonical form: 36 characters, lower-case
// hex, dashes at 8, 13, 18 and 23; formatUUID gives the same string back.
func parseUUID(s string) ([16]byte, bool) {
	var u [16]byte
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return u, false
	}
	k := 0
	for i := 0; i < 36; {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			i++
			continue
		}
		hi, ok1 := hexVal(s[i])
		lo, ok2 := hexVal(s[i+1])
		if !ok1 || !ok2 {
			return u, false
		}
		u[k] = hi<<4 | lo
		k++
		i += 2
	}
	return u, true
}

func hexVal(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

func formatUUID(u [16]byte) string {
	b := make([]byte, 0, 36)
	for k, x := range u {
		if k == 4 || k == 6 || k == 8 || k == 10 {
			b = append(b, '-')
		}
		b = append(b, hexDigits[x>>4], hexDigits[x&15])
	}
	return string(b)
}
