package builtin

import (
	"embed"
	"io/fs"

	"github.com/kubectl-audit/kubectl-audit/rules"
)

//go:embed *.yaml
var files embed.FS

// FS is the shipped rule and test files.
func FS() fs.FS { return files }

// Prefix names shipped rule files in messages: "builtin/talk.yaml".
const Prefix = "builtin/"

// Rules parses and compiles the shipped rules; each call returns fresh
// rules, so callers may change Enabled.
func Rules() ([]*rules.Rule, error) {
	return rules.ParseFS(files, Prefix)
}
