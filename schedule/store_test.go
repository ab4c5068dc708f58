package schedule

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

func TestParseStore(t *testing.T) {
	for _, tc := range []struct{ in, name, err string }{
		{in: "file:/var/lib/audit/state.json", name: "file:/var/lib/audit/state.json"},
		{in: "configmap:kubectl-audit/state", name: "configmap:kubectl-audit/state"},
		{in: "configmap:state", err: "want"},
		{in: "configmap:ns/Bad_Name", err: "RFC 1123"},
		{in: "file:", err: "no path"},
		{in: "lease:ns/x", err: "want file:PATH or configmap:NAMESPACE/NAME"},
	} {
		s, err := ParseStore(tc.in, nil)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: err %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || s.Name() != tc.name {
			t.Errorf("%s: %v, %v", tc.in, s, err)
		}
	}
}

func TestFileStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "state.json")
	s, _ := ParseStore("file:"+path, nil)
	ctx := context.Background()
	unlock, err := s.Lock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := ParseStore("file:"+path, nil)
	if _, err := other.Lock(ctx); !errors.Is(err, ErrBusy) {
		t.Fatalf("a second lock: %v, want ErrBusy", err)
	}
	st, err := s.Load(ctx)
	if err != nil || st.Version != StateVersion || len(st.Files) != 0 {
		t.Fatalf("first load: %+v, %v", st, err)
	}
	st.Files = []FileEntry{{Path: "/var/log/audit.log", Offset: 42}}
	if err := s.Save(ctx, st); err != nil {
		t.Fatal(err)
	}
	unlock()
	again, err := other.Lock(ctx)
	if err != nil {
		t.Fatalf("lock after unlock: %v", err)
	}
	defer again()
	back, err := other.Load(ctx)
	if err != nil || len(back.Files) != 1 || back.Files[0].Offset != 42 {
		t.Fatalf("loaded %+v, %v", back, err)
	}
	if err := os.WriteFile(path, []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Load(ctx); err == nil || !strings.Contains(err.Error(), "move it away to start afresh") {
		t.Errorf("a damaged state: %v", err)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("a temporary file is left: %s", e.Name())
		}
	}
}

func TestConfigMapStore(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name     string
		existing bool
		reactor  func(cs *fake.Clientset)
		// what Save says
		err  string
		busy bool
	}{
		{name: "created on the first save"},
		{name: "updated", existing: true},
		{name: "another run saved since: busy", existing: true, busy: true, reactor: func(cs *fake.Clientset) {
			cs.PrependReactor("update", "configmaps", func(k8stesting.Action) (bool, runtime.Object, error) {
				return true, nil, apierrors.NewConflict(schema.GroupResource{Resource: "configmaps"}, "state", errors.New("the object has been modified"))
			})
		}},
		{name: "no permission: says which", existing: true, err: `resources: ["configmaps"], resourceNames: ["state"], verbs: ["update"]`, reactor: func(cs *fake.Clientset) {
			cs.PrependReactor("update", "configmaps", func(k8stesting.Action) (bool, runtime.Object, error) {
				return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "configmaps"}, "state", errors.New("RBAC"))
			})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var objs []runtime.Object
			if tc.existing {
				objs = append(objs, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "kubectl-audit", Name: "state", ResourceVersion: "1"}})
			}
			cs := fake.NewClientset(objs...)
			if tc.reactor != nil {
				tc.reactor(cs)
			}
			s, _ := ParseStore("configmap:kubectl-audit/state", func() (kubernetes.Interface, error) { return cs, nil })
			st, err := s.Load(ctx)
			if err != nil {
				t.Fatal(err)
			}
			st.Files = []FileEntry{{Path: "audit.log", Offset: 7}}
			err = s.Save(ctx, st)
			switch {
			case tc.busy:
				if !errors.Is(err, ErrBusy) {
					t.Fatalf("save: %v, want ErrBusy", err)
				}
				return
			case tc.err != "":
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("save: %v, want %q", err, tc.err)
				}
				return
			case err != nil:
				t.Fatal(err)
			}
			s2, _ := ParseStore("configmap:kubectl-audit/state", func() (kubernetes.Interface, error) { return cs, nil })
			back, err := s2.Load(ctx)
			if err != nil || len(back.Files) != 1 || back.Files[0].Offset != 7 {
				t.Fatalf("loaded %+v, %v", back, err)
			}
			cm, _ := cs.CoreV1().ConfigMaps("kubectl-audit").Get(ctx, "state", metav1.GetOptions{})
			if !strings.Contains(cm.Data[ConfigMapSummaryKey], "1 files") {
				t.Errorf("summary %q", cm.Data[ConfigMapSummaryKey])
			}
		})
	}
}
