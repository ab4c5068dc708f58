// Package install makes the manifests that run `kubectl audit detect` on a
// schedule in the cluster — a Namespace, a ServiceAccount, a ClusterRole
// with only what the chosen source, linking and sinks need, a Role on the
// state ConfigMap alone, their bindings, the state ConfigMap and the
// CronJob — and applies or deletes them (server-side apply).
//
// It imports schedule (the state's and links' names) and notify (the
// sinks' specs); never cmd.
package install

import (
	"fmt"
	"path"
	"sort"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"

	"github.com/kubectl-audit/kubectl-audit/notify"
	"github.com/kubectl-audit/kubectl-audit/schedule"
)

// Memory sizing of the CronJob's container, from detect's peak RSS
// measured on generated logs of a 1,000 events/s cluster (README, "Run it
// on a schedule"): 197 MB for a first run over 1 GB of backlog with
// --state, 196 MB over 8.4 GiB (flat), 213 MB for a run of 572 MiB new
// (10 minutes of that cluster) restoring 16,000 open groups. The request
// covers that; the limit leaves room for a larger state. GOMEMLIMIT
// keeps the Go heap under the limit.
const (
	MemoryRequest = "256Mi"
	MemoryLimit   = "512Mi"
	GoMemLimit    = "400MiB"
	CPURequest    = "250m"
)

// Labels on every object.
const (
	LabelManagedBy = "app.kubernetes.io/managed-by"
	LabelName      = "app.kubernetes.io/name"
	ManagedBy      = "kubectl-audit"
)

// Options describe the scheduled run.
type Options struct {
	// Name names the ServiceAccount, roles, bindings and CronJob
	// (default kubectl-audit); the state ConfigMap is NAME-state.
	Name      string
	Namespace string
	Schedule  string
	Image     string
	// Files are detect's -f values (buckets, or a directory on the node:
	// mounted read-only from the host, the pod then runs on a
	// control-plane node); From its --from values (nodes, node/NAME,
	// cloudwatch://...); NodeSelector and NodePaths go with From.
	Files        []string
	From         []string
	NodeSelector string
	NodePaths    []string
	Notify       []string
	// Report is detect's --report (new or ongoing).
	Report string
	// Rules is a ConfigMap in Namespace holding rule files, mounted and
	// given to --rules.
	Rules string
	// NoLink leaves linking out (and its permissions).
	NoLink bool
	// WebhookSecret is a Secret in Namespace whose key "secret" signs
	// webhook bodies.
	WebhookSecret string
	// ServiceAccountAnnotations are put on the ServiceAccount (cloud
	// identities: eks.amazonaws.com/role-arn, iam.gke.io/gcp-service-account,
	// azure.workload.identity/client-id).
	ServiceAccountAnnotations map[string]string
	// StatePVC, when set, keeps the state in a file on this
	// PersistentVolumeClaim (in Namespace) instead of a ConfigMap: a large
	// cluster's open windows outgrow the 1 MiB a ConfigMap holds. No state
	// ConfigMap or Role is made then.
	StatePVC string
}

// Defaults.
const (
	DefaultName      = "kubectl-audit"
	DefaultNamespace = "kubectl-audit"
)

func (o *Options) defaults() {
	if o.Name == "" {
		o.Name = DefaultName
	}
	if o.Namespace == "" {
		o.Namespace = DefaultNamespace
	}
	if o.Report == "" {
		o.Report = "new"
	}
}

// StateName is the state ConfigMap's name.
func (o Options) StateName() string { return o.Name + "-state" }

// ClusterRoleName is the ClusterRole's (and its binding's) name.
func (o Options) ClusterRoleName() string { return o.Name + "-detect" }

// Validate checks the options.
func (o *Options) Validate() error {
	o.defaults()
	if o.Schedule == "" {
		return fmt.Errorf("--schedule: give the CronJob's schedule ('*/10 * * * *')")
	}
	if len(strings.Fields(o.Schedule)) != 5 && !strings.HasPrefix(o.Schedule, "@") {
		return fmt.Errorf("--schedule %q: want five cron fields ('*/10 * * * *') or a macro (@hourly)", o.Schedule)
	}
	if o.Image == "" {
		return fmt.Errorf("--image: the container image with kubectl-audit on its PATH (see \"Run it on a schedule\" in the README)")
	}
	if len(o.Files) == 0 && len(o.From) == 0 {
		return fmt.Errorf("no source: give --from nodes (the control-plane nodes' logs through the node proxy), -f s3://BUCKET/PREFIX/ (a bucket), or -f /var/log/kubernetes/audit/ (the log on a control-plane node, mounted)")
	}
	for _, f := range o.Files {
		if f == "-" {
			return fmt.Errorf("-f -: a CronJob has no standard input")
		}
		if !strings.Contains(f, "://") && !path.IsAbs(f) {
			return fmt.Errorf("-f %s: a path on the node must be absolute", f)
		}
	}
	for _, n := range o.Notify {
		if _, err := notify.ParseSpec(n); err != nil {
			return err
		}
	}
	if o.Report != "new" && o.Report != "ongoing" {
		return fmt.Errorf("--report must be new or ongoing; got %q", o.Report)
	}
	for _, name := range []string{o.Name, o.Namespace} {
		if errs := validation.IsDNS1123Label(name); len(errs) > 0 {
			return fmt.Errorf("%q: %s", name, strings.Join(errs, "; "))
		}
	}
	return nil
}

func (o Options) has(kind string) bool {
	for _, n := range o.Notify {
		if s, err := notify.ParseSpec(n); err == nil && s.Kind == kind {
			return true
		}
	}
	return false
}

func (o Options) fromNodes() (all, named bool) {
	for _, f := range o.From {
		switch {
		case f == "nodes":
			all = true
		case strings.HasPrefix(f, "node/"):
			named = true
		}
	}
	return all, named
}

// hostDirs are the -f paths on the node, as the directories to mount.
func (o Options) hostDirs() []string {
	var dirs []string
	seen := map[string]bool{}
	for _, f := range o.Files {
		if strings.Contains(f, "://") {
			continue
		}
		d := f
		if !strings.HasSuffix(f, "/") {
			d = path.Dir(f)
		}
		d = path.Clean(d)
		if !seen[d] {
			seen[d] = true
			dirs = append(dirs, d)
		}
	}
	sort.Strings(dirs)
	return dirs
}

// ClusterRules are the ClusterRole's rules: what the source (the node
// proxy), linking (the kinds Events go on) and the events sink need, and
// nothing more. Empty when none of them is used.
func (o Options) ClusterRules() []rbacv1.PolicyRule {
	verbs := map[[2]string]map[string]bool{} // {group, resource} → verbs
	add := func(group, res string, vs ...string) {
		k := [2]string{group, res}
		if verbs[k] == nil {
			verbs[k] = map[string]bool{}
		}
		for _, v := range vs {
			verbs[k][v] = true
		}
	}
	all, named := o.fromNodes()
	if all {
		add("", "nodes", "list")
	}
	if all || named {
		add("", "nodes/proxy", "get")
	}
	if !o.NoLink {
		for _, r := range schedule.LinkResources() {
			res, group, _ := strings.Cut(r, ".")
			add(group, res, "list")
		}
	}
	if o.has(notify.KindEvents) {
		add("events.k8s.io", "events", "create")
		if o.Report == "ongoing" {
			add("events.k8s.io", "events", "get", "update")
		}
	}
	keys := make([][2]string, 0, len(verbs))
	for k := range verbs {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i][0] != keys[j][0] {
			return keys[i][0] < keys[j][0]
		}
		return keys[i][1] < keys[j][1]
	})
	var out []rbacv1.PolicyRule
	for _, k := range keys {
		var vs []string
		for v := range verbs[k] {
			vs = append(vs, v)
		}
		sort.Strings(vs)
		out = append(out, rbacv1.PolicyRule{APIGroups: []string{k[0]}, Resources: []string{k[1]}, Verbs: vs})
	}
	return out
}

// StateRules are the Role's rules: read and update the state ConfigMap,
// that one only.
func (o Options) StateRules() []rbacv1.PolicyRule {
	state := func(verb string) rbacv1.PolicyRule {
		return rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"configmaps"}, ResourceNames: []string{o.StateName()}, Verbs: []string{verb}}
	}
	// One rule per verb: each is needed (read at the start, updated after).
	return []rbacv1.PolicyRule{state("get"), state("update")}
}

// Args are the container's arguments: detect, as the options say.
func (o Options) Args() []string {
	args := []string{"detect"}
	for _, f := range o.Files {
		args = append(args, "-f", f)
	}
	for _, f := range o.From {
		args = append(args, "--from", f)
	}
	if o.NodeSelector != "" {
		args = append(args, "--node-selector", o.NodeSelector)
	}
	for _, p := range o.NodePaths {
		args = append(args, "--node-path", p)
	}
	if o.StatePVC != "" {
		args = append(args, "--state", schedule.StoreFile+":"+stateDir+"/state.json")
	} else {
		args = append(args, "--state", schedule.StoreConfigMap+":"+o.Namespace+"/"+o.StateName())
	}
	for _, n := range o.Notify {
		args = append(args, "--notify", n)
	}
	if o.Report != "new" {
		args = append(args, "--report", o.Report)
	}
	if o.Rules != "" {
		args = append(args, "--rules", rulesDir)
	}
	if o.NoLink {
		args = append(args, "--no-link")
	}
	if o.WebhookSecret != "" {
		args = append(args, "--webhook-secret-env", webhookSecretEnv)
	}
	return args
}

const (
	stateDir         = "/var/lib/kubectl-audit"
	rulesDir         = "/etc/kubectl-audit/rules"
	webhookSecretEnv = "KUBECTL_AUDIT_WEBHOOK_SECRET"
)

// Objects are the manifests, in the order they are applied.
func Objects(o Options) ([]runtime.Object, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	labels := map[string]string{LabelManagedBy: ManagedBy, LabelName: o.Name}
	meta := func(name, ns string) metav1.ObjectMeta {
		return metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels}
	}
	sa := &corev1.ServiceAccount{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"}, ObjectMeta: meta(o.Name, o.Namespace)}
	if len(o.ServiceAccountAnnotations) > 0 {
		sa.Annotations = o.ServiceAccountAnnotations
	}
	subject := []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: o.Name, Namespace: o.Namespace}}
	objs := []runtime.Object{
		&corev1.Namespace{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"}, ObjectMeta: meta(o.Namespace, "")},
		sa,
	}
	if rules := o.ClusterRules(); len(rules) > 0 {
		objs = append(objs,
			&rbacv1.ClusterRole{TypeMeta: metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRole"},
				ObjectMeta: meta(o.ClusterRoleName(), ""), Rules: rules},
			&rbacv1.ClusterRoleBinding{TypeMeta: metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRoleBinding"},
				ObjectMeta: meta(o.ClusterRoleName(), ""), Subjects: subject,
				RoleRef: rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: o.ClusterRoleName()}})
	}
	if o.StatePVC == "" {
		objs = append(objs,
			&rbacv1.Role{TypeMeta: metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "Role"},
				ObjectMeta: meta(o.StateName(), o.Namespace), Rules: o.StateRules()},
			&rbacv1.RoleBinding{TypeMeta: metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "RoleBinding"},
				ObjectMeta: meta(o.StateName(), o.Namespace), Subjects: subject,
				RoleRef: rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: o.StateName()}},
			&corev1.ConfigMap{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"}, ObjectMeta: meta(o.StateName(), o.Namespace)})
	}
	objs = append(objs, o.cronJob(meta(o.Name, o.Namespace)))
	return objs, nil
}

func (o Options) cronJob(meta metav1.ObjectMeta) *batchv1.CronJob {
	yes, no := true, false
	var zero int32
	history := int32(3)
	deadline := int64(300)
	container := corev1.Container{
		Name:    "detect",
		Image:   o.Image,
		Command: []string{"kubectl-audit"},
		Args:    o.Args(),
		// HOME: the client's caches go to the writable /tmp.
		Env: []corev1.EnvVar{{Name: "GOMEMLIMIT", Value: GoMemLimit}, {Name: "HOME", Value: "/tmp"}},
		Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse(MemoryRequest), corev1.ResourceCPU: resource.MustParse(CPURequest)},
			Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse(MemoryLimit)},
		},
		SecurityContext: &corev1.SecurityContext{
			AllowPrivilegeEscalation: &no, ReadOnlyRootFilesystem: &yes,
			Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		},
	}
	pod := corev1.PodSpec{
		ServiceAccountName: o.Name,
		RestartPolicy:      corev1.RestartPolicyNever,
		SecurityContext:    &corev1.PodSecurityContext{SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
		// Temporary files (downloads staged from buckets) go here.
		Volumes: []corev1.Volume{{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
	}
	container.VolumeMounts = append(container.VolumeMounts, corev1.VolumeMount{Name: "tmp", MountPath: "/tmp"})
	nonRoot := true
	if dirs := o.hostDirs(); len(dirs) > 0 {
		// The audit log is on the control-plane node, readable by root.
		nonRoot = false
		pod.NodeSelector = map[string]string{"node-role.kubernetes.io/control-plane": ""}
		pod.Tolerations = []corev1.Toleration{{Key: "node-role.kubernetes.io/control-plane", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}}
		hostDir := corev1.HostPathDirectory
		for i, d := range dirs {
			name := fmt.Sprintf("audit-log-%d", i)
			pod.Volumes = append(pod.Volumes, corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: d, Type: &hostDir}}})
			container.VolumeMounts = append(container.VolumeMounts, corev1.VolumeMount{Name: name, MountPath: d, ReadOnly: true})
		}
	}
	pod.SecurityContext.RunAsNonRoot = &nonRoot
	if nonRoot {
		uid := int64(65532)
		pod.SecurityContext.RunAsUser = &uid
	}
	if o.StatePVC != "" {
		pod.Volumes = append(pod.Volumes, corev1.Volume{Name: "state", VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: o.StatePVC}}})
		container.VolumeMounts = append(container.VolumeMounts, corev1.VolumeMount{Name: "state", MountPath: stateDir})
		if nonRoot {
			gid := int64(65532)
			pod.SecurityContext.FSGroup = &gid
		}
	}
	if o.Rules != "" {
		pod.Volumes = append(pod.Volumes, corev1.Volume{Name: "rules", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: o.Rules}}}})
		container.VolumeMounts = append(container.VolumeMounts, corev1.VolumeMount{Name: "rules", MountPath: rulesDir, ReadOnly: true})
	}
	if o.WebhookSecret != "" {
		container.Env = append(container.Env, corev1.EnvVar{Name: webhookSecretEnv, ValueFrom: &corev1.EnvVarSource{
			SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: o.WebhookSecret}, Key: "secret"}}})
	}
	pod.Containers = []corev1.Container{container}
	return &batchv1.CronJob{
		TypeMeta:   metav1.TypeMeta{APIVersion: "batch/v1", Kind: "CronJob"},
		ObjectMeta: meta,
		Spec: batchv1.CronJobSpec{
			Schedule: o.Schedule,
			// A run reads, sends and writes the state alone; one started
			// while another goes on would find the state busy anyway.
			ConcurrencyPolicy:          batchv1.ForbidConcurrent,
			StartingDeadlineSeconds:    &deadline,
			SuccessfulJobsHistoryLimit: &history,
			FailedJobsHistoryLimit:     &history,
			JobTemplate: batchv1.JobTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: meta.Labels},
				Spec: batchv1.JobSpec{
					// A failed run is not retried at once: the next one
					// picks up what it left.
					BackoffLimit: &zero,
					Template: corev1.PodTemplateSpec{
						ObjectMeta: metav1.ObjectMeta{Labels: meta.Labels},
						Spec:       pod,
					},
				},
			},
		},
	}
}

// YAML writes objects as one YAML stream.
func YAML(objs []runtime.Object) ([]byte, error) {
	var out []byte
	for i, obj := range objs {
		b, err := yaml.Marshal(obj)
		if err != nil {
			return nil, err
		}
		if i > 0 {
			out = append(out, "---\n"...)
		}
		out = append(out, cleanYAML(b)...)
	}
	return out, nil
}

// cleanYAML drops what the typed objects marshal without being set.
func cleanYAML(b []byte) []byte {
	var keep []string
	for _, line := range strings.Split(string(b), "\n") {
		switch strings.TrimSpace(line) {
		case "creationTimestamp: null", "status: {}", "resources: {}", "spec: {}":
			continue
		}
		keep = append(keep, line)
	}
	return []byte(strings.Join(keep, "\n"))
}
