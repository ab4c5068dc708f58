package notify

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-audit/kubectl-audit/cluster"
)

// ReportingController is the Events' reportingController.
const ReportingController = "kubectl-audit.io/detect"

// Annotations on the Events.
const (
	// AnnotationIncident is the incident's id.
	AnnotationIncident = "kubectl-audit.io/incident"
	// AnnotationReport is the key of the last report the Event counts, so
	// that a report sent again does not count twice in its series.
	AnnotationReport = "kubectl-audit.io/report"
)

// EventKinds are the kinds of linked objects Events are put on.
var EventKinds = map[string]string{
	"Node":                         "v1",
	"ServiceAccount":               "v1",
	"Pod":                          "v1",
	"MutatingWebhookConfiguration": "admissionregistration.k8s.io/v1",
}

// events puts a Warning Event (reason: the rule id) on each live object a
// report is linked to; an incident's later reports add to that Event's
// series, and its end is a Normal Event beside it.
type events struct {
	named
	o    Options
	kube kubernetes.Interface
}

func (s *events) Deliver(ctx context.Context, reports, _ []Report) ([]string, error) {
	if s.kube == nil {
		k, err := s.o.Kube()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.name, err)
		}
		s.kube = k
	}
	var done []string
	for _, r := range reports {
		for _, l := range r.Links {
			if _, ok := EventKinds[l.Kind]; !ok || l.State != cluster.StateLinked {
				continue
			}
			if err := s.put(ctx, r, l); err != nil {
				return done, fmt.Errorf("%s: report %s on %s: %w", s.name, r.Key, objectName(l), err)
			}
		}
		done = append(done, r.Key)
		s.o.AfterSend(r.Key)
	}
	return done, nil
}

func objectName(l cluster.Link) string {
	if l.Namespace != "" {
		return l.Kind + " " + l.Namespace + "/" + l.Name
	}
	return l.Kind + " " + l.Name
}

// EventName is the deterministic name of the Event of an incident on an
// object (ended: the Event of its end): the object's name and a hash.
func EventName(incident string, l cluster.Link, ended bool) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%s\x00%s", incident, l.Kind, l.Namespace, l.Name, l.UID)
	if ended {
		h.Write([]byte("\x00ended"))
	}
	prefix := strings.ToLower(l.Name)
	if len(prefix) > 200 {
		prefix = prefix[:200]
	}
	return strings.Trim(prefix, ".-") + "." + hex.EncodeToString(h.Sum(nil))[:16]
}

// EventNamespace is where an object's Events go: its namespace, or
// default for cluster-scoped objects (as the kubelet does for Nodes).
func EventNamespace(l cluster.Link) string {
	if l.Namespace != "" {
		return l.Namespace
	}
	return metav1.NamespaceDefault
}

func (s *events) put(ctx context.Context, r Report, l cluster.Link) error {
	ended := r.Phase == PhaseEnded
	name, ns := EventName(r.Incident, l, ended), EventNamespace(l)
	client := s.kube.EventsV1().Events(ns)
	if r.Phase == PhaseOngoing {
		return s.addToSeries(ctx, client, name, r, l)
	}
	ev := s.event(name, ns, r, l)
	_, err := client.Create(ctx, ev, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil // created by this report, before a run was cut short
	}
	return explain(err, "create", ns)
}

func (s *events) event(name, ns string, r Report, l cluster.Link) *eventsv1.Event {
	f := r.Finding
	typ, action := corev1.EventTypeWarning, "Detected"
	note := fmt.Sprintf("%s (%s; incident %s)", oneLine(f.Summary), f.Severity, r.Incident)
	if r.Phase == PhaseEnded {
		typ, action = corev1.EventTypeNormal, "Ended"
		note = fmt.Sprintf("ended: %s; last event %s (incident %s)", oneLine(f.Summary), f.Last.UTC().Format("2006-01-02T15:04:05Z"), r.Incident)
	}
	if len(note) > 1024 {
		note = note[:1021] + "..."
	}
	reason := f.Rule
	if len(reason) > 128 {
		reason = reason[:128]
	}
	instance := s.o.Instance
	if len(instance) > 128 {
		instance = instance[:128]
	}
	return &eventsv1.Event{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns,
			Annotations: map[string]string{AnnotationIncident: r.Incident, AnnotationReport: r.Key}},
		EventTime:           metav1.NewMicroTime(r.At),
		ReportingController: ReportingController,
		ReportingInstance:   instance,
		Action:              action,
		Reason:              reason,
		Regarding: corev1.ObjectReference{Kind: l.Kind, APIVersion: EventKinds[l.Kind], Namespace: l.Namespace,
			Name: l.Name, UID: types.UID(l.UID)},
		Note: note,
		Type: typ,
	}
}

// addToSeries counts a report of an incident still active in its Event's
// series, once: the Event remembers the last report it counted.
func (s *events) addToSeries(ctx context.Context, client interface {
	Get(context.Context, string, metav1.GetOptions) (*eventsv1.Event, error)
	Update(context.Context, *eventsv1.Event, metav1.UpdateOptions) (*eventsv1.Event, error)
	Create(context.Context, *eventsv1.Event, metav1.CreateOptions) (*eventsv1.Event, error)
}, name string, r Report, l cluster.Link) error {
	for attempt := 0; attempt < 5; attempt++ {
		ev, err := client.Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			// Expired (kube-apiserver keeps Events for --event-ttl, 1h by
			// default): start it again.
			_, err = client.Create(ctx, s.event(name, EventNamespace(l), r, l), metav1.CreateOptions{})
			if apierrors.IsAlreadyExists(err) {
				continue
			}
			return explain(err, "create", EventNamespace(l))
		}
		if err != nil {
			return explain(err, "get", EventNamespace(l))
		}
		if ev.Annotations[AnnotationReport] == r.Key {
			return nil // counted already
		}
		count := int32(2)
		if ev.Series != nil {
			count = ev.Series.Count + 1
		}
		ev.Series = &eventsv1.EventSeries{Count: count, LastObservedTime: metav1.NewMicroTime(r.At)}
		if ev.Annotations == nil {
			ev.Annotations = map[string]string{}
		}
		ev.Annotations[AnnotationReport] = r.Key
		_, err = client.Update(ctx, ev, metav1.UpdateOptions{})
		if apierrors.IsConflict(err) {
			continue
		}
		return explain(err, "update", EventNamespace(l))
	}
	return fmt.Errorf("event %s/%s: kept changing under us", EventNamespace(l), name)
}

// explain adds what permission a refused Event call needs.
func explain(err error, verb, ns string) error {
	if err == nil {
		return nil
	}
	if apierrors.IsForbidden(err) {
		return fmt.Errorf("%w; the events sink needs {apiGroups: [\"events.k8s.io\"], resources: [\"events\"], verbs: [\"%s\"]} (namespace %s)", err, verb, ns)
	}
	return err
}
