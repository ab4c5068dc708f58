// Command buildbins builds the e2e control-plane binaries into the cache
// when they are missing and prints where they are.
//
//	cd e2e && go run ./cmd/buildbins
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/kubectl-audit/kubectl-audit/e2e/binaries"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	s, err := binaries.Ensure(ctx, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "buildbins:", err)
		os.Exit(1)
	}
	fmt.Println(s.Etcd)
	fmt.Println(s.KubeAPIServer)
	fmt.Println(s.KubeControllerManager)
}
