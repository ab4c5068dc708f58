package e2e

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/kubectl-audit/kubectl-audit/e2e/controlplane"
)

// haNamespace holds what the HA traffic makes.
const haNamespace = "ha-demo"

// haTraffic makes each API server of h write a rotated audit log (at least
// minBackups gzip'd backups each): admin reads and writes of configmaps
// spread over the three, alice's denied secret lists, and a deployment
// created on cp-1's apiserver, scaled on cp-2's, patched on cp-3's and
// deleted on cp-1's, so its history is in all three logs. It returns a time
// before which every event is on disk and after which the apiservers log
// only what the tests do.
func haTraffic(ctx context.Context, t *testing.T, h *controlplane.HA, minBackups int) time.Time {
	t.Helper()
	var admins, alices []kubernetes.Interface
	for i, a := range h.APIServers {
		admin, err := kubernetes.NewForConfig(h.RESTConfig(a, controlplane.ClientConfig{
			Cert: &h.PKI.Admin, Source: net.IPv4(127, 0, 2, byte(i+1)), UserAgent: controlplane.KubectlUserAgent}))
		if err != nil {
			t.Fatal(err)
		}
		alice, err := kubernetes.NewForConfig(h.RESTConfig(a, controlplane.ClientConfig{
			Token: controlplane.StaticUsers[0].Token, Source: net.IPv4(127, 0, 3, byte(i+1)), UserAgent: "curl/8.11.1"}))
		if err != nil {
			t.Fatal(err)
		}
		admins, alices = append(admins, admin), append(alices, alice)
	}
	if _, err := admins[0].CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: haNamespace}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	deploy := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: haNamespace, Labels: map[string]string{"app": "web"}},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "registry.example.com/web:1.0"}}},
			},
		},
	}
	if _, err := admins[0].AppsV1().Deployments(haNamespace).Create(ctx, deploy, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	const configMaps = 30
	for i := range configMaps {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("cm-%02d", i), Namespace: haNamespace}, Data: map[string]string{"n": "0"}}
		if _, err := admins[i%3].CoreV1().ConfigMaps(haNamespace).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// The deployment's history, one step per apiserver.
	d, err := admins[1].AppsV1().Deployments(haNamespace).Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d.Spec.Replicas = ptr.To[int32](3)
	if _, err := admins[1].AppsV1().Deployments(haNamespace).Update(ctx, d, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := admins[2].AppsV1().Deployments(haNamespace).Patch(ctx, "web", types.MergePatchType,
		[]byte(`{"metadata":{"labels":{"tier":"frontend"}}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}

	// Bulk traffic until every log has rotated minBackups times.
	deadline := time.Now().Add(4 * time.Minute)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	stop := make(chan struct{})
	for w := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := w; ; j += 6 {
				select {
				case <-stop:
					return
				default:
				}
				i := j % 3
				cm := fmt.Sprintf("cm-%02d", j%configMaps)
				var err error
				switch {
				case j%13 == 0:
					_, err = alices[i].CoreV1().Secrets("kube-system").List(ctx, metav1.ListOptions{})
					if err != nil && strings.Contains(err.Error(), "forbidden") {
						err = nil
					}
				case j%10 == 0:
					_, err = admins[i].CoreV1().ConfigMaps(haNamespace).Patch(ctx, cm, types.MergePatchType,
						[]byte(fmt.Sprintf(`{"data":{"n":"%d"}}`, j)), metav1.PatchOptions{})
				case j%7 == 0:
					_, err = admins[i].CoreV1().ConfigMaps(haNamespace).List(ctx, metav1.ListOptions{})
				default:
					_, err = admins[i].CoreV1().ConfigMaps(haNamespace).Get(ctx, cm, metav1.GetOptions{})
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for {
		done := true
		for _, a := range h.APIServers {
			if n := len(backups(t, a.AuditDir)); n < minBackups {
				done = false
			}
		}
		select {
		case err := <-errs:
			close(stop)
			wg.Wait()
			t.Fatalf("traffic: %v", err)
		case <-time.After(500 * time.Millisecond):
		}
		if done {
			break
		}
		if time.Now().After(deadline) {
			close(stop)
			wg.Wait()
			t.Fatalf("the audit logs did not rotate %d times in 4 minutes", minBackups)
		}
	}
	close(stop)
	wg.Wait()
	if err := admins[0].AppsV1().Deployments(haNamespace).Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	// The tests' own requests will be logged after this; keep each live
	// file far from its next rotation so that they do not rotate it while
	// a test lists and reads it.
	for i, a := range h.APIServers {
		for size(t, a.AuditLogPath) > 800<<10 {
			for range 50 {
				if _, err := admins[i].CoreV1().ConfigMaps(haNamespace).Get(ctx, "cm-00", metav1.GetOptions{}); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	until := time.Now()
	waitCompressed(t, h)
	// Requests received just before until are written (blocking mode) by now.
	time.Sleep(2 * time.Second)
	return until
}

// backups are the rotated files of an audit directory.
func backups(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		if e.Name() != "audit.log" {
			out = append(out, e.Name())
		}
	}
	return out
}

func size(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// waitCompressed waits until every backup is gzip'd: kube-apiserver
// compresses a rotated file in the background, and a directory read in
// between holds both.
func waitCompressed(t *testing.T, h *controlplane.HA) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		plain := 0
		for _, a := range h.APIServers {
			for _, b := range backups(t, a.AuditDir) {
				if !strings.HasSuffix(b, ".gz") {
					plain++
				}
			}
		}
		if plain == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d backups still uncompressed after 30s", plain)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// sortedLog writes every line of the audit files of dirs into one file,
// sorted by requestReceivedTimestamp (stable: a file's order breaks ties),
// and returns its path.
func sortedLog(t *testing.T, dirs []string) string {
	t.Helper()
	type line struct {
		received time.Time
		text     []byte
	}
	var lines []line
	for _, dir := range dirs {
		paths, err := filepath.Glob(filepath.Join(dir, "audit*"))
		if err != nil {
			t.Fatal(err)
		}
		sort.Strings(paths)
		for _, p := range paths {
			f, err := os.Open(p)
			if err != nil {
				t.Fatal(err)
			}
			var r io.Reader = f
			if strings.HasSuffix(p, ".gz") {
				zr, err := gzip.NewReader(f)
				if err != nil {
					t.Fatalf("%s: %v", p, err)
				}
				r = zr
			}
			sc := bufio.NewScanner(r)
			sc.Buffer(make([]byte, 1<<20), 64<<20)
			for sc.Scan() {
				var ev struct {
					Received time.Time `json:"requestReceivedTimestamp"`
				}
				if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
					t.Fatalf("%s: %v", p, err)
				}
				lines = append(lines, line{ev.Received, append([]byte(nil), sc.Bytes()...)})
			}
			if err := sc.Err(); err != nil {
				t.Fatalf("%s: %v", p, err)
			}
			f.Close()
		}
	}
	sort.SliceStable(lines, func(i, j int) bool { return lines[i].received.Before(lines[j].received) })
	out := filepath.Join(t.TempDir(), "sorted-audit.log")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	for _, l := range lines {
		w.Write(l.text)
		w.WriteByte('\n')
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return out
}
