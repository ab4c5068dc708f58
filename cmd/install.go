package cmd

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/dynamic"

	"github.com/kubectl-audit/kubectl-audit/install"
	"github.com/kubectl-audit/kubectl-audit/notify"
)

// InstallOptions holds `install cronjob`'s and `uninstall cronjob`'s flags.
type InstallOptions struct {
	genericiooptions.IOStreams
	Opts        install.Options
	Apply       bool
	DryRun      string
	annotations []string
	configFlags *genericclioptions.ConfigFlags
}

const installExample = `  # Print the manifests: every 10 minutes, the control-plane nodes' logs, Events on the linked objects
  kubectl audit install cronjob --schedule '*/10 * * * *' --from nodes --notify events --image registry.example.com/kubectl-audit:v0.1.0

  # Apply them (server-side apply); check them first with a server dry run
  kubectl audit install cronjob --schedule '*/10 * * * *' -f s3://audit-logs/eks/ --notify slack=https://hooks.slack.com/services/... \
    --image registry.example.com/kubectl-audit:v0.1.0 --sa-annotation eks.amazonaws.com/role-arn=arn:aws:iam::111122223333:role/audit-reader --apply --dry-run server

  # Remove them
  kubectl audit uninstall cronjob`

// NewCmdInstall builds "kubectl audit install".
func NewCmdInstall(streams genericiooptions.IOStreams, configFlags *genericclioptions.ConfigFlags) *cobra.Command {
	o := &InstallOptions{IOStreams: streams, configFlags: configFlags, DryRun: "none"}
	root := &cobra.Command{
		Use:   "install",
		Short: "Run detect in the cluster on a schedule",
		Args:  cobra.NoArgs,
	}
	c := &cobra.Command{
		Use:   "cronjob --schedule CRON (--from nodes | -f s3://...) --image IMAGE [--notify ...]",
		Short: "Print (or --apply) a CronJob that runs detect with its state in a ConfigMap, and the least RBAC it needs",
		Long: `Print the manifests that run "kubectl audit detect" on a schedule in the cluster:
a Namespace, a ServiceAccount, a ClusterRole with only what the chosen source
(nodes/proxy for --from nodes), linking (list on nodes, pods, serviceaccounts,
mutatingwebhookconfigurations) and sinks (events: create) need, a Role that
may read and update the state ConfigMap and nothing else, their bindings, the
state ConfigMap, and the CronJob (concurrencyPolicy: Forbid; memory sized from
detect's measured peak). --apply applies them with server-side apply.

-f takes a bucket (s3://, gs://, azblob://: give the ServiceAccount its cloud
identity with --sa-annotation) or an absolute path on the node (mounted
read-only; the pod then runs on a control-plane node, as root to read the log).`,
		Example: installExample,
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return o.RunInstall(c.Context())
		},
	}
	f := c.Flags()
	f.StringVar(&o.Opts.Schedule, "schedule", "", "the CronJob's schedule, as cron has it ('*/10 * * * *')")
	f.StringVar(&o.Opts.Image, "image", "", "the container image with kubectl-audit on its PATH")
	f.StringVar(&o.Opts.Name, "name", install.DefaultName, "name of the ServiceAccount, roles, bindings and CronJob (the state ConfigMap is NAME-state)")
	f.StringSliceVarP(&o.Opts.Files, "filename", "f", nil, "detect's -f: a bucket (s3://, gs://, azblob://), or an absolute path on the control-plane node (repeatable)")
	f.StringSliceVar(&o.Opts.From, "from", nil, "detect's --from: nodes, node/NAME, or cloudwatch:///aws/eks/CLUSTER/cluster (repeatable)")
	f.StringVar(&o.Opts.NodeSelector, "node-selector", "", "detect's --node-selector")
	f.StringSliceVar(&o.Opts.NodePaths, "node-path", nil, "detect's --node-path")
	f.StringArrayVar(&o.Opts.Notify, "notify", nil, "detect's --notify: webhook=URL, slack=URL, events, file=PATH (repeatable)")
	f.StringVar(&o.Opts.Report, "report", "new", "detect's --report: new or ongoing")
	f.StringVar(&o.Opts.Rules, "rules", "", "a ConfigMap in the namespace holding rule files (kubectl create configmap NAME --from-file=rules/), mounted and given to --rules")
	f.BoolVar(&o.Opts.NoLink, "no-link", false, "do not link findings to live objects (and leave the list permissions out)")
	f.StringVar(&o.Opts.WebhookSecret, "webhook-secret", "", "a Secret in the namespace whose key \"secret\" signs webhook bodies (HMAC-SHA256)")
	f.StringVar(&o.Opts.StatePVC, "state-pvc", "", "keep the state in a file on this PersistentVolumeClaim (in the namespace) instead of a ConfigMap, for clusters whose open windows outgrow a ConfigMap's 1 MiB")
	f.StringArrayVar(&o.annotations, "sa-annotation", nil, "KEY=VALUE on the ServiceAccount: a cloud identity for the bucket or log group (repeatable)")
	f.BoolVar(&o.Apply, "apply", false, "apply the manifests (server-side apply) instead of printing them")
	f.StringVar(&o.DryRun, "dry-run", o.DryRun, "with --apply: none, or server (the API server checks them; nothing is stored)")
	root.AddCommand(c)
	return root
}

// NewCmdUninstall builds "kubectl audit uninstall".
func NewCmdUninstall(streams genericiooptions.IOStreams, configFlags *genericclioptions.ConfigFlags) *cobra.Command {
	o := &InstallOptions{IOStreams: streams, configFlags: configFlags}
	root := &cobra.Command{Use: "uninstall", Short: "Remove what install made", Args: cobra.NoArgs}
	c := &cobra.Command{
		Use:   "cronjob [--name NAME]",
		Short: "Delete the CronJob, its state, roles, bindings, ServiceAccount and Namespace made by install cronjob",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			dyn, err := o.dynamic()
			if err != nil {
				return err
			}
			o.Opts.Namespace = o.namespace()
			done, err := install.Delete(c.Context(), dyn, o.Opts)
			for _, d := range done {
				fmt.Fprintln(o.Out, d)
			}
			return err
		},
	}
	c.Flags().StringVar(&o.Opts.Name, "name", install.DefaultName, "the name given to install cronjob")
	root.AddCommand(c)
	return root
}

// namespace is -n when given, else install's default.
func (o *InstallOptions) namespace() string {
	if o.configFlags != nil && o.configFlags.Namespace != nil && *o.configFlags.Namespace != "" {
		return *o.configFlags.Namespace
	}
	return install.DefaultNamespace
}

func (o *InstallOptions) dynamic() (dynamic.Interface, error) {
	if o.configFlags == nil {
		return nil, fmt.Errorf("no kubeconfig")
	}
	cfg, err := o.configFlags.ToRESTConfig()
	if err != nil {
		return nil, err
	}
	return dynamic.NewForConfig(cfg)
}

// RunInstall prints or applies the manifests.
func (o *InstallOptions) RunInstall(ctx context.Context) error {
	o.Opts.Namespace = o.namespace()
	for _, a := range o.annotations {
		k, v, ok := strings.Cut(a, "=")
		if !ok || k == "" {
			return fmt.Errorf("--sa-annotation %q: want KEY=VALUE", a)
		}
		if o.Opts.ServiceAccountAnnotations == nil {
			o.Opts.ServiceAccountAnnotations = map[string]string{}
		}
		o.Opts.ServiceAccountAnnotations[k] = v
	}
	for _, n := range o.Opts.Notify {
		if s, err := notify.ParseSpec(n); err == nil && s.Kind == notify.KindFile {
			return fmt.Errorf("--notify %s: a file in a CronJob's pod is lost with the pod; use webhook, slack or events", n)
		}
	}
	objs, err := install.Objects(o.Opts)
	if err != nil {
		return err
	}
	if !o.Apply {
		if o.DryRun != "none" {
			return fmt.Errorf("--dry-run needs --apply")
		}
		b, err := install.YAML(objs)
		if err != nil {
			return err
		}
		_, err = o.Out.Write(b)
		return err
	}
	if o.DryRun != "none" && o.DryRun != "server" {
		return fmt.Errorf("--dry-run must be none or server; got %q", o.DryRun)
	}
	dyn, err := o.dynamic()
	if err != nil {
		return err
	}
	done, err := install.Apply(ctx, dyn, objs, o.DryRun == "server")
	for _, d := range done {
		fmt.Fprintln(o.Out, d)
	}
	return err
}
