package cmd

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubectl-audit/kubectl-audit/audit"
	"github.com/kubectl-audit/kubectl-audit/cluster"
	"github.com/kubectl-audit/kubectl-audit/sources"
	"github.com/kubectl-audit/kubectl-audit/why"
)

const whyExample = `  # Who deleted the checkout deployment, and what happened to it before
  kubectl audit why deployment/checkout -n shop -f audit.log

  # The same, with its ReplicaSets' and pods' calls
  kubectl audit why deploy checkout -n shop -f audit.log --owners

  # Include reads (get/list/watch), as JSON
  kubectl audit why cm/cluster-settings -n node-config -f audit.log --with-reads -o json`

// WhyOptions holds `why`'s flags.
type WhyOptions struct {
	genericiooptions.IOStreams
	Read        *ReadFlags
	Owners      bool
	WithReads   bool
	ShowSecrets bool
	NoLink      bool
	Output      string

	configFlags *genericclioptions.ConfigFlags
	readOpts    sources.ReadOptions
	hist        why.Options
	linker      *cluster.Linker
	now         func() time.Time
}

// NewWhyOptions returns the defaults.
func NewWhyOptions(streams genericiooptions.IOStreams, configFlags *genericclioptions.ConfigFlags) *WhyOptions {
	return &WhyOptions{IOStreams: streams, Read: NewReadFlags(), Output: "table", configFlags: configFlags, now: time.Now}
}

// NewCmdWhy builds "kubectl audit why".
func NewCmdWhy(streams genericiooptions.IOStreams, configFlags *genericclioptions.ConfigFlags) *cobra.Command {
	o := NewWhyOptions(streams, configFlags)
	c := &cobra.Command{
		Use:   "why TYPE/NAME | TYPE NAME -f FILE...",
		Short: "Tell the story of one object: who created, changed and deleted it, and why it was allowed",
		Long: `Print the timeline of one object from audit logs: every create, update, patch,
delete and subresource call, with its time, user (and impersonator), client,
source address, response code, the RBAC binding and role that allowed it,
the admission webhooks that mutated it, and, at the Request and
RequestResponse audit levels, what changed (patched fields, or an update's
difference from the previous logged state). The first line answers "who
deleted it?"; the last one says how the object is now in the cluster when one
is reachable (--no-link turns that off).

Objects created with generateName are found by the name in the logged
response; an object deleted and created again under the same name is told
apart by its uid. --owners adds the calls of the owner chain and of owned
objects (deployment → replicasets → pods), found through ownerReferences in
logged bodies or, when the level hides them, through names. Bodies of
secrets, service-account tokens and token reviews are never shown unless
--show-secrets.`,
		Example: whyExample,
		Args:    cobra.RangeArgs(1, 2),
		RunE: func(c *cobra.Command, args []string) error {
			if err := o.Complete(c, args); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(c.Context())
		},
	}
	o.Read.AddFlags(c.Flags())
	o.Read.Nodes.Cluster = configFlags
	fs := c.Flags()
	fs.BoolVar(&o.Owners, "owners", o.Owners, "add the calls of the owner chain and of owned objects (deployment → replicasets → pods)")
	fs.BoolVar(&o.WithReads, "with-reads", o.WithReads, "add get, list and watch calls")
	fs.BoolVar(&o.ShowSecrets, "show-secrets", o.ShowSecrets, "show bodies of secrets, tokens and token reviews")
	fs.BoolVar(&o.NoLink, "no-link", o.NoLink, "do not look the object up in the live cluster")
	whyOutput.AddFlag(fs, &o.Output)
	return c
}

// Complete resolves the object and the inputs.
func (o *WhyOptions) Complete(c *cobra.Command, args []string) error {
	typ, name, err := why.ParseObjectArgs(args)
	if err != nil {
		return err
	}
	if o.readOpts, err = o.Read.ToOptions(o.In, o.now()); err != nil {
		return err
	}
	var mapper why.Mapper
	if !o.NoLink && o.configFlags != nil {
		mapper = o.discoveryMapper
	}
	res, err := why.ResolveResource(typ, mapper)
	if err != nil {
		return err
	}
	// -n given (even -n ''), the kubeconfig's namespace, or, for a type
	// whose scope is unknown, wherever the log has the object.
	nsFlag, nsGiven := "", false
	if c != nil && o.configFlags != nil && o.configFlags.Namespace != nil {
		if f := c.Flag("namespace"); f != nil && f.Changed {
			nsFlag, nsGiven = *o.configFlags.Namespace, true
		}
	}
	ns, anyNS := "", false
	switch {
	case res.ScopeUnknown && nsGiven:
		ns, res.Namespaced = nsFlag, nsFlag != ""
	case res.ScopeUnknown:
		anyNS = true
	case res.Namespaced && nsGiven && nsFlag == "":
		anyNS = true
	case res.Namespaced:
		ns = o.namespace()
	}
	o.hist = why.Options{Resource: res, Namespace: ns, AnyNamespace: anyNS, Name: name, Owners: o.Owners, WithReads: o.WithReads, ShowSecrets: o.ShowSecrets}
	if !o.NoLink {
		var getter genericclioptions.RESTClientGetter
		if o.configFlags != nil {
			getter = o.configFlags
		}
		o.linker = cluster.New(getter, cluster.Options{})
	}
	return nil
}

// namespace is -n, else the kubeconfig context's namespace, else "default".
func (o *WhyOptions) namespace() string {
	if o.configFlags == nil {
		return "default"
	}
	if o.configFlags.Namespace != nil && *o.configFlags.Namespace != "" {
		return *o.configFlags.Namespace
	}
	if ns, _, err := o.configFlags.ToRawKubeConfigLoader().Namespace(); err == nil && ns != "" {
		return ns
	}
	return "default"
}

// discoveryMapper asks the cluster's discovery for names the built-in
// table does not know (custom resources).
func (o *WhyOptions) discoveryMapper(name string) (why.Resource, error) {
	m, err := o.configFlags.ToRESTMapper()
	if err != nil {
		return why.Resource{}, fmt.Errorf("%s", cluster.Reason(err))
	}
	gvr, err := m.ResourceFor(schema.ParseGroupResource(name).WithVersion(""))
	if err != nil {
		return why.Resource{}, err
	}
	r := why.Resource{Group: gvr.Group, Version: gvr.Version, Resource: gvr.Resource, Namespaced: true}
	if gvk, err := m.KindFor(gvr); err == nil {
		r.Kind = gvk.Kind
		if mapping, err := m.RESTMapping(gvk.GroupKind(), gvk.Version); err == nil {
			r.Namespaced = mapping.Scope.Name() == "namespace"
		}
	}
	return r, nil
}

// whyOutput is why's -o.
var whyOutput = outputFormats{allowed: []string{"table", "json", "yaml"}}

// Validate checks flag values.
func (o *WhyOptions) Validate() error {
	return whyOutput.Validate(o.Output)
}

// WhyResult is what `why -o json|yaml` prints: the timeline and the live
// object.
type WhyResult struct {
	*why.Timeline
	// Live is the object in the cluster now, with its owner chain; unset
	// with --no-link.
	Live *cluster.Link `json:"live,omitempty"`
	// LiveAuthorization are the bindings and roles that allowed the calls,
	// as they are now: "changed" when a binding no longer grants the role to
	// the subject, "gone" when deleted. LiveWebhooks are the webhook
	// configurations that mutated the object.
	LiveAuthorization []cluster.Link `json:"liveAuthorization,omitempty"`
	LiveWebhooks      []cluster.Link `json:"liveWebhooks,omitempty"`
}

// Run reads the logs, builds the timeline and prints it.
func (o *WhyOptions) Run(ctx context.Context) error {
	var cs []*why.Collector
	st, err := o.Read.Read(ctx, o.readOpts, o.ErrOut, func() audit.Sink {
		c := why.NewCollector(o.hist)
		cs = append(cs, c)
		return c
	})
	if err != nil {
		return err
	}
	tl := why.Merge(o.hist, cs)
	if len(tl.Entries) == 0 {
		hint := ""
		if !o.WithReads {
			hint = "; --with-reads adds gets, lists and watches"
		}
		if o.hist.Resource.Namespaced && !o.hist.AnyNamespace && o.configFlags != nil && (o.configFlags.Namespace == nil || *o.configFlags.Namespace == "") {
			hint += fmt.Sprintf("; looked in namespace %q, use -n to choose another", o.hist.Namespace)
		}
		return fmt.Errorf("no calls to %s in the audit log (%d requests read)%s", tl.Object, st.Used, hint)
	}
	res := WhyResult{Timeline: tl}
	if o.linker != nil {
		live := o.linker.TimelineObject(ctx, o.hist.Resource, tl)
		res.Live = &live
		res.LiveAuthorization, res.LiveWebhooks = o.linker.TimelineReasons(ctx, tl)
	}
	if err := printWhy(o.Out, o.Output, &res, o.Owners); err != nil {
		return err
	}
	return o.Read.StrictError(st)
}

// liveLine is the last line of the table: the object now.
func liveLine(res *WhyResult) string {
	tl := res.Timeline
	var deleted string
	if tl.Deleted != nil {
		deleted = fmt.Sprintf("deleted at %s by %s", tl.Deleted.Time.UTC().Format(time.RFC3339), tl.Deleted.User)
	}
	if res.Live == nil {
		if deleted != "" {
			return "now: " + deleted + " (live cluster not checked: --no-link)"
		}
		return "now: live cluster not checked (--no-link)"
	}
	l := res.Live
	switch l.State {
	case cluster.StateLinked:
		s := "now: exists"
		if l.Summary != "" {
			s += ", " + l.Summary
		}
		if l.UID != "" {
			s += " (uid " + l.UID + ")"
		}
		if len(l.Owners) > 0 {
			var owners []string
			for _, ow := range l.Owners {
				owners = append(owners, ow.String())
			}
			s += "; owned by " + strings.Join(owners, " ← ")
		}
		return s
	case cluster.StateGone:
		s := "now: gone (" + l.Reason + ")"
		if deleted != "" {
			s += "; " + deleted
		}
		return s
	}
	if deleted != "" {
		return "now: " + deleted + " according to the log; not linked: " + l.Reason
	}
	return "now: not linked: " + l.Reason
}
