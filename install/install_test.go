package install

import (
	"bytes"
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes/scheme"
)

func rulesText(rs []rbacv1.PolicyRule) []string {
	var out []string
	for _, r := range rs {
		out = append(out, strings.Join(r.APIGroups, ",")+"/"+strings.Join(r.Resources, ",")+":"+strings.Join(r.Verbs, ","))
	}
	return out
}

// TestClusterRules: the ClusterRole holds what the source, linking and
// sinks need, and nothing else.
func TestClusterRules(t *testing.T) {
	link := []string{"/nodes:list", "/pods:list", "/serviceaccounts:list", "admissionregistration.k8s.io/mutatingwebhookconfigurations:list"}
	for _, tc := range []struct {
		name string
		o    Options
		want []string
	}{
		{"a bucket, no linking, a webhook: nothing", Options{Files: []string{"s3://logs/eks/"}, NoLink: true, Notify: []string{"webhook=https://x/y"}}, nil},
		{"a bucket, linking", Options{Files: []string{"s3://logs/eks/"}}, link},
		{"the nodes, no linking", Options{From: []string{"nodes"}, NoLink: true}, []string{"/nodes:list", "/nodes/proxy:get"}},
		{"one node by name needs no list", Options{From: []string{"node/cp-1"}, NoLink: true}, []string{"/nodes/proxy:get"}},
		{"the nodes, linking, events", Options{From: []string{"nodes"}, Notify: []string{"events"}},
			[]string{"/nodes:list", "/nodes/proxy:get", "/pods:list", "/serviceaccounts:list", "admissionregistration.k8s.io/mutatingwebhookconfigurations:list", "events.k8s.io/events:create"}},
		{"events with --report ongoing update the series", Options{Files: []string{"/var/log/kubernetes/audit/"}, NoLink: true, Notify: []string{"events"}, Report: "ongoing"},
			[]string{"events.k8s.io/events:create,get,update"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.o.defaults()
			if got := rulesText(tc.o.ClusterRules()); strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Errorf("rules\n%v\nwant\n%v", got, tc.want)
			}
		})
	}
}

func TestObjects(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    Options
		// kinds made, the container's args, and a host path mounted
		kinds    string
		args     string
		hostPath string
		err      string
	}{
		{name: "from the nodes", o: Options{Schedule: "*/10 * * * *", Image: "img", From: []string{"nodes"}, Notify: []string{"events"}},
			kinds: "Namespace ServiceAccount ClusterRole ClusterRoleBinding Role RoleBinding ConfigMap CronJob",
			args:  "detect --from nodes --state configmap:kubectl-audit/kubectl-audit-state --notify events"},
		{name: "a bucket, no cluster rights", o: Options{Schedule: "@hourly", Image: "img", Files: []string{"s3://logs/"}, NoLink: true, Notify: []string{"webhook=https://x/y"}, Report: "ongoing"},
			kinds: "Namespace ServiceAccount Role RoleBinding ConfigMap CronJob",
			args:  "detect -f s3://logs/ --state configmap:kubectl-audit/kubectl-audit-state --notify webhook=https://x/y --report ongoing --no-link"},
		{name: "the log on the node, mounted", o: Options{Schedule: "*/5 * * * *", Image: "img", Files: []string{"/var/log/kubernetes/audit/"}, Name: "audit", Namespace: "ops"},
			kinds: "Namespace ServiceAccount ClusterRole ClusterRoleBinding Role RoleBinding ConfigMap CronJob",
			args:  "detect -f /var/log/kubernetes/audit/ --state configmap:ops/audit-state", hostPath: "/var/log/kubernetes/audit"},
		{name: "the state on a volume", o: Options{Schedule: "@hourly", Image: "img", Files: []string{"s3://logs/"}, NoLink: true, StatePVC: "audit-state"},
			kinds: "Namespace ServiceAccount CronJob",
			args:  "detect -f s3://logs/ --state file:/var/lib/kubectl-audit/state.json --no-link"},
		{name: "no schedule", o: Options{Image: "img", From: []string{"nodes"}}, err: "--schedule"},
		{name: "a bad schedule", o: Options{Schedule: "every 10 minutes", Image: "img", From: []string{"nodes"}}, err: "five cron fields"},
		{name: "no image", o: Options{Schedule: "@hourly", From: []string{"nodes"}}, err: "--image"},
		{name: "no source", o: Options{Schedule: "@hourly", Image: "img"}, err: "no source"},
		{name: "a relative path", o: Options{Schedule: "@hourly", Image: "img", Files: []string{"audit.log"}}, err: "must be absolute"},
		{name: "a bad sink", o: Options{Schedule: "@hourly", Image: "img", From: []string{"nodes"}, Notify: []string{"pager"}}, err: "want webhook=URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			objs, err := Objects(tc.o)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var kinds []string
			var cj *batchv1.CronJob
			for _, o := range objs {
				kinds = append(kinds, o.GetObjectKind().GroupVersionKind().Kind)
				if c, ok := o.(*batchv1.CronJob); ok {
					cj = c
				}
			}
			if strings.Join(kinds, " ") != tc.kinds {
				t.Errorf("kinds %v, want %s", kinds, tc.kinds)
			}
			if cj.Spec.ConcurrencyPolicy != batchv1.ForbidConcurrent {
				t.Errorf("concurrencyPolicy %s", cj.Spec.ConcurrencyPolicy)
			}
			c := cj.Spec.JobTemplate.Spec.Template.Spec.Containers[0]
			if got := strings.Join(c.Args, " "); got != tc.args {
				t.Errorf("args %q, want %q", got, tc.args)
			}
			if c.Resources.Limits.Memory().String() != MemoryLimit || c.Resources.Requests.Memory().String() != MemoryRequest {
				t.Errorf("resources %+v", c.Resources)
			}
			var mounted string
			for _, v := range cj.Spec.JobTemplate.Spec.Template.Spec.Volumes {
				if v.HostPath != nil {
					mounted = v.HostPath.Path
				}
			}
			if mounted != tc.hostPath {
				t.Errorf("host path %q, want %q", mounted, tc.hostPath)
			}
			nonRoot := cj.Spec.JobTemplate.Spec.Template.Spec.SecurityContext.RunAsNonRoot
			if *nonRoot != (tc.hostPath == "") {
				t.Errorf("runAsNonRoot %v with host path %q", *nonRoot, tc.hostPath)
			}
			// The YAML printed reads back as the same objects.
			b, err := YAML(objs)
			if err != nil {
				t.Fatal(err)
			}
			dec := yaml.NewYAMLOrJSONDecoder(bytes.NewReader(b), 4096)
			n := 0
			for {
				var raw runtime.RawExtension
				if err := dec.Decode(&raw); err != nil {
					break
				}
				if len(bytes.TrimSpace(raw.Raw)) == 0 {
					continue
				}
				if _, _, err := scheme.Codecs.UniversalDeserializer().Decode(raw.Raw, nil, nil); err != nil {
					t.Fatalf("document %d: %v", n, err)
				}
				n++
			}
			if n != len(objs) {
				t.Errorf("%d documents, want %d", n, len(objs))
			}
		})
	}
}
