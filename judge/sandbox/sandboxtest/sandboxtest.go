// Package sandboxtest gives tests a sandbox engine on the local Docker engine with the
// built-in image, or fails them with what to run.
package sandboxtest

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/luffy-edu/luffy/judge/sandbox"
)

// Engine connects to the local engine and checks the sandbox image exists. Each test gets
// its own owner label, so its sweep touches only its own containers.
func Engine(t testing.TB) *sandbox.Engine {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tag := sandbox.DefaultRecipe().Tag()
	eng, err := sandbox.NewEngine(ctx, sandbox.Config{Image: tag, Owner: fmt.Sprintf("test-%d-%d", os.Getpid(), time.Now().UnixNano())})
	if err != nil {
		t.Fatalf("%v", err)
	}
	ok, err := sandbox.ImageExists(ctx, eng.Client(), tag)
	if err != nil {
		t.Fatal(err)
	}
	if !ok {
		t.Fatalf("sandbox image %s is missing: build it with `make judge-image` (or `luffy judge image`; `make test` does it)", tag)
	}
	t.Cleanup(func() {
		if n, err := eng.Sweep(context.Background()); err != nil || n > 0 {
			t.Errorf("sandboxes left behind: %d (%v)", n, err)
		}
		eng.Close()
	})
	return eng
}
