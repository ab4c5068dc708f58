// Package scenarios stages, on a real control plane, the incidents the
// plugin must find in an audit log, and returns what each one staged (the
// ground truth) so tests can check the log against it.
//
// The scenarios run concurrently; RunAll takes about a minute.
package scenarios

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-audit/kubectl-audit/e2e/controlplane"
)

// GroundTruth is what RunAll staged. It is written next to the recorded
// example log as ground-truth.json.
type GroundTruth struct {
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`

	Deployment   DeploymentLifecycle `json:"deploymentLifecycle"`
	ExpiredCerts Unauthorized        `json:"unauthorized"`
	Forbidden    Forbidden           `json:"forbidden"`
	OrphanLoop   OrphanLoop          `json:"orphanLoop"`
	NodeRates    NodeRates           `json:"nodeRates"`
	History      History             `json:"history"`
}

// Options tune how long the time-based scenarios run. The zero value is
// what the tests use.
type Options struct {
	// OrphanLoopFor is how long the garbage collector is left failing
	// (default 40s: about 13 retries per pod with its 5ms·2ⁿ backoff).
	OrphanLoopFor time.Duration
	// NodeRatesFor is how long the simulated kubelets heartbeat (default 30s).
	NodeRatesFor time.Duration
}

func (o *Options) defaults() {
	if o.OrphanLoopFor == 0 {
		o.OrphanLoopFor = 40 * time.Second
	}
	if o.NodeRatesFor == 0 {
		o.NodeRatesFor = 30 * time.Second
	}
}

// RunAll runs every scenario concurrently against cp and returns what they
// staged. Options may be nil.
func RunAll(ctx context.Context, cp *controlplane.ControlPlane, o *Options) (GroundTruth, error) {
	if o == nil {
		o = &Options{}
	}
	o.defaults()
	var (
		gt   = GroundTruth{Started: time.Now().UTC()}
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	run := func(name string, f func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("scenario %s: %w", name, err))
				mu.Unlock()
			}
		}()
	}
	run("deployment lifecycle", func() (err error) { gt.Deployment, err = RunDeploymentLifecycle(ctx, cp); return })
	run("expired certificates", func() (err error) { gt.ExpiredCerts, err = RunUnauthorized(ctx, cp); return })
	run("forbidden", func() (err error) { gt.Forbidden, err = RunForbidden(ctx, cp); return })
	run("orphan loop", func() (err error) { gt.OrphanLoop, err = RunOrphanLoop(ctx, cp, o.OrphanLoopFor); return })
	run("node rates", func() (err error) { gt.NodeRates, err = RunNodeRates(ctx, cp, o.NodeRatesFor); return })
	run("history", func() (err error) { gt.History, err = RunHistory(ctx, cp); return })
	wg.Wait()
	gt.Finished = time.Now().UTC()
	return gt, errors.Join(errs...)
}

// createNamespace creates ns, tolerating that it exists.
func createNamespace(ctx context.Context, c kubernetes.Interface, ns string) error {
	_, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}

// waitFor polls cond every interval until it returns true or an error, or
// until timeout.
func waitFor(ctx context.Context, timeout, interval time.Duration, what string, cond func(context.Context) (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		ok, err := cond(ctx)
		if err != nil {
			return fmt.Errorf("waiting for %s: %w", what, err)
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-time.After(interval):
		}
	}
}

// sleep waits for d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// kubeletUserAgent is what a v1.37.2 kubelet sends.
const kubeletUserAgent = "kubelet/v1.37.2 (linux/amd64) kubernetes/0000000"
