// Command buildbins builds the e2e control-plane binaries into the cache
// when they are missing and prints where they are; with -kubectl, kubectl
// alone (for hack/release-test.sh).
//
//	cd e2e && go run ./cmd/buildbins
//	cd e2e && go run ./cmd/buildbins -kubectl
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/kubectl-audit/kubectl-audit/e2e/binaries"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	kubectl := flag.Bool("kubectl", false, "build (when missing) and print kubectl only")
	flag.Parse()
	if *kubectl {
		path, err := binaries.EnsureKubectl(ctx, os.Stderr)
		if err != nil {
			fmt.Fprintln(os.Stderr, "buildbins:", err)
			os.Exit(1)
		}
		fmt.Println(path)
		return
	}
	s, err := binaries.Ensure(ctx, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "buildbins:", err)
		os.Exit(1)
	}
	fmt.Println(s.Etcd)
	fmt.Println(s.KubeAPIServer)
	fmt.Println(s.KubeControllerManager)
}
