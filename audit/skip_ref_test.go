package audit

import (
	"bytes"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
)

// skipRecursive is skip by recursive descent: the definition skip is
// tested against.
func (s *scanner) skipRecursive(depth int) bool {
	if depth > 300 {
		return false
	}
	s.ws()
	if s.i >= len(s.b) {
		return false
	}
	switch c := s.b[s.i]; {
	case c == '"':
		_, _, ok := s.rawString()
		return ok
	case c == '{':
		s.i++
		if s.expect('}') {
			return true
		}
		for {
			s.ws()
			if _, _, ok := s.rawString(); !ok {
				return false
			}
			if !s.expect(':') || !s.skipRecursive(depth+1) {
				return false
			}
			if s.expect(',') {
				continue
			}
			return s.expect('}')
		}
	case c == '[':
		s.i++
		if s.expect(']') {
			return true
		}
		for {
			if !s.skipRecursive(depth + 1) {
				return false
			}
			if s.expect(',') {
				continue
			}
			return s.expect(']')
		}
	case c == 't' || c == 'f' || c == 'n':
		lit := map[byte]string{'t': "true", 'f': "false", 'n': "null"}[c]
		if !literalAt(s.b, s.i, lit) {
			return false
		}
		s.i += len(lit)
		return true
	case c == '-' || (c >= '0' && c <= '9'):
		_, ok := s.number()
		return ok
	}
	return false
}

// checkSkip compares skip with skipRecursive on b from each offset given,
// with and without the bitmap: the same verdict and, when it holds, the
// same end.
func checkSkip(t testing.TB, b []byte, depth int, offsets ...int) {
	t.Helper()
	bm, _, _ := classify(b, nil)
	for _, off := range offsets {
		for _, m := range [][]uint64{bm, nil} {
			x := scanner{b: b, i: off, bm: m}
			y := scanner{b: b, i: off, bm: m}
			okX, okY := x.skip(depth), y.skipRecursive(depth)
			if okX != okY || okX && x.i != y.i {
				t.Fatalf("skip(%q from %d, depth %d) = %v at %d, skipRecursive %v at %d", b, off, depth, okX, x.i, okY, y.i)
			}
		}
	}
}

// TestSkip: skip against its recursive definition on values, damaged
// values, white space, and nesting at and past maxDepth.
func TestSkip(t *testing.T) {
	cases := []string{
		`{}`, `[]`, `""`, `"a\"b"`, `"\u00e9"`, `"\x"`, `0`, `-1.5e+3`, `-`, `1.2.3`, `true`, `tru`, `false`, `null`, `nul`,
		`{"a":1}`, `{"a":1,}`, `{"a" : [1, 2 ,3] , "b":{"c":null}}`, `{ }`, `[ ]`, `[1,]`, `[,1]`, `{"a"}`, `{"a":}`, `{1:2}`,
		`[[[[]]]]`, `[[[[]]]`, `{"a":[{"b":[{"c":"d"}]}]}`, `{"a":1}}`, `[1] 2`, ` 	{"a" :"b"}`, `{"a":"b"` + "\n" + `}`,
		`{"k":"v","n":{"x":[true,false,null,-0.5,"s\\"q"]}}`, `[1 2]`, `{"a":1 "b":2}`, `"unterminated`, ``, ` `, `x`,
	}
	for _, d := range []int{maxDepth - 2, maxDepth - 1, maxDepth, maxDepth + 1} {
		cases = append(cases, strings.Repeat("[", d)+strings.Repeat("]", d), strings.Repeat(`{"a":`, d)+"1"+strings.Repeat("}", d),
			strings.Repeat("[", d)+"1"+strings.Repeat("]", d), strings.Repeat(`[{"a":`, d/2)+"[]"+strings.Repeat("}]", d/2))
	}
	for _, c := range cases {
		b := []byte(c)
		for _, depth := range []int{0, 1, 2, maxDepth - 1, maxDepth, maxDepth + 1} {
			offs := []int{0}
			if len(b) > 1 {
				offs = append(offs, 1, len(b)/2)
			}
			checkSkip(t, b, depth, offs...)
		}
	}
	// Random values, then random damage to them.
	r := rand.New(rand.NewPCG(3, 5))
	for range 3000 {
		b := randomJSON(r, 0)
		checkSkip(t, b, r.IntN(3), 0)
		if len(b) > 0 {
			d := bytes.Clone(b)
			const damage = "{}[]:,\" \\0a-"
			d[r.IntN(len(d))] = damage[r.IntN(len(damage))]
			checkSkip(t, d, 0, 0, r.IntN(len(d)))
			checkSkip(t, b[:r.IntN(len(b))], 0, 0)
		}
	}
}

// randomJSON writes a random value, nested at most a few levels.
func randomJSON(r *rand.Rand, level int) []byte {
	ws := func() string { return []string{"", "", "", " ", "\n\t"}[r.IntN(5)] }
	switch k := r.IntN(8); {
	case k < 2 && level < 6:
		var b []byte
		b = append(b, '{')
		for i := range r.IntN(4) {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, ws()+`"k`+strconv.Itoa(i)+`"`+ws()+":"+ws()...)
			b = append(b, randomJSON(r, level+1)...)
		}
		return append(b, ws()+"}"...)
	case k < 4 && level < 6:
		b := []byte{'['}
		for i := range r.IntN(4) {
			if i > 0 {
				b = append(b, ","+ws()...)
			}
			b = append(b, randomJSON(r, level+1)...)
		}
		return append(b, ']')
	case k == 4:
		return []byte([]string{`"s"`, `"a\"b\\c"`, `"\u00e9x"`, `""`, `"µs"`}[r.IntN(5)])
	case k == 5:
		return []byte([]string{"0", "-12", "3.25", "1e-9", "-0.5E+2"}[r.IntN(5)])
	default:
		return []byte([]string{"true", "false", "null"}[r.IntN(3)])
	}
}
