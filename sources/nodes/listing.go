package nodes

import (
	"html"
	"net/url"
	"regexp"
	"strings"
)

// entry is one line of a directory listing.
type entry struct {
	name string
	dir  bool
}

// hrefAttr matches the links of Go's http.FileServer listing, as the
// kubelet serves it (<a href="audit.log">audit.log</a>), also after the API
// server's proxy has re-rendered the HTML.
var hrefAttr = regexp.MustCompile(`<a\s+href="([^"]*)"`)

// parseListing returns the entries of an http.FileServer directory
// listing, in its order (FileServer sorts by name). Links that leave the
// directory (absolute, with a host, "..") are ignored.
func parseListing(body []byte) []entry {
	var out []entry
	for _, m := range hrefAttr.FindAllSubmatch(body, -1) {
		ref := html.UnescapeString(string(m[1]))
		u, err := url.Parse(ref)
		if err != nil || u.IsAbs() || u.Host != "" || strings.HasPrefix(u.Path, "/") {
			continue
		}
		name := strings.TrimPrefix(u.Path, "./")
		dir := strings.HasSuffix(name, "/")
		name = strings.TrimSuffix(name, "/")
		if name == "" || name == "." || name == ".." || strings.Contains(name, "/") {
			continue
		}
		out = append(out, entry{name: name, dir: dir})
	}
	return out
}

// listingNames formats entries for messages: directories end in "/".
func listingNames(es []entry) []string {
	out := make([]string, 0, len(es))
	for _, e := range es {
		if e.dir {
			out = append(out, e.name+"/")
		} else {
			out = append(out, e.name)
		}
	}
	return out
}
