package cmd

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	metadatafake "k8s.io/client-go/metadata/fake"

	"github.com/kubectl-audit/kubectl-audit/rules"
	"github.com/kubectl-audit/kubectl-audit/rules/builtin"
	"github.com/kubectl-audit/kubectl-audit/sources/nodes"
	"github.com/kubectl-audit/kubectl-audit/top"
	"github.com/kubectl-audit/kubectl-audit/why"
)

// complete runs cobra's `__complete ARGS...`, as the completion scripts and
// kubectl_complete-audit do, and returns the candidates' values (without
// descriptions), the descriptions, and the directive.
func complete(t *testing.T, args ...string) (values, descriptions []string, directive cobra.ShellCompDirective) {
	t.Helper()
	out, _, err := runCmd(t, "", append([]string{cobra.ShellCompRequestCmd}, args...)...)
	if err != nil {
		t.Fatalf("__complete %q: %v", args, err)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	last := lines[len(lines)-1]
	if _, err := fmt.Sscanf(last, ":%d", &directive); err != nil {
		t.Fatalf("__complete %q: no directive line in %q", args, out)
	}
	for _, l := range lines[:len(lines)-1] {
		v, d, _ := strings.Cut(l, "\t")
		values = append(values, v)
		descriptions = append(descriptions, d)
	}
	return values, descriptions, directive
}

func shippedRuleIDs(t *testing.T) []string {
	t.Helper()
	rs, err := builtin.Rules()
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range rs {
		ids = append(ids, r.ID)
	}
	slices.Sort(ids)
	return ids
}

func TestComplete(t *testing.T) {
	const noFiles, files, ext = cobra.ShellCompDirectiveNoFileComp, cobra.ShellCompDirectiveDefault, cobra.ShellCompDirectiveFilterFileExt
	ids := shippedRuleIDs(t)
	withMine := append(append([]string(nil), ids...), "traefik-anything") // cmd/testdata/rules/mine.yaml
	slices.Sort(withMine)
	keys := append(append([]string(nil), top.Keys...), "expr:")
	tests := []struct {
		args      []string
		want      []string // exactly these values, in this order
		directive cobra.ShellCompDirective
	}{
		// --rule: rule ids, of the shipped rules and of --rules files, as a list.
		{[]string{"detect", "--rule", "fail"}, []string{"failed-authentication"}, noFiles},
		{[]string{"detect", "--rule", ""}, ids, noFiles},
		{[]string{"detect", "--rule", "rbac-denied,fail"}, []string{"rbac-denied,failed-authentication"}, noFiles},
		{[]string{"detect", "--rule", "failed-authentication,failed"}, nil, noFiles},
		{[]string{"detect", "--rules", "testdata/rules/mine.yaml", "--rule", "traefik"}, []string{"traefik-anything"}, noFiles},
		{[]string{"detect", "--rules", "testdata/rules/mine.yaml", "--rule", ""}, withMine, noFiles},
		{[]string{"detect", "--rules", "testdata/nonexistent.yaml", "--rule", ""}, ids, noFiles},
		{[]string{"rules", "show", "rbac"}, []string{"rbac-denied"}, noFiles},
		{[]string{"rules", "show", "rbac-denied", ""}, nil, noFiles},
		// -o: each command's own formats.
		{[]string{"detect", "-o", ""}, []string{"table", "wide", "json", "yaml", "sarif", "rbac"}, noFiles},
		{[]string{"detect", "--output", "s"}, []string{"sarif"}, noFiles},
		{[]string{"top", "-o", ""}, []string{"table", "wide", "json", "yaml", "csv"}, noFiles},
		{[]string{"why", "-o", ""}, []string{"table", "json", "yaml"}, noFiles},
		{[]string{"rules", "list", "-o", ""}, []string{"table", "wide", "json", "yaml"}, noFiles},
		{[]string{"version", "-o", ""}, []string{"json"}, noFiles},
		// top's --by keys (a list), --sort columns; --stage; --fail-on.
		{[]string{"top", "--by", ""}, keys, noFiles},
		{[]string{"top", "--by", "user,re"}, []string{"user,resource"}, noFiles},
		{[]string{"top", "--by", "user,"}, prefixed("user,", without(keys, "user")), noFiles},
		{[]string{"top", "--sort", "p"}, []string{"p50", "p99"}, noFiles},
		{[]string{"top", "--stage", "ResponseComplete,P"}, []string{"ResponseComplete,Panic"}, noFiles},
		{[]string{"detect", "--fail-on", ""}, rules.SeverityNames(), noFiles},
		{[]string{"top", "--since", ""}, nil, noFiles},
		// why: resource types (names need a cluster: none here).
		{[]string{"why", "deploy"}, []string{"deploy", "deployment", "deployments"}, noFiles},
		{[]string{"why", "rs"}, []string{"rs"}, noFiles},
		{[]string{"why", "deployment/"}, nil, noFiles},
		{[]string{"why", "deployment", ""}, nil, noFiles},
		{[]string{"why", "deployment", "web", ""}, nil, noFiles},
		// --from nodes or node/NAME (names need a cluster: none here), --node-path.
		{[]string{"top", "--from", ""}, []string{"nodes", "node/"}, noFiles | cobra.ShellCompDirectiveNoSpace},
		{[]string{"detect", "--from", "node/"}, nil, noFiles},
		{[]string{"why", "--node-path", ""}, nodes.KnownDirs, noFiles},
		// files: -f and --apiserver-log by the shell; charts, rule files by extension.
		{[]string{"top", "-f", ""}, nil, files},
		{[]string{"why", "--filename", ""}, nil, files},
		{[]string{"detect", "--apiserver-log", ""}, nil, files},
		{[]string{"top", "--plot", ""}, []string{"svg", "png"}, ext},
		{[]string{"detect", "--rules", ""}, []string{"yaml", "yml"}, ext},
		{[]string{"rules", "lint", ""}, []string{"yaml", "yml"}, ext},
		{[]string{"rules", "test", ""}, []string{"yaml", "yml"}, ext},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			got, _, directive := complete(t, tt.args...)
			if !slices.Equal(got, tt.want) {
				t.Errorf("candidates\n got %q\nwant %q", got, tt.want)
			}
			if directive != tt.directive {
				t.Errorf("directive %d, want %d", directive, tt.directive)
			}
		})
	}
}

func without(values []string, drop string) []string {
	return slices.DeleteFunc(append([]string(nil), values...), func(v string) bool { return v == drop })
}

// TestCompleteRuleDescriptions: a rule id comes with its severity and title.
func TestCompleteRuleDescriptions(t *testing.T) {
	values, descriptions, _ := complete(t, "detect", "--rule", "rbac-denied")
	if len(values) != 1 || descriptions[0] != "medium: Requests denied by RBAC (a missing permission)" {
		t.Errorf("got %q %q", values, descriptions)
	}
}

// TestCompletedFormatsAreAccepted runs each command with every format its -o
// completes, and with one it does not: completion offers exactly what the
// command takes.
func TestCompletedFormatsAreAccepted(t *testing.T) {
	commands := [][]string{
		{"detect", "-q", "--no-link", "-f", exampleLog},
		{"top", "-q", "--no-link", "-f", exampleLog},
		{"why", "-q", "--no-link", "deployment/web", "-n", "demo", "-f", exampleLog},
		{"rules", "list"},
		{"version"},
	}
	for _, c := range commands {
		formats, _, _ := complete(t, append(c, "-o", "")...)
		if len(formats) == 0 {
			t.Errorf("%s: -o completes nothing", c[0])
		}
		for _, f := range append(formats, "bogus") {
			t.Run(c[0]+" -o "+f, func(t *testing.T) {
				_, _, err := runCmd(t, "", append(c, "-o", f)...)
				rejected := err != nil && strings.Contains(err.Error(), "--output must be")
				if rejected != (f == "bogus") {
					t.Errorf("-o %s: %v", f, err)
				}
			})
		}
	}
}

func TestCompletionScripts(t *testing.T) {
	tests := []struct{ shell, marker string }{
		{"bash", "__start_kubectl-audit"},
		{"zsh", "#compdef kubectl-audit"},
		{"fish", "complete -c kubectl-audit"},
		{"powershell", "Register-ArgumentCompleter"},
	}
	for _, tt := range tests {
		t.Run(tt.shell, func(t *testing.T) {
			out, _, err := runCmd(t, "", "completion", tt.shell)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(out, tt.marker) || !strings.Contains(out, cobra.ShellCompRequestCmd) {
				t.Errorf("the %s script has no %q or no %s call: %.200s", tt.shell, tt.marker, cobra.ShellCompRequestCmd, out)
			}
		})
	}
	out, _, err := runCmd(t, "", "completion", "--help")
	if err != nil || !strings.Contains(out, "kubectl_complete-audit") {
		t.Errorf("completion --help does not tell of kubectl_complete-audit (%v): %s", err, out)
	}
}

func TestNamesOf(t *testing.T) {
	scheme := runtime.NewScheme()
	metav1.AddMetaToScheme(scheme)
	object := func(apiVersion, kind, ns, name string) runtime.Object {
		return &metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{APIVersion: apiVersion, Kind: kind}, ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	}
	client := metadatafake.NewSimpleMetadataClient(scheme,
		object("apps/v1", "Deployment", "demo", "web"),
		object("apps/v1", "Deployment", "demo", "worker"),
		object("apps/v1", "Deployment", "demo", "api"),
		object("apps/v1", "Deployment", "shop", "checkout"),
		object("v1", "Node", "", "node-1"),
	)
	resource := func(typ string) why.Resource {
		r, ok := why.LookupBuiltin(typ)
		if !ok {
			t.Fatalf("no built-in %s", typ)
		}
		return r
	}
	tests := []struct {
		typ, ns, prefix string
		want            []string
	}{
		{"deploy", "demo", "", []string{"api", "web", "worker"}},
		{"deploy", "demo", "w", []string{"web", "worker"}},
		{"deploy", "shop", "", []string{"checkout"}},
		{"deploy", "other", "", nil},
		{"nodes", "", "node", []string{"node-1"}},
		{"pods", "demo", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.typ+" "+tt.ns+" "+tt.prefix, func(t *testing.T) {
			got := namesOf(context.Background(), client, resource(tt.typ), tt.ns, tt.prefix)
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestFormatsOf(t *testing.T) {
	tests := []struct {
		usage string
		want  []string
	}{
		{"output format: table, wide, json, yaml, sarif, or rbac (the Role/ClusterRole ...)", []string{"table", "wide", "json", "yaml", "sarif", "rbac"}},
		{"output format: table, json, yaml", []string{"table", "json", "yaml"}},
		{"output format: json (default: one line of text)", []string{"json"}},
		{"json for machine-readable output", nil},
		{"output format: a table or a chart", nil},
	}
	for _, tt := range tests {
		if got := formatsOf(tt.usage); !slices.Equal(got, tt.want) {
			t.Errorf("formatsOf(%q) = %q, want %q", tt.usage, got, tt.want)
		}
	}
}
