package schedule

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-audit/kubectl-audit/notify"
)

// ErrBusy says another run holds the state: it is running now (or it
// saved the state since this run read it).
var ErrBusy = errors.New("another run is active")

// Store keeps the state between runs.
type Store interface {
	// Name is the store as --state names it.
	Name() string
	// Lock keeps other runs off the state until unlock; ErrBusy when
	// another run has it.
	Lock(ctx context.Context) (unlock func(), err error)
	// Load reads the state (an empty one on the first run).
	Load(ctx context.Context) (*State, error)
	// Save replaces the state, whole or not at all; ErrBusy when another
	// run saved it since Load.
	Save(ctx context.Context, st *State) error
}

// Store kinds, as --state names them.
const (
	StoreFile      = "file"
	StoreConfigMap = "configmap"
)

// ParseStore reads --state: file:PATH or configmap:NAMESPACE/NAME. kube
// gives the client a ConfigMap store uses.
func ParseStore(spec string, kube func() (kubernetes.Interface, error)) (Store, error) {
	kind, target, _ := strings.Cut(spec, ":")
	switch kind {
	case StoreFile:
		if target == "" {
			return nil, fmt.Errorf("--state file:PATH: no path")
		}
		return &fileStore{path: target}, nil
	case StoreConfigMap:
		ns, name, ok := strings.Cut(target, "/")
		if !ok || ns == "" || name == "" {
			return nil, fmt.Errorf("--state %q: want configmap:NAMESPACE/NAME", spec)
		}
		if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
			return nil, fmt.Errorf("--state %s: %s", spec, strings.Join(errs, "; "))
		}
		return &configMapStore{ns: ns, name: name, kube: kube}, nil
	}
	return nil, fmt.Errorf("--state %q: want file:PATH or configmap:NAMESPACE/NAME", spec)
}

// fileStore keeps the state in a JSON file, locked (flock on PATH.lock)
// while a run has it, replaced by rename.
type fileStore struct {
	path string
}

func (s *fileStore) Name() string { return StoreFile + ":" + s.path }

func (s *fileStore) Lock(context.Context) (func(), error) {
	if err := os.MkdirAll(filepath.Dir(s.path), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(s.path+".lock", os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	ok, err := tryLock(f)
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("locking %s: %w", f.Name(), err)
	}
	if !ok {
		_ = f.Close()
		return nil, fmt.Errorf("%w: %s is locked", ErrBusy, f.Name())
	}
	return func() { _ = f.Close() }, nil // closing releases the lock
}

func (s *fileStore) Load(context.Context) (*State, error) {
	b, err := os.ReadFile(s.path)
	if errors.Is(err, os.ErrNotExist) {
		return decodeState(nil)
	}
	if err != nil {
		return nil, err
	}
	st, err := decodeState(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.path, err)
	}
	return st, nil
}

func (s *fileStore) Save(_ context.Context, st *State) error {
	b, err := st.encode()
	if err != nil {
		return err
	}
	return writeAtomic(s.path, b)
}

// writeAtomic replaces path with data (readable by its owner only), with
// the fault test's pause points after the sync and after the rename.
func writeAtomic(path string, data []byte) error {
	return notify.WriteFileAtomicSteps(path, data, 0o600,
		func() { pause.at("state-temp") }, func() { pause.at("state-renamed") })
}

// configMapStore keeps the state gzip'd in a ConfigMap's binaryData. Save
// updates it with the resourceVersion Load read: a conflict means another
// run saved it meanwhile.
type configMapStore struct {
	ns, name string
	kube     func() (kubernetes.Interface, error)
	client   kubernetes.Interface
	cm       *corev1.ConfigMap // as loaded or last saved; nil: none yet
}

// ConfigMap keys.
const (
	ConfigMapStateKey   = "state.json.gz"
	ConfigMapSummaryKey = "summary"
)

// maxConfigMapState leaves room under the API server's 1 MiB object limit.
const maxConfigMapState = 900 << 10

func (s *configMapStore) Name() string { return StoreConfigMap + ":" + s.ns + "/" + s.name }

// Lock does nothing: the resourceVersion check of Save keeps two runs
// from both saving (a CronJob's concurrencyPolicy: Forbid keeps them from
// running at once).
func (s *configMapStore) Lock(context.Context) (func(), error) { return func() {}, nil }

func (s *configMapStore) Load(ctx context.Context) (*State, error) {
	if s.client == nil {
		c, err := s.kube()
		if err != nil {
			return nil, fmt.Errorf("--state %s: %w", s.Name(), err)
		}
		s.client = c
	}
	cm, err := s.client.CoreV1().ConfigMaps(s.ns).Get(ctx, s.name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return decodeState(nil)
	}
	if err != nil {
		return nil, s.explain(err, "get")
	}
	s.cm = cm
	data := cm.BinaryData[ConfigMapStateKey]
	if len(data) == 0 {
		return decodeState(nil)
	}
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w", s.Name(), ConfigMapStateKey, err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w", s.Name(), ConfigMapStateKey, err)
	}
	st, err := decodeState(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.Name(), err)
	}
	return st, nil
}

func (s *configMapStore) Save(ctx context.Context, st *State) error {
	b, err := st.encode()
	if err != nil {
		return err
	}
	var z bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&z, gzip.BestCompression)
	_, _ = zw.Write(b)
	if err := zw.Close(); err != nil {
		return err
	}
	if z.Len() > maxConfigMapState {
		return fmt.Errorf("%s: the state is %d KiB gzip'd, more than a ConfigMap holds (%d KiB): keep it in a file on a volume (--state file:PATH; install cronjob --state-pvc), or lower --max-groups",
			s.Name(), z.Len()>>10, maxConfigMapState>>10)
	}
	summary := st.Summary() + "\n"
	if s.cm == nil {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: s.ns, Name: s.name},
			Data: map[string]string{ConfigMapSummaryKey: summary}, BinaryData: map[string][]byte{ConfigMapStateKey: z.Bytes()}}
		got, err := s.client.CoreV1().ConfigMaps(s.ns).Create(ctx, cm, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("%w: %s was created since this run read it", ErrBusy, s.Name())
		}
		if err != nil {
			return s.explain(err, "create")
		}
		s.cm = got
		return nil
	}
	cm := s.cm.DeepCopy()
	if cm.Data == nil {
		cm.Data = map[string]string{}
	}
	if cm.BinaryData == nil {
		cm.BinaryData = map[string][]byte{}
	}
	cm.Data[ConfigMapSummaryKey] = summary
	cm.BinaryData[ConfigMapStateKey] = z.Bytes()
	got, err := s.client.CoreV1().ConfigMaps(s.ns).Update(ctx, cm, metav1.UpdateOptions{})
	if apierrors.IsConflict(err) {
		return fmt.Errorf("%w: %s was updated since this run read it (resourceVersion %s)", ErrBusy, s.Name(), s.cm.ResourceVersion)
	}
	if err != nil {
		return s.explain(err, "update")
	}
	s.cm = got
	return nil
}

// explain names the permission a refused call needs.
func (s *configMapStore) explain(err error, verb string) error {
	if apierrors.IsForbidden(err) {
		return fmt.Errorf("--state %s: %w; the state needs {apiGroups: [\"\"], resources: [\"configmaps\"], resourceNames: [%q], verbs: [\"%s\"]} in namespace %s",
			s.Name(), err, s.name, verb, s.ns)
	}
	return fmt.Errorf("--state %s: %w", s.Name(), err)
}
