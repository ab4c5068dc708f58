package policy

// Byte spans of an event's top-level fields, read from its JSON as
// kube-apiserver wrote it, so sizes are exact: no re-encoding.

// spans are the sizes of an event's top-level fields that a policy
// changes, each with one separating comma; 0 when absent.
type spans struct {
	request, response, status, annotations int
	// requestMF and responseMF are the managedFields inside the bodies
	// (each "managedFields":[...] with its comma).
	requestMF, responseMF int
}

// scanSpans reads the top-level object of an event.
func scanSpans(b []byte) spans {
	var s spans
	i := skipWS(b, 0)
	if i >= len(b) || b[i] != '{' {
		return s
	}
	i++
	for {
		i = skipWS(b, i)
		if i >= len(b) || b[i] == '}' {
			return s
		}
		if b[i] == ',' {
			i++
			continue
		}
		keyStart := i
		keyEnd := skipString(b, i)
		if keyEnd < 0 {
			return s
		}
		key := b[keyStart+1 : keyEnd-1]
		i = skipWS(b, keyEnd)
		if i >= len(b) || b[i] != ':' {
			return s
		}
		valStart := skipWS(b, i+1)
		var mf int
		body := string(key) == "requestObject" || string(key) == "responseObject"
		valEnd := skipValue(b, valStart, false, &mf, body)
		if valEnd < 0 {
			return s
		}
		size := valEnd - keyStart + 1
		switch string(key) {
		case "requestObject":
			s.request, s.requestMF = size, mf
		case "responseObject":
			s.response, s.responseMF = size, mf
		case "responseStatus":
			s.status = size
		case "annotations":
			s.annotations = size
		}
		i = valEnd
	}
}

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index after the string starting at i, or -1.
func skipString(b []byte, i int) int {
	if i >= len(b) || b[i] != '"' {
		return -1
	}
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return -1
}

// skipValue returns the index after the value at i, or -1. With countMF,
// it adds to *mf the size of every "managedFields" member of an object
// that is the value of a "metadata" member (inMeta).
func skipValue(b []byte, i int, inMeta bool, mf *int, countMF bool) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{':
		i++
		for {
			i = skipWS(b, i)
			if i >= len(b) {
				return -1
			}
			switch b[i] {
			case '}':
				return i + 1
			case ',':
				i++
				continue
			}
			keyStart := i
			keyEnd := skipString(b, i)
			if keyEnd < 0 {
				return -1
			}
			key := b[keyStart+1 : keyEnd-1]
			i = skipWS(b, keyEnd)
			if i >= len(b) || b[i] != ':' {
				return -1
			}
			valEnd := skipValue(b, skipWS(b, i+1), countMF && string(key) == "metadata", mf, countMF)
			if valEnd < 0 {
				return -1
			}
			if inMeta && string(key) == "managedFields" {
				*mf += valEnd - keyStart + 1
			}
			i = valEnd
		}
	case '[':
		i++
		for {
			i = skipWS(b, i)
			if i >= len(b) {
				return -1
			}
			switch b[i] {
			case ']':
				return i + 1
			case ',':
				i++
				continue
			}
			if i = skipValue(b, i, false, mf, countMF); i < 0 {
				return -1
			}
		}
	default:
		for i < len(b) && b[i] != ',' && b[i] != '}' && b[i] != ']' && b[i] != ' ' && b[i] != '\n' {
			i++
		}
		return i
	}
}
